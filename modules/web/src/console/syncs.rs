//! Synchronisations: the runs of each configured source, and starting one.
//!
//! - `GET /console/syncs` (`?source=`) — the sources and their recent runs
//!   (mode, outcome, counts, duration); while a run is in progress the page
//!   refreshes itself every few seconds (an HTML refresh, no script).
//! - `GET /console/syncs/runs/{id}` — one run: counts, rejections (entry,
//!   field, reason), error.
//! - `POST /console/syncs/{source}/dry-run` (field `full`) — reads the
//!   source and computes what would change (creations, updates,
//!   departures, cases, rejections), writing nothing, and shows it with the
//!   button that runs it for real.
//! - `POST /console/syncs/{source}/run` (field `full`) — starts the run in
//!   the background (one run per source in the cluster, as the scheduler's)
//!   and comes back to the list. Audited `sync.requested`.

use super::{Chrome, ConsoleForm, Operator, local_time, local_time_secs, page};
use crate::AppState;
use crate::error::ApiError;
use crate::request::client_ip;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use askama::Template;
use clavis_audit::AuditEvent;
use clavis_core::roles::{Access, Area};
use clavis_core::{AuditAction, SyncRunStatus};
use clavis_directory::SyncEngine;
use clavis_directory::sync::{NoProgress, SyncOptions, SyncReport};
use clavis_store::models::SyncRunRow;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

/// Runs shown per source.
const RUNS_SHOWN: i64 = 20;

struct RunRow {
    id: String,
    source: String,
    mode: String,
    status: String,
    started: String,
    duration: String,
    seen: i32,
    created: i32,
    updated: i32,
    departed: i32,
    cases: i32,
    rejected: i32,
    failed: bool,
}

fn duration_text(start: i64, end: Option<i64>) -> String {
    match end {
        Some(e) if e >= start => {
            let s = e - start;
            if s >= 60 {
                format!("{} min {} s", s / 60, s % 60)
            } else {
                format!("{s} s")
            }
        }
        _ => String::new(),
    }
}

fn run_row(r: SyncRunRow) -> RunRow {
    RunRow {
        failed: r.status == SyncRunStatus::Failed,
        duration: duration_text(r.started_at, r.finished_at),
        id: r.id,
        source: r.source,
        mode: r.mode.to_string(),
        status: r.status.to_string(),
        started: local_time_secs(r.started_at),
        seen: r.seen,
        created: r.created,
        updated: r.updated,
        departed: r.departed,
        cases: r.cases_opened,
        rejected: r.rejected,
    }
}

struct Source {
    name: String,
    kind: String,
    role: String,
}

#[derive(Template)]
#[template(path = "console/syncs.html")]
struct ListPage {
    c: Chrome,
    sources: Vec<Source>,
    runs: Vec<RunRow>,
    running: bool,
    may_run: bool,
}

#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    #[serde(default)]
    source: String,
}

#[get("/syncs")]
async fn list(
    op: Operator,
    state: web::Data<AppState>,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let lang = op.lang;
    let source = Some(q.source.trim()).filter(|s| !s.is_empty());
    let mut conn = state.db.conn().await?;
    let runs: Vec<RunRow> = SyncRunRow::list(&mut conn, source, RUNS_SHOWN)
        .await?
        .into_iter()
        .map(run_row)
        .collect();
    let p = ListPage {
        c: op.chrome(Area::Syncs, lang.tr("area-syncs")),
        sources: state
            .directory
            .sources
            .iter()
            .map(|s| Source {
                name: s.name.clone(),
                kind: format!("{:?}", s.kind).to_lowercase(),
                role: format!("{:?}", s.role).to_lowercase(),
            })
            .collect(),
        running: runs
            .iter()
            .any(|r| r.status == SyncRunStatus::Running.as_str()),
        runs,
        may_run: op.may(Area::Syncs, Access::Write),
    };
    let mut resp = page(&p)?;
    if p.running {
        // Live progress without a script: the page comes again.
        resp.headers_mut()
            .insert(header::REFRESH, header::HeaderValue::from_static("5"));
    }
    Ok(resp)
}

struct RejectionRow {
    entry: String,
    field: String,
    message: String,
}

#[derive(Template)]
#[template(path = "console/sync_run.html")]
struct RunPage {
    c: Chrome,
    run: RunRow,
    rejections: Vec<RejectionRow>,
    error: String,
}

