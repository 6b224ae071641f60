//! One mapping from errors to HTTP responses: a status, a stable snake_case
//! `code` and a safe message, always in one JSON envelope,
//! `{"error": {"code": "…", "message": "…"}}` (OpenID endpoints excepted:
//! they answer as RFC 6749 says). Every domain error converts here, in
//! this file and nowhere else; an internal one keeps its cause, which is
//! logged once, here, and never shown.

use actix_web::{HttpResponse, ResponseError, http::StatusCode, http::header};
use clavis_directory::DirectoryError;
use serde_json::json;

/// The cause of an internal error, kept for the log.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An error at the HTTP edge.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Missing, malformed, unknown or revoked token (one answer for all).
    #[error("unauthorized")]
    Unauthorized,
    /// A login failed (one answer whatever the reason).
    #[error("authentication failed")]
    LoginFailed,
    /// Too many failures: wait.
    #[error("too many failed attempts; retry in {0} s")]
    TooManyAttempts(i64),
    /// Too many logins started from this address: wait.
    #[error("too many sign-ins started from this address; retry in {0} s")]
    TooManyStarts(i64),
    /// Too many logins in progress overall: retry shortly.
    #[error("too many sign-ins in progress; retry shortly")]
    Busy,
    /// A form without its session's CSRF token, or a role that may not.
    #[error("forbidden")]
    Forbidden,
    /// Nothing there.
    #[error("{0}")]
    NotFound(String),
    /// Bad request parameters.
    #[error("{0}")]
    BadRequest(String),
    /// A refusal shown to a person as it is: its own code (`wrong_pin`,
    /// `badge_refused`…) and a message already in the person's language.
    #[error("{message}")]
    Refused {
        /// The HTTP status.
        status: StatusCode,
        /// The stable code the page acts on.
        code: &'static str,
        /// What the person reads.
        message: String,
    },
    /// Anything else: the cause is logged, not shown.
    #[error("internal error")]
    Internal(#[source] Cause),
}

impl ApiError {
    /// An internal error with its cause (an error, or a message).
    pub fn internal(cause: impl Into<Cause>) -> Self {
        ApiError::Internal(cause.into())
    }

    /// A refusal a person reads (see [`ApiError::Refused`]).
    pub fn refused(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Refused {
            status,
            code,
            message: message.into(),
        }
    }

    fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthorized => "unauthorized",
            ApiError::LoginFailed => "login_failed",
            ApiError::TooManyAttempts(_) => "too_many_attempts",
            ApiError::TooManyStarts(_) => "too_many_requests",
            ApiError::Busy => "busy",
            ApiError::Forbidden => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Refused { code, .. } => code,
            ApiError::Internal(_) => "internal_error",
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized | ApiError::LoginFailed => StatusCode::UNAUTHORIZED,
            ApiError::TooManyAttempts(_) | ApiError::TooManyStarts(_) => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ApiError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Forbidden => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Refused { status, .. } => *status,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(cause) = self {
            tracing::error!(error = %chain(cause.as_ref()), "request failed");
        }
        let mut r = HttpResponse::build(self.status_code());
        match self {
            ApiError::TooManyAttempts(secs) | ApiError::TooManyStarts(secs) => {
                r.insert_header(("Retry-After", secs.to_string()));
            }
            ApiError::Busy => {
                r.insert_header(("Retry-After", "5"));
            }
            _ => {}
        }
        if matches!(self, ApiError::Unauthorized) {
            r.insert_header(("WWW-Authenticate", "Bearer realm=\"clavis-admin\""));
        }
        if matches!(self, ApiError::Refused { .. }) {
            r.insert_header((header::CACHE_CONTROL, "no-store"));
        }
        r.json(json!({"error": {"code": self.code(), "message": self.to_string()}}))
    }
}

/// An error and its causes, outermost first: "a: b: c" (a cause whose
/// text its parent already shows is not repeated).
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        let text = cause.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        next = cause.source();
    }
    s
}

/// A query parameter outside its vocabulary (`?status=lost`): a 400
/// naming the accepted values.
impl From<clavis_core::UnknownValue> for ApiError {
    fn from(e: clavis_core::UnknownValue) -> Self {
        ApiError::BadRequest(e.to_string())
    }
}

