//! What `clavis serve` does on a schedule, besides answering HTTP: each
//! schedule is one task spawned on the server's runtime, and each step a
//! small named function that logs its own failure and carries on (a
//! schedule never stops because one run failed).
//!
//! - [`checkpoint_wal`]: the SQLite WAL, every second.
//! - [`session_upkeep`]: back-channel logouts owed, every 2 s; sessions
//!   past their lifetime ended, every 30 s; signing keys reloaded (a
//!   rotation on another node), expired login ceremonies, badge
//!   transactions and used client assertions swept, idle addresses of the start limiter forgotten,
//!   every 60 s.
//! - [`scheduled_syncs`]: each directory source with an interval.
//! - [`lifecycle`]: date-driven transitions (arrivals, contract ends),
//!   every 10 minutes.
//! - [`compliance_snapshots`]: the day's figures of the compliance
//!   indicators (their 12-month trends), checked every hour.
//! - [`audit_verification`]: the audit chain walked from the last point
//!   found intact, every hour (the console shows the result).
//!
//! With several nodes on one database, what writes for the whole cluster
//! (ending expired sessions, sweeping, the lifecycle) runs on one node per
//! period: the first to take the period's lease ([`once_per_cluster`]).
//! Back-channel logouts run everywhere, each claimed by one node
//! (`clavis_oidc::backchannel`); key reloads and the limiter's memory are
//! each node's own.

use chrono::{DateTime, Utc};
use clavis_core::{Clock, SystemClock};
use clavis_directory::{DirectoryConfig, DirectoryError, SyncEngine};
use clavis_oidc::Provider;
use clavis_store::Db;
use std::sync::Arc;
use std::time::Duration;

/// This process, as the holder of the cluster-wide jobs' leases.
fn node() -> &'static str {
    static NODE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NODE.get_or_init(clavis_core::secret::random_token)
}

/// Whether this node runs the job `name` for the period of `period_secs`
/// starting `now`: it takes the job's lease (the sync leases' table, as
/// `job:<name>`; a source name cannot contain `:`) until just before the
/// next period, unless another node holds it. A node that dies holding it
/// delays the job by one period at most.
async fn once_per_cluster(
    db: &Db,
    name: &str,
    owner: &str,
    now: DateTime<Utc>,
    period_secs: i64,
) -> bool {
    // A node whose clock is off the database's (PostgreSQL, shared) leaves
    // the cluster's work to the others, as `/readyz` leaves it out of the
    // load balancer: its leases and sweeps would be read against the
    // wrong time.
    if let Ok(Some(server_ms)) = db.server_clock_ms().await {
        let skew = SystemClock.now().timestamp_millis() - server_ms;
        if !clavis_web::health::clock_agrees(skew) {
            tracing::error!(
                job = name,
                clock_skew_ms = skew,
                "job skipped: this machine's clock differs from the database's; check NTP"
            );
            return false;
        }
    }
    let t = now.timestamp();
    let taken = match db.conn().await {
        Ok(mut conn) => {
            clavis_store::models::SyncLease::acquire(
                &mut conn,
                &format!("job:{name}"),
                owner,
                t,
                t + period_secs - 1,
            )
            .await
        }
        Err(e) => Err(e),
    };
    taken.unwrap_or_else(|e| {
        tracing::warn!(job = name, error = %e, "job lease unavailable: skipped this period");
        false
    })
}

/// WAL frames past which a checkpoint makes the WAL start over (256k
/// frames, 1 GiB).
const WAL_RESTART_FRAMES: i64 = 262_144;

/// The WAL is checkpointed here, every second, never inside a write; past
/// [`WAL_RESTART_FRAMES`] it is made to start over (see `Db::checkpoint`).
pub fn checkpoint_wal(db: Db) {
    actix_web::rt::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            if let Err(e) = db.checkpoint(WAL_RESTART_FRAMES).await {
                tracing::warn!(error = %e, "WAL checkpoint failed");
            }
        }
    });
}

/// One 2-second tick for the sessions and the keys: back-channel logouts
/// owed at every tick; on every 15th, expired sessions ended first (so
/// their applications hear of it at once); on every 30th, signing keys
/// reloaded.
pub fn session_upkeep(
    db: Db,
    oidc: Arc<Provider>,
    clock: Arc<dyn Clock>,
    limits: Arc<clavis_web::limits::StartLimits>,
) {
    actix_web::rt::spawn(async move {
        let http = match clavis_oidc::backchannel::http_client(&oidc.cfg.backchannel) {
            Ok(h) => h,
            Err(e) => {
                tracing::error!(error = %e, "no HTTP client: back-channel logout disabled");
                return;
            }
        };
        let mut tick = tokio::time::interval(Duration::from_secs(2));
        let mut n = 0u64;
        loop {
            tick.tick().await;
            n += 1;
            let now = clock.now();
            if n.is_multiple_of(15)
                && once_per_cluster(&db, "session-expiry", node(), now, 30).await
            {
                end_expired_sessions(&db, now).await;
            }
            if n.is_multiple_of(30) {
                reload_signing_keys(&db, &oidc, now).await;
                if once_per_cluster(&db, "sweep", node(), now, 60).await {
                    sweep_unfinished_logins(&db, now).await;
                }
                limits.forget_idle();
            }
            deliver_logouts(&db, &oidc, &http, now).await;
        }
    });
}

