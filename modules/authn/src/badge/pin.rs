//! Badge PINs: the policy a new PIN must meet, and how PINs are stored and
//! checked.
//!
//! A PIN is 4 to 8 digits (configurable) and not a trivial one: not one
//! digit repeated (`0000`), not a run up or down (`1234`, `9876`, `8901`),
//! not a pair repeated (`1212`). It is stored as argon2id with a random
//! salt **and a secret pepper** derived from the appliance's master key:
//! a PIN space of 10⁴–10⁸ is small enough that a stolen database alone
//! could be brute-forced whatever the hash cost; with the pepper it cannot
//! be, without the master key too. The online guard is the lockout (5
//! failures by default), not the hash cost, so the cost is chosen to stay
//! well under the time a nurse notices: see [`PinHasher::standard`] and
//! docs/badge.md for the measured figure.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use std::fmt;

// The PIN's store side, for its callers' paths (it moves here next).
pub use crate::badge::records::{BadgePolicy, PinRefusal, check_pin, set_pin, unlock};

/// Why a new PIN is refused (the message is shown to the holder, in French
/// by the page).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PinPolicyError {
    /// Not only digits.
    #[error("the PIN must contain digits only")]
    NotDigits,
    /// Too short or too long.
    #[error("the PIN must have {min} to {max} digits")]
    Length { min: usize, max: usize },
    /// `0000`, `1234`, `9876`, `1212`…
    #[error("the PIN is too easy to guess")]
    Trivial,
}

/// Checks a new PIN against the policy.
pub fn check_policy(pin: &str, min: usize, max: usize) -> Result<(), PinPolicyError> {
    if !pin.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PinPolicyError::NotDigits);
    }
    if pin.len() < min || pin.len() > max {
        return Err(PinPolicyError::Length { min, max });
    }
    let d: Vec<i8> = pin.bytes().map(|b| (b - b'0') as i8).collect();
    let same = d.iter().all(|x| *x == d[0]);
    let run = |step: i8| {
        d.windows(2)
            .all(|w| (w[1] - w[0]).rem_euclid(10) == step.rem_euclid(10))
    };
    let pairs = d.len().is_multiple_of(2) && d.len() >= 4 && d.chunks(2).all(|c| c == &d[..2]);
    if same || run(1) || run(-1) || pairs {
        return Err(PinPolicyError::Trivial);
    }
    Ok(())
}

/// Hashes and checks PINs (argon2id, salt, pepper).
pub struct PinHasher {
    pepper: Vec<u8>,
    params: Params,
}

impl fmt::Debug for PinHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PinHasher")
            .field("m_cost_kib", &self.params.m_cost())
            .field("t_cost", &self.params.t_cost())
            .field("pepper", &"[redacted]")
            .finish()
    }
}

/// Errors of PIN storage.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PinHashError {
    /// The parameters or the stored hash are unusable.
    #[error("PIN hashing failed: {0}")]
    Hash(String),
}

impl PinHasher {
    /// The parameters Clavis uses: argon2id, 19 MiB, 2 passes, 1 lane
    /// (OWASP's first recommended set), with `pepper`.
    pub fn standard(pepper: &[u8]) -> Result<Self, PinHashError> {
        Self::with_params(pepper, 19 * 1024, 2, 1)
    }

    /// Other parameters (tests, benchmarks).
    pub fn with_params(
        pepper: &[u8],
        m_cost_kib: u32,
        t_cost: u32,
        lanes: u32,
    ) -> Result<Self, PinHashError> {
        let params = Params::new(m_cost_kib, t_cost, lanes, None)
            .map_err(|e| PinHashError::Hash(e.to_string()))?;
        Ok(PinHasher {
            pepper: pepper.to_vec(),
            params,
        })
    }

    fn argon(&self) -> Result<Argon2<'_>, PinHashError> {
        Argon2::new_with_secret(
            &self.pepper,
            Algorithm::Argon2id,
            Version::V0x13,
            self.params.clone(),
        )
        .map_err(|e| PinHashError::Hash(e.to_string()))
    }

    /// The stored form of a PIN (PHC string; never log it).
    pub fn hash(&self, pin: &str) -> Result<String, PinHashError> {
        let salt = SaltString::generate(&mut OsRng);
        Ok(self
            .argon()?
            .hash_password(pin.as_bytes(), &salt)
            .map_err(|e| PinHashError::Hash(e.to_string()))?
            .to_string())
    }

    /// Whether `pin` matches `stored` (constant-time comparison inside).
    pub fn verify(&self, stored: &str, pin: &str) -> Result<bool, PinHashError> {
        let parsed = PasswordHash::new(stored).map_err(|e| PinHashError::Hash(e.to_string()))?;
        Ok(self
            .argon()?
            .verify_password(pin.as_bytes(), &parsed)
            .is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trivial_pins_are_refused_and_ordinary_ones_accepted() {
        for bad in [
            "0000", "1234", "4321", "8901", "0987", "1212", "123456", "99999999",
        ] {
            assert_eq!(
                check_policy(bad, 4, 8),
                Err(PinPolicyError::Trivial),
                "{bad}"
            );
        }
        assert_eq!(check_policy("12a4", 4, 8), Err(PinPolicyError::NotDigits));
        assert_eq!(
            check_policy("", 4, 8),
            Err(PinPolicyError::Length { min: 4, max: 8 })
        );
        assert_eq!(
            check_policy("482", 4, 8),
            Err(PinPolicyError::Length { min: 4, max: 8 })
        );
        assert_eq!(
            check_policy("482915372", 4, 8),
            Err(PinPolicyError::Length { min: 4, max: 8 })
        );
        for good in ["4829", "1357", "20481", "73920165"] {
            assert_eq!(check_policy(good, 4, 8), Ok(()), "{good}");
        }
    }

    #[test]
    fn a_pin_verifies_only_with_its_hash_and_pepper() {
        let h = PinHasher::with_params(b"pepper-a", 256, 1, 1).expect("params");
        let stored = h.hash("4829").expect("hash");
        assert!(stored.starts_with("$argon2id$"));
        assert!(!stored.contains("4829"));
        assert!(h.verify(&stored, "4829").expect("verify"));
        assert!(!h.verify(&stored, "4828").expect("verify"));
        let other = PinHasher::with_params(b"pepper-b", 256, 1, 1).expect("params");
        assert!(
            !other.verify(&stored, "4829").expect("verify"),
            "the pepper is needed"
        );
        assert!(h.verify("garbage", "4829").is_err());
        assert!(!format!("{h:?}").contains("pepper-a"));
    }
}
