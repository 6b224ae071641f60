//! Read and operator-facing operations on the directory: identity views,
//! lookup by oid/RPPS/login, listing with search, reconciliation cases.
//! The CLI and the admin API call these; they never touch tables directly.

use crate::apply::{self, Ctx};
use crate::config::DirectoryConfig;
use crate::error::DirectoryError;
use crate::lifecycle::Subscribers;
use chrono::{DateTime, Utc};
use clavis_audit::AuditEvent;
use clavis_core::{
    Actor, AuditAction, CaseStatus, LifecycleStatus, Oid, Page, Rpps, names::normalize_search_text,
};
use clavis_store::models::identity::IdentityFilter;
use clavis_store::models::{
    Account, Assignment, IdentityRow, LifecycleEventRow, ReconciliationCase, SourceRecordRow,
    SyncRunRow,
};
use clavis_store::{Db, DbConn};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::HashMap;

/// A source record reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceRef {
    pub source: String,
    pub external_id: String,
}

/// An account as shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountView {
    pub login: String,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub source: String,
}

/// An assignment as shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AssignmentView {
    pub service: Option<String>,
    pub uf: Option<String>,
    pub finess: Option<String>,
    pub start_date: Option<String>,
    pub end_date: Option<String>,
    pub current: bool,
}

/// The JSON shape of an identity (CLI `--json` and admin API).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IdentityView {
    pub oid: Oid,
    pub status: LifecycleStatus,
    pub birth_family_name: String,
    pub used_family_name: Option<String>,
    pub birth_given_names: Vec<String>,
    pub birth_date: Option<String>,
    pub birth_place: Option<String>,
    pub birth_country: Option<String>,
    pub sex: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub rpps: Option<String>,
    pub national_id: Option<String>,
    pub adeli: Option<String>,
    pub logins: Vec<String>,
    pub accounts: Vec<AccountView>,
    pub contract_type: Option<String>,
    pub arrival_date: Option<String>,
    pub departure_date: Option<String>,
    pub professions: Vec<String>,
    pub assignment: Option<AssignmentView>,
    pub sources: Vec<SourceRef>,
    pub updated_at: i64,
}

/// An identity with its history (`identity show`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IdentityDetail {
    #[serde(flatten)]
    pub identity: IdentityView,
    pub assignments: Vec<AssignmentView>,
    pub lifecycle: Vec<Value>,
}

fn assignment_view(a: &Assignment) -> AssignmentView {
    AssignmentView {
        service: a.service.clone(),
        uf: a.uf.clone(),
        finess: a.finess.clone(),
        start_date: a.start_date.clone(),
        end_date: a.end_date.clone(),
        current: a.is_current,
    }
}

fn view(
    row: IdentityRow,
    accounts: &[Account],
    sources: &[SourceRecordRow],
    current: Option<&Assignment>,
) -> IdentityView {
    let national_id = row
        .rpps
        .as_deref()
        .and_then(|r| Rpps::parse(r).ok())
        .map(|r| r.national_id().to_string());
    let accounts: Vec<AccountView> = accounts
        .iter()
        .filter(|a| a.oid == row.oid)
        .map(|a| AccountView {
            login: a.login.clone(),
            enabled: a.enabled,
            disabled_reason: a.disabled_reason.clone(),
            source: a.source.clone(),
        })
        .collect();
    IdentityView {
        birth_given_names: row.birth_given_names.into_vec(),
        professions: row.professions.into_vec(),
        logins: accounts.iter().map(|a| a.login.clone()).collect(),
        accounts,
        sources: sources
            .iter()
            .filter(|s| s.oid == Some(row.oid))
            .map(|s| SourceRef {
                source: s.source.clone(),
                external_id: s.external_id.clone(),
            })
            .collect(),
        assignment: current.map(assignment_view),
        national_id,
        oid: row.oid,
        status: row.status,
        birth_family_name: row.birth_family_name,
        used_family_name: row.used_family_name,
        birth_date: row.birth_date,
        birth_place: row.birth_place,
        birth_country: row.birth_country,
        sex: row.sex,
        email: row.email,
        phone: row.phone,
        rpps: row.rpps,
        adeli: row.adeli,
        contract_type: row.contract_type,
        arrival_date: row.arrival_date,
        departure_date: row.departure_date,
        updated_at: row.updated_at,
    }
}

