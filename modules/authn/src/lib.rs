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
//! Departures and suspensions suspend the person's keys ([`AuthnLifecycle`]).

pub mod badge;
pub mod config;
mod error;

pub use config::{AttestationPolicy, AuthnConfig, BadgeConfig};
pub use error::AuthnError;

use async_trait::async_trait;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use clavis_audit::AuditEvent;
use clavis_core::Secret;
use clavis_directory::lifecycle::{
    LifecycleEvent, LifecycleKind, LifecycleSubscriber, SubscriberError,
};
use clavis_store::models::{
    Account, AuthenticatorRow, CeremonyRow, EnrolmentLinkRow, IdentityRow, LoginFailureRow,
};
use clavis_store::{Db, DbConn};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use webauthn_rs::prelude::*;

/// How long a ceremony may take between its two requests.
const CEREMONY_TTL_SECS: i64 = 300;

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The FIDO2 service: a configured WebAuthn relying party.
#[derive(Debug)]
pub struct Fido2 {
    webauthn: Webauthn,
    cfg: AuthnConfig,
    ca_list: Option<AttestationCaList>,
}

/// What a successful login proves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoginProof {
    /// Who.
    pub oid: String,
    /// With which authenticator.
    pub authenticator_id: String,
    /// The assurance reached.
    pub acr: String,
    /// The methods used.
    pub amr: Vec<String>,
}

/// Open the SSO session with the login (same transaction).
#[derive(Debug)]
pub struct SessionRequest<'a> {
    /// Session settings.
    pub sso: &'a clavis_sso::SsoConfig,
    /// The browser's user agent.
    pub user_agent: Option<String>,
}

/// A successful login, and the session it opened if asked.
#[derive(Debug)]
pub struct LoginOutcome {
    /// What the login proves.
    pub proof: LoginProof,
    /// The cookie token (shown once) and the session.
    pub session: Option<(Secret<String>, clavis_sso::Session)>,
}

/// Where a ceremony is: its id and the options for the browser.
#[derive(Debug, Clone, Serialize)]
pub struct Challenge<T: Serialize> {
    /// Give it back to finish.
    pub ceremony: String,
    /// For `navigator.credentials.create/get`.
    pub options: T,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "t")]
enum LoginState {
    Discoverable {
        state: DiscoverableAuthentication,
    },
    Known {
        oid: String,
        state: PasskeyAuthentication,
    },
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "t")]
enum RegisterState {
    Plain { state: PasskeyRegistration },
    Attested { state: AttestedPasskeyRegistration },
}

