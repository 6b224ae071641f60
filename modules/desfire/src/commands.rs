//! Builders for the native DESFire commands Clavis uses.
//!
//! A [`NativeCommand`] is a command code, a header (sent in clear even in Full mode) and
//! data (enciphered in Full mode). Outside a session it is framed with
//! [`NativeCommand::to_plain_apdu`]; inside one, [`crate::Session::send`] protects it.
//! The typed session methods (`Session::get_card_uid`, `Session::read_data`, ...) build
//! these for you and also parse the answers.

use crate::apdu::CommandApdu;
use crate::error::{DesfireError, Result};
use crate::types::{AccessRights, Aid, CommMode};

/// Native command codes.
pub mod code {
    /// AuthenticateEV2First.
    pub const AUTHENTICATE_EV2_FIRST: u8 = 0x71;
    /// AuthenticateEV2NonFirst.
    pub const AUTHENTICATE_EV2_NON_FIRST: u8 = 0x77;
    /// Additional frame (continuation of a multi-frame exchange).
    pub const ADDITIONAL_FRAME: u8 = 0xAF;
    /// GetCardUID.
    pub const GET_CARD_UID: u8 = 0x51;
    /// GetVersion.
    pub const GET_VERSION: u8 = 0x60;
    /// SelectApplication.
    pub const SELECT_APPLICATION: u8 = 0x5A;
    /// CreateApplication.
    pub const CREATE_APPLICATION: u8 = 0xCA;
    /// CreateStdDataFile.
    pub const CREATE_STD_DATA_FILE: u8 = 0xCD;
    /// ReadData (native chaining).
    pub const READ_DATA: u8 = 0xBD;
    /// ReadData, EV2 variant with ISO/IEC 7816-4 chaining (same secure messaging).
    pub const READ_DATA_ISO: u8 = 0xAD;
    /// WriteData (native chaining).
    pub const WRITE_DATA: u8 = 0x3D;
    /// WriteData, EV2 variant with ISO/IEC 7816-4 chaining (same secure messaging).
    pub const WRITE_DATA_ISO: u8 = 0x8D;
    /// ChangeKey.
    pub const CHANGE_KEY: u8 = 0xC4;
}

/// Highest file number of a DESFire application.
pub const MAX_FILE_NO: u8 = 31;

/// Highest key number of a DESFire application (14 keys).
pub const MAX_KEY_NO: u8 = 13;

/// Largest value of the protocol's 3-byte little-endian offsets, lengths and sizes.
pub const MAX_U24: usize = 0xFF_FFFF;

/// Key-type bits of the CreateApplication KeySett2 byte selecting AES keys.
pub const KEY_SETTINGS2_AES: u8 = 0x80;

/// A native command: code, clear header and (possibly enciphered) data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NativeCommand {
    /// The command code.
    pub code: u8,
    /// Parameters sent in clear in every mode (file number, offset, ...).
    pub header: Vec<u8>,
    /// Payload, enciphered in Full mode.
    pub data: Vec<u8>,
}

impl NativeCommand {
    /// SelectApplication: makes `aid` current and ends any authentication.
    pub fn select_application(aid: Aid) -> Self {
        Self::with_header(code::SELECT_APPLICATION, aid.to_wire_bytes().to_vec())
    }

    /// GetVersion: first of three frames (continue with `90 AF`).
    pub fn get_version() -> Self {
        Self::with_header(code::GET_VERSION, Vec::new())
    }

    /// GetCardUID: the real UID, only after authentication, answered in Full mode.
    pub fn get_card_uid() -> Self {
        Self::with_header(code::GET_CARD_UID, Vec::new())
    }

    /// ReadData of `length` bytes at `offset` of standard data file `file_no`
    /// (`length` 0 reads to the end of the file).
    pub fn read_data(file_no: u8, offset: usize, length: usize) -> Result<Self> {
        let mut header = vec![check_file_no(file_no)?];
        header.extend_from_slice(&u24(offset, "offset")?);
        header.extend_from_slice(&u24(length, "length")?);
        Ok(Self::with_header(code::READ_DATA, header))
    }

    /// WriteData of `data` at `offset` of standard data file `file_no`.
    pub fn write_data(file_no: u8, offset: usize, data: &[u8]) -> Result<Self> {
        let mut header = vec![check_file_no(file_no)?];
        header.extend_from_slice(&u24(offset, "offset")?);
        header.extend_from_slice(&u24(data.len(), "length")?);
        Ok(NativeCommand {
            code: code::WRITE_DATA,
            header,
            data: data.to_vec(),
        })
    }

