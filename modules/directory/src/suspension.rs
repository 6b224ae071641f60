//! Suspensions an operator places on a person and lifts: the identity
//! office or an administrator stops someone signing in at once (an
//! investigation, a long absence HR has not recorded yet, a stolen
//! identity) and gives them back their access, each with a reason.
//!
//! A suspension in force makes the person `suspended` whatever HR says
//! (a departure still wins); the status change runs the lifecycle like any
//! other, in the same transaction: accounts disabled, sessions ended,
//! keys, badges and the link to Pro Santé Connect suspended. Lifting it
//! recomputes the person from their records: active again, unless HR
//! suspends them too.

use crate::apply::{self, Ctx};
use crate::config::DirectoryConfig;
use crate::error::DirectoryError;
use crate::lifecycle::Subscribers;
use crate::service::{check_comment, find_identity};
use chrono::{DateTime, Utc};
use clavis_core::{Actor, AuditAction, LifecycleStatus, Oid};
use clavis_store::models::{IdentityRow, IdentitySuspensionRow, SourceRecordRow};
use clavis_store::{Db, DbConn};
use serde_json::json;

/// What a suspension or its lifting left the person as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SuspensionOutcome {
    /// Who.
    pub oid: Oid,
    /// Their status now (after a lifting: `suspended` still while HR's
    /// flag says so).
    pub status: LifecycleStatus,
}

/// An operator's decision on a person's suspension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Place a suspension ([`suspend`]).
    Suspend,
    /// Lift the one in force ([`reinstate`]).
    Reinstate,
}

impl Decision {
    /// The action as the refusals' audit names it.
    pub fn action(self) -> &'static str {
        match self {
            Decision::Suspend => "identity.suspend",
            Decision::Reinstate => "identity.reinstate",
        }
    }
}

/// Applies `decision` to the person `key` names, with `reason`: what the
/// console, the admin API and the CLI call.
#[allow(clippy::too_many_arguments)]
pub async fn decide(
    db: &Db,
    cfg: &DirectoryConfig,
    subscribers: &Subscribers,
    now: DateTime<Utc>,
    key: &str,
    decision: Decision,
    reason: &str,
    actor: &Actor,
) -> Result<SuspensionOutcome, DirectoryError> {
    match decision {
        Decision::Suspend => suspend(db, cfg, subscribers, now, key, reason, actor).await,
        Decision::Reinstate => reinstate(db, cfg, subscribers, now, key, reason, actor).await,
    }
}

/// Suspends the person `key` names (oid, RPPS or login) with `reason`, on
/// behalf of `actor`, in one transaction with everything it entails.
/// Refused when a suspension is in force already or the person departed.
pub async fn suspend(
    db: &Db,
    cfg: &DirectoryConfig,
    subscribers: &Subscribers,
    now: DateTime<Utc>,
    key: &str,
    reason: &str,
    actor: &Actor,
) -> Result<SuspensionOutcome, DirectoryError> {
    let reason = check_comment(reason)?.to_string();
    let mut conn = db.conn().await?;
    conn.transaction(async |conn: &mut DbConn| {
        let row = identity(conn, key).await?;
        if row.status == LifecycleStatus::Departed {
            return Err(DirectoryError::AlreadyDeparted(row.oid));
        }
        if !IdentitySuspensionRow::place(conn, row.oid, &reason, actor, now.timestamp()).await? {
            return Err(DirectoryError::AlreadySuspended(row.oid));
        }
        let status = recompute(conn, cfg, subscribers, now, actor, row.oid, |status| {
            (
                AuditAction::IdentitySuspended,
                json!({"reason": reason, "status": status}),
            )
        })
        .await?;
        if status == LifecycleStatus::Departed {
            // Their records make them gone (the lifecycle had not caught up):
            // rolled back, nothing to suspend.
            return Err(DirectoryError::AlreadyDeparted(row.oid));
        }
        Ok(SuspensionOutcome {
            oid: row.oid,
            status,
        })
    })
    .await
}

/// Lifts the suspension in force on the person `key` names, with `reason`.
pub async fn reinstate(
    db: &Db,
    cfg: &DirectoryConfig,
    subscribers: &Subscribers,
    now: DateTime<Utc>,
    key: &str,
    reason: &str,
    actor: &Actor,
) -> Result<SuspensionOutcome, DirectoryError> {
    let reason = check_comment(reason)?.to_string();
    let mut conn = db.conn().await?;
    conn.transaction(async |conn: &mut DbConn| {
        let row = identity(conn, key).await?;
        let Some(lifted) =
            IdentitySuspensionRow::lift(conn, row.oid, &reason, actor, now.timestamp()).await?
        else {
            return Err(DirectoryError::NotSuspended(row.oid));
        };
        let status = recompute(conn, cfg, subscribers, now, actor, row.oid, |status| {
            (
                AuditAction::IdentityReinstated,
                json!({"reason": reason, "placed_by": lifted.placed_by, "placed_at": lifted.placed_at, "status": status}),
            )
        })
        .await?;
        Ok(SuspensionOutcome {
            oid: row.oid,
            status,
        })
    })
    .await
}

/// The identity `key` names. Every identity comes from source records
/// (the suspension recomputes it from them); one without any is refused
/// rather than recomputed from nothing.
async fn identity(conn: &mut DbConn, key: &str) -> Result<IdentityRow, DirectoryError> {
    let row = find_identity(conn, key)
        .await?
        .ok_or_else(|| DirectoryError::IdentityNotFound(key.to_string()))?;
    if SourceRecordRow::for_identities(conn, &[row.oid])
        .await?
        .is_empty()
    {
        return Err(DirectoryError::Corrupt(format!(
            "identity {} has no source record to recompute it from",
            row.oid
        )));
    }
    Ok(row)
}

/// Recomputes the person as the operator's decision leaves them (the
/// lifecycle and its subscribers run here), audits the decision with what
/// `event` makes of the resulting status, and returns that status.
async fn recompute(
    conn: &mut DbConn,
    cfg: &DirectoryConfig,
    subscribers: &Subscribers,
    now: DateTime<Utc>,
    actor: &Actor,
    oid: Oid,
    event: impl FnOnce(LifecycleStatus) -> (AuditAction, serde_json::Value),
) -> Result<LifecycleStatus, DirectoryError> {
    let mut ctx = Ctx {
        cfg,
        now,
        actor: actor.clone(),
        sync_run_id: None,
        source: None,
        subscribers,
        audit: Vec::new(),
    };
    apply::refresh_identity(conn, &mut ctx, oid).await?;
    let status = IdentityRow::find(conn, oid)
        .await?
        .map(|r| r.status)
        .ok_or_else(|| DirectoryError::IdentityNotFound(oid.to_string()))?;
    let (action, changes) = event(status);
    ctx.audit(action, Some(oid.to_string()), changes);
    clavis_audit::append(conn, now, ctx.audit).await?;
    Ok(status)
}
