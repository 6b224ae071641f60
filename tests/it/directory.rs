//! The identity directory against a real slapd, on both backends.

use crate::fixtures::*;
use crate::support::on_both_backends;
use clavis_directory::lifecycle::LifecycleKind;
use clavis_directory::service::{self, Resolution};
use clavis_directory::{NoProgress, SyncOptions, SyncReport};
use clavis_store::models::AuditEventRow;
use clavis_testkit::db::{Backend, TestDb};
use clavis_testkit::slapd::Slapd;

on_both_backends!(
    first_full_sync_creates_one_identity_per_person_and_links_ad_accounts,
    incremental_sync_reads_only_changed_entries,
    syncrepl_runs_read_only_what_changed_since_the_cookie,
    move_closes_the_assignment_and_keeps_history,
    departure_by_end_date_disables_accounts_and_notifies_subscribers,
    departure_by_leaver_flag,
    departure_after_missing_from_n_full_runs_not_before,
    rehire_keeps_the_oid,
    homonyms_stay_two_people,
    near_match_opens_a_case_links_nothing_until_an_operator_decides,
    accents_and_hyphens_normalise_across_sources,
    invalid_entries_are_rejected_with_their_dn_and_the_rest_continues,
    paging_reads_more_entries_than_the_server_size_limit,
    source_down_mid_run_fails_cleanly_and_a_rerun_converges,
    unreachable_server_and_refused_bind_fail_with_nothing_written,
    dry_run_writes_nothing,
    a_rejected_entry_still_listed_never_counts_as_missing,
    a_run_missing_most_people_counts_no_one_missing,
    join_key_with_contradicting_traits_opens_a_case,
    an_ad_account_arriving_before_its_hr_record_joins_when_hr_arrives,
    a_second_run_of_a_source_is_refused_while_one_holds_it,
    dry_run_on_a_populated_directory_reports_no_false_departures,
    a_rehire_whose_old_entry_is_still_listed_as_leaver_is_active,
    an_rpps_held_by_one_person_is_never_given_to_another,
    arrival_in_the_future_is_pending_until_the_day,
);

async fn full(engine: &clavis_directory::SyncEngine, source: &str) -> SyncReport {
    engine
        .run(
            source,
            SyncOptions {
                full: true,
                dry_run: false,
            },
            &NoProgress,
        )
        .await
        .expect("sync succeeds")
}

async fn incr(engine: &clavis_directory::SyncEngine, source: &str) -> SyncReport {
    engine
        .run(
            source,
            SyncOptions {
                full: false,
                dry_run: false,
            },
            &NoProgress,
        )
        .await
        .expect("sync succeeds")
}

async fn show(db: &clavis_store::Db, key: &str) -> service::IdentityDetail {
    service::show_identity(db, key)
        .await
        .expect("identity exists")
}

async fn count(db: &clavis_store::Db) -> usize {
    service::list_identities(db, None, None, 10_000, 0)
        .await
        .expect("list")
        .len()
}

async fn first_full_sync_creates_one_identity_per_person_and_links_ad_accounts(backend: Backend) {
    let t = TestDb::new(backend).await;
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
    assert_eq!((hr.seen, hr.created, hr.rejected), (2, 2, 0), "{hr:?}");
    let ad = full(&engine, "ad").await;
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

    // A second full run changes nothing.
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
    let created = AuditEventRow::for_target(&mut conn, &a.oid.to_string(), 100)
        .await
        .expect("audit");
    assert!(
        created
            .iter()
            .any(|e| e.action == "identity.created" && e.actor == "sync:rh")
    );
}

