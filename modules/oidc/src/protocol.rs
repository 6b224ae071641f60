//! What every endpoint of the provider shares: the errors, named exactly
//! as RFC 6749 and OpenID Connect Core name them, request parameters read
//! once (a repeated parameter is an error, RFC 6749 §3.1), and redirect
//! URLs with parameters appended.
//!
//! An unknown client or a `redirect_uri` that is not registered (exact
//! match) is never redirected to: the user sees an error page
//! ([`AuthorizeError::Page`]).

use crate::OidcError;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Why an authorization (or RP-initiated logout) request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeError {
    /// Shown to the user, never redirected (unknown client, unregistered
    /// redirect URI, a request we cannot even attribute).
    Page {
        /// Stable code (`unknown_client`, `invalid_redirect_uri`,
        /// `invalid_request`).
        code: &'static str,
        /// What to tell the user (French).
        message: String,
    },
    /// Sent back to the client's redirect URI as `error`.
    Redirect {
        /// The URL to send the browser to, with `error`, `error_description`,
        /// `state` and `iss`.
        location: String,
        /// The RFC 6749 / OIDC error code.
        error: &'static str,
    },
    /// Storage or signing failed.
    Internal(String),
}

impl AuthorizeError {
    /// An error shown to the user.
    pub(crate) fn page(code: &'static str, message: &str) -> Self {
        AuthorizeError::Page {
            code,
            message: message.to_string(),
        }
    }
}

impl From<OidcError> for AuthorizeError {
    fn from(e: OidcError) -> Self {
        AuthorizeError::Internal(e.to_string())
    }
}

impl From<clavis_store::StoreError> for AuthorizeError {
    fn from(e: clavis_store::StoreError) -> Self {
        AuthorizeError::Internal(e.to_string())
    }
}

impl From<clavis_audit::AuditError> for AuthorizeError {
    fn from(e: clavis_audit::AuditError) -> Self {
        AuthorizeError::Internal(e.to_string())
    }
}

/// A token endpoint (or introspection/revocation) error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenError {
    /// HTTP status (400, or 401 for `invalid_client`).
    pub status: u16,
    /// The RFC 6749 error code.
    pub error: &'static str,
    /// Human-readable detail (never a secret).
    pub description: String,
}

impl TokenError {
    /// A protocol error: 401 for `invalid_client`, else 400.
    pub(crate) fn new(error: &'static str, description: impl Into<String>) -> Self {
        TokenError {
            status: if error == "invalid_client" { 401 } else { 400 },
            error,
            description: description.into(),
        }
    }

    /// `invalid_grant`, the answer to a code or token that cannot be used.
    pub(crate) fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new("invalid_grant", description)
    }

    /// A failure of ours (logged here, once): `server_error`, 500.
    pub(crate) fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "token endpoint failed");
        TokenError {
            status: 500,
            error: "server_error",
            description: "internal error".into(),
        }
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        json!({"error": self.error, "error_description": self.description})
    }
}

impl From<clavis_store::StoreError> for TokenError {
    fn from(e: clavis_store::StoreError) -> Self {
        TokenError::internal(e)
    }
}

impl From<clavis_audit::AuditError> for TokenError {
    fn from(e: clavis_audit::AuditError) -> Self {
        TokenError::internal(e)
    }
}

/// A request's parameters, each present at most once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params<'a>(BTreeMap<&'a str, &'a str>);

impl<'a> Params<'a> {
    /// Reads `params`, refusing repeats (RFC 6749 §3.1): the message says
    /// which one.
    pub fn single(params: &'a [(String, String)]) -> Result<Self, String> {
        let mut m = BTreeMap::new();
        for (k, v) in params {
            if m.insert(k.as_str(), v.as_str()).is_some() {
                return Err(format!("parameter {k} is repeated"));
            }
        }
        Ok(Params(m))
    }

    /// The value of `name`, if sent.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.0.get(name).copied()
    }

    /// Whether `name` was sent.
    pub fn has(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }
}

/// `location` with extra query parameters appended.
pub(crate) fn with_query(location: &str, pairs: &[(&str, &str)]) -> String {
    match url::Url::parse(location) {
        Ok(mut u) => {
            {
                let mut q = u.query_pairs_mut();
                for (k, v) in pairs {
                    q.append_pair(k, v);
                }
            }
            u.to_string()
        }
        Err(_) => location.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameters_are_refused() {
        let p = vec![
            ("a".to_string(), "1".to_string()),
            ("a".to_string(), "2".to_string()),
        ];
        assert_eq!(
            Params::single(&p),
            Err("parameter a is repeated".to_string())
        );
    }

    #[test]
    fn query_parameters_are_appended_not_replaced() {
        assert_eq!(
            with_query(
                "https://dpi.chu.fr/cb?tenant=3",
                &[("code", "a b"), ("state", "x")]
            ),
            "https://dpi.chu.fr/cb?tenant=3&code=a+b&state=x"
        );
    }

    #[test]
    fn invalid_client_is_401_and_other_errors_400() {
        assert_eq!(TokenError::new("invalid_client", "x").status, 401);
        assert_eq!(TokenError::invalid_grant("x").status, 400);
        assert_eq!(TokenError::internal("x").status, 500);
    }
}
