//! SSO sessions: the 4-hour session every application of the hospital
//! shares.
//!
//! A session is created at a successful login. The browser holds a random
//! 256-bit token in a `__Host-` cookie; the database holds only its SHA-256,
//! with the identity, auth time, absolute expiry (auth time + lifetime,
//! 4 h by default), optional idle timeout, acr/amr, authenticator, client
//! address and user agent. Sessions survive restarts and are valid on every
//! node sharing the database. They end on logout, expiry, revocation, or
//! when the identity departs or is suspended ([`SsoLifecycle`], called in
//! the directory's transaction).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use clavis_audit::AuditEvent;
use clavis_core::{Secret, SessionEndReason};
use clavis_directory::lifecycle::{
    LifecycleEvent, LifecycleKind, LifecycleSubscriber, SubscriberError,
};
use clavis_store::models::{LogoutOutboxRow, OidcGrantRow, SsoSessionRow};
use clavis_store::{DbConn, JsonList, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// `[sso]` configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SsoConfig {
    /// Absolute lifetime of a session, from the authentication. Default
    /// 14400 (4 h).
    #[serde(default = "default_lifetime")]
    pub session_lifetime_secs: i64,
    /// Ends a session unused for this long; 0 = off (default).
    #[serde(default)]
    pub idle_timeout_secs: i64,
}

fn default_lifetime() -> i64 {
    4 * 3600
}

impl Default for SsoConfig {
    fn default() -> Self {
        Self {
            session_lifetime_secs: default_lifetime(),
            idle_timeout_secs: 0,
        }
    }
}

/// The session cookie. `__Host-`: Secure, path `/`, no domain.
pub const COOKIE_NAME: &str = "__Host-clavis_sso";

/// Errors of the session service.
#[derive(Debug, thiserror::Error)]
pub enum SsoError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<clavis_audit::AuditError> for SsoError {
    fn from(e: clavis_audit::AuditError) -> Self {
        match e {
            clavis_audit::AuditError::Store(s) => SsoError::Store(s),
        }
    }
}

/// What a new session records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    pub oid: String,
    pub acr: String,
    pub amr: Vec<String>,
    pub authenticator_id: Option<String>,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    /// The registered workstation of a badge login.
    pub workstation_id: Option<String>,
}

/// A live session as handlers see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Session {
    pub id: String,
    pub oid: String,
    pub auth_time: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub acr: String,
    pub amr: Vec<String>,
    pub authenticator_id: Option<String>,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    /// The workstation of a badge login.
    pub workstation_id: Option<String>,
}

impl Session {
    fn from_row(r: &SsoSessionRow) -> Self {
        Session {
            id: r.id.clone(),
            oid: r.oid.clone(),
            auth_time: DateTime::<Utc>::from_timestamp(r.auth_time, 0).unwrap_or_default(),
            expires_at: DateTime::<Utc>::from_timestamp(r.expires_at, 0).unwrap_or_default(),
            acr: r.acr.clone(),
            amr: r.amr.to_vec(),
            authenticator_id: r.authenticator_id.clone(),
            client_ip: r.client_ip.clone(),
            user_agent: r.user_agent.clone(),
            workstation_id: r.workstation_id.clone(),
        }
    }

    /// Seconds left before the absolute expiry.
    pub fn seconds_left(&self, now: DateTime<Utc>) -> i64 {
        (self.expires_at - now).num_seconds().max(0)
    }
}

fn token_hash(token: &str) -> String {
    clavis_core::secret::sha256_hex(token)
}

/// A new session's row, cookie token and audit event, not yet written: for
/// callers that write them in their own transaction (the login does).
pub fn prepare(
    cfg: &SsoConfig,
    now: DateTime<Utc>,
    new: NewSession,
) -> (Secret<String>, SsoSessionRow, AuditEvent) {
    let token = clavis_core::secret::random_token();
    let t = now.timestamp();
    let row = SsoSessionRow {
        id: clavis_core::ids::new_record_id(),
        token_hash: token_hash(&token),
        oid: new.oid.clone(),
        auth_time: t,
        expires_at: t + cfg.session_lifetime_secs,
        idle_timeout_secs: cfg.idle_timeout_secs,
        last_seen_at: t,
        acr: new.acr.clone(),
        amr: new.amr.clone().into(),
        authenticator_id: new.authenticator_id.clone(),
        client_ip: new.client_ip.clone(),
        user_agent: new.user_agent.clone(),
        applications: JsonList::default(),
        ended_at: None,
        end_reason: None,
        workstation_id: new.workstation_id.clone(),
    };
    let mut e = AuditEvent::new(
        format!("identity:{}", new.oid),
        "session.created",
        Some(row.id.clone()),
        json!({"oid": new.oid, "acr": new.acr, "amr": new.amr, "authenticator_id": new.authenticator_id, "workstation_id": new.workstation_id,
               "expires_at": DateTime::<Utc>::from_timestamp(row.expires_at, 0)}),
    );
    e.client_addr = new.client_ip;
    (Secret::new(token), row, e)
}

