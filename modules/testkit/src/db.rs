//! One fresh database per test.

use clavis_store::{Db, migrate};
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};

/// Which backend a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A temporary SQLite file.
    Sqlite,
    /// A new database on the test PostgreSQL server.
    Postgres,
}

/// A migrated, empty database that lives as long as this value.
#[derive(Debug)]
pub struct TestDb {
    /// The pool.
    pub db: Db,
    /// The URL (for driving the `clavis` binary at it).
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

/// The PostgreSQL server URL of the test run. `scripts/test` starts a
/// throwaway cluster and exports it.
pub fn pg_admin_url() -> String {
    std::env::var("CLAVIS_TEST_PG_URL").unwrap_or_else(|_| {
        panic!(
            "CLAVIS_TEST_PG_URL is not set: PostgreSQL tests need the server that scripts/test starts \
             (run `scripts/test`, or `eval $(scripts/test-services env)` before cargo test)"
        )
    })
}

impl TestDb {
    /// A fresh migrated database on `backend`.
    pub async fn new(backend: Backend) -> TestDb {
        let (url, dir) = match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let path = dir.path().join("clavis.db");
                (path.to_string_lossy().into_owned(), Some(dir))
            }
            Backend::Postgres => {
                let admin = pg_admin_url();
                let name = format!("clavis_test_{}", uuid_like());
                let mut conn = AsyncPgConnection::establish(&admin)
                    .await
                    .unwrap_or_else(|e| {
                        panic!("cannot reach the test PostgreSQL at CLAVIS_TEST_PG_URL: {e}")
                    });
                conn.batch_execute(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create test database");
                let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
                (format!("{base}/{name}"), None)
            }
        };
        let db = Db::open(&url, 4).expect("open pool");
        migrate::run_pending(&db).await.expect("migrations apply");
        TestDb { db, url, _dir: dir }
    }
}

fn uuid_like() -> String {
    clavis_core::ids::new_record_id().replace('-', "")
}
