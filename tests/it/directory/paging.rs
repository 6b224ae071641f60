//! Reading a source in pages and writing in batches: more entries than
//! the server's size limit, and a server lost between two pages (whole
//! batches only, and a rerun converges).

use super::{count, full};
use crate::fixtures::*;
use crate::support::on_both_backends;
use clavis_directory::SyncOptions;
use clavis_directory::service::{self};
use clavis_testkit::db::{Backend, TestDb};
use clavis_testkit::slapd::Slapd;

on_both_backends!(
    paging_reads_more_entries_than_the_server_size_limit,
    source_down_mid_run_fails_cleanly_and_a_rerun_converges,
);

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
    let (engine, _c, _r) = engine(&t.db, vec![hr_source(&slapd)], 80);
    let r = full(&engine, "rh").await;
    assert_eq!(r.seen as usize, n, "{r:?}");
    assert_eq!(r.created as usize, n);
    // The 80 created in the first batch got neighbouring oids: one prefix
    // of 48 random bits (OidBatch); the 27 of the last, fewer than
    // OidBatch::MIN_PEOPLE, got oids of their own.
    let items = service::list_identities(&t.db, None, None, 10_000, 0)
        .await
        .expect("list")
        .items;
    let mut per_prefix = std::collections::HashMap::<String, usize>::new();
    let mut own = 0;
    for i in &items {
        match i.oid.as_uuid().get_version_num() {
            8 => {
                *per_prefix
                    .entry(i.oid.to_string()[..13].to_string())
                    .or_default() += 1
            }
            4 => own += 1,
            v => panic!("{}: version {v}", i.oid),
        }
    }
    const {
        use clavis_core::ids::OidBatch;
        assert!(80 >= OidBatch::MIN_PEOPLE && 27 < OidBatch::MIN_PEOPLE);
    }
    assert_eq!(per_prefix.into_values().collect::<Vec<_>>(), vec![80]);
    assert_eq!(own, n - 80);
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
