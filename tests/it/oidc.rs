//! The OpenID provider through the real HTTP application: the code flow
//! with PKCE, tokens, userinfo, refresh rotation, introspection,
//! revocation, logout (RP-initiated and back-channel), key rotation and
//! private_key_jwt, and the negative cases of the OpenID Foundation's Basic
//! and Config OP test plans (see docs/oidc.md for the mapping).

use crate::support::http::{basic, form, json_of, location, query_of};
use crate::support::{TestApp, on_both_backends};
use actix_web::test::{TestRequest, call_service, read_body};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clavis_core::{Clock, Oid};
use clavis_oidc::clients::NewClient;
use clavis_testkit::db::{Backend, TestDb};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const CB: &str = "https://dpi.chu.test/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mJ92ZZ1ll1-1oR4qZ8xyvN1mjr4vmT0xc9k4x4w7A";

struct Ctx {
    t: TestDb,
    clock: clavis_core::FixedClock,
    st: clavis_web::AppState,
    oid: Oid,
    cookie: String,
    session_id: String,
    client_id: String,
    secret: String,
}

fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

async fn setup(backend: Backend) -> Ctx {
    setup_with(backend, NewClient::default()).await
}

/// A nurse with RPPS, email, profession and login; an SSO session; a
/// confidential client (`client` fields override the defaults).
async fn setup_with(backend: Backend, client: NewClient) -> Ctx {
    let app = TestApp::on(backend)
        .with_nurse()
        .with_session()
        .with_client(client)
        .start()
        .await;
    let (oid, session, client) = (app.nurse().oid, app.session().clone(), app.client().clone());
    Ctx {
        t: app.t,
        clock: app.clock,
        st: app.state,
        oid,
        cookie: session.cookie,
        session_id: session.id,
        client_id: client.id,
        secret: client.secret,
    }
}

on_both_backends!(
    discovery_and_jwks_describe_the_provider,
    code_flow_with_pkce_gives_a_signed_id_token_userinfo_and_rotating_refresh,
    a_replayed_code_is_refused_and_revokes_what_the_first_use_issued,
    token_endpoint_refuses_bad_verifiers_expired_codes_wrong_redirects_and_wrong_secrets,
    bad_clients_and_redirect_uris_get_an_error_page_never_a_redirect,
    prompt_none_without_a_session_answers_login_required_and_unknown_scopes_are_ignored,
    a_public_client_must_use_pkce_and_a_weak_session_steps_up,
    max_age_and_prompt_login_send_an_old_session_back_to_login_once,
    introspection_and_revocation_follow_rfc_7662_and_7009,
    logout_with_id_token_hint_ends_the_session_and_back_channel_tells_the_client,
    a_failed_back_channel_delivery_is_retried_later_and_audited,
    rotated_keys_stay_published_and_new_tokens_use_the_new_key,
    private_key_jwt_clients_authenticate_with_a_signed_assertion,
    the_admin_api_registers_lists_rotates_and_removes_applications,
    random_authorization_requests_never_fail_or_redirect_elsewhere,
);

macro_rules! app {
    ($ctx:expr) => {
        actix_web::test::init_service(clavis_web::build_app($ctx.st.clone())).await
    };
}

fn authorize_url(ctx: &Ctx, extra: &[(&str, &str)]) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("client_id", &ctx.client_id)
        .append_pair("redirect_uri", CB)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid profile email rpps roles")
        .append_pair("state", "st-1")
        .append_pair("nonce", "n-1")
        .append_pair("code_challenge", &challenge(VERIFIER))
        .append_pair("code_challenge_method", "S256");
    for (k, v) in extra {
        q.append_pair(k, v);
    }
    format!("/oidc/authorize?{}", q.finish())
}

fn token_req(ctx: &Ctx, pairs: &[(&str, &str)]) -> actix_web::test::TestRequest {
    TestRequest::post()
        .uri("/oidc/token")
        .insert_header(("authorization", basic(&ctx.client_id, &ctx.secret)))
        .insert_header(("content-type", "application/x-www-form-urlencoded"))
        .set_payload(form(pairs))
}

fn claims_of(token: &str) -> Value {
    clavis_oidc::jws::parse(token).expect("jws").claims
}

