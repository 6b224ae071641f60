//! Logging in with a key: username-less (discoverable credentials) or
//! username-first, both with user verification; the result carries the
//! configured acr/amr for FIDO2.
//!
//! [`Fido2::finish_login`] runs in three steps, so that logins verify in
//! parallel and the write transaction holds only statements:
//! 1. the checks that need no write, before any transaction: the failure
//!    counters (a wait refuses at once), the pending ceremony, the key and
//!    its holder, the signature ([`Fido2::check_login`]);
//! 2. one transaction that spends the ceremony, records the key's use,
//!    clears the counters and opens the SSO session, ending the one the
//!    browser came with (`succeed`);
//! 3. on any refusal, that transaction rolled back and another that spends
//!    the ceremony anyway (one attempt per ceremony) and, if it was a live
//!    ceremony of ours, counts the failure against the client's address and
//!    audits its reason (`record_refusal`). A request that spent no live
//!    ceremony (unknown, expired, already used) counts and writes nothing:
//!    junk posts cannot fill the audit log or throttle anyone.
//!
//! Every refusal is the same [`AuthnError::LoginFailed`] to the caller;
//! the precise reason goes to the audit log.

use super::throttle::{failure_keys, record_failure, throttle};
use super::{Challenge, Fido2, b64};
use crate::error::AuthnError;
use chrono::{DateTime, Utc};
use clavis_audit::AuditEvent;
use clavis_core::{
    Actor, AuditAction, AuthenticatorKind, AuthenticatorStatus, LifecycleStatus, Oid, Secret,
    secret::sha256_hex,
};
use clavis_store::models::{Account, AuthenticatorRow, CeremonyRow, IdentityRow, LoginFailureRow};
use clavis_store::{Db, DbConn, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tracing::Instrument;
use webauthn_rs::prelude::*;

/// What a successful login proves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoginProof {
    /// Who.
    pub oid: Oid,
    /// With which authenticator.
    pub authenticator_id: String,
    /// The assurance reached.
    pub acr: String,
    /// The methods used.
    pub amr: Vec<String>,
}

/// Open the SSO session with the login (same transaction). Its `Debug`
/// never shows the previous session's cookie token.
pub struct SessionRequest<'a> {
    /// Session settings.
    pub sso: &'a clavis_sso::SsoConfig,
    /// The browser's user agent.
    pub user_agent: Option<String>,
    /// The cookie token of the session the browser came with, if any: it
    /// ends (`replaced`) in the login's transaction, so a session id
    /// planted before the login is worth nothing after it.
    pub replaces: Option<&'a str>,
}

impl std::fmt::Debug for SessionRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionRequest")
            .field("sso", self.sso)
            .field("user_agent", &self.user_agent)
            .field("replaces", &self.replaces.map(|_| "[redacted]"))
            .finish()
    }
}

/// A successful login, and the session it opened if asked.
#[derive(Debug)]
pub struct LoginOutcome {
    /// What the login proves.
    pub proof: LoginProof,
    /// The cookie token (shown once) and the session.
    pub session: Option<(Secret<String>, clavis_sso::Session)>,
}

/// The server half of a login, kept between its two requests.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "t")]
enum LoginState {
    Discoverable {
        state: DiscoverableAuthentication,
    },
    Known {
        oid: Oid,
        state: PasskeyAuthentication,
    },
}

