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

use std::fmt;

use crate::apdu::{CommandApdu, Hex, ResponseApdu};
use crate::commands::{NativeCommand, check_key_no, code};
use crate::crypto::{
    self, MAC_LEN, aes_encrypt_block, cbc_decrypt, cbc_encrypt, crc32_desfire, mac_t, pad_m2,
    unpad_m2, xor16,
};
use crate::error::{DesfireError, Result};
use crate::key::AesKey;
use crate::status;
use crate::types::{AccessRights, Aid, CardUid, CommMode, KeyTarget, VersionInfo};

/// Label of the session encryption key derivation vector and of the command IV.
pub(crate) const LABEL_ENC: [u8; 2] = [0xA5, 0x5A];
/// Label of the session MAC key derivation vector and of the response IV.
pub(crate) const LABEL_MAC: [u8; 2] = [0x5A, 0xA5];

/// Derives (KSesAuthENC, KSesAuthMAC) from the authentication key and both random numbers:
/// `SV = label || 00 01 00 80 || RndA[0..2] || (RndA[2..8] ^ RndB[0..6]) || RndB[6..16] ||
/// RndA[8..16]`, `KSes = CMAC(K, SV)`.
pub(crate) fn derive_session_keys(
    key: &AesKey,
    rnd_a: &[u8; 16],
    rnd_b: &[u8; 16],
) -> (AesKey, AesKey) {
    let enc = crypto::cmac(key, &[&session_vector(LABEL_ENC, rnd_a, rnd_b)]);
    let mac = crypto::cmac(key, &[&session_vector(LABEL_MAC, rnd_a, rnd_b)]);
    (AesKey::new(enc), AesKey::new(mac))
}

fn session_vector(label: [u8; 2], rnd_a: &[u8; 16], rnd_b: &[u8; 16]) -> [u8; 32] {
    let [
        a0,
        a1,
        a2,
        a3,
        a4,
        a5,
        a6,
        a7,
        a8,
        a9,
        a10,
        a11,
        a12,
        a13,
        a14,
        a15,
    ] = *rnd_a;
    let [
        b0,
        b1,
        b2,
        b3,
        b4,
        b5,
        b6,
        b7,
        b8,
        b9,
        b10,
        b11,
        b12,
        b13,
        b14,
        b15,
    ] = *rnd_b;
    let [l0, l1] = label;
    [
        l0,
        l1,
        0x00,
        0x01,
        0x00,
        0x80,
        a0,
        a1,
        a2 ^ b0,
        a3 ^ b1,
        a4 ^ b2,
        a5 ^ b3,
        a6 ^ b4,
        a7 ^ b5,
        b6,
        b7,
        b8,
        b9,
        b10,
        b11,
        b12,
        b13,
        b14,
        b15,
        a8,
        a9,
        a10,
        a11,
        a12,
        a13,
        a14,
        a15,
    ]
}

/// `AES(KSesAuthENC, label || TI || counter (LE) || 00*8)`: the IV of a command (label
/// `A5 5A`, current counter) or of a response (label `5A A5`, counter + 1).
pub(crate) fn secure_messaging_iv(
    kenc: &AesKey,
    label: [u8; 2],
    ti: &[u8; 4],
    counter: u16,
) -> [u8; 16] {
    let mut block = [0u8; 16];
    let [l0, l1] = label;
    let [t0, t1, t2, t3] = *ti;
    let [c0, c1] = counter.to_le_bytes();
    block
        .iter_mut()
        .zip([l0, l1, t0, t1, t2, t3, c0, c1])
        .for_each(|(dst, src)| *dst = src);
    aes_encrypt_block(kenc, &block)
}

/// Truncated MAC of a command: `Cmd || CmdCtr || TI || header || data`.
pub(crate) fn command_mac(
    kmac: &AesKey,
    cmd: u8,
    counter: u16,
    ti: &[u8; 4],
    header: &[u8],
    data: &[u8],
) -> [u8; 8] {
    mac_t(kmac, &[&[cmd], &counter.to_le_bytes(), ti, header, data])
}

/// Truncated MAC of a response: `Status || CmdCtr+1 || TI || data` (`counter` is CmdCtr+1).
pub(crate) fn response_mac(
    kmac: &AesKey,
    status: u8,
    counter: u16,
    ti: &[u8; 4],
    data: &[u8],
) -> [u8; 8] {
    mac_t(kmac, &[&[status], &counter.to_le_bytes(), ti, data])
}

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

    /// Ends the session (e.g. after SelectApplication, which drops the card's
    /// authentication, or when the badge is removed).
    pub fn end(&mut self) {
        self.state = State::Ended;
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
    use crate::types::Access;
    use hex_literal::hex;

    fn key(bytes: [u8; 16]) -> AesKey {
        AesKey::new(bytes)
    }

    /// AN12343 p.33-34 (also Proxmark3 desfiretest.c): session keys from K = 0, RndA, RndB.
    #[test]
    fn session_keys_match_an12343_vector() {
        let (enc, mac) = derive_session_keys(
            &AesKey::ZERO,
            &hex!("B04D0787C93EE0CC8CACC8E86F16C6FE"),
            &hex!("FA659AD0DCA738DD65DC7DC38612AD81"),
        );
        assert_eq!(
            enc.expose_secret(),
            &hex!("63DC07286289A7A6C0334CA31C314A04")
        );
        assert_eq!(
            mac.expose_secret(),
            &hex!("774F26743ECE6AF5033B6AE8522946F6")
        );
    }

    /// EV2 command IV, psc-tech §4.5: TI ED56F6E6, counter 0.
    #[test]
    fn command_iv_matches_vector_at_counter_zero() {
        let iv = secure_messaging_iv(
            &key(hex!("66A8CB93269DC9BC2885B7A91B9C697B")),
            LABEL_ENC,
            &hex!("ED56F6E6"),
            0,
        );
        assert_eq!(iv, hex!("DA0F644A4986275957CF1EC3AF4CCE53"));
    }

    /// EV2 command IV, psc-tech §4.5: TI 11223344, counter 5 (little-endian in the IV).
    #[test]
    fn command_iv_matches_vector_at_counter_five() {
        let iv = secure_messaging_iv(
            &key(hex!("445A8626B3338459321232FADF6ADE2B")),
            LABEL_ENC,
            &hex!("11223344"),
            5,
        );
        assert_eq!(iv, hex!("177494FCC4F1DAB2AFBE8FAE2057A9D2"));
    }

    /// EV2 MAC, AN12343 p.54: WriteData (8D) header + 25 bytes of 0x22, counter 0.
    #[test]
    fn command_and_response_macs_match_an12343_vector() {
        let kmac = key(hex!("9366FA195EB566F5BD2BAD4020B83002"));
        let ti = hex!("E2D3AF69");
        let mac = command_mac(&kmac, 0x8D, 0, &ti, &hex!("00000000190000"), &[0x22; 25]);
        assert_eq!(mac, hex!("68F2C28C575A1628"));
        let rmac = response_mac(&kmac, 0x00, 1, &ti, &[]);
        assert_eq!(rmac, hex!("0820F68898C2A7F1"));
    }

    fn an12196_session(counter: u16) -> Session {
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
