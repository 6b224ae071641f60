//! What a departure or a suspension in the directory does to a person's
//! authenticators: their FIDO2 keys and their badges are suspended, in the
//! directory's transaction, and each suspension is audited.

use async_trait::async_trait;
use clavis_audit::AuditEvent;
use clavis_core::{Actor, AuditAction};
use clavis_directory::lifecycle::{
    LifecycleEvent, LifecycleKind, LifecycleSubscriber, SubscriberError,
};
use clavis_store::DbConn;
use clavis_store::models::{AuthenticatorRow, BadgeRow};
use serde_json::json;

/// Suspends the keys and badges of people who depart or are suspended, in the
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
        let oid = event.oid;
        let ids = AuthenticatorRow::suspend_all_for(conn, oid, reason)
            .await
            .map_err(|e| fail(e.to_string()))?;
        let badges = BadgeRow::suspend_all_for(conn, oid, reason)
            .await
            .map_err(|e| fail(e.to_string()))?;
        let events: Vec<AuditEvent> = ids
            .iter()
            .map(|id| {
                AuditEvent::new(
                    Actor::Lifecycle,
                    AuditAction::KeySuspended,
                    Some(oid.to_string()),
                    json!({"authenticator_id": id, "reason": reason}),
                )
            })
            .chain(badges.iter().map(|id| {
                AuditEvent::new(
                    Actor::Lifecycle,
                    AuditAction::BadgeSuspended,
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
