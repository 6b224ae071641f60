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
    pub acr_order: Vec<String>,
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
fn default_acr_order() -> Vec<String> {
    vec!["eidas1".into(), "eidas2".into(), "eidas3".into()]
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
