//! A departure (the directory's lifecycle event, applied with its
//! subscribers) ends the person's sessions at once and suspends her keys,
//! even for a login already under way.

use super::{begin_login, clinic, finish_login, get_with, sign, signed_in};
use crate::support::{TestApp, on_both_backends};
use actix_web::test::read_body_json;
use clavis_core::Clock;
use clavis_testkit::db::Backend;
use serde_json::{Value, json};

on_both_backends!(
    a_departed_identitys_session_stops_working_at_the_next_request,
    a_departed_identitys_keys_are_suspended_even_for_a_login_under_way,
);

/// HR says Claire left: the directory applies it with its subscribers.
async fn claire_departs(t: &TestApp) {
    use clavis_directory::lifecycle::{LifecycleEvent, LifecycleKind};
    let event = LifecycleEvent {
        oid: t.person("Claire"),
        kind: LifecycleKind::Departed,
        reason: "leaver_flag".into(),
        sync_run_id: None,
        at: t.clock.now(),
    };
    let mut conn = t.t.db.conn().await.expect("conn");
    conn.transaction(async |tx| {
        for s in &t.state.subscribers {
            s.on_event(tx, &event).await.expect("subscriber");
        }
        Ok::<_, clavis_store::StoreError>(())
    })
    .await
    .expect("commit");
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
    let hers = ids(&pending)[0]["id"].clone();
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
