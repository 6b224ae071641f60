//! French national identifiers of health professionals.
//!
//! - RPPS: 11 digits, the last one a Luhn key over all 11 (ANS).
//! - ADELI: 9 digits (older register, still used by some professions).
//! - National id (idNat_PS): a type prefix then the number: `8` + RPPS,
//!   `0` + ADELI. This is what Pro Santé Connect calls `SubjectNameID`.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a national identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NationalIdError {
    /// Not exactly the expected number of ASCII digits.
    #[error("{kind} must be exactly {expected} digits, got {got:?}")]
    BadFormat {
        kind: &'static str,
        expected: usize,
        got: String,
    },
    /// The RPPS Luhn key does not match.
    #[error("RPPS {0} fails its Luhn check digit")]
    BadLuhnKey(String),
}

/// A validated RPPS number (11 digits, Luhn key checked).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Rpps(String);

impl Rpps {
    /// Parses and validates an RPPS. Surrounding spaces are ignored.
    pub fn parse(input: &str) -> Result<Self, NationalIdError> {
        Self::parse_exact(input.trim())
    }

    /// Parses and validates an RPPS given exactly (no spaces around).
    fn parse_exact(s: &str) -> Result<Self, NationalIdError> {
        if s.len() != 11 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(NationalIdError::BadFormat {
                kind: "RPPS",
                expected: 11,
                got: s.to_string(),
            });
        }
        if !luhn_valid(s) {
            return Err(NationalIdError::BadLuhnKey(s.to_string()));
        }
        Ok(Self(s.to_string()))
    }

    /// The 11 digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The national id `8` + RPPS.
    pub fn national_id(&self) -> NationalId {
        NationalId(format!("8{}", self.0))
    }
}

impl TryFrom<String> for Rpps {
    type Error = NationalIdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Rpps> for String {
    fn from(r: Rpps) -> String {
        r.0
    }
}

impl fmt::Display for Rpps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Rpps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Rpps({})", self.0)
    }
}

/// A validated ADELI number (9 digits; its key is not checked, the ANS does
/// not publish a rule we can rely on).
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Adeli(String);

impl Adeli {
    /// Parses an ADELI number. Surrounding spaces are ignored.
    pub fn parse(input: &str) -> Result<Self, NationalIdError> {
        Self::parse_exact(input.trim())
    }

    /// Parses an ADELI number given exactly.
    fn parse_exact(s: &str) -> Result<Self, NationalIdError> {
        if s.len() != 9 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(NationalIdError::BadFormat {
                kind: "ADELI",
                expected: 9,
                got: s.to_string(),
            });
        }
        Ok(Self(s.to_string()))
    }

    /// The 9 digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The national id `0` + ADELI.
    pub fn national_id(&self) -> NationalId {
        NationalId(format!("0{}", self.0))
    }
}

impl TryFrom<String> for Adeli {
    type Error = NationalIdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Adeli> for String {
    fn from(a: Adeli) -> String {
        a.0
    }
}

impl fmt::Debug for Adeli {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Adeli({})", self.0)
    }
}

/// A national professional id (idNat_PS): type prefix + number.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NationalId(String);

impl NationalId {
    /// Parses a national id as Pro Santé Connect sends it, by its type
    /// prefix (TRE_G08): `8` + a valid RPPS, `0` + an ADELI number, or
    /// `1`, `3`, `4`, `5`, `6` + a register number, `/`, and an internal
    /// id (staff known by their structure). Anything else (a test
    /// identity's `ANS2023…`, spaces, other prefixes) is refused, naming
    /// what was wrong.
    pub fn parse(input: &str) -> Result<Self, NationalIdError> {
        let bad = |expected: usize| NationalIdError::BadFormat {
            kind: "national id",
            expected,
            got: input.chars().take(40).collect(),
        };
        let Some(prefix) = input.chars().next() else {
            return Err(bad(12));
        };
        let rest = &input[prefix.len_utf8()..];
        match prefix {
            '8' => Rpps::parse_exact(rest)
                .map(|r| r.national_id())
                .map_err(|e| match e {
                    NationalIdError::BadFormat { .. } => bad(12),
                    other => other,
                }),
            '0' => Adeli::parse_exact(rest)
                .map(|a| a.national_id())
                .map_err(|_| bad(10)),
            '1' | '3' | '4' | '5' | '6' => {
                let (register, local) = rest.split_once('/').ok_or_else(|| bad(12))?;
                let ok = !register.is_empty()
                    && register.len() <= 14
                    && register.bytes().all(|b| b.is_ascii_alphanumeric())
                    && !local.is_empty()
                    && local.len() <= 64
                    && local.bytes().all(|b| b.is_ascii_graphic());
                if ok {
                    Ok(Self(input.to_string()))
                } else {
                    Err(bad(12))
                }
            }
            _ => Err(bad(12)),
        }
    }

