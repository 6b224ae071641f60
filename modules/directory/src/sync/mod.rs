//! A sync run: read a source, reconcile, apply, report.
//!
//! Pages are applied in bounded batches, each in its own transaction with
//! its audit events, so a crash mid-run loses nothing already committed and
//! a re-run converges (unchanged entries are recognised by their hash). A
//! source failing mid-run fails the run: what was applied stays applied,
//! but the cursor does not move and disappearances are not counted (only a
//! complete full run can say someone is no longer listed).
//!
//! This file is the run (lease, cursor, report, disappearances, date-driven
//! transitions); [`page`] applies one page of records.

mod page;
mod read;

use crate::apply::{self, Ctx};
use crate::config::{CursorAttribute, DirectoryConfig, SourceConfig};
use crate::error::DirectoryError;
use crate::lifecycle::Subscribers;
use crate::mapping::Rejection;
use crate::source::{self, DirectorySource, FetchRequest, max_marker};
use chrono::{DateTime, Utc};
use clavis_core::{Actor, AuditAction, Clock, Oid, SyncMode, SyncRunStatus};
use clavis_store::models::{IdentityRow, SourceRecordRow, SyncCursor, SyncLease, SyncRunRow};
use clavis_store::{Db, DbConn};
use serde::Serialize;
use serde_json::json;
use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

/// What the operator asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncOptions {
    /// Read everything (detects disappearances) instead of changes only.
    pub full: bool,
    /// Compute and report, write nothing.
    pub dry_run: bool,
}

/// The summary of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SyncReport {
    pub run_id: String,
    pub source: String,
    /// `full` or `incremental`.
    pub mode: SyncMode,
    pub dry_run: bool,
    /// `succeeded` or `failed`.
    pub status: SyncRunStatus,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Entries read from the source.
    pub seen: u64,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub departed: u64,
    pub cases_opened: u64,
    pub rejected: u64,
    /// Entries matching nobody, from a source that does not create identities.
    pub unmatched: u64,
    pub rejections: Vec<Rejection>,
    /// What an operator should know (e.g. disappearances not counted).
    pub warnings: Vec<String>,
    /// Why the run failed.
    pub error: Option<String>,
}

/// The tables a sync reads by key sets and makes grow.
const SYNC_TABLES: &[&str] = &[
    "identities",
    "identity_match_keys",
    "source_records",
    "accounts",
    "assignments",
    "reconciliation_cases",
];

/// How long a run's lease lasts without renewal (renewed at every batch).
const LEASE_SECS: i64 = 600;

/// Told about progress (the CLI draws a bar with it).
pub trait Progress: Send + Sync {
    /// After each applied page, with the entries seen so far.
    fn on_page(&self, _seen: u64) {}
}

/// Progress nobody watches.
#[derive(Debug)]
pub struct NoProgress;
impl Progress for NoProgress {}

/// Runs syncs and lifecycle ticks.
#[derive(Debug, Clone)]
pub struct SyncEngine {
    db: Db,
    cfg: Arc<DirectoryConfig>,
    clock: Arc<dyn Clock>,
    subscribers: Subscribers,
}

