//! The authorization endpoint's answers to a signed-in nurse: a code at the
//! registered redirect URI, or an error. A request whose client or
//! redirect URI cannot be trusted gets an error page, never a redirect
//! (RFC 6749 §4.1.2.1); the other errors go back to the client. Sending a
//! person to log in (again) is in `reauthentication.rs`.

use super::{
    CB, VERIFIER, authorize_as_nurse, authorize_url, challenge, exchange, setup, setup_with,
};
use crate::support::http::{json_of, location, query_of};
use crate::support::on_both_backends;
use actix_web::test::{TestRequest, call_service, read_body};
use clavis_oidc::clients::NewClient;
use clavis_testkit::db::Backend;

on_both_backends!(
    a_signed_in_nurse_is_sent_back_at_once_with_a_code_the_state_and_the_issuer,
    an_unknown_client_gets_an_error_page_never_a_redirect,
    an_unregistered_redirect_uri_gets_an_error_page_never_a_redirect,
    a_registered_redirect_uri_with_a_suffix_is_not_a_match,
    an_unknown_scope_is_ignored,
    a_request_without_the_openid_scope_is_sent_back_with_invalid_scope,
    an_unsupported_response_type_is_sent_back_with_its_error,
    a_public_client_must_use_pkce,
    random_authorization_requests_never_fail_or_redirect_elsewhere,
);

async fn a_signed_in_nurse_is_sent_back_at_once_with_a_code_the_state_and_the_issuer(
    backend: Backend,
) {
    let ctx = setup(backend).await;
    let app = ctx.service().await;
    let r = authorize_as_nurse(&app, &ctx, &authorize_url(&ctx, &[])).await;
    assert_eq!(r.status(), 303);
    let loc = location(&r);
    assert!(loc.starts_with(CB), "{loc}");
    let q = query_of(&loc);
    assert_eq!(q["state"], "st-1");
    assert_eq!(q["iss"], "http://localhost:8080");
    assert!(!q["code"].is_empty());
}

async fn an_unknown_client_gets_an_error_page_never_a_redirect(backend: Backend) {
    let ctx = setup(backend).await;
    let app = ctx.service().await;
    let bad_client = authorize_url(&ctx, &[]).replace(&ctx.client_id, "nobody");
    let r = authorize_as_nurse(&app, &ctx, &bad_client).await;
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none());
}

async fn an_unregistered_redirect_uri_gets_an_error_page_never_a_redirect(backend: Backend) {
    let ctx = setup(backend).await;
    let app = ctx.service().await;
    let bad_redirect = authorize_url(&ctx, &[]).replace(
        &url::form_urlencoded::byte_serialize(CB.as_bytes()).collect::<String>(),
        "https%3A%2F%2Fevil.test%2Fcb",
    );
    let r = authorize_as_nurse(&app, &ctx, &bad_redirect).await;
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none());
    let body = String::from_utf8(read_body(r).await.to_vec()).expect("utf8");
    assert!(body.contains("adresse de retour"), "{body}");
}

async fn a_registered_redirect_uri_with_a_suffix_is_not_a_match(backend: Backend) {
    let ctx = setup(backend).await;
    let app = ctx.service().await;
    let suffixed = authorize_url(&ctx, &[]).replace("callback", "callback%2Fx");
    let r = call_service(&app, TestRequest::get().uri(&suffixed).to_request()).await;
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none());
}

async fn an_unknown_scope_is_ignored(backend: Backend) {
    let ctx = setup(backend).await;
    let app = ctx.service().await;
    let url = authorize_url(&ctx, &[]).replace("scope=openid", "scope=openid+weird");
    let r = authorize_as_nurse(&app, &ctx, &url).await;
    let code = query_of(&location(&r))["code"].clone();
    let tok = json_of(exchange(&app, &ctx, &code).await).await;
    assert!(!tok["scope"].as_str().expect("scope").contains("weird"));
}

