//! The OpenID Connect provider the hospital's applications (DPI, DUI,
//! intranet, later Pro Santé Connect) delegate login to.
//!
//! - [`clients`]: registering relying parties, their secrets and how they
//!   authenticate at the token endpoint.
//! - [`keys`]: signing keys (RS256, ES256), rotation, the master key.
//! - [`authorize`]: the authorization endpoint: the request checked
//!   against its client ([`authorize::request`], no database), then matched
//!   against the browser's SSO session, and the code issued: sealed
//!   ([`codes`]), nothing written until it is exchanged.
//! - [`grants`]: the token endpoint: client authentication, then one file
//!   per grant ([`grants::code`], [`grants::refresh`] with rotation).
//! - [`issue`]: the tokens both grants issue ([`TokenResponse`], the
//!   [`IdTokenClaims`] signed).
//! - [`userinfo`], [`introspect`] (RFC 7662), [`revoke`] (RFC 7009),
//!   [`end_session`] (RP-initiated logout).
//! - [`protocol`]: the errors (named as RFC 6749 names them) and parameter
//!   reading every endpoint shares.
//! - [`claims`]: what an ID token and userinfo say about a person.
//! - [`backchannel`]: logout tokens delivered to applications when an SSO
//!   session ends (from the `logout_outbox` the session service fills).
//!
//! Handlers in `clavis_web` are thin: they pass the request's parameters
//! and cookie-session here and render what comes back.

pub mod authorize;
pub mod backchannel;
pub mod claims;
pub mod clients;
mod codes;
pub mod end_session;
pub mod fi_tiers;
pub mod grants;
pub mod habilitations;
pub mod introspect;
pub mod issue;
pub mod jws;
pub mod keys;
pub mod protocol;
pub mod revoke;
mod signers;
pub mod userinfo;

pub use authorize::{CurrentSession, Outcome};
pub use end_session::EndSession;
pub use issue::{IdTokenClaims, TokenResponse};
pub use protocol::{AuthorizeError, TokenError};
pub use userinfo::BearerError;

use clavis_core::{AcrOrder, Actor};
use clavis_store::{Db, DbConn, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

/// `[oidc]` configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    /// The issuer URL. Default: `server.public_url`.
    #[serde(default)]
    pub issuer: Option<String>,
    /// File holding the master key (64 hex digits) that encrypts signing
    /// keys at rest; created on first start when missing. Default
    /// `<state_dir>/master.key`. The systemd credential
    /// `clavis-master-key` takes precedence when present.
    #[serde(default)]
    pub master_key_file: Option<PathBuf>,
    /// Authorization code lifetime. Default 60.
    #[serde(default = "default_code_ttl")]
    pub code_ttl_secs: i64,
    /// Access token lifetime. Default 600.
    #[serde(default = "default_access_ttl")]
    pub access_token_ttl_secs: i64,
    /// ID token lifetime. Default 600.
    #[serde(default = "default_id_ttl")]
    pub id_token_ttl_secs: i64,
    /// Names of the hospital-specific claims (DPI vendors differ).
    #[serde(default)]
    pub claim_names: ClaimNames,
    /// Back-channel logout delivery.
    #[serde(default)]
    pub backchannel: BackchannelConfig,
}

fn default_code_ttl() -> i64 {
    60
}
fn default_access_ttl() -> i64 {
    600
}
fn default_id_ttl() -> i64 {
    600
}

impl Default for OidcConfig {
    fn default() -> Self {
        Self {
            issuer: None,
            master_key_file: None,
            code_ttl_secs: default_code_ttl(),
            access_token_ttl_secs: default_access_ttl(),
            id_token_ttl_secs: default_id_ttl(),
            claim_names: ClaimNames::default(),
            backchannel: BackchannelConfig::default(),
        }
    }
}

/// `[oidc.claim_names]`: where the hospital-specific values go.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimNames {
    /// The national id (`8` + RPPS). Default `SubjectNameID` (as Pro Santé
    /// Connect names it).
    #[serde(default = "default_national_id")]
    pub national_id: String,
    /// The RPPS number. Default `rpps`.
    #[serde(default = "default_rpps")]
    pub rpps: String,
    /// Professions, `[{"code": "60", "label": "Infirmier"}]` (TRE_G15).
    /// Default `professions`.
    #[serde(default = "default_professions")]
    pub professions: String,
    /// The person's roles in the requesting application. Default `roles`.
    #[serde(default = "default_roles")]
    pub roles: String,
}