    /// CreateApplication with `key_count` AES keys (all zero until changed) and
    /// `key_settings` (KeySett1: bits 7-4 who may change keys, bit 3 configuration
    /// changeable, bit 2 free create/delete, bit 1 free directory list, bit 0 master key
    /// changeable; `0x0F` is the usual default).
    pub fn create_application(aid: Aid, key_settings: u8, key_count: u8) -> Result<Self> {
        if key_count == 0 || key_count > MAX_KEY_NO + 1 {
            return Err(DesfireError::KeyCountOutOfRange { count: key_count });
        }
        let mut header = aid.to_wire_bytes().to_vec();
        header.push(key_settings);
        header.push(KEY_SETTINGS2_AES | key_count);
        Ok(Self::with_header(code::CREATE_APPLICATION, header))
    }

    /// CreateStdDataFile `file_no` of `size` bytes, protected with `comm_mode` and
    /// `access` rights, in the selected application.
    pub fn create_std_data_file(
        file_no: u8,
        comm_mode: CommMode,
        access: AccessRights,
        size: usize,
    ) -> Result<Self> {
        let mut header = vec![check_file_no(file_no)?, comm_mode.file_option_bits()];
        header.extend_from_slice(&access.to_bytes());
        header.extend_from_slice(&u24(size, "file size")?);
        Ok(Self::with_header(code::CREATE_STD_DATA_FILE, header))
    }

    /// Frames the command for use outside an authenticated session (Plain).
    pub fn to_plain_apdu(&self) -> Result<CommandApdu> {
        let mut body = self.header.clone();
        body.extend_from_slice(&self.data);
        CommandApdu::native(self.code, &body)
    }

    fn with_header(code: u8, header: Vec<u8>) -> Self {
        NativeCommand {
            code,
            header,
            data: Vec::new(),
        }
    }
}

/// Checks a file number (0..=31).
pub(crate) fn check_file_no(file_no: u8) -> Result<u8> {
    if file_no > MAX_FILE_NO {
        Err(DesfireError::FileNumberOutOfRange { file_no })
    } else {
        Ok(file_no)
    }
}

/// Checks a key number (0..=13).
pub(crate) fn check_key_no(key_no: u8) -> Result<u8> {
    if key_no > MAX_KEY_NO {
        Err(DesfireError::KeyNumberOutOfRange { key_no })
    } else {
        Ok(key_no)
    }
}

/// Encodes a value as 3 bytes little-endian.
pub(crate) fn u24(value: usize, what: &'static str) -> Result<[u8; 3]> {
    let small = u32::try_from(value)
        .ok()
        .filter(|v| *v as usize <= MAX_U24)
        .ok_or(DesfireError::ValueOutOfRange { what, value })?;
    let [b0, b1, b2, _] = small.to_le_bytes();
    Ok([b0, b1, b2])
}

/// Decodes 3 bytes little-endian.
#[cfg(any(test, feature = "emulator"))]
pub(crate) fn from_u24(bytes: [u8; 3]) -> usize {
    let [b0, b1, b2] = bytes;
    usize::from(b0) | usize::from(b1) << 8 | usize::from(b2) << 16
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Access;
    use hex_literal::hex;

    #[test]
    fn builders_encode_headers_little_endian() {
        let read = NativeCommand::read_data(3, 0x10, 0x0A).unwrap();
        assert_eq!(read.header, hex!("03 100000 0A0000"));
        let write = NativeCommand::write_data(3, 0, &[1, 2, 3]).unwrap();
        assert_eq!(write.header, hex!("03 000000 030000"));
        assert_eq!(write.data, [1, 2, 3]);
        let select = NativeCommand::select_application(Aid::new(0xF5_4230).unwrap());
        assert_eq!(
            select.to_plain_apdu().unwrap().as_bytes(),
            hex!("905A0000033042F500")
        );
        let app = NativeCommand::create_application(Aid::new(0x01_0203).unwrap(), 0x0F, 2).unwrap();
        assert_eq!(app.header, hex!("030201 0F 82"));
        let file = NativeCommand::create_std_data_file(
            1,
            CommMode::Full,
            AccessRights {
                read: Access::Key(1),
                write: Access::Key(1),
                read_write: Access::Key(0),
                change: Access::Key(0),
            },
            32,
        )
        .unwrap();
        assert_eq!(file.header, hex!("01 03 0011 200000"));
    }

    #[test]
    fn builders_refuse_out_of_range_parameters() {
        assert_eq!(
            NativeCommand::read_data(32, 0, 0),
            Err(DesfireError::FileNumberOutOfRange { file_no: 32 })
        );
        assert_eq!(
            NativeCommand::read_data(0, 0x100_0000, 0),
            Err(DesfireError::ValueOutOfRange {
                what: "offset",
                value: 0x100_0000
            })
        );
        assert_eq!(
            NativeCommand::create_application(Aid::PICC, 0x0F, 15),
            Err(DesfireError::KeyCountOutOfRange { count: 15 })
        );
        assert_eq!(from_u24(u24(0xABCDEF, "x").unwrap()), 0xABCDEF);
    }
}
