//! The OpenID provider through the real HTTP application, one file per
//! endpoint or use case: discovery and JWKS, the authorization endpoint,
//! the token endpoint (code exchange, client authentication, refresh),
//! userinfo, introspection and revocation, logout (RP-initiated and
//! back-channel) and what back-channel delivery guarantees, key rotation,
//! and the admin API's applications. The negative cases follow the OpenID Foundation's Basic and Config OP test
//! plans (see docs/oidc.md for the mapping).
//!
//! Every test starts from [`setup`]: the nurse, her SSO session and a
//! confidential client, on a fresh database of either backend.

mod admin_clients;
mod authorize;
mod backchannel;
mod client_auth;
mod discovery;
mod introspection;
mod keys;
mod logout;
mod reauthentication;
mod refresh;
mod revocation;
mod token;
mod userinfo;

use crate::support::TestApp;
use crate::support::http::{AppService, basic, form, json_of, location, query_of};
use actix_web::dev::ServiceResponse;
use actix_web::test::{TestRequest, call_service};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clavis_oidc::clients::NewClient;
use clavis_testkit::db::{Backend, TestDb};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The redirect URI of the test client.
const CB: &str = "https://dpi.chu.test/callback";
/// The PKCE verifier of every authorization request of [`authorize_url`].
const VERIFIER: &str = "dBjftJeZ4CVP-mJ92ZZ1ll1-1oR4qZ8xyvN1mjr4vmT0xc9k4x4w7A";

/// What an OIDC test works with.
struct Ctx {
    t: TestDb,
    clock: clavis_core::FixedClock,
    st: clavis_web::AppState,
    oid: clavis_core::Oid,
    cookie: String,
    session_id: clavis_core::SessionId,
    client_id: String,
    secret: String,
}

impl Ctx {
    /// The HTTP application.
    async fn service(&self) -> impl AppService {
        actix_web::test::init_service(clavis_web::build_app(self.st.clone())).await
    }
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
    setup_with_config(backend, client, clavis_oidc::OidcConfig::default()).await
}

/// [`setup_with`] under these `[oidc]` settings.
async fn setup_with_config(
    backend: Backend,
    client: NewClient,
    oidc: clavis_oidc::OidcConfig,
) -> Ctx {
    let app = TestApp::on(backend)
        .with_oidc(oidc)
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

/// An authorization request of the test client (code flow, PKCE S256 with
/// [`VERIFIER`], state `st-1`, nonce `n-1`), with `extra` parameters.
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

/// GET `url` with the nurse's session cookie.
async fn authorize_as_nurse<A: AppService>(
    app: &A,
    ctx: &Ctx,
    url: &str,
) -> ServiceResponse<A::Body> {
    call_service(
        app,
        TestRequest::get()
            .uri(url)
            .insert_header(("cookie", ctx.cookie.clone()))
            .to_request(),
    )
    .await
}

/// The code the nurse's session gets at once for [`authorize_url`].
async fn code(app: &impl AppService, ctx: &Ctx) -> String {
    let r = authorize_as_nurse(app, ctx, &authorize_url(ctx, &[])).await;
    query_of(&location(&r))["code"].clone()
}

/// The nurse's session signs in to the test client: a code, exchanged (so
/// the client is owed a logout when the session ends; a code never
/// exchanged signed no one in).
async fn sign_in_to_the_client(app: &impl AppService, ctx: &Ctx) {
    let code = code(app, ctx).await;
    assert_eq!(exchange(app, ctx, &code).await.status(), 200);
}

/// A token request of the confidential client (basic authentication).
fn token_req(ctx: &Ctx, pairs: &[(&str, &str)]) -> TestRequest {
    TestRequest::post()
        .uri("/oidc/token")
        .insert_header(("authorization", basic(&ctx.client_id, &ctx.secret)))
        .insert_header(("content-type", "application/x-www-form-urlencoded"))
        .set_payload(form(pairs))
}

/// The answer of the token endpoint to the exchange of `code` (the
/// registered redirect URI, the right verifier).
async fn exchange<A: AppService>(app: &A, ctx: &Ctx, code: &str) -> ServiceResponse<A::Body> {
    call_service(
        app,
        token_req(
            ctx,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", CB),
                ("code_verifier", VERIFIER),
            ],
        )
        .to_request(),
    )
    .await
}

/// The tokens the code flow gives the test client.
async fn tokens(app: &impl AppService, ctx: &Ctx) -> Value {
    let code = code(app, ctx).await;
    let r = exchange(app, ctx, &code).await;
    assert_eq!(r.status(), 200);
    json_of(r).await
}

/// The answer of the token endpoint to a refresh with `refresh_token`.
async fn refresh<A: AppService>(
    app: &A,
    ctx: &Ctx,
    refresh_token: &str,
) -> ServiceResponse<A::Body> {
    call_service(
        app,
        token_req(
            ctx,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
            ],
        )
        .to_request(),
    )
    .await
}

/// The answer of userinfo to `access_token`.
async fn userinfo<A: AppService>(app: &A, access_token: &str) -> ServiceResponse<A::Body> {
    call_service(
        app,
        TestRequest::get()
            .uri("/oidc/userinfo")
            .insert_header(("authorization", format!("Bearer {access_token}")))
            .to_request(),
    )
    .await
}

/// The field `key` of a token response, as a string.
fn field<'a>(tokens: &'a Value, key: &str) -> &'a str {
    tokens[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} in {tokens}"))
}

fn claims_of(token: &str) -> Value {
    clavis_oidc::jws::parse(token).expect("jws").claims
}

/// The audit log (its first 500 events).
async fn audit_log(ctx: &Ctx) -> Vec<clavis_store::models::AuditEventRow> {
    let mut conn = ctx.t.db.conn().await.expect("conn");
    clavis_store::models::AuditEventRow::page(&mut conn, 0, 500)
        .await
        .expect("audit")
}
