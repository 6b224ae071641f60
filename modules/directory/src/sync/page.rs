//! One page of a run applied, as one batch: each record stored (one
//! unchanged since the last run is only touched), the records not linked
//! yet decided ([`crate::reconcile`]: linked, a new identity, or held in a
//! reconciliation case for an operator), and the identities concerned
//! recomputed ([`crate::apply`]), with the page's audit events.

use super::{SyncEngine, SyncReport, batch};
use crate::apply::{self, Ctx};
use crate::config::SourceConfig;
use crate::error::DirectoryError;
use crate::mapping::MappedRecord;
use crate::reconcile::{self, Decision, MatchIndex};
use clavis_core::ids::OidBatch;
use clavis_core::{AuditAction, CaseStatus, Oid};
use clavis_store::DbConn;
use clavis_store::models::{ReconciliationCase, SourceRecordRow};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};

impl SyncEngine {
    /// Applies one page in its own transaction (rolled back in a dry run)
    /// and adds its counts to `report`.
    #[tracing::instrument(target = "clavis::trace", name = "directory.page", skip_all, fields(sync.entries = records.len() as u64))]
    pub(super) async fn apply_page(
        &self,
        conn: &mut DbConn,
        source: &SourceConfig,
        run_id: &str,
        records: Vec<MappedRecord>,
        dry_run: bool,
        report: &mut SyncReport,
    ) -> Result<(), DirectoryError> {
        if records.is_empty() {
            return Ok(());
        }
        let counts = batch(conn, dry_run, async |conn: &mut DbConn| {
            self.renew(conn, source, run_id, dry_run).await?;
            let mut ctx = self.ctx(source, run_id);
            let mut counts = SyncReport::default();
            apply_records(conn, &mut ctx, source, run_id, records, &mut counts).await?;
            clavis_audit::append(conn, ctx.now, ctx.audit).await?;
            Ok(counts)
        })
        .await?;
        report.created += counts.created;
        report.updated += counts.updated;
        report.unchanged += counts.unchanged;
        report.departed += counts.departed;
        report.cases_opened += counts.cases_opened;
        report.unmatched += counts.unmatched;
        Ok(())
    }
}

/// What a page comes to, record by record.
#[derive(Debug, Default)]
struct PageWork {
    /// Unchanged records: only seen again.
    touched: Vec<String>,
    /// Records to store.
    rows: Vec<SourceRecordRow>,
    /// Identities to recompute.
    to_refresh: Vec<Oid>,
    /// Identities this page created.
    fresh: HashSet<Oid>,
    /// Records linked to nobody and in no case: for [`reconcile::decide`].
    undecided: Vec<(MappedRecord, SourceRecordRow)>,
}

/// The hash that recognises an unchanged record.
fn content_hash(rec: &MappedRecord, attributes: &str) -> String {
    let mut h = Sha256::new();
    h.update(attributes.as_bytes());
    h.update([0]);
    h.update(rec.join_key.as_deref().unwrap_or("").as_bytes());
    h.update([0]);
    h.update(rec.entry_ref.as_bytes());
    hex::encode(h.finalize())
}

async fn apply_records(
    conn: &mut DbConn,
    ctx: &mut Ctx<'_>,
    source: &SourceConfig,
    run_id: &str,
    records: Vec<MappedRecord>,
    counts: &mut SyncReport,
) -> Result<(), DirectoryError> {
    let now = ctx.now.timestamp();
    let mut work = sort_records(conn, source, run_id, records, now, counts).await?;
    decide_undecided(conn, ctx, source, run_id, &mut work, counts).await?;
    let PageWork {
        touched,
        rows,
        mut to_refresh,
        fresh,
        ..
    } = work;
    SourceRecordRow::upsert_all(conn, rows).await?;
    SourceRecordRow::touch(conn, &source.name, &touched, run_id, now).await?;
    let mut seen = HashSet::new();
    to_refresh.retain(|o| seen.insert(*o));
    for (oid, out) in apply::refresh_identities_with_new(conn, ctx, &to_refresh, &fresh).await? {
        if out.created || fresh.contains(&oid) {
            counts.created += 1;
        } else if out.changed {
            counts.updated += 1;
        } else {
            counts.unchanged += 1;
        }
        if out.departed {
            counts.departed += 1;
        }
    }
    Ok(())
}