async fn discovery_and_jwks_describe_the_provider(backend: Backend) {
    let ctx = setup(backend).await;
    let app = app!(ctx);
    let d = json_of(
        call_service(
            &app,
            TestRequest::get()
                .uri("/.well-known/openid-configuration")
                .to_request(),
        )
        .await,
    )
    .await;
    insta::assert_json_snapshot!("discovery", d);
    let jwks =
        json_of(call_service(&app, TestRequest::get().uri("/oidc/jwks").to_request()).await).await;
    let keys = jwks["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 2, "one RS256 and one ES256 key");
    for k in keys {
        assert!(
            k.get("d").is_none() && k.get("p").is_none(),
            "no private part is published: {k}"
        );
    }
}

async fn code_flow_with_pkce_gives_a_signed_id_token_userinfo_and_rotating_refresh(
    backend: Backend,
) {
    let ctx = setup(backend).await;
    let app = app!(ctx);
    // Authorize: the session answers at once.
    let r = call_service(
        &app,
        TestRequest::get()
            .uri(&authorize_url(&ctx, &[]))
            .insert_header(("cookie", ctx.cookie.clone()))
            .to_request(),
    )
    .await;
    assert_eq!(r.status(), 303);
    let loc = location(&r);
    assert!(loc.starts_with(CB), "{loc}");
    let q = query_of(&loc);
    assert_eq!(q["state"], "st-1");
    assert_eq!(q["iss"], "http://localhost:8080");
    let code = q["code"].clone();
    // Token.
    let r = call_service(
        &app,
        token_req(
            &ctx,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CB),
                ("code_verifier", VERIFIER),
            ],
        )
        .to_request(),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()
            .get("cache-control")
            .and_then(|h| h.to_str().ok()),
        Some("no-store")
    );
    let tok = json_of(r).await;
    assert_eq!(tok["token_type"], "Bearer");
    // The ID token verifies against the published JWKS.
    let jwks = ctx.st.oidc.keys().jwks();
    let parsed = clavis_oidc::jws::parse(tok["id_token"].as_str().expect("id_token")).expect("jws");
    clavis_oidc::jws::verify_with_set(&parsed, &jwks).expect("signature");
    assert_eq!(parsed.alg(), "RS256");
    let c = &parsed.claims;
    assert_eq!(c["sub"], json!(ctx.oid));
    assert_eq!(c["aud"], json!(ctx.client_id));
    assert_eq!(c["nonce"], "n-1", "nonce echoed");
    assert_eq!(c["sid"], json!(ctx.session_id));
    assert_eq!(
        c["at_hash"],
        json!(
            URL_SAFE_NO_PAD.encode(
                &Sha256::digest(tok["access_token"].as_str().expect("at").as_bytes())[..16]
            )
        )
    );
    let mut redacted = c.clone();
    for k in ["sub", "aud", "azp", "sid", "at_hash"] {
        redacted[k] = json!(format!("[{k}]"));
    }
    insta::assert_json_snapshot!("id_token_claims", redacted);
    // Userinfo.
    let at = tok["access_token"].as_str().expect("at").to_string();
    let info = json_of(
        call_service(
            &app,
            TestRequest::get()
                .uri("/oidc/userinfo")
                .insert_header(("authorization", format!("Bearer {at}")))
                .to_request(),
        )
        .await,
    )
    .await;
    assert_eq!(info["sub"], json!(ctx.oid));
    assert_eq!(info["SubjectNameID"], "810003489281");
    assert_eq!(info["preferred_username"], "clemoine");
    assert_eq!(
        info["professions"],
        json!([{"code": "60", "label": "Infirmier"}])
    );
    assert_eq!(info["roles"], json!(["ide"]));
    // Refresh: rotated; the old refresh token then fails and kills the grant.
    let rt1 = tok["refresh_token"].as_str().expect("rt").to_string();
    let r = call_service(
        &app,
        token_req(
            &ctx,
            &[("grant_type", "refresh_token"), ("refresh_token", &rt1)],
        )
        .to_request(),
    )
    .await;
    assert_eq!(r.status(), 200);
    let tok2 = json_of(r).await;
    let rt2 = tok2["refresh_token"].as_str().expect("rt2").to_string();
    assert_ne!(rt1, rt2);
    let r = call_service(
        &app,
        token_req(
            &ctx,
            &[("grant_type", "refresh_token"), ("refresh_token", &rt1)],
        )
        .to_request(),
    )
    .await;
    assert_eq!(r.status(), 400);
    assert_eq!(json_of(r).await["error"], "invalid_grant");
    // Reuse revoked the grant: the new refresh token and access token die too.
    let r = call_service(
        &app,
        token_req(
            &ctx,
            &[("grant_type", "refresh_token"), ("refresh_token", &rt2)],
        )
        .to_request(),
    )
    .await;
    assert_eq!(json_of(r).await["error"], "invalid_grant");
    let at2 = tok2["access_token"].as_str().expect("at2");
    let r = call_service(
        &app,
        TestRequest::get()
            .uri("/oidc/userinfo")
            .insert_header(("authorization", format!("Bearer {at2}")))
            .to_request(),
    )
    .await;
    assert_eq!(r.status(), 401);
    let mut conn = ctx.t.db.conn().await.expect("conn");
    let audit = clavis_store::models::AuditEventRow::page(&mut conn, 0, 200)
        .await
        .expect("audit");
    assert!(audit.iter().any(|a| a.action == "oidc.refresh.reused"));
    assert!(audit.iter().any(|a| a.action == "oidc.authorized"));
}

