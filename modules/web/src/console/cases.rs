//! Reconciliation cases (dossiers de rapprochement): the records no rule
//! could match with certainty.
//!
//! - `GET /console/cases` — open cases, newest first (`?all=1`: resolved
//!   ones too), 50 a page.
//! - `GET /console/cases/{id}` — the source's record and each candidate
//!   side by side, attribute by attribute, differences marked.
//! - `POST /console/cases/{id}/resolve` — the decision (`decision`:
//!   `link` with `candidate`, `new`, `reject`; for a Pro Santé Connect
//!   case `close`) with a mandatory `comment`, applied and audited by
//!   [`clavis_directory::service::resolve_case`].

use super::{Chrome, ConsoleForm, Operator, local_time, page};
use crate::AppState;
use crate::error::ApiError;
use crate::pages::Lang;
use actix_web::{HttpResponse, get, post, web};
use askama::Template;
use clavis_core::roles::{Access, Area};
use clavis_core::{CaseStatus, Oid};
use clavis_directory::service::{self, IdentityView, PSC_CASE_SOURCE, Resolution};
use serde::Deserialize;
use serde_json::Value;

const PAGE_SIZE: i64 = 50;

#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    #[serde(default)]
    all: String,
    #[serde(default)]
    offset: i64,
}

struct Row {
    id: String,
    opened: String,
    reason: String,
    source: String,
    entry: String,
    status: String,
    candidates: usize,
}

#[derive(Template)]
#[template(path = "console/cases.html")]
struct ListPage {
    c: Chrome,
    rows: Vec<Row>,
    results: String,
    all: bool,
    next: Option<String>,
}

/// A case's reason as operators read it.
fn reason_label(lang: Lang, reason: &str) -> String {
    let id = format!("case-reason-{}", reason.replace('_', "-"));
    let text = lang.tr(&id);
    if text == id { reason.to_string() } else { text }
}

#[get("/cases")]
async fn list(
    op: Operator,
    state: web::Data<AppState>,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let lang = op.lang;
    let all = !q.all.is_empty() && q.all != "0";
    let offset = q.offset.max(0);
    let found = service::list_cases(&state.db, all, PAGE_SIZE, offset).await?;
    let rows = found
        .items
        .iter()
        .map(|c| Row {
            id: c.id.clone(),
            opened: c.opened_at.map(local_time).unwrap_or_default(),
            reason: reason_label(lang, &c.reason),
            source: c.source.clone(),
            entry: c.entry.clone(),
            status: lang.tr(match c.status {
                CaseStatus::Open => "case-open",
                CaseStatus::Resolved => "case-resolved",
            }),
            candidates: c.candidates.as_array().map(Vec::len).unwrap_or(0),
        })
        .collect();
    let p = ListPage {
        c: op.chrome(Area::Cases, lang.tr("area-cases")),
        rows,
        results: lang.tr1("console-results", "count", found.total),
        all,
        next: found.next_offset.map(|n| {
            format!(
                "/console/cases?{}offset={n}",
                if all { "all=1&" } else { "" }
            )
        }),
    };
    page(&p)
}

/// One attribute across the record and its candidates.
struct Line {
    label: String,
    record: String,
    candidates: Vec<Cell>,
}

struct Cell {
    value: String,
    differs: bool,
}

struct Candidate {
    oid: String,
    name: String,
    why: String,
}

#[derive(Template)]
#[template(path = "console/case.html")]
struct DetailPage {
    c: Chrome,
    id: String,
    seen: String,
    open: bool,
    psc: bool,
    reason: String,
    source: String,
    opened: String,
    resolution: String,
    candidates: Vec<Candidate>,
    lines: Vec<Line>,
    may_decide: bool,
}

