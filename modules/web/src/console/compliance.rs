//! The compliance dashboard (Conformité): the RIE and HospiConnect
//! indicators of [`clavis_directory::compliance`], each with its figure
//! and, one click away, the people behind it.
//!
//! - `GET /console/compliance` — every indicator with its 12-month trend
//!   (drawn from the daily snapshots, [`compliance::trends`]; opening the
//!   page takes the day's snapshot if the daily job has not yet).
//! - `GET /console/compliance/{list}` — the people (or cases) behind one:
//!   `second-factor`, `rpps`, `rpps-verified`, `departed`, `arrivals`,
//!   `cases`.
//! - The printable report: [`super::compliance_report`].

use super::charts::Sparkline;
use super::{Chrome, Operator, local_time_secs, page};
use crate::AppState;
use crate::error::ApiError;
use crate::pages::Lang;
use actix_web::{HttpResponse, get, web};
use askama::Template;
use clavis_core::Oid;
use clavis_core::roles::Area;
use clavis_directory::compliance::{self, Delays, Figure, FigureKind, Followed, Indicator, Report};
use clavis_directory::config::ComplianceScope;

/// One line of the dashboard.
pub(super) struct Line {
    pub id: &'static str,
    pub label: String,
    pub value: String,
    /// `ok`, `warn` or `bad`.
    pub level: &'static str,
    pub list: Option<String>,
    /// The indicator whose trend this line shows.
    pub followed: Followed,
    /// Its 12-month trend (on the dashboard).
    pub trend: Option<Sparkline>,
}

pub(super) struct LoginLine {
    pub method: String,
    pub acr: String,
    pub amr: String,
    pub count: i64,
}

/// One indicator's figures month by month.
pub(super) struct TrendRow {
    pub label: String,
    pub cells: Vec<String>,
}

#[derive(Template)]
#[template(path = "console/compliance.html")]
struct DashboardPage {
    c: Chrome,
    at: String,
    scope: String,
    lines: Vec<Line>,
    logins: Vec<LoginLine>,
    months: Vec<String>,
    trend_rows: Vec<TrendRow>,
}

pub(super) fn share(lang: Lang, i: &Indicator) -> String {
    match i.percent() {
        Some(p) => lang.tr_args(
            "compliance-share",
            &fluent_args(&[
                ("percent", format!("{p:.1}")),
                ("numerator", i.numerator.to_string()),
                ("denominator", i.denominator.to_string()),
            ]),
        ),
        None => lang.tr("compliance-nobody"),
    }
}

pub(super) fn fluent_args(pairs: &[(&str, String)]) -> fluent_bundle::FluentArgs<'static> {
    let mut a = fluent_bundle::FluentArgs::new();
    for (k, v) in pairs {
        a.set(k.to_string(), v.clone());
    }
    a
}

/// A duration as operators read it: days and hours.
pub(super) fn duration(lang: Lang, secs: i64) -> String {
    let hours = secs / 3600;
    lang.tr_args(
        "compliance-duration",
        &fluent_args(&[
            ("days", (hours / 24).to_string()),
            ("hours", (hours % 24).to_string()),
        ]),
    )
}

pub(super) fn delays(lang: Lang, d: &Option<Delays>) -> String {
    match d {
        Some(d) => lang.tr_args(
            "compliance-delays",
            &fluent_args(&[
                ("median", duration(lang, d.median_secs)),
                ("max", duration(lang, d.max_secs)),
                ("count", d.count.to_string()),
            ]),
        ),
        None => lang.tr("compliance-nobody"),
    }
}

/// Green at or above `good` percent, orange below, red below `bad`.
fn level(i: &Indicator, good: f64, bad: f64) -> &'static str {
    match i.percent() {
        Some(p) if p >= good => "ok",
        Some(p) if p >= bad => "warn",
        Some(_) => "bad",
        None => "ok",
    }
}

async fn compute(state: &AppState) -> Result<Report, ApiError> {
    let mut conn = state.db.conn().await?;
    Ok(compliance::report(&mut conn, &state.directory.compliance, state.clock.now()).await?)
}

/// The months a trend covers.
pub(super) const TREND_MONTHS: u32 = 12;

/// The report now and the trends of the last [`TREND_MONTHS`] months,
/// the day's snapshot taken on the way if none was.
pub(super) async fn compute_with_trends(
    state: &AppState,
) -> Result<(Report, compliance::Trends), ApiError> {
    let mut conn = state.db.conn().await?;
    let now = state.clock.now();
    let r = compliance::report(&mut conn, &state.directory.compliance, now).await?;
    compliance::record_snapshot(&mut conn, &r).await?;
    let trends = compliance::trends(&mut conn, now, TREND_MONTHS).await?;
    Ok((r, trends))
}

