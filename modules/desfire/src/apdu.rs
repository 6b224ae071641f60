//! ISO/IEC 7816-4 framing of native DESFire commands.
//!
//! A native command `cmd` with data `d` travels as the APDU `90 cmd 00 00 Lc d 00`
//! (`90 cmd 00 00 00` without data); the card answers `data 91 status`. This module builds
//! command APDUs ([`CommandApdu`]), splits responses ([`ResponseApdu`]) and reassembles
//! responses the card sends in several frames ([`ResponseChain`], status `91 AF`).
//! Nothing here knows about keys.

use std::fmt;

use crate::error::{DesfireError, Result};
use crate::status;

/// CLA byte of wrapped native commands.
pub const CLA_NATIVE: u8 = 0x90;

/// First status byte of every DESFire response.
pub const SW1_DESFIRE: u8 = 0x91;

/// Native command code asking for the next frame of a chained exchange.
pub const CMD_ADDITIONAL_FRAME: u8 = 0xAF;

/// Most data bytes a short APDU carries.
pub const MAX_COMMAND_DATA: usize = 255;

/// Upper bound on a reassembled chained response (an 8 KiB file plus framing), so that a
/// hostile card cannot make the host buffer without limit.
pub const MAX_CHAINED_RESPONSE: usize = 8 * 1024 + 64;

/// A command APDU ready to be sent to the card (through the agent).
#[derive(Clone, PartialEq, Eq)]
pub struct CommandApdu(Vec<u8>);

impl CommandApdu {
    /// Wraps native command `cmd` with `data` as `90 cmd 00 00 [Lc data] 00`.
    pub fn native(cmd: u8, data: &[u8]) -> Result<Self> {
        if data.len() > MAX_COMMAND_DATA {
            return Err(DesfireError::CommandTooLong { len: data.len() });
        }
        let mut bytes = Vec::with_capacity(data.len() + 6);
        bytes.extend_from_slice(&[CLA_NATIVE, cmd, 0x00, 0x00]);
        if !data.is_empty() {
            let lc = u8::try_from(data.len()).expect("length checked against 255 above");
            bytes.push(lc);
            bytes.extend_from_slice(data);
        }
        bytes.push(0x00);
        Ok(CommandApdu(bytes))
    }

    /// `90 AF 00 00 00`: asks the card for the next frame of a chained response.
    pub fn additional_frame() -> Self {
        CommandApdu(vec![CLA_NATIVE, CMD_ADDITIONAL_FRAME, 0x00, 0x00, 0x00])
    }

    /// The native command code (INS byte).
    pub fn command(&self) -> u8 {
        self.0.get(1).copied().unwrap_or_default()
    }

    /// The data field (empty for a command without data).
    pub fn data(&self) -> &[u8] {
        // Layout is `CLA INS P1 P2 [Lc data] Le`; a command without data is 5 bytes.
        self.0
            .len()
            .checked_sub(1)
            .and_then(|end| self.0.get(5..end))
            .unwrap_or_default()
    }

    /// The APDU bytes, as sent on the wire.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The APDU bytes, as sent on the wire.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}

impl AsRef<[u8]> for CommandApdu {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for CommandApdu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CommandApdu({})", Hex(&self.0))
    }
}

/// A response split into its data and status word. Borrowed from the raw bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseApdu<'a> {
    /// Response data (may be empty).
    pub data: &'a [u8],
    /// First status byte (`0x91` for DESFire).
    pub sw1: u8,
    /// Second status byte: the DESFire status code.
    pub sw2: u8,
}

impl<'a> ResponseApdu<'a> {
    /// Splits a raw response into data and status word. Needs at least the 2 status bytes
    /// and a `91` first status byte.
    pub fn parse(raw: &'a [u8]) -> Result<Self> {
        let Some((data, [sw1, sw2])) = raw.split_last_chunk::<2>() else {
            return Err(DesfireError::ResponseTooShort {
                expected: 2,
                got: raw.len(),
            });
        };
        if *sw1 != SW1_DESFIRE {
            return Err(DesfireError::UnexpectedStatus {
                sw1: *sw1,
                sw2: *sw2,
            });
        }
        Ok(ResponseApdu {
            data,
            sw1: *sw1,
            sw2: *sw2,
        })
    }

    /// The DESFire status code.
    pub fn status(&self) -> u8 {
        self.sw2
    }

    /// The data of a successful (`91 00`) response; any other status is an error.
    pub fn into_ok_data(self) -> Result<&'a [u8]> {
        match self.sw2 {
            status::OPERATION_OK => Ok(self.data),
            status::ADDITIONAL_FRAME => Err(DesfireError::UnexpectedAdditionalFrame),
            code => Err(DesfireError::CardStatus { code }),
        }
    }

    /// The data of a `91 AF` response; any other status is an error.
    pub fn into_additional_frame_data(self) -> Result<&'a [u8]> {
        match self.sw2 {
            status::ADDITIONAL_FRAME => Ok(self.data),
            code => Err(DesfireError::CardStatus { code }),
        }
    }
}

