//! Feeds untrusted query strings to the parsing and checking of an OpenID
//! authorization request (`clavis_oidc::authorize::request`), as the
//! `/oidc/authorize` handler does before any database or session work.
//!
//! The first input byte picks the client's settings (PKCE required or not,
//! a required acr or not); the rest is the query string, form-decoded the
//! way actix decodes it. Any panic is a bug, and so is an answer that
//! breaks what the endpoint promises: a code or an error only ever goes to
//! a registered redirect URI, carries `iss` and the client's own `state`
//! unchanged, and a granted request always has `openid` and only scopes the
//! client may have.
//!
//! Two callers: `fuzz_targets/authorize_request.rs`, the libFuzzer target (`cargo fuzz
//! run authorize_request` from the fuzz directory, or `scripts/fuzz`), and the
//! suite's `tests/it/fuzz_replay.rs`, which replays the committed seeds
//! and mutations of them on every test run (docs/operations.md,
//! "Fuzzing").

use clavis_core::{AcrOrder, Actor};
use clavis_oidc::AuthorizeError;
use clavis_oidc::authorize::request::{AuthorizationRequest, Context, client_id};
use clavis_oidc::protocol::Params;
use clavis_store::models::OidcClientRow;
use std::collections::HashMap;
use std::sync::LazyLock;

const ISSUER: &str = "https://clavis.chu.test";
/// Registered redirect URIs; the second already has a query.
const REDIRECT_URIS: [&str; 2] = [
    "https://dpi.chu.test/cb",
    "https://dpi.chu.test/retour?site=nord",
];

static ORDER: LazyLock<AcrOrder> = LazyLock::new(AcrOrder::default);

fn client(settings: u8) -> OidcClientRow {
    OidcClientRow {
        client_id: "dpi".into(),
        name: "DPI".into(),
        secret_hash: None,
        auth_method: "none".into(),
        jwks: None,
        redirect_uris: REDIRECT_URIS.map(String::from).to_vec().into(),
        post_logout_redirect_uris: Vec::new().into(),
        backchannel_logout_uri: None,
        require_pkce: settings & 1 == 1,
        require_acr: ORDER
            .levels()
            .get(usize::from(settings >> 1) % (ORDER.levels().len() + 1))
            .cloned(),
        id_token_alg: "RS256".into(),
        scopes: ["openid", "profile", "rpps"]
            .map(String::from)
            .to_vec()
            .into(),
        created_at: 0,
        created_by: Actor::Cli("fuzz".into()),
        secret_rotated_at: None,
        removed_at: None,
        psc: false,
    }
}

/// An `id_token_hint` "of ours" is the literal `ours` here.
fn hint(token: &str) -> Option<String> {
    (token == "ours").then(|| "oid-1".to_string())
}

/// The query of `location`, which must extend a registered redirect URI.
fn query_of(location: &str) -> HashMap<String, String> {
    let u = url::Url::parse(location).expect("answers go to a URL");
    assert!(
        REDIRECT_URIS.iter().any(|r| {
            let r = url::Url::parse(r).expect("registered URIs are URLs");
            (r.scheme(), r.host_str(), r.port(), r.path())
                == (u.scheme(), u.host_str(), u.port(), u.path())
        }),
        "answer sent outside the registered URIs: {location}"
    );
    let mut q = HashMap::new();
    for (k, v) in u.query_pairs() {
        assert!(
            q.insert(k.to_string(), v.to_string()).is_none(),
            "parameter {k} repeated in {location}"
        );
    }
    q
}

/// Checks one input; panics on a bug.
pub fn check(input: &[u8]) {
    let Some((&settings, query)) = input.split_first() else {
        return;
    };
    let params: Vec<(String, String)> = url::form_urlencoded::parse(query).into_owned().collect();
    let Ok(p) = Params::single(&params) else {
        return;
    };
    if client_id(&p).is_err() {
        return;
    }
    let client = client(settings);
    let cx = Context {
        issuer: ISSUER,
        acr_order: &ORDER,
        hint_subject: &hint,
    };
    match AuthorizationRequest::parse(&p, &client, &cx) {
        Ok(req) => {
            assert!(REDIRECT_URIS.contains(&req.reply.redirect_uri));
            assert!(req.scopes.contains(&"openid"), "granted without openid");
            for (i, s) in req.scopes.iter().enumerate() {
                assert!(client.scopes.0.iter().any(|a| a == s), "scope {s} granted");
                assert!(!req.scopes[..i].contains(s), "scope {s} granted twice");
            }
            assert!(!(req.prompt_none && req.prompt_login));
            assert!(req.max_age.is_none_or(|m| m >= 0));
            assert!(req.code_challenge.is_none_or(|c| c.len() == 43));
            assert!(req.code_challenge.is_some() || !client.require_pkce);
            if let Some(required) = &client.require_acr {
                let acr = req.acr.as_deref().expect("the client's acr is kept");
                assert!(ORDER.satisfies(acr, required));
            }
            let q = query_of(&req.reply.code("c0de"));
            assert_eq!(q.get("code").map(String::as_str), Some("c0de"));
            assert_eq!(q.get("iss").map(String::as_str), Some(ISSUER));
            assert_eq!(q.get("state").map(String::as_str), p.get("state"));
        }
        Err(AuthorizeError::Redirect { location, error }) => {
            let q = query_of(&location);
            assert_eq!(q.get("error").map(String::as_str), Some(error));
            assert_eq!(q.get("iss").map(String::as_str), Some(ISSUER));
            assert_eq!(q.get("state").map(String::as_str), p.get("state"));
        }
        Err(AuthorizeError::Page { .. }) => {
            // Shown to the user: only before the redirect URI is known good.
            assert!(
                p.get("redirect_uri")
                    .is_none_or(|r| !REDIRECT_URIS.contains(&r))
            );
        }
        Err(AuthorizeError::Internal(e)) => panic!("no storage here, yet {e}"),
    }
}
