//! `[psc]`: Pro Santé Connect, both ways.

pub use clavis_core::acr::AmrTable;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The production issuer of Pro Santé Connect (psc-tech.md §1.1).
pub const PRODUCTION_ISSUER: &str = "https://auth.esw.esante.gouv.fr/auth/realms/esante-wallet";
/// The test issuer ("bac à sable", BAS).
pub const BAS_ISSUER: &str = "https://auth.bas.psc.esante.gouv.fr/auth/realms/esante-wallet";
/// Where PSC publishes its metadata, under the issuer (not the standard
/// `/.well-known/openid-configuration`, which is tried after it).
pub const WALLET_DISCOVERY: &str = "/.well-known/wallet-openid-configuration";

/// `[psc]` configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PscConfig {
    /// Whether Clavis talks to PSC at all. Default false.
    #[serde(default)]
    pub enabled: bool,
    /// PSC's issuer. Default: production.
    #[serde(default = "default_issuer")]
    pub issuer: String,
    /// Where PSC's metadata is, when not at `<issuer>` +
    /// `/.well-known/wallet-openid-configuration` (then the standard path).
    #[serde(default)]
    pub discovery_url: Option<String>,
    /// Clavis's client id at PSC (given by the ANS with the DataPass).
    #[serde(default)]
    pub client_id: String,
    /// File holding the client secret (`client_secret_basic`). Else the
    /// environment variable `CLAVIS_PSC_CLIENT_SECRET`, or the systemd
    /// credential `clavis-psc-client-secret`.
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    /// PEM private key (PKCS#8, RSA or P-256) to authenticate with
    /// `private_key_jwt` instead of a secret.
    #[serde(default)]
    pub private_key_file: Option<PathBuf>,
    /// TLS client certificate (PEM) presented to PSC's token endpoint
    /// (mTLS, as the ANS proof of concept does), with its key.
    #[serde(default)]
    pub tls_client_cert_file: Option<PathBuf>,
    /// The key of `tls_client_cert_file` (PEM).
    #[serde(default)]
    pub tls_client_key_file: Option<PathBuf>,
    /// Further CA certificates (PEM) to trust for PSC besides the
    /// system's (a TLS-inspecting proxy of the hospital, a test PSC).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The establishment's fixed tenant id, sent to PSC as `tid`. Never
    /// change it once PSC knows it: every pairing hangs on it.
    #[serde(default)]
    pub tid: String,
    /// How long a verified link holds before the person goes through
    /// e-CPS again. Default 730 (RIE EXI 27: at least every two years).
    #[serde(default = "default_link_validity_days")]
    pub link_validity_days: i64,
    /// Scopes asked of PSC. Default `openid scope_all`.
    #[serde(default = "default_scope")]
    pub scope: String,
    /// `acr_values` asked of PSC. Default `eidas1`.
    #[serde(default = "default_acr_values")]
    pub acr_values: String,
    /// The `amr` Clavis sends PSC for each way of signing in.
    #[serde(default)]
    pub amr: AmrTable,
    /// Offer "Se connecter avec Pro Santé Connect (e-CPS)" on the login
    /// page, for a forgotten badge. Default false.
    #[serde(default)]
    pub sign_in_with_psc: bool,
    /// The strongest `acr` a session opened through PSC may carry (PSC's
    /// own is kept when weaker). Default `eidas2`, as the hospital's own
    /// logins.
    #[serde(default = "default_max_session_acr")]
    pub max_session_acr: String,
    /// After a sign-in with PSC, let the person enrol a FIDO2 key from
    /// `/me` (e-CPS as the identity proofing). Default false.
    #[serde(default)]
    pub fido2_enrolment_after_psc_login: bool,
    /// Timeout of one request to PSC, seconds. Default 10.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// Clock difference tolerated with PSC, seconds. Default 60.
    #[serde(default = "default_skew")]
    pub clock_skew_secs: i64,
    /// How long a person may take at PSC (e-CPS on the phone), seconds.
    /// Default 600.
    #[serde(default = "default_request_ttl")]
    pub request_ttl_secs: i64,
}

