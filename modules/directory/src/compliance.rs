//! The compliance indicators a hospital reports for the RIE (PGSSI-S) and
//! HospiConnect, computed from the directory, the authenticators, the
//! sessions and the links to Pro Santé Connect, each with the list of
//! people behind it:
//!
//! - staff with a second factor they can use (a security key, a badge), and
//!   the share of logins done with two factors over the last 30 days;
//! - professionals with an RPPS, and with the RPPS verified within two
//!   years (an e-CPS link to Pro Santé Connect, or an operator's check) —
//!   EXI 27;
//! - departed people who still hold anything that lets them in (an
//!   account, a session, a key, a badge, a link to PSC, a habilitation):
//!   must be none; and how long after the HR departure date access closed;
//! - arrivals: how long after the HR arrival date the first authenticator
//!   was made;
//! - how people signed in (method, acr, amr);
//! - reconciliation cases open longer than `case_age_days`.
//!
//! The population is `[directory.compliance]` ([`ComplianceConfig`]):
//! every member of staff, or the RPPS professions. Everything is asked of
//! the database in a few set queries, whatever the directory's size.

use crate::config::{ComplianceConfig, ComplianceScope};
use crate::error::DirectoryError;
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use clavis_core::{LifecycleStatus, LoginMethod, Oid};
use clavis_store::DbConn;
use clavis_store::models::ReconciliationCase;
use clavis_store::models::compliance::{self as q, ScopeRow, SnapshotRow};
use serde::Serialize;
use std::collections::HashSet;

/// How long an RPPS verification stays valid (EXI 27): two years.
pub const RPPS_VERIFICATION_DAYS: i64 = 730;
/// The period of the login figures.
pub const LOGIN_PERIOD_DAYS: i64 = 30;
/// The period of the arrival and departure delays.
pub const DELAY_PERIOD_DAYS: i64 = 365;

/// A share: how many of how many, and who is missing.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Indicator {
    /// Counted.
    pub numerator: i64,
    /// Out of.
    pub denominator: i64,
    /// The people not counted (those to act on), when the indicator is
    /// about people.
    pub missing: Vec<Oid>,
}

impl Indicator {
    /// The share in percent (`None` out of nobody).
    pub fn percent(&self) -> Option<f64> {
        (self.denominator > 0).then(|| 100.0 * self.numerator as f64 / self.denominator as f64)
    }
}

/// Delays in seconds over a set of people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delays {
    /// How many people.
    pub count: usize,
    /// The median (seconds).
    pub median_secs: i64,
    /// The longest (seconds).
    pub max_secs: i64,
}

impl Delays {
    fn of(mut secs: Vec<i64>) -> Option<Delays> {
        if secs.is_empty() {
            return None;
        }
        secs.sort_unstable();
        let n = secs.len();
        let median = if n % 2 == 1 {
            secs[n / 2]
        } else {
            (secs[n / 2 - 1] + secs[n / 2]) / 2
        };
        Some(Delays {
            count: n,
            median_secs: median,
            max_secs: secs[n - 1],
        })
    }
}

/// A departed person who still holds something, and what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StillActive {
    pub oid: Oid,
    /// `account`, `session`, `key`, `badge`, `psc_link`, `habilitation`.
    pub holds: Vec<&'static str>,
}

/// How many sessions were opened one way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoginCount {
    pub method: Option<LoginMethod>,
    pub acr: String,
    /// The amr, as asserted (JSON list).
    pub amr: String,
    pub count: i64,
}

/// A reconciliation case left open too long.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OldCase {
    pub id: String,
    pub entry: String,
    pub opened_at: i64,
}