/// Sorts a page's records against what is stored: unchanged (touched),
/// linked already (its identity recomputed), waiting in a case (stored,
/// nothing decided), or to be decided.
async fn sort_records(
    conn: &mut DbConn,
    source: &SourceConfig,
    run_id: &str,
    records: Vec<MappedRecord>,
    now: i64,
    counts: &mut SyncReport,
) -> Result<PageWork, DirectoryError> {
    let ids: Vec<String> = records.iter().map(|r| r.external_id.clone()).collect();
    let existing: HashMap<String, SourceRecordRow> =
        SourceRecordRow::find_many(conn, &source.name, &ids)
            .await?
            .into_iter()
            .map(|r| (r.external_id.clone(), r))
            .collect();
    let unlinked: Vec<String> = existing
        .values()
        .filter(|r| r.oid.is_none())
        .map(|r| r.external_id.clone())
        .collect();
    let in_case: HashSet<String> = ReconciliationCase::open_for_many(conn, &source.name, &unlinked)
        .await?
        .into_iter()
        .map(|c| c.external_id)
        .collect();
    // Records an operator rejected, with the content hash they rejected:
    // left alone while the source sends them unchanged.
    let rejected: HashMap<String, String> =
        ReconciliationCase::rejected_for_many(conn, &source.name, &unlinked)
            .await?
            .into_iter()
            .filter_map(|c| {
                let hash = c
                    .resolution?
                    .strip_prefix(crate::service::REJECTED_PREFIX)?
                    .to_string();
                Some((c.external_id, hash))
            })
            .collect();

    let mut work = PageWork::default();
    for rec in records {
        let attributes = serde_json::to_string(&rec.fields).map_err(|e| {
            DirectoryError::Corrupt(format!("cannot serialise {}: {e}", rec.entry_ref))
        })?;
        let hash = content_hash(&rec, &attributes);
        let old = existing.get(&rec.external_id);
        let waiting_in_case =
            in_case.contains(&rec.external_id) || rejected.get(&rec.external_id) == Some(&hash);
        if let Some(o) = old
            && o.content_hash == hash
            && o.present
            && (o.oid.is_some() || waiting_in_case)
        {
            work.touched.push(rec.external_id.clone());
            counts.unchanged += 1;
            continue;
        }
        let row = SourceRecordRow {
            source: source.name.clone(),
            external_id: rec.external_id.clone(),
            oid: old.and_then(|o| o.oid),
            entry_ref: rec.entry_ref.clone(),
            join_key: rec.join_key.clone(),
            attributes,
            content_hash: hash,
            present: true,
            missing_runs: 0,
            first_seen_at: old.map(|o| o.first_seen_at).unwrap_or(now),
            last_seen_at: now,
            last_run_id: run_id.to_string(),
        };
        if let Some(oid) = row.oid {
            work.to_refresh.push(oid);
            work.rows.push(row);
        } else if waiting_in_case {
            counts.unchanged += 1;
            work.rows.push(row);
        } else {
            work.undecided.push((rec, row));
        }
    }
    Ok(work)
}

