//! AES-128 key material.
//!
//! [`AesKey`] wraps every key this crate touches (card keys, diversified keys, session
//! keys) so that none is ever printed (`Debug` shows `[redacted]`) and each is wiped from
//! memory when dropped.

use std::fmt;

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// A 16-byte AES-128 key. `Debug` prints `[redacted]`; the bytes are zeroized on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct AesKey([u8; 16]);

impl AesKey {
    /// The all-zero key: the factory default of DESFire application keys and the key of
    /// the NXP worked examples.
    pub const ZERO: AesKey = AesKey([0; 16]);

    /// Wraps raw key bytes.
    pub const fn new(bytes: [u8; 16]) -> Self {
        AesKey(bytes)
    }

    /// Wraps a key given as a slice; `None` unless it is exactly 16 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        <[u8; 16]>::try_from(bytes).ok().map(AesKey)
    }

    /// The raw key bytes. Named so that every use stands out in review: only hand them to
    /// a KMS or a cipher, never to a log.
    pub fn expose_secret(&self) -> &[u8; 16] {
        &self.0
    }
}

impl fmt::Debug for AesKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AesKey([redacted])")
    }
}

/// Constant-time equality, so that comparing keys leaks nothing through timing.
impl PartialEq for AesKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for AesKey {}

impl From<[u8; 16]> for AesKey {
    fn from(bytes: [u8; 16]) -> Self {
        AesKey(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_key_bytes() {
        let key = AesKey::new([0xAB; 16]);
        let printed = format!("{key:?} {:#?}", key);
        assert_eq!(printed, "AesKey([redacted]) AesKey([redacted])");
        assert!(!printed.to_lowercase().contains("ab,"));
    }

    #[test]
    fn from_slice_requires_sixteen_bytes() {
        assert!(AesKey::from_slice(&[0; 15]).is_none());
        assert!(AesKey::from_slice(&[0; 17]).is_none());
        assert_eq!(AesKey::from_slice(&[0; 16]), Some(AesKey::ZERO));
    }
}