/// The caller's view of a session row.
pub fn session_of(row: &SsoSessionRow) -> Session {
    Session::from_row(row)
}

/// Creates a session (inside the caller's transaction, which also holds the
/// login's audit). Returns the cookie token, shown once.
pub async fn create(
    conn: &mut DbConn,
    cfg: &SsoConfig,
    now: DateTime<Utc>,
    new: NewSession,
) -> Result<(Secret<String>, Session), SsoError> {
    let (token, row, event) = prepare(cfg, now, new);
    row.insert(conn).await?;
    clavis_audit::append(conn, now, vec![event]).await?;
    tracing::info!(session.id = %row.id, identity.oid = %row.oid, "session created");
    Ok((token, Session::from_row(&row)))
}

/// The live session behind a cookie token, or `None` (unknown, ended,
/// expired — an expired one is ended and audited on the way).
pub async fn check(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    token: &str,
) -> Result<Option<Session>, SsoError> {
    if token.is_empty() || token.len() > 128 {
        return Ok(None);
    }
    let Some(row) = SsoSessionRow::find_live_by_hash(conn, &token_hash(token)).await? else {
        return Ok(None);
    };
    let t = now.timestamp();
    let reason = if t >= row.expires_at {
        Some(SessionEndReason::Expired)
    } else if row.idle_timeout_secs > 0 && t - row.last_seen_at >= row.idle_timeout_secs {
        Some(SessionEndReason::Idle)
    } else {
        None
    };
    if let Some(reason) = reason {
        end(conn, now, &row.id, reason, "clavis").await?;
        return Ok(None);
    }
    // Idle tracking costs a write: only when enabled, at most once a minute.
    if row.idle_timeout_secs > 0 && t - row.last_seen_at >= 60 {
        SsoSessionRow::touch(conn, &row.id, t).await?;
    }
    Ok(Some(Session::from_row(&row)))
}

/// [`check`] for every request: the lookup runs without a transaction
/// (inline on SQLite, see `clavis_store::db::InlineReaders`), and a
/// transaction is opened only when the session must be written (expired,
/// idle tracking).
pub async fn check_fast(
    db: &clavis_store::Db,
    now: DateTime<Utc>,
    token: &str,
) -> Result<Option<Session>, SsoError> {
    if token.is_empty() || token.len() > 128 {
        return Ok(None);
    }
    let Some(row) = SsoSessionRow::find_live(db, &token_hash(token)).await? else {
        return Ok(None);
    };
    let t = now.timestamp();
    let must_write =
        t >= row.expires_at || (row.idle_timeout_secs > 0 && t - row.last_seen_at >= 60);
    if !must_write {
        return Ok(Some(Session::from_row(&row)));
    }
    let mut conn = db.conn().await?;
    check(&mut conn, now, token).await
}

/// Ends the session the browser came with (`previous_token`, its cookie)
/// when a login opens `new_session_id`: a new session id at every login,
/// so a session id planted before the login is worth nothing after it
/// (session fixation), and a shared workstation's browser never carries
/// the previous person's session on. Run it inside the login's
/// transaction; returns whether a live session was ended (`replaced`,
/// audited). An expired one is ended as expired, as [`check`] does.
pub async fn replace(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    previous_token: &str,
    new_session_id: &str,
) -> Result<bool, SsoError> {
    match check(conn, now, previous_token).await? {
        Some(previous) if previous.id != new_session_id => {
            end(
                conn,
                now,
                &previous.id,
                SessionEndReason::Replaced,
                "clavis",
            )
            .await
        }
        _ => Ok(false),
    }
}

/// Ends one session with `reason`;
/// returns whether it was live. Audited.
pub async fn end(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    id: &str,
    reason: SessionEndReason,
    actor: &str,
) -> Result<bool, SsoError> {
    let done = SsoSessionRow::end(conn, id, reason, now.timestamp()).await?;
    if done {
        after_end(conn, now, &[id.to_string()], reason).await?;
        clavis_audit::append(
            conn,
            now,
            vec![AuditEvent::new(
                actor,
                "session.ended",
                Some(id.to_string()),
                json!({"reason": reason}),
            )],
        )
        .await?;
        tracing::info!(session.id = %id, session.end_reason = %reason, "session ended");
    }
    Ok(done)
}

/// Ends every session of an identity; returns how many. Audited.
pub async fn end_all_for(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    oid: &str,
    reason: SessionEndReason,
    actor: &str,
) -> Result<usize, SsoError> {
    let ids = SsoSessionRow::end_all_for(conn, oid, reason, now.timestamp()).await?;
    ended(
        conn,
        now,
        &ids,
        reason,
        actor,
        json!({"reason": reason, "oid": oid}),
    )
    .await
}

