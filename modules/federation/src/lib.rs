//! Clavis and Pro Santé Connect (PSC), the national federation.
//!
//! - [`config`]: the `psc` section of the configuration.
//! - [`discovery`]: PSC's metadata (at its own wallet path) and JWKS,
//!   cached, re-fetched on an unknown key.
//! - [`verify`]: the checks of what PSC answers (ID token, userinfo, the
//!   national id), pure.
//! - [`rp`]: Clavis as a relying party of PSC: the trip there (code flow,
//!   PKCE S256, state, nonce, `acr_values`) and back, client
//!   authentication by secret or `private_key_jwt`, optional mTLS.
//! - [`link`]: the link of a local identity to its national identity,
//!   stored only when PSC names the identity's own RPPS and family name;
//!   a mismatch opens a case. Its lifecycle (departure, suspension).
//! - [`login`]: signing in to Clavis with PSC, for a forgotten badge.
//!
//! The other direction — Clavis as "FI tiers", an OpenID provider *for*
//! PSC — is the provider's ([`clavis_oidc`], a client marked `psc`); it
//! asserts a person only while [`clavis_store::models::PscLinkRow`]
//! stands.

pub mod config;
pub mod discovery;
pub mod link;
pub mod login;
pub mod rp;
pub mod verify;

pub use config::{AmrTable, PscConfig};
pub use rp::{Purpose, Start, Verified};
pub use verify::Refusal;

use clavis_core::Secret;
use clavis_oidc::keys::SigningKey;
use clavis_store::StoreError;
use std::path::Path;
use std::time::Duration;

/// Errors of the PSC machinery (a refused answer is a [`Refusal`]).
#[derive(Debug, thiserror::Error)]
pub enum PscError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// PSC could not be reached, or answered something unusable.
    #[error("Pro Santé Connect: {0}")]
    Unreachable(String),
    /// The configuration does not work (the message names the key).
    #[error("{0}")]
    Config(String),
    /// PSC is not enabled.
    #[error("Pro Santé Connect is not enabled (psc.enabled)")]
    Disabled,
}

impl From<clavis_audit::AuditError> for PscError {
    fn from(e: clavis_audit::AuditError) -> Self {
        match e {
            clavis_audit::AuditError::Store(s) => PscError::Store(s),
        }
    }
}

impl From<clavis_sso::SsoError> for PscError {
    fn from(e: clavis_sso::SsoError) -> Self {
        match e {
            clavis_sso::SsoError::Store(s) => PscError::Store(s),
        }
    }
}

impl From<clavis_directory::DirectoryError> for PscError {
    fn from(e: clavis_directory::DirectoryError) -> Self {
        PscError::Config(e.to_string())
    }
}

/// TLS towards PSC besides the system's roots: further CAs to trust, and
/// the client certificate presented at the token endpoint (mTLS).
#[derive(Default)]
pub struct Tls {
    /// Further trusted CAs (`psc.ca_file`).
    pub roots: Vec<reqwest::Certificate>,
    /// The client certificate and key (`psc.tls_client_cert_file`).
    pub identity: Option<reqwest::Identity>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("roots", &self.roots.len())
            .field("client_certificate", &self.identity.is_some())
            .finish()
    }
}

/// How Clavis authenticates at PSC's token endpoint.
pub enum ClientAuth {
    /// `client_secret_basic`.
    Secret(Secret<String>),
    /// `private_key_jwt` with this key.
    PrivateKey(Box<SigningKey>),
}

impl std::fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientAuth::Secret(_) => f.write_str("ClientAuth::Secret([redacted])"),
            ClientAuth::PrivateKey(k) => write!(f, "ClientAuth::PrivateKey({})", k.kid),
        }
    }
}

/// Clavis's side of Pro Santé Connect.
#[derive(Debug)]
pub struct Psc {
    cfg: PscConfig,
    /// Where PSC sends the browser back: `<public_url>/psc/callback`.
    redirect_uri: String,
    http: reqwest::Client,
    /// The client for the token endpoint (with the TLS client
    /// certificate, when configured).
    token_http: reqwest::Client,
    auth: ClientAuth,
    discovery: discovery::Discovery,
}

/// The path PSC sends the browser back to.
pub const CALLBACK_PATH: &str = "/psc/callback";
/// Where PSC sends the browser after a logout Clavis asked of it.
pub const LOGGED_OUT_PATH: &str = "/psc/logged-out";

fn read_file(key: &str, path: &Path) -> Result<Vec<u8>, PscError> {
    std::fs::read(path).map_err(|e| PscError::Config(format!("{key}: {}: {e}", path.display())))
}

