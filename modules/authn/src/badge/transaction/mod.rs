//! Badge transactions: a badge check (login) or a personalisation
//! (enrolment) driven through a workstation agent, one HTTP step per card
//! answer.
//!
//! The page that wants a badge opens a transaction and hands its token to
//! the local agent; the agent, authenticated as a registered workstation,
//! posts each card answer and gets the next APDU back. Nothing of the
//! protocol state is kept between steps but the card's answers and the seed
//! of the random values: each step replays the (deterministic) state machine
//! from the start, which costs microseconds, keeps no session key at rest,
//! and lets any node of a cluster take any step. A step is recorded only if
//! nobody recorded it first, so a replayed or raced agent post is refused.
//!
//! A login ends in `identified` (the badge proved itself and may be used);
//! the PIN then opens the session ([`BadgeService::finish_login`]). An
//! enrolment ends in `done` with the badge recorded.
//!
//! This file holds the service, opening a transaction and finding it again
//! (by token, workstation, browser binding); `replay.rs` replays the card
//! protocol from the recorded answers, `step.rs` takes one agent step
//! (what each replayed outcome leads to), and `finish.rs` has the page's
//! last request (the PIN of a login, the PIN set after an enrolment).

mod finish;
pub use finish::BadgeLogin;
mod replay;
mod step;

use crate::badge::check::BadgeKeys;
use crate::badge::personalise::PersonalisationKeys;
use crate::badge::pin::{BadgePolicy, PinHasher, PinRefusal};
use crate::badge::records::{BadgeError, BadgeRefusal};
use crate::config::BadgeConfig;
use chrono::{DateTime, Utc};
use clavis_audit::AuditEvent;
use clavis_core::{
    Actor, AuditAction, BadgeTxPurpose, BadgeTxStatus, Oid, WorkstationId,
    secret::{Secret, hash_matches, random_token, sha256_hex},
};
use clavis_desfire::{AesKey, Aid};
use clavis_store::models::{BadgeTxRow, WorkstationRow};
use clavis_store::{DbConn, StoreError};
use rand::RngCore;
use serde_json::json;
use std::fmt;

/// What a transaction is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purpose {
    /// Sign in with a badge (PIN next).
    Login,
    /// Personalise a card for `oid`; a temporary one until `until`.
    Enrol {
        oid: Oid,
        until: Option<DateTime<Utc>>,
    },
}

/// A transaction just opened: its id, and the secrets the page keeps (the
/// token also goes to the agent; the browser binding stays in a cookie).
#[derive(Debug)]
pub struct Opened {
    pub id: String,
    pub token: Secret<String>,
    pub browser: Secret<String>,
    pub expires_at: DateTime<Utc>,
}

/// What the agent does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentReply {
    /// Send this APDU to the card and post its answer as step `step`.
    Send { apdu: Vec<u8>, step: i32 },
    /// Finished; the page takes over.
    Done,
    /// Stopped. The reason is audited, the agent and the user only learn
    /// that the badge was not accepted.
    Failed,
}

/// Why a step or a PIN was not taken. Messages are uniform on purpose.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// Unknown, expired or already used transaction, wrong token or
    /// browser, wrong workstation: the same answer for all.
    #[error("unknown or expired badge transaction")]
    Unknown,
    /// The step number is not the next one (replayed or raced post).
    #[error("out-of-order step")]
    OutOfOrder,
    /// The workstation credential was refused.
    #[error("workstation not recognised")]
    Workstation,
    /// The badge was refused (login) or personalisation failed.
    #[error("badge not accepted")]
    BadgeRefused,
    /// Wrong PIN, locked, or no PIN.
    #[error(transparent)]
    Pin(#[from] PinRefusal),
    /// Malformed input from the agent.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// Storage or hashing failed.
    #[error(transparent)]
    Badge(BadgeError),
}

impl From<BadgeError> for RelayError {
    /// A PIN refusal stays a refusal ([`RelayError::Pin`]), whichever layer
    /// it came through.
    fn from(e: BadgeError) -> Self {
        match e {
            BadgeError::Pin(p) => RelayError::Pin(p),
            other => RelayError::Badge(other),
        }
    }
}

impl From<StoreError> for RelayError {
    fn from(e: StoreError) -> Self {
        RelayError::Badge(BadgeError::Store(e))
    }
}

impl From<clavis_audit::AuditError> for RelayError {
    fn from(e: clavis_audit::AuditError) -> Self {
        RelayError::Badge(e.into())
    }
}

impl From<clavis_sso::SsoError> for RelayError {
    fn from(e: clavis_sso::SsoError) -> Self {
        match e {
            clavis_sso::SsoError::Store(s) => s.into(),
        }
    }
}

/// The badge side of Clavis: keys (derived from the master key), rules,
/// PIN hasher. Never printed.
pub struct BadgeService {
    config: BadgeConfig,
    keys: BadgeKeys,
    app_master: AesKey,
    /// Keys of every accepted version, `min_key_version..=key_version`:
    /// (version, identification key, login master, application master).
    versions: Vec<(u8, AesKey, AesKey, AesKey)>,
    transport: AesKey,
    hasher: PinHasher,
    policy: BadgePolicy,
}