/// Why a login was refused (for the audit log, never for the caller), and
/// whose key it was when that is known.
type Refusal = (&'static str, Option<Oid>);

/// Credential ids a username-first challenge lists at the least, real or
/// decoy: one key or none cannot be told from two. A name lists one more
/// than that or not, depending on the name alone, so that two or three
/// keys cannot be told from none either.
const MIN_LISTED: usize = 2;

/// How long the lengths of the enrolled credential ids are kept before
/// being read again.
const ID_LENGTHS_TTL_SECS: i64 = 600;

/// A decoy's length when no key is enrolled yet: the size a security key's
/// non-discoverable credential id usually has.
const DEFAULT_ID_LEN: usize = 64;

/// The distinct lengths of the enrolled keys' credential ids (sorted), and
/// when they were read.
#[derive(Debug, Default, Clone)]
pub(crate) struct IdLengths {
    read_at: Option<i64>,
    lengths: Vec<usize>,
}

impl IdLengths {
    fn from_ids(ids: &[String], now: i64) -> Self {
        use base64::Engine;
        let lengths: std::collections::BTreeSet<usize> = ids
            .iter()
            .filter_map(|id| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(id)
                    .ok()
            })
            .map(|b| b.len())
            .collect();
        IdLengths {
            read_at: Some(now),
            lengths: lengths.into_iter().collect(),
        }
    }

    /// The length at `pick` (any number) among the lengths enrolled keys
    /// have, each as likely: a set that changes only when a key model with
    /// another length comes or goes, not at every enrolment, so that an
    /// unknown name's decoys keep their length like a real key's ids.
    fn pick(&self, pick: u64) -> usize {
        if self.lengths.is_empty() {
            return DEFAULT_ID_LEN;
        }
        self.lengths[(pick % self.lengths.len() as u64) as usize]
    }
}

/// The refusal of an answer whose signature verified but whose ceremony
/// another request spent first.
const REPLAYED: &str = "ceremony_replayed";

/// The refusal of an answer to a ceremony finished before (nothing is
/// written for it).
const SPENT: &str = "ceremony_spent";

/// How long a finished login's record outlives its token's end: the
/// nodes' clocks may differ by a few seconds (`/readyz` allows 5).
const SPENT_MARGIN_SECS: i64 = 120;

/// A login whose signature verified, not yet recorded.
struct CheckedLogin {
    /// The key's credential after this use (counter), as stored.
    credential: String,
    proof: LoginProof,
}

/// A login's server half, sealed into the token the browser gives back
/// to finish it: nothing is stored while a login is under way, so no
/// number of anonymous starts fills anything. `n` (random) names it once
/// finished ([`CeremonyRow::mark_spent`]), so that it is finished once.
///
/// The state is sealed without the expected keys' credentials (a known
/// name's would make its token longer than an unknown one's, by key): the
/// key that answers is read again at the finish, and must be one of the
/// person's. The plaintext is padded to [`SEALED_LEN`], so that no token
/// is longer than another.
#[derive(Serialize, Deserialize)]
struct SealedLogin {
    n: String,
    exp: i64,
    st: serde_json::Value,
    /// The start's trace (`traceparent`), carried on by the finish: only
    /// when traces are sent (the padding keeps the length).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    t: Option<String>,
    #[serde(default)]
    p: String,
}

/// Every sealed login's plaintext is this long (padded).
const SEALED_LEN: usize = 640;

/// What seals [`SealedLogin`] (the AEAD's associated data).
const SEALED_LOGIN_AAD: &[u8] = b"clavis fido2 login ceremony v1";

/// A longer token is not opened (a person's keys make a few KiB).
const MAX_TOKEN_LEN: usize = 32 * 1024;

/// A sealed login opened: its name (a hash of `n`), its end, its state
/// (as sealed: without the expected keys' credentials).
struct OpenedLogin {
    id: String,
    exp: i64,
    state: serde_json::Value,
    trace: Option<String>,
}

/// `state` (a [`LoginState`] as JSON) with its expected credentials set to
/// `creds`.
fn with_credentials(
    mut state: serde_json::Value,
    creds: Vec<serde_json::Value>,
) -> serde_json::Value {
    if let Some(ast) = state
        .get_mut("state")
        .and_then(|s| s.get_mut("ast"))
        .and_then(|a| a.as_object_mut())
    {
        ast.insert("credentials".into(), serde_json::Value::Array(creds));
    }
    state
}

/// One login attempt as read before its transaction.
struct Attempt<'a> {
    now: DateTime<Utc>,
    /// The ceremony the token opened to, unexpired (`None`: junk, another
    /// key's, or over).
    opened: Option<(String, i64)>,
    client_ip: Option<&'a str>,
    /// The failure counters it is held to (see [`failure_keys`]).
    keys: Vec<String>,
    /// Their values as read.
    failures: Vec<LoginFailureRow>,
}