async fn incremental_sync_reads_only_changed_entries(backend: Backend) {
    let t = TestDb::new(backend).await;
    let slapd = Slapd::start();
    slapd.add(
        &(Hr::new("E001", "Martin", "Alice", "1985-03-07").ldif()
            + &Hr::new("E002", "Bernard", "Bob", "1979-11-30").ldif()),
    );
    slapd.add(&(ad_ldif("amartin", "E001", 512, 10) + &ad_ldif("bbernard", "E002", 512, 11)));
    let (engine, _c, _r) = engine(&t.db, vec![hr_source(&slapd), ad_source(&slapd)], 500);
    full(&engine, "rh").await;
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

    // HR incremental runs filter on modifyTimestamp.
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

async fn departure_by_end_date_disables_accounts_and_notifies_subscribers(backend: Backend) {
    let t = TestDb::new(backend).await;
    let slapd = Slapd::start();
    let mut cdd = Hr::new("E003", "Petit", "Claire", "1990-05-01");
    cdd.departure = Some("2026-12-31".into());
    slapd.add(&cdd.ldif());
    slapd.add(&ad_ldif("cpetit", "E003", 512, 10));
    let (engine, clock, rec) = engine(&t.db, vec![hr_source(&slapd), ad_source(&slapd)], 500);
    full(&engine, "rh").await;
    full(&engine, "ad").await;
    assert_eq!(
        show(&t.db, "cpetit").await.identity.status.as_str(),
        "active",
        "the contract runs until 31 Dec"
    );
    // 4 h 01 min into 31 Dec: still employed that day.
    clock.set("2026-12-31T04:01:00Z".parse().expect("instant"));
    engine.apply_due_transitions().await.expect("tick");
    assert_eq!(
        show(&t.db, "cpetit").await.identity.status.as_str(),
        "active"
    );
    // The date after: gone, without any change in the source.
    clock.set("2027-01-01T00:00:01Z".parse().expect("instant"));
    let due = engine.apply_due_transitions().await.expect("tick");
    assert_eq!(due.departed, 1);
    let i = show(&t.db, "cpetit").await.identity;
    assert_eq!(i.status.as_str(), "departed");
    assert!(i.accounts.iter().all(|a| !a.enabled), "{:?}", i.accounts);
    assert_eq!(i.accounts[0].disabled_reason.as_deref(), Some("departed"));
    let events = rec.0.lock().expect("lock");
    let dep = events
        .iter()
        .find(|e| e.kind == LifecycleKind::Departed)
        .expect("departure event");
    assert_eq!(dep.reason, "end_date_reached");
    assert_eq!(dep.oid, i.oid);
}

async fn departure_by_leaver_flag(backend: Backend) {
    let t = TestDb::new(backend).await;
    let slapd = Slapd::start();
    let d = Hr::new("E004", "Durand", "Denis", "1970-01-15");
    slapd.add(&d.ldif());
    slapd.add(&ad_ldif("ddurand", "E004", 512, 10));
    let (engine, _c, _r) = engine(&t.db, vec![hr_source(&slapd), ad_source(&slapd)], 500);
    full(&engine, "rh").await;
    full(&engine, "ad").await;
    slapd.modify(&format!(
        "dn: {}\nchangetype: modify\nadd: leaverFlag\nleaverFlag: TRUE\n",
        d.dn()
    ));
    let r = full(&engine, "rh").await;
    assert_eq!(r.departed, 1, "{r:?}");
    let i = show(&t.db, "ddurand").await.identity;
    assert_eq!(i.status.as_str(), "departed");
    assert!(!i.accounts[0].enabled);
    // The AD still says enabled: a departed person's account stays disabled.
    full(&engine, "ad").await;
    assert!(!show(&t.db, "ddurand").await.identity.accounts[0].enabled);
}

async fn departure_after_missing_from_n_full_runs_not_before(backend: Backend) {
    let t = TestDb::new(backend).await;
    let slapd = Slapd::start();
    let e = Hr::new("E005", "Leroy", "Emma", "1988-08-08");
    slapd.add(&(e.ldif() + &Hr::new("E006", "Moreau", "Fanny", "1991-02-02").ldif()));
    let (engine, _c, _r) = engine(&t.db, vec![hr_source(&slapd)], 500);
    full(&engine, "rh").await;
    slapd.delete(&[&e.dn()]);
    // Incremental runs never count a disappearance.
    incr(&engine, "rh").await;
    assert_eq!(show(&t.db, "E005").await.identity.status.as_str(), "active");
    let r1 = full(&engine, "rh").await;
    assert_eq!(r1.departed, 0, "one missed run is not a departure");
    assert_eq!(show(&t.db, "E005").await.identity.status.as_str(), "active");
    let r2 = full(&engine, "rh").await;
    assert_eq!(r2.departed, 1, "missing_runs_before_departure = 2: {r2:?}");
    let i = show(&t.db, "E005").await;
    assert_eq!(i.identity.status.as_str(), "departed");
    assert!(
        i.lifecycle
            .iter()
            .any(|l| l["kind"] == "departed" && l["reason"] == "missing_from_source")
    );
    assert_eq!(show(&t.db, "E006").await.identity.status.as_str(), "active");
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

async fn homonyms_stay_two_people(backend: Backend) {
    let t = TestDb::new(backend).await;
    let slapd = Slapd::start();
    slapd.add(
        &(Hr::new("E010", "Dubois", "Jean", "1975-06-15").ldif()
            + &Hr::new("E011", "Dubois", "Jean", "1982-09-01").ldif()),
    );
    let (engine, _c, _r) = engine(&t.db, vec![hr_source(&slapd)], 500);
    let r = full(&engine, "rh").await;
    assert_eq!((r.created, r.cases_opened), (2, 0), "{r:?}");
    assert_ne!(
        show(&t.db, "E010").await.identity.oid,
        show(&t.db, "E011").await.identity.oid
    );
}

async fn near_match_opens_a_case_links_nothing_until_an_operator_decides(backend: Backend) {
    let t = TestDb::new(backend).await;
    let slapd = Slapd::start();
    slapd.add(&Hr::new("E020", "Roux", "Hugo", "1987-07-07").ldif());
    let (engine, _c, _r) = engine(&t.db, vec![hr_source(&slapd)], 500);
    full(&engine, "rh").await;
    // Same names and birth date, born elsewhere: maybe the same person,
    // maybe not. Nobody guesses.
    let mut twin = Hr::new("E021", "Roux", "Hugo", "1987-07-07");
    twin.birth_place = "69123".into();
    slapd.add(&twin.ldif());
    let r = full(&engine, "rh").await;
    assert_eq!((r.created, r.cases_opened), (0, 1), "{r:?}");
    assert_eq!(count(&t.db).await, 1, "nothing created or merged");
    let cases = service::list_cases(&t.db, false).await.expect("cases");
    assert_eq!(cases.len(), 1);
    assert_eq!(cases[0].reason, "birth_place_differs");
    assert_eq!(cases[0].entry, twin.dn());
    let first = show(&t.db, "E020").await.identity;
    assert_eq!(cases[0].candidates[0]["oid"], first.oid.to_string());
    // Re-running does not open a second case.
    let again = full(&engine, "rh").await;
    assert_eq!(again.cases_opened, 0);
    // The operator decides: a different person.
    let oid = service::resolve_case(
        &t.db,
        engine.config(),
        &Vec::new(),
        t0(),
        &cases[0].id,
        Resolution::CreateNew,
        "cli:test",
    )
    .await
    .expect("resolve");
    assert_ne!(oid, first.oid);
    assert_eq!(count(&t.db).await, 2);
    assert!(
        service::list_cases(&t.db, false)
            .await
            .expect("cases")
            .is_empty()
    );
    let err = service::resolve_case(
        &t.db,
        engine.config(),
        &Vec::new(),
        t0(),
        &cases[0].id,
        Resolution::CreateNew,
        "cli:test",
    )
    .await;
    assert!(matches!(
        err,
        Err(clavis_directory::DirectoryError::CaseAlreadyResolved(_))
    ));
}

async fn accents_and_hyphens_normalise_across_sources(backend: Backend) {
    let t = TestDb::new(backend).await;
    let slapd = Slapd::start();
    let mut h = Hr::new("E030", "Dupont Moreau", "Hélène", "1980-01-02");
    h.rpps = Some("10100224947".into());
    slapd.add(&h.ldif());
    let dir = tempfile::tempdir().expect("dir");
    let csv = dir.path().join("agents.csv");
    // Latin-1, as many SI-RH export it.
    let text = "Matricule;Nom de naissance;Prénoms;Date de naissance;Lieu de naissance;RPPS\nX9;DUPONT-MORÉAU;HELENE;02/01/1980;75056;10100224947\n";
    let (latin1, _, _) = encoding_rs::WINDOWS_1252.encode(text);
    std::fs::write(&csv, latin1).expect("write csv");
    let (engine, _c, _r) = engine(&t.db, vec![hr_source(&slapd), csv_source(&csv)], 500);
    full(&engine, "rh").await;
    let r = full(&engine, "rh-csv").await;
    assert_eq!((r.created, r.cases_opened, r.rejected), (0, 0, 0), "{r:?}");
    let i = show(&t.db, "10100224947").await.identity;
    assert_eq!(
        i.sources.len(),
        2,
        "one person, two sources: {:?}",
        i.sources
    );
    assert_eq!(
        i.birth_family_name, "Dupont Moreau",
        "the first HR source keeps precedence"
    );
}

async fn invalid_entries_are_rejected_with_their_dn_and_the_rest_continues(backend: Backend) {
    let t = TestDb::new(backend).await;
    let slapd = Slapd::start();
    let mut bad_rpps = Hr::new("E040", "Faure", "Inès", "1992-12-12");
    bad_rpps.rpps = Some("10001045368".into());
    let mut bad_date = Hr::new("E041", "Blanc", "Jules", "1992-02-30");
    bad_date.rpps = None;
    let good = Hr::new("E042", "Girard", "Karim", "1984-10-10");
    // No birth date at all.
    let no_birth = format!(
        "dn: uid=E043,ou=hr,{s}\nobjectClass: inetOrgPerson\nobjectClass: hrAgent\nuid: E043\ncn: X\nsn: Noir\nbirthName: Noir\ngivenName: Léa\nemployeeNumber: E043\n\n",
        s = clavis_testkit::slapd::SUFFIX
    );
    // The same external id twice.
    let mut dup = Hr::new("E042", "Girard", "Karim", "1984-10-10");
    dup.id = "E042".into();
    let dup_ldif = dup
        .ldif()
        .replace("uid=E042,", "uid=E042bis,")
        .replace("uid: E042\n", "uid: E042bis\n");
    slapd.add(&(bad_rpps.ldif() + &bad_date.ldif() + &good.ldif() + &no_birth + &dup_ldif));
    let (engine, _c, _r) = engine(&t.db, vec![hr_source(&slapd)], 500);
    let r = full(&engine, "rh").await;
    assert_eq!(r.created, 1, "{r:?}");
    assert_eq!(r.rejected, 4, "{:#?}", r.rejections);
    let find = |field: &str| r.rejections.iter().find(|x| x.field == field).cloned();
    let rpps = find("rpps").expect("rpps rejection");
    assert_eq!(rpps.entry, bad_rpps.dn());
    assert!(rpps.message.contains("Luhn"));
    assert!(
        find("birth_date")
            .map(|x| x.entry)
            .unwrap_or_default()
            .contains("E04")
    );
    assert!(
        r.rejections
            .iter()
            .any(|x| x.field == "external_id" && x.message.contains("duplicate"))
    );
    // The run is saved with its rejections for the admin API.
    let runs = service::list_sync_runs(&t.db, Some("rh"), 5)
        .await
        .expect("runs");
    assert_eq!(runs[0]["rejected"], 4);
    assert_eq!(runs[0]["status"], "succeeded");
}

async fn paging_reads_more_entries_than_the_server_size_limit(backend: Backend) {
    let t = TestDb::new(backend).await;
    let slapd = Slapd::start();
    let n = clavis_testkit::slapd::SIZE_LIMIT * 2 + 7;
    let ldif: String = (0..n)
        .map(|i| {
            Hr::new(
                &format!("P{i:04}"),
                &format!("Nom{i}"),
                "Prénom",
                "1980-01-01",
            )
            .ldif()
        })
        .collect();
    slapd.add(&ldif);
    let (engine, _c, _r) = engine(&t.db, vec![hr_source(&slapd)], 25);
    let r = full(&engine, "rh").await;
    assert_eq!(r.seen as usize, n, "{r:?}");
    assert_eq!(r.created as usize, n);
}

async fn source_down_mid_run_fails_cleanly_and_a_rerun_converges(backend: Backend) {
    let t = TestDb::new(backend).await;
    let mut slapd = Slapd::start();
    let ldif: String = (0..120)
        .map(|i| Hr::new(&format!("Q{i:04}"), &format!("Nom{i}"), "Zoé", "1981-01-01").ldif())
        .collect();
    slapd.add(&ldif);
    let (engine, _c, _r) = engine(&t.db, vec![hr_source(&slapd)], 10);
    struct KillAfterFirstPage<'a>(std::sync::Mutex<Option<&'a mut Slapd>>);
    impl clavis_directory::Progress for KillAfterFirstPage<'_> {
        fn on_page(&self, _seen: u64) {
            if let Some(s) = self.0.lock().expect("lock").take() {
                s.stop();
            }
        }
    }
    {
        let killer = KillAfterFirstPage(std::sync::Mutex::new(Some(&mut slapd)));
        let err = engine
            .run(
                "rh",
                SyncOptions {
                    full: true,
                    dry_run: false,
                },
                &killer,
            )
            .await
            .expect_err("the server went away");
        assert!(
            matches!(err, clavis_directory::DirectoryError::Source(_)),
            "{err}"
        );
    }
    let partial = count(&t.db).await;
    assert!(
        (10..120).contains(&partial),
        "whole batches only: {partial}"
    );
    assert_eq!(partial % 10, 0, "no half batch: {partial}");
    let runs = service::list_sync_runs(&t.db, Some("rh"), 5)
        .await
        .expect("runs");
    assert_eq!(runs[0]["status"], "failed");
    slapd.restart();
    let r = full(&engine, "rh").await;
    assert_eq!(r.created as usize, 120 - partial, "{r:?}");
    assert_eq!(r.unchanged as usize, partial);
    assert_eq!(count(&t.db).await, 120);
}