/// Ends every session opened at a workstation (fast user switching: the
/// next badge login there ends the previous person's session first);
/// returns how many. Audited.
pub async fn end_all_at_workstation(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    workstation_id: &str,
    reason: SessionEndReason,
    actor: &str,
) -> Result<usize, SsoError> {
    let ids = SsoSessionRow::end_all_at_workstation(conn, workstation_id, reason, now.timestamp())
        .await?;
    let details = json!({"reason": reason, "workstation_id": workstation_id});
    ended(conn, now, &ids, reason, actor, details).await
}

/// What follows sessions just ended: their applications' dues and one
/// `session.ended` event each.
async fn ended(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    ids: &[String],
    reason: SessionEndReason,
    actor: &str,
    details: serde_json::Value,
) -> Result<usize, SsoError> {
    after_end(conn, now, ids, reason).await?;
    let events: Vec<AuditEvent> = ids
        .iter()
        .map(|id| AuditEvent::new(actor, "session.ended", Some(id.clone()), details.clone()))
        .collect();
    clavis_audit::append(conn, now, events).await?;
    Ok(ids.len())
}

/// What an ended session owes the applications it signed in to, in the
/// same transaction: the tokens issued from it stop working (their grants
/// are revoked), and each application gets a back-channel logout
/// notification queued (`logout_outbox`, delivered by the OIDC provider's
/// worker to those that registered a `backchannel_logout_uri`).
async fn after_end(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    ids: &[String],
    reason: SessionEndReason,
) -> Result<(), SsoError> {
    if ids.is_empty() {
        return Ok(());
    }
    let t = now.timestamp();
    OidcGrantRow::revoke_for_sessions(conn, ids, &format!("session_{reason}"), t).await?;
    let mut outbox = Vec::new();
    for id in ids {
        let Some(row) = SsoSessionRow::find(conn, id).await? else {
            continue;
        };
        for client_id in row.applications.into_vec() {
            outbox.push(LogoutOutboxRow {
                id: clavis_core::ids::new_record_id(),
                session_id: row.id.clone(),
                oid: row.oid.clone(),
                client_id,
                attempts: 0,
                next_attempt_at: t,
                last_error: None,
                delivered_at: None,
                given_up_at: None,
                created_at: t,
            });
        }
    }
    LogoutOutboxRow::insert_all(conn, &outbox).await?;
    Ok(())
}

/// Ends (reason `expired`) the live sessions whose absolute lifetime is
/// over, so that their applications hear of it even if the user never
/// comes back. Returns how many. Run periodically by `clavis serve`.
pub async fn end_expired(conn: &mut DbConn, now: DateTime<Utc>) -> Result<usize, SsoError> {
    let ids = SsoSessionRow::expired_live(conn, now.timestamp(), 500).await?;
    let mut ended = 0;
    for id in ids {
        if conn
            .transaction(async |tx| end(tx, now, &id, SessionEndReason::Expired, "clavis").await)
            .await?
        {
            ended += 1;
        }
    }
    Ok(ended)
}

/// Live sessions (of one identity, or all), newest first.
pub async fn list(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    oid: Option<&str>,
) -> Result<Vec<Session>, SsoError> {
    Ok(SsoSessionRow::list_live(conn, oid, now.timestamp(), 10_000)
        .await?
        .iter()
        .map(Session::from_row)
        .collect())
}

/// Ends the sessions of people who depart or are suspended, in the
/// directory's transaction.
#[derive(Debug, Default)]
pub struct SsoLifecycle;

