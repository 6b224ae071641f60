//! Clavis's own roles held by identities (`clavis_core::roles`): who may
//! administer Clavis and what each office reaches in the console. Granting
//! and withdrawing one are rules of their own (the change and its
//! `role.granted` / `role.revoked` audit event committed together), called
//! by the CLI (`clavis admin grant-role`, `clavis admin bootstrap`) and the
//! console.

use crate::error::DirectoryError;
use chrono::{DateTime, Utc};
use clavis_audit::AuditEvent;
use clavis_core::{Actor, AuditAction, Oid};
use clavis_store::DbConn;
use clavis_store::models::IdentityRoleRow;
use serde_json::json;

/// Administers Clavis (the first one is made by `clavis admin bootstrap`).
pub const ADMIN: &str = "admin";

/// Uses the badge office's pages.
pub const BADGE_OFFICE: &str = "badge-office";

/// Grants `role` to identity `oid` at `now` on behalf of `actor`, audited
/// as `role.granted`, in one transaction (a savepoint inside the caller's).
/// Granting a role already held changes nothing but is audited again.
#[tracing::instrument(skip_all, fields(identity.oid = %oid, role = %role))]
pub async fn grant_role(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    oid: Oid,
    role: &str,
    actor: &Actor,
) -> Result<(), DirectoryError> {
    conn.transaction(async |tx: &mut DbConn| -> Result<(), DirectoryError> {
        IdentityRoleRow {
            oid,
            role: role.to_string(),
            granted_by: actor.clone(),
            granted_at: now.timestamp(),
        }
        .grant(tx)
        .await?;
        AuditEvent::new(
            actor,
            AuditAction::RoleGranted,
            Some(oid.to_string()),
            json!({"role": role}),
        )
        .record(tx, now)
        .await?;
        Ok(())
    })
    .await
}

/// Withdraws `role` from identity `oid` at `now` on behalf of `actor`,
/// audited as `role.revoked`, in one transaction; whether it was held.
/// The last administrator cannot be withdrawn (nobody could administer
/// Clavis afterwards but from the appliance's shell).
#[tracing::instrument(skip_all, fields(identity.oid = %oid, role = %role))]
pub async fn revoke_role(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    oid: Oid,
    role: &str,
    actor: &Actor,
) -> Result<bool, DirectoryError> {
    conn.transaction(async |tx: &mut DbConn| -> Result<bool, DirectoryError> {
        let held = IdentityRoleRow::revoke(tx, oid, role).await?;
        if !held {
            return Ok(false);
        }
        if role == ADMIN && !IdentityRoleRow::anyone_holds(tx, ADMIN).await? {
            return Err(DirectoryError::InvalidResolution(
                "the last administrator keeps the role: grant it to someone else first".into(),
            ));
        }
        AuditEvent::new(
            actor,
            AuditAction::RoleRevoked,
            Some(oid.to_string()),
            json!({"role": role}),
        )
        .record(tx, now)
        .await?;
        Ok(true)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use clavis_store::models::AuditEventRow;
    use clavis_testkit::db::{Backend, TestDb};

    #[tokio::test]
    async fn a_grant_is_stored_once_and_audited_each_time() {
        let t = TestDb::new(Backend::Sqlite).await;
        let mut conn = t.db.conn().await.expect("conn");
        let now = DateTime::from_timestamp(1_800_000_000, 0).expect("instant");
        let oid: Oid = "5f0c7a51-3c0e-4f7a-9a63-7f1d2f0e8b11".parse().expect("oid");
        for _ in 0..2 {
            grant_role(
                &mut conn,
                now,
                oid,
                BADGE_OFFICE,
                &Actor::Cli("root".into()),
            )
            .await
            .expect("granted");
        }
        let roles = IdentityRoleRow::for_identity(&mut conn, oid)
            .await
            .expect("roles");
        assert_eq!(roles, vec![BADGE_OFFICE.to_string()]);
        let events = AuditEventRow::for_target(&mut conn, &oid.to_string(), 10)
            .await
            .expect("audit");
        assert_eq!(events.len(), 2);
        assert!(events.iter().all(|e| e.action == "role.granted"
            && e.actor == "cli:root"
            && e.changes == r#"{"role":"badge-office"}"#));
    }
}