async fn unreachable_server_and_refused_bind_fail_with_nothing_written(backend: Backend) {
    let t = TestDb::new(backend).await;
    let slapd = Slapd::start();
    slapd.add(&Hr::new("E050", "Lambert", "Luc", "1977-07-07").ldif());
    let mut down = hr_source(&slapd);
    down.url = Some(format!("ldap://127.0.0.1:{}", clavis_testkit::free_port()));
    let (down_engine, _c, _r) = engine(&t.db, vec![down], 500);
    let e = down_engine
        .run(
            "rh",
            SyncOptions {
                full: true,
                dry_run: false,
            },
            &NoProgress,
        )
        .await
        .expect_err("unreachable");
    assert!(e.to_string().contains("cannot reach"), "{e}");

    let mut wrong = hr_source(&slapd);
    let dir = tempfile::tempdir().expect("dir");
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "not-the-password").expect("pw");
    wrong.bind_password_file = Some(pw);
    let (engine2, _c2, _r2) = engine(&t.db, vec![wrong], 500);
    let e = engine2
        .run(
            "rh",
            SyncOptions {
                full: true,
                dry_run: false,
            },
            &NoProgress,
        )
        .await
        .expect_err("bind refused");
    assert!(e.to_string().contains("bind as"), "{e}");
    assert!(
        !e.to_string().contains("not-the-password"),
        "never echo a secret: {e}"
    );
    assert_eq!(count(&t.db).await, 0);
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