/// Why a login did not commit: it was refused (its failure is recorded
/// in a transaction of its own), or storing it failed.
enum Unfinished {
    Refused(Refusal),
    Failed(AuthnError),
}

impl From<Refusal> for Unfinished {
    fn from(r: Refusal) -> Self {
        Unfinished::Refused(r)
    }
}

impl From<AuthnError> for Unfinished {
    fn from(e: AuthnError) -> Self {
        Unfinished::Failed(e)
    }
}

impl From<StoreError> for Unfinished {
    fn from(e: StoreError) -> Self {
        Unfinished::Failed(e.into())
    }
}

impl Fido2 {
    /// Starts a login: username-less when `username` is `None`. A known
    /// username gets its active keys' credential ids; an unknown one (or
    /// one without keys) gets the same shape with decoy ids derived from
    /// the name ([`Self::decoy_credential`]), stable from one request to
    /// the next, and every list holds at least [`MIN_LISTED`] ids, so the
    /// answer never tells whether an account exists.
    #[tracing::instrument(target = "clavis::trace", name = "login.fido2.begin", skip_all)]
    pub async fn begin_login(
        &self,
        conn: &mut DbConn,
        now: DateTime<Utc>,
        username: Option<&str>,
    ) -> Result<Challenge<RequestChallengeResponse>, AuthnError> {
        conn.reading(async |conn: &mut DbConn| self.begin_login_on(conn, now, username).await)
            .await
    }

    async fn begin_login_on(
        &self,
        conn: &mut DbConn,
        now: DateTime<Utc>,
        username: Option<&str>,
    ) -> Result<Challenge<RequestChallengeResponse>, AuthnError> {
        let known = match username.map(str::trim).filter(|u| !u.is_empty()) {
            Some(u) => match clavis_directory::service::find_identity(conn, u)
                .await
                .map_err(|e| AuthnError::Corrupt(e.to_string()))?
            {
                Some(identity) => {
                    let keys: Vec<Passkey> = AuthenticatorRow::for_identity(conn, identity.oid)
                        .await?
                        .iter()
                        .filter(|a| {
                            a.status == AuthenticatorStatus::Active
                                && a.kind == AuthenticatorKind::Fido2
                        })
                        .filter_map(|a| serde_json::from_str(&a.credential).ok())
                        .collect();
                    (!keys.is_empty()).then_some((identity.oid, keys))
                }
                None => None,
            },
            None => None,
        };
        let known_oid = known.as_ref().map(|(oid, _)| *oid);
        let (mut rcr, state) = match known {
            Some((oid, keys)) => {
                let (rcr, s) = self.webauthn.start_passkey_authentication(&keys)?;
                (rcr, LoginState::Known { oid, state: s })
            }
            None => {
                let (mut rcr, s) = self.webauthn.start_discoverable_authentication()?;
                if username.is_some_and(|u| !u.trim().is_empty()) {
                    // The shape of a known name's challenge: ids (decoys,
                    // below), no extensions (a username-less one asks for
                    // `uvm`), no mediation.
                    rcr.public_key.extensions = None;
                    rcr.mediation = None;
                }
                (rcr, LoginState::Discoverable { state: s })
            }
        };
        if let Some(typed) = username.map(str::trim).filter(|u| !u.is_empty()) {
            // MIN_LISTED ids or one more, by the name alone, whoever asks
            // (a person with one key gets decoys beside it), decoys as long
            // as real ids, in an order that says nothing. A person's decoys
            // come from their oid, so that their login, matricule or RPPS
            // (or another spelling) list the same ids, and comparing the
            // lists does not single out the real ones.
            let oid_name = known_oid.map(|o| o.to_string());
            let name = oid_name.as_deref().unwrap_or(typed);
            let listed = &mut rcr.public_key.allow_credentials;
            let real: Vec<usize> = listed.iter().map(|c| c.id.len()).collect();
            let wanted = MIN_LISTED + (self.decoy_seed(name, u8::MAX) % 2) as usize;
            // One length for all of a name's decoys: one of the person's
            // own, or one of the lengths the keys enrolled here have.
            let seed = self.decoy_seed(name, u8::MAX - 1);
            let len = match real.is_empty() {
                true => self.enrolled_id_lengths(conn, now).await?.pick(seed),
                false => real[(seed % real.len() as u64) as usize],
            };
            let mut i = 0u8;
            while listed.len() < wanted {
                listed.push(self.decoy_credential(name, i, len));
                i += 1;
            }
            listed.sort_by(|a, b| a.id.cmp(&b.id));
        }
        // Transports are hints the browser can do without; a decoy has
        // none, so no real entry shows any either.
        for c in &mut rcr.public_key.allow_credentials {
            c.transports = None;
        }
        Ok(Challenge {
            ceremony: self.seal_login(now, state)?,
            options: rcr,
        })
    }