fn default_national_id() -> String {
    "SubjectNameID".into()
}
fn default_rpps() -> String {
    "rpps".into()
}
fn default_professions() -> String {
    "professions".into()
}
fn default_roles() -> String {
    "roles".into()
}

impl Default for ClaimNames {
    fn default() -> Self {
        Self {
            national_id: default_national_id(),
            rpps: default_rpps(),
            professions: default_professions(),
            roles: default_roles(),
        }
    }
}

/// `[oidc.backchannel]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BackchannelConfig {
    /// Attempts before giving up on one notification. Default 8 (spread
    /// over about 2 h).
    #[serde(default = "default_attempts")]
    pub max_attempts: i32,
    /// Timeout of one delivery. Default 5.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// Allow back-channel logout URIs that reach this machine or its
    /// link: loopback (`127.0.0.0/8`, `::1`, `localhost`), link-local
    /// (`169.254.0.0/16`, `fe80::/10`, where cloud metadata services
    /// live) and unspecified (`0.0.0.0`, `::`) addresses. Default false:
    /// such URIs are refused at registration, and a name that resolves to
    /// one of them is refused at delivery. Only for an application
    /// running on the appliance itself (and the tests).
    #[serde(default)]
    pub allow_local_targets: bool,
}

fn default_attempts() -> i32 {
    8
}
fn default_timeout() -> u64 {
    5
}

impl Default for BackchannelConfig {
    fn default() -> Self {
        Self {
            max_attempts: default_attempts(),
            timeout_secs: default_timeout(),
            allow_local_targets: false,
        }
    }
}

/// Errors of the provider's own machinery (protocol errors are
/// [`AuthorizeError`] and [`TokenError`]).
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The master key is missing, malformed or not the one the keys were
    /// sealed with.
    #[error("master key: {0}")]
    MasterKey(String),
    /// Signing failed.
    #[error("signing failed")]
    Signing,
    /// No client with this id.
    #[error("no client {0:?}")]
    UnknownClient(String),
    /// A client registration is invalid (the message says which field).
    #[error("{0}")]
    InvalidClient(String),
}

impl From<clavis_core::master_key::MasterKeyError> for OidcError {
    fn from(e: clavis_core::master_key::MasterKeyError) -> Self {
        OidcError::MasterKey(e.to_string())
    }
}

impl From<clavis_audit::AuditError> for OidcError {
    fn from(e: clavis_audit::AuditError) -> Self {
        match e {
            clavis_audit::AuditError::Store(s) => OidcError::Store(s),
        }
    }
}

impl From<clavis_sso::SsoError> for OidcError {
    fn from(e: clavis_sso::SsoError) -> Self {
        match e {
            clavis_sso::SsoError::Store(s) => OidcError::Store(s),
        }
    }
}

/// Endpoint paths, under the issuer.
pub mod paths {
    /// Discovery.
    pub const DISCOVERY: &str = "/.well-known/openid-configuration";
    /// Authorization endpoint.
    pub const AUTHORIZE: &str = "/oidc/authorize";
    /// Token endpoint.
    pub const TOKEN: &str = "/oidc/token";
    /// Userinfo endpoint.
    pub const USERINFO: &str = "/oidc/userinfo";
    /// JWKS.
    pub const JWKS: &str = "/oidc/jwks";
    /// RP-initiated logout.
    pub const END_SESSION: &str = "/oidc/logout";
    /// Token revocation (RFC 7009).
    pub const REVOKE: &str = "/oidc/revoke";
    /// Token introspection (RFC 7662).
    pub const INTROSPECT: &str = "/oidc/introspect";
}

/// Scopes we know. Others are ignored (not an error).
pub const SCOPES: &[&str] = &[
    "openid",
    "profile",
    "email",
    "rpps",
    "roles",
    "offline_access",
];

/// The provider: configuration, issuer, keys.
#[derive(Debug)]
pub struct Provider {
    /// Configuration.
    pub cfg: OidcConfig,
    /// Issuer URL, without a trailing slash.
    pub issuer: String,
    /// The acr values, weakest first (`authn.acr_order`, advertised).
    pub acr_order: AcrOrder,
    /// What Clavis asserts to Pro Santé Connect (`None`: PSC off; a
    /// client marked `psc` then gets `access_denied`).
    pub fi_tiers: Option<fi_tiers::FiTiers>,
    master: keys::MasterKey,
    /// Seals and opens authorization codes (a key derived from `master`).
    codes: codes::CodeSealer,
    keys: RwLock<Arc<keys::KeyRing>>,
    signers: signers::Signers,
}

