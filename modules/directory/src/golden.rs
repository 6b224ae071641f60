//! The golden record: one identity computed from every source record linked
//! to it, each field taken from the source whose role owns it.
//!
//! Ownership: `hr` owns identity traits, national ids, contract, dates,
//! professions and assignment; `ad` owns logins, email, phone and the
//! enabled flag. For each role the *primary* record is the one listed by its
//! source now (present) from the first source in precedence order, most
//! recently seen first. A non-owning source may fill a blank required trait
//! but never overwrites an owner's value.
//!
//! The golden record becomes the stored identity row
//! (`identity_row_from`), and two rows' differences the audit's `changes`
//! (`diff`).

use crate::config::{DirectoryConfig, SourceRole};
use crate::mapping::SourceFields;
use chrono::NaiveDate;
use clavis_audit::change;
use clavis_core::names::normalize_search_text;
use clavis_core::{LifecycleStatus, Oid};
use clavis_store::JsonList;
use clavis_store::models::{IdentityRow, SourceRecordRow};
use serde_json::{Map, Value};

/// A linked record with its parsed fields and role.
#[derive(Debug, Clone)]
pub struct LinkedRecord {
    /// The stored row.
    pub row: SourceRecordRow,
    /// Its fields.
    pub fields: SourceFields,
    /// Its source's role.
    pub role: SourceRole,
}

/// The merged view of a person.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Golden {
    /// Merged fields (logins and account flag excluded).
    pub fields: SourceFields,
    /// Whether every HR record has been missing for the configured number of
    /// full runs.
    pub gone_from_hr: bool,
    /// (login, enabled in AD, source) for each AD record.
    pub logins: Vec<(String, bool, String)>,
    /// An operator suspended the person (a suspension in force): suspended
    /// whatever HR says, unless they departed.
    pub held: bool,
}

fn primary<'a>(
    records: &'a [LinkedRecord],
    role: SourceRole,
    cfg: &DirectoryConfig,
    today: NaiveDate,
) -> Option<&'a LinkedRecord> {
    // A record of a running contract wins over a leaver's or an ended one
    // (a rehire whose old entry is still listed), then the source listing
    // it now, then precedence, then the latest arrival.
    let ended =
        |r: &LinkedRecord| r.fields.leaver || r.fields.departure_date.is_some_and(|d| d < today);
    records.iter().filter(|r| r.role == role).min_by_key(|r| {
        (
            !r.row.present,
            ended(r),
            cfg.precedence(&r.row.source),
            std::cmp::Reverse(r.fields.arrival_date),
            -r.row.last_seen_at,
            r.row.external_id.clone(),
        )
    })
}

/// Merges the linked records of one identity, as of `today`.
pub fn merge(records: &[LinkedRecord], cfg: &DirectoryConfig, today: NaiveDate) -> Golden {
    let hr = primary(records, SourceRole::Hr, cfg, today);
    let ad = primary(records, SourceRole::Ad, cfg, today);
    let mut f = hr.map(|r| r.fields.clone()).unwrap_or_default();
    f.login = None;
    f.account_enabled = None;
    // AD-owned fields come from AD only (blank when AD has no value).
    if let Some(ad) = ad {
        f.email = ad.fields.email.clone();
        f.phone = ad.fields.phone.clone();
    } else {
        f.email = None;
        f.phone = None;
    }
    // A non-owner may fill blank required traits (e.g. an identity created
    // by an operator from an AD record).
    let mut others: Vec<&LinkedRecord> = records.iter().collect();
    others.sort_by_key(|r| (!r.row.present, cfg.precedence(&r.row.source)));
    for r in others {
        if f.birth_family_name.is_none() {
            f.birth_family_name = r.fields.birth_family_name.clone();
        }
        if f.birth_given_names.is_empty() {
            f.birth_given_names = r.fields.birth_given_names.clone();
        }
        if f.birth_date.is_none() {
            f.birth_date = r.fields.birth_date;
        }
    }
    let n = cfg.missing_runs_before_departure as i32;
    let hr_records: Vec<&LinkedRecord> = records
        .iter()
        .filter(|r| r.role == SourceRole::Hr)
        .collect();
    let gone_from_hr = !hr_records.is_empty()
        && hr_records
            .iter()
            .all(|r| !r.row.present && r.row.missing_runs >= n);
    let logins = records
        .iter()
        .filter(|r| r.role == SourceRole::Ad && r.row.present)
        .filter_map(|r| {
            r.fields.login.clone().map(|l| {
                (
                    l,
                    r.fields.account_enabled.unwrap_or(true),
                    r.row.source.clone(),
                )
            })
        })
        .collect();
    Golden {
        fields: f,
        gone_from_hr,
        logins,
        held: false,
    }
}

