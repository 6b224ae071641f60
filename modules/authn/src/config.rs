//! `[authn]` configuration.

use serde::{Deserialize, Serialize};

/// Which keys may be enrolled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AttestationPolicy {
    /// Any authenticator that verifies its user (PIN or biometrics).
    Any,
    /// Only models on `[[authn.allowed_models]]`, proven by attestation.
    AllowList,
}

/// One allowed key model.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AllowedModel {
    /// The model's AAGUID.
    pub aaguid: String,
    /// PEM file of the vendor's attestation root.
    pub ca_file: std::path::PathBuf,
    /// A name for operators.
    #[serde(default)]
    pub description: String,
}

/// `[authn]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuthnConfig {
    /// Name shown by the browser when enrolling. Default "Clavis".
    #[serde(default = "default_rp_name")]
    pub rp_name: String,
    /// `any` (default) or `allow_list`.
    #[serde(default = "default_policy")]
    pub attestation: AttestationPolicy,
    /// The allow-list (with `attestation = "allow_list"`).
    #[serde(default)]
    pub allowed_models: Vec<AllowedModel>,
    /// acr of a FIDO2 login with user verification. Default "eidas2".
    #[serde(default = "default_acr")]
    pub fido2_acr: String,
    /// amr of a FIDO2 login. Default ["hwk", "pin", "mfa"].
    #[serde(default = "default_amr")]
    pub fido2_amr: Vec<String>,
    /// acr values from weakest to strongest, to decide when a session must
    /// step up. Default ["eidas1", "eidas2", "eidas3"].
    #[serde(default = "default_acr_order")]
    pub acr_order: clavis_core::AcrOrder,
    /// Enrolment link validity, hours. Default 24.
    #[serde(default = "default_link_hours")]
    pub enrolment_link_hours: i64,
    /// A login at most this old allows adding or removing keys. Default 300.
    #[serde(default = "default_fresh")]
    pub fresh_login_secs: i64,
    /// Failures allowed before waiting is imposed. Default 3.
    #[serde(default = "default_free")]
    pub free_failures: u32,
    /// Longest wait imposed, seconds. Default 300.
    #[serde(default = "default_max_delay")]
    pub max_delay_secs: i64,
}

fn default_rp_name() -> String {
    "Clavis".into()
}
fn default_policy() -> AttestationPolicy {
    AttestationPolicy::Any
}
fn default_acr() -> String {
    "eidas2".into()
}
fn default_amr() -> Vec<String> {
    vec!["hwk".into(), "pin".into(), "mfa".into()]
}
fn default_acr_order() -> clavis_core::AcrOrder {
    clavis_core::AcrOrder::default()
}
fn default_link_hours() -> i64 {
    24
}
fn default_fresh() -> i64 {
    300
}
fn default_free() -> u32 {
    3
}
fn default_max_delay() -> i64 {
    300
}

impl Default for AuthnConfig {
    fn default() -> Self {
        Self {
            rp_name: default_rp_name(),
            attestation: default_policy(),
            allowed_models: Vec::new(),
            fido2_acr: default_acr(),
            fido2_amr: default_amr(),
            acr_order: default_acr_order(),
            enrolment_link_hours: default_link_hours(),
            fresh_login_secs: default_fresh(),
            free_failures: default_free(),
            max_delay_secs: default_max_delay(),
        }
    }
}

