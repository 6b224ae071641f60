//! DESFire status codes (the second byte of a `91 xx` status word).
//!
//! The host only acts on [`OPERATION_OK`] and [`ADDITIONAL_FRAME`]; every other code
//! becomes [`crate::DesfireError::CardStatus`]. The card emulator answers with the same
//! codes a real card uses.

/// Successful operation.
pub const OPERATION_OK: u8 = 0x00;
/// No changes done to backup files.
pub const NO_CHANGES: u8 = 0x0C;
/// Insufficient NV memory to complete the command.
pub const OUT_OF_EEPROM: u8 = 0x0E;
/// Command code not supported.
pub const ILLEGAL_COMMAND: u8 = 0x1C;
/// CRC, MAC or padding does not match (secure messaging integrity error).
pub const INTEGRITY_ERROR: u8 = 0x1E;
/// Invalid key number specified.
pub const NO_SUCH_KEY: u8 = 0x40;
/// Length of command string invalid.
pub const LENGTH_ERROR: u8 = 0x7E;
/// Current configuration or status does not allow the command.
pub const PERMISSION_DENIED: u8 = 0x9D;
/// Value of a parameter invalid.
pub const PARAMETER_ERROR: u8 = 0x9E;
/// Requested application not present.
pub const APPLICATION_NOT_FOUND: u8 = 0xA0;
/// Current authentication status does not allow the command, or authentication failed.
pub const AUTHENTICATION_ERROR: u8 = 0xAE;
/// Additional data frame is expected to be sent (or will follow).
pub const ADDITIONAL_FRAME: u8 = 0xAF;
/// Attempt to read or write beyond the file's limits.
pub const BOUNDARY_ERROR: u8 = 0xBE;
/// Previous command was not fully completed.
pub const COMMAND_ABORTED: u8 = 0xCA;
/// File or application already exists.
pub const DUPLICATE_ERROR: u8 = 0xDE;
/// Failure when reading or writing non-volatile memory.
pub const MEMORY_ERROR: u8 = 0xEE;
/// Specified file number does not exist.
pub const FILE_NOT_FOUND: u8 = 0xF0;

/// A short English description of a status code, for logs and error messages.
pub fn describe(code: u8) -> &'static str {
    match code {
        OPERATION_OK => "operation ok",
        NO_CHANGES => "no changes",
        OUT_OF_EEPROM => "out of EEPROM",
        ILLEGAL_COMMAND => "illegal command",
        INTEGRITY_ERROR => "integrity error",
        NO_SUCH_KEY => "no such key",
        LENGTH_ERROR => "length error",
        PERMISSION_DENIED => "permission denied",
        PARAMETER_ERROR => "parameter error",
        APPLICATION_NOT_FOUND => "application not found",
        AUTHENTICATION_ERROR => "authentication error",
        ADDITIONAL_FRAME => "additional frame",
        BOUNDARY_ERROR => "boundary error",
        COMMAND_ABORTED => "command aborted",
        DUPLICATE_ERROR => "duplicate",
        MEMORY_ERROR => "memory error",
        FILE_NOT_FOUND => "file not found",
        _ => "unknown status",
    }
}