/// Deletes login ceremonies, badge transactions, trips to Pro Santé
/// Connect and the client assertions remembered against replay, past their
/// end (an unfinished login keeps nothing for long).
async fn sweep_unfinished_logins(db: &Db, now: DateTime<Utc>) {
    let t = now.timestamp();
    let swept = match db.conn().await {
        Ok(mut conn) => {
            let c = clavis_store::models::CeremonyRow::delete_expired(&mut conn, t).await;
            let b = clavis_store::models::BadgeTxRow::delete_expired(&mut conn, t).await;
            // Trips to PSC are kept an hour past their end, so that a late
            // or replayed answer is audited as such.
            let p = clavis_store::models::PscRequestRow::delete_expired(&mut conn, t - 3600).await;
            let l = clavis_store::models::PscLoginRow::delete_expired(&mut conn, t).await;
            let a = clavis_store::models::UsedAssertions::delete_expired(&mut conn, t).await;
            c.and_then(|c| {
                b.and_then(|b| p.and_then(|p| l.and_then(|l| a.map(|a| c + b + p + l + a))))
            })
        }
        Err(e) => Err(e),
    };
    match swept {
        Ok(0) => {}
        Ok(n) => tracing::debug!(swept = n, "expired logins swept"),
        Err(e) => tracing::warn!(error = %e, "sweeping expired logins failed"),
    }
}

/// Ends the sessions past their lifetime (their logouts become owed).
async fn end_expired_sessions(db: &Db, now: DateTime<Utc>) {
    match db.conn().await {
        Ok(mut conn) => {
            if let Err(e) = clavis_sso::end_expired(&mut conn, now).await {
                tracing::error!(error = %e, "ending expired sessions failed");
            }
        }
        Err(e) => tracing::error!(error = %e, "database unavailable"),
    }
}

/// Picks up signing keys another node rotated.
async fn reload_signing_keys(db: &Db, oidc: &Provider, now: DateTime<Utc>) {
    if let Ok(mut conn) = db.conn().await
        && let Err(e) = oidc.reload_keys(&mut conn, now.timestamp()).await
    {
        tracing::error!(error = %e, "reloading signing keys failed");
    }
}

/// Sends the back-channel logouts that are due.
async fn deliver_logouts(db: &Db, oidc: &Provider, http: &reqwest::Client, now: DateTime<Utc>) {
    if let Err(e) = clavis_oidc::backchannel::deliver_due(oidc, db, http, now).await {
        tracing::error!(error = %e, "back-channel logout delivery failed");
    }
}

/// Periodic syncs: one task per source with an interval
/// (`interval_secs > 0`).
pub fn scheduled_syncs(engine: &SyncEngine, directory: &DirectoryConfig) {
    for source in directory.sources.iter().filter(|s| s.interval_secs > 0) {
        let engine = engine.clone();
        let name = source.name.clone();
        let every = Duration::from_secs(source.interval_secs);
        actix_web::rt::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                sync_source(&engine, &name).await;
            }
        });
    }
}

/// One scheduled run of a source; skipped while another run holds it.
async fn sync_source(engine: &SyncEngine, name: &str) {
    match engine.run_scheduled(name).await {
        Ok(_) => {}
        Err(DirectoryError::RunInProgress(_)) => {
            tracing::info!(sync.source = %name, "scheduled sync skipped: another run holds the source")
        }
        Err(e) => {
            tracing::error!(sync.source = %name, error = %e, "scheduled sync failed")
        }
    }
}

/// Runs `work` every `period_secs`, on one node of the cluster per period
/// ([`once_per_cluster`] under the lease `name`), logging its failure and
/// carrying on.
fn on_one_node<F, Fut>(db: Db, clock: Arc<dyn Clock>, name: &'static str, period_secs: u64, work: F)
where
    F: Fn(Db, Arc<dyn Clock>) -> Fut + 'static,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    actix_web::rt::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(period_secs));
        loop {
            tick.tick().await;
            if !once_per_cluster(&db, name, node(), clock.now(), period_secs as i64).await {
                continue;
            }
            if let Err(e) = work(db.clone(), clock.clone()).await {
                tracing::error!(job = name, error = %e, "scheduled job failed");
            }
        }
    });
}

