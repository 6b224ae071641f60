//! A new session at login, and the browser's previous one replaced.

use crate::check::check;
use crate::end::end;
use crate::{NewSession, Session, SsoConfig, SsoError, token_hash};
use chrono::{DateTime, Utc};
use clavis_audit::AuditEvent;
use clavis_core::{Actor, AuditAction, Secret, SessionEndReason, SessionId};
use clavis_store::DbConn;
use clavis_store::models::SsoSessionRow;
use serde_json::json;

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
        id: SessionId::from(clavis_core::ids::new_record_id()),
        token_hash: token_hash(&token),
        oid: new.oid,
        auth_time: t,
        expires_at: (t + cfg.session_lifetime_secs)
            .min(new.ends_by.map_or(i64::MAX, |e| e.timestamp())),
        idle_timeout_secs: cfg.idle_timeout_secs,
        last_seen_at: t,
        acr: new.acr.clone(),
        amr: new.amr.clone().into(),
        authenticator_id: new.authenticator_id.clone(),
        client_ip: new.client_ip.clone(),
        user_agent: new.user_agent.clone(),
        ended_at: None,
        end_reason: None,
        workstation_id: new.workstation_id.clone(),
        method: Some(new.method),
    };
    let mut e = AuditEvent::new(
        Actor::Identity(new.oid),
        AuditAction::SessionCreated,
        Some(row.id.to_string()),
        json!({"oid": new.oid, "method": new.method, "acr": new.acr, "amr": new.amr, "authenticator_id": new.authenticator_id, "workstation_id": new.workstation_id,
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
    event.record(conn, now).await?;
    tracing::info!(session.id = %row.id, identity.oid = %row.oid, "session created");
    Ok((token, Session::from_row(&row)))
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
    new_session_id: &SessionId,
) -> Result<bool, SsoError> {
    match check(conn, now, previous_token).await? {
        Some(previous) if previous.id != *new_session_id => {
            end(
                conn,
                now,
                &previous.id,
                SessionEndReason::Replaced,
                &Actor::Clavis,
            )
            .await
        }
        _ => Ok(false),
    }
}
