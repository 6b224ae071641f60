//! Errors of the authenticator service.

use clavis_store::StoreError;

/// What can go wrong. Login failures are deliberately one variant.
#[derive(Debug, thiserror::Error)]
pub enum AuthnError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Unknown, used, expired link, or its identity cannot enrol.
    #[error("this enrolment link is not valid (used, expired or unknown)")]
    InvalidLink,
    /// The ceremony is unknown, finished already, or too old.
    #[error("this operation took too long or was already completed; start again")]
    CeremonyExpired,
    /// The key model is not on the allow-list.
    #[error("this security key model is not accepted by the hospital")]
    ModelNotAllowed,
    /// This key is enrolled already.
    #[error("this security key is already enrolled")]
    AlreadyEnrolled,
    /// Login failed (whatever the reason; the audit log has it).
    #[error("authentication failed")]
    LoginFailed,
    /// Too many failures: wait.
    #[error("too many failed attempts; retry in {retry_after_secs} s")]
    TooManyAttempts {
        /// Seconds to wait.
        retry_after_secs: i64,
    },
    /// No such key.
    #[error("no such key")]
    KeyNotFound,
    /// A revocation reason that is empty, too long or not plain text.
    #[error("reason: 1 to 200 characters of text (e.g. lost, stolen, broken)")]
    InvalidReason,
    /// WebAuthn refused the request.
    #[error("security key operation refused: {0}")]
    WebAuthn(#[from] webauthn_rs::prelude::WebauthnError),
    /// Misconfiguration.
    #[error("authentication configuration: {0}")]
    Config(String),
    /// Stored data is invalid.
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
}

impl From<clavis_audit::AuditError> for AuthnError {
    fn from(e: clavis_audit::AuditError) -> Self {
        match e {
            clavis_audit::AuditError::Store(s) => AuthnError::Store(s),
        }
    }
}

impl From<clavis_sso::SsoError> for AuthnError {
    fn from(e: clavis_sso::SsoError) -> Self {
        match e {
            clavis_sso::SsoError::Store(s) => AuthnError::Store(s),
        }
    }
}
