//! The FIDO2 service: a WebAuthn relying party (webauthn-rs) and the
//! ceremonies it runs, one file per use case.
//!
//! - `register`: enrolling a key, first from a one-time
//!   link, then from `/me` after a fresh login; user verification
//!   required, and an attestation from an allowed model when the DSI sets
//!   an allow-list.
//! - `login`: username-less or username-first login, the
//!   signature checked before the write transaction, the SSO session
//!   opened in it.
//! - `enrolment_link`: the one-time links the IT
//!   desk issues.
//! - `throttle`: failure counters per client address, and
//!   the wait they impose.
//! - `keys`: a person's keys as shown on `/me`, and their
//!   removal.
//!
//! The server half of each ceremony is stored in the database between the
//! two requests (`store_ceremony`), so any node can finish what
//! another began; it can be finished once (`take_ceremony`).

mod enrolment_link;
mod keys;
mod login;
mod register;
mod throttle;

pub use enrolment_link::{EnrolmentLink, check_enrolment_link, issue_enrolment_link};
pub use keys::{KeyView, has_enabled_account, keys_of, remove_key};
pub use login::{LoginOutcome, LoginProof, SessionRequest};
pub use throttle::delay_after;

use crate::config::{AttestationPolicy, AuthnConfig};
use crate::error::AuthnError;
use base64::Engine;
use chrono::{DateTime, Utc};
use clavis_core::secret::{random_token, sha256_hex};
use clavis_core::{CeremonyKind, Oid};
use clavis_store::DbConn;
use clavis_store::models::CeremonyRow;
use serde::Serialize;
use webauthn_rs::prelude::*;

/// How long a ceremony may take between its two requests.
pub(crate) const CEREMONY_TTL_SECS: i64 = 300;

/// A credential id as stored (unpadded base64url; not a secret).
fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The FIDO2 service: a configured WebAuthn relying party.
pub struct Fido2 {
    webauthn: Webauthn,
    cfg: AuthnConfig,
    ca_list: Option<AttestationCaList>,
    /// The secret the decoy credential ids of unknown login names are
    /// derived from (see `login`): the same on every node and across
    /// restarts when it comes from the master key.
    decoy_key: [u8; 32],
    /// Seals a login's server half into the token the browser gives back
    /// (see `login`): nothing is stored before a login is finished.
    ceremony_key: clavis_core::master_key::MasterKey,
    /// How many enrolled keys have credential ids of each length, as last
    /// read (see `login`): decoys take these lengths.
    decoy_lengths: std::sync::Mutex<login::IdLengths>,
}

impl std::fmt::Debug for Fido2 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fido2")
            .field("cfg", &self.cfg)
            .field("decoy_key", &"[redacted]")
            .finish_non_exhaustive()
    }
}

/// Where a ceremony is: its id and the options for the browser.
#[derive(Debug, Clone, Serialize)]
pub struct Challenge<T: Serialize> {
    /// Give it back to finish.
    pub ceremony: String,
    /// For `navigator.credentials.create/get`.
    pub options: T,
}

impl Fido2 {
    /// A relying party for `public_url` (its host is the RP id).
    pub fn new(
        cfg: AuthnConfig,
        public_url: &Url,
        ca_list: Option<AttestationCaList>,
    ) -> Result<Self, AuthnError> {
        let rp_id = public_url
            .host_str()
            .ok_or_else(|| AuthnError::Config(format!("{public_url} has no host")))?;
        let webauthn = WebauthnBuilder::new(rp_id, public_url)
            .and_then(|b| b.rp_name(&cfg.rp_name).build())
            .map_err(|e| {
                AuthnError::Config(format!("WebAuthn relying party for {public_url}: {e}"))
            })?;
        if matches!(cfg.attestation, AttestationPolicy::AllowList)
            && ca_list.as_ref().is_none_or(|l| l.is_empty())
        {
            return Err(AuthnError::Config("attestation allow-list is empty".into()));
        }
        let mut decoy_key = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut decoy_key);
        let mut ceremony_key = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut ceremony_key);
        Ok(Self {
            webauthn,
            cfg,
            ca_list,
            decoy_key,
            ceremony_key: clavis_core::master_key::MasterKey::from_bytes(&ceremony_key),
            decoy_lengths: Default::default(),
        })
    }

    /// Derives the decoy credential ids of unknown login names from `key`
    /// (`clavis serve` passes one derived from the master key, so every
    /// node and every restart answers an unknown name alike). Without it a
    /// random key of this process is used.
    pub fn with_decoy_key(mut self, key: [u8; 32]) -> Self {
        self.decoy_key = key;
        self
    }

    /// Seals the logins' server half with `key` (`clavis serve` passes one
    /// derived from the master key, so that any node finishes a login
    /// another began, and across restarts). Without it a random key of
    /// this process is used.
    pub fn with_ceremony_key(mut self, key: [u8; 32]) -> Self {
        self.ceremony_key = clavis_core::master_key::MasterKey::from_bytes(&key);
        self
    }

    /// The configuration.
    pub fn config(&self) -> &AuthnConfig {
        &self.cfg
    }

    /// Stores the server half of a ceremony between its two requests;
    /// returns the id the browser gives back (only its hash is stored).
    async fn store_ceremony(
        conn: &mut DbConn,
        now: DateTime<Utc>,
        kind: CeremonyKind,
        oid: Option<Oid>,
        state: &impl Serialize,
    ) -> Result<String, AuthnError> {
        let id = random_token();
        CeremonyRow {
            id: sha256_hex(&id),
            kind,
            oid,
            state: serde_json::to_string(state).map_err(|e| AuthnError::Corrupt(e.to_string()))?,
            expires_at: now.timestamp() + CEREMONY_TTL_SECS,
        }
        .insert(conn, now.timestamp())
        .await?;
        Ok(id)
    }

    /// Takes (spends) a pending ceremony of this kind: each can be
    /// finished once, and not after [`CEREMONY_TTL_SECS`].
    async fn take_ceremony(
        conn: &mut DbConn,
        now: DateTime<Utc>,
        kind: CeremonyKind,
        id: &str,
    ) -> Result<CeremonyRow, AuthnError> {
        let row = CeremonyRow::take(conn, &sha256_hex(id))
            .await?
            .ok_or(AuthnError::CeremonyExpired)?;
        if row.kind != kind || row.expires_at <= now.timestamp() {
            return Err(AuthnError::CeremonyExpired);
        }
        Ok(row)
    }
}