impl SyncEngine {
    /// An engine over `db` with this configuration.
    pub fn new(
        db: Db,
        cfg: Arc<DirectoryConfig>,
        clock: Arc<dyn Clock>,
        subscribers: Subscribers,
    ) -> Self {
        Self {
            db,
            cfg,
            clock,
            subscribers,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &DirectoryConfig {
        &self.cfg
    }

    /// Runs one source with its real implementation.
    pub async fn run(
        &self,
        source_name: &str,
        opts: SyncOptions,
        progress: &dyn Progress,
    ) -> Result<SyncReport, DirectoryError> {
        let cfg = self
            .cfg
            .source(source_name)
            .ok_or_else(|| DirectoryError::UnknownSource(source_name.to_string()))?
            .clone();
        let src = source::for_config(&cfg);
        self.run_with(&cfg, src.as_ref(), opts, progress).await
    }

    fn ctx(&self, source: &SourceConfig, run_id: &str) -> Ctx<'_> {
        Ctx {
            cfg: &self.cfg,
            now: self.clock.now(),
            actor: Actor::Sync(source.name.clone()),
            sync_run_id: Some(run_id.to_string()),
            source: Some(source.name.clone()),
            subscribers: &self.subscribers,
            audit: Vec::new(),
        }
    }

    /// Runs one source read through `src`. Returns the report; `Err` only
    /// when the run failed as a whole (the report is then also saved with
    /// status `failed`).
    #[tracing::instrument(name = "directory.sync", skip_all, fields(sync.source = %source.name, sync.full = opts.full, sync.dry_run = opts.dry_run))]
    pub async fn run_with(
        &self,
        source: &SourceConfig,
        src: &dyn DirectorySource,
        opts: SyncOptions,
        progress: &dyn Progress,
    ) -> Result<SyncReport, DirectoryError> {
        let mut conn = self.db.conn().await?;
        let cursor = SyncCursor::find(&mut conn, &source.name).await?;
        let incremental_possible = source.cursor() != CursorAttribute::None;
        let full = opts.full
            || !incremental_possible
            || cursor
                .as_ref()
                .and_then(|c| c.cursor_value.clone())
                .is_none();
        let mut report = SyncReport {
            run_id: clavis_core::ids::new_record_id(),
            source: source.name.clone(),
            mode: if full {
                SyncMode::Full
            } else {
                SyncMode::Incremental
            },
            dry_run: opts.dry_run,
            status: SyncRunStatus::Running,
            started_at: self.clock.now(),
            ..SyncReport::default()
        };
        if !opts.dry_run {
            let now = self.clock.now().timestamp();
            if !SyncLease::acquire(
                &mut conn,
                &source.name,
                &report.run_id,
                now,
                now + LEASE_SECS,
            )
            .await?
            {
                return Err(DirectoryError::RunInProgress(source.name.clone()));
            }
            if let Err(e) = self.save_run(&mut conn, &report).await {
                let _ = SyncLease::release(&mut conn, &source.name, &report.run_id).await;
                return Err(e);
            }
        }
        tracing::info!(sync.run_id = %report.run_id, sync.mode = %report.mode, "sync run started");
        let mut sampled = BTreeSet::new();
        let result = self
            .run_inner(
                &mut conn,
                source,
                src,
                full,
                cursor,
                opts,
                progress,
                &mut report,
                &mut sampled,
            )
            .await;
        if !sampled.is_empty() {
            // Full statistics of what grew, for what runs after the sync,
            // whether the run succeeded or not. Best effort: the pages are
            // committed whatever the planner's statistics say.
            let sampled: Vec<&'static str> = sampled.into_iter().collect();
            if let Err(e) = conn.refresh_statistics(&sampled).await {
                tracing::warn!(error = %e, "statistics not refreshed after the sync");
            }
        }
        report.finished_at = Some(self.clock.now());
        if !opts.dry_run {
            let _ = SyncLease::release(&mut conn, &source.name, &report.run_id).await;
        }
        match result {
            Ok(()) => {
                report.status = SyncRunStatus::Succeeded;
                if !opts.dry_run {
                    self.save_run(&mut conn, &report).await?;
                    let mut ctx = self.ctx(source, &report.run_id);
                    ctx.audit(
                        AuditAction::SyncFinished,
                        Some(source.name.clone()),
                        json!({"mode": report.mode, "seen": report.seen, "created": report.created, "updated": report.updated,
                               "departed": report.departed, "cases_opened": report.cases_opened, "rejected": report.rejected}),
                    );
                    clavis_audit::append_now(&mut conn, ctx.now, ctx.audit).await?;
                }
                tracing::info!(sync.run_id = %report.run_id, sync.seen = report.seen, sync.created = report.created,
                    sync.updated = report.updated, sync.rejected = report.rejected, "sync run succeeded");
                Ok(report)
            }
            Err(e) => {
                report.status = SyncRunStatus::Failed;
                report.error = Some(e.to_string());
                tracing::error!(sync.run_id = %report.run_id, error = %e, "sync run failed");
                if !opts.dry_run {
                    // Best effort: the run's own failure is the error to report.
                    if self.save_run(&mut conn, &report).await.is_ok() {
                        let mut ctx = self.ctx(source, &report.run_id);
                        ctx.audit(
                            AuditAction::SyncFailed,
                            Some(source.name.clone()),
                            json!({"error": e.to_string()}),
                        );
                        let _ = clavis_audit::append_now(&mut conn, ctx.now, ctx.audit).await;
                    }
                }
                Err(e)
            }
        }
    }

    async fn save_run(&self, conn: &mut DbConn, r: &SyncReport) -> Result<(), DirectoryError> {
        let row = SyncRunRow {
            id: r.run_id.clone(),
            source: r.source.clone(),
            mode: r.mode,
            status: r.status,
            started_at: r.started_at.timestamp(),
            finished_at: r.finished_at.map(|t| t.timestamp()),
            seen: r.seen as i32,
            created: r.created as i32,
            updated: r.updated as i32,
            unchanged: r.unchanged as i32,
            departed: r.departed as i32,
            cases_opened: r.cases_opened as i32,
            rejected: r.rejected as i32,
            unmatched: r.unmatched as i32,
            rejections: serde_json::to_string(&r.rejections).unwrap_or_else(|_| "[]".into()),
            error: r.error.clone(),
        };
        row.save(conn).await?;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn run_inner(
        &self,
        conn: &mut DbConn,
        source: &SourceConfig,
        src: &dyn DirectorySource,
        full: bool,
        cursor: Option<SyncCursor>,
        opts: SyncOptions,
        progress: &dyn Progress,
        report: &mut SyncReport,
        sampled: &mut BTreeSet<&'static str>,
    ) -> Result<(), DirectoryError> {
        let request = FetchRequest {
            changed_since: if full {
                None
            } else {
                cursor.as_ref().and_then(|c| c.cursor_value.clone())
            },
            page_size: self.cfg.batch_size,
        };
        let mut stream = read::MappedPages::start(source, src.open(request).await?);
        let mut marker = cursor.as_ref().and_then(|c| c.cursor_value.clone());
        let mut pages: u64 = 0;
        while let Some(page) = stream.next().await {
            let page = page?;
            pages += 1;
            if (pages.is_power_of_two() || pages.is_multiple_of(16)) && !opts.dry_run {
                // A first run fills the tables from empty: the planner's
                // statistics of a table are gathered again, from a light
                // sample, each time a tenth of it changed.
                // Best effort, like the full analysis after the run.
                match conn.refresh_grown_statistics(SYNC_TABLES).await {
                    Ok(tables) => sampled.extend(tables),
                    Err(e) => tracing::warn!(error = %e, "statistics not refreshed"),
                }
            }
            marker = match page.new_cursor {
                Some(c) => Some(c),
                None => max_marker(marker, page.max_marker.as_deref()),
            };
            report.seen += page.seen as u64;
            report.rejections.extend(page.rejections);
            report.rejected = report.rejections.len() as u64;
            self.apply_page(
                conn,
                source,
                &report.run_id.clone(),
                page.records,
                opts.dry_run,
                report,
            )
            .await?;
            progress.on_page(report.seen);
        }
        let seen_ids = stream.into_read_ids();
        // Disappearances: only a complete full read can tell, at most once
        // per full_sync_interval_secs unless the operator asked for a full
        // run, and never on a run whose rejected entries cannot be named.
        let now = self.clock.now().timestamp();
        let interval_elapsed = cursor
            .as_ref()
            .and_then(|c| c.last_full_at)
            .is_none_or(|t| now - t >= source.full_sync_interval_secs as i64);
        let mut counted = false;
        if full && (opts.full || interval_elapsed) {
            if report.rejections.iter().any(|r| r.external_id.is_none()) {
                report.warnings.push(
                    "disappearances not counted: some rejected entries have no readable external id".into(),
                );
            } else {
                let mut listed: HashSet<String> = seen_ids.into_keys().collect();
                listed.extend(
                    report
                        .rejections
                        .iter()
                        .filter_map(|r| r.external_id.clone()),
                );
                counted = self
                    .apply_disappearances(
                        conn,
                        source,
                        &report.run_id.clone(),
                        &listed,
                        opts.dry_run,
                        report,
                    )
                    .await?;
            }
        }
        if !opts.dry_run {
            SyncCursor {
                source: source.name.clone(),
                cursor_value: marker,
                last_full_at: if counted {
                    Some(now)
                } else {
                    cursor.as_ref().and_then(|c| c.last_full_at)
                },
                full_runs: cursor.as_ref().map(|c| c.full_runs).unwrap_or(0) + i32::from(counted),
                updated_at: now,
            }
            .save(conn)
            .await?;
            let due = self
                .apply_due_transitions_on(conn, Some((source, &report.run_id)))
                .await?;
            report.departed += due.departed;
        }
        Ok(())
    }

    /// Renews the run's lease inside the current transaction (dry runs hold
    /// no lease).
    async fn renew(
        &self,
        conn: &mut DbConn,
        source: &SourceConfig,
        run_id: &str,
        dry_run: bool,
    ) -> Result<(), DirectoryError> {
        if dry_run {
            return Ok(());
        }
        let until = self.clock.now().timestamp() + LEASE_SECS;
        if SyncLease::renew(conn, &source.name, run_id, until).await? {
            Ok(())
        } else {
            Err(DirectoryError::LeaseLost(source.name.clone()))
        }
    }

    /// Counts a missed run for every record of `source` not in `listed`, and
    /// applies the departures that follows. Returns whether it counted (the
    /// safety catch may refuse).
    async fn apply_disappearances(
        &self,
        conn: &mut DbConn,
        source: &SourceConfig,
        run_id: &str,
        listed: &HashSet<String>,
        dry_run: bool,
        report: &mut SyncReport,
    ) -> Result<bool, DirectoryError> {
        let all = SourceRecordRow::ids_of_source(conn, &source.name).await?;
        let present = all.iter().filter(|(_, p)| *p).count();
        let newly_missing = all
            .iter()
            .filter(|(id, p)| *p && !listed.contains(id))
            .count();
        let threshold = (present * self.cfg.max_missing_percent as usize / 100).max(10);
        if newly_missing > threshold {
            let msg = format!(
                "disappearances not counted: {newly_missing} of {present} entries are no longer listed, \
                 more than the safety threshold ({}%); check the source, then run a full sync",
                self.cfg.max_missing_percent
            );
            tracing::warn!(sync.source = %source.name, "{msg}");
            report.warnings.push(msg);
            return Ok(false);
        }
        let missing: Vec<String> = all
            .into_iter()
            .filter(|(id, _)| !listed.contains(id))
            .map(|(id, _)| id)
            .collect();
        for ids in missing.chunks(self.cfg.batch_size.max(1)) {
            let departed = batch(conn, dry_run, async |conn: &mut DbConn| {
                let mut ctx = self.ctx(source, run_id);
                self.renew(conn, source, run_id, dry_run).await?;
                let mut oids = Vec::new();
                let mut rows = Vec::with_capacity(ids.len());
                for mut row in SourceRecordRow::find_many(conn, &source.name, ids).await? {
                    let was_present = row.present;
                    row.present = false;
                    row.missing_runs += 1;
                    row.last_run_id = run_id.to_string();
                    if was_present {
                        ctx.audit(
                            AuditAction::SourceRecordMissing,
                            row.oid.map(|o| o.to_string()),
                            json!({"source": row.source, "external_id": row.external_id, "entry": row.entry_ref}),
                        );
                    }
                    if let Some(oid) = &row.oid {
                        oids.push(*oid);
                    }
                    rows.push(row);
                }
                SourceRecordRow::upsert_all(conn, rows).await?;
                let mut seen = HashSet::new();
                oids.retain(|o| seen.insert(*o));
                let departed = apply::refresh_identities(conn, &mut ctx, &oids)
                    .await?
                    .iter()
                    .filter(|(_, o)| o.departed)
                    .count() as u64;
                clavis_audit::append(conn, ctx.now, ctx.audit).await?;
                Ok(departed)
            })
            .await?;
            report.departed += departed;
        }
        Ok(true)
    }

    /// Runs a source as the scheduler does: a full run when the last
    /// counted full run is older than `full_sync_interval_secs` (persisted,
    /// so a restart does not force one), incremental otherwise.
    pub async fn run_scheduled(&self, source_name: &str) -> Result<SyncReport, DirectoryError> {
        let source = self
            .cfg
            .source(source_name)
            .ok_or_else(|| DirectoryError::UnknownSource(source_name.to_string()))?;
        let mut conn = self.db.conn().await?;
        let last = SyncCursor::find(&mut conn, source_name)
            .await?
            .and_then(|c| c.last_full_at);
        drop(conn);
        let now = self.clock.now().timestamp();
        let full = last.is_none_or(|t| now - t >= source.full_sync_interval_secs as i64);
        self.run(
            source_name,
            SyncOptions {
                full,
                dry_run: false,
            },
            &NoProgress,
        )
        .await
    }

    /// Applies date-driven transitions (arrival reached, contract ended).
    /// Runs after every sync and periodically while `serve` runs.
    pub async fn apply_due_transitions(&self) -> Result<DueReport, DirectoryError> {
        let mut conn = self.db.conn().await?;
        self.apply_due_transitions_on(&mut conn, None).await
    }

    async fn apply_due_transitions_on(
        &self,
        conn: &mut DbConn,
        run: Option<(&SourceConfig, &str)>,
    ) -> Result<DueReport, DirectoryError> {
        let today = self.clock.now().date_naive().to_string();
        let due = IdentityRow::due_for_transition(conn, &today).await?;
        let mut out = DueReport::default();
        for chunk in due.chunks(self.cfg.batch_size.max(1)) {
            let d = conn
                .transaction(
                    async |conn: &mut DbConn| -> Result<DueReport, DirectoryError> {
                        conn.plan_for_current_sizes().await?;
                        let mut ctx = Ctx {
                            cfg: &self.cfg,
                            now: self.clock.now(),
                            actor: Actor::Lifecycle,
                            sync_run_id: run.map(|(_, id)| id.to_string()),
                            source: run.map(|(s, _)| s.name.clone()),
                            subscribers: &self.subscribers,
                            audit: Vec::new(),
                        };
                        let mut d = DueReport::default();
                        let oids: Vec<Oid> = chunk.iter().map(|r| r.oid).collect();
                        for (_, o) in apply::refresh_identities(conn, &mut ctx, &oids).await? {
                            d.changed += u64::from(o.changed);
                            d.departed += u64::from(o.departed);
                        }
                        clavis_audit::append(conn, ctx.now, ctx.audit).await?;
                        Ok(d)
                    },
                )
                .await?;
            out.changed += d.changed;
            out.departed += d.departed;
        }
        Ok(out)
    }
}

/// Runs one batch in its own transaction: committed when it succeeds,
/// rolled back whole when it fails. A dry run is always rolled back, on
/// purpose (`DbConn::rehearse`), and its result kept for the report.
/// Statements are planned for the tables as they are now
/// (`DbConn::plan_for_current_sizes`): a first run fills them from empty.
async fn batch<T>(
    conn: &mut DbConn,
    dry_run: bool,
    body: impl AsyncFnOnce(&mut DbConn) -> Result<T, DirectoryError>,
) -> Result<T, DirectoryError> {
    let body = async |conn: &mut DbConn| {
        conn.plan_for_current_sizes().await?;
        body(conn).await
    };
    if !dry_run {
        return conn.transaction(body).await;
    }
    conn.rehearse(body).await
}

/// What a lifecycle tick did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DueReport {
    /// Identities whose status or data changed.
    pub changed: u64,
    /// Identities that departed.
    pub departed: u64,
}