impl fmt::Debug for BadgeService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BadgeService")
            .field("aid", &self.config.aid)
            .field("key_version", &self.config.key_version)
            .field("keys", &"[redacted]")
            .finish()
    }
}

fn first16(b: [u8; 32]) -> [u8; 16] {
    let mut k = [0u8; 16];
    k.copy_from_slice(&b[..16]);
    k
}

impl BadgeService {
    /// The service for `config`, its keys derived by `derive` (the master
    /// key's derivation: label → 32 bytes) and the blank cards' transport
    /// key.
    pub fn new(
        config: BadgeConfig,
        derive: impl Fn(&str) -> [u8; 32],
        transport: AesKey,
    ) -> Result<Self, String> {
        let problems = config.problems();
        if !problems.is_empty() {
            return Err(problems
                .iter()
                .map(|(k, m)| format!("{k}: {m}"))
                .collect::<Vec<_>>()
                .join("; "));
        }
        let aid = u32::from_str_radix(&config.aid, 16)
            .ok()
            .and_then(|a| Aid::new(a).ok())
            .ok_or_else(|| format!("badge.aid: {:?} is not an application id", config.aid))?;
        let v = config.key_version;
        let keys = BadgeKeys {
            aid,
            system_id: config.system_id.as_bytes().to_vec(),
            ident_key: AesKey::new(first16(derive(&format!("badge/ident/v{v}")))),
            login_master: AesKey::new(first16(derive(&format!("badge/login/v{v}")))),
        };
        let app_master = AesKey::new(first16(derive(&format!("badge/app/v{v}"))));
        let versions = (config.min_key_version..=v)
            .map(|n| {
                (
                    n,
                    AesKey::new(first16(derive(&format!("badge/ident/v{n}")))),
                    AesKey::new(first16(derive(&format!("badge/login/v{n}")))),
                    AesKey::new(first16(derive(&format!("badge/app/v{n}")))),
                )
            })
            .collect();
        let hasher = PinHasher::standard(&derive("badge/pin-pepper")).map_err(|e| e.to_string())?;
        let policy = BadgePolicy {
            max_pin_failures: config.max_pin_failures,
            lockout_secs: config.lockout_secs,
            pin_min: config.pin_min,
            pin_max: config.pin_max,
        };
        Ok(BadgeService {
            config,
            keys,
            app_master,
            versions,
            transport,
            hasher,
            policy,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &BadgeConfig {
        &self.config
    }

    /// The rules (PIN length, lockout).
    pub fn policy(&self) -> &BadgePolicy {
        &self.policy
    }

    /// The PIN hasher.
    pub fn hasher(&self) -> &PinHasher {
        &self.hasher
    }

    /// The keys a badge check uses (tests personalise emulated cards with
    /// them).
    pub fn keys(&self) -> &BadgeKeys {
        &self.keys
    }

    /// The keys a personalisation uses.
    pub fn personalisation_keys(&self) -> PersonalisationKeys<'_> {
        PersonalisationKeys {
            badge: &self.keys,
            app_master: self.app_master.clone(),
            transport: self.transport.clone(),
            key_version: self.config.key_version,
        }
    }

    /// Opens a transaction. Enrolments are audited
    /// (`badge.enrolment_started`).
    pub async fn open(
        &self,
        conn: &mut DbConn,
        now: DateTime<Utc>,
        purpose: Purpose,
        bound_to: Option<&WorkstationId>,
        actor: &Actor,
    ) -> Result<Opened, RelayError> {
        let token = random_token();
        let browser = random_token();
        let mut seed = [0u8; 32];
        rand::rng().fill_bytes(&mut seed);
        let expires_at = now + chrono::Duration::seconds(self.config.transaction_secs);
        let (name, target, until) = match &purpose {
            Purpose::Login => (BadgeTxPurpose::Login, None, None),
            Purpose::Enrol { oid, until } => (
                BadgeTxPurpose::Enrol,
                Some(*oid),
                until.map(|u| u.timestamp()),
            ),
        };
        let row = BadgeTxRow {
            id: clavis_core::ids::new_record_id(),
            token_hash: sha256_hex(&token),
            // A transaction bound to a workstation at creation (enrolment
            // from the command line) has no browser: its agent picks it up.
            browser_hash: if bound_to.is_some() {
                String::new()
            } else {
                sha256_hex(&browser)
            },
            purpose: name,
            target_oid: target,
            temporary_until: until,
            workstation_id: bound_to.cloned(),
            seed: hex::encode(seed),
            transcript: String::new(),
            steps: 0,
            status: BadgeTxStatus::Open,
            failure: None,
            oid: None,
            badge_id: None,
            badge_key_version: None,
            created_by: actor.clone(),
            created_at: now.timestamp(),
            expires_at: expires_at.timestamp(),
            trace_parent: clavis_audit::trace::current(),
        };
        // Expired transactions are swept by `clavis serve` once a minute
        // (one node of a cluster), not here: at a shift change every tap
        // opens one, and sweeping at each made the taps wait on each
        // other's deletions (and, on PostgreSQL, scan the whole table where
        // a connection's cached plan was made while it was empty).
        match &target {
            // A login's: one row, nothing to audit until it is used (on
            // SQLite written at the write turn, in place, its commit shared
            // with the units waiting; on PostgreSQL one statement).
            None => {
                conn.atomically(async |conn: &mut DbConn| row.insert(conn).await)
                    .await?
            }
            Some(oid) => {
                conn.unit(async |conn: &mut DbConn| -> Result<(), RelayError> {
                    row.insert(conn).await?;
                    AuditEvent::new(
                        actor,
                        AuditAction::BadgeEnrolmentStarted,
                        Some(oid.to_string()),
                        json!({"transaction": row.id, "temporary_until": until, "workstation_id": bound_to}),
                    )
                    .record(conn, now)
                    .await?;
                    Ok(())
                })
                .await?
            }
        }
        Ok(Opened {
            id: row.id,
            token: Secret::new(token),
            browser: Secret::new(browser),
            expires_at,
        })
    }

    /// The workstation behind an agent's credential (`id`, `secret`), or
    /// [`RelayError::Workstation`]. Records when it was last heard from.
    pub async fn workstation(
        &self,
        conn: &mut DbConn,
        now: DateTime<Utc>,
        id: &WorkstationId,
        secret: &str,
    ) -> Result<WorkstationRow, RelayError> {
        let Some(ws) = WorkstationRow::find(conn, id).await? else {
            // The same work as a known id, so timing tells nothing.
            let _ = hash_matches(&sha256_hex("x"), secret);
            return Err(RelayError::Workstation);
        };
        if !hash_matches(&ws.secret_hash, secret) || ws.revoked_at.is_some() {
            return Err(RelayError::Workstation);
        }
        if ws.last_seen_at.is_none_or(|t| now.timestamp() - t >= 60) {
            WorkstationRow::touch(conn, &ws.id, now.timestamp()).await?;
        }
        Ok(ws)
    }

    async fn live_tx(
        conn: &mut DbConn,
        now: DateTime<Utc>,
        id: &str,
        token: &str,
    ) -> Result<BadgeTxRow, RelayError> {
        if id.len() > 64 || token.len() > 128 {
            return Err(RelayError::Unknown);
        }
        let Some(tx) = BadgeTxRow::find(conn, id).await? else {
            return Err(RelayError::Unknown);
        };
        if !hash_matches(&tx.token_hash, token) || tx.is_expired(now.timestamp()) {
            return Err(RelayError::Unknown);
        }
        Ok(tx)
    }

    /// The transaction an agent may drive: with its token, or without one
    /// when it was bound to this very workstation at creation.
    async fn agent_tx(
        conn: &mut DbConn,
        now: DateTime<Utc>,
        ws: &WorkstationRow,
        id: &str,
        token: Option<&str>,
    ) -> Result<BadgeTxRow, RelayError> {
        if let Some(token) = token {
            return Self::live_tx(conn, now, id, token).await;
        }
        if id.len() > 64 {
            return Err(RelayError::Unknown);
        }
        match BadgeTxRow::find(conn, id).await? {
            Some(tx)
                if tx.browser_hash.is_empty()
                    && tx.workstation_id.as_ref() == Some(&ws.id)
                    && !tx.is_expired(now.timestamp()) =>
            {
                Ok(tx)
            }
            _ => Err(RelayError::Unknown),
        }
    }

    /// An enrolment waiting for a card at this workstation (opened with
    /// `bound_to`), for an agent whose card was tapped with no page
    /// waiting.
    pub async fn pending_for(
        &self,
        conn: &mut DbConn,
        now: DateTime<Utc>,
        ws: &WorkstationRow,
    ) -> Result<Option<String>, RelayError> {
        Ok(BadgeTxRow::pending_for(conn, &ws.id, now.timestamp()).await?)
    }

    /// Where a transaction stands, for the page that opened it (its token
    /// and browser binding): `open`, `identified`, `done`, `failed`, `used`.
    pub async fn status(
        &self,
        conn: &mut DbConn,
        now: DateTime<Utc>,
        tx_id: &str,
        token: &str,
        browser: &str,
    ) -> Result<BadgeTxRow, RelayError> {
        let tx = Self::live_tx(conn, now, tx_id, token).await?;
        if tx.browser_hash.is_empty() || !hash_matches(&tx.browser_hash, browser) {
            return Err(RelayError::Unknown);
        }
        Ok(tx)
    }
}

/// Error kinds the badge refusal maps to for callers that only need to
/// know whether it is worth tapping again.
pub fn refusal_is_final(r: &BadgeRefusal) -> bool {
    !matches!(r, BadgeRefusal::Expired)
}
