//! AuthenticateEV2First / AuthenticateEV2NonFirst as a sans-I/O state machine.
//!
//! The server starts with [`Authenticator::begin`] (or [`Session::reauthenticate`] for
//! NonFirst), sends the returned APDU through the agent, and feeds each card answer to the
//! pending state, which yields the next APDU and finally a [`Session`]:
//!
//! ```text
//! PCD -> 90 71 00 00 02 KeyNo 00 00                 (EV2First; 90 77 .. KeyNo for NonFirst)
//! PICC <- E(K, RndB) 91 AF
//! PCD -> 90 AF 00 00 20 E(K, RndA || RndB<<8) 00     (AES-CBC, IV = 0)
//! PICC <- E(K, TI || RndA<<8 || PDcap2 || PCDcap2) 91 00   (NonFirst: E(K, RndA<<8))
//! ```
//!
//! RndA is injected by the caller (16 bytes from a CSPRNG) so that tests are
//! deterministic. Both pending states own a copy of the key and zeroize it when dropped;
//! each consumes itself, so a state cannot be fed twice.

use std::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::apdu::{CommandApdu, ResponseApdu};
use crate::commands::{check_key_no, code};
use crate::crypto::{self, ZERO_IV, cbc_decrypt, cbc_encrypt, rotate_left};
use crate::error::{DesfireError, Result};
use crate::key::AesKey;
use crate::session::{Session, derive_session_keys};

/// Length of the capability field sent with AuthenticateEV2First (no PCDcap2).
const LEN_CAP_NONE: u8 = 0x00;

/// Entry point of the mutual authentication.
#[derive(Debug, Clone, Copy)]
pub struct Authenticator;

impl Authenticator {
    /// Starts AuthenticateEV2First with key `key_no` (0..=13) of the selected application
    /// (or the card master key at PICC level). `rnd_a` must come from a CSPRNG.
    pub fn begin(key_no: u8, key: &AesKey, rnd_a: [u8; 16]) -> Result<(CommandApdu, PendingAuth)> {
        let key_no = check_key_no(key_no)?;
        let apdu = CommandApdu::native(code::AUTHENTICATE_EV2_FIRST, &[key_no, LEN_CAP_NONE])?;
        Ok((
            apdu,
            PendingAuth {
                key_no,
                key: key.clone(),
                rnd_a,
                resume: None,
            },
        ))
    }
}

impl Session {
    /// Starts AuthenticateEV2NonFirst with key `key_no`: new session keys, while the
    /// transaction identifier and command counter carry on. Consumes the session: the card
    /// drops the old keys as soon as the command arrives.
    pub fn reauthenticate(
        self,
        key_no: u8,
        key: &AesKey,
        rnd_a: [u8; 16],
    ) -> Result<(CommandApdu, PendingAuth)> {
        self.ensure_ready()?;
        let key_no = check_key_no(key_no)?;
        let apdu = CommandApdu::native(code::AUTHENTICATE_EV2_NON_FIRST, &[key_no])?;
        Ok((
            apdu,
            PendingAuth {
                key_no,
                key: key.clone(),
                rnd_a,
                resume: Some(Resume {
                    ti: self.transaction_id(),
                    cmd_ctr: self.command_counter(),
                }),
            },
        ))
    }
}

/// Transaction state kept across AuthenticateEV2NonFirst.
#[derive(Clone, Copy, Zeroize)]
struct Resume {
    ti: [u8; 4],
    cmd_ctr: u16,
}

/// Waiting for the card's challenge `E(K, RndB)`.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct PendingAuth {
    key_no: u8,
    key: AesKey,
    rnd_a: [u8; 16],
    resume: Option<Resume>,
}

impl PendingAuth {
    /// Takes the card's challenge and returns the APDU carrying our proof and RndA.
    pub fn on_response(self, response: &[u8]) -> Result<(CommandApdu, PendingAuthConfirmation)> {
        let data = ResponseApdu::parse(response)?.into_additional_frame_data()?;
        let mut rnd_b: [u8; 16] =
            data.try_into()
                .map_err(|_| DesfireError::UnexpectedResponseLength {
                    expected: 16,
                    got: data.len(),
                })?;
        cbc_decrypt(&self.key, &ZERO_IV, &mut rnd_b)?;

        let mut token = [0u8; 32];
        let (first, second) = token.split_at_mut(16);
        first.copy_from_slice(&self.rnd_a);
        second.copy_from_slice(&rotate_left(&rnd_b));
        cbc_encrypt(&self.key, &ZERO_IV, &mut token)?;
        let apdu = CommandApdu::native(code::ADDITIONAL_FRAME, &token)?;
        Ok((
            apdu,
            PendingAuthConfirmation {
                key_no: self.key_no,
                key: self.key.clone(),
                rnd_a: self.rnd_a,
                rnd_b,
                resume: self.resume,
            },
        ))
    }
}