/// Every indicator at one instant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// When computed.
    pub at: DateTime<Utc>,
    /// The population.
    pub scope: ComplianceScope,
    /// Active people in scope.
    pub active: i64,
    /// Active people in scope with an authenticator they can use.
    pub second_factor: Indicator,
    /// Sessions of the last [`LOGIN_PERIOD_DAYS`] opened with two factors
    /// (amr `mfa`), out of all.
    pub mfa_logins: Indicator,
    /// Active people in scope with an RPPS.
    pub rpps: Indicator,
    /// Of those, with the RPPS verified within [`RPPS_VERIFICATION_DAYS`].
    pub rpps_verified: Indicator,
    /// Departed people who still hold something (must be empty).
    pub departed_still_active: Vec<StillActive>,
    /// From the day after the HR departure date to the closing, for the
    /// departures of the last [`DELAY_PERIOD_DAYS`].
    pub departure_delay: Option<Delays>,
    /// From the HR arrival date to the first authenticator, for the
    /// arrivals of the last [`DELAY_PERIOD_DAYS`].
    pub arrival_delay: Option<Delays>,
    /// Arrivals of the period without any authenticator yet.
    pub arrived_unequipped: Vec<Oid>,
    /// Sessions of the last [`LOGIN_PERIOD_DAYS`] by method, acr, amr.
    pub logins: Vec<LoginCount>,
    /// Cases open longer than `case_age_days`, oldest first.
    pub old_cases: Vec<OldCase>,
    /// Habilitations a review confirmed within [`DELAY_PERIOD_DAYS`], out
    /// of all (HospiConnect's yearly review).
    pub habilitations_reviewed: Indicator,
}

/// Whether `row` is in the population.
fn in_scope(cfg: &ComplianceConfig, row: &ScopeRow) -> bool {
    match cfg.scope {
        ComplianceScope::All => true,
        ComplianceScope::RppsProfessions => {
            let professions: Vec<String> =
                serde_json::from_str(&row.professions).unwrap_or_default();
            professions
                .iter()
                .any(|p| cfg.rpps_professions.iter().any(|r| r == p))
        }
    }
}

/// The start of a `YYYY-MM-DD` day, as Unix seconds (UTC midnight: the
/// delays are reported in hours and days, not to the minute).
fn day_start(date: &str) -> Option<i64> {
    NaiveDate::parse_from_str(date, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp())
}

