//! An authorization request read and checked against its client, with no
//! database and no clock: `response_type`, `redirect_uri` (exact match),
//! `scope`, `state`, `nonce`, PKCE, `prompt`, `max_age`, `acr_values` and
//! the client's `require_acr`, `login_hint`, `id_token_hint`. What comes
//! out is an [`AuthorizationRequest`] the session matching
//! ([`super`]) works from, or the error to give, in the order the checks
//! have always run (the first failing check answers).
//!
//! Until the `redirect_uri` is known to be the client's, errors are shown
//! to the user ([`AuthorizeError::Page`]); from then on they go back to the
//! client ([`AuthorizeError::Redirect`], with `state` and `iss`).

use crate::AuthorizeError;

use crate::protocol::{Params, with_query};
use clavis_core::AcrOrder;
use clavis_store::models::OidcClientRow;

/// The `client_id` of a request (the first thing read, before the client
/// is looked up).
pub fn client_id<'a>(p: &Params<'a>) -> Result<&'a str, AuthorizeError> {
    p.get("client_id")
        .ok_or_else(|| AuthorizeError::page("invalid_request", "Paramètre client_id manquant."))
}

/// What [`AuthorizationRequest::parse`] needs of the provider.
pub struct Context<'a> {
    /// Our issuer (the `iss` of redirected answers).
    pub issuer: &'a str,
    /// The acr order (`acr_values` the order does not know are ignored).
    pub acr_order: &'a AcrOrder,
    /// The subject (`sub`) of an `id_token_hint`, when it is an ID token
    /// we signed; `None` otherwise.
    pub hint_subject: &'a dyn Fn(&str) -> Option<String>,
}

impl std::fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("issuer", &self.issuer)
            .field("acr_order", &self.acr_order)
            .finish_non_exhaustive()
    }
}

/// Where the answers to a request go once its `redirect_uri` is known to be
/// registered for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply<'a> {
    /// The registered redirect URI the request named.
    pub redirect_uri: &'a str,
    /// The client's `state`, echoed back.
    pub state: Option<&'a str>,
    /// Our issuer (`iss`, RFC 9207).
    pub issuer: &'a str,
}

impl Reply<'_> {
    /// An error sent back to the client.
    pub fn error(&self, error: &'static str, description: &str) -> AuthorizeError {
        let mut pairs = vec![("error", error), ("error_description", description)];
        if let Some(s) = self.state {
            pairs.push(("state", s));
        }
        pairs.push(("iss", self.issuer));
        AuthorizeError::Redirect {
            location: with_query(self.redirect_uri, &pairs),
            error,
        }
    }

    /// The redirect carrying an authorization `code`.
    pub fn code(&self, code: &str) -> String {
        let mut pairs = vec![("code", code)];
        if let Some(s) = self.state {
            pairs.push(("state", s));
        }
        pairs.push(("iss", self.issuer));
        with_query(self.redirect_uri, &pairs)
    }
}

/// A valid authorization request (`response_type=code`, the only one we
/// serve).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationRequest<'a> {
    /// Where the answer goes.
    pub reply: Reply<'a>,
    /// The scopes granted, in the order asked, each once: `openid`, and
    /// those asked that we know and the client may have.
    pub scopes: Vec<&'a str>,
    /// `nonce`, for the ID token.
    pub nonce: Option<&'a str>,
    /// The PKCE S256 challenge (43 base64url characters).
    pub code_challenge: Option<&'a str>,
    /// `prompt=none`: answer `login_required` rather than ask for a login.
    pub prompt_none: bool,
    /// `prompt=login`: a login now, whatever the session.
    pub prompt_login: bool,
    /// `max_age` (seconds since the login).
    pub max_age: Option<i64>,
    /// `login_after` (unix seconds), our own parameter: the login asked
    /// for by `prompt=login` or `max_age` happened, do not ask again for
    /// a session at least that recent.
    pub login_after: Option<i64>,
    /// The assurance the session must have: the strongest known of
    /// `acr_values` and the client's `require_acr`.
    pub acr: Option<String>,
    /// `login_hint`, passed on to the login page.
    pub login_hint: Option<&'a str>,
    /// The subject of a valid `id_token_hint`: the session must be theirs.
    pub hint_subject: Option<String>,
}

/// The values of a space-separated parameter, empty ones dropped.
fn words<'a>(p: &Params<'a>, name: &str) -> Vec<&'a str> {
    p.get(name)
        .map(|s| s.split(' ').filter(|x| !x.is_empty()).collect())
        .unwrap_or_default()
}

