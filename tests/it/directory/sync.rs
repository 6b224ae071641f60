//! Sync runs of the HR and AD sources: the first full run, incremental
//! runs by cursor (AD `uSNChanged`, HR `modifyTimestamp`, syncrepl
//! cookies), and dry runs, which report without writing.

use super::{count, full, incr, show};
use crate::fixtures::*;
use crate::support::audit::{events_after, named};
use crate::support::{audit_snapshot, on_both_backends};
use clavis_directory::service;
use clavis_directory::{NoProgress, SyncOptions, SyncReport};
use clavis_store::models::AuditEventRow;
use clavis_testkit::db::{Backend, TestDb};
use clavis_testkit::slapd::Slapd;

on_both_backends!(
    first_full_sync_creates_one_identity_per_person_and_links_ad_accounts,
    a_second_full_run_changes_nothing_and_the_audit_chain_holds,
    incremental_ad_runs_read_only_entries_whose_usn_changed,
    incremental_hr_runs_filter_on_modify_timestamp,
    syncrepl_runs_read_only_what_changed_since_the_cookie,
    dry_run_writes_nothing,
    dry_run_on_a_populated_directory_reports_no_false_departures,
    a_sync_writes_audit_events_of_a_stable_shape,
);

/// Alice (HR, with RPPS, AD login `amartin`), Bob (HR, AD account
/// disabled), and an AD service account of nobody, synced from HR then AD.
async fn alice_bob_and_a_service_account(
    t: &TestDb,
) -> (Slapd, clavis_directory::SyncEngine, SyncReport, SyncReport) {
    let slapd = Slapd::start();
    let mut alice = Hr::new("E001", "Martin", "Alice, Marie", "1985-03-07");
    alice.rpps = Some("10001045367".into());
    let bob = Hr::new("E002", "Bernard", "Bob", "1979-11-30");
    slapd.add(&(alice.ldif() + &bob.ldif()));
    slapd.add(
        &(ad_ldif("amartin", "E001", 512, 10)
            + &ad_ldif("bbernard", "E002", 514, 11)
            + &ad_ldif("svc-backup", "", 512, 12)),
    );
    let (engine, _clock, _rec) = engine(&t.db, vec![hr_source(&slapd), ad_source(&slapd)], 500);
    let hr = full(&engine, "rh").await;
    let ad = full(&engine, "ad").await;
    (slapd, engine, hr, ad)
}

async fn first_full_sync_creates_one_identity_per_person_and_links_ad_accounts(backend: Backend) {
    let t = TestDb::new(backend).await;
    let (_slapd, _engine, hr, ad) = alice_bob_and_a_service_account(&t).await;
    assert_eq!((hr.seen, hr.created, hr.rejected), (2, 2, 0), "{hr:?}");
    assert_eq!(ad.unmatched, 1, "the service account is nobody: {ad:?}");

    let a = show(&t.db, "10001045367").await.identity;
    assert_eq!(a.birth_given_names, vec!["Alice", "Marie"]);
    assert_eq!(a.national_id.as_deref(), Some("810001045367"));
    assert_eq!(a.logins, vec!["amartin"]);
    assert_eq!(
        a.email.as_deref(),
        Some("amartin@chu-test.fr"),
        "AD owns the email"
    );
    assert_eq!(a.status.as_str(), "active");
    assert_eq!(a.sources.len(), 2);
    let by_login = show(&t.db, "AMARTIN").await.identity;
    assert_eq!(by_login.oid, a.oid, "logins are case-insensitive");
    let b = show(&t.db, "bbernard").await.identity;
    assert!(
        !b.accounts[0].enabled,
        "userAccountControl 514 has the disabled bit"
    );
    assert_eq!(
        b.accounts[0].disabled_reason.as_deref(),
        Some("ad_disabled")
    );
    assert_eq!(count(&t.db).await, 2);
    let mut conn = t.db.conn().await.expect("conn");
    let created = AuditEventRow::for_target(&mut conn, &a.oid.to_string(), 100)
        .await
        .expect("audit");
    assert!(
        created
            .iter()
            .any(|e| e.action == "identity.created" && e.actor == "sync:rh")
    );
}

