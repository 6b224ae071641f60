//! What the end-to-end tests share.
//!
//! - [`TestApp`]: the real HTTP application on a fresh database (SQLite or
//!   PostgreSQL), built like crates.io's test harness:
//!   `TestApp::on(backend).with_nurse().with_session().with_client(c).start().await`
//!   (and `state`, the application state of every HTTP test).
//! - [`on_both_backends!`]: runs each scenario of a file on SQLite and on
//!   PostgreSQL, as `sqlite::<name>` and `postgres::<name>`.
//! - [`http`]: small helpers for requests and answers (cookies, JSON bodies,
//!   redirects, forms, basic authentication).
//! - [`audit`]: the audit log's events as JSON.
//! - [`binary`]: the `clavis` binary and other processes (commands, their
//!   JSON, processes stopped when dropped, readiness polls).
//! - [`receiver`]: an application's back-channel endpoint, keeping what
//!   it receives.
//! - [`json_snapshot!`]: `insta::assert_json_snapshot!` with every snapshot
//!   of the suite kept in `tests/it/snapshots`.

pub mod app;
pub mod audit;
pub mod binary;
pub mod http;
pub mod receiver;

pub use app::{ORIGIN, TestApp, WORKSTATION_SECRET, state};

/// Where the suite keeps its snapshots: one folder for every module, at
/// any depth (insta's default is a `snapshots` folder beside each file).
/// A snapshot is named after its module and its name:
/// `it__oidc__discovery__jwks.snap`.
pub fn snapshot_settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/snapshots"));
    s
}

/// `insta::assert_json_snapshot!` (same arguments, redactions included)
/// under [`snapshot_settings`].
macro_rules! json_snapshot {
    ($($arg:tt)*) => {
        $crate::support::snapshot_settings().bind(|| insta::assert_json_snapshot!($($arg)*))
    };
}
pub(crate) use json_snapshot;

/// Runs each named scenario (an `async fn name(backend: Backend)`) on
/// SQLite and on PostgreSQL: one test each, `sqlite::name` and
/// `postgres::name`, so a failure on one backend never hides the other.
/// One invocation per file.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(clavis_testkit::db::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(clavis_testkit::db::Backend::Postgres).await
                }
            )*
        }
    };
}
pub(crate) use on_both_backends;

/// [`json_snapshot!`] of audit events ([`audit::events_after`]) with what
/// changes on every run redacted: sequence numbers, ids, instants and the
/// chain's hashes.
macro_rules! audit_snapshot {
    ($name:expr, $events:expr) => {
        $crate::support::json_snapshot!($name, $events, {
            "[].seq" => "[seq]",
            "[].id" => "[id]",
            "[].occurred_at" => "[occurred_at]",
            "[].prev_hash" => "[prev_hash]",
            "[].hash" => "[hash]",
        })
    };
}
pub(crate) use audit_snapshot;