/// Computes every indicator at `now`.
#[tracing::instrument(skip_all)]
pub async fn report(
    conn: &mut DbConn,
    cfg: &ComplianceConfig,
    now: DateTime<Utc>,
) -> Result<Report, DirectoryError> {
    let ts = now.timestamp();
    let people = q::people(
        conn,
        &[
            LifecycleStatus::Active,
            LifecycleStatus::Departed,
            LifecycleStatus::Suspended,
        ],
    )
    .await?;
    let equipped: HashSet<Oid> = q::usable_authenticator_holders(conn, ts)
        .await?
        .into_iter()
        .collect();
    let active: Vec<&ScopeRow> = people
        .iter()
        .filter(|p| p.status == LifecycleStatus::Active && in_scope(cfg, p))
        .collect();

    let mut second_factor = Indicator {
        denominator: active.len() as i64,
        ..Indicator::default()
    };
    let mut rpps = Indicator {
        denominator: active.len() as i64,
        ..Indicator::default()
    };
    let mut rpps_verified = Indicator::default();
    let verified_since = ts - RPPS_VERIFICATION_DAYS * 86_400;
    for p in &active {
        if equipped.contains(&p.oid) {
            second_factor.numerator += 1;
        } else {
            second_factor.missing.push(p.oid);
        }
        if p.rpps.is_some() {
            rpps.numerator += 1;
            rpps_verified.denominator += 1;
            if p.rpps_verified_at.is_some_and(|t| t >= verified_since) {
                rpps_verified.numerator += 1;
            } else {
                rpps_verified.missing.push(p.oid);
            }
        } else {
            rpps.missing.push(p.oid);
        }
    }

    // Departed people still holding something.
    let held = q::departed_still_active(conn, ts, &local_day(now).to_string()).await?;
    let mut still: std::collections::BTreeMap<Oid, Vec<&'static str>> = Default::default();
    for (what, oids) in [
        ("account", &held.accounts),
        ("session", &held.sessions),
        ("key", &held.keys),
        ("badge", &held.badges),
        ("psc_link", &held.psc_links),
        ("habilitation", &held.habilitations),
    ] {
        for oid in oids {
            still.entry(*oid).or_default().push(what);
        }
    }
    let in_scope_oids: HashSet<Oid> = people
        .iter()
        .filter(|p| in_scope(cfg, p))
        .map(|p| p.oid)
        .collect();
    let departed_still_active = still
        .into_iter()
        .filter(|(oid, _)| in_scope_oids.contains(oid))
        .map(|(oid, holds)| StillActive { oid, holds })
        .collect();

    // Delays over the period.
    let period_start = ts - DELAY_PERIOD_DAYS * 86_400;
    let departure_delay = Delays::of(
        people
            .iter()
            .filter(|p| p.status == LifecycleStatus::Departed && in_scope(cfg, p))
            .filter(|p| p.status_changed_at >= period_start)
            .filter_map(|p| {
                let end = day_start(p.departure_date.as_deref()?)? + 86_400;
                Some((p.status_changed_at - end).max(0))
            })
            .collect(),
    );
    let first: std::collections::HashMap<Oid, i64> =
        q::first_authenticator_at(conn).await?.into_iter().collect();
    let mut arrival_secs = Vec::new();
    let mut arrived_unequipped = Vec::new();
    for p in &active {
        let Some(arrived) = p.arrival_date.as_deref().and_then(day_start) else {
            continue;
        };
        if arrived < period_start || arrived > ts {
            continue;
        }
        match first.get(&p.oid) {
            Some(at) => arrival_secs.push((at - arrived).max(0)),
            None => arrived_unequipped.push(p.oid),
        }
    }

    let since = (now - Duration::days(LOGIN_PERIOD_DAYS)).timestamp();
    let logins: Vec<LoginCount> = q::logins_since(conn, since)
        .await?
        .into_iter()
        .map(|(method, acr, amr, count)| LoginCount {
            method,
            acr,
            amr,
            count,
        })
        .collect();
    let mut mfa_logins = Indicator::default();
    for l in &logins {
        mfa_logins.denominator += l.count;
        let amr: Vec<String> = serde_json::from_str(&l.amr).unwrap_or_default();
        if amr.iter().any(|a| a == "mfa") {
            mfa_logins.numerator += l.count;
        }
    }

    let too_old = ts - i64::from(cfg.case_age_days) * 86_400;
    let mut old_cases: Vec<OldCase> = ReconciliationCase::list(conn, true, 100_000, 0)
        .await?
        .into_iter()
        .filter(|c| c.opened_at < too_old)
        .map(|c| OldCase {
            id: c.id,
            entry: c.entry_ref,
            opened_at: c.opened_at,
        })
        .collect();
    old_cases.sort_by_key(|c| c.opened_at);
    let (all_habilitations, reviewed) =
        clavis_store::models::HabilitationRow::count_reviewed_since(conn, period_start).await?;

    Ok(Report {
        at: now,
        scope: cfg.scope,
        active: active.len() as i64,
        second_factor,
        mfa_logins,
        rpps,
        rpps_verified,
        departed_still_active,
        departure_delay,
        arrival_delay: Delays::of(arrival_secs),
        arrived_unequipped,
        logins,
        old_cases,
        habilitations_reviewed: Indicator {
            numerator: reviewed,
            denominator: all_habilitations,
            missing: vec![],
        },
    })
}

/// An indicator followed over time (its daily figure kept in
/// `compliance_snapshots`, its 12-month trend drawn from them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Followed {
    /// Active staff with a usable second factor (a share).
    SecondFactor,
    /// Logins with two factors over 30 days (a share).
    MfaLogins,
    /// Professionals with an RPPS (a share).
    Rpps,
    /// RPPS verified within two years (a share).
    RppsVerified,
    /// Departed people still holding something (a count; must be 0).
    Departed,
    /// Median delay from the HR departure date to the closing (seconds).
    DepartureDelay,
    /// Arrivals of the year without any authenticator (a count).
    Arrivals,
    /// Median delay from the HR arrival to the first authenticator
    /// (seconds).
    ArrivalDelay,
    /// Habilitations confirmed within 12 months (a share).
    HabilitationsReviewed,
    /// Reconciliation cases open too long (a count).
    Cases,
}