async fn a_replayed_code_is_refused_and_revokes_what_the_first_use_issued(backend: Backend) {
    let ctx = setup(backend).await;
    let app = app!(ctx);
    let r = call_service(
        &app,
        TestRequest::get()
            .uri(&authorize_url(&ctx, &[]))
            .insert_header(("cookie", ctx.cookie.clone()))
            .to_request(),
    )
    .await;
    let code = query_of(&location(&r))["code"].clone();
    let pairs = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", CB),
        ("code_verifier", VERIFIER),
    ];
    let first = json_of(call_service(&app, token_req(&ctx, &pairs).to_request()).await).await;
    let at = first["access_token"].as_str().expect("at").to_string();
    let r = call_service(&app, token_req(&ctx, &pairs).to_request()).await;
    assert_eq!(r.status(), 400);
    assert_eq!(json_of(r).await["error"], "invalid_grant");
    let r = call_service(
        &app,
        TestRequest::get()
            .uri("/oidc/userinfo")
            .insert_header(("authorization", format!("Bearer {at}")))
            .to_request(),
    )
    .await;
    assert_eq!(
        r.status(),
        401,
        "the first exchange's access token is revoked"
    );
    let r = call_service(
        &app,
        token_req(
            &ctx,
            &[
                ("grant_type", "refresh_token"),
                (
                    "refresh_token",
                    first["refresh_token"].as_str().expect("rt"),
                ),
            ],
        )
        .to_request(),
    )
    .await;
    assert_eq!(json_of(r).await["error"], "invalid_grant");
}

async fn token_endpoint_refuses_bad_verifiers_expired_codes_wrong_redirects_and_wrong_secrets(
    backend: Backend,
) {
    let ctx = setup(backend).await;
    let app = app!(ctx);
    let get_code = async || {
        let r = call_service(
            &app,
            TestRequest::get()
                .uri(&authorize_url(&ctx, &[]))
                .insert_header(("cookie", ctx.cookie.clone()))
                .to_request(),
        )
        .await;
        query_of(&location(&r))["code"].clone()
    };
    // Wrong PKCE verifier, missing verifier.
    let c = get_code().await;
    let r = call_service(
        &app,
        token_req(
            &ctx,
            &[
                ("grant_type", "authorization_code"),
                ("code", &c),
                ("redirect_uri", CB),
                ("code_verifier", "x".repeat(43).as_str()),
            ],
        )
        .to_request(),
    )
    .await;
    assert_eq!(json_of(r).await["error"], "invalid_grant");
    let c = get_code().await;
    let r = call_service(
        &app,
        token_req(
            &ctx,
            &[
                ("grant_type", "authorization_code"),
                ("code", &c),
                ("redirect_uri", CB),
            ],
        )
        .to_request(),
    )
    .await;
    assert_eq!(json_of(r).await["error"], "invalid_grant");
    // Another redirect_uri than the authorization's.
    let c = get_code().await;
    let r = call_service(
        &app,
        token_req(
            &ctx,
            &[
                ("grant_type", "authorization_code"),
                ("code", &c),
                ("redirect_uri", "https://dpi.chu.test/other"),
                ("code_verifier", VERIFIER),
            ],
        )
        .to_request(),
    )
    .await;
    assert_eq!(json_of(r).await["error"], "invalid_grant");
    // Expired code (61 s later).
    let c = get_code().await;
    ctx.clock.advance(chrono::Duration::seconds(61));
    let r = call_service(
        &app,
        token_req(
            &ctx,
            &[
                ("grant_type", "authorization_code"),
                ("code", &c),
                ("redirect_uri", CB),
                ("code_verifier", VERIFIER),
            ],
        )
        .to_request(),
    )
    .await;
    assert_eq!(json_of(r).await["error"], "invalid_grant");
    // Wrong secret: 401 invalid_client, with a Basic challenge.
    let c = get_code().await;
    let r = call_service(
        &app,
        TestRequest::post()
            .uri("/oidc/token")
            .insert_header(("authorization", basic(&ctx.client_id, "not-the-secret")))
            .insert_header(("content-type", "application/x-www-form-urlencoded"))
            .set_payload(form(&[
                ("grant_type", "authorization_code"),
                ("code", &c),
                ("redirect_uri", CB),
                ("code_verifier", VERIFIER),
            ]))
            .to_request(),
    )
    .await;
    assert_eq!(r.status(), 401);
    assert!(r.headers().contains_key("www-authenticate"));
    assert_eq!(json_of(r).await["error"], "invalid_client");
    // A client registered for basic cannot switch to post.
    let r = call_service(
        &app,
        TestRequest::post()
            .uri("/oidc/token")
            .insert_header(("content-type", "application/x-www-form-urlencoded"))
            .set_payload(form(&[
                ("grant_type", "authorization_code"),
                ("code", &c),
                ("redirect_uri", CB),
                ("code_verifier", VERIFIER),
                ("client_id", &ctx.client_id),
                ("client_secret", &ctx.secret),
            ]))
            .to_request(),
    )
    .await;
    assert_eq!(json_of(r).await["error"], "invalid_client");
    // Unknown grant type.
    let r = call_service(
        &app,
        token_req(&ctx, &[("grant_type", "password")]).to_request(),
    )
    .await;
    assert_eq!(json_of(r).await["error"], "unsupported_grant_type");
}