    /// Seals a login's server half, valid [`super::CEREMONY_TTL_SECS`].
    fn seal_login(&self, now: DateTime<Utc>, state: LoginState) -> Result<String, AuthnError> {
        let corrupt = |e: serde_json::Error| AuthnError::Corrupt(e.to_string());
        let st = with_credentials(serde_json::to_value(&state).map_err(corrupt)?, Vec::new());
        let mut sealed = SealedLogin {
            n: clavis_core::secret::random_token(),
            exp: now.timestamp() + super::CEREMONY_TTL_SECS,
            st,
            t: clavis_audit::trace::current(),
            p: String::new(),
        };
        let bare = serde_json::to_vec(&sealed).map_err(corrupt)?.len();
        sealed.p = " ".repeat(SEALED_LEN.saturating_sub(bare));
        let json = serde_json::to_vec(&sealed).map_err(corrupt)?;
        self.ceremony_key
            .seal(SEALED_LOGIN_AAD, &json)
            .map_err(|e| AuthnError::Corrupt(e.to_string()))
    }

    /// Opens a login token: `None` when it is not one this service sealed
    /// (junk, another key's) or its time is over.
    fn open_login(&self, token: &str, now: DateTime<Utc>) -> Option<OpenedLogin> {
        if token.len() > MAX_TOKEN_LEN {
            return None;
        }
        let plain = self.ceremony_key.open(SEALED_LOGIN_AAD, token).ok()?;
        let sealed: SealedLogin = serde_json::from_slice(&plain).ok()?;
        (sealed.exp > now.timestamp()).then(|| OpenedLogin {
            id: sha256_hex(&sealed.n),
            exp: sealed.exp,
            state: sealed.st,
            trace: sealed.t,
        })
    }

    /// The lengths of the enrolled keys' credential ids (read again every
    /// [`ID_LENGTHS_TTL_SECS`]): a decoy must look like an id of a key
    /// model the hospital uses, whatever its length.
    async fn enrolled_id_lengths(
        &self,
        conn: &mut DbConn,
        now: DateTime<Utc>,
    ) -> Result<IdLengths, AuthnError> {
        let t = now.timestamp();
        {
            let cached = self.decoy_lengths.lock().unwrap_or_else(|p| p.into_inner());
            if cached
                .read_at
                .is_some_and(|r| (0..ID_LENGTHS_TTL_SECS).contains(&(t - r)))
            {
                return Ok(cached.clone());
            }
        }
        let ids = AuthenticatorRow::active_credential_ids(conn).await?;
        let fresh = IdLengths::from_ids(&ids, t);
        *self.decoy_lengths.lock().unwrap_or_else(|p| p.into_inner()) = fresh.clone();
        Ok(fresh)
    }

    /// A number derived from the login name (folded to lower case), `i`
    /// and the decoy key: the same for the same name on every request,
    /// node and restart.
    fn decoy_seed(&self, name: &str, i: u8) -> u64 {
        let b = self.decoy_block(name, i, u8::MAX);
        u64::from_be_bytes(b[..8].try_into().unwrap_or_default())
    }

