//! Lifecycle events and their subscribers.
//!
//! When the directory applies an arrival, a move, a suspension or a
//! departure, it records a [`LifecycleEvent`] and calls every registered
//! [`LifecycleSubscriber`] *inside the same transaction*. The SSO module
//! ends sessions and the authenticator module suspends badges and keys this
//! way: a departure and its consequences commit together or not at all.

use async_trait::async_trait;
use clavis_core::Oid;
use clavis_store::DbConn;
use std::sync::Arc;

/// What happened to a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LifecycleKind {
    /// First known (pending or active).
    Arrived,
    /// Arrival date reached.
    Activated,
    /// Service, UF, FINESS or profession changed.
    Moved,
    /// Suspended by HR.
    Suspended,
    /// Suspension lifted.
    Reinstated,
    /// Left: accounts disabled in the same transaction.
    Departed,
    /// Came back after a departure (same oid).
    Rehired,
    /// Every directory account of a person still employed was disabled
    /// (AD's `userAccountControl`, or removed from the source): they may
    /// not sign in until one is enabled again.
    AccountsDisabled,
}

impl LifecycleKind {
    /// The stored form.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Arrived => "arrived",
            Self::Activated => "activated",
            Self::Moved => "moved",
            Self::Suspended => "suspended",
            Self::Reinstated => "reinstated",
            Self::Departed => "departed",
            Self::Rehired => "rehired",
            Self::AccountsDisabled => "accounts_disabled",
        }
    }
}

/// An applied lifecycle change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecycleEvent {
    /// Who.
    pub oid: Oid,
    /// What.
    pub kind: LifecycleKind,
    /// Why (`end_date_reached`, `leaver_flag`, `missing_from_source`…).
    pub reason: String,
    /// The sync run that applied it, if any.
    pub sync_run_id: Option<String>,
    /// When it was applied.
    pub at: chrono::DateTime<chrono::Utc>,
}

/// Errors a subscriber reports; they roll the whole change back.
#[derive(Debug, thiserror::Error)]
#[error("lifecycle subscriber {subscriber} failed: {detail}")]
pub struct SubscriberError {
    /// Which subscriber.
    pub subscriber: &'static str,
    /// What failed.
    pub detail: String,
}

/// Something that must act when a person's lifecycle changes (end sessions,
/// suspend authenticators…). Called inside the directory's transaction.
#[async_trait]
pub trait LifecycleSubscriber: Send + Sync + std::fmt::Debug {
    /// A short name for logs and errors.
    fn name(&self) -> &'static str;
    /// Acts on `event` using `conn`, which is inside the transaction.
    async fn on_event(
        &self,
        conn: &mut DbConn,
        event: &LifecycleEvent,
    ) -> Result<(), SubscriberError>;
}

/// The subscribers registered at start-up.
pub type Subscribers = Vec<Arc<dyn LifecycleSubscriber>>;