async fn bad_clients_and_redirect_uris_get_an_error_page_never_a_redirect(backend: Backend) {
    let ctx = setup(backend).await;
    let app = app!(ctx);
    let mut bad_client = authorize_url(&ctx, &[]);
    bad_client = bad_client.replace(&ctx.client_id, "nobody");
    let r = call_service(
        &app,
        TestRequest::get()
            .uri(&bad_client)
            .insert_header(("cookie", ctx.cookie.clone()))
            .to_request(),
    )
    .await;
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none());
    let bad_redirect = authorize_url(&ctx, &[]).replace(
        &url::form_urlencoded::byte_serialize(CB.as_bytes()).collect::<String>(),
        "https%3A%2F%2Fevil.test%2Fcb",
    );
    let r = call_service(
        &app,
        TestRequest::get()
            .uri(&bad_redirect)
            .insert_header(("cookie", ctx.cookie.clone()))
            .to_request(),
    )
    .await;
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none());
    let body = String::from_utf8(read_body(r).await.to_vec()).expect("utf8");
    assert!(body.contains("adresse de retour"), "{body}");
    // A registered URI plus a suffix is not a match.
    let suffixed = authorize_url(&ctx, &[]).replace("callback", "callback%2Fx");
    let r = call_service(&app, TestRequest::get().uri(&suffixed).to_request()).await;
    assert_eq!(r.status(), 400);
}

async fn prompt_none_without_a_session_answers_login_required_and_unknown_scopes_are_ignored(
    backend: Backend,
) {
    let ctx = setup(backend).await;
    let app = app!(ctx);
    let r = call_service(
        &app,
        TestRequest::get()
            .uri(&authorize_url(&ctx, &[("prompt", "none")]))
            .to_request(),
    )
    .await;
    assert_eq!(r.status(), 303);
    let q = query_of(&location(&r));
    assert_eq!(q["error"], "login_required");
    assert_eq!(q["state"], "st-1");
    // Without prompt=none, no session: to the login page and back.
    let r = call_service(
        &app,
        TestRequest::get()
            .uri(&authorize_url(&ctx, &[]))
            .to_request(),
    )
    .await;
    let loc = location(&r);
    assert!(
        loc.starts_with("/login?return_to=%2Foidc%2Fauthorize%3F"),
        "{loc}"
    );
    // Unknown scope: ignored, not an error.
    let url = authorize_url(&ctx, &[]).replace("scope=openid", "scope=openid+weird");
    let r = call_service(
        &app,
        TestRequest::get()
            .uri(&url)
            .insert_header(("cookie", ctx.cookie.clone()))
            .to_request(),
    )
    .await;
    let code = query_of(&location(&r))["code"].clone();
    let tok = json_of(
        call_service(
            &app,
            token_req(
                &ctx,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", CB),
                    ("code_verifier", VERIFIER),
                ],
            )
            .to_request(),
        )
        .await,
    )
    .await;
    assert!(!tok["scope"].as_str().expect("scope").contains("weird"));
    // Missing openid scope, unsupported response_type: redirected errors.
    let url = authorize_url(&ctx, &[]).replace("scope=openid", "scope=");
    let r = call_service(
        &app,
        TestRequest::get()
            .uri(&url)
            .insert_header(("cookie", ctx.cookie.clone()))
            .to_request(),
    )
    .await;
    assert_eq!(query_of(&location(&r))["error"], "invalid_scope");
    let url = authorize_url(&ctx, &[]).replace("response_type=code", "response_type=token");
    let r = call_service(
        &app,
        TestRequest::get()
            .uri(&url)
            .insert_header(("cookie", ctx.cookie.clone()))
            .to_request(),
    )
    .await;
    assert_eq!(
        query_of(&location(&r))["error"],
        "unsupported_response_type"
    );
}

async fn a_public_client_must_use_pkce_and_a_weak_session_steps_up(backend: Backend) {
    let ctx = setup_with(
        backend,
        NewClient {
            public: true,
            require_acr: Some("eidas3".into()),
            ..NewClient::default()
        },
    )
    .await;
    let app = app!(ctx);
    let no_pkce = authorize_url(&ctx, &[]).replace(
        &format!(
            "&code_challenge={}&code_challenge_method=S256",
            challenge(VERIFIER)
        ),
        "",
    );
    let r = call_service(
        &app,
        TestRequest::get()
            .uri(&no_pkce)
            .insert_header(("cookie", ctx.cookie.clone()))
            .to_request(),
    )
    .await;
    assert_eq!(query_of(&location(&r))["error"], "invalid_request");
    // eidas2 session, client requires eidas3: re-authenticate, not a code.
    let r = call_service(
        &app,
        TestRequest::get()
            .uri(&authorize_url(&ctx, &[]))
            .insert_header(("cookie", ctx.cookie.clone()))
            .to_request(),
    )
    .await;
    let loc = location(&r);
    assert!(loc.starts_with("/login?"), "{loc}");
    assert!(
        loc.contains("acr=eidas3") && loc.contains("reauth=1"),
        "{loc}"
    );
}