impl Followed {
    /// Every one, in the dashboard's order.
    pub const ALL: [Followed; 10] = [
        Self::SecondFactor,
        Self::MfaLogins,
        Self::Rpps,
        Self::RppsVerified,
        Self::Departed,
        Self::DepartureDelay,
        Self::Arrivals,
        Self::ArrivalDelay,
        Self::HabilitationsReviewed,
        Self::Cases,
    ];

    /// The stored name (the dashboard's line id).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SecondFactor => "second-factor",
            Self::MfaLogins => "mfa-logins",
            Self::Rpps => "rpps",
            Self::RppsVerified => "rpps-verified",
            Self::Departed => "departed",
            Self::DepartureDelay => "departure-delay",
            Self::Arrivals => "arrivals",
            Self::ArrivalDelay => "arrival-delay",
            Self::HabilitationsReviewed => "habilitations-reviewed",
            Self::Cases => "cases",
        }
    }
}

/// What an indicator's figure is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FigureKind {
    /// A share of a whole (percent).
    Share,
    /// A number of people or cases.
    Count,
    /// A duration in seconds.
    Delay,
}

impl Followed {
    /// What its figure is.
    pub fn kind(self) -> FigureKind {
        match self {
            Self::SecondFactor
            | Self::MfaLogins
            | Self::Rpps
            | Self::RppsVerified
            | Self::HabilitationsReviewed => FigureKind::Share,
            Self::Departed | Self::Arrivals | Self::Cases => FigureKind::Count,
            Self::DepartureDelay | Self::ArrivalDelay => FigureKind::Delay,
        }
    }
}

/// One figure: a numerator, and the whole for a share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Figure {
    pub numerator: i64,
    pub denominator: Option<i64>,
}

impl Figure {
    /// The figure as plotted: a share in percent (`None` out of nobody), a
    /// count as is, a delay in hours.
    pub fn value(self, kind: FigureKind) -> Option<f64> {
        match kind {
            FigureKind::Share => self
                .denominator
                .filter(|d| *d > 0)
                .map(|d| 100.0 * self.numerator as f64 / d as f64),
            FigureKind::Count => Some(self.numerator as f64),
            FigureKind::Delay => Some(self.numerator as f64 / 3600.0),
        }
    }
}

impl Report {
    /// The figure of each followed indicator (a delay with nobody to
    /// measure has none).
    pub fn figures(&self) -> Vec<(Followed, Figure)> {
        let share = |i: &Indicator| {
            Some(Figure {
                numerator: i.numerator,
                denominator: Some(i.denominator),
            })
        };
        let count = |n: usize| {
            Some(Figure {
                numerator: n as i64,
                denominator: None,
            })
        };
        let delay = |d: &Option<Delays>| {
            d.as_ref().map(|d| Figure {
                numerator: d.median_secs,
                denominator: None,
            })
        };
        Followed::ALL
            .iter()
            .filter_map(|f| {
                let figure = match f {
                    Followed::SecondFactor => share(&self.second_factor),
                    Followed::MfaLogins => share(&self.mfa_logins),
                    Followed::Rpps => share(&self.rpps),
                    Followed::RppsVerified => share(&self.rpps_verified),
                    Followed::Departed => count(self.departed_still_active.len()),
                    Followed::DepartureDelay => delay(&self.departure_delay),
                    Followed::Arrivals => count(self.arrived_unequipped.len()),
                    Followed::ArrivalDelay => delay(&self.arrival_delay),
                    Followed::HabilitationsReviewed => share(&self.habilitations_reviewed),
                    Followed::Cases => count(self.old_cases.len()),
                }?;
                Some((*f, figure))
            })
            .collect()
    }
}

/// The local day of `now` (`YYYY-MM-DD`): snapshots are by the hospital's
/// day.
fn local_day(now: DateTime<Utc>) -> NaiveDate {
    now.with_timezone(&chrono::Local).date_naive()
}

/// Records `report`'s figures as its local day's (the day's latest
/// figures are the day's).
pub async fn record_snapshot(conn: &mut DbConn, report: &Report) -> Result<(), DirectoryError> {
    let day = local_day(report.at).to_string();
    let rows: Vec<SnapshotRow> = report
        .figures()
        .into_iter()
        .map(|(f, fig)| SnapshotRow {
            taken_on: day.clone(),
            indicator: f.as_str().to_string(),
            numerator: fig.numerator,
            denominator: fig.denominator,
            taken_at: report.at.timestamp(),
        })
        .collect();
    Ok(SnapshotRow::upsert_day(conn, &rows).await?)
}