/// Finds an identity by oid, RPPS (11 digits), login, or a source's
/// external id (HR matricule) when it designates exactly one person.
pub async fn find_identity(
    conn: &mut DbConn,
    key: &str,
) -> Result<Option<IdentityRow>, DirectoryError> {
    let key = key.trim();
    if let Ok(oid) = key.parse::<Oid>()
        && let Some(r) = IdentityRow::find(conn, oid).await?
    {
        return Ok(Some(r));
    }
    if key.len() == 11 && key.bytes().all(|b| b.is_ascii_digit()) {
        let mut found = IdentityRow::with_rpps(conn, key).await?;
        if found.len() == 1 {
            return Ok(found.pop());
        }
    }
    if let Some(a) = Account::find(conn, key).await? {
        return Ok(IdentityRow::find(conn, a.oid).await?);
    }
    let linked = SourceRecordRow::linked_with_external_id(conn, key).await?;
    let oids: std::collections::BTreeSet<Oid> = linked.iter().filter_map(|r| r.oid).collect();
    if oids.len() == 1
        && let Some(oid) = oids.into_iter().next()
    {
        return Ok(IdentityRow::find(conn, oid).await?);
    }
    Ok(None)
}

/// The full view of one identity, with assignment history and lifecycle.
pub async fn show_identity(db: &Db, key: &str) -> Result<IdentityDetail, DirectoryError> {
    let mut conn = db.conn().await?;
    let row = find_identity(&mut conn, key)
        .await?
        .ok_or_else(|| DirectoryError::IdentityNotFound(key.to_string()))?;
    let oid = row.oid;
    let accounts = Account::for_identity(&mut conn, oid).await?;
    let sources = SourceRecordRow::for_identity(&mut conn, oid).await?;
    let assignments = Assignment::for_identity(&mut conn, oid).await?;
    let events = LifecycleEventRow::for_identity(&mut conn, oid).await?;
    let current = assignments.iter().find(|a| a.is_current);
    Ok(IdentityDetail {
        identity: view(row, &accounts, &sources, current),
        assignments: assignments.iter().map(assignment_view).collect(),
        lifecycle: events
            .into_iter()
            .map(|e| {
                json!({"kind": e.kind, "reason": e.reason, "at": DateTime::<Utc>::from_timestamp(e.occurred_at, 0), "sync_run_id": e.sync_run_id})
            })
            .collect(),
    })
}

/// Lists identities, one page of at most `limit` (1 to 10,000) from
/// `offset`, with the total that match (search: every word must appear in
/// names, RPPS, email or login, accents and case ignored).
pub async fn list_identities(
    db: &Db,
    status: Option<LifecycleStatus>,
    search: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<Page<IdentityView>, DirectoryError> {
    let mut conn = db.conn().await?;
    let words: Vec<String> = search
        .map(normalize_search_text)
        .unwrap_or_default()
        .split(' ')
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect();
    let offset = offset.max(0);
    let filter = IdentityFilter {
        status,
        search_words: words,
        limit: limit.clamp(1, 10_000),
        offset,
    };
    let (rows, total) = IdentityRow::list_counted(&mut conn, &filter).await?;
    let oids: Vec<Oid> = rows.iter().map(|r| r.oid).collect();
    let accounts = Account::for_identities(&mut conn, &oids).await?;
    let sources = SourceRecordRow::for_identities(&mut conn, &oids).await?;
    let mut current: HashMap<Oid, Assignment> = HashMap::new();
    for a in Assignment::current_for(&mut conn, &oids).await? {
        current.insert(a.oid, a);
    }
    let items = rows
        .into_iter()
        .map(|r| {
            let c = current.get(&r.oid);
            view(r, &accounts, &sources, c)
        })
        .collect();
    Ok(Page::new(items, offset, total))
}

/// A case as shown.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseView {
    pub id: String,
    pub status: CaseStatus,
    pub reason: String,
    pub source: String,
    pub external_id: String,
    pub entry: String,
    pub candidates: Value,
    pub record: Value,
    pub resolution: Option<String>,
    pub resolved_by: Option<Actor>,
    pub opened_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
}

async fn case_view(conn: &mut DbConn, c: ReconciliationCase) -> Result<CaseView, DirectoryError> {
    let corrupt = |what: &str, e: serde_json::Error| {
        DirectoryError::Corrupt(format!("case {}: {what} is not JSON: {e}", c.id))
    };
    let record = match SourceRecordRow::find(conn, &c.source, &c.external_id).await? {
        Some(r) => serde_json::from_str(&r.attributes).map_err(|e| corrupt("the record", e))?,
        None => Value::Null,
    };
    Ok(CaseView {
        candidates: serde_json::from_str(&c.candidates).map_err(|e| corrupt("candidates", e))?,
        record,
        opened_at: DateTime::<Utc>::from_timestamp(c.opened_at, 0),
        resolved_at: c
            .resolved_at
            .and_then(|t| DateTime::<Utc>::from_timestamp(t, 0)),
        id: c.id,
        status: c.status,
        reason: c.reason,
        source: c.source,
        external_id: c.external_id,
        entry: c.entry_ref,
        resolution: c.resolution,
        resolved_by: c.resolved_by,
    })
}

