//! Values that must never reach a log line or a `Debug` dump, and the
//! few operations every secret goes through: drawn at random, stored as
//! its SHA-256, compared in constant time. One place, so that every token
//! Clavis hands out (session cookies, codes, enrolment links, API tokens,
//! workstation credentials) is made and checked the same way.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::fmt;

/// A secret value (password, token, key). `Debug` and `Display` print
/// `[redacted]`; read it on purpose with [`Secret::expose`].
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wraps a secret value.
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// Reads the secret. Call sites are easy to audit with grep.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

/// A secret arrives in a request body (a PIN, a password) already wrapped,
/// so that the request's own `Debug` cannot show it.
impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for Secret<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        T::deserialize(d).map(Self)
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Compares two byte strings in constant time (for their common length).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// `bytes` random bytes from the operating system's generator, as
/// unpadded base64url (43 characters for 32 bytes).
pub fn random_b64url(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

/// A fresh 256-bit token as unpadded base64url: what Clavis hands out
/// wherever a bearer secret is needed.
pub fn random_token() -> String {
    random_b64url(32)
}

/// The SHA-256 of `s`, as lowercase hex: how secrets are stored (a
/// database leak gives no usable token).
pub fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// Whether `presented` hashes to `stored_hex` (from [`sha256_hex`]),
/// compared in constant time.
pub fn hash_matches(stored_hex: &str, presented: &str) -> bool {
    constant_time_eq(stored_hex.as_bytes(), sha256_hex(presented).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_256_bit_base64url() {
        let (a, b) = (random_token(), random_token());
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_eq!(random_b64url(16).len(), 22);
    }

    #[test]
    fn stored_hashes_match_only_their_token() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let t = random_token();
        let stored = sha256_hex(&t);
        assert!(hash_matches(&stored, &t));
        assert!(!hash_matches(&stored, &random_token()));
        assert!(!hash_matches(&stored[..10], &t));
    }

    #[test]
    fn debug_and_display_never_show_the_secret() {
        let s = Secret::new("hunter2-password".to_string());
        assert_eq!(format!("{s:?}"), "[redacted]");
        assert_eq!(format!("{s}"), "[redacted]");
        assert_eq!(format!("{:?}", Some(s.clone())), "Some([redacted])");
        assert_eq!(s.expose(), "hunter2-password");
    }

    #[test]
    fn constant_time_eq_compares_content_and_length() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