impl From<clavis_store::StoreError> for ApiError {
    fn from(e: clavis_store::StoreError) -> Self {
        ApiError::internal(e)
    }
}

impl From<DirectoryError> for ApiError {
    fn from(e: DirectoryError) -> Self {
        match e {
            DirectoryError::IdentityNotFound(_) => ApiError::NotFound("identity not found".into()),
            DirectoryError::CaseNotFound(_) => ApiError::NotFound("case not found".into()),
            DirectoryError::InvalidResolution(m) => ApiError::BadRequest(m),
            DirectoryError::CaseAlreadyResolved(id) => ApiError::refused(
                StatusCode::CONFLICT,
                "case_already_resolved",
                format!("case {id} is already resolved"),
            ),
            e @ DirectoryError::AlreadySuspended(_) => {
                ApiError::refused(StatusCode::CONFLICT, "already_suspended", e.to_string())
            }
            e @ DirectoryError::NotSuspended(_) => {
                ApiError::refused(StatusCode::CONFLICT, "not_suspended", e.to_string())
            }
            e @ DirectoryError::AlreadyDeparted(_) => {
                ApiError::refused(StatusCode::CONFLICT, "departed", e.to_string())
            }
            other => ApiError::internal(other),
        }
    }
}

impl From<clavis_directory::manual::ManualError> for ApiError {
    fn from(e: clavis_directory::manual::ManualError) -> Self {
        use clavis_directory::manual::ManualError as M;
        match e {
            M::Missing(what) => ApiError::BadRequest(format!("{what}: required")),
            M::Invalid { field, why } => ApiError::BadRequest(format!("{field}: {why}")),
            M::AlreadyExists(oid) => ApiError::refused(
                StatusCode::CONFLICT,
                "already_exists",
                format!("this person already exists: identity {oid}"),
            ),
            M::SourceNameTaken => ApiError::internal(e),
            M::Directory(d) => d.into(),
        }
    }
}

impl From<clavis_sso::SsoError> for ApiError {
    fn from(e: clavis_sso::SsoError) -> Self {
        ApiError::internal(e)
    }
}

impl From<clavis_authn::AuthnError> for ApiError {
    fn from(e: clavis_authn::AuthnError) -> Self {
        use clavis_authn::AuthnError as A;
        match e {
            A::LoginFailed => ApiError::LoginFailed,
            A::TooManyAttempts { retry_after_secs } => ApiError::TooManyAttempts(retry_after_secs),
            A::InvalidLink
            | A::CeremonyExpired
            | A::ModelNotAllowed
            | A::AlreadyEnrolled
            | A::InvalidReason
            | A::WebAuthn(_) => ApiError::BadRequest(e.to_string()),
            A::KeyNotFound => ApiError::NotFound(e.to_string()),
            other => ApiError::internal(other),
        }
    }
}

impl From<clavis_authn::api_token::TokenError> for ApiError {
    fn from(e: clavis_authn::api_token::TokenError) -> Self {
        use clavis_authn::api_token::TokenError as T;
        match e {
            T::NameTaken(_) | T::BadName(_) | T::BadScope(_) | T::BadExpiry => {
                ApiError::BadRequest(e.to_string())
            }
            other => ApiError::internal(other),
        }
    }
}

impl From<clavis_oidc::OidcError> for ApiError {
    fn from(e: clavis_oidc::OidcError) -> Self {
        match e {
            clavis_oidc::OidcError::UnknownClient(_) => {
                ApiError::NotFound("client not found".into())
            }
            clavis_oidc::OidcError::InvalidClient(m) => ApiError::BadRequest(m),
            other => ApiError::internal(other),
        }
    }
}

impl From<clavis_oidc::habilitations::HabilitationError> for ApiError {
    fn from(e: clavis_oidc::habilitations::HabilitationError) -> Self {
        use clavis_oidc::habilitations::HabilitationError as H;
        match e {
            H::CampaignNotFound(_) => ApiError::NotFound(e.to_string()),
            H::CampaignClosed(_) | H::NotAwaiting => {
                ApiError::refused(StatusCode::CONFLICT, "review_conflict", e.to_string())
            }
            H::Invalid(m) => ApiError::BadRequest(m),
            H::Store(_) => ApiError::internal(e),
        }
    }
}