async fn a_rejected_entry_still_listed_never_counts_as_missing(backend: Backend) {
    let t = TestDb::new(backend).await;
    let slapd = Slapd::start();
    let p = Hr::new("E070", "Vidal", "Rose", "1986-06-06");
    slapd.add(&p.ldif());
    let (engine, _c, _r) = engine(&t.db, vec![hr_source(&slapd)], 500);
    full(&engine, "rh").await;
    // An HR clerk mistypes the RPPS: the entry is rejected, but still listed.
    slapd.modify(&format!(
        "dn: {}\nchangetype: modify\nadd: rppsNumber\nrppsNumber: 10001045368\n",
        p.dn()
    ));
    for _ in 0..3 {
        let r = full(&engine, "rh").await;
        assert_eq!((r.rejected, r.departed), (1, 0), "{r:?}");
    }
    assert_eq!(show(&t.db, "E070").await.identity.status.as_str(), "active");
}

async fn a_run_missing_most_people_counts_no_one_missing(backend: Backend) {
    let t = TestDb::new(backend).await;
    let slapd = Slapd::start();
    let people: Vec<Hr> = (0..12)
        .map(|i| {
            Hr::new(
                &format!("M{i:03}"),
                &format!("Nom{i}"),
                "Anne",
                "1980-01-01",
            )
        })
        .collect();
    slapd.add(&people.iter().map(Hr::ldif).collect::<String>());
    let (engine, _c, _r) = engine(&t.db, vec![hr_source(&slapd)], 500);
    full(&engine, "rh").await;
    // A wrong base DN or a truncated export: 11 of 12 gone at once.
    let dns: Vec<String> = people[1..].iter().map(Hr::dn).collect();
    slapd.delete(&dns.iter().map(String::as_str).collect::<Vec<_>>());
    for _ in 0..3 {
        let r = full(&engine, "rh").await;
        assert_eq!(r.departed, 0, "{r:?}");
        assert!(
            r.warnings.iter().any(|w| w.contains("not counted")),
            "{r:?}"
        );
    }
    assert_eq!(show(&t.db, "M005").await.identity.status.as_str(), "active");
}

