//! Storage for Clavis: one code path over SQLite (embedded default) and
//! PostgreSQL (multi-node deployments).
//!
//! - [`Db`] is a connection pool for either backend, chosen by the URL;
//!   [`DbConn`] is one pooled connection. Query code is written once and
//!   compiled for both backends by [`with_conn!`].
//! - Transactions are explicit: [`DbConn::begin`], then [`DbConn::finish`]
//!   with the result of the work, which commits on `Ok` and rolls back on
//!   `Err`, so nothing is ever half-written.
//! - [`migrate`] runs the embedded migrations of the backend in use.
//! - `models` holds one module per table: its row types and their queries.
//!
//! Conventions: timestamps are unix seconds (`*_at`, `i64`), calendar dates
//! are `YYYY-MM-DD` text, lists are JSON arrays in text columns. These map
//! identically on both backends.

pub mod db;
pub mod migrate;
pub mod models;
pub mod schema;

pub use db::{Backend, Checkpointed, Db, DbConn, StoreError};
