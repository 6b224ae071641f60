//! A departure (the directory's lifecycle event, applied with its
//! subscribers) ends the person's sessions at once and suspends her keys,
//! even for a login already under way.

use super::{begin_login, clinic, finish_login, get_with, sign, signed_in};
use crate::support::{TestApp, on_both_backends};
use actix_web::test::read_body_json;
use clavis_testkit::db::Backend;
use serde_json::{Value, json};

on_both_backends!(
    a_departed_identitys_session_stops_working_at_the_next_request,
    a_departed_identitys_keys_are_suspended_even_for_a_login_under_way,
    someone_whose_directory_accounts_are_all_disabled_cannot_sign_in,
);

/// A username-first login of `oid` with `key`, over HTTP.
async fn try_sign_in<A: crate::support::http::AppService>(
    app: &A,
    key: &mut webauthn_authenticator_rs::softpasskey::SoftPasskey,
    oid: clavis_core::Oid,
) -> actix_web::dev::ServiceResponse<A::Body> {
    let begin = begin_login(app, oid).await;
    let answer = sign(key, &begin);
    finish_login(
        app,
        json!({"ceremony": begin["ceremony"], "credential": answer}),
    )
    .await
}

/// Gives Claire the directory account `login`, enabled or not.
async fn claire_has_account(t: &TestApp, login: &str, enabled: bool) {
    let mut conn = t.t.db.conn().await.expect("conn");
    clavis_store::models::Account::upsert_all(
        &mut conn,
        vec![clavis_store::models::Account {
            login: login.into(),
            oid: t.person("Claire"),
            source: "ad".into(),
            enabled,
            disabled_reason: (!enabled).then(|| "ad_disabled".into()),
            created_at: 0,
            updated_at: 0,
        }],
    )
    .await
    .expect("account");
}

/// HR says Claire left: the directory applies it with its subscribers.
async fn claire_departs(t: &TestApp) {
    t.apply_lifecycle(
        t.person("Claire"),
        clavis_directory::lifecycle::LifecycleKind::Departed,
    )
    .await;
}

async fn a_departed_identitys_session_stops_working_at_the_next_request(backend: Backend) {
    let t = clinic(backend).await;
    let app = t.service().await;
    let (_, cookie) = signed_in(&app, &t).await;
    assert_eq!(get_with(&app, "/me", &cookie).await.status(), 200);
    claire_departs(&t).await;
    let me = get_with(&app, "/me", &cookie).await;
    assert_eq!(me.status(), 303, "the session is gone at the next request");
}

async fn a_departed_identitys_keys_are_suspended_even_for_a_login_under_way(backend: Backend) {
    let t = clinic(backend).await;
    let app = t.service().await;
    let oid = t.person("Claire");
    let (mut key, _) = signed_in(&app, &t).await;
    // A second login is under way when HR says she left.
    let pending = begin_login(&app, oid).await;
    let signed = sign(&mut key, &pending);
    claire_departs(&t).await;
    // Her key is suspended: a username-first challenge no longer lists it
    // (she is answered like an unknown name, with a decoy id), and the
    // login under way is refused.
    let begin = begin_login(&app, oid).await;
    let ids = |v: &Value| v["options"]["publicKey"]["allowCredentials"].clone();
    assert_ne!(ids(&begin), ids(&pending), "{begin}");
    let hers = signed["id"].clone();
    assert!(
        ids(&pending)
            .as_array()
            .expect("list")
            .iter()
            .any(|c| c["id"] == hers),
        "listed before: {pending}"
    );
    assert!(
        !ids(&begin)
            .as_array()
            .expect("list")
            .iter()
            .any(|c| c["id"] == hers),
        "{begin}"
    );
    let late = finish_login(
        &app,
        json!({"ceremony": pending["ceremony"], "credential": signed}),
    )
    .await;
    assert_eq!(late.status(), 401, "a suspended key never opens a session");
    let body: Value = read_body_json(late).await;
    assert_eq!(body["error"]["code"], "login_failed");
    let mut conn = t.t.db.conn().await.expect("conn");
    let keys = clavis_authn::keys_of(&mut conn, oid).await.expect("keys");
    assert_eq!(keys[0].status.as_str(), "suspended");
}

async fn someone_whose_directory_accounts_are_all_disabled_cannot_sign_in(backend: Backend) {
    let t = clinic(backend).await;
    let app = t.service().await;
    let oid = t.person("Claire");
    // No directory account at all: she signs in (the key is enough).
    let (mut key, _) = signed_in(&app, &t).await;
    claire_has_account(&t, "clemoine", false).await;
    let r = try_sign_in(&app, &mut key, oid).await;
    assert_eq!(r.status(), 401, "the same refusal as any other");
    let body: Value = read_body_json(r).await;
    assert_eq!(body["error"]["code"], "login_failed");
    let mut conn = t.t.db.conn().await.expect("conn");
    let audit = clavis_store::models::AuditEventRow::page(&mut conn, 0, 100)
        .await
        .expect("audit");
    assert!(
        audit
            .iter()
            .any(|a| a.action == "login.failed" && a.changes.contains("account_disabled")),
        "audited with its reason"
    );
    // One enabled account is enough.
    claire_has_account(&t, "claire.lemoine", true).await;
    assert_eq!(try_sign_in(&app, &mut key, oid).await.status(), 200);
}