    /// The id as text (e.g. `810001045367`).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The RPPS of an `8`-prefixed id.
    pub fn rpps(&self) -> Option<Rpps> {
        self.0
            .strip_prefix('8')
            .and_then(|r| Rpps::parse_exact(r).ok())
    }
}

impl fmt::Display for NationalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Standard Luhn over all digits of `digits` (ASCII digits only).
fn luhn_valid(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let dd = d * 2;
                if dd > 9 { dd - 9 } else { dd }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // Public extract rows and BAS test identities (psc-tech.md §3.1).
    const VALID: &[&str] = &[
        "10001045367",
        "10100224947",
        "10104335319",
        "10005814339",
        "10100779536",
        "10104257190",
        "10100124576",
        "10005810808",
        "10100356202",
        "99700427885",
        "99700771191",
    ];

    #[test]
    fn published_rpps_numbers_pass_luhn() {
        for r in VALID {
            assert!(Rpps::parse(r).is_ok(), "{r} should be valid");
        }
    }

    #[test]
    fn national_id_is_8_plus_rpps_and_does_not_itself_pass_luhn() {
        let r = Rpps::parse("10001045367").expect("valid");
        assert_eq!(r.national_id().as_str(), "810001045367");
        assert!(!luhn_valid("810001045367"));
        let a = Adeli::parse("012600631").expect("valid");
        assert_eq!(a.national_id().as_str(), "0012600631");
    }

    #[test]
    fn a_changed_digit_fails_luhn_and_bad_shapes_fail_format() {
        assert_eq!(
            Rpps::parse("10001045368"),
            Err(NationalIdError::BadLuhnKey("10001045368".into()))
        );
        assert!(matches!(
            Rpps::parse("1000104536"),
            Err(NationalIdError::BadFormat { .. })
        ));
        assert!(matches!(
            Rpps::parse("1000104536a"),
            Err(NationalIdError::BadFormat { .. })
        ));
        assert!(Adeli::parse("01260063").is_err());
    }

    #[test]
    fn national_ids_from_psc_are_read_by_their_prefix() {
        let n = NationalId::parse("810001045367").expect("RPPS");
        assert_eq!(
            n.rpps().map(|r| r.to_string()).as_deref(),
            Some("10001045367")
        );
        assert_eq!(NationalId::parse("0012600631").expect("ADELI").rpps(), None);
        assert!(NationalId::parse("3123456789/0042").is_ok());
        for bad in [
            "",
            "810001045368",  // Luhn key wrong
            "81000104536",   // too short
            " 810001045367", // spaces are not trimmed: PSC sends exact ids
            "810001045367 ",
            "ANS20231122132732", // an EDIT test identity
            "2123",
            "3123456789", // no internal id
            "3/0042",
            "01260063",
            "８10001045367", // a full-width digit
        ] {
            assert!(NationalId::parse(bad).is_err(), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn national_id_parse_never_panics(s in ".{0,30}") {
            let _ = NationalId::parse(&s);
        }

        #[test]
        fn any_single_digit_change_is_detected(idx in 0usize..11, delta in 1u8..10) {
            let base = VALID[0].as_bytes().to_vec();
            let mut changed = base.clone();
            changed[idx] = b'0' + (base[idx] - b'0' + delta) % 10;
            let s = String::from_utf8(changed).expect("ascii");
            prop_assert!(Rpps::parse(&s).is_err());
        }

        #[test]
        fn parse_never_panics(s in ".{0,20}") {
            let _ = Rpps::parse(&s);
            let _ = Adeli::parse(&s);
        }
    }
}
