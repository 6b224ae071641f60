//! `GET /console/audit` — the audit journal: search by actor, target,
//! action (a family with a trailing dot, `login.`) and time range, newest
//! first, a page at a time (keyset: `before` the last event's sequence
//! number); `GET /console/audit/export.csv` — the same search as CSV, for
//! the RSSI or the homologation file (at most [`EXPORT_LIMIT`] events);
//! `GET /console/audit/verify` — walks the hash chain and says whether it
//! is intact.

use super::{Chrome, Operator, local_time_secs, page};
use crate::AppState;
use crate::error::ApiError;
use crate::pages::Lang;
use actix_web::http::header;
use actix_web::{HttpResponse, get, web};
use askama::Template;
use chrono::{DateTime, Local, NaiveDate, NaiveDateTime, TimeZone, Utc};
use clavis_core::roles::Area;
use clavis_store::models::{AuditEventRow, AuditFilter};
use serde::Deserialize;

/// Events per page.
const PAGE_SIZE: i64 = 100;
/// Events per export at most.
pub const EXPORT_LIMIT: i64 = 100_000;

/// An event's instant (Unix microseconds) as operators read it, to the
/// second.
pub fn event_time(micros: i64) -> String {
    DateTime::<Utc>::from_timestamp_micros(micros)
        .map(|t| {
            t.with_timezone(&Local)
                .format("%d/%m/%Y %H:%M:%S")
                .to_string()
        })
        .unwrap_or_default()
}

/// The search as the form (and the admin API's `/admin/api/audit`)
/// sends it.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct SearchQuery {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    target: String,
    #[serde(default)]
    action: String,
    /// `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM` (local time), included.
    #[serde(default)]
    from: String,
    /// Same, excluded (a date alone: up to the end of that day).
    #[serde(default)]
    to: String,
    /// The next page: before this event (its sequence number and instant).
    before: Option<i64>,
    before_at: Option<i64>,
}

/// A local date or date-time from the form, as Unix microseconds; a date
/// alone means its midnight (`end_of_day`: the next midnight).
fn instant(field: &str, text: &str, end_of_day: bool) -> Result<Option<i64>, ApiError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let naive = if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        let d = if end_of_day {
            d.succ_opt().unwrap_or(d)
        } else {
            d
        };
        d.and_hms_opt(0, 0, 0)
    } else {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M").ok()
    }
    .ok_or_else(|| {
        ApiError::BadRequest(format!("{field}: a date YYYY-MM-DD or YYYY-MM-DDTHH:MM"))
    })?;
    let at = Local
        .from_local_datetime(&naive)
        .earliest()
        .ok_or_else(|| ApiError::BadRequest(format!("{field}: no such local time")))?;
    Ok(Some(at.with_timezone(&Utc).timestamp_micros()))
}

fn some(s: &str) -> Option<String> {
    Some(s.trim().to_string()).filter(|s| !s.is_empty())
}

impl SearchQuery {
    /// The search as the journal's filter.
    pub(crate) fn filter(&self) -> Result<AuditFilter, ApiError> {
        Ok(AuditFilter {
            actor: some(&self.actor),
            target: some(&self.target),
            action: some(&self.action),
            from_us: instant("from", &self.from, false)?,
            to_us: instant("to", &self.to, true)?,
            before: self.before_at.zip(self.before),
            max_seq: None,
        })
    }

    /// The query string of this search (without `before`).
    fn query_string(&self) -> String {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("actor", &self.actor),
            ("target", &self.target),
            ("action", &self.action),
            ("from", &self.from),
            ("to", &self.to),
        ] {
            if !v.trim().is_empty() {
                s.append_pair(k, v.trim());
            }
        }
        s.finish()
    }
}

struct EventRow {
    seq: i64,
    at: String,
    actor: String,
    action: String,
    target: String,
    target_href: Option<String>,
    changes: String,
    address: String,
}

#[derive(Template)]
#[template(path = "console/audit.html")]
struct SearchPage {
    c: Chrome,
    q: SearchQuery,
    rows: Vec<EventRow>,
    next: Option<String>,
    export: String,
}

