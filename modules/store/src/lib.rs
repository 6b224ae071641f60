//! Storage for Clavis: one code path over SQLite (embedded default) and
//! PostgreSQL (multi-node deployments).
//!
//! - [`Db`] is a connection pool for either backend, chosen by the URL;
//!   [`DbConn`] is one pooled connection. Query code is written once and
//!   compiled for both backends by [`with_conn!`].
//! - Transactions are closures: [`DbConn::transaction`] runs the work and
//!   commits when it returns `Ok`, rolls it all back when it returns `Err`,
//!   so nothing is ever half-written; [`DbConn::unit`] does the same as one
//!   in-place unit (every SQLite statement on the calling thread while the
//!   write turn is held: logins, codes, token exchanges).
//! - [`migrate`] runs the embedded migrations of the backend in use.
//! - `models` holds one module per table: its row types and their queries.
//!
//! Conventions: timestamps are unix seconds (`*_at`, `i64`), calendar dates
//! are `YYYY-MM-DD` text, lists are JSON arrays in text columns
//! ([`JsonList`]), statuses and kinds are the strings of the vocabularies of
//! `clavis_core::status`, ids are text (`Oid`, `SessionId`…). These map
//! identically on both backends; a stored value outside its type is
//! [`StoreError::Corrupt`].

pub mod backup;
pub mod db;
pub mod json_list;
pub mod migrate;
pub mod models;
pub mod schema;

pub use db::{Backend, Checkpointed, Db, DbConn, PoolStatus, StoreError, sqlite_file};
pub use json_list::JsonList;