/// A value of the source's record (`Value` of its field).
fn record_value(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(record_value).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

/// One attribute compared: its catalogue id, the record's field, and how
/// an identity's value reads.
type Attribute = (&'static str, &'static str, fn(&IdentityView) -> String);

/// The attributes compared.
fn attributes() -> Vec<Attribute> {
    vec![
        ("trait-birth-family-name", "birth_family_name", |v| {
            v.birth_family_name.clone()
        }),
        ("trait-used-family-name", "used_family_name", |v| {
            v.used_family_name.clone().unwrap_or_default()
        }),
        ("trait-given-names", "birth_given_names", |v| {
            v.birth_given_names.join(", ")
        }),
        ("trait-birth-date", "birth_date", |v| {
            v.birth_date.clone().unwrap_or_default()
        }),
        ("trait-birth-place", "birth_place", |v| {
            v.birth_place.clone().unwrap_or_default()
        }),
        ("trait-sex", "sex", |v| v.sex.clone().unwrap_or_default()),
        ("trait-rpps", "rpps", |v| v.rpps.clone().unwrap_or_default()),
        ("trait-email", "email", |v| {
            v.email.clone().unwrap_or_default()
        }),
        ("trait-professions", "professions", |v| {
            v.professions.join(", ")
        }),
    ]
}

/// Compares for display: case, accents and spaces do not make a
/// difference the operator must look at.
fn same(a: &str, b: &str) -> bool {
    clavis_core::names::normalize_search_text(a) == clavis_core::names::normalize_search_text(b)
}

#[get("/cases/{id}")]
async fn detail(
    op: Operator,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let lang = op.lang;
    let case = service::show_case(&state.db, &id).await?;
    let mut views: Vec<(IdentityView, String)> = Vec::new();
    for cand in case.candidates.as_array().cloned().unwrap_or_default() {
        let Some(oid) = cand["oid"].as_str() else {
            continue;
        };
        let detail = service::show_identity(&state.db, oid).await?;
        views.push((
            detail.identity,
            cand["why"].as_str().unwrap_or_default().to_string(),
        ));
    }
    let lines = attributes()
        .into_iter()
        .map(|(label, field, of)| {
            let record = record_value(&case.record[field]);
            Line {
                label: lang.tr(label),
                candidates: views
                    .iter()
                    .map(|(v, _)| {
                        let value = of(v);
                        Cell {
                            differs: !same(&value, &record),
                            value,
                        }
                    })
                    .collect(),
                record,
            }
        })
        .collect();
    // The person the entry describes, else its reference in the source.
    let described = match case.record["birth_family_name"].as_str() {
        Some(family) => format!(
            "{} {}",
            family.to_uppercase(),
            record_value(&case.record["birth_given_names"])
        ),
        None => case.entry.clone(),
    };
    let seen = entry_hash(&state, &case.source, &case.external_id).await?;
    let p = DetailPage {
        seen,
        c: op.chrome(Area::Cases, lang.tr1("case-title", "entry", described)),
        open: case.status == CaseStatus::Open,
        psc: case.source == PSC_CASE_SOURCE,
        id: case.id,
        reason: reason_label(lang, &case.reason),
        source: case.source,
        opened: case.opened_at.map(local_time).unwrap_or_default(),
        resolution: case.resolution.unwrap_or_default(),
        candidates: views
            .iter()
            .map(|(v, why)| Candidate {
                oid: v.oid.to_string(),
                name: super::identities::display_name(v),
                why: why.clone(),
            })
            .collect(),
        lines,
        may_decide: op.may(Area::Cases, Access::Write),
    };
    page(&p)
}

#[derive(Debug, Deserialize)]
struct DecisionForm {
    decision: String,
    #[serde(default)]
    candidate: String,
    #[serde(default)]
    comment: String,
    /// The content hash of the entry the operator was shown.
    #[serde(default)]
    seen: String,
}

/// The content hash of the entry a case is about (empty: none).
async fn entry_hash(state: &AppState, source: &str, external_id: &str) -> Result<String, ApiError> {
    let mut conn = state.db.conn().await?;
    Ok(
        clavis_store::models::SourceRecordRow::find(&mut conn, source, external_id)
            .await?
            .map(|r| r.content_hash)
            .unwrap_or_default(),
    )
}

#[post("/cases/{id}/resolve")]
async fn resolve(
    op: Operator,
    state: web::Data<AppState>,
    req: actix_web::HttpRequest,
    id: web::Path<String>,
    form: ConsoleForm<DecisionForm>,
) -> Result<HttpResponse, ApiError> {
    let f = form.0;
    let case = service::show_case(&state.db, &id).await?;
    // Decided on what was shown: an entry a sync changed meanwhile is
    // looked at again first.
    if f.seen != entry_hash(&state, &case.source, &case.external_id).await? {
        return Err(ApiError::refused(
            actix_web::http::StatusCode::CONFLICT,
            "entry_changed",
            op.lang.tr("case-entry-changed"),
        ));
    }
    let resolution = match f.decision.as_str() {
        "link" => {
            // One of the case's candidates only, and someone the operator
            // may act on (linking changes who they are).
            let chosen: Oid = f
                .candidate
                .trim()
                .parse()
                .map_err(|_| ApiError::BadRequest("candidate: choose the person".into()))?;
            if !service::lists_candidate(&case.candidates, chosen) {
                return Err(ApiError::BadRequest(
                    "candidate: not one of this case's candidates".into(),
                ));
            }
            let mut conn = state.db.conn().await?;
            if op
                .may_act_strictly_on(&mut conn, &state, &req, chosen, "case.link")
                .await?
                && let Some(again) = op.fresh_login_needed(&state, &format!("/console/cases/{id}"))
            {
                return Ok(again);
            }
            Resolution::Link(chosen.to_string())
        }
        "new" => Resolution::CreateNew,
        "reject" => Resolution::Reject,
        "close" => Resolution::Close(f.comment.clone()),
        _ => {
            return Err(ApiError::BadRequest(
                "decision: one of link, new, reject, close".into(),
            ));
        }
    };
    service::resolve_case(
        &state.db,
        &state.directory,
        &state.subscribers,
        state.clock.now(),
        &id,
        resolution,
        &f.comment,
        &op.actor(),
    )
    .await?;
    Ok(super::see_other(format!("/console/cases/{id}")))
}

/// Registers the cases' pages.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list).service(detail).service(resolve);
}
