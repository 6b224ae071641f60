//! What a departure or a suspension in the directory does to a person's
//! authenticators: their FIDO2 keys and their badges are suspended, in the
//! directory's transaction, and each suspension is audited. When a
//! suspension is lifted, the keys and badges it suspended work again.

use async_trait::async_trait;
use clavis_audit::AuditEvent;
use clavis_core::{Actor, AuditAction};
use clavis_directory::lifecycle::{
    LifecycleEvent, LifecycleKind, LifecycleSubscriber, SubscriberError,
};
use clavis_store::DbConn;
use clavis_store::models::{AuthenticatorRow, BadgeRow};
use serde_json::json;

/// The reason keys and badges suspended with their holder carry: only
/// these come back when the suspension is lifted (a departure re-tags
/// them `departed`; keys suspended before this tag existed stay
/// suspended).
const SUSPENDED: &str = "holder_suspended";

/// Suspends the keys and badges of people who depart or are suspended, and
/// gives back those a lifted suspension took, in the directory's
/// transaction.
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
        let fail = |e: String| SubscriberError {
            subscriber: "authn",
            detail: e,
        };
        let oid = event.oid;
        // A lifted suspension gives back what it suspended (not what was
        // revoked meanwhile, nor what a departure suspended).
        let (reason, restore) = match event.kind {
            LifecycleKind::Departed => ("departed", false),
            LifecycleKind::Suspended => (SUSPENDED, false),
            LifecycleKind::Reinstated => (SUSPENDED, true),
            _ => return Ok(()),
        };
        if event.kind == LifecycleKind::Departed {
            // What a suspension took is no longer to be given back.
            AuthenticatorRow::retag_suspended_for(conn, oid, SUSPENDED, reason)
                .await
                .map_err(|e| fail(e.to_string()))?;
            BadgeRow::retag_suspended_for(conn, oid, SUSPENDED, reason)
                .await
                .map_err(|e| fail(e.to_string()))?;
        }
        let (ids, badges) = if restore {
            (
                AuthenticatorRow::restore_suspended_for(conn, oid, reason).await,
                BadgeRow::restore_suspended_for(conn, oid, reason).await,
            )
        } else {
            (
                AuthenticatorRow::suspend_all_for(conn, oid, reason).await,
                BadgeRow::suspend_all_for(conn, oid, reason).await,
            )
        };
        let ids = ids.map_err(|e| fail(e.to_string()))?;
        let badges = badges.map_err(|e| fail(e.to_string()))?;
        let (key_action, badge_action) = if restore {
            (AuditAction::KeyRestored, AuditAction::BadgeRestored)
        } else {
            (AuditAction::KeySuspended, AuditAction::BadgeSuspended)
        };
        let events: Vec<AuditEvent> = ids
            .iter()
            .map(|id| {
                AuditEvent::new(
                    Actor::Lifecycle,
                    key_action,
                    Some(oid.to_string()),
                    json!({"authenticator_id": id, "reason": reason}),
                )
            })
            .chain(badges.iter().map(|id| {
                AuditEvent::new(
                    Actor::Lifecycle,
                    badge_action,
                    Some(oid.to_string()),
                    json!({"badge_id": id, "reason": reason}),
                )
            }))
            .collect();
        clavis_audit::append(conn, event.at, events)
            .await
            .map_err(|e| fail(e.to_string()))
    }
}
