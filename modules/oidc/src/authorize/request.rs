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
use crate::clients;
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
    /// The scopes granted: `openid` first as asked, then those asked that
    /// we know and the client may have, each once, in the order asked.
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
        if !clients::list(&client.redirect_uris)
            .iter()
            .any(|u| u == redirect_uri)
        {
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
        let scopes = granted_scopes(words(p, "scope"), &clients::list(&client.scopes))
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
mod tests {
    use super::*;

    const ISSUER: &str = "https://clavis.chu.test";
    const CB: &str = "https://dpi.chu.test/cb";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn client() -> OidcClientRow {
        OidcClientRow {
            client_id: "dpi".into(),
            name: "DPI".into(),
            secret_hash: None,
            auth_method: "client_secret_basic".into(),
            jwks: None,
            redirect_uris: format!(r#"["{CB}"]"#),
            post_logout_redirect_uris: "[]".into(),
            backchannel_logout_uri: None,
            require_pkce: false,
            require_acr: None,
            id_token_alg: "RS256".into(),
            scopes: r#"["openid","profile","email","rpps","roles","offline_access"]"#.into(),
            created_at: 0,
            created_by: "test".into(),
            secret_rotated_at: None,
            removed_at: None,
        }
    }

    fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// `pairs` after a valid minimal request (later pairs replace earlier
    /// ones; an empty value removes the parameter).
    fn request(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut all = vec![
            ("client_id", "dpi"),
            ("redirect_uri", CB),
            ("response_type", "code"),
            ("scope", "openid"),
            ("state", "s-1"),
        ];
        for (k, v) in pairs {
            all.retain(|(a, _)| a != k);
            if !v.is_empty() {
                all.push((k, v));
            }
        }
        owned(&all)
    }

    fn hint(token: &str) -> Option<String> {
        (token == "ours").then(|| "oid-1".to_string())
    }

    static ORDER: std::sync::LazyLock<AcrOrder> = std::sync::LazyLock::new(AcrOrder::default);

    fn parse_with<'a>(
        params: &'a [(String, String)],
        client: &OidcClientRow,
    ) -> Result<AuthorizationRequest<'a>, AuthorizeError> {
        let p = Params::single(params).map_err(|m| AuthorizeError::page("invalid_request", &m))?;
        client_id(&p)?;
        AuthorizationRequest::parse(
            &p,
            client,
            &Context {
                issuer: ISSUER,
                acr_order: &ORDER,
                hint_subject: &hint,
            },
        )
    }

    /// The error a request gets sent back to the client.
    fn redirected(pairs: &[(&str, &str)]) -> (String, String) {
        match parse_with(&request(pairs), &client()) {
            Err(AuthorizeError::Redirect { location, error }) => {
                let u = url::Url::parse(&location).expect("url");
                assert!(location.starts_with(CB), "{location}");
                let q: std::collections::HashMap<_, _> = u.query_pairs().into_owned().collect();
                assert_eq!(q.get("error").map(String::as_str), Some(error));
                assert_eq!(q.get("state").map(String::as_str), Some("s-1"));
                assert_eq!(q.get("iss").map(String::as_str), Some(ISSUER));
                (error.to_string(), q["error_description"].clone())
            }
            other => panic!("expected a redirect, got {other:?}"),
        }
    }

    fn page(params: &[(String, String)]) -> (&'static str, String) {
        match parse_with(params, &client()) {
            Err(AuthorizeError::Page { code, message }) => (code, message),
            other => panic!("expected an error page, got {other:?}"),
        }
    }

    #[test]
    fn a_minimal_request_is_accepted() {
        let params = request(&[]);
        let r = parse_with(&params, &client()).expect("valid");
        assert_eq!(
            r.reply,
            Reply {
                redirect_uri: CB,
                state: Some("s-1"),
                issuer: ISSUER
            }
        );
        assert_eq!(r.scopes, vec!["openid"]);
        assert_eq!(r.nonce, None);
        assert_eq!(r.code_challenge, None);
        assert!(!r.prompt_none && !r.prompt_login);
        assert_eq!((r.max_age, r.login_after, r.acr), (None, None, None));
        assert_eq!((r.login_hint, r.hint_subject), (None, None));
    }

    #[test]
    fn a_full_request_is_read_whole() {
        let params = request(&[
            ("scope", "profile openid  email profile unknown"),
            ("nonce", "n-1"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
            ("prompt", "login consent"),
            ("max_age", "300"),
            ("login_after", "1700000000"),
            ("acr_values", "eidas1 custom eidas2"),
            ("login_hint", "clemoine"),
            ("id_token_hint", "ours"),
            ("response_mode", "query"),
        ]);
        let r = parse_with(&params, &client()).expect("valid");
        assert_eq!(r.scopes, vec!["profile", "openid", "email"]);
        assert_eq!(r.nonce, Some("n-1"));
        assert_eq!(r.code_challenge, Some(CHALLENGE));
        assert!(r.prompt_login && !r.prompt_none);
        assert_eq!(r.max_age, Some(300));
        assert_eq!(r.login_after, Some(1_700_000_000));
        assert_eq!(r.acr.as_deref(), Some("eidas2"));
        assert_eq!(r.login_hint, Some("clemoine"));
        assert_eq!(r.hint_subject.as_deref(), Some("oid-1"));
    }

    #[test]
    fn the_reply_carries_the_code_state_and_issuer() {
        let params = request(&[]);
        let r = parse_with(&params, &client()).expect("valid");
        assert_eq!(
            r.reply.code("c-1"),
            format!("{CB}?code=c-1&state=s-1&iss=https%3A%2F%2Fclavis.chu.test")
        );
        let params = request(&[("state", "")]);
        let r = parse_with(&params, &client()).expect("valid");
        assert_eq!(
            r.reply.code("c-1"),
            format!("{CB}?code=c-1&iss=https%3A%2F%2Fclavis.chu.test")
        );
    }

    #[test]
    fn scopes_the_client_may_not_have_are_dropped_but_openid_stays() {
        let mut c = client();
        c.scopes = r#"["profile"]"#.into();
        let params = request(&[("scope", "openid email profile")]);
        let r = parse_with(&params, &c).expect("valid");
        assert_eq!(r.scopes, vec!["openid", "profile"]);
    }

    #[test]
    fn the_clients_required_acr_raises_the_demand_and_unknown_values_are_ignored() {
        let mut c = client();
        c.require_acr = Some("eidas2".into());
        let acr = |c: &OidcClientRow, values: &str| {
            let params = request(&[("acr_values", values)]);
            parse_with(&params, c).expect("valid").acr
        };
        assert_eq!(acr(&c, "eidas1").as_deref(), Some("eidas2"));
        assert_eq!(acr(&c, "eidas3").as_deref(), Some("eidas3"));
        assert_eq!(acr(&client(), "custom"), None);
        assert_eq!(
            acr(&client(), "eidas1 eidas3 eidas2").as_deref(),
            Some("eidas3")
        );
    }

    #[test]
    fn requests_we_cannot_attribute_get_an_error_page() {
        let repeated = owned(&[("client_id", "dpi"), ("client_id", "dpi")]);
        assert_eq!(
            page(&repeated),
            ("invalid_request", "parameter client_id is repeated".into())
        );
        assert_eq!(
            page(&request(&[("client_id", "")])),
            ("invalid_request", "Paramètre client_id manquant.".into())
        );
        assert_eq!(
            page(&request(&[("redirect_uri", "")])),
            ("invalid_request", "Paramètre redirect_uri manquant.".into())
        );
        for other in [
            "https://evil.test/cb",
            "https://dpi.chu.test/cb/",
            "https://dpi.chu.test/cb?x=1",
            "https://DPI.chu.test/cb",
        ] {
            assert_eq!(
                page(&request(&[("redirect_uri", other)])),
                (
                    "invalid_redirect_uri",
                    "L'adresse de retour demandée n'est pas enregistrée pour cette application."
                        .into()
                ),
                "{other}"
            );
        }
    }

    #[test]
    fn each_invalid_request_goes_back_to_the_client_with_its_error() {
        // The parameters changed, the error, its description.
        type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
        let cases: &[Case] = &[
            (
                &[("request", "x")],
                "request_not_supported",
                "request objects are not supported",
            ),
            (
                &[("request_uri", "x")],
                "request_uri_not_supported",
                "request_uri is not supported",
            ),
            (
                &[("response_type", "token")],
                "unsupported_response_type",
                "only response_type=code is supported",
            ),
            (
                &[("response_type", "")],
                "invalid_request",
                "response_type is required",
            ),
            (
                &[("response_mode", "fragment")],
                "invalid_request",
                "only response_mode=query is supported",
            ),
            (
                &[("scope", "profile")],
                "invalid_scope",
                "the openid scope is required",
            ),
            (
                &[("scope", "")],
                "invalid_scope",
                "the openid scope is required",
            ),
            (
                &[("code_challenge", CHALLENGE)],
                "invalid_request",
                "code_challenge_method must be S256",
            ),
            (
                &[
                    ("code_challenge", CHALLENGE),
                    ("code_challenge_method", "plain"),
                ],
                "invalid_request",
                "code_challenge_method must be S256",
            ),
            (
                &[("code_challenge_method", "S256")],
                "invalid_request",
                "code_challenge is missing",
            ),
            (
                &[
                    ("code_challenge", "short"),
                    ("code_challenge_method", "S256"),
                ],
                "invalid_request",
                "code_challenge must be a base64url SHA-256",
            ),
            (
                &[
                    (
                        "code_challenge",
                        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM",
                    ),
                    ("code_challenge_method", "S256"),
                ],
                "invalid_request",
                "code_challenge must be a base64url SHA-256",
            ),
            (
                &[("prompt", "none login")],
                "invalid_request",
                "prompt=none cannot be combined",
            ),
            (
                &[("prompt", "login sometimes")],
                "invalid_request",
                "unknown prompt value sometimes",
            ),
            (
                &[("max_age", "-1")],
                "invalid_request",
                "max_age must be a non-negative integer",
            ),
            (
                &[("max_age", "soon")],
                "invalid_request",
                "max_age must be a non-negative integer",
            ),
            (
                &[("id_token_hint", "someone else's")],
                "invalid_request",
                "id_token_hint is not an ID token of ours",
            ),
        ];
        for (pairs, error, description) in cases {
            assert_eq!(
                redirected(pairs),
                (error.to_string(), description.to_string()),
                "{pairs:?}"
            );
        }
    }

    #[test]
    fn a_client_that_must_use_pkce_is_refused_without_it() {
        let mut c = client();
        c.require_pkce = true;
        match parse_with(&request(&[]), &c) {
            Err(AuthorizeError::Redirect { location, error }) => {
                assert_eq!(error, "invalid_request");
                assert!(location.contains("this+client+must+use+PKCE+%28S256%29"));
            }
            other => panic!("{other:?}"),
        }
        let with = request(&[
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ]);
        assert_eq!(
            parse_with(&with, &c).expect("valid").code_challenge,
            Some(CHALLENGE)
        );
    }

    #[test]
    fn the_first_failing_check_answers() {
        // Both the response type and the scope are wrong: the response
        // type is checked first.
        assert_eq!(
            redirected(&[("response_type", "token"), ("scope", "profile")]).0,
            "unsupported_response_type"
        );
        // A bad redirect URI is never redirected to, whatever else is wrong.
        assert_eq!(
            page(&request(&[
                ("redirect_uri", "https://evil.test/cb"),
                ("response_type", "token")
            ]))
            .0,
            "invalid_redirect_uri"
        );
    }

    #[test]
    fn a_bad_login_after_is_ignored() {
        let params = request(&[("login_after", "yesterday")]);
        assert_eq!(
            parse_with(&params, &client()).expect("valid").login_after,
            None
        );
    }
}
