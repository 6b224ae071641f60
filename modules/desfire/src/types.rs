//! The protocol's small value types: application ids, communication modes, file access
//! rights, the card UID and the GetVersion answer, each with its wire encoding.

use std::fmt;

use crate::apdu::Hex;
use crate::error::{DesfireError, Result};

/// A 3-byte DESFire application identifier. `000000` is the card (PICC) level.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Aid(u32);

impl Aid {
    /// The card (PICC) level, selected after power-up.
    pub const PICC: Aid = Aid(0);

    /// An AID from its numeric value (at most `0xFFFFFF`).
    pub fn new(value: u32) -> Result<Self> {
        if value > 0xFF_FFFF {
            return Err(DesfireError::AidOutOfRange { aid: value });
        }
        Ok(Aid(value))
    }

    /// An AID from its 3 bytes as sent on the wire (least significant byte first).
    pub fn from_wire_bytes(bytes: [u8; 3]) -> Self {
        let [b0, b1, b2] = bytes;
        Aid(u32::from_le_bytes([b0, b1, b2, 0]))
    }

    /// The 3 bytes as sent on the wire (least significant byte first).
    pub fn to_wire_bytes(self) -> [u8; 3] {
        let [b0, b1, b2, _] = self.0.to_le_bytes();
        [b0, b1, b2]
    }

    /// The numeric value.
    pub fn as_u32(self) -> u32 {
        self.0
    }
}

impl fmt::Debug for Aid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Aid({:06X})", self.0)
    }
}

impl fmt::Display for Aid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:06X}", self.0)
    }
}

/// How a command and its response are protected inside an authenticated session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CommMode {
    /// No protection (the command counter still advances in a session).
    Plain,
    /// Data in clear, followed by an 8-byte truncated CMAC.
    Mac,
    /// Data enciphered with the session key (AES-CBC, padded), followed by the MAC.
    Full,
}

impl CommMode {
    /// The two low bits of a file's option byte (`00` plain, `01` MAC, `11` full).
    pub fn file_option_bits(self) -> u8 {
        match self {
            CommMode::Plain => 0b00,
            CommMode::Mac => 0b01,
            CommMode::Full => 0b11,
        }
    }

    /// Decodes the two low bits of a file's option byte (`10` also means plain).
    pub fn from_file_option_bits(bits: u8) -> Self {
        match bits & 0b11 {
            0b01 => CommMode::Mac,
            0b11 => CommMode::Full,
            _ => CommMode::Plain,
        }
    }
}

/// Who may perform one kind of file access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    /// Only after authenticating with this application key (0..=13).
    Key(u8),
    /// Anyone, without authentication (nibble `E`); data then travels in plain.
    Free,
    /// No one (nibble `F`).
    Never,
}

impl Access {
    /// The 4-bit encoding.
    pub fn to_nibble(self) -> u8 {
        match self {
            Access::Key(k) => k & 0x0F,
            Access::Free => 0x0E,
            Access::Never => 0x0F,
        }
    }

    /// Decodes a 4-bit value (only the low nibble is read).
    pub fn from_nibble(nibble: u8) -> Self {
        match nibble & 0x0F {
            0x0E => Access::Free,
            0x0F => Access::Never,
            k => Access::Key(k),
        }
    }

    /// Whether a session authenticated with `key_no` (or none) satisfies this condition.
    pub fn allows(self, authenticated_key: Option<u8>) -> bool {
        match self {
            Access::Free => true,
            Access::Never => false,
            Access::Key(k) => authenticated_key == Some(k),
        }
    }
}

/// The four access conditions of a data file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AccessRights {
    /// ReadData.
    pub read: Access,
    /// WriteData.
    pub write: Access,
    /// Both ReadData and WriteData.
    pub read_write: Access,
    /// ChangeFileSettings.
    pub change: Access,
}

impl AccessRights {
    /// The 2 wire bytes: `(RW << 4 | Change), (Read << 4 | Write)`.
    pub fn to_bytes(self) -> [u8; 2] {
        [
            (self.read_write.to_nibble() << 4) | self.change.to_nibble(),
            (self.read.to_nibble() << 4) | self.write.to_nibble(),
        ]
    }

    /// Decodes the 2 wire bytes.
    pub fn from_bytes(bytes: [u8; 2]) -> Self {
        let [low, high] = bytes;
        AccessRights {
            read: Access::from_nibble(high >> 4),
            write: Access::from_nibble(high),
            read_write: Access::from_nibble(low >> 4),
            change: Access::from_nibble(low),
        }
    }
}