/// An enrolment link as issued.
#[derive(Debug)]
pub struct EnrolmentLink {
    /// The one-time URL.
    pub url: Secret<String>,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
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
        Ok(Self {
            webauthn,
            cfg,
            ca_list,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &AuthnConfig {
        &self.cfg
    }

    async fn ensure_can_enrol(conn: &mut DbConn, oid: &str) -> Result<IdentityRow, AuthnError> {
        let identity = IdentityRow::find(conn, oid)
            .await?
            .ok_or(AuthnError::InvalidLink)?;
        if matches!(identity.status.as_str(), "departed" | "suspended") {
            return Err(AuthnError::InvalidLink);
        }
        Ok(identity)
    }

    fn start_registration(
        &self,
        identity: &IdentityRow,
        existing: &[AuthenticatorRow],
    ) -> Result<(CreationChallengeResponse, RegisterState), AuthnError> {
        let user =
            Uuid::parse_str(&identity.oid).map_err(|e| AuthnError::Corrupt(e.to_string()))?;
        let given: Vec<String> =
            serde_json::from_str(&identity.birth_given_names).unwrap_or_default();
        let display = format!(
            "{} {}",
            given.first().map(String::as_str).unwrap_or(""),
            identity
                .used_family_name
                .as_deref()
                .unwrap_or(&identity.birth_family_name)
        );
        let exclude: Vec<CredentialID> = existing
            .iter()
            .filter_map(|a| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(&a.credential_id)
                    .ok()
            })
            .collect();
        let exclude = (!exclude.is_empty()).then_some(exclude);
        let (mut ccr, state) = match (&self.cfg.attestation, &self.ca_list) {
            (AttestationPolicy::AllowList, Some(list)) => {
                let (ccr, s) = self.webauthn.start_attested_passkey_registration(
                    user,
                    &identity.oid,
                    &display,
                    exclude,
                    list.clone(),
                    None,
                )?;
                (ccr, RegisterState::Attested { state: s })
            }
            _ => {
                let (ccr, s) = self.webauthn.start_passkey_registration(
                    user,
                    &identity.oid,
                    &display,
                    exclude,
                )?;
                (ccr, RegisterState::Plain { state: s })
            }
        };
        // Ask for a discoverable credential (username-less login) where the
        // key can hold one; keys that cannot still work username-first.
        if let Some(sel) = ccr.public_key.authenticator_selection.as_mut() {
            sel.resident_key = Some(webauthn_rs_proto::ResidentKeyRequirement::Preferred);
            sel.user_verification = webauthn_rs_proto::UserVerificationPolicy::Required;
        }
        Ok((ccr, state))
    }

    async fn store_ceremony(
        conn: &mut DbConn,
        now: DateTime<Utc>,
        kind: &str,
        oid: Option<String>,
        state: &impl Serialize,
    ) -> Result<String, AuthnError> {
        let id = random_token();
        CeremonyRow {
            id: sha256_hex(&id),
            kind: kind.into(),
            oid,
            state: serde_json::to_string(state).map_err(|e| AuthnError::Corrupt(e.to_string()))?,
            expires_at: now.timestamp() + CEREMONY_TTL_SECS,
        }
        .insert(conn, now.timestamp())
        .await?;
        Ok(id)
    }

    async fn take_ceremony(
        conn: &mut DbConn,
        now: DateTime<Utc>,
        kind: &str,
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

    /// Starts enrolling a key from an enrolment link.
    pub async fn begin_enrolment(
        &self,
        conn: &mut DbConn,
        now: DateTime<Utc>,
        link_token: &str,
    ) -> Result<Challenge<CreationChallengeResponse>, AuthnError> {
        let link = valid_link(conn, now, link_token).await?;
        self.begin_registration_for(conn, now, &link.oid, Some(link.token_hash))
            .await
    }

    /// Starts adding a key for a signed-in identity (the caller checks the
    /// login is fresh).
    pub async fn begin_registration_for(
        &self,
        conn: &mut DbConn,
        now: DateTime<Utc>,
        oid: &str,
        link_hash: Option<String>,
    ) -> Result<Challenge<CreationChallengeResponse>, AuthnError> {
        let identity = Self::ensure_can_enrol(conn, oid).await?;
        let existing = AuthenticatorRow::for_identity(conn, oid).await?;
        let (ccr, state) = self.start_registration(&identity, &existing)?;
        let stored = json!({"state": state, "link": link_hash});
        let ceremony =
            Self::store_ceremony(conn, now, "register", Some(oid.to_string()), &stored).await?;
        Ok(Challenge {
            ceremony,
            options: ccr,
        })
    }

    /// Finishes a registration; returns the new authenticator's id. For a
    /// link ceremony the link is consumed in the same transaction.
    pub async fn finish_registration(
        &self,
        conn: &mut DbConn,
        now: DateTime<Utc>,
        ceremony: &str,
        response: &RegisterPublicKeyCredential,
        label: &str,
        actor: &str,
    ) -> Result<String, AuthnError> {
        conn.begin().await?;
        let r = self
            .finish_registration_tx(conn, now, ceremony, response, label, actor)
            .await;
        let r = match r {
            Err(AuthnError::ModelNotAllowed) => {
                // The refusal itself is audited, outside the failed work.
                conn.rollback().await?;
                clavis_audit::append_now(
                    conn,
                    now,
                    vec![AuditEvent::new(
                        actor,
                        "key.refused",
                        None,
                        json!({"reason": "model_not_allowed"}),
                    )],
                )
                .await?;
                return Err(AuthnError::ModelNotAllowed);
            }
            other => other,
        };
        conn.finish(r).await
    }

    async fn finish_registration_tx(
        &self,
        conn: &mut DbConn,
        now: DateTime<Utc>,
        ceremony: &str,
        response: &RegisterPublicKeyCredential,
        label: &str,
        actor: &str,
    ) -> Result<String, AuthnError> {
        let row = Self::take_ceremony(conn, now, "register", ceremony).await?;
        let oid = row.oid.clone().ok_or(AuthnError::CeremonyExpired)?;
        #[derive(Deserialize)]
        struct Stored {
            state: RegisterState,
            link: Option<String>,
        }
        let stored: Stored =
            serde_json::from_str(&row.state).map_err(|e| AuthnError::Corrupt(e.to_string()))?;
        Self::ensure_can_enrol(conn, &oid).await?;
        let (passkey, aaguid): (Passkey, Option<String>) = match &stored.state {
            RegisterState::Plain { state } => (
                self.webauthn.finish_passkey_registration(response, state)?,
                None,
            ),
            RegisterState::Attested { state } => {
                let attested = self
                    .webauthn
                    .finish_attested_passkey_registration(response, state)
                    .map_err(|e| {
                        tracing::warn!(error = %e, "attestation refused");
                        AuthnError::ModelNotAllowed
                    })?;
                let aaguid = match attested.attestation().metadata {
                    AttestationMetadata::Packed { aaguid }
                    | AttestationMetadata::Tpm { aaguid, .. } => Some(aaguid.to_string()),
                    _ => None,
                };
                (attested.into(), aaguid)
            }
        };
        if let Some(link) = &stored.link
            && !EnrolmentLinkRow::mark_used(conn, link, now.timestamp()).await?
        {
            return Err(AuthnError::InvalidLink);
        }
        let cred_id = b64(passkey.cred_id());
        if AuthenticatorRow::find_by_credential(conn, &cred_id)
            .await?
            .is_some()
        {
            return Err(AuthnError::AlreadyEnrolled);
        }
        let id = clavis_core::ids::new_record_id();
        let label: String = label.trim().chars().take(64).collect();
        AuthenticatorRow {
            id: id.clone(),
            oid: oid.clone(),
            kind: "fido2".into(),
            credential_id: cred_id,
            credential: serde_json::to_string(&passkey)
                .map_err(|e| AuthnError::Corrupt(e.to_string()))?,
            aaguid: aaguid.clone(),
            label: if label.is_empty() {
                "Clé de sécurité".into()
            } else {
                label
            },
            status: "active".into(),
            status_reason: None,
            created_at: now.timestamp(),
            last_used_at: None,
        }
        .insert(conn)
        .await?;
        let mut events = vec![AuditEvent::new(
            actor,
            "key.added",
            Some(oid.clone()),
            json!({"authenticator_id": id, "aaguid": aaguid}),
        )];
        if stored.link.is_some() {
            events.push(AuditEvent::new(
                actor,
                "enrolment_link.used",
                Some(oid.clone()),
                json!({"authenticator_id": id}),
            ));
        }
        clavis_audit::append(conn, now, events).await?;
        Ok(id)
    }

    /// Starts a login: username-less when `username` is `None`. An unknown
    /// username gets a username-less challenge, so the answer never tells
    /// whether an account exists.
    pub async fn begin_login(
        &self,
        conn: &mut DbConn,
        now: DateTime<Utc>,
        username: Option<&str>,
    ) -> Result<Challenge<RequestChallengeResponse>, AuthnError> {
        conn.atomically(async |conn: &mut DbConn| self.begin_login_on(conn, now, username).await)
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
                    let keys: Vec<Passkey> = AuthenticatorRow::for_identity(conn, &identity.oid)
                        .await?
                        .iter()
                        .filter(|a| a.status == "active" && a.kind == "fido2")
                        .filter_map(|a| serde_json::from_str(&a.credential).ok())
                        .collect();
                    (!keys.is_empty()).then_some((identity.oid, keys))
                }
                None => None,
            },
            None => None,
        };
        let (rcr, state) = match known {
            Some((oid, keys)) => {
                let (rcr, s) = self.webauthn.start_passkey_authentication(&keys)?;
                (rcr, LoginState::Known { oid, state: s })
            }
            None => {
                let (rcr, s) = self.webauthn.start_discoverable_authentication()?;
                (rcr, LoginState::Discoverable { state: s })
            }
        };
        let ceremony = Self::store_ceremony(conn, now, "login", None, &state).await?;
        Ok(Challenge {
            ceremony,
            options: rcr,
        })
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
        let cred_id = b64(response.get_credential_id());
        let key = match db.inline() {
            Some(i) => AuthenticatorRow::find_by_credential_inline(i, &cred_id)?,
            None => AuthenticatorRow::find_by_credential(&mut db.conn().await?, &cred_id).await?,
        };
        let keys: Vec<String> = client_ip
            .map(|ip| format!("ip:{ip}"))
            .into_iter()
            .chain(key.as_ref().map(|k| format!("oid:{}", k.oid)))
            .collect();
        let failures = match db.inline() {
            Some(i) => LoginFailureRow::find_many_inline(i, &keys)?,
            None => LoginFailureRow::find_many(&mut db.conn().await?, &keys).await?,
        };
        throttle(&self.cfg, now, &failures)?;
        // The signature is checked before the write transaction, so logins
        // verify in parallel and the transaction holds only statements.
        let checked = self.check_login(db, now, ceremony, response, key).await;
        let mut conn = db.conn().await?;
        // One unit on SQLite: the write lock is held for the statements
        // only, not for a hop to the blocking pool per statement.
        let result = conn
            .atomically(async |conn: &mut DbConn| {
                conn.begin().await?;
                let r = match checked {
                    Ok(c) => Self::spend(conn, now, ceremony, c).await,
                    Err(e) => Err(e),
                };
                match r {
                    Ok(proof) => {
                        let done: Result<LoginOutcome, AuthnError> = async {
                            if !failures.is_empty() {
                                LoginFailureRow::clear_many(conn, &keys).await?;
                            }
                            let mut login = AuditEvent::new(
                                format!("identity:{}", proof.oid),
                                "login.succeeded",
                                Some(proof.oid.clone()),
                                json!({"method": "fido2", "authenticator_id": proof.authenticator_id, "acr": proof.acr, "amr": proof.amr}),
                            );
                            login.client_addr = client_ip.map(str::to_string);
                            let mut events = vec![login];
                            let session = match open {
                                Some(req) => {
                                    let (token, row, event) = clavis_sso::prepare(
                                        req.sso,
                                        now,
                                        clavis_sso::NewSession {
                                            workstation_id: None,
                                            oid: proof.oid.clone(),
                                            acr: proof.acr.clone(),
                                            amr: proof.amr.clone(),
                                            authenticator_id: Some(proof.authenticator_id.clone()),
                                            client_ip: client_ip.map(str::to_string),
                                            user_agent: req.user_agent,
                                        },
                                    );
                                    row.insert(conn).await?;
                                    events.push(event);
                                    Some((token, clavis_sso::session_of(&row)))
                                }
                                None => None,
                            };
                            clavis_audit::append(conn, now, events).await?;
                            Ok(LoginOutcome { proof, session })
                        }
                        .await;
                        conn.finish(done).await.map(Ok)
                    }
                    Err((reason, oid)) => {
                        conn.rollback().await?;
                        conn.begin().await?;
                        let recorded: Result<(), AuthnError> = async {
                            // A ceremony allows one attempt, failed or not.
                            CeremonyRow::take(conn, &sha256_hex(ceremony)).await?;
                            for k in &keys {
                                record_failure(conn, now, k, &failures).await?;
                            }
                            let mut e = AuditEvent::new(
                                "anonymous",
                                "login.failed",
                                oid,
                                json!({"method": "fido2", "reason": reason}),
                            );
                            e.client_addr = client_ip.map(str::to_string);
                            clavis_audit::append(conn, now, vec![e]).await?;
                            Ok(())
                        }
                        .await;
                        conn.finish(recorded).await?;
                        Ok(Err(reason))
                    }
                }
            })
            .await?;
        let outcome = match result {
            Ok(outcome) => outcome,
            Err(reason) => {
                tracing::warn!(
                    login.reason = reason,
                    client.addr = client_ip.unwrap_or("-"),
                    "login failed"
                );
                return Err(AuthnError::LoginFailed);
            }
        };
        Ok(outcome)
    }

    /// Everything a login proves that needs no write: the ceremony is
    /// pending, the key and its holder active, the signature valid with
    /// user verification. Nothing is spent yet (see [`Fido2::spend`]).
    async fn check_login(
        &self,
        db: &Db,
        now: DateTime<Utc>,
        ceremony: &str,
        response: &PublicKeyCredential,
        key: Option<AuthenticatorRow>,
    ) -> Result<CheckedLogin, (&'static str, Option<String>)> {
        let row = CeremonyRow::peek(db, &sha256_hex(ceremony))
            .await
            .map_err(|_| ("store", None))?
            .filter(|r| r.kind == "login" && r.expires_at > now.timestamp())
            .ok_or(("ceremony_unknown_or_expired", None))?;
        let state: LoginState =
            serde_json::from_str(&row.state).map_err(|_| ("ceremony_corrupt", None))?;
        let Some(key) = key else {
            return Err(("unknown_credential", None));
        };
        let oid = Some(key.oid.clone());
        if key.status != "active" {
            return Err(("authenticator_not_active", oid));
        }
        let status = match db.inline() {
            Some(i) => IdentityRow::status_inline(i, &key.oid),
            None => match db.conn().await {
                Ok(mut conn) => IdentityRow::status_of(&mut conn, &key.oid).await,
                Err(e) => Err(e),
            },
        }
        .map_err(|_| ("store", oid.clone()))?;
        if status.as_deref() != Some("active") {
            return Err(("identity_not_active", oid));
        }
        let mut passkey: Passkey = serde_json::from_str(&key.credential)
            .map_err(|_| ("credential_corrupt", oid.clone()))?;
        let result = match state {
            LoginState::Discoverable { state } => {
                let (user, _) = self
                    .webauthn
                    .identify_discoverable_authentication(response)
                    .map_err(|_| ("bad_user_handle", oid.clone()))?;
                if user.to_string() != key.oid {
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
            ("signature_or_challenge_invalid", oid.clone())
        })?;
        if !result.user_verified() {
            return Err(("user_not_verified", oid));
        }
        passkey.update_credential(&result);
        let credential =
            serde_json::to_string(&passkey).map_err(|_| ("credential_corrupt", oid.clone()))?;
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

    /// Inside the login's transaction: spends the ceremony (a concurrent
    /// replay of the same response finds it gone) and records the key's
    /// use, only if the key is still active.
    async fn spend(
        conn: &mut DbConn,
        now: DateTime<Utc>,
        ceremony: &str,
        checked: CheckedLogin,
    ) -> Result<LoginProof, (&'static str, Option<String>)> {
        let oid = Some(checked.proof.oid.clone());
        Self::take_ceremony(conn, now, "login", ceremony)
            .await
            .map_err(|_| ("ceremony_unknown_or_expired", oid.clone()))?;
        let recorded = AuthenticatorRow::record_use(
            conn,
            &checked.proof.authenticator_id,
            &checked.credential,
            now.timestamp(),
        )
        .await
        .map_err(|_| ("store", oid.clone()))?;
        if !recorded {
            return Err(("authenticator_not_active", oid));
        }
        Ok(checked.proof)
    }
}

/// A login whose signature verified, not yet recorded.
struct CheckedLogin {
    /// The key's credential after this use (counter), as stored.
    credential: String,
    proof: LoginProof,
}

/// Refuses with [`AuthnError::TooManyAttempts`] while any of the counters
/// (client address, identity) imposes a wait.
fn throttle(
    cfg: &AuthnConfig,
    now: DateTime<Utc>,
    failures: &[LoginFailureRow],
) -> Result<(), AuthnError> {
    let until = failures
        .iter()
        .map(|f| (delay_after(cfg, f.failures), f.last_failure_at))
        .filter(|(wait, _)| *wait > 0)
        .map(|(wait, at)| at + wait)
        .max();
    match until {
        Some(until) if now.timestamp() < until => Err(AuthnError::TooManyAttempts {
            retry_after_secs: until - now.timestamp(),
        }),
        _ => Ok(()),
    }
}

/// The wait imposed after `failures` consecutive failures: none for the
/// first `free_failures`, then doubling from 1 s up to `max_delay_secs`.
pub fn delay_after(cfg: &AuthnConfig, failures: i32) -> i64 {
    let over = failures - cfg.free_failures as i32;
    if over < 0 {
        return 0;
    }
    let secs = 1i64.checked_shl(over.min(20) as u32).unwrap_or(i64::MAX);
    secs.min(cfg.max_delay_secs)
}

async fn record_failure(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    key: &str,
    known: &[LoginFailureRow],
) -> Result<(), AuthnError> {
    let failures = known
        .iter()
        .find(|f| f.key == key)
        .map(|f| f.failures)
        .unwrap_or(0);
    LoginFailureRow {
        key: key.to_string(),
        failures: failures.saturating_add(1),
        last_failure_at: now.timestamp(),
    }
    .save(conn)
    .await?;
    Ok(())
}

async fn valid_link(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    token: &str,
) -> Result<EnrolmentLinkRow, AuthnError> {
    let link = EnrolmentLinkRow::find(conn, &sha256_hex(token))
        .await?
        .ok_or(AuthnError::InvalidLink)?;
    if link.used_at.is_some() || link.expires_at <= now.timestamp() {
        return Err(AuthnError::InvalidLink);
    }
    Ok(link)
}

/// Whether an enrolment link can still be used (for the enrolment page).
pub async fn check_enrolment_link(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    token: &str,
) -> Result<String, AuthnError> {
    let link = valid_link(conn, now, token).await?;
    Fido2::ensure_can_enrol(conn, &link.oid).await?;
    Ok(link.oid)
}

/// Issues a one-time enrolment link for `oid`, valid `valid_hours`.
pub async fn issue_enrolment_link(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    public_url: &str,
    oid: &str,
    valid_hours: i64,
    actor: &str,
) -> Result<EnrolmentLink, AuthnError> {
    if !(1..=24 * 14).contains(&valid_hours) {
        return Err(AuthnError::Config(
            "valid hours must be between 1 and 336".into(),
        ));
    }
    Fido2::ensure_can_enrol(conn, oid).await?;
    let token = random_token();
    let expires_at = now + Duration::hours(valid_hours);
    conn.begin().await?;
    let r: Result<(), AuthnError> = async {
        EnrolmentLinkRow {
            token_hash: sha256_hex(&token),
            oid: oid.to_string(),
            created_by: actor.to_string(),
            created_at: now.timestamp(),
            expires_at: expires_at.timestamp(),
            used_at: None,
        }
        .insert(conn)
        .await?;
        clavis_audit::append(
            conn,
            now,
            vec![AuditEvent::new(
                actor,
                "enrolment_link.issued",
                Some(oid.to_string()),
                json!({"expires_at": expires_at}),
            )],
        )
        .await?;
        Ok(())
    }
    .await;
    conn.finish(r).await?;
    Ok(EnrolmentLink {
        url: Secret::new(format!(
            "{}/enrol/{token}",
            public_url.trim_end_matches('/')
        )),
        expires_at,
    })
}

/// A key as shown on `/me`.
#[derive(Debug, Clone, Serialize)]
pub struct KeyView {
    pub id: String,
    pub label: String,
    pub status: String,
    pub created_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// The keys of an identity.
pub async fn keys_of(conn: &mut DbConn, oid: &str) -> Result<Vec<KeyView>, AuthnError> {
    Ok(AuthenticatorRow::for_identity(conn, oid)
        .await?
        .into_iter()
        .filter(|a| a.status != "revoked")
        .map(|a| KeyView {
            id: a.id,
            label: a.label,
            status: a.status,
            created_at: DateTime::<Utc>::from_timestamp(a.created_at, 0),
            last_used_at: a
                .last_used_at
                .and_then(|t| DateTime::<Utc>::from_timestamp(t, 0)),
        })
        .collect())
}

/// Removes (revokes) a key of `oid`. Audited.
pub async fn remove_key(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    oid: &str,
    key_id: &str,
    actor: &str,
) -> Result<(), AuthnError> {
    conn.begin().await?;
    let r: Result<(), AuthnError> = async {
        let mut key = AuthenticatorRow::for_identity(conn, oid)
            .await?
            .into_iter()
            .find(|a| a.id == key_id && a.status != "revoked")
            .ok_or(AuthnError::KeyNotFound)?;
        key.status = "revoked".into();
        key.status_reason = Some("removed_by_user".into());
        key.update(conn).await?;
        clavis_audit::append(
            conn,
            now,
            vec![AuditEvent::new(
                actor,
                "key.removed",
                Some(oid.to_string()),
                json!({"authenticator_id": key_id}),
            )],
        )
        .await?;
        Ok(())
    }
    .await;
    conn.finish(r).await
}

/// Whether a login account of `oid` exists and is enabled (for display).
pub async fn has_enabled_account(conn: &mut DbConn, oid: &str) -> Result<bool, AuthnError> {
    Ok(Account::for_identity(conn, oid)
        .await?
        .iter()
        .any(|a| a.enabled))
}

/// Suspends the keys of people who depart or are suspended, in the
/// directory's transaction.
#[derive(Debug, Default)]
pub struct AuthnLifecycle;

#[async_trait]
impl LifecycleSubscriber for AuthnLifecycle {
    fn name(&self) -> &'static str {
        "authn"
    }

    async fn on_event(
        &self,
        conn: &mut DbConn,
        event: &LifecycleEvent,
    ) -> Result<(), SubscriberError> {
        let reason = match event.kind {
            LifecycleKind::Departed => "departed",
            LifecycleKind::Suspended => "suspended",
            _ => return Ok(()),
        };
        let fail = |e: String| SubscriberError {
            subscriber: "authn",
            detail: e,
        };
        let oid = event.oid.to_string();
        let ids = AuthenticatorRow::suspend_all_for(conn, &oid, reason)
            .await
            .map_err(|e| fail(e.to_string()))?;
        let badges = clavis_store::models::BadgeRow::suspend_all_for(conn, &oid, reason)
            .await
            .map_err(|e| fail(e.to_string()))?;
        let events: Vec<AuditEvent> = ids
            .iter()
            .map(|id| {
                AuditEvent::new(
                    "lifecycle",
                    "key.suspended",
                    Some(oid.clone()),
                    json!({"authenticator_id": id, "reason": reason}),
                )
            })
            .chain(badges.iter().map(|id| {
                AuditEvent::new(
                    "lifecycle",
                    "badge.suspended",
                    Some(oid.clone()),
                    json!({"badge_id": id, "reason": reason}),
                )
            }))
            .collect();
        clavis_audit::append(conn, event.at, events)
            .await
            .map_err(|e| fail(e.to_string()))
    }
}
