//! Errors of the directory.

use crate::source::SourceError;
use clavis_core::Oid;
use clavis_store::StoreError;

/// What can go wrong in directory operations.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The source could not be read: the run failed as a whole.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// No source has this name.
    #[error("no source named {0:?} in the configuration")]
    UnknownSource(String),
    /// Another run of this source holds its lease.
    #[error("a sync of source {0:?} is already running (another process or node)")]
    RunInProgress(String),
    /// This run lost its lease (it took too long without renewing).
    #[error("the sync of source {0:?} lost its lease and stopped")]
    LeaseLost(String),
    /// No identity matches.
    #[error("no identity matches {0:?}")]
    IdentityNotFound(String),
    /// No case has this id.
    #[error("no reconciliation case {0:?}")]
    CaseNotFound(String),
    /// The case was already resolved.
    #[error("reconciliation case {0} is already resolved")]
    CaseAlreadyResolved(String),
    /// This decision does not fit this case (the message says which does).
    #[error("{0}")]
    InvalidResolution(String),
    /// A suspension is in force on this person already.
    #[error("identity {0} is already suspended by an operator")]
    AlreadySuspended(Oid),
    /// No suspension placed by an operator is in force on this person.
    #[error("identity {0} has no suspension placed by an operator to lift")]
    NotSuspended(Oid),
    /// The person departed: there is nothing to suspend.
    #[error("identity {0} has departed: a departed person is not suspended")]
    AlreadyDeparted(Oid),
    /// A subscriber refused the change.
    #[error(transparent)]
    Subscriber(#[from] crate::lifecycle::SubscriberError),
    /// A stored value could not be read.
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
}

impl From<clavis_audit::AuditError> for DirectoryError {
    fn from(e: clavis_audit::AuditError) -> Self {
        match e {
            clavis_audit::AuditError::Store(s) => DirectoryError::Store(s),
        }
    }
}
