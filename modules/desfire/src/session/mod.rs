//! EV2 secure messaging: what happens after a successful AuthenticateEV2.
//!
//! A [`Session`] holds the two session keys (KSesAuthENC, KSesAuthMAC), the transaction
//! identifier TI chosen by the card and the 16-bit command counter CmdCtr. For each
//! command it builds the protected APDU and checks the card's answer (AN12343, AN12196,
//! MF3D(H)x2 datasheet §9.1):
//!
//! * `IVcmd  = AES(KSesAuthENC, A5 5A || TI || CmdCtr || 00*8)`, `IVresp` the same with
//!   label `5A A5` and `CmdCtr + 1`;
//! * command MAC = CMAC(KSesAuthMAC, Cmd || CmdCtr || TI || Header || Data), response MAC
//!   = CMAC(KSesAuthMAC, Status || CmdCtr + 1 || TI || Data), both truncated to the 8
//!   bytes at odd indices;
//! * Full mode enciphers Data (AES-CBC with the IV, ISO/IEC 9797-1 method 2 padding always
//!   added) and MACs the ciphertext;
//! * CmdCtr (little-endian) advances by one per command/response pair, in every mode.
//!
//! The session is sans-I/O and strict: one command in flight at a time, and any failure
//! (a card error status, a bad MAC, a malformed answer) ends it, so the caller
//! re-authenticates instead of continuing on a channel it cannot trust. DESFire cards
//! likewise drop the authentication on most errors.
//!
//! Here: the session state and the generic [`Session::wrap`] / [`Session::unwrap_response`].
//! `primitives.rs`: the formulas above (session keys, IVs, MACs), shared with the
//! emulator's card side. `commands.rs`: the typed commands and [`Pending`], whose answers
//! [`Session::finish`] checks.

mod commands;
mod primitives;

use std::fmt;

use crate::apdu::{CommandApdu, Hex, ResponseApdu};
use crate::commands::NativeCommand;
use crate::crypto::{self, MAC_LEN, cbc_decrypt, cbc_encrypt, pad_m2, unpad_m2};
use crate::error::{DesfireError, Result};
use crate::key::AesKey;
use crate::status;
use crate::types::CommMode;

pub use commands::Pending;
pub(crate) use primitives::{
    LABEL_ENC, LABEL_MAC, command_mac, derive_session_keys, response_mac, secure_messaging_iv,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Ready,
    AwaitingResponse,
    Ended,
}

/// An authenticated EV2 secure messaging session. `Debug` never shows the keys.
pub struct Session {
    kenc: AesKey,
    kmac: AesKey,
    ti: [u8; 4],
    cmd_ctr: u16,
    key_no: u8,
    pd_cap2: [u8; 6],
    state: State,
}

impl Session {
    /// Rebuilds a session from its parts: the NXP worked examples start from given session
    /// keys, TI and counter, and a server may keep sessions outside this type. Normal code
    /// gets a session from [`crate::Authenticator`].
    pub fn from_parts(
        key_no: u8,
        kenc: AesKey,
        kmac: AesKey,
        transaction_id: [u8; 4],
        command_counter: u16,
    ) -> Self {
        Session {
            kenc,
            kmac,
            ti: transaction_id,
            cmd_ctr: command_counter,
            key_no,
            pd_cap2: [0; 6],
            state: State::Ready,
        }
    }

    pub(crate) fn with_pd_capabilities(mut self, pd_cap2: [u8; 6]) -> Self {
        self.pd_cap2 = pd_cap2;
        self
    }

    /// The key number this session authenticated with.
    pub fn key_no(&self) -> u8 {
        self.key_no
    }

    /// The transaction identifier TI chosen by the card.
    pub fn transaction_id(&self) -> [u8; 4] {
        self.ti
    }

    /// The command counter CmdCtr of the next command.
    pub fn command_counter(&self) -> u16 {
        self.cmd_ctr
    }

    /// The card's PDcap2 capability bytes from AuthenticateEV2First (zeros after NonFirst
    /// or [`Session::from_parts`]).
    pub fn pd_capabilities(&self) -> [u8; 6] {
        self.pd_cap2
    }

    /// Whether the session has ended; every further command fails with
    /// [`DesfireError::SessionEnded`].
    pub fn is_ended(&self) -> bool {
        self.state == State::Ended
    }

    #[cfg(test)]
    pub(crate) fn session_keys(&self) -> (&AesKey, &AesKey) {
        (&self.kenc, &self.kmac)
    }

    pub(crate) fn ensure_ready(&self) -> Result<()> {
        match self.state {
            State::Ready => Ok(()),
            State::AwaitingResponse => Err(DesfireError::ExchangeInFlight),
            State::Ended => Err(DesfireError::SessionEnded),
        }
    }