async fn max_age_and_prompt_login_send_an_old_session_back_to_login_once(backend: Backend) {
    let ctx = setup(backend).await;
    let app = app!(ctx);
    ctx.clock.advance(chrono::Duration::seconds(600));
    let r = call_service(
        &app,
        TestRequest::get()
            .uri(&authorize_url(&ctx, &[("max_age", "300")]))
            .insert_header(("cookie", ctx.cookie.clone()))
            .to_request(),
    )
    .await;
    let loc = location(&r);
    assert!(loc.starts_with("/login?"), "{loc}");
    let back = query_of(&format!("http://x{loc}"))["return_to"].clone();
    assert!(back.contains("login_after="), "{back}");
    // prompt=login is dropped from the way back (no loop) but login_after stays.
    let r = call_service(
        &app,
        TestRequest::get()
            .uri(&authorize_url(&ctx, &[("prompt", "login")]))
            .insert_header(("cookie", ctx.cookie.clone()))
            .to_request(),
    )
    .await;
    let back = query_of(&format!("http://x{}", location(&r)))["return_to"].clone();
    assert!(
        !back.contains("prompt=login") && back.contains("login_after="),
        "{back}"
    );
    // The old session coming back to that URL is still not enough.
    let r = call_service(
        &app,
        TestRequest::get()
            .uri(&back)
            .insert_header(("cookie", ctx.cookie.clone()))
            .to_request(),
    )
    .await;
    assert!(location(&r).starts_with("/login?"));
}

async fn introspection_and_revocation_follow_rfc_7662_and_7009(backend: Backend) {
    let ctx = setup(backend).await;
    let app = app!(ctx);
    let r = call_service(
        &app,
        TestRequest::get()
            .uri(&authorize_url(&ctx, &[]))
            .insert_header(("cookie", ctx.cookie.clone()))
            .to_request(),
    )
    .await;
    let code = query_of(&location(&r))["code"].clone();
    let tok = json_of(
        call_service(
            &app,
            token_req(
                &ctx,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", CB),
                    ("code_verifier", VERIFIER),
                ],
            )
            .to_request(),
        )
        .await,
    )
    .await;
    let at = tok["access_token"].as_str().expect("at");
    let intro = |t: &str| {
        TestRequest::post()
            .uri("/oidc/introspect")
            .insert_header(("authorization", basic(&ctx.client_id, &ctx.secret)))
            .insert_header(("content-type", "application/x-www-form-urlencoded"))
            .set_payload(form(&[("token", t)]))
            .to_request()
    };
    let v = json_of(call_service(&app, intro(at)).await).await;
    assert_eq!(v["active"], true);
    assert_eq!(v["sub"], json!(ctx.oid));
    assert_eq!(
        json_of(call_service(&app, intro("garbage")).await).await,
        json!({"active": false})
    );
    let r = call_service(
        &app,
        TestRequest::post()
            .uri("/oidc/revoke")
            .insert_header(("authorization", basic(&ctx.client_id, &ctx.secret)))
            .insert_header(("content-type", "application/x-www-form-urlencoded"))
            .set_payload(form(&[(
                "token",
                tok["refresh_token"].as_str().expect("rt"),
            )]))
            .to_request(),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        json_of(call_service(&app, intro(at)).await).await["active"],
        false,
        "revoking the refresh token ends the grant"
    );
}

/// A one-request HTTP endpoint that records the body it receives.
async fn backchannel_receiver(status: u16) -> (String, tokio::sync::oneshot::Receiver<String>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.expect("accept");
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = s.read(&mut chunk).await.expect("read");
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf).to_string();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let len: usize = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse().unwrap_or(0))
                    })
                    .unwrap_or(0);
                if body.len() >= len {
                    let _ = s.write_all(format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").as_bytes()).await;
                    let _ = tx.send(body.to_string());
                    break;
                }
            }
            if n == 0 {
                break;
            }
        }
    });
    (format!("http://127.0.0.1:{}/bc", addr.port()), rx)
}