#[get("/audit")]
async fn search(
    op: Operator,
    state: web::Data<AppState>,
    q: web::Query<SearchQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let filter = q.filter()?;
    let mut conn = state.db.conn().await?;
    let events = AuditEventRow::search(&mut conn, &filter, PAGE_SIZE).await?;
    let qs = q.query_string();
    let next = (events.len() as i64 == PAGE_SIZE)
        .then(|| events.last().map(|e| (e.occurred_at, e.seq)))
        .flatten()
        .map(|(at, seq)| {
            let sep = if qs.is_empty() { "" } else { "&" };
            format!("/console/audit?{qs}{sep}before_at={at}&before={seq}")
        });
    let rows = events
        .into_iter()
        .map(|e| EventRow {
            seq: e.seq,
            at: event_time(e.occurred_at),
            actor: e.actor,
            action: e.action,
            target_href: e
                .target
                .as_deref()
                .filter(|t| t.parse::<clavis_core::Oid>().is_ok())
                .map(|t| format!("/console/identities/{t}")),
            target: e.target.unwrap_or_default(),
            changes: e.changes,
            address: e.client_addr.unwrap_or_default(),
        })
        .collect();
    let p = SearchPage {
        c: op.chrome(Area::Audit, op.lang.tr("area-audit")),
        export: if qs.is_empty() {
            "/console/audit/export.csv".to_string()
        } else {
            format!("/console/audit/export.csv?{qs}")
        },
        q,
        rows,
        next,
    };
    page(&p)
}

/// The export's separator: the semicolon French spreadsheets split on.
const SEPARATOR: &str = ";";

/// The export's first line.
const CSV_HEADER: &str =
    "seq;occurred_at;actor;action;target;changes;client_addr;request_id;hash\r\n";

/// Events read from the database per piece of the export.
const EXPORT_PAGE: i64 = 1000;

/// A CSV field, always quoted (a separator, quote or line break inside
/// stays inside); one a spreadsheet would run as a formula is prefixed
/// with an apostrophe (CSV injection).
pub(super) fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// One event as a CSV line.
fn csv_line(e: &AuditEventRow) -> String {
    let at = DateTime::<Utc>::from_timestamp_micros(e.occurred_at)
        .map(|t| t.to_rfc3339())
        .unwrap_or_default();
    let fields = [
        e.seq.to_string(),
        at,
        e.actor.clone(),
        e.action.clone(),
        e.target.clone().unwrap_or_default(),
        e.changes.clone(),
        e.client_addr.clone().unwrap_or_default(),
        e.request_id.clone().unwrap_or_default(),
        e.hash.clone(),
    ];
    let mut line = fields
        .iter()
        .map(|f| csv_field(f))
        .collect::<Vec<_>>()
        .join(SEPARATOR);
    line.push_str("\r\n");
    line
}

/// Where the export stands: the search, from which event on, how many sent.
struct ExportCursor {
    filter: AuditFilter,
    sent: i64,
    first: bool,
}

