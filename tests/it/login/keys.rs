//! Managing one's keys from /me: a fresh login (less than 5 minutes old)
//! may add a key and remove one, each form with its CSRF token.

use super::{clinic, csrf_in, me_page, origin, signed_in};
use crate::support::http::AppService;
use crate::support::on_both_backends;
use actix_web::cookie::Cookie;
use actix_web::test::{TestRequest, call_service};
use clavis_testkit::db::Backend;
use serde_json::{Value, json};
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

on_both_backends!(
    a_fresh_login_adds_a_second_key_and_removes_it_with_the_csrf_token,
    a_login_older_than_5_minutes_cannot_add_a_key,
);

/// POST /me/keys/begin: (status, body or null).
async fn begin_adding(app: &impl AppService, cookie: &Cookie<'static>) -> (u16, Value) {
    let r = call_service(
        app,
        TestRequest::post()
            .uri("/me/keys/begin")
            .cookie(cookie.clone())
            .set_json(json!({}))
            .to_request(),
    )
    .await;
    let status = r.status().as_u16();
    let body = actix_web::test::read_body(r).await;
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

async fn a_fresh_login_adds_a_second_key_and_removes_it_with_the_csrf_token(backend: Backend) {
    let t = clinic(backend).await;
    let app = t.service().await;
    let oid = t.person("Claire");
    let (_, cookie) = signed_in(&app, &t).await;
    let csrf = csrf_in(&me_page(&app, &cookie).await);
    let (status, begin) = begin_adding(&app, &cookie).await;
    assert_eq!(status, 200, "{begin}");
    let mut spare = SoftPasskey::new(true);
    let cred = spare
        .do_registration(
            origin(),
            serde_json::from_value(begin["options"].clone()).expect("options"),
        )
        .expect("register spare");
    let added = call_service(
        &app,
        TestRequest::post()
            .uri("/me/keys/finish")
            .cookie(cookie.clone())
            .set_json(json!({"ceremony": begin["ceremony"], "credential": cred, "label": "Clé de secours"}))
            .to_request(),
    )
    .await;
    assert_eq!(added.status(), 200);
    let mut conn = t.t.db.conn().await.expect("conn");
    let keys = clavis_authn::keys_of(&mut conn, oid).await.expect("keys");
    assert_eq!(keys.len(), 2);
    let spare_id = keys
        .iter()
        .find(|k| k.label == "Clé de secours")
        .expect("spare")
        .id
        .clone();
    let remove = |csrf: &str| {
        TestRequest::post()
            .uri(&format!("/me/keys/{spare_id}/remove"))
            .cookie(cookie.clone())
            .set_form([("csrf", csrf)])
            .to_request()
    };
    let forged = call_service(&app, remove("x")).await;
    assert_eq!(forged.status(), 403, "removing a key needs the CSRF token");
    let removed = call_service(&app, remove(&csrf)).await;
    assert_eq!(removed.status(), 303);
    assert_eq!(
        clavis_authn::keys_of(&mut conn, oid)
            .await
            .expect("keys")
            .len(),
        1
    );
}

async fn a_login_older_than_5_minutes_cannot_add_a_key(backend: Backend) {
    let t = clinic(backend).await;
    let app = t.service().await;
    let (_, cookie) = signed_in(&app, &t).await;
    // Six minutes later the login is no longer fresh: no key changes.
    t.clock.advance(chrono::Duration::minutes(6));
    let (status, _) = begin_adding(&app, &cookie).await;
    assert_eq!(
        status, 400,
        "adding a key needs a login less than 5 minutes old"
    );
}
