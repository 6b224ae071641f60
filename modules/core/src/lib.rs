//! Shared vocabulary of Clavis.
//!
//! Every other crate speaks in these types: identity ids (`Oid`), national
//! professional identifiers (`Rpps`, `Adeli`, `NationalId`), lifecycle states,
//! normalised names for matching, dates as sources write them, an injectable
//! `Clock`, redacted `Secret`s, the acr order, the master key, who acted (`Actor`) and
//! what was audited (`AuditAction`), and the closed vocabularies of stored
//! records (`status`: statuses, kinds, end reasons). Nothing
//! here does I/O but draw from the system's random generator.

pub mod acr;
pub mod actor;
pub mod audit_action;
pub mod clock;
pub mod dates;
pub mod ids;
pub mod lifecycle;
pub mod master_key;
pub mod names;
pub mod national_id;
pub mod page;
pub mod roles;
pub mod secret;
pub mod status;
pub mod text;

pub use acr::AcrOrder;
pub use actor::Actor;
pub use audit_action::AuditAction;
pub use clock::{Clock, FixedClock, SystemClock};
pub use ids::{BadgeId, ClientId, Oid, SessionId, WorkstationId};
pub use lifecycle::{ContractType, LifecycleStatus};
pub use national_id::{Adeli, NationalId, NationalIdError, Rpps};
pub use page::Page;
pub use secret::Secret;
pub use status::{
    AuthenticatorKind, AuthenticatorStatus, BadgeKind, BadgeStatus, BadgeTxPurpose, BadgeTxStatus,
    CaseStatus, CeremonyKind, LoginMethod, PscUnlinkReason, SessionEndReason, SyncMode,
    SyncRunStatus, TokenKind,
};
pub use text::UnknownValue;