/// Takes today's snapshot unless one was taken (by this node or another,
/// or by the dashboard, which records the figures it computes): whether
/// one was taken now. The daily job calls this, so that every day has its
/// figures even when nobody opens the dashboard.
pub async fn snapshot_if_due(
    conn: &mut DbConn,
    cfg: &ComplianceConfig,
    now: DateTime<Utc>,
) -> Result<bool, DirectoryError> {
    if SnapshotRow::has_day(conn, &local_day(now).to_string()).await? {
        return Ok(false);
    }
    let r = report(conn, cfg, now).await?;
    record_snapshot(conn, &r).await?;
    Ok(true)
}

/// The months of a trend, oldest first (`YYYY-MM`), and for each followed
/// indicator its figure in each month: the last recorded in that month.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Trends {
    pub months: Vec<String>,
    pub series: Vec<(Followed, Vec<Option<Figure>>)>,
}

impl Trends {
    /// The series of one indicator.
    pub fn of(&self, f: Followed) -> &[Option<Figure>] {
        self.series
            .iter()
            .find(|(g, _)| *g == f)
            .map(|(_, s)| s.as_slice())
            .unwrap_or(&[])
    }
}

/// The trends over the `months` months ending with the current one.
pub async fn trends(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    months: u32,
) -> Result<Trends, DirectoryError> {
    let today = local_day(now);
    let first = chrono::NaiveDate::from_ymd_opt(today.year(), today.month(), 1)
        .and_then(|d| d.checked_sub_months(chrono::Months::new(months.saturating_sub(1))))
        .ok_or_else(|| DirectoryError::Corrupt("the trend's first month".into()))?;
    let labels: Vec<String> = (0..months)
        .filter_map(|i| first.checked_add_months(chrono::Months::new(i)))
        .map(|d| d.format("%Y-%m").to_string())
        .collect();
    let rows = SnapshotRow::since(conn, &first.to_string()).await?;
    let series = Followed::ALL
        .iter()
        .map(|f| {
            let name = f.as_str();
            let points = labels
                .iter()
                .map(|m| {
                    // Rows are oldest first: the month's last one wins.
                    rows.iter()
                        .rfind(|r| r.indicator == name && r.taken_on.starts_with(m.as_str()))
                        .map(|r| Figure {
                            numerator: r.numerator,
                            denominator: r.denominator,
                        })
                })
                .collect();
            (*f, points)
        })
        .collect();
    Ok(Trends {
        months: labels,
        series,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_have_a_median_and_a_max() {
        assert_eq!(Delays::of(vec![]), None);
        let d = Delays::of(vec![30, 10, 20]).expect("some");
        assert_eq!((d.count, d.median_secs, d.max_secs), (3, 20, 30));
        let d = Delays::of(vec![40, 10, 20, 30]).expect("some");
        assert_eq!((d.median_secs, d.max_secs), (25, 40));
    }

    #[test]
    fn the_rpps_scope_counts_the_rpps_professions_only() {
        let row = |professions: &str| ScopeRow {
            oid: Oid::new_random(),
            status: LifecycleStatus::Active,
            professions: professions.into(),
            rpps: None,
            rpps_verified_at: None,
            arrival_date: None,
            departure_date: None,
            status_changed_at: 0,
        };
        let mut cfg = ComplianceConfig::default();
        assert!(in_scope(&cfg, &row("[]")));
        cfg.scope = ComplianceScope::RppsProfessions;
        assert!(in_scope(&cfg, &row("[\"60\"]")));
        assert!(in_scope(&cfg, &row("[\"99\",\"10\"]")));
        assert!(!in_scope(&cfg, &row("[\"99\"]")));
        assert!(!in_scope(&cfg, &row("[]")));
        assert_eq!(
            Indicator {
                numerator: 1,
                denominator: 4,
                missing: vec![]
            }
            .percent(),
            Some(25.0)
        );
        assert_eq!(Indicator::default().percent(), None);
    }
}