/// A figure as the trend table shows it: a share in percent, a count, a
/// delay in days and hours; a month without a snapshot, a dash.
pub(super) fn figure_text(lang: Lang, kind: FigureKind, f: Option<Figure>) -> String {
    let Some(f) = f else {
        return "—".into();
    };
    match kind {
        FigureKind::Share => f
            .value(kind)
            .map(|p| lang.tr1("compliance-percent", "percent", format!("{p:.1}")))
            .unwrap_or_else(|| "—".into()),
        FigureKind::Count => f.numerator.to_string(),
        FigureKind::Delay => duration(lang, f.numerator),
    }
}

/// Each indicator's row of the 12-month table.
pub(super) fn trend_rows(lang: Lang, lines: &[Line], t: &compliance::Trends) -> Vec<TrendRow> {
    lines
        .iter()
        .map(|l| TrendRow {
            label: l.label.clone(),
            cells: t
                .of(l.followed)
                .iter()
                .map(|f| figure_text(lang, l.followed.kind(), *f))
                .collect(),
        })
        .collect()
}

/// The sparkline of one indicator over `t`'s months.
fn sparkline(lang: Lang, label: &str, f: Followed, t: &compliance::Trends) -> Sparkline {
    let kind = f.kind();
    let series = t.of(f);
    let values: Vec<Option<f64>> = series
        .iter()
        .map(|x| x.and_then(|x| x.value(kind)))
        .collect();
    let known: Vec<(usize, Figure)> = series
        .iter()
        .enumerate()
        .filter_map(|(i, x)| x.map(|x| (i, x)))
        .collect();
    let said = match (known.first(), known.last()) {
        (Some((i, first)), Some((j, last))) => lang.tr_args(
            "compliance-trend-label",
            &fluent_args(&[
                ("label", label.to_string()),
                ("from", figure_text(lang, kind, Some(*first))),
                ("from_month", t.months[*i].clone()),
                ("to", figure_text(lang, kind, Some(*last))),
                ("to_month", t.months[*j].clone()),
            ]),
        ),
        _ => lang.tr("compliance-no-history"),
    };
    let top = if kind == FigureKind::Share {
        100.0
    } else {
        1.0
    };
    Sparkline::new(&values, top, said)
}

/// The dashboard's lines for report `r`.
pub(super) fn lines(lang: Lang, r: &Report, case_age_days: u32) -> Vec<Line> {
    let list_of = |id: &str| Some(format!("/console/compliance/{id}"));
    let raw = vec![
        Line {
            id: "second-factor",
            followed: Followed::SecondFactor,
            trend: None,
            label: lang.tr("compliance-second-factor"),
            value: share(lang, &r.second_factor),
            level: level(&r.second_factor, 95.0, 80.0),
            list: list_of("second-factor"),
        },
        Line {
            id: "mfa-logins",
            followed: Followed::MfaLogins,
            trend: None,
            label: lang.tr("compliance-mfa-logins"),
            value: share(lang, &r.mfa_logins),
            level: level(&r.mfa_logins, 99.0, 90.0),
            list: None,
        },
        Line {
            id: "rpps",
            followed: Followed::Rpps,
            trend: None,
            label: lang.tr("compliance-rpps"),
            value: share(lang, &r.rpps),
            level: level(&r.rpps, 95.0, 80.0),
            list: list_of("rpps"),
        },
        Line {
            id: "rpps-verified",
            followed: Followed::RppsVerified,
            trend: None,
            label: lang.tr("compliance-rpps-verified"),
            value: share(lang, &r.rpps_verified),
            level: level(&r.rpps_verified, 95.0, 80.0),
            list: list_of("rpps-verified"),
        },
        Line {
            id: "departed",
            followed: Followed::Departed,
            trend: None,
            label: lang.tr("compliance-departed"),
            value: r.departed_still_active.len().to_string(),
            level: if r.departed_still_active.is_empty() {
                "ok"
            } else {
                "bad"
            },
            list: list_of("departed"),
        },
        Line {
            id: "departure-delay",
            followed: Followed::DepartureDelay,
            trend: None,
            label: lang.tr("compliance-departure-delay"),
            value: delays(lang, &r.departure_delay),
            level: "ok",
            list: None,
        },
        Line {
            id: "arrival-delay",
            followed: Followed::ArrivalDelay,
            trend: None,
            label: lang.tr("compliance-arrival-delay"),
            value: delays(lang, &r.arrival_delay),
            level: "ok",
            list: None,
        },
        Line {
            id: "arrivals",
            followed: Followed::Arrivals,
            trend: None,
            label: lang.tr("compliance-arrived-unequipped"),
            value: r.arrived_unequipped.len().to_string(),
            level: if r.arrived_unequipped.is_empty() {
                "ok"
            } else {
                "warn"
            },
            list: list_of("arrivals"),
        },
        Line {
            id: "reviewed",
            followed: Followed::HabilitationsReviewed,
            trend: None,
            label: lang.tr("compliance-reviewed"),
            value: share(lang, &r.habilitations_reviewed),
            level: level(&r.habilitations_reviewed, 95.0, 50.0),
            list: None,
        },
        Line {
            id: "cases",
            followed: Followed::Cases,
            trend: None,
            label: lang.tr1("compliance-old-cases", "days", case_age_days),
            value: r.old_cases.len().to_string(),
            level: if r.old_cases.is_empty() { "ok" } else { "warn" },
            list: list_of("cases"),
        },
    ];
    raw
}

