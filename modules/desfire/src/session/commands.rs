//! The typed commands of a [`Session`]: GetCardUID, GetVersion, ReadData, WriteData,
//! CreateApplication, CreateStdDataFile and ChangeKey. Each returns the protected APDU and
//! a [`Pending`] that [`Session::finish`] checks against the card's answer and parses.

use std::fmt;

use crate::apdu::{CommandApdu, ResponseApdu};
use crate::commands::{NativeCommand, check_key_no, code};
use crate::crypto::{crc32_desfire, xor16};
use crate::error::{DesfireError, Result};
use crate::key::AesKey;
use crate::types::{AccessRights, Aid, CardUid, CommMode, KeyTarget, VersionInfo};

use super::{Session, State};

/// What the card's answer to a command must look like.
enum Expect {
    /// A response in this mode.
    Mode(CommMode),
    /// `91 00` without MAC, after which the session is over (ChangeKey of the
    /// authenticated key).
    PlainOkThenEnd,
}

/// A command sent inside a session whose answer has not been checked yet. Hand the card's
/// response (reassembled with [`crate::ResponseChain`] if it came in several frames) to
/// [`Session::finish`].
#[must_use = "the card's answer must be checked with Session::finish"]
pub struct Pending<T> {
    ti: [u8; 4],
    cmd_ctr: u16,
    expect: Expect,
    parse: Box<dyn FnOnce(Vec<u8>) -> Result<T> + Send>,
}

impl<T> fmt::Debug for Pending<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pending")
            .field("command_counter", &self.cmd_ctr)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Checks the answer to a command built by one of the typed methods and parses it.
    pub fn finish<T>(&mut self, pending: Pending<T>, response: &[u8]) -> Result<T> {
        match self.state {
            State::AwaitingResponse => {}
            State::Ready => return Err(DesfireError::NoExchangeInFlight),
            State::Ended => return Err(DesfireError::SessionEnded),
        }
        if pending.ti != self.ti || pending.cmd_ctr != self.cmd_ctr {
            return Err(DesfireError::ExchangeMismatch);
        }
        let data = match pending.expect {
            Expect::Mode(mode) => self.unwrap_response(mode, response)?,
            Expect::PlainOkThenEnd => {
                // The key this session stands on is gone: whatever the answer, it is over.
                self.state = State::Ended;
                let data = ResponseApdu::parse(response)?.into_ok_data()?;
                data.to_vec()
            }
        };
        let parsed = (pending.parse)(data);
        if parsed.is_err() {
            self.state = State::Ended;
        }
        parsed
    }

    fn pending<T>(
        &self,
        expect: Expect,
        parse: impl FnOnce(Vec<u8>) -> Result<T> + Send + 'static,
    ) -> Pending<T> {
        Pending {
            ti: self.ti,
            cmd_ctr: self.cmd_ctr,
            expect,
            parse: Box::new(parse),
        }
    }

    fn exchange<T>(
        &mut self,
        command: &NativeCommand,
        mode: CommMode,
        parse: impl FnOnce(Vec<u8>) -> Result<T> + Send + 'static,
    ) -> Result<(CommandApdu, Pending<T>)> {
        let pending = self.pending(Expect::Mode(mode), parse);
        let apdu = self.send(command, mode)?;
        Ok((apdu, pending))
    }

    /// GetCardUID (Full mode): the card's real 7-byte UID, even with Random ID enabled.
    pub fn get_card_uid(&mut self) -> Result<(CommandApdu, Pending<CardUid>)> {
        self.exchange(&NativeCommand::get_card_uid(), CommMode::Full, |data| {
            CardUid::new(&data)
        })
    }

    /// GetVersion (MAC mode). The card answers in three frames: collect them with
    /// [`crate::ResponseChain`] before calling [`Session::finish`].
    pub fn get_version(&mut self) -> Result<(CommandApdu, Pending<VersionInfo>)> {
        self.exchange(&NativeCommand::get_version(), CommMode::Mac, |data| {
            VersionInfo::parse(&data)
        })
    }

    /// ReadData of `length` bytes (0: to the end of the file) at `offset` of `file_no`, in
    /// the file's communication mode. Checks that exactly `length` bytes came back.
    pub fn read_data(
        &mut self,
        file_no: u8,
        offset: usize,
        length: usize,
        mode: CommMode,
    ) -> Result<(CommandApdu, Pending<Vec<u8>>)> {
        let command = NativeCommand::read_data(file_no, offset, length)?;
        self.exchange(&command, mode, move |data| {
            if length != 0 && data.len() != length {
                return Err(DesfireError::UnexpectedResponseLength {
                    expected: length,
                    got: data.len(),
                });
            }
            Ok(data)
        })
    }

    /// WriteData of `data` at `offset` of `file_no`, in the file's communication mode.
    ///
    /// One APDU carries at most 255 bytes after the 7-byte header and the 8-byte MAC: 240
    /// data bytes in Mac mode, 239 in Full mode (padding takes at least one byte), 248 in
    /// Plain. Write longer contents in several calls at increasing offsets; a longer
    /// `data` fails with [`DesfireError::CommandTooLong`] before anything is sent.
    pub fn write_data(
        &mut self,
        file_no: u8,
        offset: usize,
        data: &[u8],
        mode: CommMode,
    ) -> Result<(CommandApdu, Pending<()>)> {
        let command = NativeCommand::write_data(file_no, offset, data)?;
        self.exchange(&command, mode, expect_empty)
    }

    /// CreateApplication (MAC mode, authenticated with the card master key).
    pub fn create_application(
        &mut self,
        aid: Aid,
        key_settings: u8,
        key_count: u8,
    ) -> Result<(CommandApdu, Pending<()>)> {
        let command = NativeCommand::create_application(aid, key_settings, key_count)?;
        self.exchange(&command, CommMode::Mac, expect_empty)
    }

    /// CreateStdDataFile (MAC mode) in the selected application.
    pub fn create_std_data_file(
        &mut self,
        file_no: u8,
        comm_mode: CommMode,
        access: AccessRights,
        size: usize,
    ) -> Result<(CommandApdu, Pending<()>)> {
        let command = NativeCommand::create_std_data_file(file_no, comm_mode, access, size)?;
        self.exchange(&command, CommMode::Mac, expect_empty)
    }

    /// ChangeKey (Full mode) of `target` to `new_key` with version `new_version`.
    ///
    /// * Changing the key this session authenticated with sends `NewKey || KeyVer`; the
    ///   card answers `91 00` without MAC and the session ends (authenticate again with
    ///   the new key). `current_key` is ignored.
    /// * Changing another key sends `(NewKey ^ CurrentKey) || KeyVer || CRC32(NewKey)`,
    ///   so `current_key` is required; the answer is MACed and the session goes on.
    ///
    /// Both cryptograms are pinned to the AN12196 worked examples.
    pub fn change_key(
        &mut self,
        target: KeyTarget,
        new_key: &AesKey,
        new_version: u8,
        current_key: Option<&AesKey>,
    ) -> Result<(CommandApdu, Pending<()>)> {
        let key_no = check_key_no(target.key_no())?;
        let mut cryptogram = zeroize::Zeroizing::new(Vec::with_capacity(21));
        let expect = if key_no == self.key_no {
            cryptogram.extend_from_slice(new_key.expose_secret());
            cryptogram.push(new_version);
            Expect::PlainOkThenEnd
        } else {
            let current = current_key.ok_or(DesfireError::CurrentKeyRequired { key_no })?;
            cryptogram.extend_from_slice(&xor16(new_key.expose_secret(), current.expose_secret()));
            cryptogram.push(new_version);
            cryptogram.extend_from_slice(&crc32_desfire(new_key.expose_secret()));
            Expect::Mode(CommMode::Full)
        };
        let pending = self.pending(expect, expect_empty);
        let apdu = self.wrap(
            code::CHANGE_KEY,
            &[target.header_byte()],
            &cryptogram,
            CommMode::Full,
        )?;
        Ok((apdu, pending))
    }
}

