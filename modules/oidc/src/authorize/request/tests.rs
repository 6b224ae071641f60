//! The checks of [`super::AuthorizationRequest::parse`], one rejection at a
//! time, and the shapes it accepts.

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
        redirect_uris: vec![CB.to_string()].into(),
        post_logout_redirect_uris: Vec::new().into(),
        backchannel_logout_uri: None,
        require_pkce: false,
        require_acr: None,
        id_token_alg: "RS256".into(),
        scopes: [
            "openid",
            "profile",
            "email",
            "rpps",
            "roles",
            "offline_access",
        ]
        .map(String::from)
        .to_vec()
        .into(),
        created_at: 0,
        created_by: clavis_core::Actor::Cli("test".into()),
        secret_rotated_at: None,
        removed_at: None,
        psc: false,
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
    c.scopes = vec!["profile".to_string()].into();
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
                "L'adresse de retour demandée n'est pas enregistrée pour cette application.".into()
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

mod props {
    use super::*;
    use proptest::prelude::*;

    fn name() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("scope".to_string()),
            Just("prompt".to_string()),
            Just("max_age".to_string()),
            Just("acr_values".to_string()),
            Just("code_challenge".to_string()),
            Just("code_challenge_method".to_string()),
            Just("response_type".to_string()),
            Just("response_mode".to_string()),
            Just("id_token_hint".to_string()),
            Just("login_after".to_string()),
            Just("state".to_string()),
            "[a-z_]{1,12}",
        ]
    }

    proptest! {
        /// Once the client and its redirect URI are known, any other
        /// parameters are accepted or answered at that redirect URI: never
        /// an error page, never another address, never a panic.
        #[test]
        fn any_request_of_a_known_client_is_answered_at_its_redirect_uri(
            extra in proptest::collection::vec((name(), ".{0,50}"), 0..8)
        ) {
            let mut params = owned(&[("client_id", "dpi"), ("redirect_uri", CB)]);
            for (k, v) in extra {
                if k != "client_id" && k != "redirect_uri" && !params.iter().any(|(a, _)| *a == k) {
                    params.push((k, v));
                }
            }
            match parse_with(&params, &client()) {
                Ok(r) => prop_assert_eq!(r.reply.redirect_uri, CB),
                Err(AuthorizeError::Redirect { location, .. }) => {
                    prop_assert!(location.starts_with(CB), "{}", location)
                }
                Err(other) => prop_assert!(false, "{:?}", other),
            }
        }
    }
}
