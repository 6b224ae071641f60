//! SSO sessions: the 4-hour session every application of the hospital
//! shares.
//!
//! A session is created at a successful login. The browser holds a random
//! 256-bit token in a `__Host-` cookie; the database holds only its SHA-256,
//! with the identity, auth time, absolute expiry (auth time + lifetime,
//! 4 h by default), optional idle timeout, acr/amr, authenticator, client
//! address and user agent. Sessions survive restarts and are valid on every
//! node sharing the database. They end on logout, expiry, revocation, or
//! when the identity departs or is suspended ([`SsoLifecycle`], called in
//! the directory's transaction).
//!
//! Here: the configuration, the errors and the session as callers see it.
//! `create.rs`: a new session at login, and the browser's previous one
//! replaced. `check.rs`: the session behind a cookie, on every request, and
//! the live list. `end.rs`: logout, revocation, fast user switching, and what
//! an ended session owes its applications. `expiry.rs`: the periodic end of
//! sessions past their lifetime. `lifecycle.rs`: departures and suspensions.

mod check;
mod create;
mod end;
mod expiry;
mod lifecycle;

pub use check::{check, check_fast, list};
pub use create::{create, prepare, replace, session_of};
pub use end::{end, end_all_at_workstation, end_all_by_authenticator, end_all_for};
pub use expiry::end_expired;
pub use lifecycle::SsoLifecycle;

use chrono::{DateTime, Utc};
use clavis_core::{LoginMethod, Oid, SessionId, WorkstationId};
use clavis_store::StoreError;
use clavis_store::models::SsoSessionRow;
use serde::{Deserialize, Serialize};

/// `[sso]` configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SsoConfig {
    /// Absolute lifetime of a session, from the authentication. Default
    /// 14400 (4 h).
    #[serde(default = "default_lifetime")]
    pub session_lifetime_secs: i64,
    /// Ends a session unused for this long; 0 = off (default).
    #[serde(default)]
    pub idle_timeout_secs: i64,
}

fn default_lifetime() -> i64 {
    4 * 3600
}

impl Default for SsoConfig {
    fn default() -> Self {
        Self {
            session_lifetime_secs: default_lifetime(),
            idle_timeout_secs: 0,
        }
    }
}

/// The session cookie. `__Host-`: Secure, path `/`, no domain.
pub const COOKIE_NAME: &str = "__Host-clavis_sso";

/// Errors of the session service.
#[derive(Debug, thiserror::Error)]
pub enum SsoError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<clavis_audit::AuditError> for SsoError {
    fn from(e: clavis_audit::AuditError) -> Self {
        match e {
            clavis_audit::AuditError::Store(s) => SsoError::Store(s),
        }
    }
}

/// What a new session records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    pub oid: Oid,
    pub acr: String,
    pub amr: Vec<String>,
    pub authenticator_id: Option<String>,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    /// The registered workstation of a badge login.
    pub workstation_id: Option<WorkstationId>,
    /// The session may not outlive this (a temporary badge's end of
    /// validity); `None`: the usual lifetime.
    pub ends_by: Option<DateTime<Utc>>,
    /// How the person signed in.
    pub method: LoginMethod,
}

/// A live session as handlers see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Session {
    pub id: SessionId,
    pub oid: Oid,
    pub auth_time: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub acr: String,
    pub amr: Vec<String>,
    pub authenticator_id: Option<String>,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    /// The workstation of a badge login.
    pub workstation_id: Option<WorkstationId>,
    /// How the person signed in (`None`: a session from before this was
    /// recorded).
    pub method: Option<LoginMethod>,
}

impl Session {
    fn from_row(r: &SsoSessionRow) -> Self {
        Session {
            id: r.id.clone(),
            oid: r.oid,
            auth_time: DateTime::<Utc>::from_timestamp(r.auth_time, 0).unwrap_or_default(),
            expires_at: DateTime::<Utc>::from_timestamp(r.expires_at, 0).unwrap_or_default(),
            acr: r.acr.clone(),
            amr: r.amr.to_vec(),
            authenticator_id: r.authenticator_id.clone(),
            client_ip: r.client_ip.clone(),
            user_agent: r.user_agent.clone(),
            workstation_id: r.workstation_id.clone(),
            method: r.method,
        }
    }

    /// Seconds left before the absolute expiry.
    pub fn seconds_left(&self, now: DateTime<Utc>) -> i64 {
        (self.expires_at - now).num_seconds().max(0)
    }
}

fn token_hash(token: &str) -> String {
    clavis_core::secret::sha256_hex(token)
}

#[cfg(test)]
mod tests;
