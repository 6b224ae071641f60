//! Levels of assurance (`acr` values) and their order.
//!
//! A session is opened at some assurance (`eidas2` for badge + PIN, say)
//! and an application may ask for at least another (`acr_values`, a
//! step-up at `/login?acr=`). Whether one satisfies the other is decided
//! here once, by the configured order (`authn.acr_order`, weakest first),
//! so that the login pages and the OpenID provider always agree.

use crate::LoginMethod;
use serde::{Deserialize, Serialize};

/// The configured assurance levels, weakest first (default `eidas1`,
/// `eidas2`, `eidas3`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AcrOrder(Vec<String>);

impl AcrOrder {
    /// The order `levels` give, weakest first.
    pub fn new(levels: Vec<String>) -> Self {
        Self(levels)
    }

    /// The levels, weakest first.
    pub fn levels(&self) -> &[String] {
        &self.0
    }

    /// Whether `acr` is one of the configured levels.
    pub fn knows(&self, acr: &str) -> bool {
        self.rank(acr).is_some()
    }

    /// The position of `acr` in the order (0 is the weakest), if known.
    pub fn rank(&self, acr: &str) -> Option<usize> {
        self.0.iter().position(|a| a == acr)
    }

    /// Whether a session of assurance `have` satisfies a demand for
    /// `want`: both known and `have` at least as strong. A value outside
    /// the order satisfies only the very same value, and nothing else
    /// satisfies it: an unknown level is never guessed to be weak or strong.
    pub fn satisfies(&self, have: &str, want: &str) -> bool {
        match (self.rank(have), self.rank(want)) {
            (Some(h), Some(w)) => h >= w,
            _ => have == want,
        }
    }

    /// The strongest of `wanted` that the order knows (an OpenID request's
    /// `acr_values` may name several), if any.
    pub fn strongest<'a>(&self, wanted: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
        wanted
            .into_iter()
            .filter_map(|a| self.rank(a).map(|r| (r, a)))
            .max_by_key(|(r, _)| *r)
            .map(|(_, a)| a)
    }
}

impl Default for AcrOrder {
    fn default() -> Self {
        Self(vec!["eidas1".into(), "eidas2".into(), "eidas3".into()])
    }
}

/// `[psc.amr]`: the `amr` values sent to PSC, by way of signing in. An
/// empty list: such sessions are never asserted to PSC. A session opened
/// through PSC itself is never asserted back to it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AmrTable {
    /// A FIDO2 key with user verification. Default `["hwk", "pin", "mfa"]`.
    #[serde(default = "default_fido2_amr")]
    pub fido2: Vec<String>,
    /// A DESFire badge and its PIN. Default `["sc", "pin", "mfa"]`.
    #[serde(default = "default_badge_amr")]
    pub badge: Vec<String>,
}

impl AmrTable {
    /// What is sent for a session opened by `method`, if it may be
    /// asserted at all.
    pub fn for_method(&self, method: LoginMethod) -> Option<&[String]> {
        let v = match method {
            LoginMethod::Fido2 => &self.fido2,
            LoginMethod::Badge => &self.badge,
            LoginMethod::Psc => return None,
        };
        (!v.is_empty()).then_some(v.as_slice())
    }
}

impl Default for AmrTable {
    fn default() -> Self {
        Self {
            fido2: default_fido2_amr(),
            badge: default_badge_amr(),
        }
    }
}

fn default_fido2_amr() -> Vec<String> {
    vec!["hwk".into(), "pin".into(), "mfa".into()]
}
fn default_badge_amr() -> Vec<String> {
    vec!["sc".into(), "pin".into(), "mfa".into()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stronger_or_equal_level_satisfies() {
        let o = AcrOrder::default();
        assert!(o.satisfies("eidas2", "eidas1"));
        assert!(o.satisfies("eidas2", "eidas2"));
        assert!(!o.satisfies("eidas1", "eidas2"));
    }

    #[test]
    fn unknown_levels_satisfy_only_themselves() {
        let o = AcrOrder::default();
        assert!(!o.satisfies("eidas3", "custom"));
        assert!(!o.satisfies("custom", "eidas1"));
        assert!(o.satisfies("custom", "custom"));
    }

    #[test]
    fn strongest_known_level_is_chosen() {
        let o = AcrOrder::default();
        assert_eq!(o.strongest(["eidas1", "x", "eidas2"]), Some("eidas2"));
        assert_eq!(o.strongest(["x"]), None);
    }
}
