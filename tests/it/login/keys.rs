//! Managing one's keys from /me: a fresh login (less than 5 minutes old)
//! may add a key and remove one, each form with its CSRF token. And the
//! helpdesk's path when a key is lost: the admin API revokes it.

use super::{
    begin_login, clinic, csrf_in, finish_login, get_with, me_page, origin, sign, signed_in,
};
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
    the_helpdesk_revokes_a_lost_key_which_ends_its_sessions_at_once,
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

/// Claire reports her key lost: the helpdesk lists her keys and revokes it
/// through the admin API. Her session opened with it ends at once, the key
/// opens nothing more, and the revocation is audited with its reason.
async fn the_helpdesk_revokes_a_lost_key_which_ends_its_sessions_at_once(backend: Backend) {
    let t = crate::support::TestApp::on(backend)
        .with_person("Lemoine", "Claire")
        .with_admin_token()
        .start()
        .await;
    let app = t.service().await;
    let oid = t.person("Claire");
    let (mut key, cookie) = signed_in(&app, &t).await;
    let api = |req: TestRequest| {
        let app = &app;
        let auth = t.admin_auth();
        async move {
            let r = call_service(app, req.insert_header(auth).to_request()).await;
            let status = r.status().as_u16();
            let body = actix_web::test::read_body(r).await;
            (
                status,
                serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null),
            )
        }
    };
    let list = format!("/admin/api/identities/{oid}/security-keys");
    // Without a token: nothing is said.
    let anonymous = call_service(&app, TestRequest::get().uri(&list).to_request()).await;
    assert_eq!(anonymous.status(), 401);
    let (status, keys) = api(TestRequest::get().uri(&list)).await;
    assert_eq!(status, 200, "{keys}");
    assert_eq!(keys["total"], 1, "{keys}");
    assert_eq!(keys["items"][0]["label"], "Clé bleue");
    let id = keys["items"][0]["id"].as_str().expect("id").to_string();
    let revoke = |id: &str| {
        TestRequest::post().uri(&format!(
            "/admin/api/identities/{oid}/security-keys/{id}/revoke"
        ))
    };
    let (status, _) = api(revoke("no-such-key").set_json(json!({"reason": "stolen"}))).await;
    assert_eq!(status, 404);
    let (status, body) = api(revoke(&id).set_json(json!({"reason": ""}))).await;
    assert_eq!(status, 400, "{body}");
    // A body that is not {"reason": …} is refused, not read as "lost".
    let (status, body) = api(revoke(&id).set_json(json!({"raison": "stolen"}))).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("reason"), "{body}");
    // Refused requests changed nothing: her session still works.
    assert_eq!(get_with(&app, "/me", &cookie).await.status(), 200);
    // A login under way with the key when it is revoked.
    let begun = begin_login(&app, oid).await;
    let (status, body) = api(revoke(&id).set_json(json!({"reason": "stolen"}))).await;
    assert_eq!(status, 200, "{body}");
    // Her session opened with it is over.
    let me = get_with(&app, "/me", &cookie).await;
    assert_eq!(me.status(), 303, "the session opened with the key ended");
    // The key opens nothing more (whoever holds it now), not even the
    // login begun before.
    let answer = sign(&mut key, &begun);
    let r = finish_login(
        &app,
        json!({"ceremony": begun["ceremony"], "credential": answer}),
    )
    .await;
    assert_ne!(r.status(), 200, "a revoked key signs nobody in");
    assert!(
        crate::support::http::session_cookie_of(&r).is_none(),
        "no session"
    );

    let (_, keys) = api(TestRequest::get().uri(&list)).await;
    assert_eq!(keys["total"], 0, "{keys}");
    // Revoking it again: it is no longer there.
    let (status, _) = api(revoke(&id).set_json(json!({"reason": "stolen"}))).await;
    assert_eq!(status, 404);
    let mut conn = t.t.db.conn().await.expect("conn");
    let audit = clavis_store::models::AuditEventRow::for_target(&mut conn, &oid.to_string(), 100)
        .await
        .expect("audit");
    let removed: Vec<_> = audit.iter().filter(|e| e.action == "key.removed").collect();
    assert_eq!(removed.len(), 1, "{audit:?}");
    assert!(removed[0].actor.starts_with("api:"), "{:?}", removed[0]);
    assert!(removed[0].changes.contains("stolen"), "{:?}", removed[0]);
}