async fn logout_with_id_token_hint_ends_the_session_and_back_channel_tells_the_client(
    backend: Backend,
) {
    let (uri, got) = backchannel_receiver(200).await;
    let ctx = setup_with(
        backend,
        NewClient {
            backchannel_logout_uri: Some(uri),
            ..NewClient::default()
        },
    )
    .await;
    let app = app!(ctx);
    let r = call_service(
        &app,
        TestRequest::get()
            .uri(&authorize_url(&ctx, &[]))
            .insert_header(("cookie", ctx.cookie.clone()))
            .to_request(),
    )
    .await;
    let code = query_of(&location(&r))["code"].clone();
    let tok = json_of(
        call_service(
            &app,
            token_req(
                &ctx,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", CB),
                    ("code_verifier", VERIFIER),
                ],
            )
            .to_request(),
        )
        .await,
    )
    .await;
    let id_token = tok["id_token"].as_str().expect("id").to_string();
    // An unregistered post-logout URI: error page, session untouched.
    let q = form(&[
        ("id_token_hint", &id_token),
        ("post_logout_redirect_uri", "https://evil.test/"),
    ]);
    let r = call_service(
        &app,
        TestRequest::get()
            .uri(&format!("/oidc/logout?{q}"))
            .insert_header(("cookie", ctx.cookie.clone()))
            .to_request(),
    )
    .await;
    assert_eq!(r.status(), 400);
    // The registered one: the session ends, back to the client with state.
    let q = form(&[
        ("id_token_hint", &id_token),
        ("post_logout_redirect_uri", "https://dpi.chu.test/bye"),
        ("state", "s2"),
    ]);
    let r = call_service(
        &app,
        TestRequest::get()
            .uri(&format!("/oidc/logout?{q}"))
            .insert_header(("cookie", ctx.cookie.clone()))
            .to_request(),
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "https://dpi.chu.test/bye?state=s2");
    let mut conn = ctx.t.db.conn().await.expect("conn");
    let s = clavis_store::models::SsoSessionRow::find(&mut conn, &ctx.session_id)
        .await
        .expect("find")
        .expect("row");
    assert_eq!(s.end_reason.map(|r| r.as_str()), Some("logout"));
    // The refresh token died with the session.
    let r = call_service(
        &app,
        token_req(
            &ctx,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", tok["refresh_token"].as_str().expect("rt")),
            ],
        )
        .to_request(),
    )
    .await;
    assert_eq!(json_of(r).await["error"], "invalid_grant");
    // Back-channel: one notification, delivered, signed, with sid and the event.
    let http = reqwest::Client::new();
    let n = clavis_oidc::backchannel::deliver_due(&ctx.st.oidc, &ctx.t.db, &http, ctx.clock.now())
        .await
        .expect("deliver");
    assert_eq!(n, 1);
    let body = got.await.expect("received");
    let token = url::form_urlencoded::parse(body.as_bytes())
        .find(|(k, _)| k == "logout_token")
        .expect("logout_token")
        .1
        .into_owned();
    let parsed = clavis_oidc::jws::parse(&token).expect("jws");
    clavis_oidc::jws::verify_with_set(&parsed, &ctx.st.oidc.keys().jwks()).expect("signed");
    assert_eq!(parsed.header["typ"], "logout+jwt");
    let c = claims_of(&token);
    assert_eq!(c["sid"], json!(ctx.session_id));
    assert_eq!(c["sub"], json!(ctx.oid));
    assert!(c["events"].get(clavis_oidc::backchannel::EVENT).is_some());
    assert!(c.get("nonce").is_none());
    let rows = clavis_store::models::LogoutOutboxRow::for_session(&mut conn, &ctx.session_id)
        .await
        .expect("outbox");
    assert!(rows[0].delivered_at.is_some());
}

async fn a_failed_back_channel_delivery_is_retried_later_and_audited(backend: Backend) {
    let (uri, got) = backchannel_receiver(500).await;
    let ctx = setup_with(
        backend,
        NewClient {
            backchannel_logout_uri: Some(uri),
            ..NewClient::default()
        },
    )
    .await;
    let app = app!(ctx);
    call_service(
        &app,
        TestRequest::get()
            .uri(&authorize_url(&ctx, &[]))
            .insert_header(("cookie", ctx.cookie.clone()))
            .to_request(),
    )
    .await;
    // An operator revokes the session (any end counts, not only logout).
    let mut conn = ctx.t.db.conn().await.expect("conn");
    conn.transaction(async |tx| {
        clavis_sso::end(
            tx,
            ctx.clock.now(),
            &ctx.session_id,
            clavis_core::SessionEndReason::Revoked,
            "it",
        )
        .await
    })
    .await
    .expect("end");
    let http = reqwest::Client::new();
    let n = clavis_oidc::backchannel::deliver_due(&ctx.st.oidc, &ctx.t.db, &http, ctx.clock.now())
        .await
        .expect("deliver");
    assert_eq!(n, 0);
    got.await.expect("the client was called");
    let rows = clavis_store::models::LogoutOutboxRow::for_session(&mut conn, &ctx.session_id)
        .await
        .expect("outbox");
    assert_eq!(rows[0].attempts, 1);
    assert_eq!(rows[0].last_error.as_deref(), Some("HTTP 500"));
    assert!(rows[0].next_attempt_at > ctx.clock.now().timestamp());
    // Not due yet: nothing is sent.
    assert_eq!(
        clavis_oidc::backchannel::deliver_due(&ctx.st.oidc, &ctx.t.db, &http, ctx.clock.now())
            .await
            .expect("deliver"),
        0
    );
    let audit = clavis_store::models::AuditEventRow::page(&mut conn, 0, 200)
        .await
        .expect("audit");
    assert!(audit.iter().any(|a| a.action == "oidc.backchannel.failed"));
}