/// Waiting for the card's proof `E(K, TI || RndA<<8 || ...)`.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct PendingAuthConfirmation {
    key_no: u8,
    key: AesKey,
    rnd_a: [u8; 16],
    rnd_b: [u8; 16],
    resume: Option<Resume>,
}

impl PendingAuthConfirmation {
    /// Checks that the card knows the key and returns the authenticated session.
    pub fn on_response(self, response: &[u8]) -> Result<Session> {
        let data = ResponseApdu::parse(response)?.into_ok_data()?;
        let expected_len = if self.resume.is_some() { 16 } else { 32 };
        if data.len() != expected_len {
            return Err(DesfireError::UnexpectedResponseLength {
                expected: expected_len,
                got: data.len(),
            });
        }
        let mut plain = zeroize::Zeroizing::new(data.to_vec());
        cbc_decrypt(&self.key, &ZERO_IV, &mut plain)?;

        let (ti, rest) = match self.resume {
            Some(resume) => (resume.ti, plain.as_slice()),
            None => {
                let (ti, rest) =
                    plain
                        .split_first_chunk::<4>()
                        .ok_or(DesfireError::ResponseTooShort {
                            expected: 4,
                            got: plain.len(),
                        })?;
                (*ti, rest)
            }
        };
        let (rnd_a_rotated, capabilities) =
            rest.split_first_chunk::<16>()
                .ok_or(DesfireError::ResponseTooShort {
                    expected: 16,
                    got: rest.len(),
                })?;
        if !crypto::macs_equal(rnd_a_rotated, &rotate_left(&self.rnd_a)) {
            return Err(DesfireError::RndAMismatch);
        }

        let (kenc, kmac) = derive_session_keys(&self.key, &self.rnd_a, &self.rnd_b);
        let session = match self.resume {
            Some(resume) => Session::from_parts(self.key_no, kenc, kmac, ti, resume.cmd_ctr),
            None => {
                let pd_cap2 = capabilities.first_chunk::<6>().copied().unwrap_or_default();
                Session::from_parts(self.key_no, kenc, kmac, ti, 0).with_pd_capabilities(pd_cap2)
            }
        };
        Ok(session)
    }
}