    /// Builds the APDU for native command `cmd` with clear `header` and `data`, protected
    /// in `mode`: Plain sends `header || data`, Mac appends the MAC, Full enciphers `data`
    /// (when not empty) and appends the MAC of `header || ciphertext`.
    pub fn wrap(
        &mut self,
        cmd: u8,
        header: &[u8],
        data: &[u8],
        mode: CommMode,
    ) -> Result<CommandApdu> {
        self.ensure_ready()?;
        // The response is protected with CmdCtr + 1, which must not wrap around.
        if self.cmd_ctr == u16::MAX {
            return Err(DesfireError::CommandCounterExhausted);
        }
        let mut body = Vec::with_capacity(header.len() + data.len() + 2 * MAC_LEN);
        body.extend_from_slice(header);
        match mode {
            CommMode::Plain => body.extend_from_slice(data),
            CommMode::Mac => {
                body.extend_from_slice(data);
                let mac = command_mac(&self.kmac, cmd, self.cmd_ctr, &self.ti, header, data);
                body.extend_from_slice(&mac);
            }
            CommMode::Full => {
                let mut ciphertext = Vec::new();
                if !data.is_empty() {
                    ciphertext = pad_m2(data);
                    let iv = secure_messaging_iv(&self.kenc, LABEL_ENC, &self.ti, self.cmd_ctr);
                    cbc_encrypt(&self.kenc, &iv, &mut ciphertext)?;
                }
                let mac = command_mac(&self.kmac, cmd, self.cmd_ctr, &self.ti, header, &ciphertext);
                body.extend_from_slice(&ciphertext);
                body.extend_from_slice(&mac);
            }
        }
        let apdu = CommandApdu::native(cmd, &body)?;
        self.state = State::AwaitingResponse;
        Ok(apdu)
    }

    /// [`Session::wrap`] for a built [`NativeCommand`].
    pub fn send(&mut self, command: &NativeCommand, mode: CommMode) -> Result<CommandApdu> {
        self.wrap(command.code, &command.header, &command.data, mode)
    }

    /// Checks the card's answer to the wrapped command, in `mode`, and returns its data
    /// (deciphered in Full mode). Advances the command counter on success; ends the
    /// session on any failure.
    pub fn unwrap_response(&mut self, mode: CommMode, response: &[u8]) -> Result<Vec<u8>> {
        match self.state {
            State::AwaitingResponse => {}
            State::Ready => return Err(DesfireError::NoExchangeInFlight),
            State::Ended => return Err(DesfireError::SessionEnded),
        }
        let result = self.check_response(mode, response);
        match result {
            Ok(_) => {
                self.cmd_ctr = self.cmd_ctr.wrapping_add(1);
                self.state = State::Ready;
            }
            Err(_) => self.state = State::Ended,
        }
        result
    }

    fn check_response(&self, mode: CommMode, response: &[u8]) -> Result<Vec<u8>> {
        let data = ResponseApdu::parse(response)?.into_ok_data()?;
        let next_ctr = self.cmd_ctr.wrapping_add(1);
        if mode == CommMode::Plain {
            return Ok(data.to_vec());
        }
        let (body, received_mac) =
            data.split_last_chunk::<MAC_LEN>()
                .ok_or(DesfireError::ResponseTooShort {
                    expected: MAC_LEN,
                    got: data.len(),
                })?;
        let expected_mac = response_mac(&self.kmac, status::OPERATION_OK, next_ctr, &self.ti, body);
        if !crypto::macs_equal(received_mac, &expected_mac) {
            return Err(DesfireError::MacMismatch);
        }
        if mode == CommMode::Mac || body.is_empty() {
            return Ok(body.to_vec());
        }
        let mut plain = body.to_vec();
        let iv = secure_messaging_iv(&self.kenc, LABEL_MAC, &self.ti, next_ctr);
        cbc_decrypt(&self.kenc, &iv, &mut plain)?;
        let unpadded_len = unpad_m2(&plain)?.len();
        plain.truncate(unpadded_len);
        Ok(plain)
    }

    /// Ends the session (e.g. after SelectApplication, which drops the card's
    /// authentication, or when the badge is removed).
    pub fn end(&mut self) {
        self.state = State::Ended;
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("key_no", &self.key_no)
            .field("transaction_id", &format_args!("{}", Hex(&self.ti)))
            .field("command_counter", &self.cmd_ctr)
            .field("state", &self.state)
            .field("keys", &format_args!("[redacted]"))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::code;
    use hex_literal::hex;

    pub(super) fn key(bytes: [u8; 16]) -> AesKey {
        AesKey::new(bytes)
    }

    /// The session of the AN12196 WriteData transcript (key 3, TI 7614281A).
    pub(super) fn an12196_session(counter: u16) -> Session {
        Session::from_parts(
            3,
            key(hex!("7A93D6571E4B180FCA6AC90C9A7488D4")),
            key(hex!("FC4AF159B62E549B5812394CAB1918CC")),
            hex!("7614281A"),
            counter,
        )
    }

    /// AN12196 §6.12 (psc-tech §4.5 transcript): WriteData in Full mode of 01..0A to file
    /// 03, then the response MAC C26D236E4A7C046D.
    #[test]
    fn full_mode_write_matches_an12196_transcript() {
        let mut session = an12196_session(0);
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
            hex!(
                "908D00001F 03 000000 0A0000 6B5E6804909962FC4E3FF5522CF0F843 6C0C53315B9C73AA 00"
            )
        );
        let data = session
            .unwrap_response(CommMode::Full, &hex!("C26D236E4A7C046D 9100"))
            .unwrap();
        assert!(data.is_empty());
        assert_eq!(session.command_counter(), 1);
    }