async fn a_second_full_run_changes_nothing_and_the_audit_chain_holds(backend: Backend) {
    let t = TestDb::new(backend).await;
    let (_slapd, engine, _, _) = alice_bob_and_a_service_account(&t).await;
    let again = full(&engine, "rh").await;
    assert_eq!(
        (again.created, again.updated, again.unchanged),
        (0, 0, 2),
        "{again:?}"
    );
    let mut conn = t.db.conn().await.expect("conn");
    let report = clavis_audit::verify(&mut conn).await.expect("verify");
    assert!(
        report.first_broken.is_none() && report.checked > 4,
        "{report:?}"
    );
}

/// Alice and Bob in HR and AD, after a full HR run.
async fn alice_and_bob_synced(t: &TestDb) -> (Slapd, clavis_directory::SyncEngine) {
    let slapd = Slapd::start();
    slapd.add(
        &(Hr::new("E001", "Martin", "Alice", "1985-03-07").ldif()
            + &Hr::new("E002", "Bernard", "Bob", "1979-11-30").ldif()),
    );
    slapd.add(&(ad_ldif("amartin", "E001", 512, 10) + &ad_ldif("bbernard", "E002", 512, 11)));
    let (engine, _c, _r) = engine(&t.db, vec![hr_source(&slapd), ad_source(&slapd)], 500);
    full(&engine, "rh").await;
    (slapd, engine)
}

async fn incremental_ad_runs_read_only_entries_whose_usn_changed(backend: Backend) {
    let t = TestDb::new(backend).await;
    let (slapd, engine) = alice_and_bob_synced(&t).await;
    let first = incr(&engine, "ad").await;
    assert_eq!(
        first.mode.as_str(),
        "full",
        "no cursor yet: the first run is full"
    );
    slapd.modify(&format!("dn: {}\nchangetype: modify\nreplace: userAccountControl\nuserAccountControl: 514\n-\nreplace: uSNChanged\nuSNChanged: 20\n", ad_dn("bbernard")));
    let r = incr(&engine, "ad").await;
    assert_eq!(r.mode.as_str(), "incremental");
    assert_eq!(r.seen, 1, "only the changed entry is read: {r:?}");
    assert_eq!(r.updated, 1);
    let b = show(&t.db, "bbernard").await.identity;
    assert!(!b.accounts[0].enabled);
    let nothing = incr(&engine, "ad").await;
    assert_eq!(nothing.seen, 0, "{nothing:?}");
}

async fn incremental_hr_runs_filter_on_modify_timestamp(backend: Backend) {
    let t = TestDb::new(backend).await;
    let (slapd, engine) = alice_and_bob_synced(&t).await;
    incr(&engine, "ad").await;
    slapd.modify(&format!(
        "dn: {}\nchangetype: modify\nreplace: sn\nsn: Martin-Durand\n",
        Hr::new("E001", "", "x", "").dn()
    ));
    let h = incr(&engine, "rh").await;
    assert_eq!(h.mode.as_str(), "incremental");
    assert_eq!(h.updated, 1, "{h:?}");
    assert_eq!(
        show(&t.db, "amartin")
            .await
            .identity
            .used_family_name
            .as_deref(),
        Some("Martin-Durand")
    );
}