/// Why a person has the status they have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusReason {
    /// HR leaver flag.
    LeaverFlag,
    /// Departure (contract end) date reached.
    EndDateReached,
    /// No longer listed by HR for the configured number of full runs.
    MissingFromSource,
    /// HR suspension flag.
    SuspendedFlag,
    /// Suspended by an operator.
    OperatorSuspension,
    /// Arrival date in the future.
    ArrivalInFuture,
    /// Working.
    Active,
}

impl StatusReason {
    /// The stored form.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::LeaverFlag => "leaver_flag",
            Self::EndDateReached => "end_date_reached",
            Self::MissingFromSource => "missing_from_source",
            Self::SuspendedFlag => "suspended_flag",
            Self::OperatorSuspension => "operator_suspension",
            Self::ArrivalInFuture => "arrival_in_future",
            Self::Active => "active",
        }
    }
}

/// The status the golden record calls for on `today`.
pub fn status_for(g: &Golden, today: NaiveDate) -> (LifecycleStatus, StatusReason) {
    let f = &g.fields;
    if f.leaver {
        return (LifecycleStatus::Departed, StatusReason::LeaverFlag);
    }
    // The departure date is the last day worked: gone the day after.
    if f.departure_date.is_some_and(|d| d < today) {
        return (LifecycleStatus::Departed, StatusReason::EndDateReached);
    }
    if g.gone_from_hr {
        return (LifecycleStatus::Departed, StatusReason::MissingFromSource);
    }
    if g.held {
        return (LifecycleStatus::Suspended, StatusReason::OperatorSuspension);
    }
    if f.suspended {
        return (LifecycleStatus::Suspended, StatusReason::SuspendedFlag);
    }
    if f.arrival_date.is_some_and(|d| d > today) {
        return (LifecycleStatus::Pending, StatusReason::ArrivalInFuture);
    }
    (LifecycleStatus::Active, StatusReason::Active)
}

/// A list column's stored JSON.
pub(crate) fn to_json_list(v: &[String]) -> JsonList<String> {
    JsonList(v.to_vec())
}

/// A list as the audit's `changes` have always shown it: its JSON text.
fn list_text(v: &JsonList<String>) -> Option<String> {
    serde_json::to_string(&v.0).ok()
}

/// The stored identity row golden record `g` makes for `oid` with
/// `status`, keeping what `prev` (the stored row, if any) says of its
/// creation and of when its status last changed.
pub(crate) fn identity_row_from(
    oid: Oid,
    g: &Golden,
    status: LifecycleStatus,
    prev: Option<&IdentityRow>,
    now: i64,
) -> IdentityRow {
    let f = &g.fields;
    let search = normalize_search_text(&format!(
        "{} {} {} {} {} {}",
        f.birth_family_name.as_deref().unwrap_or(""),
        f.used_family_name.as_deref().unwrap_or(""),
        f.birth_given_names.join(" "),
        f.rpps.as_ref().map(|r| r.as_str()).unwrap_or(""),
        f.email.as_deref().unwrap_or(""),
        g.logins
            .iter()
            .map(|(l, _, _)| l.as_str())
            .collect::<Vec<_>>()
            .join(" "),
    ));
    IdentityRow {
        oid,
        status,
        birth_family_name: f.birth_family_name.clone().unwrap_or_default(),
        used_family_name: f.used_family_name.clone(),
        birth_given_names: to_json_list(&f.birth_given_names),
        birth_date: f.birth_date.map(|d| d.to_string()),
        birth_place: f.birth_place.clone(),
        birth_country: f.birth_country.clone(),
        sex: f.sex.clone(),
        email: f.email.clone(),
        phone: f.phone.clone(),
        rpps: f.rpps.as_ref().map(|r| r.as_str().to_string()),
        adeli: f.adeli.as_ref().map(|a| a.as_str().to_string()),
        contract_type: f.contract_type.map(|c| c.as_str().to_string()),
        arrival_date: f.arrival_date.map(|d| d.to_string()),
        departure_date: f.departure_date.map(|d| d.to_string()),
        professions: to_json_list(&f.professions),
        search_text: search,
        created_at: prev.map(|p| p.created_at).unwrap_or(now),
        updated_at: now,
        status_changed_at: match prev {
            Some(p) if p.status == status => p.status_changed_at,
            _ => now,
        },
    }
}

