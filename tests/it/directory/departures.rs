//! When a person leaves: by end date (the day after), by leaver flag, or
//! after missing from N full runs — and never because an entry was
//! rejected or a run lost most people at once.

use super::{full, incr, show};
use crate::fixtures::*;
use crate::support::on_both_backends;
use clavis_directory::lifecycle::LifecycleKind;
use clavis_testkit::db::{Backend, TestDb};
use clavis_testkit::slapd::Slapd;

on_both_backends!(
    departure_by_end_date_disables_accounts_and_notifies_subscribers,
    departure_by_leaver_flag,
    departure_after_missing_from_n_full_runs_not_before,
    a_rejected_entry_still_listed_never_counts_as_missing,
    a_run_missing_most_people_counts_no_one_missing,
);

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
