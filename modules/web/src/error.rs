//! One mapping from errors to HTTP responses: a status, a stable snake_case
//! `code` and a safe message. The cause is logged once, here.

use actix_web::{HttpResponse, ResponseError, http::StatusCode};
use clavis_directory::DirectoryError;
use serde_json::json;

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
    /// A form without its session's CSRF token.
    #[error("forbidden")]
    Forbidden,
    /// Nothing there.
    #[error("{0}")]
    NotFound(String),
    /// Bad request parameters.
    #[error("{0}")]
    BadRequest(String),
    /// Anything else: details are logged, not shown.
    #[error("internal error")]
    Internal(String),
}

impl From<DirectoryError> for ApiError {
    fn from(e: DirectoryError) -> Self {
        match e {
            DirectoryError::IdentityNotFound(_) => ApiError::NotFound("identity not found".into()),
            DirectoryError::CaseNotFound(_) => ApiError::NotFound("case not found".into()),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<clavis_store::StoreError> for ApiError {
    fn from(e: clavis_store::StoreError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

impl ApiError {
    fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthorized => "unauthorized",
            ApiError::LoginFailed => "login_failed",
            ApiError::TooManyAttempts(_) => "too_many_attempts",
            ApiError::Forbidden => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Internal(_) => "internal_error",
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized | ApiError::LoginFailed => StatusCode::UNAUTHORIZED,
            ApiError::TooManyAttempts(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Forbidden => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(cause) = self {
            tracing::error!(error = %cause, "request failed");
        }
        let mut r = HttpResponse::build(self.status_code());
        if let ApiError::TooManyAttempts(secs) = self {
            r.insert_header(("Retry-After", secs.to_string()));
        }
        if matches!(self, ApiError::Unauthorized) {
            r.insert_header(("WWW-Authenticate", "Bearer realm=\"clavis-admin\""));
        }
        r.json(json!({"error": {"code": self.code(), "message": self.to_string()}}))
    }
}