/// Decides each undecided record of the page ([`reconcile::decide`]) and
/// acts on the decision, keeping the match index up to date for the next
/// record.
async fn decide_undecided(
    conn: &mut DbConn,
    ctx: &mut Ctx<'_>,
    source: &SourceConfig,
    run_id: &str,
    work: &mut PageWork,
    counts: &mut SyncReport,
) -> Result<(), DirectoryError> {
    let undecided = std::mem::take(&mut work.undecided);
    let recs: Vec<&MappedRecord> = undecided.iter().map(|(r, _)| r).collect();
    let mut idx = MatchIndex::load(conn, &source.name, &recs).await?;
    // Many new people (a first import) get neighbouring oids, a few get
    // oids of their own (see OidBatch). The records to decide are the most
    // this page can create.
    let oids = (undecided.len() >= OidBatch::MIN_PEOPLE).then(OidBatch::new);
    for (rec, mut row) in undecided {
        match reconcile::decide(conn, source, &rec, &idx).await? {
            Decision::Link { oid, how } => {
                row.oid = Some(oid);
                idx.note_linked(&source.name, &rec, oid, false);
                ctx.audit(
                    AuditAction::SourceRecordLinked,
                    Some(oid.to_string()),
                    json!({"source": source.name, "external_id": rec.external_id, "entry": rec.entry_ref, "rule": how}),
                );
                work.to_refresh.push(oid);
            }
            Decision::Create => {
                let oid = oids
                    .as_ref()
                    .map_or_else(Oid::new_random, OidBatch::next_oid);
                row.oid = Some(oid);
                idx.note_linked(&source.name, &rec, oid, true);
                work.fresh.insert(oid);
                work.to_refresh.push(oid);
                if let Some(key) = &rec.join_key {
                    let joined = join_waiting(conn, ctx, &mut idx, key, oid).await?;
                    work.rows.extend(joined);
                }
            }
            Decision::Case { reason, candidates } => {
                open_case(conn, ctx, source, run_id, &rec, reason, &candidates).await?;
                counts.cases_opened += 1;
            }
            Decision::Unmatched => counts.unmatched += 1,
        }
        work.rows.push(row);
    }
    Ok(())
}

/// Records of other sources that were waiting for this new person (same
/// join key) join them now, unless an operator holds them in a case or
/// rejected them.
async fn join_waiting(
    conn: &mut DbConn,
    ctx: &mut Ctx<'_>,
    idx: &mut MatchIndex,
    key: &str,
    oid: Oid,
) -> Result<Vec<SourceRecordRow>, DirectoryError> {
    let mut joined = Vec::new();
    for mut w in idx.take_waiting(key) {
        if ReconciliationCase::open_for(conn, &w.source, &w.external_id)
            .await?
            .is_some()
        {
            continue;
        }
        // Nor one an operator rejected, while it is the entry they saw.
        let rejected = ReconciliationCase::rejected_for_many(
            conn,
            &w.source,
            std::slice::from_ref(&w.external_id),
        )
        .await?;
        if rejected.iter().any(|c| {
            c.resolution
                .as_deref()
                .and_then(|r| r.strip_prefix(crate::service::REJECTED_PREFIX))
                == Some(w.content_hash.as_str())
        }) {
            continue;
        }
        w.oid = Some(oid);
        ctx.audit(
            AuditAction::SourceRecordLinked,
            Some(oid.to_string()),
            json!({"source": w.source, "external_id": w.external_id, "entry": w.entry_ref, "rule": "join_key"}),
        );
        joined.push(w);
    }
    Ok(joined)
}

/// Opens a reconciliation case for `rec`: an operator decides.
async fn open_case(
    conn: &mut DbConn,
    ctx: &mut Ctx<'_>,
    source: &SourceConfig,
    run_id: &str,
    rec: &MappedRecord,
    reason: &'static str,
    candidates: &[(Oid, String)],
) -> Result<(), DirectoryError> {
    let case = ReconciliationCase {
        id: clavis_core::ids::new_record_id(),
        source: source.name.clone(),
        external_id: rec.external_id.clone(),
        entry_ref: rec.entry_ref.clone(),
        reason: reason.to_string(),
        candidates: serde_json::to_string(
            &candidates
                .iter()
                .map(|(oid, why)| json!({"oid": oid, "why": why}))
                .collect::<Vec<_>>(),
        )
        .unwrap_or_else(|_| "[]".into()),
        status: CaseStatus::Open,
        resolution: None,
        resolved_by: None,
        opened_at: ctx.now.timestamp(),
        resolved_at: None,
        sync_run_id: Some(run_id.to_string()),
    };
    case.insert(conn).await?;
    ctx.audit(
        AuditAction::CaseOpened,
        Some(case.id.clone()),
        json!({"source": source.name, "external_id": rec.external_id, "entry": rec.entry_ref,
               "reason": reason, "candidates": candidates.iter().map(|c| &c.0).collect::<Vec<_>>()}),
    );
    tracing::info!(case.id = %case.id, case.reason = reason, entry = %rec.entry_ref, "reconciliation case opened");
    Ok(())
}
