//! The other lifecycle events: a move (assignment history kept), a
//! rehire (same oid), an arrival in the future (pending until the day).

use super::{full, show};
use crate::fixtures::*;
use crate::support::on_both_backends;
use clavis_directory::lifecycle::LifecycleKind;
use clavis_directory::service::{self};
use clavis_testkit::db::{Backend, TestDb};
use clavis_testkit::slapd::Slapd;

on_both_backends!(
    move_closes_the_assignment_and_keeps_history,
    rehire_keeps_the_oid,
    a_rehire_whose_old_entry_is_still_listed_as_leaver_is_active,
    arrival_in_the_future_is_pending_until_the_day,
    disabling_the_last_ad_account_ends_the_sessions_of_someone_still_employed,
);

async fn move_closes_the_assignment_and_keeps_history(backend: Backend) {
    let t = TestDb::new(backend).await;
    let slapd = Slapd::start();
    let alice = Hr::new("E001", "Martin", "Alice", "1985-03-07");
    slapd.add(&alice.ldif());
    let (engine, _c, rec) = engine(&t.db, vec![hr_source(&slapd)], 500);
    full(&engine, "rh").await;
    slapd.modify(&format!(
        "dn: {}\nchangetype: modify\nreplace: serviceCode\nserviceCode: REA\n",
        alice.dn()
    ));
    let r = full(&engine, "rh").await;
    assert_eq!(r.updated, 1);
    let d = show(&t.db, "E001").await;
    let oid = d.identity.oid;
    let d = service::show_identity(&t.db, &oid.to_string())
        .await
        .expect("by oid");
    assert_eq!(
        d.identity
            .assignment
            .as_ref()
            .and_then(|a| a.service.as_deref()),
        Some("REA")
    );
    assert_eq!(d.assignments.len(), 2, "history kept: {:?}", d.assignments);
    assert!(
        d.assignments
            .iter()
            .any(|a| !a.current && a.service.as_deref() == Some("URG"))
    );
    let new = d.assignments.iter().find(|a| a.current).expect("current");
    assert_eq!(
        new.start_date.as_deref(),
        Some("2026-11-22"),
        "a move starts on the day it is applied"
    );
    assert!(
        rec.0
            .lock()
            .expect("lock")
            .iter()
            .any(|e| e.kind == LifecycleKind::Moved)
    );
}

async fn rehire_keeps_the_oid(backend: Backend) {
    let t = TestDb::new(backend).await;
    let slapd = Slapd::start();
    let mut g = Hr::new("E007", "Garcia", "Gina", "1983-04-04");
    g.departure = Some("2026-06-30".into());
    slapd.add(&g.ldif());
    let (engine, _c, rec) = engine(&t.db, vec![hr_source(&slapd)], 500);
    full(&engine, "rh").await;
    let old = show(&t.db, "E007").await.identity;
    assert_eq!(old.status.as_str(), "departed");
    // She comes back with a new HR id.
    slapd.delete(&[&g.dn()]);
    let mut back = Hr::new("E107", "Garcia", "Gina", "1983-04-04");
    back.arrival = "2026-11-01".into();
    slapd.add(&back.ldif());
    let r = full(&engine, "rh").await;
    assert_eq!(r.created, 0, "{r:?}");
    let now = show(&t.db, "E107").await.identity;
    assert_eq!(now.oid, old.oid, "same person, same oid");
    assert_eq!(now.status.as_str(), "active");
    assert!(
        rec.0
            .lock()
            .expect("lock")
            .iter()
            .any(|e| e.kind == LifecycleKind::Rehired)
    );
}

async fn a_rehire_whose_old_entry_is_still_listed_as_leaver_is_active(backend: Backend) {
    let t = TestDb::new(backend).await;
    let slapd = Slapd::start();
    let mut old = Hr::new("E090", "Fabre", "Lina", "1984-08-08");
    old.leaver = true;
    slapd.add(&old.ldif());
    let (engine, _c, _r) = engine(&t.db, vec![hr_source(&slapd)], 500);
    full(&engine, "rh").await;
    let before = show(&t.db, "E090").await.identity;
    assert_eq!(before.status.as_str(), "departed");
    slapd.add(&Hr::new("E190", "Fabre", "Lina", "1984-08-08").ldif());
    for _ in 0..2 {
        full(&engine, "rh").await;
        let now = show(&t.db, "E190").await.identity;
        assert_eq!((now.oid, now.status.as_str()), (before.oid, "active"));
    }
}