impl fmt::Debug for PendingAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingAuth")
            .field("key_no", &self.key_no)
            .field("non_first", &self.resume.is_some())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for PendingAuthConfirmation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingAuthConfirmation")
            .field("key_no", &self.key_no)
            .field("non_first", &self.resume.is_some())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::CommMode;
    use hex_literal::hex;

    /// The AN12196 §6.10 transcript of psc-tech §4.5: key 03 = 0^16, fixed RndA.
    #[test]
    fn ev2_first_matches_an12196_transcript() {
        let (apdu, pending) =
            Authenticator::begin(3, &AesKey::ZERO, hex!("B98F4C50CF1C2E084FD150E33992B048"))
                .unwrap();
        assert_eq!(apdu.as_bytes(), hex!("9071000002030000"));

        // The RndB the card chose, deciphered from its challenge.
        let mut rnd_b = hex!("B875CEB0E66A6C5CD00898DC371F92D1");
        cbc_decrypt(&AesKey::ZERO, &ZERO_IV, &mut rnd_b).unwrap();
        assert_eq!(rnd_b, hex!("91517975190DCEA6104948EFA3085C1B"));

        let (apdu, pending) = pending
            .on_response(&hex!("B875CEB0E66A6C5CD00898DC371F92D1 91AF"))
            .unwrap();
        assert_eq!(
            apdu.as_bytes(),
            hex!("90AF000020 FF0306E47DFBC50087C4D8A78E88E62DE1E8BE457AA477C707E2F0874916A8B1 00")
        );

        let session = pending
            .on_response(&hex!(
                "0CC9A8094A8EEA683ECAAC5C7BF20584206D0608D477110FC6B3D5D3F65C3A6A 9100"
            ))
            .unwrap();
        assert_eq!(session.transaction_id(), hex!("7614281A"));
        assert_eq!(session.command_counter(), 0);
        assert_eq!(session.pd_capabilities(), [0; 6]);
        assert_eq!(session.key_no(), 3);
        let (kenc, kmac) = session.session_keys();
        assert_eq!(
            kenc.expose_secret(),
            &hex!("7A93D6571E4B180FCA6AC90C9A7488D4")
        );
        assert_eq!(
            kmac.expose_secret(),
            &hex!("FC4AF159B62E549B5812394CAB1918CC")
        );
    }

    /// The transcript goes on with WriteData in Full mode on the session just established.
    #[test]
    fn transcript_session_writes_in_full_mode() {
        let (_, pending) =
            Authenticator::begin(3, &AesKey::ZERO, hex!("B98F4C50CF1C2E084FD150E33992B048"))
                .unwrap();
        let (_, pending) = pending
            .on_response(&hex!("B875CEB0E66A6C5CD00898DC371F92D1 91AF"))
            .unwrap();
        let mut session = pending
            .on_response(&hex!(
                "0CC9A8094A8EEA683ECAAC5C7BF20584206D0608D477110FC6B3D5D3F65C3A6A 9100"
            ))
            .unwrap();
        let apdu = session
            .wrap(
                code::WRITE_DATA_ISO,
                &hex!("03 000000 0A0000"),
                &hex!("0102030405060708090A"),
                CommMode::Full,
            )
            .unwrap();
        assert_eq!(
            apdu.as_bytes(),
            hex!("908D00001F030000000A00006B5E6804909962FC4E3FF5522CF0F8436C0C53315B9C73AA00")
        );
        session
            .unwrap_response(CommMode::Full, &hex!("C26D236E4A7C046D9100"))
            .unwrap();
    }

    /// AN12196 §6.6 (replayed by nfc-ev2-crypto test_ev2.py): key 00, another RndA.
    #[test]
    fn ev2_first_matches_an12196_key0_example() {
        let (_, pending) =
            Authenticator::begin(0, &AesKey::ZERO, hex!("13C5DB8A5930439FC3DEF9A4C675360F"))
                .unwrap();
        let (apdu, pending) = pending
            .on_response(&hex!("A04C124213C186F22399D33AC2A30215 91AF"))
            .unwrap();
        assert_eq!(
            apdu.as_bytes(),
            hex!("90AF000020 35C3E05A752E0144BAC0DE51C1F22C56B34408A23D8AEA266CAB947EA8E0118D 00")
        );
        let session = pending
            .on_response(&hex!(
                "3FA64DB5446D1F34CD6EA311167F5E4985B89690C04A05F17FA7AB2F08120663 9100"
            ))
            .unwrap();
        assert_eq!(session.transaction_id(), hex!("9D00C4DF"));
        let (kenc, kmac) = session.session_keys();
        assert_eq!(
            kenc.expose_secret(),
            &hex!("1309C877509E5A215007FF0ED19CA564")
        );
        assert_eq!(
            kmac.expose_secret(),
            &hex!("4C6626F5E72EA694202139295C7A7FC7")
        );
    }

    #[test]
    fn a_card_without_the_key_is_refused() {
        let (_, pending) =
            Authenticator::begin(3, &AesKey::ZERO, hex!("B98F4C50CF1C2E084FD150E33992B048"))
                .unwrap();
        let (_, pending) = pending
            .on_response(&hex!("B875CEB0E66A6C5CD00898DC371F92D1 91AF"))
            .unwrap();
        let mut forged =
            hex!("0CC9A8094A8EEA683ECAAC5C7BF20584206D0608D477110FC6B3D5D3F65C3A6A 9100");
        forged[5] ^= 0x01;
        assert_eq!(
            pending.on_response(&forged).map(|_| ()),
            Err(DesfireError::RndAMismatch)
        );
    }

    #[test]
    fn authentication_errors_and_bad_lengths_are_reported() {
        let begin = || Authenticator::begin(0, &AesKey::ZERO, [7; 16]).unwrap().1;
        assert_eq!(
            begin().on_response(&hex!("91AE")).map(|_| ()),
            Err(DesfireError::CardStatus { code: 0xAE })
        );
        assert_eq!(
            begin().on_response(&hex!("0102 91AF")).map(|_| ()),
            Err(DesfireError::UnexpectedResponseLength {
                expected: 16,
                got: 2
            })
        );
        assert_eq!(
            begin().on_response(&[0u8; 16]).map(|_| ()),
            Err(DesfireError::UnexpectedStatus { sw1: 0, sw2: 0 })
        );
        assert_eq!(
            Authenticator::begin(14, &AesKey::ZERO, [0; 16]).map(|_| ()),
            Err(DesfireError::KeyNumberOutOfRange { key_no: 14 })
        );
    }

    #[test]
    fn pending_states_do_not_print_secrets() {
        let (_, pending) = Authenticator::begin(2, &AesKey::new([0x55; 16]), [0x66; 16]).unwrap();
        assert_eq!(
            format!("{pending:?}"),
            "PendingAuth { key_no: 2, non_first: false, .. }"
        );
    }
}
