//! The authenticators area: a revoked key or badge ends the sessions it
//! opened (and only those), audited with the operator and the reason; the
//! list by model and by person; a PIN unlocked; an enrolment link shown
//! once; an operator's authenticators need a fresh login to revoke.

use super::{csrf_of, get_page as get, hospital, post_form as post, session_is_live, session_with};
use crate::support::audit::{events_after, last_seq};
use crate::support::on_both_backends;
use clavis_core::{AuthenticatorStatus, BadgeStatus};
use clavis_store::models::{AuthenticatorRow, BadgePinRow, BadgeRow};
use clavis_testkit::db::Backend;
use clavis_testkit::people::{insert_badge, insert_key};

on_both_backends!(
    a_revoked_authenticator_ends_the_sessions_it_opened_and_only_those,
    keys_are_listed_by_model_and_by_person,
    the_helpdesk_unlocks_a_pin_and_issues_an_enrolment_link,
    an_operators_authenticator_is_revoked_only_after_a_fresh_login,
    an_operators_credentials_are_an_administrators_business,
);

async fn a_revoked_authenticator_ends_the_sessions_it_opened_and_only_those(backend: Backend) {
    let t = hospital(backend).await;
    let app = t.service().await;
    let hugo = t.person("Hugo");
    let cookie = t.open_session(hugo).await.cookie;
    let csrf = csrf_of(&cookie);
    let claire = t.person("Claire");
    insert_key(&t.t.db, claire, "k-claire").await;
    insert_badge(&t.t.db, claire, "b-claire").await;
    let (_, with_key) = session_with(&t, claire, "k-claire").await;
    let (_, with_badge) = session_with(&t, claire, "b-claire").await;

    // The key, lost.
    let before = last_seq(&t.t.db).await;
    let (status, to, body) = post(
        &app,
        "/console/authenticators/keys/k-claire/revoke",
        &cookie,
        &[("csrf", &csrf), ("reason", "lost")],
    )
    .await;
    assert_eq!(status, 303, "{body}");
    assert_eq!(to, format!("/console/authenticators?oid={claire}"));
    assert!(
        !session_is_live(&t, &with_key).await,
        "the key's session ended"
    );
    assert!(
        session_is_live(&t, &with_badge).await,
        "the badge's did not"
    );
    let mut conn = t.t.db.conn().await.expect("conn");
    let key = AuthenticatorRow::find(&mut conn, "k-claire")
        .await
        .expect("find")
        .expect("key");
    assert_eq!(key.status, AuthenticatorStatus::Revoked);
    assert_eq!(key.status_reason.as_deref(), Some("lost"));
    let events = events_after(&t.t.db, before).await;
    let removed: Vec<_> = events
        .iter()
        .filter(|e| e["action"] == "key.removed")
        .collect();
    assert_eq!(removed.len(), 1, "{events:?}");
    assert_eq!(removed[0]["actor"], format!("identity:{hugo}"));
    assert_eq!(removed[0]["changes"]["reason"], "lost");
    assert!(
        events
            .iter()
            .any(|e| e["action"] == "session.ended" && e["target"] == with_key.as_str()),
        "{events:?}"
    );
    // Revoked once: a second time finds nothing.
    let (status, _, _) = post(
        &app,
        "/console/authenticators/keys/k-claire/revoke",
        &cookie,
        &[("csrf", &csrf), ("reason", "lost")],
    )
    .await;
    assert_eq!(status, 404);

    // The badge, stolen.
    let (status, _, _) = post(
        &app,
        "/console/authenticators/badges/b-claire/revoke",
        &cookie,
        &[("csrf", &csrf), ("reason", "stolen")],
    )
    .await;
    assert_eq!(status, 303);
    assert!(!session_is_live(&t, &with_badge).await);
    let badge = BadgeRow::find(&mut conn, &"b-claire".into())
        .await
        .expect("find")
        .expect("badge");
    assert_eq!(badge.status, BadgeStatus::Revoked);
    assert_eq!(badge.status_reason.as_deref(), Some("stolen"));

    // A reason that is not one of the list: refused, nothing done.
    insert_key(&t.t.db, claire, "k-two").await;
    let (status, _, body) = post(
        &app,
        "/console/authenticators/keys/k-two/revoke",
        &cookie,
        &[("csrf", &csrf), ("reason", "bored")],
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body.contains("reason: one of lost, stolen, broken, other"),
        "{body}"
    );
    let key = AuthenticatorRow::find(&mut conn, "k-two")
        .await
        .expect("find")
        .expect("key");
    assert_eq!(key.status, AuthenticatorStatus::Active);
}

