//! Row types, one module per table, each with the queries that read and
//! write it. Callers pass an explicit [`DbConn`](crate::DbConn), inside a
//! transaction when several writes must stand or fall together.

pub mod account;
pub mod api_token;
pub mod assignment;
pub mod audit_event;
pub mod audit_verification;
pub mod authenticator;
pub mod badge;
pub mod badge_tx;
pub mod case;
pub mod ceremony;
pub mod compliance;
pub mod enrolment_link;
pub mod habilitation;
pub mod identity;
pub mod identity_role;
pub mod identity_suspension;
pub mod lifecycle_event;
pub mod login_failure;
pub mod logout_outbox;
pub mod manual_terms;
pub mod master_key_check;
pub mod oidc;
pub mod psc;
pub mod review;
pub mod source_record;
pub mod sso_session;
pub mod sync_run;
pub mod workstation;

pub use account::Account;
pub use api_token::ApiToken;
pub use assignment::Assignment;
pub use audit_event::{AuditEventRow, AuditFilter};
pub use audit_verification::{AuditVerificationRow, ChainStatus};
pub use authenticator::AuthenticatorRow;
pub use badge::{BadgePinRow, BadgeRow};
pub use badge_tx::BadgeTxRow;
pub use case::ReconciliationCase;
pub use ceremony::CeremonyRow;
pub use enrolment_link::EnrolmentLinkRow;
pub use habilitation::{HabilitationFilter, HabilitationRow};
pub use identity::IdentityRow;
pub use identity_role::IdentityRoleRow;
pub use identity_suspension::IdentitySuspensionRow;
pub use lifecycle_event::LifecycleEventRow;
pub use login_failure::LoginFailureRow;
pub use logout_outbox::LogoutOutboxRow;
pub use manual_terms::ManualTermsRow;
pub use master_key_check::MasterKeyCheck;
pub use oidc::{OidcClientRow, OidcGrantRow, OidcKeyRow, OidcTokenRow, UsedAssertions};
pub use psc::{PscLinkRow, PscLoginRow, PscRequestRow};
pub use source_record::SourceRecordRow;
pub use sso_session::SsoSessionRow;
pub use sync_run::{SyncCursor, SyncLease, SyncRunRow};
pub use workstation::WorkstationRow;