    /// AN12196 §5.3 (as replayed by nfc-ev2-crypto test_ev2.py): GetFileSettings (F5) in
    /// MAC mode, command and 25-byte MACed response.
    #[test]
    fn mac_mode_matches_an12196_get_file_settings_example() {
        let mut session = Session::from_parts(
            0,
            AesKey::ZERO,
            key(hex!("8248134A386E86EB7FAF54A52E536CB6")),
            hex!("7A21085E"),
            0,
        );
        let apdu = session.wrap(0xF5, &[0x02], &[], CommMode::Mac).unwrap();
        assert_eq!(apdu.as_bytes(), hex!("90F5000009026597A457C8CD442C00"));
        let data = session
            .unwrap_response(
                CommMode::Mac,
                &hex!("0040EEEE000100D1FE001F00004400004400002000006A0000 2A474282E7A47986 9100"),
            )
            .unwrap();
        assert_eq!(
            data,
            hex!("0040EEEE000100D1FE001F00004400004400002000006A0000")
        );
    }

    /// AN12196 §5.4: a 128-byte WriteData in Full mode (NDEF file), counter 0, and its
    /// response MAC — exercises multi-block CBC with the command IV.
    #[test]
    fn long_full_mode_write_matches_an12196_example() {
        let mut session = Session::from_parts(
            0,
            key(hex!("1309C877509E5A215007FF0ED19CA564")),
            key(hex!("4C6626F5E72EA694202139295C7A7FC7")),
            hex!("9D00C4DF"),
            0,
        );
        // The plain APDU of the example: header 02 000000 800000, then 128 data bytes.
        let plain = hex!(
            "908D000087020000008000000051D1014D550463686F6F73652E75726C2E636F"
            "6D2F6E7461673432343F653D3030303030303030303030303030303030303030"
            "30303030303030303030303026633D3030303030303030303030303030303000"
            "0000000000000000000000000000000000000000000000000000000000000000"
            "00000000000000000000000000"
        );
        let data = &plain[12..12 + 128];
        assert_eq!(plain.len(), 12 + 128 + 1);
        let apdu = session
            .wrap(0x8D, &plain[5..12], data, CommMode::Full)
            .unwrap();
        assert_eq!(
            apdu.as_bytes(),
            hex!(
                "908D00009F02000000800000421C73A27D827658AF481FDFF20A5025B559D0E3"
                "AA21E58D347F343CFFC768BFE596C706BC00F2176781D4B0242642A0FF5A42C4"
                "61AAF894D9A1284B8C76BCFA658ACD40555D362E08DB15CF421B51283F9064BC"
                "BE20E96CAE545B407C9D651A3315B27373772E5DA2367D2064AE054AF996C6F1"
                "F669170FA88CE8C4E3A4A7BBBEF0FD971FF532C3A802AF745660F2B4D1D9A849"
                "9661EBF300"
            )
        );
        session
            .unwrap_response(CommMode::Full, &hex!("FC222E5F7A542452 9100"))
            .unwrap();
    }

    #[test]
    fn tampered_or_replayed_responses_end_the_session() {
        let mut session = an12196_session(0);
        session
            .wrap(0x8D, &hex!("03000000 0A0000"), &[1; 10], CommMode::Full)
            .unwrap();
        assert_eq!(
            session.unwrap_response(CommMode::Full, &hex!("C26D236E4A7C046E 9100")),
            Err(DesfireError::MacMismatch)
        );
        assert!(session.is_ended());

        // The genuine answer to counter 0, replayed against counter 1.
        let mut session = an12196_session(1);
        session.wrap(0x51, &[], &[], CommMode::Full).unwrap();
        assert_eq!(
            session.unwrap_response(CommMode::Full, &hex!("C26D236E4A7C046D 9100")),
            Err(DesfireError::MacMismatch)
        );
    }

    #[test]
    fn one_command_at_a_time() {
        let mut session = an12196_session(0);
        assert_eq!(
            session.unwrap_response(CommMode::Plain, &hex!("9100")),
            Err(DesfireError::NoExchangeInFlight)
        );
        session.wrap(0x60, &[], &[], CommMode::Mac).unwrap();
        assert_eq!(
            session.wrap(0x60, &[], &[], CommMode::Mac),
            Err(DesfireError::ExchangeInFlight)
        );
    }

    #[test]
    fn the_counter_cannot_wrap() {
        let mut session = an12196_session(u16::MAX);
        assert_eq!(
            session.wrap(0x51, &[], &[], CommMode::Full),
            Err(DesfireError::CommandCounterExhausted)
        );
    }

    #[test]
    fn session_debug_redacts_keys() {
        let session = an12196_session(7);
        let printed = format!("{session:?}");
        assert_eq!(
            printed,
            "Session { key_no: 3, transaction_id: 7614281A, command_counter: 7, state: Ready, keys: [redacted] }"
        );
    }
}