/// The fields that differ between two rows, as audit `changes`.
pub(crate) fn diff(before: &IdentityRow, after: &IdentityRow) -> Map<String, Value> {
    let mut m = Map::new();
    let mut cmp = |k: &str, a: &Option<String>, b: &Option<String>| {
        if a != b {
            m.insert(k.to_string(), change(a, b));
        }
    };
    cmp(
        "status",
        &Some(before.status.to_string()),
        &Some(after.status.to_string()),
    );
    cmp(
        "birth_family_name",
        &Some(before.birth_family_name.clone()),
        &Some(after.birth_family_name.clone()),
    );
    cmp(
        "used_family_name",
        &before.used_family_name,
        &after.used_family_name,
    );
    cmp(
        "birth_given_names",
        &list_text(&before.birth_given_names),
        &list_text(&after.birth_given_names),
    );
    cmp("birth_date", &before.birth_date, &after.birth_date);
    cmp("birth_place", &before.birth_place, &after.birth_place);
    cmp("birth_country", &before.birth_country, &after.birth_country);
    cmp("sex", &before.sex, &after.sex);
    cmp("email", &before.email, &after.email);
    cmp("phone", &before.phone, &after.phone);
    cmp("rpps", &before.rpps, &after.rpps);
    cmp("adeli", &before.adeli, &after.adeli);
    cmp("contract_type", &before.contract_type, &after.contract_type);
    cmp("arrival_date", &before.arrival_date, &after.arrival_date);
    cmp(
        "departure_date",
        &before.departure_date,
        &after.departure_date,
    );
    cmp(
        "professions",
        &list_text(&before.professions),
        &list_text(&after.professions),
    );
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().expect("date")
    }

    fn golden(f: SourceFields) -> Golden {
        Golden {
            fields: f,
            ..Golden::default()
        }
    }

    #[test]
    fn dates_drive_the_status() {
        let today = d("2026-11-22");
        let future = SourceFields {
            arrival_date: Some(d("2026-12-01")),
            ..Default::default()
        };
        assert_eq!(
            status_for(&golden(future), today).0,
            LifecycleStatus::Pending
        );
        let ended_yesterday = SourceFields {
            departure_date: Some(d("2026-11-21")),
            ..Default::default()
        };
        assert_eq!(
            status_for(&golden(ended_yesterday), today),
            (LifecycleStatus::Departed, StatusReason::EndDateReached)
        );
        // The departure date is the last day worked.
        let last_day_today = SourceFields {
            departure_date: Some(today),
            ..Default::default()
        };
        assert_eq!(
            status_for(&golden(last_day_today), today).0,
            LifecycleStatus::Active
        );
        let leaver = SourceFields {
            leaver: true,
            ..Default::default()
        };
        assert_eq!(
            status_for(&golden(leaver), today).1,
            StatusReason::LeaverFlag
        );
    }

    #[test]
    fn an_operators_suspension_outranks_hr_but_not_a_departure() {
        let today = d("2026-11-22");
        let held = |f: SourceFields| Golden {
            fields: f,
            held: true,
            ..Golden::default()
        };
        assert_eq!(
            status_for(&held(SourceFields::default()), today),
            (LifecycleStatus::Suspended, StatusReason::OperatorSuspension)
        );
        // HR's flag too: the operator's suspension is the one named (lifting
        // HR's flag alone does not reinstate).
        let hr_suspended = SourceFields {
            suspended: true,
            ..Default::default()
        };
        assert_eq!(
            status_for(&held(hr_suspended), today).1,
            StatusReason::OperatorSuspension
        );
        // Not yet arrived: suspended all the same.
        let future = SourceFields {
            arrival_date: Some(d("2026-12-01")),
            ..Default::default()
        };
        assert_eq!(
            status_for(&held(future), today).0,
            LifecycleStatus::Suspended
        );
        let leaver = SourceFields {
            leaver: true,
            ..Default::default()
        };
        assert_eq!(
            status_for(&held(leaver), today),
            (LifecycleStatus::Departed, StatusReason::LeaverFlag)
        );
    }
}
