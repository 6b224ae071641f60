//! End-to-end tests of Clavis against real parts: SQLite and PostgreSQL,
//! OpenLDAP slapd, the `clavis` binary itself (started, stopped and started
//! again on one database in `restart.rs`; under systemd's notify protocol in
//! `notify.rs`; behind nginx, with its own TLS and scraped by Prometheus in
//! `ops/`).
//!
//! PostgreSQL tests use the server `scripts/test` starts
//! (`CLAVIS_TEST_PG_URL`); slapd is started per test by the testkit.

mod backup;
mod badge;
mod badge_e2e;
mod browser;
mod cli;
mod cluster;
mod console;
mod console_browser;
mod directory;
mod errors;
mod fixtures;
mod fuzz_replay;
mod login;
mod notify;
mod oidc;
mod ops;
mod pages;
mod psc;
mod psc_browser;
mod restart;
mod storage;
mod support;