async fn arrival_in_the_future_is_pending_until_the_day(backend: Backend) {
    let t = TestDb::new(backend).await;
    let slapd = Slapd::start();
    let mut n = Hr::new("E097", "Marchand", "Eva", "1995-05-05");
    n.arrival = "2026-12-01".into();
    slapd.add(&n.ldif());
    let (engine, clock, rec) = engine(&t.db, vec![hr_source(&slapd)], 500);
    full(&engine, "rh").await;
    assert_eq!(
        show(&t.db, "E097").await.identity.status.as_str(),
        "pending"
    );
    clock.set("2026-11-30T23:59:59Z".parse().expect("instant"));
    engine.apply_due_transitions().await.expect("tick");
    assert_eq!(
        show(&t.db, "E097").await.identity.status.as_str(),
        "pending"
    );
    clock.set("2026-12-01T00:00:00Z".parse().expect("instant"));
    assert_eq!(
        engine.apply_due_transitions().await.expect("tick").changed,
        1
    );
    assert_eq!(show(&t.db, "E097").await.identity.status.as_str(), "active");
    assert!(
        rec.0
            .lock()
            .expect("lock")
            .iter()
            .any(|e| e.kind == LifecycleKind::Activated)
    );
}

async fn disabling_the_last_ad_account_ends_the_sessions_of_someone_still_employed(
    backend: Backend,
) {
    let t = TestDb::new(backend).await;
    let slapd = Slapd::start();
    slapd.add(&Hr::new("E001", "Martin", "Alice", "1985-03-07").ldif());
    slapd.add(&ad_ldif("amartin", "E001", 512, 10));
    // An AD source that maps no account_control: userAccountControl is
    // read all the same.
    let mut ad = ad_source(&slapd);
    ad.attributes.account_control = None;
    let clock = clavis_core::FixedClock::at(t0());
    let recorder = std::sync::Arc::new(Recorder::default());
    let engine = clavis_directory::SyncEngine::new(
        t.db.clone(),
        std::sync::Arc::new(clavis_directory::DirectoryConfig {
            sources: vec![hr_source(&slapd), ad],
            ..clavis_directory::DirectoryConfig::default()
        }),
        std::sync::Arc::new(clock.clone()),
        vec![
            recorder.clone(),
            std::sync::Arc::new(clavis_sso::SsoLifecycle),
        ],
    );
    full(&engine, "rh").await;
    full(&engine, "ad").await;
    let oid = show(&t.db, "amartin").await.identity.oid;
    let mut conn = t.db.conn().await.expect("conn");
    let (_, session) = clavis_sso::create(
        &mut conn,
        &clavis_sso::SsoConfig::default(),
        clavis_core::Clock::now(&clock),
        clavis_sso::NewSession {
            oid,
            acr: "eidas2".into(),
            amr: vec!["hwk".into()],
            authenticator_id: None,
            client_ip: None,
            user_agent: None,
            workstation_id: None,
            ends_by: None,
            method: clavis_core::LoginMethod::Fido2,
        },
    )
    .await
    .expect("session");
    slapd.modify(&format!(
        "dn: {}\nchangetype: modify\nreplace: userAccountControl\nuserAccountControl: 514\n-\nreplace: uSNChanged\nuSNChanged: 20\n",
        ad_dn("amartin")
    ));
    full(&engine, "ad").await;
    let d = show(&t.db, "amartin").await.identity;
    assert_eq!(d.status.as_str(), "active", "still employed");
    assert!(!d.accounts[0].enabled);
    let events = recorder.0.lock().expect("lock").clone();
    assert!(
        events
            .iter()
            .any(|e| e.oid == oid && e.kind == LifecycleKind::AccountsDisabled),
        "{events:?}"
    );
    let row = clavis_store::models::SsoSessionRow::find(&mut conn, &session.id)
        .await
        .expect("read")
        .expect("row");
    assert_eq!(
        row.end_reason,
        Some(clavis_core::SessionEndReason::AccountDisabled)
    );
    assert!(
        clavis_store::models::Account::all_disabled_for(&mut conn, oid)
            .await
            .expect("read")
    );
    // Enabled again: no new event, and she may sign in again.
    slapd.modify(&format!(
        "dn: {}\nchangetype: modify\nreplace: userAccountControl\nuserAccountControl: 512\n-\nreplace: uSNChanged\nuSNChanged: 21\n",
        ad_dn("amartin")
    ));
    full(&engine, "ad").await;
    assert!(
        !clavis_store::models::Account::all_disabled_for(&mut conn, oid)
            .await
            .expect("read")
    );
    let disabled_events = recorder
        .0
        .lock()
        .expect("lock")
        .iter()
        .filter(|e| e.kind == LifecycleKind::AccountsDisabled)
        .count();
    assert_eq!(disabled_events, 1);
}