#[async_trait]
impl LifecycleSubscriber for SsoLifecycle {
    fn name(&self) -> &'static str {
        "sso"
    }

    async fn on_event(
        &self,
        conn: &mut DbConn,
        event: &LifecycleEvent,
    ) -> Result<(), SubscriberError> {
        let reason = match event.kind {
            LifecycleKind::Departed => SessionEndReason::Departed,
            LifecycleKind::Suspended => SessionEndReason::Suspended,
            _ => return Ok(()),
        };
        end_all_for(conn, event.at, &event.oid.to_string(), reason, "lifecycle")
            .await
            .map(|_| ())
            .map_err(|e| SubscriberError {
                subscriber: "sso",
                detail: e.to_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clavis_testkit::db::{Backend, TestDb};

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("instant")
    }

    fn nurse() -> NewSession {
        NewSession {
            workstation_id: None,
            oid: clavis_core::Oid::new_random().to_string(),
            acr: "eidas2".into(),
            amr: vec!["hwk".into(), "pin".into(), "mfa".into()],
            authenticator_id: Some("k1".into()),
            client_ip: Some("10.0.0.7".into()),
            user_agent: Some("test".into()),
        }
    }

    #[tokio::test]
    async fn a_session_lasts_exactly_four_hours() {
        let t = TestDb::new(Backend::Sqlite).await;
        let mut conn = t.db.conn().await.expect("conn");
        let t0 = at("2026-11-22T08:00:00Z");
        let (token, s) = create(&mut conn, &SsoConfig::default(), t0, nurse())
            .await
            .expect("create");
        assert_eq!(s.expires_at, at("2026-11-22T12:00:00Z"));
        let just_before = at("2026-11-22T11:59:59Z");
        assert!(
            check(&mut conn, just_before, token.expose())
                .await
                .expect("check")
                .is_some()
        );
        let four_hours_one_second = at("2026-11-22T12:00:01Z");
        assert!(
            check(&mut conn, four_hours_one_second, token.expose())
                .await
                .expect("check")
                .is_none()
        );
        // Once expired it stays ended, even if the clock went back.
        assert!(
            check(&mut conn, just_before, token.expose())
                .await
                .expect("check")
                .is_none()
        );
        let row = SsoSessionRow::find(&mut conn, &s.id)
            .await
            .expect("row")
            .expect("exists");
        assert_eq!(row.end_reason, Some(SessionEndReason::Expired));
        assert_ne!(row.token_hash, *token.expose(), "only the hash is stored");
    }

    #[tokio::test]
    async fn idle_timeout_ends_an_unused_session() {
        let t = TestDb::new(Backend::Sqlite).await;
        let mut conn = t.db.conn().await.expect("conn");
        let cfg = SsoConfig {
            session_lifetime_secs: 14400,
            idle_timeout_secs: 900,
        };
        let t0 = at("2026-11-22T08:00:00Z");
        let (token, _) = create(&mut conn, &cfg, t0, nurse()).await.expect("create");
        assert!(
            check(&mut conn, at("2026-11-22T08:10:00Z"), token.expose())
                .await
                .expect("check")
                .is_some()
        );
        assert!(
            check(&mut conn, at("2026-11-22T08:24:00Z"), token.expose())
                .await
                .expect("check")
                .is_some()
        );
        assert!(
            check(&mut conn, at("2026-11-22T08:39:01Z"), token.expose())
                .await
                .expect("check")
                .is_none()
        );
    }

    #[tokio::test]
    async fn a_login_replaces_the_session_the_browser_came_with() {
        let t = TestDb::new(Backend::Sqlite).await;
        let mut conn = t.db.conn().await.expect("conn");
        let t0 = at("2026-11-22T08:00:00Z");
        let cfg = SsoConfig::default();
        let (old_token, old) = create(&mut conn, &cfg, t0, nurse()).await.expect("old");
        let (new_token, new) = create(&mut conn, &cfg, t0, nurse()).await.expect("new");
        // The new session itself is never ended by its own login.
        assert!(
            !replace(&mut conn, t0, new_token.expose(), &new.id)
                .await
                .expect("replace")
        );
        assert!(
            !replace(&mut conn, t0, "forged", &new.id)
                .await
                .expect("replace")
        );
        assert!(
            replace(&mut conn, t0, old_token.expose(), &new.id)
                .await
                .expect("replace")
        );
        let row = SsoSessionRow::find(&mut conn, &old.id)
            .await
            .expect("row")
            .expect("exists");
        assert_eq!(row.end_reason, Some(SessionEndReason::Replaced));
        assert!(
            check_fast(&t.db, t0, old_token.expose())
                .await
                .expect("check")
                .is_none()
        );
        assert!(
            check_fast(&t.db, t0, new_token.expose())
                .await
                .expect("check")
                .is_some()
        );
    }

    #[tokio::test]
    async fn unknown_or_forged_tokens_find_nothing_and_logout_ends() {
        let t = TestDb::new(Backend::Sqlite).await;
        let mut conn = t.db.conn().await.expect("conn");
        let t0 = at("2026-11-22T08:00:00Z");
        let (token, s) = create(&mut conn, &SsoConfig::default(), t0, nurse())
            .await
            .expect("create");
        assert!(
            check(&mut conn, t0, "forged")
                .await
                .expect("check")
                .is_none()
        );
        assert!(check(&mut conn, t0, "").await.expect("check").is_none());
        assert!(
            end(&mut conn, t0, &s.id, SessionEndReason::Logout, "user")
                .await
                .expect("end")
        );
        assert!(
            !end(&mut conn, t0, &s.id, SessionEndReason::Logout, "user")
                .await
                .expect("end twice")
        );
        assert!(
            check(&mut conn, t0, token.expose())
                .await
                .expect("check")
                .is_none()
        );
    }
}