fn default_issuer() -> String {
    PRODUCTION_ISSUER.into()
}
fn default_link_validity_days() -> i64 {
    730
}
fn default_scope() -> String {
    "openid scope_all".into()
}
fn default_acr_values() -> String {
    "eidas1".into()
}
fn default_max_session_acr() -> String {
    "eidas2".into()
}
fn default_timeout() -> u64 {
    10
}
fn default_skew() -> i64 {
    60
}
fn default_request_ttl() -> i64 {
    600
}

impl Default for PscConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            issuer: default_issuer(),
            discovery_url: None,
            client_id: String::new(),
            client_secret_file: None,
            private_key_file: None,
            tls_client_cert_file: None,
            tls_client_key_file: None,
            ca_file: None,
            tid: String::new(),
            link_validity_days: default_link_validity_days(),
            scope: default_scope(),
            acr_values: default_acr_values(),
            amr: AmrTable::default(),
            sign_in_with_psc: false,
            max_session_acr: default_max_session_acr(),
            fido2_enrolment_after_psc_login: false,
            timeout_secs: default_timeout(),
            clock_skew_secs: default_skew(),
            request_ttl_secs: default_request_ttl(),
        }
    }
}

/// An `https` URL, or `http` to the loopback host (tests, a local proxy).
fn check_url(key: &str, v: &str, p: &mut Vec<(String, String)>) {
    match url::Url::parse(v) {
        Err(e) => p.push((key.into(), format!("{v:?} is not a URL: {e}"))),
        Ok(u) => {
            let loopback = matches!(u.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
            let ok = u.scheme() == "https" || (u.scheme() == "http" && loopback);
            if !ok {
                p.push((key.into(), format!("{v:?} must use https")));
            }
        }
    }
}

impl PscConfig {
    /// What is wrong, as `(key path, message)` pairs; nothing when PSC is
    /// off (the defaults are not checked then).
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut p = Vec::new();
        if !self.enabled {
            return p;
        }
        check_url("psc.issuer", &self.issuer, &mut p);
        if let Some(d) = &self.discovery_url {
            check_url("psc.discovery_url", d, &mut p);
        }
        if self.client_id.trim().is_empty() {
            p.push((
                "psc.client_id".into(),
                "required when psc.enabled (given by the ANS)".into(),
            ));
        }
        if self.tid.trim().is_empty() {
            p.push((
                "psc.tid".into(),
                "required when psc.enabled: the establishment's fixed tenant id".into(),
            ));
        } else if self.tid.len() > 128 || self.tid.chars().any(|c| c.is_control() || c == ' ') {
            p.push(("psc.tid".into(), "at most 128 characters, no spaces".into()));
        }
        if self.client_secret_file.is_some() && self.private_key_file.is_some() {
            p.push((
                "psc.private_key_file".into(),
                "choose one way to authenticate: client_secret_file or private_key_file".into(),
            ));
        }
        if self.tls_client_cert_file.is_some() != self.tls_client_key_file.is_some() {
            p.push((
                "psc.tls_client_key_file".into(),
                "tls_client_cert_file and tls_client_key_file go together".into(),
            ));
        }
        if !(1..=730).contains(&self.link_validity_days) {
            p.push((
                "psc.link_validity_days".into(),
                "between 1 and 730 (the RIE asks for a new verification at least every two years)"
                    .into(),
            ));
        }
        if !clavis_core::AcrOrder::default().knows(&self.max_session_acr) {
            p.push((
                "psc.max_session_acr".into(),
                "one of eidas1, eidas2, eidas3".into(),
            ));
        }
        if !self.scope.split_whitespace().any(|s| s == "openid") {
            p.push(("psc.scope".into(), "must include openid".into()));
        }
        for (key, list) in [
            ("psc.amr.fido2", &self.amr.fido2),
            ("psc.amr.badge", &self.amr.badge),
        ] {
            if list.iter().any(|v| v.trim().is_empty() || v.contains(' ')) {
                p.push((key.into(), "values must be non-empty words".into()));
            }
        }
        if self.timeout_secs == 0 || self.timeout_secs > 120 {
            p.push(("psc.timeout_secs".into(), "between 1 and 120".into()));
        }
        if !(0..=600).contains(&self.clock_skew_secs) {
            p.push(("psc.clock_skew_secs".into(), "between 0 and 600".into()));
        }
        if !(60..=3600).contains(&self.request_ttl_secs) {
            p.push(("psc.request_ttl_secs".into(), "between 60 and 3600".into()));
        }
        p
    }

    /// Whether PSC may be reached over plain HTTP: only when the issuer is
    /// on this machine (tests, a local relay), never otherwise — endpoints
    /// PSC's metadata names are held to the same rule.
    pub fn allows_plain_http(&self) -> bool {
        url::Url::parse(&self.issuer).is_ok_and(|u| {
            u.scheme() == "http"
                && matches!(u.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"))
        })
    }

    /// Where PSC's metadata is looked for, in order.
    pub fn discovery_urls(&self) -> Vec<String> {
        match &self.discovery_url {
            Some(d) => vec![d.clone()],
            None => {
                let base = self.issuer.trim_end_matches('/');
                vec![
                    format!("{base}{WALLET_DISCOVERY}"),
                    format!("{base}/.well-known/openid-configuration"),
                ]
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clavis_core::LoginMethod;

    fn on() -> PscConfig {
        PscConfig {
            enabled: true,
            client_id: "clavis-chu".into(),
            tid: "chu-exemple".into(),
            ..PscConfig::default()
        }
    }

    #[test]
    fn off_is_never_a_problem_and_on_needs_a_client_and_a_tid() {
        assert!(PscConfig::default().problems().is_empty());
        assert!(on().problems().is_empty());
        let c = PscConfig {
            client_id: " ".into(),
            tid: String::new(),
            ..on()
        };
        let keys: Vec<String> = c.problems().into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["psc.client_id", "psc.tid"]);
    }

    #[test]
    fn each_bad_value_is_named_by_its_key() {
        let c = PscConfig {
            issuer: "http://psc.example.org/auth/realms/esante-wallet".into(),
            link_validity_days: 731,
            scope: "scope_all".into(),
            tls_client_cert_file: Some("/etc/clavis/psc.crt".into()),
            client_secret_file: Some("a".into()),
            private_key_file: Some("b".into()),
            amr: AmrTable {
                fido2: vec!["hwk pin".into()],
                ..AmrTable::default()
            },
            ..on()
        };
        let keys: Vec<String> = c.problems().into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            [
                "psc.issuer",
                "psc.private_key_file",
                "psc.tls_client_key_file",
                "psc.link_validity_days",
                "psc.scope",
                "psc.amr.fido2"
            ]
        );
    }

    #[test]
    fn metadata_is_looked_for_at_the_wallet_path_first() {
        assert_eq!(
            on().discovery_urls(),
            [
                format!("{PRODUCTION_ISSUER}/.well-known/wallet-openid-configuration"),
                format!("{PRODUCTION_ISSUER}/.well-known/openid-configuration"),
            ]
        );
    }

    #[test]
    fn a_psc_session_is_never_asserted_back_and_an_empty_list_asserts_nothing() {
        let t = AmrTable {
            badge: vec![],
            ..AmrTable::default()
        };
        assert_eq!(t.for_method(LoginMethod::Psc), None);
        assert_eq!(t.for_method(LoginMethod::Badge), None);
        assert_eq!(
            t.for_method(LoginMethod::Fido2).map(<[String]>::to_vec),
            Some(vec!["hwk".to_string(), "pin".into(), "mfa".into()])
        );
    }
}
