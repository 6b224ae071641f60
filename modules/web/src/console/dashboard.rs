//! `GET /console` — the tableau de bord: the directory by status, open
//! reconciliation cases, sessions open now, logins per hour by method over
//! the last 24 hours (an SVG chart drawn here, its figures in a table),
//! failed logins, refused badges and PIN lockouts of the last 24 hours,
//! temporary badges ending within a week, signing keys due for rotation,
//! health (database, clock, back-channel logouts owed), the last run of
//! each source, and the audit chain's head. Every operator role sees it.

use super::charts::StackedBars;
use super::{Chrome, Operator, local_time_secs, page};
use crate::AppState;
use crate::error::ApiError;
use actix_web::{HttpResponse, get, web};
use askama::Template;
use clavis_core::roles::{Access, Area};
use clavis_core::{AuditAction, Clock, LifecycleStatus, LoginMethod};
use clavis_store::models::identity::IdentityFilter;
use clavis_store::models::{
    AuditEventRow, BadgeRow, IdentityRow, LogoutOutboxRow, OidcKeyRow, ReconciliationCase,
    SsoSessionRow, SyncRunRow,
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

/// A figure of the last 24 hours, with the journal search behind it.
struct Recent {
    id: &'static str,
    label: String,
    count: i64,
    href: Option<String>,
}

/// A line of the health table.
struct Health {
    label: String,
    value: String,
    ok: bool,
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
    logins: StackedBars,
    /// (hour, count per series) for the table under the chart.
    login_rows: Vec<(String, Vec<i64>)>,
    recent: Vec<Recent>,
    expiring_badges: i64,
    /// (algorithm, key id, age in days) of signing keys due for rotation.
    keys_to_rotate: Vec<(String, String, i64)>,
    /// The operator reads the applications (where keys are rotated).
    may_see_keys: bool,
    health: Vec<Health>,
}

/// Signing keys older than this are due for rotation (yearly, as the
/// ANSSI's guide on cryptographic mechanisms advises).
pub(super) const KEY_ROTATION_DAYS: i64 = 365;

/// The login methods the chart separates, then the sessions without one.
const METHODS: [Option<LoginMethod>; 4] = [
    Some(LoginMethod::Badge),
    Some(LoginMethod::Fido2),
    Some(LoginMethod::Psc),
    None,
];

/// Logins per hour by method over the 24 hours ending with the current
/// one (local time): the chart and its table.
fn logins_per_hour(
    lang: crate::pages::Lang,
    now: chrono::DateTime<chrono::Utc>,
    per_hour: &[(i64, Option<LoginMethod>, i64)],
) -> (StackedBars, Vec<(String, Vec<i64>)>) {
    let hour_start = now.timestamp() - now.timestamp().rem_euclid(3600);
    let first = hour_start - 23 * 3600;
    let mut counts = vec![vec![0i64; METHODS.len()]; 24];
    for (hour, method, n) in per_hour {
        let slot = hour - first / 3600;
        if !(0..24).contains(&slot) {
            continue;
        }
        let series = METHODS.iter().position(|m| m == method).unwrap_or(3);
        counts[slot as usize][series] += n;
    }
    let labels: Vec<String> = (0..24)
        .map(|i| {
            chrono::DateTime::from_timestamp(first + i * 3600, 0)
                .map(|t| t.with_timezone(&chrono::Local).format("%Hh").to_string())
                .unwrap_or_default()
        })
        .collect();
    let series = METHODS
        .iter()
        .map(|m| {
            lang.tr(match m {
                Some(LoginMethod::Badge) => "method-badge",
                Some(LoginMethod::Fido2) => "method-fido2",
                Some(LoginMethod::Psc) => "method-psc",
                None => "method-other",
            })
        })
        .collect();
    let bars = StackedBars::new(&counts, &labels, series, 3);
    (bars, labels.into_iter().zip(counts).collect())
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
    let at = state.clock.now();
    let now = at.timestamp();
    let (logins, login_rows) = logins_per_hour(
        lang,
        at,
        &SsoSessionRow::opened_per_hour(&mut conn, now - now.rem_euclid(3600) - 23 * 3600).await?,
    );
    // The last 24 hours' failures, each with its search in the journal
    // for those who read it.
    let since_us = (now - 24 * 3600) * 1_000_000;
    let counted = AuditEventRow::count_since(
        &mut conn,
        &[
            AuditAction::LoginFailed.as_str(),
            AuditAction::BadgeRefused.as_str(),
            AuditAction::BadgePinLocked.as_str(),
        ],
        since_us,
    )
    .await?;
    let from_day = (at - chrono::Duration::hours(24))
        .with_timezone(&chrono::Local)
        .date_naive();
    let recent = [
        (
            "failed-logins",
            AuditAction::LoginFailed,
            "dashboard-failed-logins",
        ),
        (
            "refused-badges",
            AuditAction::BadgeRefused,
            "dashboard-refused-badges",
        ),
        (
            "pin-lockouts",
            AuditAction::BadgePinLocked,
            "dashboard-pin-lockouts",
        ),
    ]
    .into_iter()
    .map(|(id, action, label)| Recent {
        id,
        label: lang.tr(label),
        count: counted
            .iter()
            .find(|(a, _)| a == action.as_str())
            .map(|(_, n)| *n)
            .unwrap_or(0),
        href: op
            .may(Area::Audit, Access::Read)
            .then(|| format!("/console/audit?action={action}&from={from_day}")),
    })
    .collect();
    let keys_to_rotate = OidcKeyRow::published(&mut conn, now)
        .await?
        .into_iter()
        .filter(|k| k.retired_at.is_none())
        .map(|k| (k.alg, k.kid, (now - k.created_at) / 86_400))
        .filter(|(_, _, age)| *age >= KEY_ROTATION_DAYS)
        .collect();
    let mut health = vec![Health {
        label: lang.tr("health-database"),
        value: lang.tr("health-ok"),
        ok: true,
    }];
    if let Some(server_ms) = state.db.server_clock_ms().await? {
        let skew = clavis_core::clock::SystemClock.now().timestamp_millis() - server_ms;
        let ok = crate::health::clock_agrees(skew);
        health.push(Health {
            label: lang.tr("health-clock"),
            value: lang.tr1("health-clock-skew", "ms", skew),
            ok,
        });
    }
    let (owed, oldest) = LogoutOutboxRow::backlog(&mut conn).await?;
    health.push(Health {
        label: lang.tr("health-logouts"),
        value: match oldest {
            Some(t) => lang.tr_args(
                "health-logouts-owed",
                &super::compliance::fluent_args(&[
                    ("count", owed.to_string()),
                    ("since", local_time_secs(t)),
                ]),
            ),
            None => lang.tr("health-ok"),
        },
        // Owed for more than 10 minutes: something does not answer.
        ok: oldest.is_none_or(|t| now - t < 600),
    });
    let p = DashboardPage {
        c: op.chrome(Area::Dashboard, lang.tr("area-dashboard")),
        statuses,
        open_cases: ReconciliationCase::count(&mut conn, true).await?,
        live_sessions: SsoSessionRow::count_live(&mut conn, now).await?,
        runs,
        audit_head: AuditEventRow::head(&mut conn).await?.0,
        logins,
        login_rows,
        recent,
        expiring_badges: BadgeRow::count_expiring(&mut conn, now, now + 7 * 86_400).await?,
        keys_to_rotate,
        may_see_keys: op.may(Area::Applications, Access::Read),
        health,
    };
    page(&p)
}

/// Registers the dashboard.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(dashboard);
}