async fn a_request_without_the_openid_scope_is_sent_back_with_invalid_scope(backend: Backend) {
    let ctx = setup(backend).await;
    let app = ctx.service().await;
    let url = authorize_url(&ctx, &[]).replace("scope=openid", "scope=");
    let r = authorize_as_nurse(&app, &ctx, &url).await;
    assert_eq!(query_of(&location(&r))["error"], "invalid_scope");
}

async fn an_unsupported_response_type_is_sent_back_with_its_error(backend: Backend) {
    let ctx = setup(backend).await;
    let app = ctx.service().await;
    let url = authorize_url(&ctx, &[]).replace("response_type=code", "response_type=token");
    let r = authorize_as_nurse(&app, &ctx, &url).await;
    assert_eq!(
        query_of(&location(&r))["error"],
        "unsupported_response_type"
    );
}

async fn a_public_client_must_use_pkce(backend: Backend) {
    let ctx = setup_with(
        backend,
        NewClient {
            public: true,
            ..NewClient::default()
        },
    )
    .await;
    let app = ctx.service().await;
    let no_pkce = authorize_url(&ctx, &[]).replace(
        &format!(
            "&code_challenge={}&code_challenge_method=S256",
            challenge(VERIFIER)
        ),
        "",
    );
    let r = authorize_as_nurse(&app, &ctx, &no_pkce).await;
    assert_eq!(query_of(&location(&r))["error"], "invalid_request");
}

/// Hostile authorization requests (random subsets of the parameters, with
/// valid, garbage or repeated values): always an error page or a redirect
/// to the registered URI or the login page — never a server error, never
/// another destination.
async fn random_authorization_requests_never_fail_or_redirect_elsewhere(backend: Backend) {
    use rand::Rng;
    let ctx = setup(backend).await;
    let app = ctx.service().await;
    let names = [
        "client_id",
        "redirect_uri",
        "response_type",
        "scope",
        "state",
        "nonce",
        "prompt",
        "max_age",
        "code_challenge",
        "code_challenge_method",
        "acr_values",
        "login_hint",
        "id_token_hint",
        "response_mode",
        "request",
        "login_after",
        "zzz",
    ];
    let ch = challenge(VERIFIER);
    let mut rng = rand::rng();
    for _ in 0..300 {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for name in names {
            if rng.random_bool(0.6) {
                let good = match name {
                    "client_id" => ctx.client_id.clone(),
                    "redirect_uri" => CB.into(),
                    "response_type" => "code".into(),
                    "scope" => "openid profile".into(),
                    "code_challenge" => ch.clone(),
                    "code_challenge_method" => "S256".into(),
                    "prompt" => {
                        ["none", "login", "consent", "none login"][rng.random_range(0..4)].into()
                    }
                    "max_age" => ["0", "60", "-1", "x"][rng.random_range(0..4)].into(),
                    _ => "v".into(),
                };
                let value = if rng.random_bool(0.8) {
                    good
                } else {
                    (0..rng.random_range(0..40))
                        .map(|_| char::from_u32(rng.random_range(1..0x2FF)).unwrap_or('x'))
                        .collect()
                };
                pairs.push((name.into(), value.clone()));
                if rng.random_bool(0.05) {
                    pairs.push((name.into(), value));
                }
            }
        }
        let q = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs.iter())
            .finish();
        let mut req = TestRequest::get().uri(&format!("/oidc/authorize?{q}"));
        if rng.random_bool(0.5) {
            req = req.insert_header(("cookie", ctx.cookie.clone()));
        }
        let r = call_service(&app, req.to_request()).await;
        let status = r.status().as_u16();
        assert!(status == 303 || status == 400, "{status} for {q}");
        if status == 303 {
            let loc = location(&r);
            assert!(
                loc.starts_with(CB) || loc.starts_with("/login?"),
                "{loc} for {q}"
            );
        }
    }
}