async fn rotated_keys_stay_published_and_new_tokens_use_the_new_key(backend: Backend) {
    let ctx = setup(backend).await;
    let old = ctx
        .st
        .oidc
        .keys()
        .current(clavis_oidc::keys::Alg::Rs256)
        .expect("key")
        .kid
        .clone();
    let mut conn = ctx.t.db.conn().await.expect("conn");
    let new = ctx
        .st
        .oidc
        .rotate(
            &mut conn,
            clavis_oidc::keys::Alg::Rs256,
            ctx.clock.now().timestamp(),
            "it",
        )
        .await
        .expect("rotate");
    assert_ne!(old, new);
    let jwks = ctx.st.oidc.keys().jwks();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .filter_map(|k| k["kid"].as_str())
        .collect();
    assert!(kids.contains(&old.as_str()) && kids.contains(&new.as_str()));
    let app = app!(ctx);
    let r = call_service(
        &app,
        TestRequest::get()
            .uri(&authorize_url(&ctx, &[]))
            .insert_header(("cookie", ctx.cookie.clone()))
            .to_request(),
    )
    .await;
    let code = query_of(&location(&r))["code"].clone();
    let tok = json_of(
        call_service(
            &app,
            token_req(
                &ctx,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", CB),
                    ("code_verifier", VERIFIER),
                ],
            )
            .to_request(),
        )
        .await,
    )
    .await;
    let parsed = clavis_oidc::jws::parse(tok["id_token"].as_str().expect("id")).expect("jws");
    assert_eq!(parsed.kid(), Some(new.as_str()));
    // Once the ID token lifetime has passed, the retired key leaves the JWKS.
    ctx.st
        .oidc
        .reload_keys(&mut conn, ctx.clock.now().timestamp() + 601)
        .await
        .expect("reload");
    let jwks = ctx.st.oidc.keys().jwks();
    assert!(!jwks.to_string().contains(&old));
}

async fn private_key_jwt_clients_authenticate_with_a_signed_assertion(backend: Backend) {
    use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).expect("gen");
    let kp = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
        .expect("kp");
    let pt = kp.public_key().as_ref();
    let jwk = json!({"kty": "EC", "crv": "P-256", "kid": "rp-1", "x": URL_SAFE_NO_PAD.encode(&pt[1..33]), "y": URL_SAFE_NO_PAD.encode(&pt[33..65])});
    let mut ctx = setup_with(
        backend,
        NewClient {
            auth_method: Some("private_key_jwt".into()),
            jwks: Some(json!({"keys": [jwk]})),
            ..NewClient::default()
        },
    )
    .await;
    ctx.secret.clear();
    let app = app!(ctx);
    let assertion = |aud: &str| {
        let now = ctx.clock.now().timestamp();
        clavis_oidc::jws::encode(
            &json!({"alg": "ES256", "kid": "rp-1"}),
            &json!({"iss": ctx.client_id, "sub": ctx.client_id, "aud": aud, "exp": now + 60, "iat": now, "jti": "j1"}),
            |input| kp.sign(&rng, input).expect("sign").as_ref().to_vec(),
        )
    };
    let r = call_service(
        &app,
        TestRequest::get()
            .uri(&authorize_url(&ctx, &[]))
            .insert_header(("cookie", ctx.cookie.clone()))
            .to_request(),
    )
    .await;
    let code = query_of(&location(&r))["code"].clone();
    let post = |a: String| {
        TestRequest::post()
            .uri("/oidc/token")
            .insert_header(("content-type", "application/x-www-form-urlencoded"))
            .set_payload(form(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CB),
                ("code_verifier", VERIFIER),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", &a),
            ]))
            .to_request()
    };
    let r = call_service(&app, post(assertion("https://elsewhere.test/token"))).await;
    assert_eq!(
        json_of(r).await["error"],
        "invalid_client",
        "wrong audience"
    );
    let good = assertion("http://localhost:8080/oidc/token");
    let r = call_service(&app, post(good.clone())).await;
    assert_eq!(r.status(), 200);
    // The same assertion again, with a fresh code: refused (each assertion
    // once, OpenID Connect Core §9) and audited; the code stays usable.
    let r = call_service(
        &app,
        TestRequest::get()
            .uri(&authorize_url(&ctx, &[]))
            .insert_header(("cookie", ctx.cookie.clone()))
            .to_request(),
    )
    .await;
    let code2 = query_of(&location(&r))["code"].clone();
    let post2 = |a: String| {
        TestRequest::post()
            .uri("/oidc/token")
            .insert_header(("content-type", "application/x-www-form-urlencoded"))
            .set_payload(form(&[
                ("grant_type", "authorization_code"),
                ("code", &code2),
                ("redirect_uri", CB),
                ("code_verifier", VERIFIER),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", &a),
            ]))
            .to_request()
    };
    let r = call_service(&app, post2(good)).await;
    assert_eq!(r.status(), 401);
    assert_eq!(
        json_of(r).await["error"],
        "invalid_client",
        "replayed assertion"
    );
    let mut conn = ctx.t.db.conn().await.expect("conn");
    let audit = clavis_store::models::AuditEventRow::page(&mut conn, 0, 500)
        .await
        .expect("audit");
    assert!(
        audit
            .iter()
            .any(|a| a.action == "oidc.client_assertion.replayed" && a.changes.contains("j1"))
    );
    drop(conn);
    // A new assertion (another jti) redeems the code.
    let now = ctx.clock.now().timestamp();
    let fresh = clavis_oidc::jws::encode(
        &json!({"alg": "ES256", "kid": "rp-1"}),
        &json!({"iss": ctx.client_id, "sub": ctx.client_id, "aud": "http://localhost:8080/oidc/token", "exp": now + 60, "iat": now, "jti": "j2"}),
        |input| kp.sign(&rng, input).expect("sign").as_ref().to_vec(),
    );
    let r = call_service(&app, post2(fresh)).await;
    assert_eq!(r.status(), 200);
}

