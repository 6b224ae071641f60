//! Authenticators and the login ceremony: FIDO2 security keys through
//! WebAuthn (webauthn-rs), one-time enrolment links, brute-force delays.
//!
//! - A key is enrolled first through a one-time link issued by the IT desk
//!   ([`issue_enrolment_link`]); more keys are added from `/me` after a
//!   fresh login. Registration requires user verification (the key's PIN)
//!   and, when the DSI sets an allow-list, an attestation from one of the
//!   allowed models (AAGUID + vendor CA).
//! - Login is username-less (discoverable credentials) or username-first.
//!   Both require user verification; the result carries the configured
//!   acr/amr for the method.
//! - The server half of each ceremony is stored in the database between the
//!   two requests, so any node can finish what another began; it can be
//!   finished once.
//! - Failures are counted per identity and per client address; after a few,
//!   further attempts must wait, longer each time. Everything is audited.
//!
//! The FIDO2 service lives in `fido2/`, one file per use case (`register`,
//! `login`, `enrolment_link`, `throttle`, `keys`); its items are re-exported
//! here. Departures and suspensions suspend the person's keys and badges
//! ([`AuthnLifecycle`], `lifecycle.rs`).

pub mod api_token;
pub mod badge;
pub mod config;
mod error;
mod fido2;
mod lifecycle;

pub use config::{AttestationPolicy, AuthnConfig, BadgeConfig};
pub use error::AuthnError;
pub use fido2::{
    Challenge, EnrolmentLink, Fido2, KeyView, LoginOutcome, LoginProof, SessionRequest,
    check_enrolment_link, delay_after, has_enabled_account, issue_enrolment_link, keys_of,
    remove_key,
};
pub use lifecycle::AuthnLifecycle;
