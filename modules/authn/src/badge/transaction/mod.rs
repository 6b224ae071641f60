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

use crate::badge::check::{self, BadgeCheck, BadgeFailure, BadgeKeys};
use crate::badge::personalise::{self, Personalisation, PersonalisationKeys, PersonaliseFailure};
use crate::badge::pin::{self, BadgePolicy, PinHasher, PinRefusal};
use crate::badge::records::{self, BadgeError, BadgeRefusal};
use crate::badge::rekey::{self, Rekey, RekeyFailure, RekeyPlan};
use crate::config::BadgeConfig;
use chrono::{DateTime, Utc};
use clavis_audit::AuditEvent;
use clavis_core::secret::{Secret, hash_matches, random_token, sha256_hex};
use clavis_desfire::{AesKey, Aid};
use clavis_store::models::{BadgeRow, BadgeTxRow, WorkstationRow};
use clavis_store::{Db, DbConn, StoreError};
use rand::RngCore;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::fmt;

/// Most card answers a transaction may carry (a personalisation takes 14).
const MAX_STEPS: usize = 32;
/// Longest card answer accepted (a DESFire frame is at most 256 bytes).
const MAX_ANSWER: usize = 512;

/// What a transaction is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purpose {
    /// Sign in with a badge (PIN next).
    Login,
    /// Personalise a card for `oid`; a temporary one until `until`.
    Enrol {
        oid: String,
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
    Badge(#[from] BadgeError),
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

/// The deterministic random values of one transaction.
fn rnd_from(seed: [u8; 32]) -> impl FnMut() -> [u8; 16] + Send {
    let mut i = 0u32;
    move || {
        i += 1;
        let mut h = Sha256::new();
        h.update(seed);
        h.update(i.to_be_bytes());
        first16(h.finalize().into())
    }
}

enum Replayed {
    Send(Vec<u8>),
    /// The badge proved itself with these key versions (identification,
    /// login).
    Checked(check::BadgeRead, u8, u8),
    /// … and now carries the current version's keys.
    Rekeyed,
    /// … but re-keying stopped (the login goes on).
    RekeyStopped(RekeyFailure),
    Personalised(personalise::Personalised),
}

#[derive(Debug)]
enum Stop {
    Check(BadgeFailure),
    Personalise(PersonaliseFailure),
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stop::Check(e) => write!(f, "{e}"),
            Stop::Personalise(e) => write!(f, "{e}"),
        }
    }
}