/// `[badge]`: DESFire badge login.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BadgeConfig {
    /// Whether the login page offers the badge. Default true.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Our DESFire application id, 6 hexadecimal digits. Default "F4C1A5".
    #[serde(default = "default_aid")]
    pub aid: String,
    /// System identifier mixed into every card key (AN10922); one per
    /// establishment — its FINESS number is a good choice. Changing it
    /// makes every badge unreadable. Default "clavis".
    #[serde(default = "default_system_id")]
    pub system_id: String,
    /// Version of the badge keys written at enrolment (1–255). The keys
    /// are derived from the master key and this version. Default 1.
    #[serde(default = "default_key_version")]
    pub key_version: u8,
    /// Oldest key version still accepted; badges at older versions (or
    /// at any version from `min_key_version` up) are re-keyed to
    /// `key_version` on their next tap. Default 1.
    #[serde(default = "default_key_version")]
    pub min_key_version: u8,
    /// File holding the blank cards' AES PICC master key (32 hexadecimal
    /// digits), as the card supplier delivers them. Unset: the all-zero
    /// AES key of factory cards.
    #[serde(default)]
    pub transport_key_file: Option<std::path::PathBuf>,
    /// acr of a badge + PIN login. Default "eidas2".
    #[serde(default = "default_acr")]
    pub acr: String,
    /// amr of a badge + PIN login. Default ["hwk", "pin", "mfa"].
    #[serde(default = "default_amr")]
    pub amr: Vec<String>,
    /// Wrong PINs in a row before badge login locks. Default 5.
    #[serde(default = "default_pin_failures")]
    pub max_pin_failures: i32,
    /// How long the lock lasts unless an operator lifts it. Default 900.
    #[serde(default = "default_lockout")]
    pub lockout_secs: i64,
    /// Shortest PIN. Default 4.
    #[serde(default = "default_pin_min")]
    pub pin_min: usize,
    /// Longest PIN. Default 8.
    #[serde(default = "default_pin_max")]
    pub pin_max: usize,
    /// How long a badge transaction (tap, then PIN) may take. Default 120.
    #[serde(default = "default_tx_secs")]
    pub transaction_secs: i64,
    /// Where the login page finds the workstation agent. Default
    /// "http://127.0.0.1:4655".
    #[serde(default = "default_agent_url")]
    pub agent_url: String,
}

fn default_true() -> bool {
    true
}
fn default_aid() -> String {
    "F4C1A5".into()
}
fn default_system_id() -> String {
    "clavis".into()
}
fn default_key_version() -> u8 {
    1
}
fn default_pin_failures() -> i32 {
    5
}
fn default_lockout() -> i64 {
    900
}
fn default_pin_min() -> usize {
    4
}
fn default_pin_max() -> usize {
    8
}
fn default_tx_secs() -> i64 {
    120
}
fn default_agent_url() -> String {
    "http://127.0.0.1:4655".into()
}

impl Default for BadgeConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            aid: default_aid(),
            system_id: default_system_id(),
            key_version: default_key_version(),
            min_key_version: default_key_version(),
            transport_key_file: None,
            acr: default_acr(),
            amr: default_amr(),
            max_pin_failures: default_pin_failures(),
            lockout_secs: default_lockout(),
            pin_min: default_pin_min(),
            pin_max: default_pin_max(),
            transaction_secs: default_tx_secs(),
            agent_url: default_agent_url(),
        }
    }
}

impl BadgeConfig {
    /// Problems with the values, each naming its key.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut p = Vec::new();
        if self.aid.len() != 6 || u32::from_str_radix(&self.aid, 16).is_err() {
            p.push((
                "badge.aid".into(),
                format!("expected 6 hexadecimal digits, got {:?}", self.aid),
            ));
        } else if self.aid == "000000" {
            p.push((
                "badge.aid".into(),
                "000000 is the card's own (PICC) level".into(),
            ));
        }
        if self.system_id.is_empty() || self.system_id.len() > 16 {
            p.push(("badge.system_id".into(), "1 to 16 characters".into()));
        }
        if self.key_version == 0 {
            p.push(("badge.key_version".into(), "1 to 255".into()));
        }
        if self.min_key_version == 0 || self.min_key_version > self.key_version {
            p.push(("badge.min_key_version".into(), "1 to key_version".into()));
        }
        if self.max_pin_failures < 1 {
            p.push(("badge.max_pin_failures".into(), "at least 1".into()));
        }
        if self.lockout_secs < 1 {
            p.push(("badge.lockout_secs".into(), "at least 1".into()));
        }
        if self.pin_min < 4 || self.pin_max > 12 || self.pin_min > self.pin_max {
            p.push(("badge.pin_min".into(), "4 ≤ pin_min ≤ pin_max ≤ 12".into()));
        }
        if !(10..=900).contains(&self.transaction_secs) {
            p.push(("badge.transaction_secs".into(), "10 to 900".into()));
        }
        if self.amr.is_empty() {
            p.push(("badge.amr".into(), "at least one value".into()));
        }
        match url::Url::parse(&self.agent_url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            _ => p.push((
                "badge.agent_url".into(),
                format!("expected an http(s) URL, got {:?}", self.agent_url),
            )),
        }
        p
    }
}
