//! Suspending a person and lifting it, from the console and the admin API:
//! the person may not sign in at once (accounts disabled, sessions ended,
//! keys and badges suspended, in one transaction), each decision carries
//! its reason into the journal, and lifting it gives back the keys and
//! badges the suspension took — not those revoked meanwhile.

use super::{
    csrf_of, get_page as get, hospital, post_form as post, psc_session, session_is_live,
    session_with,
};
use crate::support::audit::{events_after, last_seq};
use crate::support::{TestApp, on_both_backends};
use actix_web::test::{TestRequest, call_service, read_body};
use clavis_core::{Actor, AuthenticatorStatus, BadgeStatus, Clock, LifecycleStatus, Oid};
use clavis_store::models::{AuthenticatorRow, BadgeRow, IdentityRow};
use clavis_testkit::db::Backend;
use clavis_testkit::people::{insert_badge, insert_key};

on_both_backends!(
    a_suspension_shuts_a_person_out_and_lifting_it_gives_back_what_it_took,
    who_may_suspend_whom,
    the_admin_api_suspends_and_reinstates,
    two_operators_suspending_at_once_place_one_suspension,
    a_lifted_suspension_gives_back_only_what_it_took,
    an_operator_withdraws_a_link_to_pro_sante_connect_with_a_note,
);

/// Paul Garnier, a consultant outside HR (a manual identity: his record is
/// what the directory recomputes him from).
async fn consultant(t: &TestApp) -> Oid {
    use clavis_directory::manual::{self, ManualOutcome, ManualTerms, NewManualIdentity};
    let now = Clock::now(&t.clock);
    let today = now.with_timezone(&chrono::Local).date_naive();
    let outcome = manual::add_identity(
        &t.t.db,
        &t.state.directory,
        &t.state.subscribers,
        now,
        NewManualIdentity {
            birth_family_name: "Garnier".into(),
            used_family_name: None,
            birth_given_names: vec!["Paul".into()],
            birth_date: chrono::NaiveDate::from_ymd_opt(1979, 9, 14).expect("date"),
            birth_place: None,
            rpps: None,
            terms: Some(ManualTerms {
                sponsor: "Dr Morel".into(),
                reason: "audit du bloc".into(),
                until: today + chrono::Days::new(60),
            }),
        },
        &Actor::Cli("it".into()),
    )
    .await
    .expect("added");
    match outcome {
        ManualOutcome::Created(oid) => oid,
        other => panic!("expected a new identity, got {other:?}"),
    }
}

async fn status_of(t: &TestApp, oid: Oid) -> LifecycleStatus {
    let mut conn = t.t.db.conn().await.expect("conn");
    IdentityRow::find(&mut conn, oid)
        .await
        .expect("find")
        .expect("identity")
        .status
}

async fn key_status(t: &TestApp, id: &str) -> (AuthenticatorStatus, Option<String>) {
    let mut conn = t.t.db.conn().await.expect("conn");
    let k = AuthenticatorRow::find(&mut conn, id)
        .await
        .expect("find")
        .expect("key");
    (k.status, k.status_reason)
}

async fn badge_status(t: &TestApp, id: &str) -> BadgeStatus {
    let mut conn = t.t.db.conn().await.expect("conn");
    BadgeRow::find(&mut conn, &clavis_core::BadgeId::from(id.to_string()))
        .await
        .expect("find")
        .expect("badge")
        .status
}

