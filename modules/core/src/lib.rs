//! Shared vocabulary of Clavis.
//!
//! Every other crate speaks in these types: identity ids (`Oid`), national
//! professional identifiers (`Rpps`, `Adeli`, `NationalId`), lifecycle states,
//! normalised names for matching, dates as sources write them, an injectable
//! `Clock`, redacted `Secret`s, the acr order and the master key. Nothing
//! here does I/O but draw from the system's random generator.

pub mod acr;
pub mod clock;
pub mod dates;
pub mod ids;
pub mod lifecycle;
pub mod master_key;
pub mod names;
pub mod national_id;
pub mod secret;

pub use acr::AcrOrder;
pub use clock::{Clock, FixedClock, SystemClock};
pub use ids::Oid;
pub use lifecycle::{ContractType, LifecycleStatus};
pub use national_id::{Adeli, NationalId, NationalIdError, Rpps};
pub use secret::Secret;