/// Date-driven lifecycle (arrivals, contract ends) every 10 minutes, on
/// one node of the cluster.
pub fn lifecycle(engine: SyncEngine, db: Db, clock: Arc<dyn Clock>) {
    on_one_node(db, clock, "lifecycle", 600, move |_, _| {
        let engine = engine.clone();
        async move {
            engine
                .apply_due_transitions()
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
    });
}

/// The compliance indicators' figures, once a day (the first hourly check
/// of the day that finds none, on one node of the cluster; the dashboard
/// takes them too when it is opened first).
pub fn compliance_snapshots(db: Db, directory: Arc<DirectoryConfig>, clock: Arc<dyn Clock>) {
    on_one_node(db, clock, "compliance-snapshot", 3600, move |db, clock| {
        let directory = directory.clone();
        async move {
            let mut conn = db.conn().await.map_err(|e| e.to_string())?;
            let taken = clavis_directory::compliance::snapshot_if_due(
                &mut conn,
                &directory.compliance,
                clock.now(),
            )
            .await
            .map_err(|e| e.to_string())?;
            if taken {
                tracing::info!("compliance snapshot taken");
            }
            Ok(())
        }
    });
}

/// Every hour, on one node of the cluster, the audit chain is walked from
/// the furthest point an earlier walk found intact to the head, and the
/// walk recorded (`audit_verifications`); a broken chain is logged as an
/// error.
pub fn audit_verification(db: Db, clock: Arc<dyn Clock>) {
    on_one_node(
        db,
        clock,
        "audit-verification",
        3600,
        |db, clock| async move {
            let mut conn = db.conn().await.map_err(|e| e.to_string())?;
            clavis_audit::verify_recorded(
                &mut conn,
                clock.as_ref(),
                &clavis_core::Actor::Clavis,
                false,
            )
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use clavis_testkit::db::{Backend, TestDb};

    /// Two nodes on one database: the first takes the period, the other
    /// skips it; the next period goes to whoever comes first.
    #[tokio::test]
    async fn a_cluster_job_runs_on_one_node_per_period() {
        let test_db = TestDb::new(Backend::Sqlite).await;
        let db = &test_db.db;
        let t0: DateTime<Utc> = "2026-12-06T07:00:00Z".parse().expect("t");
        assert!(once_per_cluster(db, "lifecycle", "node-a", t0, 600).await);
        assert!(!once_per_cluster(db, "lifecycle", "node-b", t0, 600).await);
        let later = t0 + chrono::Duration::seconds(598);
        assert!(!once_per_cluster(db, "lifecycle", "node-b", later, 600).await);
        assert!(
            once_per_cluster(db, "session-expiry", "node-b", later, 30).await,
            "each job has its own lease"
        );
        let next = t0 + chrono::Duration::seconds(600);
        assert!(once_per_cluster(db, "lifecycle", "node-b", next, 600).await);
        assert!(!once_per_cluster(db, "lifecycle", "node-a", next, 600).await);
    }

    /// The minute's sweep deletes the badge transactions and the used client
    /// assertions past their end (opening one, or authenticating with one,
    /// no longer does) and keeps the others, to the second.
    #[tokio::test]
    async fn the_sweep_deletes_what_is_past_its_end_only() {
        use clavis_store::models::{BadgeTxRow, UsedAssertions};
        let test_db = TestDb::new(Backend::Sqlite).await;
        let db = &test_db.db;
        let now: DateTime<Utc> = "2026-12-07T07:00:00Z".parse().expect("t");
        let t = now.timestamp();
        let row = |id: &str, expires_at: i64| BadgeTxRow {
            id: id.into(),
            token_hash: format!("token-{id}"),
            browser_hash: format!("browser-{id}"),
            purpose: clavis_core::BadgeTxPurpose::Login,
            target_oid: None,
            temporary_until: None,
            workstation_id: None,
            seed: String::new(),
            transcript: String::new(),
            steps: 0,
            status: clavis_core::BadgeTxStatus::Open,
            failure: None,
            oid: None,
            badge_id: None,
            badge_key_version: None,
            created_by: clavis_core::Actor::Anonymous,
            created_at: expires_at - 120,
            expires_at,
            trace_parent: None,
        };
        let mut conn = db.conn().await.expect("conn");
        for (id, at) in [("ended", t - 60), ("ends-now", t), ("live", t + 1)] {
            row(id, at).insert(&mut conn).await.expect("insert");
        }
        // Client assertions remembered against replay, likewise.
        let dpi = clavis_core::ClientId::from("dpi");
        for (jti, at) in [("ended", t - 60), ("ends-now", t), ("live", t + 1)] {
            assert!(
                UsedAssertions::record(&mut conn, &dpi, jti, at, t - 120)
                    .await
                    .expect("record")
            );
        }
        sweep_unfinished_logins(db, now).await;
        for (id, kept) in [("ended", false), ("ends-now", false), ("live", true)] {
            let found = BadgeTxRow::find(&mut conn, id).await.expect("find");
            assert_eq!(found.is_some(), kept, "{id}");
            // Recorded again before its end (`t - 120`): refused as a replay
            // if it was kept, taken as new if it was swept.
            let again = UsedAssertions::record(&mut conn, &dpi, id, t + 60, t - 120).await;
            assert_eq!(!again.expect("record"), kept, "assertion {id}");
        }
    }
}