async fn join_key_with_contradicting_traits_opens_a_case(backend: Backend) {
    let t = TestDb::new(backend).await;
    let slapd = Slapd::start();
    slapd.add(&Hr::new("E080", "Morel", "Paul", "1975-05-05").ldif());
    let dir = tempfile::tempdir().expect("dir");
    let csv = dir.path().join("paie.csv");
    std::fs::write(&csv, "Matricule;Nom de naissance;Prénoms;Date de naissance;Lieu de naissance;RPPS\nE080;Morel;Paul;1976-05-05;75056;\n").expect("csv");
    let mut paie = csv_source(&csv);
    paie.attributes.join_key = Some("Matricule".into());
    let (engine, _c, _r) = engine(&t.db, vec![hr_source(&slapd), paie], 500);
    full(&engine, "rh").await;
    let r = full(&engine, "rh-csv").await;
    assert_eq!((r.created, r.cases_opened), (0, 1), "{r:?}");
    let cases = service::list_cases(&t.db, false).await.expect("cases");
    assert_eq!(cases[0].reason, "join_key_traits_conflict");
    assert_eq!(
        show(&t.db, "E080").await.identity.sources.len(),
        1,
        "nothing merged"
    );
}

async fn an_ad_account_arriving_before_its_hr_record_joins_when_hr_arrives(backend: Backend) {
    let t = TestDb::new(backend).await;
    let slapd = Slapd::start();
    slapd.add(&ad_ldif("nnew", "E085", 512, 1));
    let (engine, _c, _r) = engine(&t.db, vec![hr_source(&slapd), ad_source(&slapd)], 500);
    let ad = full(&engine, "ad").await;
    assert_eq!(ad.unmatched, 1);
    slapd.add(&Hr::new("E085", "Nouveau", "Nina", "1999-09-09").ldif());
    full(&engine, "rh").await;
    let i = show(&t.db, "E085").await.identity;
    assert_eq!(
        i.logins,
        vec!["nnew"],
        "the waiting AD record joined at once"
    );
}

