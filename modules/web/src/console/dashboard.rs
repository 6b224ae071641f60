//! `GET /console` — the tableau de bord: the directory by status, open
//! reconciliation cases, sessions open now, the last run of each source,
//! and the audit chain's head. Every operator role sees it.

use super::{Chrome, Operator, local_time_secs, page};
use crate::AppState;
use crate::error::ApiError;
use actix_web::{HttpResponse, get, web};
use askama::Template;
use clavis_core::LifecycleStatus;
use clavis_core::roles::Area;
use clavis_store::models::identity::IdentityFilter;
use clavis_store::models::{
    AuditEventRow, IdentityRow, ReconciliationCase, SsoSessionRow, SyncRunRow,
};

/// A count of identities in one status.
struct StatusCount {
    status: LifecycleStatus,
    label: String,
    count: i64,
}

/// The last run of one source.
struct LastRun {
    source: String,
    status: String,
    started: String,
    seen: i32,
    created: i32,
    departed: i32,
    rejected: i32,
    failed: bool,
}

#[derive(Template)]
#[template(path = "console/dashboard.html")]
struct DashboardPage {
    c: Chrome,
    statuses: Vec<StatusCount>,
    open_cases: i64,
    live_sessions: i64,
    runs: Vec<LastRun>,
    audit_head: i64,
}

#[get("")]
async fn dashboard(op: Operator, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let lang = op.lang;
    let mut conn = state.db.conn().await?;
    let mut statuses = Vec::new();
    for status in LifecycleStatus::ALL {
        let filter = IdentityFilter {
            status: Some(*status),
            search_words: vec![],
            limit: 1,
            offset: 0,
        };
        statuses.push(StatusCount {
            status: *status,
            label: super::identities::status_label(lang, *status),
            count: IdentityRow::count(&mut conn, &filter).await?,
        });
    }
    let mut runs: Vec<LastRun> = Vec::new();
    for r in SyncRunRow::list(&mut conn, None, 50).await? {
        if runs.iter().any(|x| x.source == r.source) {
            continue;
        }
        runs.push(LastRun {
            failed: r.error.is_some(),
            source: r.source,
            status: r.status.to_string(),
            started: local_time_secs(r.started_at),
            seen: r.seen,
            created: r.created,
            departed: r.departed,
            rejected: r.rejected,
        });
    }
    let now = state.clock.now().timestamp();
    let p = DashboardPage {
        c: op.chrome(Area::Dashboard, lang.tr("area-dashboard")),
        statuses,
        open_cases: ReconciliationCase::count(&mut conn, true).await?,
        live_sessions: SsoSessionRow::count_live(&mut conn, now).await?,
        runs,
        audit_head: AuditEventRow::head(&mut conn).await?.0,
    };
    page(&p)
}

/// Registers the dashboard.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(dashboard);
}
