//! Badge login: a MIFARE DESFire badge tapped on a workstation's reader,
//! then a PIN. This folder is the whole of it on the server side; the
//! workstation agent (`clavis-agent`) only relays APDUs, and the web crate
//! only carries requests to [`BadgeService`].
//!
//! The flow of a login:
//!
//! 1. The login page opens a badge transaction ([`BadgeService::open`])
//!    and hands its token to the local agent.
//! 2. The agent, authenticated as a registered workstation
//!    ([`BadgeService::workstation`]), posts each card answer
//!    ([`BadgeService::step`]) and gets the next APDU back. Each step
//!    replays the badge check from the recorded answers; when the badge
//!    has proved itself it is looked up in the records (known, active, its
//!    UID, its holder active), re-keyed on this tap if it carries older
//!    keys, and the transaction becomes `identified`.
//! 3. The page posts the PIN ([`BadgeService::finish_login`]): the PIN is
//!    checked (lockout), and in one unit the transaction is spent, the
//!    sessions open at that workstation end (fast user switching), the new
//!    SSO session opens, and the browser's previous session ends.
//!
//! An enrolment is the same round trip with a personalisation instead of
//! a check: it ends with the badge recorded, and the desk then sets the
//! holder's PIN ([`office::set_holder_pin`], under the office's rules).
//!
//! The files:
//!
//! | file | what |
//! |---|---|
//! | [`check`] | the badge check: DESFire state machine, card answers → real UID and badge reference (pure, no I/O) |
//! | [`personalise`] | making a blank card a Clavis badge (pure state machine) |
//! | [`rekey`] | moving a badge to the current key version on its next tap (pure state machine) |
//! | [`transaction`] | the relayed transaction: open, step (replay and what each outcome leads to), status, finish |
//! | [`records`] | badges in the store: record, identify, revoke, view |
//! | [`pin`] | the PIN: policy, argon2id + pepper hashing, check with lockout, set, unlock |
//! | [`office`] | the badge office's rules: whom an operator may serve, replacing a PIN |
//! | [`workstation`] | registered workstations (the agents' credentials) |

pub mod check;
pub mod office;
pub mod personalise;
pub mod pin;
pub mod records;
pub mod rekey;
pub mod transaction;
pub mod workstation;

pub use check::{
    BadgeCheck, BadgeFailure, BadgeKeys, BadgeRead, REFERENCE_FILE, REFERENCE_LEN, key_no,
};
pub use office::OfficeRefusal;
pub use personalise::{Personalisation, PersonalisationKeys, PersonaliseFailure, Personalised};
pub use pin::{BadgePolicy, PinHashError, PinHasher, PinPolicyError, PinRefusal};
pub use records::{BadgeError, BadgeRefusal};
pub use rekey::{Rekey, RekeyFailure, RekeyPlan};
pub use transaction::{
    AgentReply, BadgeLogin, BadgeService, Opened, Purpose, RelayError, refusal_is_final,
};
pub use workstation::WorkstationError;