    /// SHA-256 of the decoy key, the length-prefixed name folded to lower
    /// case, `i` and `block`: a keyed derivation here, not a MAC anyone
    /// verifies.
    fn decoy_block(&self, name: &str, i: u8, block: u8) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        let name = name.to_lowercase();
        let mut h = Sha256::new();
        h.update(self.decoy_key);
        h.update((name.len() as u64).to_be_bytes());
        h.update(name.as_bytes());
        h.update([i, block]);
        h.finalize().into()
    }

    /// The `i`-th decoy credential id of a login name, `len` bytes long,
    /// from [`Self::decoy_block`]s, so the same name always gets the same
    /// ids.
    fn decoy_credential(
        &self,
        name: &str,
        i: u8,
        len: usize,
    ) -> webauthn_rs_proto::AllowCredentials {
        let mut id = Vec::with_capacity(len + 32);
        let mut block = 0u8;
        while id.len() < len {
            id.extend_from_slice(&self.decoy_block(name, i, block));
            block = block.wrapping_add(1);
        }
        id.truncate(len);
        webauthn_rs_proto::AllowCredentials {
            type_: "public-key".into(),
            id,
            transports: None,
        }
    }

    /// Finishes a login and, with `open`, opens the SSO session in the same
    /// transaction (one commit for the key's counter, the session and their
    /// audit). Every failure is the same [`AuthnError::LoginFailed`] to the
    /// caller; the precise reason goes to the audit log.
    pub async fn finish_login(
        &self,
        db: &Db,
        now: DateTime<Utc>,
        ceremony: &str,
        response: &PublicKeyCredential,
        client_ip: Option<&str>,
        open: Option<SessionRequest<'_>>,
    ) -> Result<LoginOutcome, AuthnError> {
        let opened = self.open_login(ceremony, now);
        // One trace from the login's start to its end.
        let span = clavis_audit::trace::continued(
            tracing::info_span!(target: "clavis::trace", "login.fido2.finish"),
            opened.as_ref().and_then(|o| o.trace.as_deref()),
        );
        self.finish_opened(db, now, opened, response, client_ip, open)
            .instrument(span)
            .await
    }

    /// [`Self::finish_login`] once its token is opened.
    async fn finish_opened(
        &self,
        db: &Db,
        now: DateTime<Utc>,
        opened: Option<OpenedLogin>,
        response: &PublicKeyCredential,
        client_ip: Option<&str>,
        open: Option<SessionRequest<'_>>,
    ) -> Result<LoginOutcome, AuthnError> {
        let key =
            AuthenticatorRow::read_by_credential(db, &b64(response.get_credential_id())).await?;
        let keys = failure_keys(client_ip);
        let failures = LoginFailureRow::read_many(db, &keys).await?;
        throttle(&self.cfg, now, &failures)?;
        let spent = opened.as_ref().map(|o| (o.id.clone(), o.exp));
        // The signature is checked before the write transaction, so logins
        // verify in parallel and the transaction holds only statements.
        let checked = self.check_login(db, opened, response, key).await;
        let attempt = Attempt {
            now,
            opened: spent,
            client_ip,
            keys,
            failures,
        };
        let mut conn = db.conn().await?;
        // One unit on SQLite: the write lock is held for the statements
        // only, not for a hop to the blocking pool per statement.
        let done = conn
            .atomically(async |conn: &mut DbConn| {
                let done = conn
                    .transaction(async |tx| Self::succeed(tx, &attempt, checked?, open).await)
                    .await;
                if let Err(Unfinished::Refused((reason, oid))) = &done {
                    Self::record_refusal(conn, &attempt, reason, *oid).await?;
                }
                done
            })
            .await;
        match done {
            Ok(outcome) => Ok(outcome),
            Err(Unfinished::Refused((reason, _))) => {
                tracing::warn!(
                    login.reason = reason,
                    client.addr = client_ip.unwrap_or("-"),
                    "login failed"
                );
                Err(AuthnError::LoginFailed)
            }
            Err(Unfinished::Failed(e)) => Err(e),
        }
    }

    /// Everything a login proves that needs no write: the ceremony is
    /// pending, the key and its holder active, the signature valid with
    /// user verification. Nothing is spent yet (see [`Fido2::spend`]).
    #[tracing::instrument(target = "clavis::trace", name = "login.fido2.verify", skip_all)]
    async fn check_login(
        &self,
        db: &Db,
        opened: Option<OpenedLogin>,
        response: &PublicKeyCredential,
        key: Option<AuthenticatorRow>,
    ) -> Result<CheckedLogin, Refusal> {
        let opened = opened.ok_or(("ceremony_unknown_or_expired", None))?;
        // Finished already: refused before any work, and nothing is
        // written (a replayed answer costs the log nothing).
        if CeremonyRow::is_spent(db, &opened.id)
            .await
            .map_err(|_| ("store", None))?
        {
            return Err((SPENT, None));
        }
        let Some(key) = key else {
            return Err(("unknown_credential", None));
        };
        let oid = Some(key.oid);
        if key.status != AuthenticatorStatus::Active {
            return Err(("authenticator_not_active", oid));
        }
        let status = IdentityRow::read_status(db, key.oid)
            .await
            .map_err(|_| ("store", oid))?;
        if status != Some(LifecycleStatus::Active) {
            return Err(("identity_not_active", oid));
        }
        let stored: serde_json::Value =
            serde_json::from_str(&key.credential).map_err(|_| ("credential_corrupt", oid))?;
        let mut passkey: Passkey =
            serde_json::from_value(stored.clone()).map_err(|_| ("credential_corrupt", oid))?;
        // The key that answered, as the only one expected (whose it is is
        // checked below against the person the login was begun for).
        let state: LoginState = serde_json::from_value(with_credentials(
            opened.state,
            vec![stored.get("cred").cloned().unwrap_or_default()],
        ))
        .map_err(|_| ("ceremony_corrupt", oid))?;
        let result = match state {
            LoginState::Discoverable { state } => {
                let (user, _) = self
                    .webauthn
                    .identify_discoverable_authentication(response)
                    .map_err(|_| ("bad_user_handle", oid))?;
                if user != key.oid.as_uuid() {
                    return Err(("user_handle_mismatch", oid));
                }
                self.webauthn
                    .finish_discoverable_authentication_v2(response, state, &passkey)
            }
            LoginState::Known {
                oid: expected,
                state,
            } => {
                if expected != key.oid {
                    return Err(("credential_of_another_user", oid));
                }
                self.webauthn
                    .finish_passkey_authentication(response, &state)
            }
        }
        .map_err(|e| {
            tracing::debug!(error = %e, "webauthn verification failed");
            ("signature_or_challenge_invalid", oid)
        })?;
        if !result.user_verified() {
            return Err(("user_not_verified", oid));
        }
        passkey.update_credential(&result);
        let credential =
            serde_json::to_string(&passkey).map_err(|_| ("credential_corrupt", oid))?;
        Ok(CheckedLogin {
            credential,
            proof: LoginProof {
                oid: key.oid,
                authenticator_id: key.id,
                acr: self.cfg.fido2_acr.clone(),
                amr: self.cfg.fido2_amr.clone(),
            },
        })
    }

    /// The login's transaction: spends the ceremony and records the key's
    /// use (a refusal still, if either is gone since the check), then
    /// records the success.
    async fn succeed(
        tx: &mut DbConn,
        attempt: &Attempt<'_>,
        checked: CheckedLogin,
        open: Option<SessionRequest<'_>>,
    ) -> Result<LoginOutcome, Unfinished> {
        let proof = Self::spend(tx, attempt, checked).await?;
        Ok(Self::open_session(tx, attempt, proof, open).await?)
    }

    /// Inside the login's transaction: spends the ceremony (a concurrent
    /// replay of the same response finds it gone) and records the key's
    /// use, only if the key is still active and the holder has an enabled
    /// directory account (or none at all).
    async fn spend(
        conn: &mut DbConn,
        attempt: &Attempt<'_>,
        checked: CheckedLogin,
    ) -> Result<LoginProof, Refusal> {
        let now = attempt.now;
        let oid = Some(checked.proof.oid);
        // Finished already: a concurrent or later use of the same signed
        // answer.
        let (id, exp) = attempt
            .opened
            .as_ref()
            .ok_or(("ceremony_unknown_or_expired", oid))?;
        if !CeremonyRow::mark_spent(conn, id, *exp + SPENT_MARGIN_SECS)
            .await
            .map_err(|_| ("store", oid))?
        {
            return Err((REPLAYED, oid));
        }
        let recorded = AuthenticatorRow::record_use(
            conn,
            &checked.proof.authenticator_id,
            &checked.credential,
            now.timestamp(),
        )
        .await
        .map_err(|_| ("store", oid))?;
        if !recorded {
            return Err(("authenticator_not_active", oid));
        }
        // AD may have disabled every account of the holder since the check.
        if Account::all_disabled_for(conn, checked.proof.oid)
            .await
            .map_err(|_| ("store", oid))?
        {
            return Err(("account_disabled", oid));
        }
        Ok(checked.proof)
    }

    /// Inside the login's transaction, once the key's use is recorded:
    /// clears the failure counters, audits the login and, with `open`,
    /// opens the SSO session and ends the one the browser came with.
    async fn open_session(
        tx: &mut DbConn,
        attempt: &Attempt<'_>,
        proof: LoginProof,
        open: Option<SessionRequest<'_>>,
    ) -> Result<LoginOutcome, AuthnError> {
        let now = attempt.now;
        let client_ip = attempt.client_ip.map(str::to_string);
        if !attempt.failures.is_empty() {
            LoginFailureRow::clear_many(tx, &attempt.keys).await?;
        }
        let mut login = AuditEvent::new(
            Actor::Identity(proof.oid),
            AuditAction::LoginSucceeded,
            Some(proof.oid.to_string()),
            json!({"method": "fido2", "authenticator_id": proof.authenticator_id, "acr": proof.acr, "amr": proof.amr}),
        );
        login.client_addr = client_ip.clone();
        let Some(req) = open else {
            login.record(tx, now).await?;
            return Ok(LoginOutcome {
                proof,
                session: None,
            });
        };
        let (token, row, created) = clavis_sso::prepare(
            req.sso,
            now,
            clavis_sso::NewSession {
                workstation_id: None,
                oid: proof.oid,
                acr: proof.acr.clone(),
                amr: proof.amr.clone(),
                authenticator_id: Some(proof.authenticator_id.clone()),
                client_ip,
                user_agent: req.user_agent,
                ends_by: None,
                method: clavis_core::LoginMethod::Fido2,
            },
        );
        row.insert(tx).await?;
        clavis_audit::append(tx, now, vec![login, created]).await?;
        // A new session id at every login (no fixation): the browser's
        // previous session, if any, ends.
        if let Some(previous) = req.replaces {
            clavis_sso::replace(tx, now, previous, &row.id).await?;
        }
        Ok(LoginOutcome {
            proof,
            session: Some((token, clavis_sso::session_of(&row))),
        })
    }

    /// After a refusal, in a transaction of its own: spends the ceremony
    /// all the same (one attempt per ceremony, failed or not) and, if it
    /// was a live login ceremony not spent before, counts the failure
    /// against the client's address and audits the reason. No live
    /// ceremony (junk, over, another key's): nothing is written.
    async fn record_refusal(
        conn: &mut DbConn,
        attempt: &Attempt<'_>,
        reason: &'static str,
        oid: Option<Oid>,
    ) -> Result<(), AuthnError> {
        conn.transaction(async |tx| {
            let live = match &attempt.opened {
                Some((id, exp)) => {
                    CeremonyRow::mark_spent(tx, id, *exp + SPENT_MARGIN_SECS).await?
                }
                None => false,
            };
            // A signed answer replayed against its spent ceremony is worth
            // an audit line (someone holds a real assertion), not a count.
            if !live && reason != REPLAYED {
                return Ok(());
            }
            for k in attempt.keys.iter().filter(|_| live) {
                record_failure(tx, attempt.now, k).await?;
            }
            let mut e = AuditEvent::new(
                Actor::Anonymous,
                AuditAction::LoginFailed,
                oid.map(|o| o.to_string()),
                json!({"method": "fido2", "reason": reason}),
            );
            e.client_addr = attempt.client_ip.map(str::to_string);
            e.record(tx, attempt.now).await?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests;