async fn a_second_run_of_a_source_is_refused_while_one_holds_it(backend: Backend) {
    let t = TestDb::new(backend).await;
    let slapd = Slapd::start();
    slapd.add(&Hr::new("E086", "Lebrun", "Yves", "1960-06-01").ldif());
    let (engine, _c, _r) = engine(&t.db, vec![hr_source(&slapd)], 500);
    let mut conn = t.db.conn().await.expect("conn");
    let now = t0().timestamp();
    assert!(
        clavis_store::models::SyncLease::acquire(&mut conn, "rh", "other-node", now, now + 600)
            .await
            .expect("lease")
    );
    let e = engine
        .run(
            "rh",
            SyncOptions {
                full: true,
                dry_run: false,
            },
            &NoProgress,
        )
        .await
        .expect_err("held");
    assert!(
        matches!(e, clavis_directory::DirectoryError::RunInProgress(_)),
        "{e}"
    );
    assert_eq!(count(&t.db).await, 0);
    clavis_store::models::SyncLease::release(&mut conn, "rh", "other-node")
        .await
        .expect("release");
    assert_eq!(full(&engine, "rh").await.created, 1);
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

async fn an_rpps_held_by_one_person_is_never_given_to_another(backend: Backend) {
    let t = TestDb::new(backend).await;
    let slapd = Slapd::start();
    let mut a = Hr::new("E095", "Garnier", "Ana", "1971-01-01");
    a.rpps = Some("10104335319".into());
    slapd.add(&(a.ldif() + &Hr::new("E096", "Chevalier", "Ben", "1972-02-02").ldif()));
    let dir = tempfile::tempdir().expect("dir");
    let csv = dir.path().join("x.csv");
    // Ben's traits, Ana's RPPS.
    std::fs::write(&csv, "Matricule;Nom de naissance;Prénoms;Date de naissance;Lieu de naissance;RPPS\nX1;Chevalier;Ben;1972-02-02;75056;10104335319\n").expect("csv");
    let (engine, _c, _r) = engine(&t.db, vec![hr_source(&slapd), csv_source(&csv)], 500);
    full(&engine, "rh").await;
    let r = full(&engine, "rh-csv").await;
    assert_eq!(r.cases_opened, 1, "{r:?}");
    assert_eq!(
        service::list_cases(&t.db, false).await.expect("cases")[0].reason,
        "rpps_held_by_another"
    );
    assert_eq!(show(&t.db, "E096").await.identity.rpps, None);
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