async fn keys_are_listed_by_model_and_by_person(backend: Backend) {
    let t = hospital(backend).await;
    let app = t.service().await;
    let cookie = t.open_session(t.person("Aude")).await.cookie;
    let claire = t.person("Claire");
    let noe = t.person("Noé");
    let mut conn = t.t.db.conn().await.expect("conn");
    for (oid, id, aaguid) in [
        (claire, "k1", Some("aaguid-yubi")),
        (noe, "k2", Some("aaguid-yubi")),
        (noe, "k3", Some("aaguid-other")),
        (claire, "k4", None),
    ] {
        let mut k = insert_key(&t.t.db, oid, id).await;
        k.aaguid = aaguid.map(str::to_string);
        k.update(&mut conn).await.expect("update");
    }
    let (status, body) = get(&app, "/console/authenticators", &cookie).await;
    assert_eq!(status, 200, "{body}");
    let yubi = body.find("aaguid-yubi").expect("the model is listed");
    let other = body.find("aaguid-other").expect("the other too");
    assert!(yubi < other, "the most common model first");
    assert_eq!(body.matches("data-authenticator=").count(), 4, "{body}");
    // The auditor reads, and is offered no action.
    assert!(!body.contains("/revoke\""), "{body}");

    let (_, body) = get(&app, "/console/authenticators?aaguid=aaguid-yubi", &cookie).await;
    assert_eq!(body.matches("data-authenticator=").count(), 2);
    assert!(
        body.contains("data-authenticator=\"k1\"") && body.contains("data-authenticator=\"k2\"")
    );

    let (_, body) = get(
        &app,
        &format!("/console/authenticators?oid={claire}"),
        &cookie,
    )
    .await;
    assert_eq!(body.matches("data-authenticator=").count(), 2, "{body}");
    assert!(body.contains("LEMOINE Claire"));
    let (status, _) = get(&app, "/console/authenticators?status=lost", &cookie).await;
    assert_eq!(status, 400);
}