/// Lists cases (open only unless `all`), newest first: one page of at
/// most `limit` (1 to 1000) from `offset`, with the total.
pub async fn list_cases(
    db: &Db,
    all: bool,
    limit: i64,
    offset: i64,
) -> Result<Page<CaseView>, DirectoryError> {
    let mut conn = db.conn().await?;
    let offset = offset.max(0);
    let total = ReconciliationCase::count(&mut conn, !all).await?;
    let cases = ReconciliationCase::list(&mut conn, !all, limit.clamp(1, 1000), offset).await?;
    let mut out = Vec::with_capacity(cases.len());
    for c in cases {
        out.push(case_view(&mut conn, c).await?);
    }
    Ok(Page::new(out, offset, total))
}

/// One case.
pub async fn show_case(db: &Db, id: &str) -> Result<CaseView, DirectoryError> {
    let mut conn = db.conn().await?;
    let c = ReconciliationCase::find(&mut conn, id)
        .await?
        .ok_or_else(|| DirectoryError::CaseNotFound(id.to_string()))?;
    case_view(&mut conn, c).await
}

/// An operator's decision on a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// The record is this person.
    Link(String),
    /// The record is a new person.
    CreateNew,
    /// The record is no one to know (an HR entry made in error, a test
    /// account): it stays unlinked, and the next syncs leave it alone while
    /// the source sends it unchanged (a changed entry is decided again).
    Reject,
    /// Close a case Pro Santé Connect opened (a refused link) once HR's
    /// data is right; the note says what was done. The person then links
    /// again.
    Close(String),
}

/// The longest comment an operator writes on a decision.
pub const COMMENT_MAX_CHARS: usize = 2000;

/// An operator's comment on a decision: said, not too long, no control
/// characters but line breaks.
pub fn check_comment(comment: &str) -> Result<&str, DirectoryError> {
    let c = comment.trim();
    if c.is_empty() {
        return Err(DirectoryError::InvalidResolution(
            "a comment (a note saying why) is required with every decision".into(),
        ));
    }
    if c.chars().count() > COMMENT_MAX_CHARS
        || c.chars()
            .any(|ch| ch.is_control() && ch != '\n' && ch != '\r' && ch != '\t')
    {
        return Err(DirectoryError::InvalidResolution(format!(
            "the comment: at most {COMMENT_MAX_CHARS} characters, without control characters"
        )));
    }
    Ok(c)
}

/// Whether `oid` is one of a case's candidates (its stored JSON list of
/// `{"oid", "why"}`): an operator links an entry only to one of them.
pub fn lists_candidate(candidates: &Value, oid: Oid) -> bool {
    let oid = oid.to_string();
    candidates
        .as_array()
        .is_some_and(|c| c.iter().any(|x| x["oid"].as_str() == Some(oid.as_str())))
}

/// The resolution a rejected record's case keeps: `rejected:` and the
/// content hash of the entry as rejected.
pub const REJECTED_PREFIX: &str = "rejected:";

/// The source of the cases a refused link to Pro Santé Connect opens
/// (their external id is `<oid>:<national id PSC gave>`).
pub const PSC_CASE_SOURCE: &str = "psc";

