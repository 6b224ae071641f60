//! Registered workstations: the agents that relay badge exchanges. Each has
//! an id and a 256-bit credential shown once (only its SHA-256 is stored).
//! Every change is audited.

use crate::badge::records::BadgeError;
use chrono::{DateTime, Utc};
use clavis_audit::AuditEvent;
use clavis_core::{
    Actor, AuditAction, SessionEndReason, WorkstationId,
    secret::{Secret, sha256_hex},
};
use clavis_store::DbConn;
use clavis_store::models::WorkstationRow;
use rand::RngCore;
use serde_json::json;

/// Why a workstation change was refused.
#[derive(Debug, thiserror::Error)]
pub enum WorkstationError {
    /// Empty or too long a name.
    #[error("name: 1 to 100 characters")]
    BadName,
    /// The name is taken.
    #[error("a workstation is already named {0:?}")]
    NameTaken(String),
    /// No such workstation.
    #[error("unknown workstation {0:?}")]
    Unknown(String),
    /// Storage.
    #[error(transparent)]
    Badge(#[from] BadgeError),
}

impl From<clavis_sso::SsoError> for WorkstationError {
    fn from(e: clavis_sso::SsoError) -> Self {
        WorkstationError::Badge(e.into())
    }
}

impl From<clavis_store::StoreError> for WorkstationError {
    fn from(e: clavis_store::StoreError) -> Self {
        WorkstationError::Badge(e.into())
    }
}

impl From<clavis_audit::AuditError> for WorkstationError {
    fn from(e: clavis_audit::AuditError) -> Self {
        WorkstationError::Badge(e.into())
    }
}

fn new_credential() -> (Secret<String>, String) {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    let secret = hex::encode(b);
    let hash = sha256_hex(&secret);
    (Secret::new(secret), hash)
}

/// Registers a workstation; returns it and its credential (shown once).
/// Audited `workstation.registered`.
pub async fn register(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    name: &str,
    location: Option<String>,
    actor: &Actor,
) -> Result<(WorkstationRow, Secret<String>), WorkstationError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(WorkstationError::BadName);
    }
    if WorkstationRow::find_by_key(conn, name).await?.is_some() {
        return Err(WorkstationError::NameTaken(name.to_string()));
    }
    let (secret, hash) = new_credential();
    let row = WorkstationRow {
        id: WorkstationId::from(format!("ws-{}", clavis_core::ids::new_record_id())),
        name: name.to_string(),
        location,
        secret_hash: hash,
        created_at: now.timestamp(),
        created_by: actor.clone(),
        last_seen_at: None,
        revoked_at: None,
    };
    conn.transaction(async |conn| -> Result<(), WorkstationError> {
        row.insert(conn).await?;
        AuditEvent::new(
            actor,
            AuditAction::WorkstationRegistered,
            Some(row.id.to_string()),
            json!({"name": row.name, "location": row.location}),
        )
        .record(conn, now)
        .await?;
        Ok(())
    })
    .await?;
    Ok((row, secret))
}

async fn find(conn: &mut DbConn, key: &str) -> Result<WorkstationRow, WorkstationError> {
    WorkstationRow::find_by_key(conn, key)
        .await?
        .ok_or_else(|| WorkstationError::Unknown(key.to_string()))
}

/// Revokes a workstation (id or name): its agent is refused at once.
/// Returns false when it already was. Audited `workstation.revoked`.
pub async fn revoke(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    key: &str,
    actor: &Actor,
) -> Result<bool, WorkstationError> {
    let ws = find(conn, key).await?;
    conn.transaction(async |conn| -> Result<bool, WorkstationError> {
        let done = WorkstationRow::revoke(conn, &ws.id, now.timestamp()).await?;
        if done {
            // Sessions opened at a workstation that is no longer trusted end.
            clavis_sso::end_all_at_workstation(conn, now, &ws.id, SessionEndReason::Revoked, actor)
                .await?;
            AuditEvent::new(
                actor,
                AuditAction::WorkstationRevoked,
                Some(ws.id.to_string()),
                json!({"name": ws.name}),
            )
            .record(conn, now)
            .await?;
        }
        Ok(done)
    })
    .await
}

/// Issues a new credential (the old one stops working; a revoked
/// workstation is live again). Audited `workstation.credential_rotated`.
pub async fn rotate_credential(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    key: &str,
    actor: &Actor,
) -> Result<(WorkstationRow, Secret<String>), WorkstationError> {
    let ws = find(conn, key).await?;
    let (secret, hash) = new_credential();
    conn.transaction(async |conn| -> Result<(), WorkstationError> {
        WorkstationRow::set_secret(conn, &ws.id, &hash).await?;
        AuditEvent::new(
            actor,
            AuditAction::WorkstationCredentialRotated,
            Some(ws.id.to_string()),
            json!({}),
        )
        .record(conn, now)
        .await?;
        Ok(())
    })
    .await?;
    Ok((ws, secret))
}

/// A workstation as operators see it (CLI `--json`, admin API).
pub fn view(r: &WorkstationRow) -> serde_json::Value {
    json!({
        "id": r.id, "name": r.name, "location": r.location,
        "created_at": r.created_at, "last_seen_at": r.last_seen_at,
        "revoked": r.revoked_at.is_some(),
    })
}