async fn the_helpdesk_unlocks_a_pin_and_issues_an_enrolment_link(backend: Backend) {
    let t = hospital(backend).await;
    let app = t.service().await;
    let hugo = t.person("Hugo");
    let cookie = t.open_session(hugo).await.cookie;
    let csrf = csrf_of(&cookie);
    let claire = t.person("Claire");
    let (_, body) = get(
        &app,
        &format!("/console/authenticators?oid={claire}"),
        &cookie,
    )
    .await;
    assert!(body.contains("action=\"/console/authenticators/pin-unlock\""));
    let (status, to, _) = post(
        &app,
        "/console/authenticators/pin-unlock",
        &cookie,
        &[("csrf", &csrf), ("oid", &claire.to_string())],
    )
    .await;
    assert_eq!(status, 303);
    assert_eq!(to, format!("/console/identities/{claire}"));
    let mut conn = t.t.db.conn().await.expect("conn");
    let pin = BadgePinRow::find(&mut conn, claire)
        .await
        .expect("find")
        .expect("pin");
    assert_eq!((pin.failures, pin.locked_until), (0, None));
    // Someone without a PIN: said so.
    let (status, _, body) = post(
        &app,
        "/console/authenticators/pin-unlock",
        &cookie,
        &[("csrf", &csrf), ("oid", &t.person("Noé").to_string())],
    )
    .await;
    assert_eq!(status, 404);
    assert!(body.contains("pas de code PIN"), "{body}");

    let before = last_seq(&t.t.db).await;
    let (status, _, body) = post(
        &app,
        "/console/authenticators/enrolment-links",
        &cookie,
        &[("csrf", &csrf), ("oid", &claire.to_string())],
    )
    .await;
    assert_eq!(status, 200);
    let url = body
        .split("id=\"link\" readonly value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("the link is shown")
        .to_string();
    assert!(url.contains("/enrol/"), "{url}");
    let events = events_after(&t.t.db, before).await;
    assert!(
        events.iter().any(|e| e["action"] == "enrolment_link.issued"
            && e["actor"] == format!("identity:{hugo}")
            && e["target"] == claire.to_string()),
        "{events:?}"
    );
    // Not for an administrator.
    let (status, _, _) = post(
        &app,
        "/console/authenticators/enrolment-links",
        &cookie,
        &[("csrf", &csrf), ("oid", &t.person("Alice").to_string())],
    )
    .await;
    assert_eq!(status, 403);
}

async fn an_operators_authenticator_is_revoked_only_after_a_fresh_login(backend: Backend) {
    let t = hospital(backend).await;
    let app = t.service().await;
    let alice = t.person("Alice");
    let cookie = t.open_session(alice).await.cookie;
    let csrf = csrf_of(&cookie);
    let hugo = t.person("Hugo");
    insert_key(&t.t.db, hugo, "k-hugo").await;
    // Later than fresh_login_secs after the administrator's login.
    t.clock.advance(chrono::Duration::seconds(
        t.state.fido2.config().fresh_login_secs + 1,
    ));
    let back = format!("/console/authenticators?oid={hugo}");
    let (status, to, _) = post(
        &app,
        "/console/authenticators/keys/k-hugo/revoke",
        &cookie,
        &[("csrf", &csrf), ("reason", "lost"), ("back", &back)],
    )
    .await;
    assert_eq!(status, 303);
    assert!(to.starts_with("/login?reauth=1&return_to="), "{to}");
    let mut conn = t.t.db.conn().await.expect("conn");
    let key = AuthenticatorRow::find(&mut conn, "k-hugo")
        .await
        .expect("find")
        .expect("key");
    assert_eq!(key.status, AuthenticatorStatus::Active, "not yet");
    // A nurse's key needs no fresh login.
    let claire = t.person("Claire");
    insert_key(&t.t.db, claire, "k-claire").await;
    let (status, to, _) = post(
        &app,
        "/console/authenticators/keys/k-claire/revoke",
        &cookie,
        &[("csrf", &csrf), ("reason", "broken")],
    )
    .await;
    assert_eq!(
        (status, to),
        (303, format!("/console/authenticators?oid={claire}"))
    );
    // Signed in again: done.
    let fresh = t.open_session(alice).await.cookie;
    let (status, to, _) = post(
        &app,
        "/console/authenticators/keys/k-hugo/revoke",
        &fresh,
        &[
            ("csrf", &csrf_of(&fresh)),
            ("reason", "lost"),
            ("back", &back),
        ],
    )
    .await;
    assert_eq!((status, to), (303, back));
}

async fn an_operators_credentials_are_an_administrators_business(backend: Backend) {
    let t = hospital(backend).await;
    let app = t.service().await;
    let hugo = t.person("Hugo");
    let cookie = t.open_session(hugo).await.cookie;
    let csrf = csrf_of(&cookie);
    // A fellow helpdesk agent: the helpdesk may end their sessions, but not
    // hand out a way into their account.
    let noe = t.person("Noé");
    super::grant(&t, noe, clavis_core::roles::OperatorRole::Helpdesk).await;
    insert_key(&t.t.db, noe, "k-noe").await;
    for (path, fields) in [
        (
            "/console/authenticators/enrolment-links",
            vec![("oid", noe.to_string())],
        ),
        (
            "/console/authenticators/pin-unlock",
            vec![("oid", noe.to_string())],
        ),
        (
            "/console/authenticators/keys/k-noe/revoke",
            vec![("reason", "lost".to_string())],
        ),
    ] {
        let before = last_seq(&t.t.db).await;
        let mut all = vec![("csrf", csrf.clone())];
        all.extend(fields);
        let all: Vec<(&str, &str)> = all.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, _, body) = post(&app, path, &cookie, &all).await;
        assert_eq!(status, 403, "{path}: {body}");
        assert!(body.contains("seul un administrateur"), "{body}");
        let events = events_after(&t.t.db, before).await;
        assert_eq!(events.len(), 1, "{path}: {events:?}");
        assert_eq!(events[0]["action"], "console.target_refused");
        assert_eq!(
            events[0]["changes"]["reason"],
            "operator_target_needs_admin"
        );
    }
    // An administrator may, after a fresh login.
    let alice = t.open_session(t.person("Alice")).await.cookie;
    t.clock.advance(chrono::Duration::seconds(
        t.state.fido2.config().fresh_login_secs + 1,
    ));
    let (status, to, _) = post(
        &app,
        "/console/authenticators/enrolment-links",
        &alice,
        &[("csrf", &csrf_of(&alice)), ("oid", &noe.to_string())],
    )
    .await;
    assert_eq!(status, 303);
    assert!(to.starts_with("/login?reauth=1"), "{to}");
    let fresh = t.open_session(t.person("Alice")).await.cookie;
    let (status, _, body) = post(
        &app,
        "/console/authenticators/enrolment-links",
        &fresh,
        &[("csrf", &csrf_of(&fresh)), ("oid", &noe.to_string())],
    )
    .await;
    assert_eq!(status, 200, "{body}");
}