impl<'a> AuthorizationRequest<'a> {
    /// Checks the request `p` of `client` (already found, by
    /// [`client_id`]).
    pub fn parse(
        p: &Params<'a>,
        client: &OidcClientRow,
        cx: &Context<'a>,
    ) -> Result<Self, AuthorizeError> {
        let redirect_uri = p.get("redirect_uri").ok_or_else(|| {
            AuthorizeError::page("invalid_request", "Paramètre redirect_uri manquant.")
        })?;
        if !client.redirect_uris.iter().any(|u| u == redirect_uri) {
            return Err(AuthorizeError::page(
                "invalid_redirect_uri",
                "L'adresse de retour demandée n'est pas enregistrée pour cette application.",
            ));
        }
        // From here on, errors go back to the client.
        let reply = Reply {
            redirect_uri,
            state: p.get("state"),
            issuer: cx.issuer,
        };
        let fail = |error, description: &str| reply.error(error, description);
        if p.has("request") {
            return Err(fail(
                "request_not_supported",
                "request objects are not supported",
            ));
        }
        if p.has("request_uri") {
            return Err(fail(
                "request_uri_not_supported",
                "request_uri is not supported",
            ));
        }
        match p.get("response_type") {
            Some("code") => {}
            Some(_) => {
                return Err(fail(
                    "unsupported_response_type",
                    "only response_type=code is supported",
                ));
            }
            None => return Err(fail("invalid_request", "response_type is required")),
        }
        if let Some(m) = p.get("response_mode")
            && m != "query"
        {
            return Err(fail(
                "invalid_request",
                "only response_mode=query is supported",
            ));
        }
        let scopes = granted_scopes(words(p, "scope"), &client.scopes)
            .ok_or_else(|| fail("invalid_scope", "the openid scope is required"))?;
        let code_challenge = p.get("code_challenge");
        match (code_challenge, p.get("code_challenge_method")) {
            (Some(_), Some("S256")) => {}
            (Some(_), None | Some(_)) => {
                return Err(fail(
                    "invalid_request",
                    "code_challenge_method must be S256",
                ));
            }
            (None, Some(_)) => return Err(fail("invalid_request", "code_challenge is missing")),
            (None, None) if client.require_pkce => {
                return Err(fail("invalid_request", "this client must use PKCE (S256)"));
            }
            (None, None) => {}
        }
        if code_challenge.is_some_and(|c| !is_s256_challenge(c)) {
            return Err(fail(
                "invalid_request",
                "code_challenge must be a base64url SHA-256",
            ));
        }
        let prompt = words(p, "prompt");
        if prompt.contains(&"none") && prompt.len() > 1 {
            return Err(fail("invalid_request", "prompt=none cannot be combined"));
        }
        if let Some(bad) = prompt
            .iter()
            .find(|v| !matches!(**v, "none" | "login" | "consent" | "select_account"))
        {
            return Err(fail(
                "invalid_request",
                &format!("unknown prompt value {bad}"),
            ));
        }
        let max_age = match p.get("max_age") {
            Some(v) => Some(v.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                fail("invalid_request", "max_age must be a non-negative integer")
            })?),
            None => None,
        };
        let login_after = p.get("login_after").and_then(|v| v.parse::<i64>().ok());
        // The assurance asked: the client's floor and acr_values, the strongest we know.
        let wanted = p
            .get("acr_values")
            .into_iter()
            .flat_map(|s| s.split(' '))
            .chain(client.require_acr.as_deref());
        let acr = cx.acr_order.strongest(wanted).map(str::to_string);
        let hint_subject = match p.get("id_token_hint") {
            Some(h) => Some((cx.hint_subject)(h).ok_or_else(|| {
                fail(
                    "invalid_request",
                    "id_token_hint is not an ID token of ours",
                )
            })?),
            None => None,
        };
        Ok(AuthorizationRequest {
            reply,
            scopes,
            nonce: p.get("nonce"),
            code_challenge,
            prompt_none: prompt.contains(&"none"),
            prompt_login: prompt.contains(&"login"),
            max_age,
            login_after,
            acr,
            login_hint: p.get("login_hint"),
            hint_subject,
        })
    }
}

/// The scopes granted of those `requested`, `None` without `openid`.
/// Unknown scopes, and scopes the client may not have (`allowed`), are
/// ignored; `openid` every client has.
fn granted_scopes<'a>(requested: Vec<&'a str>, allowed: &[String]) -> Option<Vec<&'a str>> {
    if !requested.contains(&"openid") {
        return None;
    }
    let mut granted: Vec<&str> = Vec::new();
    for s in requested {
        if crate::SCOPES.contains(&s)
            && (s == "openid" || allowed.iter().any(|a| a == s))
            && !granted.contains(&s)
        {
            granted.push(s);
        }
    }
    Some(granted)
}

/// Whether `c` has the shape of an S256 challenge: 43 base64url
/// characters (a SHA-256, unpadded).
fn is_s256_challenge(c: &str) -> bool {
    c.len() == 43
        && c.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests;