async fn a_suspension_shuts_a_person_out_and_lifting_it_gives_back_what_it_took(backend: Backend) {
    let t = hospital(backend).await;
    let app = t.service().await;
    let ines = t.person("Ines");
    let cookie = t.open_session(ines).await.cookie;
    let csrf = csrf_of(&cookie);
    let paul = consultant(&t).await;
    insert_key(&t.t.db, paul, "k-paul").await;
    insert_key(&t.t.db, paul, "k-paul-2").await;
    insert_badge(&t.t.db, paul, "b-paul").await;
    let (_, session) = session_with(&t, paul, "b-paul").await;
    let page = format!("/console/identities/{paul}");

    // A reason is required.
    let (status, _, body) = post(
        &app,
        &format!("{page}/suspend"),
        &cookie,
        &[("csrf", &csrf), ("reason", "  ")],
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(status_of(&t, paul).await, LifecycleStatus::Active);

    let before = last_seq(&t.t.db).await;
    let (status, to, body) = post(
        &app,
        &format!("{page}/suspend"),
        &cookie,
        &[("csrf", &csrf), ("reason", "Enquête interne n°12")],
    )
    .await;
    assert_eq!((status, to.as_str()), (303, page.as_str()), "{body}");
    assert_eq!(status_of(&t, paul).await, LifecycleStatus::Suspended);
    assert!(!session_is_live(&t, &session).await, "his session ended");
    assert_eq!(
        key_status(&t, "k-paul").await,
        (
            AuthenticatorStatus::Suspended,
            Some("holder_suspended".into())
        )
    );
    assert_eq!(badge_status(&t, "b-paul").await, BadgeStatus::Suspended);
    let events = events_after(&t.t.db, before).await;
    let suspended: Vec<_> = events
        .iter()
        .filter(|e| e["action"] == "identity.suspended")
        .collect();
    assert_eq!(suspended.len(), 1, "{events:?}");
    assert_eq!(suspended[0]["actor"], format!("identity:{ines}"));
    assert_eq!(suspended[0]["target"], paul.to_string());
    assert_eq!(suspended[0]["changes"]["reason"], "Enquête interne n°12");
    assert_eq!(suspended[0]["changes"]["status"], "suspended");
    let updated = events
        .iter()
        .find(|e| e["action"] == "identity.updated")
        .expect("the status change is audited");
    assert_eq!(updated["changes"]["reason"], "operator_suspension");
    for action in ["key.suspended", "badge.suspended", "session.ended"] {
        assert!(
            events.iter().any(|e| e["action"] == action),
            "{action} in {events:?}"
        );
    }
    // The page says so, with the reason, and offers to lift it.
    let (status, body) = get(&app, &page, &cookie).await;
    assert_eq!(status, 200);
    assert!(body.contains("id=\"suspension\""), "{body}");
    assert!(body.contains("Enquête interne n°12"), "{body}");
    assert!(
        body.contains(&format!("action=\"{page}/reinstate\"")),
        "{body}"
    );

    // Once is enough.
    let (status, _, body) = post(
        &app,
        &format!("{page}/suspend"),
        &cookie,
        &[("csrf", &csrf), ("reason", "encore")],
    )
    .await;
    assert_eq!(status, 409, "{body}");

    // Meanwhile his second key is reported stolen: revoked, it stays so.
    let mut conn = t.t.db.conn().await.expect("conn");
    clavis_authn::remove_key(
        &mut conn,
        Clock::now(&t.clock),
        paul,
        "k-paul-2",
        "stolen",
        &Actor::Cli("it".into()),
    )
    .await
    .expect("revoked");
    drop(conn);

    let before = last_seq(&t.t.db).await;
    let (status, to, body) = post(
        &app,
        &format!("{page}/reinstate"),
        &cookie,
        &[("csrf", &csrf), ("reason", "Enquête close, rien de retenu")],
    )
    .await;
    assert_eq!((status, to.as_str()), (303, page.as_str()), "{body}");
    assert_eq!(status_of(&t, paul).await, LifecycleStatus::Active);
    assert_eq!(
        key_status(&t, "k-paul").await,
        (AuthenticatorStatus::Active, None)
    );
    assert_eq!(
        key_status(&t, "k-paul-2").await.0,
        AuthenticatorStatus::Revoked
    );
    assert_eq!(badge_status(&t, "b-paul").await, BadgeStatus::Active);
    assert!(
        !session_is_live(&t, &session).await,
        "ended sessions stay so"
    );
    let events = events_after(&t.t.db, before).await;
    let reinstated = events
        .iter()
        .find(|e| e["action"] == "identity.reinstated")
        .expect("audited");
    assert_eq!(
        reinstated["changes"]["reason"],
        "Enquête close, rien de retenu"
    );
    assert_eq!(
        reinstated["changes"]["placed_by"],
        format!("identity:{ines}")
    );
    assert_eq!(reinstated["changes"]["status"], "active");
    let restored: Vec<_> = events
        .iter()
        .filter(|e| e["action"] == "key.restored")
        .map(|e| e["changes"]["authenticator_id"].clone())
        .collect();
    assert_eq!(restored, vec![serde_json::json!("k-paul")]);
    assert!(events.iter().any(|e| e["action"] == "badge.restored"));
    // The page keeps the history and offers a new suspension.
    let (_, body) = get(&app, &page, &cookie).await;
    assert!(body.contains("id=\"past-suspensions\""), "{body}");
    assert!(body.contains("Enquête close, rien de retenu"), "{body}");
    assert!(
        body.contains(&format!("action=\"{page}/suspend\"")),
        "{body}"
    );
    // Nothing left to lift.
    let (status, _, _) = post(
        &app,
        &format!("{page}/reinstate"),
        &cookie,
        &[("csrf", &csrf), ("reason", "encore")],
    )
    .await;
    assert_eq!(status, 409);
}

async fn who_may_suspend_whom(backend: Backend) {
    let t = hospital(backend).await;
    let app = t.service().await;
    let ines = t.person("Ines");
    let cookie = t.open_session(ines).await.cookie;
    let csrf = csrf_of(&cookie);
    let paul = consultant(&t).await;
    // Herself, or an administrator: refused, audited, nothing changed.
    for target in [ines, t.person("Alice")] {
        let before = last_seq(&t.t.db).await;
        let (status, _, _) = post(
            &app,
            &format!("/console/identities/{target}/suspend"),
            &cookie,
            &[("csrf", &csrf), ("reason", "essai")],
        )
        .await;
        assert_eq!(status, 403);
        let events = events_after(&t.t.db, before).await;
        assert!(
            events
                .iter()
                .any(|e| e["action"] == "console.target_refused"),
            "{events:?}"
        );
        assert!(!events.iter().any(|e| e["action"] == "identity.suspended"));
    }
    // The helpdesk reads identities but does not suspend anyone.
    let hugo = t.open_session(t.person("Hugo")).await.cookie;
    let (status, _, _) = post(
        &app,
        &format!("/console/identities/{paul}/suspend"),
        &hugo,
        &[("csrf", &csrf_of(&hugo)), ("reason", "essai")],
    )
    .await;
    assert_eq!(status, 403);
    let (_, body) = get(&app, &format!("/console/identities/{paul}"), &hugo).await;
    assert!(!body.contains("/suspend\""), "no form for the helpdesk");
    assert_eq!(status_of(&t, paul).await, LifecycleStatus::Active);

    // An administrator suspends an operator after a fresh login only.
    let alice = t.person("Alice");
    let admin = t.open_session(alice).await.cookie;
    t.clock.advance(chrono::Duration::seconds(
        t.state.fido2.config().fresh_login_secs + 1,
    ));
    let bruno = t.person("Bruno");
    let (status, to, _) = post(
        &app,
        &format!("/console/identities/{bruno}/suspend"),
        &admin,
        &[("csrf", &csrf_of(&admin)), ("reason", "badge prêté")],
    )
    .await;
    assert_eq!(status, 303);
    assert!(to.starts_with("/login?reauth=1&return_to="), "{to}");
    assert_eq!(status_of(&t, bruno).await, LifecycleStatus::Active);
}

async fn the_admin_api_suspends_and_reinstates(backend: Backend) {
    let t = hospital(backend).await;
    let app = t.service().await;
    let paul = consultant(&t).await;
    let ask = |path: String, body: serde_json::Value| {
        TestRequest::post()
            .uri(&path)
            .insert_header(t.admin_auth())
            .set_json(body)
            .to_request()
    };
    let r = call_service(
        &app,
        ask(
            format!("/admin/api/identities/{paul}/suspend"),
            serde_json::json!({"reason": "vol de badge"}),
        ),
    )
    .await;
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = serde_json::from_slice(&read_body(r).await).expect("json");
    assert_eq!(body["status"], "suspended");
    assert_eq!(status_of(&t, paul).await, LifecycleStatus::Suspended);
    let r = call_service(
        &app,
        ask(
            format!("/admin/api/identities/{paul}/suspend"),
            serde_json::json!({"reason": "encore"}),
        ),
    )
    .await;
    assert_eq!(r.status(), 409);
    let body: serde_json::Value = serde_json::from_slice(&read_body(r).await).expect("json");
    assert_eq!(body["error"]["code"], "already_suspended", "{body}");
    // Unknown fields are refused, not ignored.
    let r = call_service(
        &app,
        ask(
            format!("/admin/api/identities/{paul}/reinstate"),
            serde_json::json!({"reason": "ok", "force": true}),
        ),
    )
    .await;
    assert_eq!(r.status(), 400);
    let r = call_service(
        &app,
        ask(
            format!("/admin/api/identities/{paul}/reinstate"),
            serde_json::json!({"reason": "badge retrouvé"}),
        ),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(status_of(&t, paul).await, LifecycleStatus::Active);
    let events = events_after(&t.t.db, 0).await;
    let reinstated = events
        .iter()
        .find(|e| e["action"] == "identity.reinstated")
        .expect("audited");
    assert_eq!(reinstated["actor"], "api:dsi");
    // Nobody there: 404.
    let r = call_service(
        &app,
        ask(
            format!("/admin/api/identities/{}/suspend", Oid::new_random()),
            serde_json::json!({"reason": "x"}),
        ),
    )
    .await;
    assert_eq!(r.status(), 404);
}

async fn two_operators_suspending_at_once_place_one_suspension(backend: Backend) {
    let t = hospital(backend).await;
    let paul = consultant(&t).await;
    let key = paul.to_string();
    let now = Clock::now(&t.clock);
    let suspend = |who: &str| {
        let actor = Actor::Identity(t.person(who));
        let (db, cfg, subs, key) = (
            t.t.db.clone(),
            t.state.directory.clone(),
            t.state.subscribers.clone(),
            key.clone(),
        );
        tokio::spawn(async move {
            clavis_directory::suspension::suspend(
                &db,
                &cfg,
                &subs,
                now,
                &key,
                "au même moment",
                &actor,
            )
            .await
        })
    };
    let (a, b) = (suspend("Ines"), suspend("Alice"));
    let results = [a.await.expect("task"), b.await.expect("task")];
    let placed = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(placed, 1, "{results:?}");
    assert!(
        results.iter().any(|r| matches!(
            r,
            Err(clavis_directory::DirectoryError::AlreadySuspended(o)) if *o == paul
        )),
        "{results:?}"
    );
    let mut conn = t.t.db.conn().await.expect("conn");
    let rows = clavis_store::models::IdentitySuspensionRow::for_identity(&mut conn, paul)
        .await
        .expect("rows");
    assert_eq!(rows.len(), 1);
    let events = events_after(&t.t.db, 0).await;
    assert_eq!(
        events
            .iter()
            .filter(|e| e["action"] == "identity.suspended")
            .count(),
        1
    );
}

async fn a_lifted_suspension_gives_back_only_what_it_took(backend: Backend) {
    use clavis_directory::lifecycle::LifecycleKind;
    let t = hospital(backend).await;
    let claire = t.person("Claire");
    // A key suspended before suspensions gave anything back (reason
    // `suspended`): it stays suspended.
    let mut old = insert_key(&t.t.db, claire, "k-old").await;
    old.status = AuthenticatorStatus::Suspended;
    old.status_reason = Some("suspended".into());
    let mut conn = t.t.db.conn().await.expect("conn");
    old.update(&mut conn).await.expect("old key");
    drop(conn);
    insert_key(&t.t.db, claire, "k-now").await;
    t.apply_lifecycle(claire, LifecycleKind::Suspended).await;
    assert_eq!(
        key_status(&t, "k-now").await,
        (
            AuthenticatorStatus::Suspended,
            Some("holder_suspended".into())
        )
    );
    t.apply_lifecycle(claire, LifecycleKind::Reinstated).await;
    assert_eq!(key_status(&t, "k-now").await.0, AuthenticatorStatus::Active);
    assert_eq!(
        key_status(&t, "k-old").await.0,
        AuthenticatorStatus::Suspended,
        "not taken by this suspension"
    );
    // Suspended, then departed, then back: nothing of before comes back.
    t.apply_lifecycle(claire, LifecycleKind::Suspended).await;
    t.apply_lifecycle(claire, LifecycleKind::Departed).await;
    assert_eq!(
        key_status(&t, "k-now").await,
        (AuthenticatorStatus::Suspended, Some("departed".into()))
    );
    t.apply_lifecycle(claire, LifecycleKind::Reinstated).await;
    assert_eq!(
        key_status(&t, "k-now").await.0,
        AuthenticatorStatus::Suspended
    );
}

async fn an_operator_withdraws_a_link_to_pro_sante_connect_with_a_note(backend: Backend) {
    let t = hospital(backend).await;
    let app = t.service().await;
    let claire = t.person("Claire");
    let now = Clock::now(&t.clock).timestamp();
    let mut conn = t.t.db.conn().await.expect("conn");
    clavis_store::models::PscLinkRow {
        oid: claire,
        national_id: format!("8{}", super::CLAIRE_RPPS),
        psc_sub: "sub-claire".into(),
        acr: None,
        auth_mode: None,
        id_token_sha256: "00".into(),
        linked_at: now - 86_400,
        expires_at: now + 300 * 86_400,
        revoked_at: None,
        revoked_reason: None,
        revoked_by: None,
    }
    .save(&mut conn)
    .await
    .expect("link");
    drop(conn);
    // Her sessions: one opened through Pro Santé Connect, one with her badge.
    let (_, via_psc) = psc_session(&t, claire, "eidas2", &["mfa"]).await;
    let (_, with_badge) = session_with(&t, claire, "b-claire").await;
    let ines = t.person("Ines");
    let cookie = t.open_session(ines).await.cookie;
    let csrf = csrf_of(&cookie);
    let page = format!("/console/identities/{claire}");
    let (_, body) = get(&app, &page, &cookie).await;
    assert!(
        body.contains(&format!("action=\"{page}/psc-unlink\"")),
        "{body}"
    );
    let (status, _, _) = post(
        &app,
        &format!("{page}/psc-unlink"),
        &cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(status, 400, "a note is required");
    let before = last_seq(&t.t.db).await;
    let (status, to, body) = post(
        &app,
        &format!("{page}/psc-unlink"),
        &cookie,
        &[
            ("csrf", &csrf),
            ("note", "lien fait depuis le poste d'une collègue"),
        ],
    )
    .await;
    assert_eq!((status, to.as_str()), (303, page.as_str()), "{body}");
    let mut conn = t.t.db.conn().await.expect("conn");
    let link = clavis_store::models::PscLinkRow::find(&mut conn, claire)
        .await
        .expect("find")
        .expect("link");
    assert!(link.revoked_at.is_some());
    drop(conn);
    assert!(
        !session_is_live(&t, &via_psc).await,
        "the PSC session ended"
    );
    assert!(
        session_is_live(&t, &with_badge).await,
        "the badge's did not"
    );
    let events = events_after(&t.t.db, before).await;
    let unlinked = events
        .iter()
        .find(|e| e["action"] == "psc.unlinked")
        .expect("audited");
    assert_eq!(unlinked["actor"], format!("identity:{ines}"));
    assert_eq!(
        unlinked["changes"]["note"],
        "lien fait depuis le poste d'une collègue"
    );
    let (_, body) = get(&app, &page, &cookie).await;
    assert!(!body.contains("/psc-unlink\""), "nothing left to withdraw");
    let (status, _, _) = post(
        &app,
        &format!("{page}/psc-unlink"),
        &cookie,
        &[("csrf", &csrf), ("note", "encore")],
    )
    .await;
    assert_eq!(status, 404);
}