/// Checks that `raw` is exactly `91 00` with no data (plain commands without an answer).
pub fn expect_plain_ok(raw: &[u8]) -> Result<()> {
    let data = ResponseApdu::parse(raw)?.into_ok_data()?;
    if data.is_empty() {
        Ok(())
    } else {
        Err(DesfireError::UnexpectedResponseLength {
            expected: 0,
            got: data.len(),
        })
    }
}

/// Reassembles a response the card sends in several frames.
///
/// Feed each frame to [`ResponseChain::push`]; while it returns a command, send that
/// command (`90 AF 00 00 00`) and push the answer. When it returns `None`, call
/// [`ResponseChain::into_response`] to get one response (`all data || 91 status`) to hand
/// to the session or a parser, exactly as if the card had sent a single frame.
#[derive(Debug, Default, Clone)]
pub struct ResponseChain {
    data: Vec<u8>,
    final_status: Option<u8>,
}

impl ResponseChain {
    /// An empty chain, before the first frame.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one frame. Returns the command that fetches the next frame, or `None` once
    /// the card sent its final status.
    pub fn push(&mut self, frame: &[u8]) -> Result<Option<CommandApdu>> {
        if self.final_status.is_some() {
            return Err(DesfireError::NoExchangeInFlight);
        }
        let response = ResponseApdu::parse(frame)?;
        if self.data.len().saturating_add(response.data.len()) > MAX_CHAINED_RESPONSE {
            return Err(DesfireError::ResponseTooLong {
                max: MAX_CHAINED_RESPONSE,
            });
        }
        self.data.extend_from_slice(response.data);
        if response.sw2 == status::ADDITIONAL_FRAME {
            Ok(Some(CommandApdu::additional_frame()))
        } else {
            self.final_status = Some(response.sw2);
            Ok(None)
        }
    }

    /// Whether the final frame has been pushed.
    pub fn is_complete(&self) -> bool {
        self.final_status.is_some()
    }

    /// The reassembled response `data || 91 status`.
    pub fn into_response(self) -> Result<Vec<u8>> {
        let code = self
            .final_status
            .ok_or(DesfireError::UnexpectedAdditionalFrame)?;
        let mut out = self.data;
        out.extend_from_slice(&[SW1_DESFIRE, code]);
        Ok(out)
    }
}

/// Uppercase hex without separators, for `Debug` output of public bytes.
pub(crate) struct Hex<'a>(pub(crate) &'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02X}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hex_literal::hex;

    #[test]
    fn native_framing_matches_the_an12196_transcript() {
        let apdu = CommandApdu::native(0x71, &[0x03, 0x00]).unwrap();
        assert_eq!(apdu.as_bytes(), hex!("9071000002030000"));
        assert_eq!(apdu.command(), 0x71);
        assert_eq!(apdu.data(), [0x03, 0x00]);
        let empty = CommandApdu::native(0x60, &[]).unwrap();
        assert_eq!(empty.as_bytes(), hex!("9060000000"));
        assert_eq!(empty.data(), b"");
    }

    #[test]
    fn commands_longer_than_a_short_apdu_are_refused() {
        assert!(CommandApdu::native(0x3D, &[0; 255]).is_ok());
        assert_eq!(
            CommandApdu::native(0x3D, &[0; 256]),
            Err(DesfireError::CommandTooLong { len: 256 })
        );
    }

    #[test]
    fn responses_split_into_data_and_status() {
        let r = ResponseApdu::parse(&hex!("C26D236E4A7C046D9100")).unwrap();
        assert_eq!(r.data, hex!("C26D236E4A7C046D"));
        assert_eq!(r.status(), 0x00);
        assert_eq!(
            ResponseApdu::parse(&[0x91]),
            Err(DesfireError::ResponseTooShort {
                expected: 2,
                got: 1
            })
        );
        assert_eq!(
            ResponseApdu::parse(&hex!("6A82")),
            Err(DesfireError::UnexpectedStatus {
                sw1: 0x6A,
                sw2: 0x82
            })
        );
        assert_eq!(
            ResponseApdu::parse(&hex!("91AE")).unwrap().into_ok_data(),
            Err(DesfireError::CardStatus { code: 0xAE })
        );
    }

    #[test]
    fn chain_reassembles_frames_in_order() {
        let mut chain = ResponseChain::new();
        assert_eq!(
            chain.push(&hex!("0401011200 1A05 91AF")).unwrap(),
            Some(CommandApdu::additional_frame())
        );
        assert!(!chain.is_complete());
        assert_eq!(chain.push(&hex!("AABB 9100")).unwrap(), None);
        assert!(chain.is_complete());
        assert!(chain.push(&hex!("9100")).is_err());
        assert_eq!(
            chain.into_response().unwrap(),
            hex!("04010112001A05AABB9100")
        );
    }

    #[test]
    fn chain_refuses_unbounded_growth() {
        let mut chain = ResponseChain::new();
        let mut frame = vec![0u8; 250];
        frame.extend_from_slice(&[0x91, 0xAF]);
        let mut result = Ok(None);
        for _ in 0..40 {
            result = chain.push(&frame);
            if result.is_err() {
                break;
            }
        }
        assert_eq!(
            result,
            Err(DesfireError::ResponseTooLong {
                max: MAX_CHAINED_RESPONSE
            })
        );
    }
}