#[get("/audit/export.csv")]
async fn export(
    op: Operator,
    state: web::Data<AppState>,
    req: actix_web::HttpRequest,
    q: web::Query<SearchQuery>,
) -> Result<HttpResponse, ApiError> {
    let mut filter = q.filter()?;
    let mut conn = state.db.conn().await?;
    // What the chain holds now, and nothing written after.
    let (head_seq, head_hash) = AuditEventRow::head(&mut conn).await?;
    filter.max_seq = Some(head_seq);
    clavis_audit::AuditEvent::new(
        op.actor(),
        clavis_core::AuditAction::AuditExported,
        None,
        serde_json::json!({
            "filter": q.query_string(), "head_seq": head_seq, "limit": EXPORT_LIMIT,
        }),
    )
    .from_addr(crate::request::client_ip(&req))
    .record(&mut conn, state.clock.now())
    .await
    .map_err(ApiError::internal)?;
    drop(conn);
    // Streamed a page at a time: the export never holds more than a page.
    let db = state.db.clone();
    let start = ExportCursor {
        filter,
        sent: 0,
        first: true,
    };
    let body = futures_util::stream::unfold(Some(start), move |cursor| {
        let db = db.clone();
        async move {
            let mut cur = cursor?;
            let mut chunk = if cur.first {
                CSV_HEADER.to_string()
            } else {
                String::new()
            };
            let want = EXPORT_PAGE.min(EXPORT_LIMIT - cur.sent);
            if want <= 0 {
                return (!chunk.is_empty()).then(|| (Ok(web::Bytes::from(chunk)), None));
            }
            let rows = match db.conn().await {
                Ok(mut c) => AuditEventRow::search(&mut c, &cur.filter, want).await,
                Err(e) => Err(e),
            };
            let rows = match rows {
                Ok(r) => r,
                Err(e) => return Some((Err(e), None)),
            };
            for r in &rows {
                chunk.push_str(&csv_line(r));
            }
            let more = rows.len() as i64 == want;
            cur.sent += rows.len() as i64;
            cur.first = false;
            cur.filter.before = rows
                .last()
                .map(|r| (r.occurred_at, r.seq))
                .or(cur.filter.before);
            if chunk.is_empty() {
                return None;
            }
            Some((Ok(web::Bytes::from(chunk)), more.then_some(cur)))
        }
    });
    let stamp = state.clock.now().format("%Y%m%d-%H%M%S");
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"clavis-audit-{stamp}.csv\""),
        ))
        // The chain's head when exported: what the file can be checked
        // against later.
        .insert_header(("X-Clavis-Audit-Head", format!("{head_seq}:{head_hash}")))
        .streaming(body))
}

/// One walk of the chain as the page shows it.
struct VerificationRow {
    started: String,
    by: String,
    scope: String,
    checked: i64,
    /// `running`, `intact` or `broken`.
    state: &'static str,
    detail: String,
}

#[derive(Template)]
#[template(path = "console/audit_verify.html")]
struct VerifyPage {
    c: Chrome,
    /// The latest finished walk's verdict: `None` before any.
    intact: Option<bool>,
    broken: String,
    up_to: i64,
    rows: Vec<VerificationRow>,
    running: bool,
}

#[derive(Debug, Default, Deserialize)]
struct VerifyQuery {
    /// `new` (what was appended since the last intact walk) or `whole`.
    #[serde(default)]
    run: String,
    #[serde(default)]
    csrf: String,
}

/// How long a whole walk may take before another may start.
const WHOLE_WALK_SECS: i64 = 3600;

