//! The local identity directory: every professional once, verified, kept in
//! step with HR and Active Directory.
//!
//! - [`config`]: the `[directory]` section (sources, precedence, grace).
//! - [`source`]: reading LDAP directories and CSV exports, page by page.
//! - [`mapping`]: raw entries to typed fields; malformed entries rejected
//!   with the entry and field named.
//! - [`reconcile`]: the reconciliation decision, matching records to
//!   identities (never on a guess: doubt opens a reconciliation case).
//! - [`apply`]: recomputing identities from their linked records.
//! - [`golden`]: which source owns which field; status from dates and flags.
//! - [`sync`]: a run, in bounded transactional batches, with its report.
//! - [`lifecycle`]: events (arrival, move, departure…) and the subscribers
//!   that act on them in the same transaction.
//! - [`service`]: views and operator actions for the CLI and admin API.
//! - [`manual`]: identities created by hand (`clavis identity add`),
//!   matched and audited like a source's.
//! - [`roles`]: Clavis's own roles (`admin`, `badge-office`), granted with
//!   their audit.

pub mod apply;
pub mod compliance;
pub mod config;
pub mod error;
pub mod golden;
pub mod lifecycle;
pub mod manual;
pub mod mapping;
pub mod reconcile;
pub mod roles;
pub mod service;
pub mod source;
pub mod suspension;
pub mod sync;

pub use config::{DirectoryConfig, SourceConfig, SourceKind, SourceRole};
pub use error::DirectoryError;
pub use sync::{NoProgress, Progress, SyncEngine, SyncOptions, SyncReport};
