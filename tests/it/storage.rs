//! Migrations on both backends, and the two schemas kept alike.

use clavis_store::migrate::{self, Direction};
use clavis_store::with_conn;
use clavis_testkit::db::{Backend, TestDb};
use diesel::QueryableByName;
use diesel::sql_types::Text;
use diesel_async::RunQueryDsl;
use std::collections::BTreeSet;

#[derive(QueryableByName)]
struct Col {
    #[diesel(sql_type = Text)]
    t: String,
    #[diesel(sql_type = Text)]
    c: String,
}

async fn columns(t: &TestDb) -> BTreeSet<(String, String)> {
    let mut conn = t.db.conn().await.expect("conn");
    let rows: Vec<Col> = match t.db.backend() {
        clavis_store::Backend::Sqlite => with_conn!(&mut conn, c => diesel::sql_query(
            "SELECT m.name AS t, p.name AS c FROM sqlite_master m JOIN pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name != '__diesel_schema_migrations'",
        ).load(c).await),
        clavis_store::Backend::Postgres => with_conn!(&mut conn, c => diesel::sql_query(
            "SELECT table_name::text AS t, column_name::text AS c FROM information_schema.columns \
             WHERE table_schema = 'public' AND table_name != '__diesel_schema_migrations'",
        ).load(c).await),
    }
    .expect("schema query");
    rows.into_iter().map(|r| (r.t, r.c)).collect()
}

async fn up_down_up(backend: Backend) -> BTreeSet<(String, String)> {
    let t = TestDb::new(backend).await;
    let before = columns(&t).await;
    assert!(before.contains(&("identities".into(), "oid".into())));
    let reverted = migrate::run(&t.db, Direction::DownAll).await.expect("down");
    assert!(!reverted.is_empty());
    assert!(columns(&t).await.is_empty(), "down drops every table");
    migrate::run(&t.db, Direction::Up).await.expect("up again");
    let after = columns(&t).await;
    assert_eq!(before, after);
    after
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_run_up_down_up_and_both_backends_have_the_same_schema() {
    let sqlite = up_down_up(Backend::Sqlite).await;
    let pg = up_down_up(Backend::Postgres).await;
    assert_eq!(sqlite, pg, "SQLite and PostgreSQL schemas differ");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_table_refuses_edits_on_both_backends() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let t = TestDb::new(backend).await;
        let mut conn = t.db.conn().await.expect("conn");
        clavis_audit::append_now(
            &mut conn,
            crate::fixtures::t0(),
            vec![clavis_audit::AuditEvent::new(
                clavis_core::Actor::Cli("it".into()),
                clavis_core::AuditAction::SyncFinished,
                None,
                serde_json::json!({}),
            )],
        )
        .await
        .expect("append");
        let r = with_conn!(&mut conn, c => diesel::sql_query("UPDATE audit_events SET actor = 'mallory'").execute(c).await);
        assert!(r.is_err(), "{backend:?}: update must be refused");
        let r = with_conn!(&mut conn, c => diesel::sql_query("DELETE FROM audit_events").execute(c).await);
        assert!(r.is_err(), "{backend:?}: delete must be refused");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_assertion_is_recorded_once_until_it_expires_on_both_backends() {
    use clavis_store::models::UsedAssertions;
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let t = TestDb::new(backend).await;
        let mut conn = t.db.conn().await.expect("conn");
        let first = UsedAssertions::record(&mut conn, &"dpi".into(), "j1", 1_000, 900).await;
        assert!(first.expect("record"), "{backend:?}: first use");
        let again = UsedAssertions::record(&mut conn, &"dpi".into(), "j1", 1_000, 950).await;
        assert!(!again.expect("record"), "{backend:?}: replay seen");
        let other = UsedAssertions::record(&mut conn, &"dui".into(), "j1", 1_000, 950).await;
        assert!(other.expect("record"), "{backend:?}: jti is per client");
        // Once expired it is forgotten (its exp would refuse it anyway).
        let later = UsedAssertions::record(&mut conn, &"dpi".into(), "j1", 2_000, 1_000).await;
        assert!(later.expect("record"), "{backend:?}: expired entries swept");
    }
}

/// Several `clavis` processes started at once on one new SQLite database
/// (a service starting while an operator runs a command, two units
/// starting together) all wait their turn: each migrates or finds nothing
/// pending, none fails on "database is locked" or on a table another one
/// just created. Three rounds of four, each on a fresh database.
#[test]
fn processes_starting_at_once_on_a_new_sqlite_database_all_succeed() {
    for round in 0..3 {
        let dir = tempfile::tempdir().expect("dir");
        let cfg = dir.path().join("clavis.toml");
        std::fs::write(
            &cfg,
            format!("state_dir = \"{}\"\n", dir.path().join("state").display()),
        )
        .expect("config");
        let spawn = |args: &[&str]| {
            std::process::Command::new(env!("CARGO_BIN_EXE_clavis"))
                .arg("--config")
                .arg(&cfg)
                .args(args)
                .env("CLAVIS_LANG", "en")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("the clavis binary starts")
        };
        let children = vec![
            spawn(&["migrate"]),
            spawn(&["identity", "list", "--json"]),
            spawn(&["migrate"]),
            spawn(&["identity", "list", "--json"]),
        ];
        for child in children {
            let out = child.wait_with_output().expect("waits");
            assert!(
                out.status.success(),
                "round {round}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let db = dir.path().join("state/clavis.db");
        assert!(db.exists(), "round {round}: the database was created");
    }
}
