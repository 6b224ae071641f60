//! The SSO session at the HTTP edge: the `__Host-` cookie, reading the
//! current session, and the CSRF token of forms.

use crate::AppState;
use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use clavis_sso::{COOKIE_NAME, Session};
use sha2::{Digest, Sha256};

/// The session cookie carrying `token`, for `max_age_secs`.
pub fn session_cookie(token: &str, max_age_secs: i64, secure: bool) -> Cookie<'static> {
    let mut c = Cookie::build(COOKIE_NAME, token.to_string())
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .max_age(CookieDuration::seconds(max_age_secs))
        .finish();
    c.set_secure(secure);
    c
}

/// A cookie that removes the session cookie.
pub fn clear_cookie(secure: bool) -> Cookie<'static> {
    let mut c = session_cookie("", 0, secure);
    c.make_removal();
    c
}

/// The cookie token of the request, if any.
pub fn token_of(req: &HttpRequest) -> Option<String> {
    req.cookie(COOKIE_NAME).map(|c| c.value().to_string())
}

/// The live session of the request, if any.
pub async fn current(
    state: &AppState,
    req: &HttpRequest,
) -> Result<Option<(Session, String)>, crate::error::ApiError> {
    let Some(token) = token_of(req) else {
        return Ok(None);
    };
    let s = clavis_sso::check_fast(&state.db, state.clock.now(), &token)
        .await
        .map_err(crate::error::ApiError::internal)?;
    Ok(s.map(|s| (s, token)))
}

/// The CSRF token of forms for a session: derived from the session token,
/// so only a page that could read the cookie's session can produce it.
pub fn csrf_for(token: &str) -> String {
    hex::encode(Sha256::digest(format!("clavis-csrf|{token}").as_bytes()))
}

/// Whether a submitted CSRF token is the session's.
pub fn csrf_ok(token: &str, submitted: &str) -> bool {
    clavis_core::secret::constant_time_eq(csrf_for(token).as_bytes(), submitted.as_bytes())
}

/// Whether `return_to` stays inside Clavis: a path, never another origin
/// (`//host`, `/\\host`, `https://…`) and no control characters.
pub fn safe_return_to(return_to: Option<&str>) -> String {
    match return_to {
        Some(r)
            if r.starts_with('/')
                && !r.starts_with("//")
                && !r.contains('\\')
                && !r.chars().any(|c| c.is_control())
                && r.len() <= 8192 =>
        {
            r.to_string()
        }
        _ => "/me".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_to_never_leaves_clavis() {
        assert_eq!(safe_return_to(Some("/me")), "/me");
        assert_eq!(
            safe_return_to(Some("/oidc/authorize?x=1")),
            "/oidc/authorize?x=1"
        );
        for bad in [
            "//evil.example",
            "https://evil.example",
            "/\\evil.example",
            "evil",
            "/x\ny",
            "",
        ] {
            assert_eq!(safe_return_to(Some(bad)), "/me", "{bad:?}");
        }
        assert_eq!(safe_return_to(None), "/me");
    }

    #[test]
    fn csrf_tokens_belong_to_their_session() {
        let t = csrf_for("session-a");
        assert!(csrf_ok("session-a", &t));
        assert!(!csrf_ok("session-b", &t));
        assert!(!csrf_ok("session-a", ""));
    }
}
