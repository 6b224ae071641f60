//! Runs that cannot start: an unreachable server, a refused bind, a
//! source another node is already syncing. Nothing is written.

use super::{count, full};
use crate::fixtures::*;
use crate::support::on_both_backends;
use clavis_directory::{NoProgress, SyncOptions};
use clavis_testkit::db::{Backend, TestDb};
use clavis_testkit::slapd::Slapd;

on_both_backends!(
    an_unreachable_server_fails_with_nothing_written,
    a_refused_bind_fails_with_nothing_written_and_never_echoes_the_password,
    a_second_run_of_a_source_is_refused_while_one_holds_it,
);

/// A full run of `source` alone that must fail: its error.
async fn failing_full_run(
    db: &clavis_store::Db,
    source: clavis_directory::config::SourceConfig,
) -> clavis_directory::DirectoryError {
    let (engine, _c, _r) = engine(db, vec![source], 500);
    engine
        .run(
            "rh",
            SyncOptions {
                full: true,
                dry_run: false,
            },
            &NoProgress,
        )
        .await
        .expect_err("the run fails")
}

async fn an_unreachable_server_fails_with_nothing_written(backend: Backend) {
    let t = TestDb::new(backend).await;
    let slapd = Slapd::start();
    slapd.add(&Hr::new("E050", "Lambert", "Luc", "1977-07-07").ldif());
    let mut down = hr_source(&slapd);
    down.url = Some(format!("ldap://127.0.0.1:{}", clavis_testkit::free_port()));
    let e = failing_full_run(&t.db, down).await;
    assert!(e.to_string().contains("cannot reach"), "{e}");
    assert_eq!(count(&t.db).await, 0);
}

async fn a_refused_bind_fails_with_nothing_written_and_never_echoes_the_password(backend: Backend) {
    let t = TestDb::new(backend).await;
    let slapd = Slapd::start();
    slapd.add(&Hr::new("E050", "Lambert", "Luc", "1977-07-07").ldif());
    let mut wrong = hr_source(&slapd);
    let dir = tempfile::tempdir().expect("dir");
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "not-the-password").expect("pw");
    wrong.bind_password_file = Some(pw);
    let e = failing_full_run(&t.db, wrong).await;
    assert!(e.to_string().contains("bind as"), "{e}");
    assert!(
        !e.to_string().contains("not-the-password"),
        "never echo a secret: {e}"
    );
    assert_eq!(count(&t.db).await, 0);
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
