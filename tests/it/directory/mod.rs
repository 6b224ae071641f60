//! The identity directory against a real slapd, on both backends, one
//! file per concern: sync runs, paging, failed runs, departures, the
//! other lifecycle events, reconciliation, validation.

mod departures;
mod failures;
mod lifecycle;
mod lists;
mod paging;
mod reconciliation;
mod sync;
mod validation;

use clavis_directory::service;
use clavis_directory::{NoProgress, SyncOptions, SyncReport};

async fn full(engine: &clavis_directory::SyncEngine, source: &str) -> SyncReport {
    engine
        .run(
            source,
            SyncOptions {
                full: true,
                dry_run: false,
            },
            &NoProgress,
        )
        .await
        .expect("sync succeeds")
}

async fn incr(engine: &clavis_directory::SyncEngine, source: &str) -> SyncReport {
    engine
        .run(
            source,
            SyncOptions {
                full: false,
                dry_run: false,
            },
            &NoProgress,
        )
        .await
        .expect("sync succeeds")
}

async fn show(db: &clavis_store::Db, key: &str) -> service::IdentityDetail {
    service::show_identity(db, key)
        .await
        .expect("identity exists")
}

async fn count(db: &clavis_store::Db) -> usize {
    service::list_identities(db, None, None, 10_000, 0)
        .await
        .expect("list")
        .items
        .len()
}