impl Psc {
    /// Reads the credentials `cfg` names (secret file, else
    /// `CLAVIS_PSC_CLIENT_SECRET`, else the systemd credential
    /// `clavis-psc-client-secret`; or the private key; the TLS client
    /// certificate) and builds the clients. `public_url` is where
    /// browsers reach Clavis.
    pub fn load(cfg: &PscConfig, public_url: &str) -> Result<Self, PscError> {
        if !cfg.enabled {
            return Err(PscError::Disabled);
        }
        let auth = match (&cfg.private_key_file, &cfg.client_secret_file) {
            (Some(k), _) => {
                let pem = read_file("psc.private_key_file", k)?;
                let der = pem_pkcs8(&pem).map_err(|e| {
                    PscError::Config(format!("psc.private_key_file: {}: {e}", k.display()))
                })?;
                ClientAuth::PrivateKey(Box::new(SigningKey::from_private_pkcs8(&der).map_err(
                    |e| PscError::Config(format!("psc.private_key_file: {}: {e}", k.display())),
                )?))
            }
            (None, Some(f)) => {
                let raw = read_file("psc.client_secret_file", f)?;
                let s = String::from_utf8(raw).map_err(|_| {
                    PscError::Config(format!("psc.client_secret_file: {}: not text", f.display()))
                })?;
                ClientAuth::Secret(Secret::new(s.trim().to_string()))
            }
            (None, None) => ClientAuth::Secret(Secret::new(secret_from_environment()?)),
        };
        let mut tls = Tls::default();
        if let Some(f) = &cfg.ca_file {
            let pem = read_file("psc.ca_file", f)?;
            tls.roots = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| PscError::Config(format!("psc.ca_file: {}: {e}", f.display())))?;
            if tls.roots.is_empty() {
                return Err(PscError::Config(format!(
                    "psc.ca_file: {}: no certificate in it",
                    f.display()
                )));
            }
        }
        tls.identity = match (&cfg.tls_client_cert_file, &cfg.tls_client_key_file) {
            (Some(c), Some(k)) => {
                let mut pem = read_file("psc.tls_client_cert_file", c)?;
                pem.push(b'\n');
                pem.extend(read_file("psc.tls_client_key_file", k)?);
                Some(reqwest::Identity::from_pem(&pem).map_err(|e| {
                    PscError::Config(format!("psc.tls_client_cert_file: {}: {e}", c.display()))
                })?)
            }
            _ => None,
        };
        Self::new(cfg.clone(), public_url, auth, tls)
    }

    /// A PSC client from parts (tests give their own).
    pub fn new(
        cfg: PscConfig,
        public_url: &str,
        auth: ClientAuth,
        tls: Tls,
    ) -> Result<Self, PscError> {
        let build = |identity: Option<reqwest::Identity>| {
            let mut b = reqwest::Client::builder()
                .timeout(Duration::from_secs(cfg.timeout_secs))
                .redirect(reqwest::redirect::Policy::none())
                .https_only(!cfg.allows_plain_http())
                .user_agent(concat!("Clavis/", env!("CARGO_PKG_VERSION")));
            for root in &tls.roots {
                b = b.add_root_certificate(root.clone());
            }
            if let Some(i) = identity {
                b = b.identity(i);
            }
            b.build()
                .map_err(|e| PscError::Config(format!("psc: HTTP client: {e}")))
        };
        Ok(Self {
            redirect_uri: format!("{}{CALLBACK_PATH}", public_url.trim_end_matches('/')),
            http: build(None)?,
            token_http: build(tls.identity)?,
            auth,
            discovery: discovery::Discovery::default(),
            cfg,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &PscConfig {
        &self.cfg
    }

    /// The redirect URI to register at PSC.
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// The post-logout redirect URI to register at PSC.
    pub fn logged_out_uri(&self) -> String {
        self.redirect_uri.replace(CALLBACK_PATH, LOGGED_OUT_PATH)
    }

    /// The public key Clavis authenticates with (`private_key_jwt`), to
    /// give the ANS; `None` with a secret.
    pub fn public_jwk(&self) -> Option<&serde_json::Value> {
        match &self.auth {
            ClientAuth::PrivateKey(k) => Some(&k.public_jwk),
            ClientAuth::Secret(_) => None,
        }
    }

    /// What `clavis psc status` shows: PSC's metadata fetched, its JWKS
    /// loaded (number of keys).
    pub async fn status(&self) -> Result<(discovery::Metadata, usize), PscError> {
        let m = self.discovery.metadata(&self.http, &self.cfg).await?;
        let keys = self.discovery.jwks(&self.http, &m, None).await?;
        let n = keys
            .get("keys")
            .and_then(serde_json::Value::as_array)
            .map_or(0, Vec::len);
        Ok(((*m).clone(), n))
    }
}

/// The client secret from `CLAVIS_PSC_CLIENT_SECRET` or the systemd
/// credential `clavis-psc-client-secret`.
fn secret_from_environment() -> Result<String, PscError> {
    if let Ok(s) = std::env::var("CLAVIS_PSC_CLIENT_SECRET")
        && !s.trim().is_empty()
    {
        return Ok(s.trim().to_string());
    }
    if let Ok(dir) = std::env::var("CREDENTIALS_DIRECTORY") {
        let p = Path::new(&dir).join("clavis-psc-client-secret");
        if let Ok(s) = std::fs::read_to_string(&p) {
            return Ok(s.trim().to_string());
        }
    }
    Err(PscError::Config(
        "psc.client_secret_file: no client secret: set psc.client_secret_file, \
         CLAVIS_PSC_CLIENT_SECRET, the systemd credential clavis-psc-client-secret, \
         or psc.private_key_file"
            .into(),
    ))
}

/// The PKCS#8 DER of a PEM `PRIVATE KEY`.
fn pem_pkcs8(pem: &[u8]) -> Result<Vec<u8>, String> {
    use rustls_pki_types::PrivatePkcs8KeyDer;
    use rustls_pki_types::pem::PemObject;
    PrivatePkcs8KeyDer::from_pem_slice(pem)
        .map(|k| k.secret_pkcs8_der().to_vec())
        .map_err(|e| format!("expected a PEM \"PRIVATE KEY\" (PKCS#8): {e}"))
}