#[get("/syncs/runs/{id}")]
async fn run_detail(
    op: Operator,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let lang = op.lang;
    let mut conn = state.db.conn().await?;
    let r = SyncRunRow::find(&mut conn, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound(lang.tr("sync-run-not-found")))?;
    let rejections = serde_json::from_str::<Vec<serde_json::Value>>(&r.rejections)
        .unwrap_or_default()
        .into_iter()
        .map(|v| RejectionRow {
            entry: v["entry"].as_str().unwrap_or_default().to_string(),
            field: v["field"].as_str().unwrap_or_default().to_string(),
            message: v["message"].as_str().unwrap_or_default().to_string(),
        })
        .collect();
    let error = r.error.clone().unwrap_or_default();
    let run = run_row(r);
    let p = RunPage {
        c: op.chrome(
            Area::Syncs,
            lang.tr1("sync-run-title", "source", run.source.clone()),
        ),
        run,
        rejections,
        error,
    };
    let mut resp = page(&p)?;
    if p.run.status == SyncRunStatus::Running.as_str() {
        resp.headers_mut()
            .insert(header::REFRESH, header::HeaderValue::from_static("5"));
    }
    Ok(resp)
}

#[derive(Debug, Deserialize)]
struct RunForm {
    #[serde(default)]
    full: String,
}

impl RunForm {
    fn options(&self, dry_run: bool) -> SyncOptions {
        SyncOptions {
            full: !self.full.is_empty(),
            dry_run,
        }
    }
}

fn engine(state: &AppState) -> SyncEngine {
    SyncEngine::new(
        state.db.clone(),
        Arc::clone(&state.directory),
        Arc::clone(&state.clock),
        state.subscribers.clone(),
    )
}

/// The configured source named `name`, or 404.
fn source_of(state: &AppState, name: &str) -> Result<String, ApiError> {
    state
        .directory
        .sources
        .iter()
        .find(|s| s.name == name)
        .map(|s| s.name.clone())
        .ok_or_else(|| ApiError::NotFound("no such source".into()))
}

#[derive(Template)]
#[template(path = "console/sync_dry_run.html")]
struct DryRunPage {
    c: Chrome,
    source: String,
    full: bool,
    report: SyncReport,
    rejections: Vec<RejectionRow>,
    finished: String,
}

#[post("/syncs/{source}/dry-run")]
async fn simulate(
    op: Operator,
    state: web::Data<AppState>,
    source: web::Path<String>,
    form: ConsoleForm<RunForm>,
) -> Result<HttpResponse, ApiError> {
    let lang = op.lang;
    let name = source_of(&state, &source)?;
    let opts = form.0.options(true);
    let report = engine(&state)
        .run(&name, opts, &NoProgress)
        .await
        .map_err(|e| ApiError::BadRequest(format!("{name}: {e}")))?;
    let p = DryRunPage {
        c: op.chrome(
            Area::Syncs,
            lang.tr1("sync-dry-run-title", "source", name.clone()),
        ),
        source: name,
        full: opts.full,
        rejections: report
            .rejections
            .iter()
            .map(|r| RejectionRow {
                entry: r.entry.clone(),
                field: r.field.clone(),
                message: r.message.clone(),
            })
            .collect(),
        finished: report.finished_at.map(local_time).unwrap_or_default(),
        report,
    };
    page(&p)
}

#[post("/syncs/{source}/run")]
async fn launch(
    op: Operator,
    state: web::Data<AppState>,
    req: HttpRequest,
    source: web::Path<String>,
    form: ConsoleForm<RunForm>,
) -> Result<HttpResponse, ApiError> {
    let name = source_of(&state, &source)?;
    let opts = form.0.options(false);
    let mut conn = state.db.conn().await?;
    AuditEvent::new(
        op.actor(),
        AuditAction::SyncRequested,
        Some(name.clone()),
        json!({"full": opts.full}),
    )
    .from_addr(client_ip(&req))
    .record(&mut conn, state.clock.now())
    .await
    .map_err(ApiError::internal)?;
    drop(conn);
    let engine = engine(&state);
    let source = name.clone();
    // The run outlives the request: its row and audit record the outcome
    // (a run already in progress for the source is refused by its lease).
    tokio::spawn(async move {
        if let Err(e) = engine.run(&source, opts, &NoProgress).await {
            tracing::warn!(sync.source = %source, error = %e, "console: the sync run failed");
        }
    });
    Ok(super::see_other(format!(
        "/console/syncs?source={}",
        url::form_urlencoded::byte_serialize(name.as_bytes()).collect::<String>()
    )))
}

/// Registers the synchronisation pages.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list)
        .service(run_detail)
        .service(simulate)
        .service(launch);
}