/// Which key a ChangeKey command replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyTarget {
    /// The card master key (key 0 at PICC level), kept AES.
    PiccMasterKey,
    /// Key `n` (0..=13) of the selected application.
    ApplicationKey(u8),
}

impl KeyTarget {
    /// Flag in the KeyNo byte selecting AES for a new PICC master key.
    pub const PICC_AES_FLAG: u8 = 0x80;

    /// The key number (0 for the PICC master key).
    pub fn key_no(self) -> u8 {
        match self {
            KeyTarget::PiccMasterKey => 0,
            KeyTarget::ApplicationKey(n) => n,
        }
    }

    /// The KeyNo byte sent in the ChangeKey header.
    pub fn header_byte(self) -> u8 {
        match self {
            KeyTarget::PiccMasterKey => Self::PICC_AES_FLAG,
            KeyTarget::ApplicationKey(n) => n,
        }
    }
}

/// The card's real UID as returned by GetCardUID (4, 7 or 10 bytes; 7 for DESFire EV2).
///
/// With the Random ID option the anticollision UID changes every session; this one does
/// not, so it is the badge's identifier.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CardUid {
    bytes: [u8; 10],
    len: u8,
}

impl CardUid {
    /// A UID from its bytes; must be 4, 7 or 10 bytes long.
    pub fn new(bytes: &[u8]) -> Result<Self> {
        let len = bytes.len();
        if !matches!(len, 4 | 7 | 10) {
            return Err(DesfireError::InvalidUidLength { len });
        }
        let mut out = [0u8; 10];
        out.get_mut(..len)
            .ok_or(DesfireError::InvalidUidLength { len })?
            .copy_from_slice(bytes);
        Ok(CardUid {
            bytes: out,
            len: u8::try_from(len).expect("length is 4, 7 or 10"),
        })
    }

    /// The UID bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes
            .get(..usize::from(self.len))
            .expect("len is at most 10 by construction")
    }
}

impl fmt::Debug for CardUid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CardUid({})", Hex(self.as_bytes()))
    }
}

/// Uppercase hex, the form used in logs and the directory.
impl fmt::Display for CardUid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", Hex(self.as_bytes()))
    }
}

/// Hardware or software version block of GetVersion (7 bytes each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProductVersion {
    /// Vendor (`0x04` = NXP).
    pub vendor_id: u8,
    /// Product type (`0x01` = DESFire).
    pub product_type: u8,
    /// Product subtype.
    pub subtype: u8,
    /// Major version (`0x12` EV2, `0x33` EV3).
    pub major: u8,
    /// Minor version.
    pub minor: u8,
    /// Storage size code: `2^(n >> 1)` bytes, or between that and the next power of two
    /// when the low bit is set.
    pub storage_size: u8,
    /// Communication protocol (`0x05` = ISO/IEC 14443-2 and -3).
    pub protocol: u8,
}

impl ProductVersion {
    fn from_bytes(b: [u8; 7]) -> Self {
        let [
            vendor_id,
            product_type,
            subtype,
            major,
            minor,
            storage_size,
            protocol,
        ] = b;
        ProductVersion {
            vendor_id,
            product_type,
            subtype,
            major,
            minor,
            storage_size,
            protocol,
        }
    }

    fn to_bytes(self) -> [u8; 7] {
        [
            self.vendor_id,
            self.product_type,
            self.subtype,
            self.major,
            self.minor,
            self.storage_size,
            self.protocol,
        ]
    }

    /// The storage size in bytes when the code gives it exactly (low bit clear).
    pub fn storage_bytes(&self) -> Option<u32> {
        if self.storage_size & 1 == 0 {
            1u32.checked_shl(u32::from(self.storage_size >> 1))
        } else {
            None
        }
    }
}

/// The answer to GetVersion (three frames of 7, 7 and 14 or 15 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VersionInfo {
    /// Hardware version.
    pub hardware: ProductVersion,
    /// Software version.
    pub software: ProductVersion,
    /// UID (all zeros on a card with Random ID; use GetCardUID after authentication).
    pub uid: [u8; 7],
    /// Production batch number.
    pub batch_no: [u8; 5],
    /// Calendar week of production (BCD).
    pub production_week: u8,
    /// Year of production (BCD).
    pub production_year: u8,
    /// Fab key identifier, sent by EV3 cards as a 29th byte.
    pub fab_key_id: Option<u8>,
}