async fn syncrepl_runs_read_only_what_changed_since_the_cookie(backend: Backend) {
    let t = TestDb::new(backend).await;
    let slapd = Slapd::start();
    let a = Hr::new("E001", "Martin", "Alice", "1985-03-07");
    slapd.add(
        &(a.ldif()
            + &Hr::new("E002", "Bernard", "Bob", "1979-11-30").ldif()
            + &Hr::new("E003", "Petit", "Claire", "1990-05-01").ldif()),
    );
    let mut src = hr_source(&slapd);
    src.cursor_attribute = Some(clavis_directory::config::CursorAttribute::Syncrepl);
    let (engine, _c, _r) = engine(&t.db, vec![src], 500);
    let first = incr(&engine, "rh").await;
    assert_eq!(
        (first.mode.as_str(), first.created),
        ("full", 3),
        "{first:?}"
    );
    let quiet = incr(&engine, "rh").await;
    assert_eq!(
        (quiet.mode.as_str(), quiet.seen),
        ("incremental", 0),
        "nothing changed: {quiet:?}"
    );
    slapd.modify(&format!(
        "dn: {}\nchangetype: modify\nreplace: sn\nsn: Martin-Durand\n",
        a.dn()
    ));
    slapd.add(&Hr::new("E004", "Robert", "Denis", "1970-01-15").ldif());
    let r = incr(&engine, "rh").await;
    assert_eq!((r.seen, r.updated, r.created), (2, 1, 1), "{r:?}");
    assert_eq!(
        show(&t.db, "E001")
            .await
            .identity
            .used_family_name
            .as_deref(),
        Some("Martin-Durand")
    );
    assert_eq!(incr(&engine, "rh").await.seen, 0);
}

async fn dry_run_writes_nothing(backend: Backend) {
    let t = TestDb::new(backend).await;
    let slapd = Slapd::start();
    slapd.add(&Hr::new("E060", "Chevalier", "Marc", "1966-06-06").ldif());
    let (engine, _c, _r) = engine(&t.db, vec![hr_source(&slapd)], 500);
    let r = engine
        .run(
            "rh",
            SyncOptions {
                full: true,
                dry_run: true,
            },
            &NoProgress,
        )
        .await
        .expect("dry run");
    assert_eq!(r.created, 1, "the report says what would happen");
    assert_eq!(count(&t.db).await, 0, "but nothing is written");
    assert!(
        service::list_sync_runs(&t.db, None, 5)
            .await
            .expect("runs")
            .is_empty()
    );
    let r = full(&engine, "rh").await;
    assert_eq!(r.mode.as_str(), "full");
    assert_eq!(r.created, 1);
}

async fn dry_run_on_a_populated_directory_reports_no_false_departures(backend: Backend) {
    let t = TestDb::new(backend).await;
    let slapd = Slapd::start();
    slapd.add(
        &(Hr::new("E087", "Perrin", "Alix", "1977-03-03").ldif()
            + &Hr::new("E088", "Renard", "Bruno", "1978-04-04").ldif()),
    );
    let (engine, _c, _r) = engine(&t.db, vec![hr_source(&slapd)], 500);
    full(&engine, "rh").await;
    for _ in 0..3 {
        let r = engine
            .run(
                "rh",
                SyncOptions {
                    full: true,
                    dry_run: true,
                },
                &NoProgress,
            )
            .await
            .expect("dry run");
        assert_eq!((r.departed, r.unchanged), (0, 2), "{r:?}");
    }
}

async fn a_sync_writes_audit_events_of_a_stable_shape(backend: Backend) {
    let t = TestDb::new(backend).await;
    let slapd = Slapd::start();
    let mut alice = Hr::new("E001", "Martin", "Alice", "1985-03-07");
    alice.rpps = Some("10001045367".into());
    slapd.add(&alice.ldif());
    slapd.add(&ad_ldif("amartin", "E001", 512, 10));
    let (engine, _c, _r) = engine(&t.db, vec![hr_source(&slapd), ad_source(&slapd)], 500);
    full(&engine, "rh").await;
    full(&engine, "ad").await;
    let oid = show(&t.db, "E001").await.identity.oid;
    let mut names = vec![(oid.to_string(), "[alice]".to_string())];
    for source in ["rh", "ad"] {
        let runs = service::list_sync_runs(&t.db, Some(source), 1)
            .await
            .expect("runs");
        let id = runs[0]["id"].as_str().expect("run id").to_string();
        names.push((id, format!("[{source} run]")));
    }
    let names: Vec<(&str, &str)> = names
        .iter()
        .map(|(v, n)| (v.as_str(), n.as_str()))
        .collect();
    let events = events_after(&t.db, 0).await;
    audit_snapshot!("audit_sync", named(events, &names));
}