impl From<clavis_federation::PscError> for ApiError {
    fn from(e: clavis_federation::PscError) -> Self {
        use clavis_federation::PscError as P;
        match e {
            P::Store(s) => s.into(),
            P::Disabled => ApiError::NotFound("Pro Santé Connect is not enabled here".into()),
            P::Unreachable(_) | P::Config(_) => {
                tracing::error!(error = %e, "Pro Santé Connect unavailable");
                ApiError::Refused {
                    status: StatusCode::BAD_GATEWAY,
                    code: "psc_unavailable",
                    message: "Pro Santé Connect est injoignable pour le moment ; réessayez dans quelques minutes."
                        .into(),
                }
            }
        }
    }
}

impl From<clavis_authn::badge::WorkstationError> for ApiError {
    fn from(e: clavis_authn::badge::WorkstationError) -> Self {
        use clavis_authn::badge::WorkstationError as W;
        match e {
            W::Unknown(_) => ApiError::NotFound("workstation not found".into()),
            W::BadName | W::NameTaken(_) => ApiError::BadRequest(e.to_string()),
            W::Badge(b) => ApiError::internal(b),
        }
    }
}

impl From<clavis_authn::badge::BadgeError> for ApiError {
    fn from(e: clavis_authn::badge::BadgeError) -> Self {
        use clavis_authn::badge::BadgeError as B;
        match e {
            B::NotFound => ApiError::NotFound("badge not found".into()),
            B::PinPolicy(p) => ApiError::BadRequest(p.to_string()),
            other => ApiError::internal(other),
        }
    }
}

impl From<clavis_authn::badge::RelayError> for ApiError {
    fn from(e: clavis_authn::badge::RelayError) -> Self {
        use clavis_authn::badge::RelayError as R;
        match e {
            R::Workstation => ApiError::Unauthorized,
            R::Unknown | R::BadgeRefused => {
                ApiError::NotFound("unknown or expired badge transaction".into())
            }
            R::OutOfOrder => ApiError::BadRequest("out-of-order step".into()),
            R::BadRequest(m) => ApiError::BadRequest(m),
            R::Pin(p) => ApiError::BadRequest(p.to_string()),
            R::Badge(b) => ApiError::internal(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::MessageBody;

    fn body_of(e: &ApiError) -> serde_json::Value {
        let bytes = e
            .error_response()
            .into_body()
            .try_into_bytes()
            .expect("a JSON body");
        serde_json::from_slice(&bytes).expect("json")
    }

    #[test]
    fn every_error_answers_in_one_envelope_and_hides_internal_causes() {
        let internal = ApiError::from(clavis_store::StoreError::Unavailable(
            "postgres://clavis:s3cret@db/clavis refused".into(),
        ));
        assert_eq!(internal.status_code(), 500);
        let shown = body_of(&internal).to_string();
        assert_eq!(
            shown,
            r#"{"error":{"code":"internal_error","message":"internal error"}}"#
        );
        assert!(
            std::error::Error::source(&internal).is_some(),
            "the cause is kept for the log"
        );
        let refused =
            ApiError::refused(StatusCode::BAD_REQUEST, "wrong_pin", "Code PIN incorrect.");
        assert_eq!(
            body_of(&refused),
            json!({"error": {"code": "wrong_pin", "message": "Code PIN incorrect."}})
        );
        assert_eq!(
            body_of(&ApiError::NotFound("identity not found".into())),
            json!({"error": {"code": "not_found", "message": "identity not found"}})
        );
    }

    #[test]
    fn the_logged_chain_names_every_cause() {
        #[derive(Debug, thiserror::Error)]
        #[error("outer")]
        struct Outer(#[source] std::io::Error);
        let e = Outer(std::io::Error::other("inner"));
        assert_eq!(chain(&e), "outer: inner");
        #[derive(Debug, thiserror::Error)]
        #[error("query failed: {0}")]
        struct ShowsItsCause(#[source] std::io::Error);
        let e = ShowsItsCause(std::io::Error::other("disk full"));
        assert_eq!(chain(&e), "query failed: disk full", "not repeated");
    }
}