impl Provider {
    /// Starts the provider: makes sure signing keys exist and loads them.
    /// `acr_order` is the acr values, weakest first.
    pub async fn start(
        db: &Db,
        cfg: OidcConfig,
        issuer: &str,
        master: keys::MasterKey,
        acr_order: AcrOrder,
        now: i64,
    ) -> Result<Self, OidcError> {
        let mut conn = db.conn().await?;
        keys::ensure(&mut conn, &master, now).await?;
        let ring = keys::KeyRing::load(&mut conn, &master, now, cfg.id_token_ttl_secs).await?;
        Ok(Provider {
            issuer: issuer.trim_end_matches('/').to_string(),
            cfg,
            acr_order,
            fi_tiers: None,
            codes: codes::CodeSealer::new(
                &master.derive(codes::KEY_LABEL),
                issuer.trim_end_matches('/'),
            ),
            master,
            keys: RwLock::new(Arc::new(ring)),
            signers: signers::Signers::start(),
        })
    }

    /// The provider answering Pro Santé Connect as FI tiers.
    pub fn with_fi_tiers(mut self, fi: Option<fi_tiers::FiTiers>) -> Self {
        self.fi_tiers = fi;
        self
    }

    /// The keys in use.
    pub fn keys(&self) -> Arc<keys::KeyRing> {
        self.keys.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Reloads keys from the database (after a rotation on any node).
    pub async fn reload_keys(&self, conn: &mut DbConn, now: i64) -> Result<(), OidcError> {
        let ring = keys::KeyRing::load(conn, &self.master, now, self.cfg.id_token_ttl_secs).await?;
        *self.keys.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(ring);
        Ok(())
    }

    /// Rotates the key of `alg` and reloads.
    pub async fn rotate(
        &self,
        conn: &mut DbConn,
        alg: keys::Alg,
        now: i64,
        actor: &Actor,
    ) -> Result<String, OidcError> {
        let kid = keys::rotate(conn, &self.master, alg, now, actor).await?;
        self.reload_keys(conn, now).await?;
        Ok(kid)
    }

    /// The rules a client registration is checked against, from this
    /// provider's configuration.
    pub fn registration_rules(&self) -> clients::RegistrationRules<'_> {
        clients::RegistrationRules {
            acr_order: &self.acr_order,
            allow_local_backchannel: self.cfg.backchannel.allow_local_targets,
        }
    }

    /// An absolute URL of one of our endpoints.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    /// The discovery document (OpenID Connect Discovery 1.0).
    pub fn discovery(&self) -> Value {
        let n = &self.cfg.claim_names;
        json!({
            "issuer": self.issuer,
            "authorization_endpoint": self.url(paths::AUTHORIZE),
            "token_endpoint": self.url(paths::TOKEN),
            "userinfo_endpoint": self.url(paths::USERINFO),
            "jwks_uri": self.url(paths::JWKS),
            "end_session_endpoint": self.url(paths::END_SESSION),
            "revocation_endpoint": self.url(paths::REVOKE),
            "introspection_endpoint": self.url(paths::INTROSPECT),
            "scopes_supported": SCOPES,
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256", "ES256"],
            "userinfo_signing_alg_values_supported": [],
            "token_endpoint_auth_methods_supported": clients::AUTH_METHODS,
            "token_endpoint_auth_signing_alg_values_supported": ["RS256", "ES256"],
            "revocation_endpoint_auth_methods_supported": clients::AUTH_METHODS,
            "introspection_endpoint_auth_methods_supported": clients::AUTH_METHODS,
            "code_challenge_methods_supported": ["S256"],
            "prompt_values_supported": ["none", "login"],
            "acr_values_supported": self.acr_order,
            "claims_supported": [
                "sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "sid", "azp",
                "name", "given_name", "family_name", "preferred_username", "email",
                n.national_id, n.rpps, n.professions, n.roles
            ],
            "claims_parameter_supported": false,
            "request_parameter_supported": false,
            "request_uri_parameter_supported": false,
            "authorization_response_iss_parameter_supported": true,
            "backchannel_logout_supported": true,
            "backchannel_logout_session_supported": true,
            "frontchannel_logout_supported": false,
            "ui_locales_supported": ["fr", "en"],
        })
    }
}
