//! The master key: the one secret from which every other key at rest is
//! protected or derived. It seals the OpenID provider's private signing
//! keys (AES-256-GCM) and derives the badge keys and the PIN pepper
//! (HMAC-SHA256 with a label per purpose), so it lives here, below every
//! crate that uses it, and not in any one of them. It never enters the
//! database; reading it from its file or systemd credential is the
//! binary's start-up (`src/master_key.rs`).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use std::fmt;

/// What sealing or opening with the master key may fail on.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MasterKeyError {
    /// The system's random generator failed.
    #[error("no system randomness")]
    NoRandomness,
    /// Sealing failed.
    #[error("sealing failed")]
    Seal,
    /// The sealed value is not one this key sealed (another key, or
    /// damaged).
    #[error("a stored key cannot be decrypted: is this the master key it was sealed with?")]
    Open,
}

/// The 256-bit master key. `Debug` never shows it.
pub struct MasterKey(LessSafeKey, ring::hmac::Key);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

impl MasterKey {
    /// A master key from its 32 bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        let key = UnboundKey::new(&AES_256_GCM, bytes).expect("32 bytes is an AES-256 key");
        MasterKey(
            LessSafeKey::new(key),
            ring::hmac::Key::new(ring::hmac::HMAC_SHA256, bytes),
        )
    }

    /// 32 fresh random bytes for a new master key.
    pub fn generate_bytes() -> Result<[u8; 32], MasterKeyError> {
        let mut bytes = [0u8; 32];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| MasterKeyError::NoRandomness)?;
        Ok(bytes)
    }

    /// A 32-byte key for one purpose (`label`), derived from the master
    /// key (HMAC-SHA256 of a fixed prefix and the label): badge keys, the
    /// PIN pepper. The master key itself is only used here and for
    /// sealing.
    pub fn derive(&self, label: &str) -> [u8; 32] {
        let tag = ring::hmac::sign(&self.1, format!("clavis-derive:{label}").as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }

    /// Seals `plain` (AES-256-GCM, a random nonce, `aad` bound to it):
    /// base64 of nonce, ciphertext and tag.
    pub fn seal(&self, aad: &'static [u8], plain: &[u8]) -> Result<String, MasterKeyError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| MasterKeyError::NoRandomness)?;
        let mut buf = plain.to_vec();
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut buf,
            )
            .map_err(|_| MasterKeyError::Seal)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        Ok(STANDARD.encode(out))
    }

    /// Opens what [`MasterKey::seal`] sealed with the same `aad`.
    pub fn open(&self, aad: &'static [u8], sealed: &str) -> Result<Vec<u8>, MasterKeyError> {
        let raw = STANDARD.decode(sealed).map_err(|_| MasterKeyError::Open)?;
        if raw.len() < NONCE_LEN + 16 {
            return Err(MasterKeyError::Open);
        }
        let (nonce, body) = raw.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| MasterKeyError::Open)?;
        let mut buf = body.to_vec();
        let plain = self
            .0
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut buf,
            )
            .map_err(|_| MasterKeyError::Open)?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_key_that_sealed_opens_and_debug_hides_it() {
        let a = MasterKey::from_bytes(&[7u8; 32]);
        let b = MasterKey::from_bytes(&[8u8; 32]);
        let sealed = a.seal(b"test", b"pkcs8 bytes").expect("seal");
        assert_eq!(a.open(b"test", &sealed).expect("open"), b"pkcs8 bytes");
        assert_eq!(b.open(b"test", &sealed), Err(MasterKeyError::Open));
        assert_eq!(a.open(b"other", &sealed), Err(MasterKeyError::Open));
        assert_eq!(a.open(b"test", "not base64!"), Err(MasterKeyError::Open));
        assert_eq!(format!("{a:?}"), "MasterKey([redacted])");
    }

    #[test]
    fn derived_keys_differ_by_purpose_and_by_master_key() {
        let a = MasterKey::from_bytes(&[7u8; 32]);
        let b = MasterKey::from_bytes(&[8u8; 32]);
        assert_ne!(a.derive("badge-login"), a.derive("pin-pepper"));
        assert_ne!(a.derive("badge-login"), b.derive("badge-login"));
        assert_eq!(a.derive("badge-login"), a.derive("badge-login"));
    }
}