async fn the_admin_api_registers_lists_rotates_and_removes_applications(backend: Backend) {
    let ctx = setup(backend).await;
    let mut conn = ctx.t.db.conn().await.expect("conn");
    let token = clavis_web::tokens::create(&mut conn, "dsi", "it", ctx.clock.now())
        .await
        .expect("token");
    let auth = ("authorization", format!("Bearer {}", token.expose()));
    let app = app!(ctx);
    // A bad redirect URI is refused with the field named.
    let r = call_service(
        &app,
        TestRequest::post()
            .uri("/admin/api/clients")
            .insert_header(auth.clone())
            .set_json(json!({"name": "DUI", "redirect_uris": ["http://dui.chu.test/cb"]}))
            .to_request(),
    )
    .await;
    assert_eq!(r.status(), 400);
    assert!(json_of(r).await.to_string().contains("redirect_uri"));
    // An assurance level the hospital does not configure is refused, by
    // the same rule the CLI meets (clients::register).
    let r = call_service(
        &app,
        TestRequest::post()
            .uri("/admin/api/clients")
            .insert_header(auth.clone())
            .set_json(json!({"name": "DUI", "redirect_uris": ["https://dui.chu.test/cb"], "require_acr": "eidas9"}))
            .to_request(),
    )
    .await;
    assert_eq!(r.status(), 400);
    assert!(json_of(r).await.to_string().contains("require_acr"));
    let r = call_service(
        &app,
        TestRequest::post()
            .uri("/admin/api/clients")
            .insert_header(auth.clone())
            .set_json(json!({"name": "DUI", "redirect_uris": ["https://dui.chu.test/cb"], "require_acr": "eidas2"}))
            .to_request(),
    )
    .await;
    assert_eq!(r.status(), 201);
    let c = json_of(r).await;
    let id = c["client_id"].as_str().expect("id").to_string();
    let secret = c["client_secret"].as_str().expect("secret").to_string();
    assert_eq!(
        URL_SAFE_NO_PAD.decode(&secret).expect("b64").len(),
        32,
        "256-bit secret"
    );
    let list = json_of(
        call_service(
            &app,
            TestRequest::get()
                .uri("/admin/api/clients")
                .insert_header(auth.clone())
                .to_request(),
        )
        .await,
    )
    .await;
    assert_eq!(list.as_array().expect("list").len(), 2);
    assert!(
        !list.to_string().contains(&secret),
        "secrets are never listed"
    );
    let r = call_service(
        &app,
        TestRequest::post()
            .uri(&format!("/admin/api/clients/{id}/rotate-secret"))
            .insert_header(auth.clone())
            .to_request(),
    )
    .await;
    let new_secret = json_of(r).await["client_secret"]
        .as_str()
        .expect("s")
        .to_string();
    assert_ne!(new_secret, secret);
    let r = call_service(
        &app,
        TestRequest::delete()
            .uri(&format!("/admin/api/clients/{id}"))
            .insert_header(auth.clone())
            .to_request(),
    )
    .await;
    assert_eq!(r.status(), 204);
    let r = call_service(
        &app,
        TestRequest::get()
            .uri(&format!("/admin/api/clients/{id}"))
            .insert_header(auth.clone())
            .to_request(),
    )
    .await;
    assert_eq!(r.status(), 404);
    // Without a token: 401.
    let r = call_service(
        &app,
        TestRequest::get().uri("/admin/api/clients").to_request(),
    )
    .await;
    assert_eq!(r.status(), 401);
    let audit = clavis_store::models::AuditEventRow::page(&mut conn, 0, 200)
        .await
        .expect("audit");
    for a in [
        "oidc.client.added",
        "oidc.client.secret_rotated",
        "oidc.client.removed",
    ] {
        assert!(audit.iter().any(|e| e.action == a), "{a} audited");
    }
}

/// Hostile authorization requests (random subsets of the parameters, with
/// valid, garbage or repeated values): always an error page or a redirect
/// to the registered URI or the login page — never a server error, never
/// another destination.
async fn random_authorization_requests_never_fail_or_redirect_elsewhere(backend: Backend) {
    use rand::Rng;
    let ctx = setup(backend).await;
    let app = app!(ctx);
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