/// `GET /console/audit/verify` — the chain's status: the walks of the
/// chain (by the hourly job, the CLI, operators) and what they found.
/// `?run=new` walks what was appended since the last intact walk, at once;
/// `?run=whole` walks the whole journal in the background (one at a time),
/// the page refreshing itself until it is done. Both carry the form's CSRF
/// token (a `GET`: auditors only read).
#[get("/audit/verify")]
async fn verify(
    op: Operator,
    state: web::Data<AppState>,
    q: web::Query<VerifyQuery>,
) -> Result<HttpResponse, ApiError> {
    use clavis_store::models::{AuditVerificationRow, ChainStatus};
    let lang: Lang = op.lang;
    if !q.run.is_empty() {
        if !op.csrf_matches(&q.csrf) {
            return Err(ApiError::Forbidden);
        }
        let whole = match q.run.as_str() {
            "new" => false,
            "whole" => true,
            _ => return Err(ApiError::BadRequest("run: new or whole".into())),
        };
        let mut conn = state.db.conn().await?;
        let since = state.clock.now().timestamp() - WHOLE_WALK_SECS;
        // One long walk at a time: a walk from the first event (asked for,
        // or because no walk found the chain intact yet) runs in the
        // background, recorded as running before it starts.
        if !AuditVerificationRow::running_since(&mut conn, since).await? {
            let walk =
                clavis_audit::start_walk(&mut conn, state.clock.as_ref(), &op.actor(), whole)
                    .await
                    .map_err(ApiError::internal)?;
            if walk.row.from_seq == 0 {
                let (db, clock) = (state.db.clone(), state.clock.clone());
                tokio::spawn(async move {
                    let walked = match db.conn().await {
                        Ok(mut c) => clavis_audit::finish_walk(&mut c, clock.as_ref(), walk)
                            .await
                            .map(|_| ())
                            .map_err(|e| e.to_string()),
                        Err(e) => Err(e.to_string()),
                    };
                    if let Err(e) = walked {
                        tracing::error!(error = %e, "console: the walk of the audit chain failed");
                    }
                });
            } else {
                clavis_audit::finish_walk(&mut conn, state.clock.as_ref(), walk)
                    .await
                    .map_err(ApiError::internal)?;
            }
        }
        return Ok(super::see_other("/console/audit/verify"));
    }
    let mut conn = state.db.conn().await?;
    let walks = AuditVerificationRow::latest(&mut conn, 20).await?;
    let status = AuditVerificationRow::status(&mut conn).await?;
    let since = state.clock.now().timestamp() - WHOLE_WALK_SECS;
    let running = AuditVerificationRow::running_since(&mut conn, since).await?;
    let (intact, broken, up_to) = match &status {
        ChainStatus::Unknown => (None, String::new(), 0),
        ChainStatus::Intact(w) => (Some(true), String::new(), w.verified_seq.unwrap_or(0)),
        ChainStatus::Broken(w) => (
            Some(false),
            w.broken_seq
                .zip(w.broken_reason.clone())
                .map(|(seq, why)| format!("seq {seq} ({why})"))
                .unwrap_or_default(),
            0,
        ),
    };
    let p = VerifyPage {
        c: op.chrome(Area::Audit, lang.tr("audit-verify")),
        intact,
        broken,
        up_to,
        rows: walks
            .iter()
            .map(|w| VerificationRow {
                started: local_time_secs(w.started_at),
                by: w.started_by.to_string(),
                scope: if w.from_seq == 0 {
                    lang.tr("audit-walk-whole")
                } else {
                    lang.tr1("audit-walk-from", "seq", w.from_seq)
                },
                checked: w.checked,
                state: match (w.finished_at, w.broken_seq) {
                    (None, _) => "running",
                    (Some(_), None) if w.verified_seq.is_some() => "intact",
                    (Some(_), None) => "failed",
                    (Some(_), Some(_)) => "broken",
                },
                detail: w
                    .broken_seq
                    .zip(w.broken_reason.clone())
                    .map(|(seq, why)| format!("seq {seq} ({why})"))
                    .unwrap_or_default(),
            })
            .collect(),
        running,
    };
    let mut resp = page(&p)?;
    if running {
        resp.headers_mut()
            .insert(header::REFRESH, header::HeaderValue::from_static("5"));
    }
    Ok(resp)
}

/// Registers the audit journal's pages.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(search).service(export).service(verify);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(csv_field("login.failed"), "\"login.failed\"");
        assert_eq!(
            csv_field("{\"a\":1;\"b\":2}"),
            "\"{\"\"a\"\":1;\"\"b\"\":2}\""
        );
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_field("-1"), "\"'-1\"");
        assert_eq!(csv_field("a\nb"), "\"a\nb\"");
    }

    #[test]
    fn the_time_range_reads_dates_and_minutes_and_names_a_bad_field() {
        let day = instant("from", "2026-03-01", false)
            .expect("ok")
            .expect("some");
        let end = instant("to", "2026-03-01", true)
            .expect("ok")
            .expect("some");
        assert_eq!(end - day, 24 * 3600 * 1_000_000);
        let minute = instant("from", "2026-03-01T08:30", false)
            .expect("ok")
            .expect("some");
        assert_eq!(minute - day, (8 * 3600 + 30 * 60) * 1_000_000);
        assert_eq!(instant("to", " ", true).expect("ok"), None);
        match instant("to", "01/03/2026", true) {
            Err(ApiError::BadRequest(m)) => assert!(m.starts_with("to: "), "{m}"),
            other => panic!("{other:?}"),
        }
    }
}
