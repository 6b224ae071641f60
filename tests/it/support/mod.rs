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

pub mod app;
pub mod http;

pub use app::{ORIGIN, TestApp, state};

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