impl VersionInfo {
    /// Parses the concatenated data of the three frames (28 or 29 bytes).
    pub fn parse(data: &[u8]) -> Result<Self> {
        if data.len() < 28 {
            return Err(DesfireError::ResponseTooShort {
                expected: 28,
                got: data.len(),
            });
        }
        if data.len() > 29 {
            return Err(DesfireError::UnexpectedResponseLength {
                expected: 29,
                got: data.len(),
            });
        }
        let mut reader = Reader(data);
        Ok(VersionInfo {
            hardware: ProductVersion::from_bytes(reader.take()?),
            software: ProductVersion::from_bytes(reader.take()?),
            uid: reader.take()?,
            batch_no: reader.take()?,
            production_week: reader.byte()?,
            production_year: reader.byte()?,
            fab_key_id: reader.byte().ok(),
        })
    }

    /// The wire encoding (28 or 29 bytes), as a card sends it.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(29);
        out.extend_from_slice(&self.hardware.to_bytes());
        out.extend_from_slice(&self.software.to_bytes());
        out.extend_from_slice(&self.uid);
        out.extend_from_slice(&self.batch_no);
        out.push(self.production_week);
        out.push(self.production_year);
        out.extend(self.fab_key_id);
        out
    }
}

/// Reads fixed-size fields off the front of a byte slice.
pub(crate) struct Reader<'a>(pub(crate) &'a [u8]);

impl Reader<'_> {
    /// The next `N` bytes.
    pub(crate) fn take<const N: usize>(&mut self) -> Result<[u8; N]> {
        let (head, rest) =
            self.0
                .split_first_chunk::<N>()
                .ok_or(DesfireError::ResponseTooShort {
                    expected: N,
                    got: self.0.len(),
                })?;
        self.0 = rest;
        Ok(*head)
    }

    /// The next byte.
    pub(crate) fn byte(&mut self) -> Result<u8> {
        let [b] = self.take::<1>()?;
        Ok(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hex_literal::hex;

    #[test]
    fn aid_wire_order_is_least_significant_byte_first() {
        let aid = Aid::new(0xF5_4230).unwrap();
        assert_eq!(aid.to_wire_bytes(), hex!("3042F5"));
        assert_eq!(Aid::from_wire_bytes(hex!("3042F5")), aid);
        assert_eq!(aid.to_string(), "F54230");
        assert!(Aid::new(0x100_0000).is_err());
    }

    #[test]
    fn access_rights_round_trip_through_wire_bytes() {
        let rights = AccessRights {
            read: Access::Key(1),
            write: Access::Key(2),
            read_write: Access::Key(0),
            change: Access::Never,
        };
        assert_eq!(rights.to_bytes(), [0x0F, 0x12]);
        assert_eq!(AccessRights::from_bytes(rights.to_bytes()), rights);
        assert_eq!(Access::from_nibble(0xE), Access::Free);
    }

    #[test]
    fn card_uid_accepts_only_real_lengths() {
        assert_eq!(
            CardUid::new(&hex!("04958CAA5C5E80")).unwrap().to_string(),
            "04958CAA5C5E80"
        );
        assert!(CardUid::new(&[1, 2, 3, 4]).is_ok());
        assert!(CardUid::new(&[0; 10]).is_ok());
        assert_eq!(
            CardUid::new(&[0; 8]),
            Err(DesfireError::InvalidUidLength { len: 8 })
        );
    }

    #[test]
    fn version_info_round_trips() {
        let data = hex!("04010112001A05 04010112001A05 04958CAA5C5E80 BA34998930 30 18");
        let info = VersionInfo::parse(&data).unwrap();
        assert_eq!(info.hardware.major, 0x12);
        assert_eq!(info.hardware.storage_bytes(), Some(8192));
        assert_eq!(info.uid, hex!("04958CAA5C5E80"));
        assert_eq!(info.production_year, 0x18);
        assert_eq!(info.fab_key_id, None);
        assert_eq!(info.to_bytes(), data);
        let mut with_fab = data.to_vec();
        with_fab.push(0x1F);
        assert_eq!(
            VersionInfo::parse(&with_fab).unwrap().fab_key_id,
            Some(0x1F)
        );
        assert!(VersionInfo::parse(&data[..27]).is_err());
        with_fab.push(0);
        assert!(VersionInfo::parse(&with_fab).is_err());
    }
}
