//! The one error type of this crate.
//!
//! Every way a card (or an agent relaying for it) can answer wrongly ends in a
//! [`DesfireError`], never in a panic: responses are untrusted input. Variants say what
//! went wrong in the protocol's words so the authentication service can log the cause
//! once and show the user a uniform failure.

use crate::status;

/// Everything that can go wrong while speaking DESFire.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DesfireError {
    /// The card answered with a DESFire status other than `91 00` (or `91 AF` where an
    /// additional frame was expected). `code` is the second status byte, see [`status`].
    #[error("card returned status 0x{code:02X} ({})", status::describe(*code))]
    CardStatus {
        /// The DESFire status code (SW2 of `91 xx`).
        code: u8,
    },
    /// The response did not end in a `91 xx` DESFire status word.
    #[error("response carries status word {sw1:02X}{sw2:02X}, not a DESFire status")]
    UnexpectedStatus {
        /// First status byte.
        sw1: u8,
        /// Second status byte.
        sw2: u8,
    },
    /// The card asked for an additional frame where none is allowed, or a chained
    /// response was handed over before all its frames were collected.
    #[error("card asked for an additional frame where the exchange must be complete")]
    UnexpectedAdditionalFrame,
    /// The response is shorter than the protocol step requires.
    #[error("response too short: expected at least {expected} bytes, got {got}")]
    ResponseTooShort {
        /// Minimum length in bytes.
        expected: usize,
        /// Received length in bytes.
        got: usize,
    },
    /// The response has a length the protocol step does not allow.
    #[error("response has the wrong length: expected {expected} bytes, got {got}")]
    UnexpectedResponseLength {
        /// Required length in bytes.
        expected: usize,
        /// Received length in bytes.
        got: usize,
    },
    /// A chained response grew beyond what any supported command returns.
    #[error("chained response too long: more than {max} bytes")]
    ResponseTooLong {
        /// Maximum accepted length in bytes.
        max: usize,
    },
    /// Enciphered response data is not a whole number of 16-byte AES blocks.
    #[error("enciphered data of {len} bytes is not a multiple of the AES block size")]
    CiphertextNotBlockAligned {
        /// Length of the enciphered data in bytes.
        len: usize,
    },
    /// The truncated CMAC of a response does not match: the response was altered,
    /// replayed, or comes from a card without the session keys.
    #[error("response MAC does not match")]
    MacMismatch,
    /// The card's answer to AuthenticateEV2 does not contain our RndA rotated: the card
    /// does not hold the key (or the exchange was tampered with).
    #[error("card failed to prove knowledge of the key (RndA' mismatch)")]
    RndAMismatch,
    /// Deciphered data does not end in ISO/IEC 9797-1 method 2 padding.
    #[error("deciphered data has invalid padding")]
    BadPadding,
    /// A command would not fit in one short ISO 7816-4 APDU (at most 255 data bytes).
    #[error("command data of {len} bytes does not fit in one APDU (max 255)")]
    CommandTooLong {
        /// Length of the command data field in bytes.
        len: usize,
    },
    /// A key number outside 0..=13.
    #[error("key number {key_no} is out of range (0..=13)")]
    KeyNumberOutOfRange {
        /// The rejected key number.
        key_no: u8,
    },
    /// A file number outside 0..=31.
    #[error("file number {file_no} is out of range (0..=31)")]
    FileNumberOutOfRange {
        /// The rejected file number.
        file_no: u8,
    },
    /// An application identifier above 0xFFFFFF.
    #[error("application id 0x{aid:X} does not fit in 3 bytes")]
    AidOutOfRange {
        /// The rejected value.
        aid: u32,
    },
    /// A file offset, length or size above the 24-bit range of the protocol.
    #[error("{what} {value} does not fit in 24 bits")]
    ValueOutOfRange {
        /// Which field (`offset`, `length`, `file size`).
        what: &'static str,
        /// The rejected value.
        value: usize,
    },
    /// An application must have between 1 and 14 keys.
    #[error("an application needs 1 to 14 keys, not {count}")]
    KeyCountOutOfRange {
        /// The rejected key count.
        count: u8,
    },
    /// A card UID must be 4, 7 or 10 bytes long.
    #[error("a card UID of {len} bytes is not valid (4, 7 or 10)")]
    InvalidUidLength {
        /// The rejected length.
        len: usize,
    },
    /// AN10922 diversification input must be 1 to 31 bytes.
    #[error("diversification input of {len} bytes is not valid (1..=31)")]
    DiversificationInputLength {
        /// The rejected length.
        len: usize,
    },
    /// Changing a key other than the authenticated one needs that key's current value.
    #[error("changing key {key_no} requires its current value")]
    CurrentKeyRequired {
        /// The key being changed.
        key_no: u8,
    },
    /// The session ended (after an error, a change of the authenticated key, or a
    /// re-authentication): authenticate again.
    #[error("the secure messaging session has ended; authenticate again")]
    SessionEnded,
    /// A command was wrapped while the previous one still awaits its response.
    #[error("a command is already awaiting its response")]
    ExchangeInFlight,
    /// A response was handed over while no command awaits one.
    #[error("no command is awaiting a response")]
    NoExchangeInFlight,
    /// A pending exchange was finished against a session or command it does not belong to.
    #[error("the pending exchange does not belong to this session's current command")]
    ExchangeMismatch,
    /// The 16-bit command counter is exhausted: authenticate again.
    #[error("command counter exhausted; authenticate again")]
    CommandCounterExhausted,
}

/// Shorthand for results of this crate.
pub type Result<T, E = DesfireError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_status_names_the_code() {
        let text = DesfireError::CardStatus { code: 0xAE }.to_string();
        assert_eq!(text, "card returned status 0xAE (authentication error)");
    }
}