/// Applies an operator's decision with their `comment` (required, see
/// [`check_comment`]): links the record (or creates the identity, or
/// rejects the record), recomputes the identity, closes the case, audits
/// with the comment — in one transaction. Returns the oid (`None` for a
/// rejected record).
#[allow(clippy::too_many_arguments)]
pub async fn resolve_case(
    db: &Db,
    cfg: &DirectoryConfig,
    subscribers: &Subscribers,
    now: DateTime<Utc>,
    id: &str,
    resolution: Resolution,
    comment: &str,
    actor: &Actor,
) -> Result<Option<Oid>, DirectoryError> {
    let comment = check_comment(comment)?;
    let mut conn = db.conn().await?;
    conn.transaction(async |conn: &mut DbConn| {
        let mut case = ReconciliationCase::find(conn, id)
            .await?
            .ok_or_else(|| DirectoryError::CaseNotFound(id.to_string()))?;
        if case.status != CaseStatus::Open {
            return Err(DirectoryError::CaseAlreadyResolved(id.to_string()));
        }
        match (&resolution, case.source == PSC_CASE_SOURCE) {
            (Resolution::Close(note), true) => {
                return close_psc_case(conn, now, case, note, comment, actor).await.map(Some);
            }
            (Resolution::Close(_), false) => {
                return Err(DirectoryError::InvalidResolution(format!(
                    "case {id} comes from source {:?}: link its record to an identity or create one; only Pro Santé Connect cases are closed",
                    case.source
                )));
            }
            (_, true) => {
                return Err(DirectoryError::InvalidResolution(format!(
                    "case {id} is a refused link to Pro Santé Connect: fix the RPPS or name in HR, then close it with a note (the person links again)"
                )));
            }
            _ => {}
        }
        let mut record = SourceRecordRow::find(conn, &case.source, &case.external_id)
            .await?
            .ok_or_else(|| DirectoryError::Corrupt(format!("case {id} points at a missing record")))?;
        if resolution == Resolution::Reject {
            case.status = CaseStatus::Resolved;
            case.resolution = Some(format!("{REJECTED_PREFIX}{}", record.content_hash));
            case.resolved_by = Some(actor.clone());
            case.resolved_at = Some(now.timestamp());
            case.update(conn).await?;
            AuditEvent::new(
                actor.clone(),
                AuditAction::CaseResolved,
                Some(case.id.clone()),
                json!({"resolution": "rejected", "source": case.source, "external_id": case.external_id, "comment": comment}),
            )
            .record(conn, now)
            .await?;
            return Ok(None);
        }
        let (oid, how) = match &resolution {
            Resolution::Link(key) => {
                let row = find_identity(conn, key)
                    .await?
                    .ok_or_else(|| DirectoryError::IdentityNotFound(key.clone()))?;
                (row.oid, "linked")
            }
            Resolution::CreateNew => (Oid::new_random(), "created"),
            Resolution::Reject | Resolution::Close(_) => {
                return Err(DirectoryError::InvalidResolution(format!(
                    "case {id}: only Pro Santé Connect cases are closed"
                )));
            }
        };
        record.oid = Some(oid);
        record.upsert(conn).await?;
        let mut ctx = Ctx {
            cfg,
            now,
            actor: actor.clone(),
            sync_run_id: None,
            source: Some(case.source.clone()),
            subscribers,
            audit: Vec::new(),
        };
        apply::refresh_identity(conn, &mut ctx, oid).await?;
        case.status = CaseStatus::Resolved;
        case.resolution = Some(format!("{how}:{oid}"));
        case.resolved_by = Some(actor.clone());
        case.resolved_at = Some(now.timestamp());
        case.update(conn).await?;
        ctx.audit(
            AuditAction::CaseResolved,
            Some(case.id.clone()),
            json!({"resolution": how, "oid": oid, "source": case.source, "external_id": case.external_id, "comment": comment}),
        );
        clavis_audit::append(conn, now, ctx.audit).await?;
        Ok(Some(oid))
    })
    .await
}

/// Closes a Pro Santé Connect case with the operator's note; returns the
/// identity it was about.
async fn close_psc_case(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    mut case: ReconciliationCase,
    note: &str,
    comment: &str,
    actor: &Actor,
) -> Result<Oid, DirectoryError> {
    if note.trim().is_empty() {
        return Err(DirectoryError::InvalidResolution(
            "closing a case needs a note saying what was done".into(),
        ));
    }
    let oid: Oid = case
        .external_id
        .split(':')
        .next()
        .and_then(|o| o.parse().ok())
        .ok_or_else(|| DirectoryError::Corrupt(format!("case {} names no identity", case.id)))?;
    case.status = CaseStatus::Resolved;
    case.resolution = Some(format!("closed:{oid}"));
    case.resolved_by = Some(actor.clone());
    case.resolved_at = Some(now.timestamp());
    case.update(conn).await?;
    AuditEvent::new(
        actor.clone(),
        AuditAction::CaseResolved,
        Some(case.id.clone()),
        json!({"resolution": "closed", "oid": oid, "source": case.source, "note": note.trim(), "comment": comment}),
    )
    .record(conn, now)
    .await?;
    Ok(oid)
}

/// Recent sync runs.
pub async fn list_sync_runs(
    db: &Db,
    source: Option<&str>,
    limit: i64,
) -> Result<Vec<Value>, DirectoryError> {
    let mut conn = db.conn().await?;
    let runs = SyncRunRow::list(&mut conn, source, limit).await?;
    Ok(runs
        .into_iter()
        .map(|r| {
            json!({
                "id": r.id, "source": r.source, "mode": r.mode, "status": r.status,
                "started_at": DateTime::<Utc>::from_timestamp(r.started_at, 0),
                "finished_at": r.finished_at.and_then(|t| DateTime::<Utc>::from_timestamp(t, 0)),
                "seen": r.seen, "created": r.created, "updated": r.updated, "unchanged": r.unchanged,
                "departed": r.departed, "cases_opened": r.cases_opened, "rejected": r.rejected,
                "unmatched": r.unmatched,
                "rejections": serde_json::from_str::<Value>(&r.rejections).unwrap_or(Value::Null),
                "error": r.error,
            })
        })
        .collect())
}
