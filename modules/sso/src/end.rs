//! Ending sessions: logout, revocation, a workstation's next user, and
//! what an ended session owes the applications it signed in to.

use crate::SsoError;
use chrono::{DateTime, Utc};
use clavis_audit::AuditEvent;
use clavis_core::{Actor, AuditAction, Oid, SessionEndReason, SessionId, WorkstationId};
use clavis_store::DbConn;
use clavis_store::models::{LogoutOutboxRow, OidcGrantRow, SsoSessionRow};
use serde_json::json;

/// Ends one session with `reason`;
/// returns whether it was live. Audited.
pub async fn end(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    id: &SessionId,
    reason: SessionEndReason,
    actor: &Actor,
) -> Result<bool, SsoError> {
    let done = SsoSessionRow::end(conn, id, reason, now.timestamp()).await?;
    if done {
        // Audited before its dues: see `after_end`.
        AuditEvent::new(
            actor,
            AuditAction::SessionEnded,
            Some(id.to_string()),
            json!({"reason": reason}),
        )
        .record(conn, now)
        .await?;
        after_end(conn, now, std::slice::from_ref(id), reason).await?;
        tracing::info!(session.id = %id, session.end_reason = %reason, "session ended");
    }
    Ok(done)
}

/// Ends every session of an identity; returns how many. Audited.
pub async fn end_all_for(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    oid: Oid,
    reason: SessionEndReason,
    actor: &Actor,
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
    workstation_id: &WorkstationId,
    reason: SessionEndReason,
    actor: &Actor,
) -> Result<usize, SsoError> {
    let ids = SsoSessionRow::end_all_at_workstation(conn, workstation_id, reason, now.timestamp())
        .await?;
    let details = json!({"reason": reason, "workstation_id": workstation_id});
    ended(conn, now, &ids, reason, actor, details).await
}

/// Ends every session opened with an authenticator (a FIDO2 key, a badge)
/// that was just revoked or removed; returns how many. Audited, and the
/// applications they signed in to are told (back-channel logout).
pub async fn end_all_by_authenticator(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    authenticator_id: &str,
    reason: SessionEndReason,
    actor: &Actor,
) -> Result<usize, SsoError> {
    let ids =
        SsoSessionRow::end_all_by_authenticator(conn, authenticator_id, reason, now.timestamp())
            .await?;
    let details = json!({"reason": reason, "authenticator_id": authenticator_id});
    ended(conn, now, &ids, reason, actor, details).await
}

/// What follows sessions just ended: their applications' dues and one
/// `session.ended` event each.
pub(crate) async fn ended(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    ids: &[SessionId],
    reason: SessionEndReason,
    actor: &Actor,
    details: serde_json::Value,
) -> Result<usize, SsoError> {
    let events: Vec<AuditEvent> = ids
        .iter()
        .map(|id| {
            AuditEvent::new(
                actor,
                AuditAction::SessionEnded,
                Some(id.to_string()),
                details.clone(),
            )
        })
        .collect();
    // Audited before its dues: see `after_end`.
    clavis_audit::append(conn, now, events).await?;
    after_end(conn, now, ids, reason).await?;
    Ok(ids.len())
}

/// What an ended session owes the applications it signed in to, in the
/// same transaction: the tokens issued from it stop working (their grants
/// are revoked), and each application gets a back-channel logout
/// notification queued (`logout_outbox`, delivered by the OIDC provider's
/// worker to those that registered a `backchannel_logout_uri`).
///
/// Called once the transaction has appended its audit events: on
/// PostgreSQL it then holds the audit head's lock, which a code's exchange
/// takes too (its `oidc.tokens.issued`) and checks the session after. An
/// exchange that took the lock first has committed its grant by now, and
/// is revoked and owed its logout here; one that takes it after this
/// transaction commits sees the session ended (`clavis_oidc`'s
/// `grants::code`). No row lock is shared between the two, so neither
/// order of taking locks can deadlock.
pub(crate) async fn after_end(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    ids: &[SessionId],
    reason: SessionEndReason,
) -> Result<(), SsoError> {
    if ids.is_empty() {
        return Ok(());
    }
    let t = now.timestamp();
    OidcGrantRow::revoke_for_sessions(conn, ids, &format!("session_{reason}"), t).await?;
    // The applications each session signed in to: those it has a grant
    // with (stored when a code is exchanged; see above for why none is
    // missed).
    let outbox: Vec<LogoutOutboxRow> = OidcGrantRow::clients_of_sessions(conn, ids)
        .await?
        .into_iter()
        .map(|(session_id, oid, client_id)| LogoutOutboxRow {
            id: clavis_core::ids::new_record_id(),
            session_id,
            oid,
            client_id,
            attempts: 0,
            next_attempt_at: t,
            last_error: None,
            delivered_at: None,
            given_up_at: None,
            created_at: t,
            claimed_by: None,
            claimed_until: None,
        })
        .collect();
    LogoutOutboxRow::insert_all(conn, &outbox).await?;
    Ok(())
}