impl Stop {
    fn code(&self) -> &'static str {
        match self {
            Stop::Check(BadgeFailure::CardRemoved)
            | Stop::Personalise(PersonaliseFailure::CardRemoved) => "card_removed",
            Stop::Check(BadgeFailure::NotOurCard) => "not_our_card",
            Stop::Check(BadgeFailure::IdentificationRefused) => "identification_refused",
            Stop::Check(BadgeFailure::LoginKeyRefused) => "login_key_refused",
            Stop::Check(BadgeFailure::Protocol(_))
            | Stop::Personalise(PersonaliseFailure::Protocol(_)) => "protocol_error",
            Stop::Personalise(PersonaliseFailure::TransportKeyRefused) => "transport_key_refused",
            Stop::Personalise(PersonaliseFailure::AlreadyPersonalised) => "already_personalised",
        }
    }
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
        bound_to: Option<&str>,
        actor: &str,
    ) -> Result<Opened, RelayError> {
        let token = random_token();
        let browser = random_token();
        let mut seed = [0u8; 32];
        rand::rng().fill_bytes(&mut seed);
        let expires_at = now + chrono::Duration::seconds(self.config.transaction_secs);
        let (name, target, until) = match &purpose {
            Purpose::Login => ("login", None, None),
            Purpose::Enrol { oid, until } => {
                ("enrol", Some(oid.clone()), until.map(|u| u.timestamp()))
            }
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
            purpose: name.into(),
            target_oid: target.clone(),
            temporary_until: until,
            workstation_id: bound_to.map(str::to_string),
            seed: hex::encode(seed),
            transcript: String::new(),
            steps: 0,
            status: "open".into(),
            failure: None,
            oid: None,
            badge_id: None,
            badge_key_version: None,
            created_by: actor.to_string(),
            created_at: now.timestamp(),
            expires_at: expires_at.timestamp(),
        };
        conn.transaction(async |conn| -> Result<(), RelayError> {
            BadgeTxRow::delete_expired(conn, now.timestamp()).await?;
            row.insert(conn).await?;
            if let Some(oid) = &target {
                clavis_audit::append(
                    conn,
                    now,
                    vec![AuditEvent::new(
                        actor,
                        "badge.enrolment_started",
                        Some(oid.clone()),
                        json!({"transaction": row.id, "temporary_until": until, "workstation_id": bound_to}),
                    )],
                )
                .await?;
            }
            Ok(())
        })
        .await?;
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
        id: &str,
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

    fn replay(&self, tx: &BadgeTxRow, answers: &[Vec<u8>]) -> Result<Replayed, Stop> {
        let seed: [u8; 32] = hex::decode(&tx.seed)
            .ok()
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| Stop::Check(BadgeFailure::Protocol("corrupt transaction".into())))?;
        let rnd = rnd_from(seed);
        if tx.purpose == "enrol" {
            let keys = self.personalisation_keys();
            let (mut p, first) = Personalisation::start(&keys, rnd).map_err(Stop::Personalise)?;
            let mut next = Replayed::Send(first.as_bytes().to_vec());
            for (i, a) in answers.iter().enumerate() {
                if !matches!(next, Replayed::Send(_)) || i >= MAX_STEPS {
                    return Err(Stop::Personalise(PersonaliseFailure::Protocol(
                        "answer after the end".into(),
                    )));
                }
                next = match p.on_response(a).map_err(Stop::Personalise)? {
                    personalise::Step::Send(apdu) => Replayed::Send(apdu.as_bytes().to_vec()),
                    personalise::Step::Done(done) => Replayed::Personalised(done),
                };
            }
            Ok(next)
        } else {
            self.replay_login(tx, answers, rnd)
        }
    }

    /// The (identification, login) key versions a login tries, in order:
    /// the current version, then each older accepted one — with its own
    /// login key, then with the current login key (a card whose re-keying
    /// was cut after key 1).
    fn attempts(&self) -> Vec<(u8, u8)> {
        let n = self.config.key_version;
        let mut out = vec![(n, n)];
        for v in (self.config.min_key_version..n).rev() {
            out.push((v, v));
            out.push((v, n));
        }
        out
    }

    fn version(&self, v: u8) -> Option<&(u8, AesKey, AesKey, AesKey)> {
        self.versions.iter().find(|k| k.0 == v)
    }

    fn replay_login(
        &self,
        tx: &BadgeTxRow,
        answers: &[Vec<u8>],
        mut rnd: impl FnMut() -> [u8; 16] + Send,
    ) -> Result<Replayed, Stop> {
        let protocol = |m: &str| Stop::Check(BadgeFailure::Protocol(m.into()));
        if answers.len() > MAX_STEPS * 3 {
            return Err(protocol("too many answers"));
        }
        let attempts = self.attempts();
        let mut rest = answers.iter();
        let mut i = 0;
        let (read, iv, lv) = 'attempts: loop {
            let Some(&(iv, lv)) = attempts.get(i) else {
                return Err(protocol("no attempt left"));
            };
            let (Some(ik), Some(lk)) = (self.version(iv), self.version(lv)) else {
                return Err(protocol("unknown key version"));
            };
            let keys = BadgeKeys {
                aid: self.keys.aid,
                system_id: self.keys.system_id.clone(),
                ident_key: ik.1.clone(),
                login_master: lk.2.clone(),
            };
            let (mut c, first) = BadgeCheck::start(&keys, &mut rnd).map_err(Stop::Check)?;
            let mut next = first.as_bytes().to_vec();
            loop {
                let Some(a) = rest.next() else {
                    return Ok(Replayed::Send(next));
                };
                match c.on_response(a) {
                    Ok(check::Step::Send(apdu)) => next = apdu.as_bytes().to_vec(),
                    Ok(check::Step::Done(read)) => break 'attempts (read, iv, lv),
                    // Not this version's identification key: the next
                    // older version.
                    Err(BadgeFailure::IdentificationRefused)
                        if attempts[i + 1..].iter().any(|a| a.0 != iv) =>
                    {
                        i += 1 + attempts[i + 1..].iter().take_while(|a| a.0 == iv).count();
                        continue 'attempts;
                    }
                    // Its identification key but not its login key: the
                    // current login key (re-keying cut after key 1).
                    Err(BadgeFailure::LoginKeyRefused)
                        if attempts.get(i + 1).is_some_and(|a| a.0 == iv) =>
                    {
                        i += 1;
                        continue 'attempts;
                    }
                    Err(e) => return Err(Stop::Check(e)),
                }
            }
        };
        let Some(recorded) = tx.badge_key_version else {
            // Not yet recognised: the step identifies it.
            return match rest.next() {
                None => Ok(Replayed::Checked(read, iv, lv)),
                Some(_) => Err(protocol("answer after the end")),
            };
        };
        let Some(plan) = self.rekey_plan(&read, iv, lv, recorded) else {
            return Err(protocol("answer after the end"));
        };
        let (mut r, first) = match Rekey::start(&plan, &mut rnd) {
            Ok(x) => x,
            Err(e) => return Ok(Replayed::RekeyStopped(e)),
        };
        let mut next = first.as_bytes().to_vec();
        loop {
            let Some(a) = rest.next() else {
                return Ok(Replayed::Send(next));
            };
            match r.on_response(a) {
                Ok(rekey::Step::Send(apdu)) => next = apdu.as_bytes().to_vec(),
                Ok(rekey::Step::Done) => {
                    return match rest.next() {
                        None => Ok(Replayed::Rekeyed),
                        Some(_) => Err(protocol("answer after the end")),
                    };
                }
                Err(e) => return Ok(Replayed::RekeyStopped(e)),
            }
        }
    }

    /// What re-keying a card checked with (`iv`, `lv`) and recorded at
    /// version `recorded` must change; `None` when it is current.
    fn rekey_plan(
        &self,
        read: &check::BadgeRead,
        iv: u8,
        lv: u8,
        recorded: i32,
    ) -> Option<RekeyPlan> {
        let n = self.config.key_version;
        let recorded = u8::try_from(recorded).ok()?;
        if iv == n && lv == n && recorded >= n {
            return None;
        }
        let div = |master: &AesKey| {
            clavis_desfire::diversify_aes128(
                master,
                read.uid.as_bytes(),
                self.keys.aid,
                &self.keys.system_id,
            )
            .ok()
        };
        let current = self.version(n)?;
        let new_master = div(&current.3)?;
        let mut masters = Vec::new();
        if recorded != n
            && let Some(old) = self.version(recorded)
        {
            masters.push(div(&old.3)?);
        }
        masters.push(new_master.clone());
        let login = if lv == n {
            None
        } else {
            Some((div(&current.2)?, div(&self.version(lv)?.2)?))
        };
        let ident = if iv == n {
            None
        } else {
            Some((current.1.clone(), self.version(iv)?.1.clone()))
        };
        Some(RekeyPlan {
            aid: self.keys.aid,
            masters,
            new_master,
            login,
            ident,
            version: n,
        })
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
        if !hash_matches(&tx.token_hash, token) || tx.expires_at <= now.timestamp() {
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
                    && tx.workstation_id.as_deref() == Some(ws.id.as_str())
                    && tx.expires_at > now.timestamp() =>
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

    /// One agent step: `answer` is the card's answer to the APDU of step
    /// `step - 1` (`None` with `step` 0 to get the first APDU).
    #[allow(clippy::too_many_arguments)]
    pub async fn step(
        &self,
        db: &Db,
        now: DateTime<Utc>,
        ws: &WorkstationRow,
        tx_id: &str,
        token: Option<&str>,
        step: i32,
        answer: Option<&[u8]>,
    ) -> Result<AgentReply, RelayError> {
        let mut conn = db.conn().await?;
        let tx = Self::agent_tx(&mut conn, now, ws, tx_id, token).await?;
        if tx.status != "open" || tx.workstation_id.as_deref().is_some_and(|w| w != ws.id) {
            return Err(RelayError::Unknown);
        }
        if step != tx.steps {
            return Err(RelayError::OutOfOrder);
        }
        let mut answers: Vec<Vec<u8>> = tx
            .transcript
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| hex::decode(s).unwrap_or_default())
            .collect();
        match answer {
            None if step == 0 => {}
            None => return Err(RelayError::BadRequest("missing card answer".into())),
            Some(a) if a.len() > MAX_ANSWER => {
                return Err(RelayError::BadRequest("card answer too long".into()));
            }
            Some(a) => answers.push(a.to_vec()),
        }
        let mut next = tx.clone();
        next.workstation_id = Some(ws.id.clone());
        next.steps = answers.len() as i32;
        next.transcript = answers
            .iter()
            .map(hex::encode)
            .collect::<Vec<_>>()
            .join(",");
        let outcome = self.replay(&tx, &answers);
        let ws_id = ws.id.clone();
        conn.unit(async |conn| {
            let reply = match outcome {
                Ok(Replayed::Send(apdu)) => AgentReply::Send {
                    apdu,
                    step: next.steps,
                },
                Ok(Replayed::Checked(read, iv, lv)) => match records::identify(conn, now, &read).await {
                    Ok(b) => {
                        next.oid = Some(b.oid.clone());
                        next.badge_id = Some(b.id.clone());
                        next.badge_key_version = Some(b.key_version);
                        // Older keys on the card (or recorded): re-key it
                        // now, on this tap; the first APDU comes from the
                        // replay that now knows the recorded version.
                        match self.rekey_plan(&read, iv, lv, b.key_version) {
                            Some(_) => match self.replay(&next, &answers) {
                                Ok(Replayed::Send(apdu)) => AgentReply::Send {
                                    apdu,
                                    step: next.steps,
                                },
                                _ => {
                                    next.status = "identified".into();
                                    AgentReply::Done
                                }
                            },
                            None => {
                                next.status = "identified".into();
                                AgentReply::Done
                            }
                        }
                    }
                    Err(BadgeError::Refused(r)) => {
                        next.status = "failed".into();
                        next.failure = Some(r.to_string());
                        AgentReply::Failed
                    }
                    Err(e) => return Err(e.into()),
                },
                Ok(Replayed::Rekeyed) => {
                    let badge_id = next.badge_id.clone().unwrap_or_default();
                    let to = i32::from(self.config.key_version);
                    BadgeRow::set_key_version(conn, &badge_id, to).await?;
                    clavis_audit::append(
                        conn,
                        now,
                        vec![AuditEvent::new(
                            format!("workstation:{ws_id}"),
                            "badge.rekeyed",
                            next.oid.clone(),
                            json!({"badge_id": badge_id, "from": next.badge_key_version, "to": to, "workstation_id": ws_id}),
                        )],
                    )
                    .await?;
                    next.status = "identified".into();
                    AgentReply::Done
                }
                Ok(Replayed::RekeyStopped(why)) => {
                    // The badge proved itself: the login goes on with the
                    // keys it has; the next tap tries again.
                    clavis_audit::append(
                        conn,
                        now,
                        vec![AuditEvent::new(
                            format!("workstation:{ws_id}"),
                            "badge.rekey_failed",
                            next.oid.clone(),
                            json!({"badge_id": next.badge_id, "reason": why.to_string(), "workstation_id": ws_id}),
                        )],
                    )
                    .await?;
                    next.status = "identified".into();
                    AgentReply::Done
                }
                Ok(Replayed::Personalised(card)) => {
                    let oid = tx.target_oid.clone().unwrap_or_default();
                    let until = tx.temporary_until.and_then(|t| DateTime::from_timestamp(t, 0));
                    let row = records::record(conn, now, &oid, &card, until, &tx.created_by).await?;
                    next.status = "done".into();
                    next.oid = Some(oid);
                    next.badge_id = Some(row.id);
                    AgentReply::Done
                }
                Err(stop) => {
                    next.status = "failed".into();
                    next.failure = Some(stop.to_string());
                    let action = if tx.purpose == "enrol" {
                        "badge.enrolment_failed"
                    } else {
                        "badge.check_failed"
                    };
                    clavis_audit::append(
                        conn,
                        now,
                        vec![AuditEvent::new(
                            format!("workstation:{ws_id}"),
                            action,
                            tx.target_oid.clone(),
                            json!({"transaction": tx.id, "reason": stop.code(), "detail": stop.to_string(), "step": next.steps, "workstation_id": ws_id}),
                        )],
                    )
                    .await?;
                    AgentReply::Failed
                }
            };
            if !next.record_step(conn, tx.steps).await? {
                return Err(RelayError::OutOfOrder);
            }
            Ok::<_, RelayError>(reply)
        })
        .await
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

    /// The PIN after a badge was identified: checks it (lockout), then in
    /// one unit spends the transaction, ends every session open at that
    /// workstation (fast user switching), opens the new session (acr, amr,
    /// workstation) and audits `login.succeeded`.
    #[allow(clippy::too_many_arguments)]
    pub async fn finish_login(
        &self,
        db: &Db,
        sso: &clavis_sso::SsoConfig,
        now: DateTime<Utc>,
        tx_id: &str,
        token: &str,
        browser: &str,
        pin: &str,
        client_ip: Option<String>,
        user_agent: Option<String>,
    ) -> Result<(Secret<String>, clavis_sso::Session), RelayError> {
        let mut conn = db.conn().await?;
        let tx = self.status(&mut conn, now, tx_id, token, browser).await?;
        if tx.purpose != "login" || tx.status != "identified" {
            return Err(RelayError::Unknown);
        }
        let (Some(oid), Some(badge_id), Some(ws)) = (
            tx.oid.clone(),
            tx.badge_id.clone(),
            tx.workstation_id.clone(),
        ) else {
            return Err(RelayError::Unknown);
        };
        if pin.len() > 64 {
            return Err(PinRefusal::Wrong { left: 0 }.into());
        }
        match pin::check_pin(&mut conn, &self.hasher, &self.policy, now, &oid, pin).await {
            Ok(()) => {}
            Err(BadgeError::Pin(p)) => return Err(p.into()),
            Err(e) => return Err(e.into()),
        }
        let new = clavis_sso::NewSession {
            oid: oid.clone(),
            acr: self.config.acr.clone(),
            amr: self.config.amr.clone(),
            authenticator_id: Some(badge_id.clone()),
            client_ip: client_ip.clone(),
            user_agent,
            workstation_id: Some(ws.clone()),
        };
        let (token, row, created) = clavis_sso::prepare(sso, now, new);
        conn.unit(async |conn| {
            if !BadgeTxRow::set_status(conn, &tx.id, "identified", "used").await? {
                return Err(RelayError::Unknown);
            }
            // The badge may have been revoked between the tap and the PIN.
            match BadgeRow::find(conn, &badge_id).await? {
                Some(b) if b.status == "active" => {}
                _ => return Err(RelayError::BadgeRefused),
            }
            clavis_sso::end_all_at_workstation(conn, now, &ws, "switched", &format!("identity:{oid}"))
                .await?;
            row.insert(conn).await?;
            BadgeRow::touch(conn, &badge_id, now.timestamp()).await?;
            let mut ok = AuditEvent::new(
                format!("identity:{oid}"),
                "login.succeeded",
                Some(oid.clone()),
                json!({"method": "badge", "badge_id": badge_id, "workstation_id": ws, "acr": self.config.acr, "amr": self.config.amr}),
            );
            ok.client_addr = client_ip.clone();
            clavis_audit::append(conn, now, vec![ok, created.clone()]).await?;
            Ok::<_, RelayError>(())
        })
        .await?;
        Ok((token, clavis_sso::session_of(&row)))
    }

    /// Sets the holder's PIN right after their badge was personalised (the
    /// enrolment transaction's token and browser binding prove it is that
    /// desk). Audited `badge.pin_set`.
    #[allow(clippy::too_many_arguments)]
    pub async fn set_pin_after_enrolment(
        &self,
        conn: &mut DbConn,
        now: DateTime<Utc>,
        tx_id: &str,
        token: &str,
        browser: &str,
        pin: &str,
        actor: &str,
    ) -> Result<String, RelayError> {
        let tx = self.status(conn, now, tx_id, token, browser).await?;
        let (true, Some(oid)) = (tx.purpose == "enrol" && tx.status == "done", tx.oid.clone())
        else {
            return Err(RelayError::Unknown);
        };
        pin::set_pin(conn, &self.hasher, &self.policy, now, &oid, pin, actor).await?;
        Ok(oid)
    }
}

/// Error kinds the badge refusal maps to for callers that only need to
/// know whether it is worth tapping again.
pub fn refusal_is_final(r: &BadgeRefusal) -> bool {
    !matches!(r, BadgeRefusal::Expired)
}