/// The population's name.
pub(super) fn scope_label(lang: Lang, r: &Report) -> String {
    lang.tr(match r.scope {
        ComplianceScope::All => "compliance-scope-all",
        ComplianceScope::RppsProfessions => "compliance-scope-rpps",
    })
}

/// How people signed in.
pub(super) fn login_lines(r: &Report) -> Vec<LoginLine> {
    r.logins
        .iter()
        .map(|l| LoginLine {
            method: l.method.map(|m| m.to_string()).unwrap_or_default(),
            acr: l.acr.clone(),
            amr: serde_json::from_str::<Vec<String>>(&l.amr)
                .map(|a| a.join(" "))
                .unwrap_or_else(|_| l.amr.clone()),
            count: l.count,
        })
        .collect()
}

#[get("/compliance")]
async fn dashboard(op: Operator, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let lang = op.lang;
    let (r, trends) = compute_with_trends(&state).await?;
    let mut lines = lines(lang, &r, state.directory.compliance.case_age_days);
    for l in &mut lines {
        l.trend = Some(sparkline(lang, &l.label, l.followed, &trends));
    }
    let p = DashboardPage {
        c: op.chrome(Area::Compliance, lang.tr("area-compliance")),
        at: super::local_time(r.at),
        scope: scope_label(lang, &r),
        trend_rows: trend_rows(lang, &lines, &trends),
        months: trends.months.clone(),
        lines,
        logins: login_lines(&r),
    };
    page(&p)
}

struct Person {
    oid: String,
    name: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "console/compliance_list.html")]
struct ListPage {
    c: Chrome,
    intro: String,
    people: Vec<Person>,
    cases: Vec<(String, String, String)>,
}

#[get("/compliance/{list}")]
async fn behind(
    op: Operator,
    state: web::Data<AppState>,
    which: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let lang = op.lang;
    let r = compute(&state).await?;
    let (title, rows): (&str, Vec<(Oid, String)>) = match which.as_str() {
        "second-factor" => (
            "compliance-second-factor",
            r.second_factor
                .missing
                .iter()
                .map(|o| (*o, String::new()))
                .collect(),
        ),
        "rpps" => (
            "compliance-rpps",
            r.rpps.missing.iter().map(|o| (*o, String::new())).collect(),
        ),
        "rpps-verified" => (
            "compliance-rpps-verified",
            r.rpps_verified
                .missing
                .iter()
                .map(|o| (*o, String::new()))
                .collect(),
        ),
        "departed" => (
            "compliance-departed",
            r.departed_still_active
                .iter()
                .map(|s| {
                    (
                        s.oid,
                        s.holds
                            .iter()
                            .map(|h| lang.tr(&format!("compliance-holds-{}", h.replace('_', "-"))))
                            .collect::<Vec<_>>()
                            .join(", "),
                    )
                })
                .collect(),
        ),
        "arrivals" => (
            "compliance-arrived-unequipped",
            r.arrived_unequipped
                .iter()
                .map(|o| (*o, String::new()))
                .collect(),
        ),
        "cases" => ("compliance-old-cases-title", vec![]),
        _ => return Err(ApiError::NotFound("no such indicator".into())),
    };
    let oids: Vec<Oid> = rows.iter().map(|(o, _)| *o).collect();
    let mut conn = state.db.conn().await?;
    let names = super::person_names(&mut conn, &oids).await?;
    let mut people: Vec<Person> = rows
        .into_iter()
        .map(|(oid, detail)| Person {
            name: names.get(&oid).cloned().unwrap_or_else(|| oid.to_string()),
            oid: oid.to_string(),
            detail,
        })
        .collect();
    people.sort_by(|a, b| a.name.cmp(&b.name));
    let p = ListPage {
        c: op.chrome(Area::Compliance, lang.tr(title)),
        intro: lang.tr1(
            "console-results",
            "count",
            people.len().max(if which.as_str() == "cases" {
                r.old_cases.len()
            } else {
                0
            }) as i64,
        ),
        people,
        cases: if which.as_str() == "cases" {
            r.old_cases
                .iter()
                .map(|c| (c.id.clone(), c.entry.clone(), local_time_secs(c.opened_at)))
                .collect()
        } else {
            vec![]
        },
    };
    page(&p)
}

/// Registers the compliance pages (the report's before `{list}`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(dashboard);
    super::compliance_report::configure(cfg);
    cfg.service(behind);
}
