//! Departures, suspensions and the disabling of a person's last directory
//! account end the person's sessions.

use crate::end::end_all_for;
use async_trait::async_trait;
use clavis_core::{Actor, SessionEndReason};
use clavis_directory::lifecycle::{
    LifecycleEvent, LifecycleKind, LifecycleSubscriber, SubscriberError,
};
use clavis_store::DbConn;

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
            LifecycleKind::AccountsDisabled => SessionEndReason::AccountDisabled,
            _ => return Ok(()),
        };
        end_all_for(conn, event.at, event.oid, reason, &Actor::Lifecycle)
            .await
            .map(|_| ())
            .map_err(|e| SubscriberError {
                subscriber: "sso",
                detail: e.to_string(),
            })
    }
}
