//! Row types, one module per table, each with the queries that read and
//! write it. Callers pass an explicit [`DbConn`](crate::DbConn), inside a
//! transaction when several writes must stand or fall together.

pub mod account;
pub mod api_token;
pub mod assignment;
pub mod audit_event;
pub mod case;
pub mod identity;
pub mod lifecycle_event;
pub mod source_record;
pub mod sync_run;

pub use account::Account;
pub use api_token::ApiToken;
pub use assignment::Assignment;
pub use audit_event::AuditEventRow;
pub use case::ReconciliationCase;
pub use identity::IdentityRow;
pub use lifecycle_event::LifecycleEventRow;
pub use source_record::SourceRecordRow;
pub use sync_run::{SyncCursor, SyncRunRow};
