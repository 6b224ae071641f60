//! A person's keys as `/me` and the helpdesk see them, their removal (by
//! their holder, or by the helpdesk when a key is lost), and whether the
//! person has a login account at all.

use crate::error::AuthnError;
use chrono::{DateTime, Utc};
use clavis_audit::AuditEvent;
use clavis_core::{Actor, AuditAction, AuthenticatorStatus, Oid, SessionEndReason};
use clavis_store::DbConn;
use clavis_store::models::{Account, AuthenticatorRow};
use serde::Serialize;
use serde_json::json;

/// A key as shown on `/me` and to the helpdesk.
#[derive(Debug, Clone, Serialize)]
pub struct KeyView {
    pub id: String,
    pub label: String,
    /// The key model's AAGUID, when its attestation gave one.
    pub aaguid: Option<String>,
    pub status: AuthenticatorStatus,
    pub created_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// The keys of an identity.
pub async fn keys_of(conn: &mut DbConn, oid: Oid) -> Result<Vec<KeyView>, AuthnError> {
    Ok(AuthenticatorRow::for_identity(conn, oid)
        .await?
        .into_iter()
        .filter(|a| a.status != AuthenticatorStatus::Revoked)
        .map(|a| KeyView {
            id: a.id,
            label: a.label,
            aaguid: a.aaguid,
            status: a.status,
            created_at: DateTime::<Utc>::from_timestamp(a.created_at, 0),
            last_used_at: a
                .last_used_at
                .and_then(|t| DateTime::<Utc>::from_timestamp(t, 0)),
        })
        .collect())
}

/// Why a key of someone else is revoked (the holder's own removal is
/// `removed_by_user`): a short word such as `lost`, `stolen`, `broken`.
pub fn check_revocation_reason(reason: &str) -> Result<(), AuthnError> {
    if reason.trim().is_empty()
        || reason.chars().count() > 200
        || reason.chars().any(char::is_control)
    {
        return Err(AuthnError::InvalidReason);
    }
    Ok(())
}

/// Removes (revokes) a key of `oid` for `reason` (`removed_by_user` when
/// its holder does; checked by [`check_revocation_reason`] otherwise), and
/// ends the sessions it opened (their applications told by back-channel
/// logout), in one transaction. Audited `key.removed` with the reason.
pub async fn remove_key(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    oid: Oid,
    key_id: &str,
    reason: &str,
    actor: &Actor,
) -> Result<(), AuthnError> {
    check_revocation_reason(reason)?;
    conn.transaction(async |tx| {
        let mut key = AuthenticatorRow::for_identity(tx, oid)
            .await?
            .into_iter()
            .find(|a| a.id == key_id && a.status != AuthenticatorStatus::Revoked)
            .ok_or(AuthnError::KeyNotFound)?;
        key.status = AuthenticatorStatus::Revoked;
        key.status_reason = Some(reason.to_string());
        key.update(tx).await?;
        // A key that is gone opens nothing any more, and keeps nothing open.
        clavis_sso::end_all_by_authenticator(tx, now, key_id, SessionEndReason::Revoked, actor)
            .await?;
        AuditEvent::new(
            actor,
            AuditAction::KeyRemoved,
            Some(oid.to_string()),
            json!({"authenticator_id": key_id, "reason": reason}),
        )
        .record(tx, now)
        .await?;
        Ok(())
    })
    .await
}

/// Whether a login account of `oid` exists and is enabled (for display).
pub async fn has_enabled_account(conn: &mut DbConn, oid: Oid) -> Result<bool, AuthnError> {
    Ok(Account::for_identity(conn, oid)
        .await?
        .iter()
        .any(|a| a.enabled))
}