fn expect_empty(data: Vec<u8>) -> Result<()> {
    if data.is_empty() {
        Ok(())
    } else {
        Err(DesfireError::UnexpectedResponseLength {
            expected: 0,
            got: data.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::tests::{an12196_session, key};
    use crate::session::{LABEL_ENC, secure_messaging_iv};
    use crate::types::Access;
    use hex_literal::hex;

    /// AN12196 §7.3: GetCardUID in Full mode; the response deciphers to UID 04958CAA5C5E80.
    #[test]
    fn get_card_uid_matches_an12196_example() {
        let mut session = Session::from_parts(
            0,
            key(hex!("2B4D963C014DC36F24F69A50A394F875")),
            key(hex!("379D32130CE61705DD5FD8C36B95D764")),
            hex!("DF055522"),
            0,
        );
        let (apdu, pending) = session.get_card_uid().unwrap();
        assert_eq!(apdu.as_bytes(), hex!("90510000088E2C155ADDA99BE300"));
        let uid = session
            .finish(
                pending,
                &hex!("70756055688505B52A5E26E59E329CD6 595F672298EA41B7 9100"),
            )
            .unwrap();
        assert_eq!(uid.as_bytes(), hex!("04958CAA5C5E80"));
    }

    fn an12196_change_key_session(counter: u16) -> Session {
        Session::from_parts(
            0,
            key(hex!("4CF3CB41A22583A61E89B158D252FC53")),
            key(hex!("5529860B2FC5FB6154B7F28361D30BF9")),
            hex!("7614281A"),
            counter,
        )
    }

    /// AN12196 §6.16.1: ChangeKey of key 2 (not the authenticated key) with CRC32 of the
    /// new key, counter 2; response MAC 203BB55D1089D587.
    #[test]
    fn change_other_key_matches_an12196_example() {
        let mut session = an12196_change_key_session(2);
        let (apdu, pending) = session
            .change_key(
                KeyTarget::ApplicationKey(2),
                &key(hex!("F3847D627727ED3BC9C4CC050489B966")),
                0x01,
                Some(&AesKey::ZERO),
            )
            .unwrap();
        assert_eq!(
            apdu.as_bytes(),
            hex!(
                "90C4000029022CF362B7BF4311FF3BE1DAA295E8C68DE09050560D19B9E16C2393AE9CD1FAC75D0CE20BCD1D06E600"
            )
        );
        session
            .finish(pending, &hex!("203BB55D1089D587 9100"))
            .unwrap();
        assert_eq!(session.command_counter(), 3);
        assert!(!session.is_ended());
    }

    /// AN12196 §6.16.2: ChangeKey of the authenticated key 0, counter 3; the card answers
    /// 91 00 without MAC and the session is over.
    #[test]
    fn change_authenticated_key_matches_an12196_example() {
        let mut session = an12196_change_key_session(3);
        let (apdu, pending) = session
            .change_key(
                KeyTarget::ApplicationKey(0),
                &key(hex!("5004BF991F408672B1EF00F08F9E8647")),
                0x01,
                None,
            )
            .unwrap();
        assert_eq!(
            apdu.as_bytes(),
            hex!(
                "90C400002900C0EB4DEEFEDDF0B513A03A95A75491818580503190D4D05053FF75668A01D6FDA6610234BDED643200"
            )
        );
        session.finish(pending, &hex!("9100")).unwrap();
        assert!(session.is_ended());
        assert_eq!(
            session.wrap(0x51, &[], &[], CommMode::Full),
            Err(DesfireError::SessionEnded)
        );
    }

    /// AN12343 table 40 (DESFire Light): ChangeKey of the authenticated key 0 at counter 0.
    #[test]
    fn change_authenticated_key_matches_an12343_example() {
        let mut session = Session::from_parts(
            0,
            key(hex!("E156C8522F7C8DC82B0C99BA847DE723")),
            key(hex!("45D50C1570000D2F173DF949288E3CAD")),
            hex!("94297F4D"),
            0,
        );
        let iv = secure_messaging_iv(&session.kenc, LABEL_ENC, &session.ti, 0);
        assert_eq!(iv, hex!("BF4A2FB89311ED58E9DCBE56FC17794C"));
        let (apdu, _pending) = session
            .change_key(
                KeyTarget::ApplicationKey(0),
                &key(hex!("01234567890123456789012345678901")),
                0x00,
                None,
            )
            .unwrap();
        assert_eq!(
            apdu.data(),
            hex!(
                "00 BF5400DC97A1FBD65BE870716D6F11F8161BB4CA472856DB94AB94B2EC1A13E6 27CE07CF56C11091"
            )
        );
    }

    #[test]
    fn changing_another_key_needs_its_current_value() {
        let mut session = an12196_session(0);
        assert_eq!(
            session
                .change_key(KeyTarget::ApplicationKey(1), &AesKey::ZERO, 0, None)
                .map(|_| ()),
            Err(DesfireError::CurrentKeyRequired { key_no: 1 })
        );
        assert!(!session.is_ended());
    }

    #[test]
    fn pending_exchanges_cannot_be_mixed_up() {
        let mut session = an12196_session(0);
        let (_apdu, stale) = session.get_card_uid().unwrap();
        session.end();
        let mut other = an12196_session(0);
        let (_apdu, _current) = other.read_data(1, 0, 16, CommMode::Mac).unwrap();
        let mut third = an12196_session(5);
        third.wrap(0x60, &[], &[], CommMode::Plain).unwrap();
        assert_eq!(
            third.finish(stale, &hex!("9100")).map(|_| ()),
            Err(DesfireError::ExchangeMismatch)
        );
    }

    #[test]
    fn card_errors_end_the_session() {
        let mut session = an12196_session(0);
        let (_apdu, pending) = session.read_data(1, 0, 16, CommMode::Mac).unwrap();
        assert_eq!(
            session.finish(pending, &hex!("919D")),
            Err(DesfireError::CardStatus { code: 0x9D })
        );
        assert!(session.is_ended());
    }

    #[test]
    fn write_size_limits_are_as_documented() {
        for (mode, max) in [
            (CommMode::Full, 239),
            (CommMode::Mac, 240),
            (CommMode::Plain, 248),
        ] {
            let mut session = an12196_session(0);
            assert!(session.write_data(1, 0, &vec![0; max], mode).is_ok());
            let mut session = an12196_session(0);
            assert!(matches!(
                session.write_data(1, 0, &vec![0; max + 1], mode),
                Err(DesfireError::CommandTooLong { .. })
            ));
            // Nothing was sent: the session is still ready.
            assert!(session.get_card_uid().is_ok());
        }
    }

    #[test]
    fn typed_builders_use_the_expected_modes() {
        let mut session = an12196_session(0);
        let (apdu, _p) = session
            .create_std_data_file(
                1,
                CommMode::Full,
                AccessRights {
                    read: Access::Key(1),
                    write: Access::Key(1),
                    read_write: Access::Key(0),
                    change: Access::Key(0),
                },
                16,
            )
            .unwrap();
        // header (7) + MAC (8), nothing enciphered
        assert_eq!(apdu.data().len(), 15);
        assert_eq!(apdu.data()[..7], hex!("01 03 0011 100000"));
    }
}
