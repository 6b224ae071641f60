//! FIDO2 login and the SSO session through the real HTTP application, with
//! software authenticators (webauthn-authenticator-rs) as the keys. One
//! file per use case: enrolment from a link, the session a login opens,
//! how long it lasts at each request, managing one's keys, a departure,
//! the attestation allow-list, throttling, concurrent logins, keys without
//! user verification.

mod attestation;
mod badge_pin;
mod concurrency;
mod departure;
mod enrolment;
mod enumeration;
mod keys;
mod lifetime;
mod limits;
mod session;
mod throttling;
mod verification;

use crate::support::http::{AppService, session_cookie_of};
use crate::support::{ORIGIN, TestApp};
use actix_web::cookie::Cookie;
use actix_web::dev::ServiceResponse;
use actix_web::test::{TestRequest, call_service, read_body, read_body_json};
use clavis_core::{Clock, Oid};
use clavis_testkit::db::Backend;
use serde_json::{Value, json};
use url::Url;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

/// Claire Lemoine, active, with no key yet.
async fn clinic(backend: Backend) -> TestApp {
    TestApp::on(backend)
        .with_person("Lemoine", "Claire")
        .start()
        .await
}

fn origin() -> Url {
    Url::parse(ORIGIN).expect("url")
}

/// The path of a fresh enrolment link of `oid` (valid 24 h).
async fn enrolment_path(t: &TestApp, oid: Oid) -> String {
    let link = enrolment_link(t, oid).await;
    link.trim_start_matches(ORIGIN).to_string()
}

/// The URL of a fresh enrolment link of `oid` (valid 24 h).
async fn enrolment_link(t: &TestApp, oid: Oid) -> String {
    let mut conn = t.t.db.conn().await.expect("conn");
    let link = clavis_authn::issue_enrolment_link(
        &mut conn,
        t.clock.now(),
        ORIGIN,
        oid,
        24,
        &clavis_core::Actor::Cli("it".into()),
    )
    .await
    .expect("link");
    link.url.expose().clone()
}

/// The token of a fresh enrolment link of `oid`.
async fn enrolment_token(t: &TestApp, oid: Oid) -> String {
    enrolment_link(t, oid)
        .await
        .rsplit('/')
        .next()
        .expect("token")
        .to_string()
}

/// Enrols a new software key through the pages of the enrolment link at
/// `path` (with `label`, if any).
async fn enrol_key(app: &impl AppService, path: &str, label: Option<&str>) -> SoftPasskey {
    let mut key = SoftPasskey::new(true);
    let begin: Value = read_body_json(
        call_service(
            app,
            TestRequest::post()
                .uri(&format!("{path}/begin"))
                .set_json(json!({}))
                .to_request(),
        )
        .await,
    )
    .await;
    let options = serde_json::from_value(begin["options"].clone()).expect("creation options");
    let cred = key
        .do_registration(origin(), options)
        .expect("soft key registers");
    let mut body = json!({"ceremony": begin["ceremony"], "credential": cred});
    if let Some(label) = label {
        body["label"] = json!(label);
    }
    let done = call_service(
        app,
        TestRequest::post()
            .uri(&format!("{path}/finish"))
            .set_json(body)
            .to_request(),
    )
    .await;
    assert_eq!(done.status(), 200, "{:?}", read_body(done).await);
    key
}

/// A username-first login challenge for `oid` (the software key keeps no
/// discoverable credential; username-less login is proven in Chromium).
async fn begin_login(app: &impl AppService, oid: Oid) -> Value {
    read_body_json(
        call_service(
            app,
            TestRequest::post()
                .uri("/login/begin")
                .set_json(json!({"username": oid}))
                .to_request(),
        )
        .await,
    )
    .await
}

/// `key`'s answer to the challenge `begin`.
fn sign(key: &mut SoftPasskey, begin: &Value) -> Value {
    let options = serde_json::from_value(begin["options"].clone()).expect("request options");
    serde_json::to_value(
        key.do_authentication(origin(), options)
            .expect("soft key signs"),
    )
    .expect("json")
}

/// POST /login/finish with `body`.
async fn finish_login<A: AppService>(app: &A, body: Value) -> ServiceResponse<A::Body> {
    call_service(
        app,
        TestRequest::post()
            .uri("/login/finish")
            .set_json(body)
            .to_request(),
    )
    .await
}

/// Claire signs in with `key`: the session cookie.
async fn sign_in(app: &impl AppService, key: &mut SoftPasskey, oid: Oid) -> Cookie<'static> {
    let begin = begin_login(app, oid).await;
    let a = sign(key, &begin);
    let resp = finish_login(app, json!({"ceremony": begin["ceremony"], "credential": a})).await;
    assert_eq!(resp.status(), 200);
    session_cookie_of(&resp).expect("session cookie")
}

/// Claire, her key "Clé bleue", signed in: the key and the session cookie.
async fn signed_in(app: &impl AppService, t: &TestApp) -> (SoftPasskey, Cookie<'static>) {
    let oid = t.person("Claire");
    let path = enrolment_path(t, oid).await;
    let mut key = enrol_key(app, &path, Some("Clé bleue")).await;
    let cookie = sign_in(app, &mut key, oid).await;
    (key, cookie)
}

/// GET `uri` with the session `cookie`.
async fn get_with<A: AppService>(
    app: &A,
    uri: &str,
    cookie: &Cookie<'static>,
) -> ServiceResponse<A::Body> {
    call_service(
        app,
        TestRequest::get()
            .uri(uri)
            .cookie(cookie.clone())
            .to_request(),
    )
    .await
}

/// The page /me, as HTML.
async fn me_page(app: &impl AppService, cookie: &Cookie<'static>) -> String {
    let me = get_with(app, "/me", cookie).await;
    assert_eq!(me.status(), 200);
    String::from_utf8(read_body(me).await.to_vec()).expect("utf8")
}

/// The CSRF token of the forms of a page.
fn csrf_in(html: &str) -> String {
    html.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("csrf")
        .to_string()
}
