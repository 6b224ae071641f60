//! Applying what sources say: matching a record to an identity, and
//! recomputing an identity (golden record, status, accounts, assignment,
//! lifecycle events, audit) from its linked records.
//!
//! Everything here runs inside the caller's transaction.

use crate::config::{DirectoryConfig, SourceConfig};
use crate::error::DirectoryError;
use crate::golden::{self, Golden, LinkedRecord};
use crate::lifecycle::{LifecycleEvent, LifecycleKind, Subscribers};
use crate::mapping::{MappedRecord, SourceFields};
use chrono::{DateTime, NaiveDate, Utc};
use clavis_audit::{AuditEvent, change};
use clavis_core::names::{normalize_name, normalize_search_text};
use clavis_core::{LifecycleStatus, Oid};
use clavis_store::DbConn;
use clavis_store::models::identity::MatchTraits;
use clavis_store::models::{Account, Assignment, IdentityRow, LifecycleEventRow, SourceRecordRow};
use serde_json::{Map, Value, json};
use std::collections::{BTreeSet, HashMap};

/// The context of one unit of work: who acts, when, in which run; audit
/// events accumulate here and are appended before the commit.
#[derive(Debug)]
pub struct Ctx<'a> {
    /// Configuration.
    pub cfg: &'a DirectoryConfig,
    /// The instant of the work.
    pub now: DateTime<Utc>,
    /// `sync:rh`, `cli:alice`…
    pub actor: String,
    /// The sync run, if any.
    pub sync_run_id: Option<String>,
    /// The source being synced, if any.
    pub source: Option<String>,
    /// Who must hear about lifecycle changes.
    pub subscribers: &'a Subscribers,
    /// Audit events to append.
    pub audit: Vec<AuditEvent>,
}

impl Ctx<'_> {
    /// Today's date (UTC).
    pub fn today(&self) -> NaiveDate {
        self.now.date_naive()
    }

    /// Records an audit event with this context's source and run.
    pub fn audit(&mut self, action: &str, target: Option<String>, changes: Value) {
        let mut e = AuditEvent::new(self.actor.clone(), action, target, changes);
        e.source = self.source.clone();
        e.sync_run_id = self.sync_run_id.clone();
        self.audit.push(e);
    }
}

/// What a refresh did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RefreshOutcome {
    /// The identity was created.
    pub created: bool,
    /// Something about it changed.
    pub changed: bool,
    /// It departed in this refresh.
    pub departed: bool,
}

fn to_json_list(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

fn identity_row_from(
    oid: &str,
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
        oid: oid.to_string(),
        status: status.as_str().to_string(),
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
            Some(p) if p.status == status.as_str() => p.status_changed_at,
            _ => now,
        },
    }
}

/// The fields that differ between two rows, as audit `changes`.
fn diff(before: &IdentityRow, after: &IdentityRow) -> Map<String, Value> {
    let mut m = Map::new();
    let mut cmp = |k: &str, a: &Option<String>, b: &Option<String>| {
        if a != b {
            m.insert(k.to_string(), change(a, b));
        }
    };
    cmp(
        "status",
        &Some(before.status.clone()),
        &Some(after.status.clone()),
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
        &Some(before.birth_given_names.clone()),
        &Some(after.birth_given_names.clone()),
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
        &Some(before.professions.clone()),
        &Some(after.professions.clone()),
    );
    m
}

fn transition(old: Option<LifecycleStatus>, new: LifecycleStatus) -> Option<LifecycleKind> {
    use LifecycleStatus::*;
    match (old, new) {
        (None, _) => Some(LifecycleKind::Arrived),
        (Some(o), n) if o == n => None,
        (Some(_), Departed) => Some(LifecycleKind::Departed),
        (Some(Departed), _) => Some(LifecycleKind::Rehired),
        (Some(Pending), Active) => Some(LifecycleKind::Activated),
        (Some(_), Suspended) => Some(LifecycleKind::Suspended),
        (Some(Suspended), _) => Some(LifecycleKind::Reinstated),
        (Some(_), _) => None,
    }
}

/// Recomputes identity `oid` (see [`refresh_identities`]).
pub async fn refresh_identity(
    conn: &mut DbConn,
    ctx: &mut Ctx<'_>,
    oid: &str,
) -> Result<RefreshOutcome, DirectoryError> {
    let out = refresh_identities(conn, ctx, &[oid.to_string()]).await?;
    Ok(out.into_iter().next().map(|(_, o)| o).unwrap_or_default())
}

/// What one identity's refresh will write.
#[derive(Debug, Default)]
struct Writes {
    inserts: Vec<IdentityRow>,
    updates: Vec<IdentityRow>,
    close_assignments: Vec<String>,
    new_assignments: Vec<Assignment>,
    accounts: Vec<Account>,
    barred: Vec<(String, &'static str)>,
    events: Vec<(LifecycleEventRow, LifecycleEvent)>,
    /// Logins given to an identity in this batch.
    claimed: HashMap<String, String>,
}

/// Recomputes identities from their linked records and writes whatever
/// changed: the identity rows, their current assignment (a move keeps the
/// history), their accounts (a departure or suspension disables them), the
/// lifecycle events (subscribers called in this transaction) and the audit.
///
/// Works on a whole batch with a fixed number of round trips (reads for all
/// the identities at once, then one write pass per table), whatever the
/// batch size.
pub async fn refresh_identities(
    conn: &mut DbConn,
    ctx: &mut Ctx<'_>,
    oids: &[String],
) -> Result<Vec<(String, RefreshOutcome)>, DirectoryError> {
    if oids.is_empty() {
        return Ok(Vec::new());
    }
    let now = ctx.now.timestamp();
    let mut records: HashMap<String, Vec<LinkedRecord>> = HashMap::new();
    for row in SourceRecordRow::for_identities(conn, oids).await? {
        let Some(src) = ctx.cfg.source(&row.source) else {
            continue;
        };
        let fields: SourceFields = serde_json::from_str(&row.attributes).map_err(|e| {
            DirectoryError::Corrupt(format!(
                "source record {}/{}: {e}",
                row.source, row.external_id
            ))
        })?;
        let oid = row.oid.clone().unwrap_or_default();
        records.entry(oid).or_default().push(LinkedRecord {
            row,
            fields,
            role: src.role,
        });
    }
    let prevs: HashMap<String, IdentityRow> = IdentityRow::find_many(conn, oids)
        .await?
        .into_iter()
        .map(|r| (r.oid.clone(), r))
        .collect();
    let currents: HashMap<String, Assignment> = Assignment::current_for(conn, oids)
        .await?
        .into_iter()
        .map(|a| (a.oid.clone(), a))
        .collect();
    let mut existing_accounts: HashMap<String, Vec<Account>> = HashMap::new();
    for a in Account::for_identities(conn, oids).await? {
        existing_accounts.entry(a.oid.clone()).or_default().push(a);
    }
    // Logins claimed here that are bound elsewhere are never moved silently.
    let claimed: Vec<String> = records
        .values()
        .flatten()
        .filter_map(|r| r.fields.login.clone())
        .collect();
    let bound: HashMap<String, String> = Account::find_many(conn, &claimed)
        .await?
        .into_iter()
        .map(|a| (a.login, a.oid))
        .collect();

    let mut w = Writes::default();
    let mut outcomes = Vec::with_capacity(oids.len());
    let mut seen = BTreeSet::new();
    let empty = Vec::new();
    for oid in oids {
        if !seen.insert(oid.clone()) {
            continue;
        }
        let recs = records.get(oid).unwrap_or(&empty);
        let prev = prevs.get(oid);
        if recs.is_empty() && prev.is_none() {
            outcomes.push((oid.clone(), RefreshOutcome::default()));
            continue;
        }
        let accounts = existing_accounts
            .get(oid)
            .unwrap_or(&empty_accounts())
            .clone();
        let out = plan_identity(
            ctx,
            oid,
            recs,
            prev,
            currents.get(oid),
            &accounts,
            &bound,
            now,
            &mut w,
        )?;
        outcomes.push((oid.clone(), out));
    }

    IdentityRow::insert_all(conn, w.inserts).await?;
    IdentityRow::update_all(conn, w.updates).await?;
    Assignment::close_current_for(conn, &w.close_assignments, now).await?;
    Assignment::insert_all(conn, w.new_assignments).await?;
    Account::upsert_all(conn, w.accounts).await?;
    for (oid, status) in w.barred {
        // Belt and braces: nothing of a departed person stays enabled.
        for l in Account::disable_all_for(conn, &oid, status, now).await? {
            ctx.audit(
                "account.disabled",
                Some(l),
                json!({"oid": oid, "reason": status}),
            );
        }
    }
    let (rows, events): (Vec<_>, Vec<_>) = w.events.into_iter().unzip();
    LifecycleEventRow::insert_all(conn, rows).await?;
    for event in &events {
        for s in ctx.subscribers.iter() {
            s.on_event(conn, event).await?;
        }
        tracing::info!(identity.oid = %event.oid, lifecycle.kind = event.kind.as_str(), lifecycle.reason = %event.reason, "lifecycle event");
    }
    Ok(outcomes)
}

fn empty_accounts() -> Vec<Account> {
    Vec::new()
}

/// Computes what one identity's refresh writes (pure but for `ctx.audit`).
#[allow(clippy::too_many_arguments)]
fn plan_identity(
    ctx: &mut Ctx<'_>,
    oid: &str,
    records: &[LinkedRecord],
    prev: Option<&IdentityRow>,
    current: Option<&Assignment>,
    existing: &[Account],
    bound: &HashMap<String, String>,
    now: i64,
    w: &mut Writes,
) -> Result<RefreshOutcome, DirectoryError> {
    let g = golden::merge(records, ctx.cfg, ctx.today());
    let (status, reason) = golden::status_for(&g, ctx.today());
    let next = identity_row_from(oid, &g, status, prev, now);
    let mut out = RefreshOutcome::default();
    let prev_status = prev.and_then(|p| p.status.parse::<LifecycleStatus>().ok());
    match prev {
        None => {
            out.created = true;
            out.changed = true;
            let shown = json!({
                "status": next.status, "birth_family_name": next.birth_family_name,
                "used_family_name": next.used_family_name, "birth_given_names": g.fields.birth_given_names,
                "birth_date": next.birth_date, "birth_place": next.birth_place, "rpps": next.rpps,
                "contract_type": next.contract_type, "arrival_date": next.arrival_date,
                "departure_date": next.departure_date,
            });
            ctx.audit("identity.created", Some(oid.to_string()), shown);
            w.inserts.push(next.clone());
        }
        Some(p) => {
            let mut changes = diff(p, &next);
            if !changes.is_empty() || p.search_text != next.search_text {
                out.changed = true;
                w.updates.push(next.clone());
            }
            if !changes.is_empty() {
                if p.status != next.status {
                    changes.insert("reason".into(), json!(reason.as_str()));
                }
                ctx.audit(
                    "identity.updated",
                    Some(oid.to_string()),
                    Value::Object(changes),
                );
            }
        }
    }

    // Assignment: a change of service, UF or FINESS closes the current one.
    let mut moved = false;
    let wanted = (
        g.fields.service.clone(),
        g.fields.uf.clone(),
        g.fields.finess.clone(),
    );
    let has_wanted = wanted.0.is_some() || wanted.1.is_some() || wanted.2.is_some();
    let same =
        current.is_some_and(|c| (c.service.clone(), c.uf.clone(), c.finess.clone()) == wanted);
    if !same && (has_wanted || current.is_some()) {
        if let Some(c) = current {
            w.close_assignments.push(oid.to_string());
            moved = true;
            ctx.audit(
                "identity.assignment_changed",
                Some(oid.to_string()),
                json!({"service": change(&c.service, &wanted.0), "uf": change(&c.uf, &wanted.1), "finess": change(&c.finess, &wanted.2)}),
            );
        }
        if has_wanted {
            w.new_assignments.push(Assignment {
                id: clavis_core::ids::new_record_id(),
                oid: oid.to_string(),
                service: wanted.0,
                uf: wanted.1,
                finess: wanted.2,
                // A move starts today; a first assignment at the arrival.
                start_date: if current.is_some() {
                    Some(ctx.today().to_string())
                } else {
                    g.fields.arrival_date.map(|d| d.to_string())
                },
                end_date: g.fields.departure_date.map(|d| d.to_string()),
                is_current: true,
                recorded_at: now,
                ended_at: None,
            });
            out.changed = true;
        }
    }
    if prev.is_some_and(|p| p.professions != next.professions) {
        moved = true;
    }

    // Accounts follow AD and the person's status.
    let barred = matches!(
        status,
        LifecycleStatus::Departed | LifecycleStatus::Suspended
    );
    let mut wanted_logins = BTreeSet::new();
    for (login, ad_enabled, source) in &g.logins {
        wanted_logins.insert(login.clone());
        let (enabled, why) = if barred {
            (false, Some(status.as_str().to_string()))
        } else if !ad_enabled {
            (false, Some("ad_disabled".to_string()))
        } else {
            (true, None)
        };
        let old = existing.iter().find(|a| &a.login == login);
        if old.is_some_and(|a| a.enabled == enabled && a.disabled_reason == why) {
            continue;
        }
        if let Some(other) = bound
            .get(login)
            .or_else(|| w.claimed.get(login))
            .filter(|o| o.as_str() != oid)
        {
            ctx.audit(
                "account.conflict",
                Some(login.clone()),
                json!({"bound_to": other, "claimed_by": oid}),
            );
            continue;
        }
        w.claimed.insert(login.clone(), oid.to_string());
        w.accounts.push(Account {
            login: login.clone(),
            oid: oid.to_string(),
            source: source.clone(),
            enabled,
            disabled_reason: why.clone(),
            created_at: old.map(|a| a.created_at).unwrap_or(now),
            updated_at: now,
        });
        out.changed = true;
        let action = match (old.map(|a| a.enabled), enabled) {
            (None, _) => "account.created",
            (Some(true), false) => "account.disabled",
            (Some(false), true) => "account.enabled",
            _ => "account.updated",
        };
        ctx.audit(
            action,
            Some(login.clone()),
            json!({"oid": oid, "enabled": enabled, "reason": why}),
        );
    }
    for a in existing
        .iter()
        .filter(|a| a.enabled && !wanted_logins.contains(&a.login))
    {
        let why = if barred {
            status.as_str()
        } else {
            "removed_from_source"
        };
        w.accounts.push(Account {
            enabled: false,
            disabled_reason: Some(why.to_string()),
            updated_at: now,
            ..a.clone()
        });
        out.changed = true;
        ctx.audit(
            "account.disabled",
            Some(a.login.clone()),
            json!({"oid": oid, "reason": why}),
        );
    }
    if barred {
        w.barred.push((oid.to_string(), status.as_str()));
    }

    // Lifecycle events.
    let mut kinds = Vec::new();
    if let Some(k) = transition(prev_status, status) {
        kinds.push(k);
    }
    if moved && prev.is_some() {
        kinds.push(LifecycleKind::Moved);
    }
    for kind in kinds {
        if kind == LifecycleKind::Departed {
            out.departed = true;
        }
        let why = if kind == LifecycleKind::Moved {
            "assignment_changed"
        } else {
            reason.as_str()
        };
        let row = LifecycleEventRow {
            id: clavis_core::ids::new_record_id(),
            oid: oid.to_string(),
            kind: kind.as_str().to_string(),
            reason: why.to_string(),
            occurred_at: now,
            sync_run_id: ctx.sync_run_id.clone(),
        };
        let event = LifecycleEvent {
            oid: oid
                .parse::<Oid>()
                .map_err(|e| DirectoryError::Corrupt(format!("oid {oid}: {e}")))?,
            kind,
            reason: why.to_string(),
            sync_run_id: ctx.sync_run_id.clone(),
            at: ctx.now,
        };
        w.events.push((row, event));
    }
    Ok(out)
}

/// How a record was matched, or why not.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Link to this identity; `how` says by what rule.
    Link { oid: String, how: &'static str },
    /// A new person.
    Create,
    /// Doubt: an operator decides.
    Case {
        reason: &'static str,
        candidates: Vec<(String, String)>,
    },
    /// No match and the source does not create identities.
    Unmatched,
}

fn first_given(f: &SourceFields) -> Option<String> {
    f.birth_given_names.first().map(|g| normalize_name(g))
}

/// What matching needs to know about the identities a page of records could
/// match, loaded in a few queries for the whole page and kept up to date as
/// the page creates and links identities.
#[derive(Debug, Default)]
pub struct MatchIndex {
    /// Join key → (identity, source) of linked records with it.
    linked_by_key: HashMap<String, Vec<(String, String)>>,
    /// The identities reachable by join key, to check their traits.
    keyed: HashMap<String, MatchTraits>,
    /// Join key → unlinked records of other sources waiting for a match.
    waiting_by_key: HashMap<String, Vec<SourceRecordRow>>,
    /// Birth date → identities born that day.
    born: HashMap<String, Vec<MatchTraits>>,
    /// RPPS → identities holding it.
    rpps: HashMap<String, Vec<String>>,
    /// Identity → (source, external id) of records linked in this page.
    linked_now: HashMap<String, Vec<(String, String)>>,
}

impl MatchIndex {
    /// Loads what `records` of `source` could match.
    pub async fn load(
        conn: &mut DbConn,
        source: &str,
        records: &[&MappedRecord],
    ) -> Result<Self, DirectoryError> {
        let mut idx = MatchIndex::default();
        let keys: Vec<String> = records.iter().filter_map(|r| r.join_key.clone()).collect();
        for r in SourceRecordRow::with_join_keys(conn, source, &keys).await? {
            let Some(key) = r.join_key.clone() else {
                continue;
            };
            match &r.oid {
                Some(oid) => idx
                    .linked_by_key
                    .entry(key)
                    .or_default()
                    .push((oid.clone(), r.source.clone())),
                None => idx.waiting_by_key.entry(key).or_default().push(r),
            }
        }
        let keyed: Vec<String> = idx
            .linked_by_key
            .values()
            .flatten()
            .map(|(o, _)| o.clone())
            .collect();
        for i in IdentityRow::traits_of(conn, &keyed).await? {
            idx.keyed.insert(i.oid.clone(), i);
        }
        let dates: Vec<String> = records
            .iter()
            .filter_map(|r| r.fields.birth_date.map(|d| d.to_string()))
            .collect();
        for i in IdentityRow::born_on_any(conn, &dates).await? {
            if let Some(d) = i.birth_date.clone() {
                idx.born.entry(d).or_default().push(i);
            }
        }
        let rpps: Vec<String> = records
            .iter()
            .filter_map(|r| r.fields.rpps.as_ref().map(|x| x.as_str().to_string()))
            .collect();
        for i in IdentityRow::with_rpps_any(conn, &rpps).await? {
            if let Some(r) = i.rpps.clone() {
                idx.rpps.entry(r).or_default().push(i.oid);
            }
        }
        Ok(idx)
    }

    /// Takes the records of other sources waiting for this join key.
    pub fn take_waiting(&mut self, key: &str) -> Vec<SourceRecordRow> {
        self.waiting_by_key.remove(key).unwrap_or_default()
    }

    /// Remembers that `rec` of `source` is now linked to `oid`; when
    /// `created`, that `oid` is a new identity with the record's traits.
    pub fn note_linked(&mut self, source: &str, rec: &MappedRecord, oid: &str, created: bool) {
        if let Some(k) = &rec.join_key {
            self.linked_by_key
                .entry(k.clone())
                .or_default()
                .push((oid.to_string(), source.to_string()));
        }
        self.linked_now
            .entry(oid.to_string())
            .or_default()
            .push((source.to_string(), rec.external_id.clone()));
        if !created {
            return;
        }
        let f = &rec.fields;
        if let Some(r) = &f.rpps {
            self.rpps
                .entry(r.as_str().to_string())
                .or_default()
                .push(oid.to_string());
        }
        if let (Some(bd), Some(bfn)) = (f.birth_date, &f.birth_family_name) {
            self.born
                .entry(bd.to_string())
                .or_default()
                .push(MatchTraits {
                    oid: oid.to_string(),
                    status: LifecycleStatus::Active.as_str().to_string(),
                    birth_family_name: bfn.clone(),
                    used_family_name: f.used_family_name.clone(),
                    birth_given_names: to_json_list(&f.birth_given_names),
                    birth_date: Some(bd.to_string()),
                    birth_place: f.birth_place.clone(),
                    rpps: f.rpps.as_ref().map(|r| r.as_str().to_string()),
                });
        }
    }
}

/// Decides what to do with a record that is not linked yet. Never merges on
/// a guess: anything short of one clear match opens a case.
pub async fn decide(
    conn: &mut DbConn,
    source: &SourceConfig,
    rec: &MappedRecord,
    idx: &MatchIndex,
) -> Result<Decision, DirectoryError> {
    let f = &rec.fields;
    // An RPPS already held by someone else forbids linking anyone else.
    let rpps_elsewhere = |oid: &str| -> Option<Decision> {
        let holders = f.rpps.as_ref().and_then(|r| idx.rpps.get(r.as_str()))?;
        let others: Vec<(String, String)> = holders
            .iter()
            .filter(|h| h.as_str() != oid)
            .map(|h| (h.clone(), "holds this RPPS".to_string()))
            .collect();
        (!others.is_empty()).then_some(Decision::Case {
            reason: "rpps_held_by_another",
            candidates: others
                .into_iter()
                .chain([(oid.to_string(), "matched otherwise".to_string())])
                .collect(),
        })
    };
    // 2. Configured join key across sources (never the record's own source).
    if let Some(linked) = rec.join_key.as_ref().and_then(|k| idx.linked_by_key.get(k)) {
        let oids: BTreeSet<String> = linked
            .iter()
            .filter(|(_, s)| s != &source.name)
            .map(|(o, _)| o.clone())
            .collect();
        match oids.len() {
            0 => {}
            1 => {
                let oid = oids.into_iter().next().unwrap_or_default();
                // A join key links, but never over contradicting traits.
                if let Some(i) = idx.keyed.get(&oid) {
                    let mut conflicts = Vec::new();
                    if let (Some(a), Some(b)) = (f.birth_date.map(|d| d.to_string()), &i.birth_date)
                        && &a != b
                    {
                        conflicts.push("birth date");
                    }
                    if let Some(a) = &f.birth_family_name
                        && normalize_name(a) != normalize_name(&i.birth_family_name)
                    {
                        conflicts.push("birth name");
                    }
                    if let (Some(a), Some(b)) = (&f.rpps, &i.rpps)
                        && a.as_str() != b
                    {
                        conflicts.push("RPPS");
                    }
                    if !conflicts.is_empty() {
                        return Ok(Decision::Case {
                            reason: "join_key_traits_conflict",
                            candidates: vec![(
                                oid,
                                format!("same join key, different {}", conflicts.join(", ")),
                            )],
                        });
                    }
                }
                if let Some(case) = rpps_elsewhere(&oid) {
                    return Ok(case);
                }
                return Ok(Decision::Link {
                    oid,
                    how: "join_key",
                });
            }
            _ => {
                return Ok(Decision::Case {
                    reason: "join_key_ambiguous",
                    candidates: oids
                        .into_iter()
                        .map(|o| (o, "same join key".to_string()))
                        .collect(),
                });
            }
        }
    }
    // 3. Identity traits.
    if let (Some(bfn), Some(given), Some(bd)) = (&f.birth_family_name, first_given(f), f.birth_date)
    {
        let bfn = normalize_name(bfn);
        let used = f.used_family_name.as_deref().map(normalize_name);
        let born = idx
            .born
            .get(&bd.to_string())
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let mut exact = Vec::new();
        let mut near = Vec::new();
        for c in born {
            let c_given: Vec<String> =
                serde_json::from_str(&c.birth_given_names).unwrap_or_default();
            let c_first = c_given.first().map(|g| normalize_name(g));
            if c_first.as_deref() != Some(given.as_str()) {
                continue;
            }
            let c_bfn = normalize_name(&c.birth_family_name);
            let c_used = c.used_family_name.as_deref().map(normalize_name);
            if c_bfn == bfn {
                exact.push(c);
            } else if c_used.as_deref() == Some(bfn.as_str())
                || used.as_deref() == Some(c_bfn.as_str())
                || (used.is_some() && used == c_used)
            {
                near.push((c.oid.clone(), "used name matches a birth name".to_string()));
            }
        }
        if exact.len() == 1 && near.is_empty() {
            let c = exact[0];
            if let (Some(a), Some(b)) = (&f.birth_place, &c.birth_place)
                && normalize_name(a) != normalize_name(b)
            {
                return Ok(Decision::Case {
                    reason: "birth_place_differs",
                    candidates: vec![(
                        c.oid.clone(),
                        format!("same names and birth date, born in {b} not {a}"),
                    )],
                });
            }
            if let (Some(a), Some(b)) = (&f.rpps, &c.rpps)
                && a.as_str() != b
            {
                return Ok(Decision::Case {
                    reason: "rpps_differs",
                    candidates: vec![(c.oid.clone(), format!("same traits, RPPS {b} not {a}"))],
                });
            }
            // The same source already lists this person under another id:
            // two people with identical traits, or a duplicate in HR.
            let listed_now = idx.linked_now.get(&c.oid).is_some_and(|v| {
                v.iter()
                    .any(|(s, e)| s == &source.name && e != &rec.external_id)
            });
            let listed_before = c.status != "departed"
                && SourceRecordRow::for_identity(conn, &c.oid)
                    .await?
                    .iter()
                    .any(|o| {
                        o.source == source.name && o.present && o.external_id != rec.external_id
                    });
            if listed_now || listed_before {
                return Ok(Decision::Case {
                    reason: "already_listed_by_source",
                    candidates: vec![(
                        c.oid.clone(),
                        "identical traits, already listed under another id".into(),
                    )],
                });
            }
            if let Some(case) = rpps_elsewhere(&c.oid) {
                return Ok(case);
            }
            return Ok(Decision::Link {
                oid: c.oid.clone(),
                how: "identity_traits",
            });
        }
        if !exact.is_empty() || !near.is_empty() {
            let reason = if exact.is_empty() {
                "near_match_used_name"
            } else {
                "several_candidates"
            };
            let mut candidates: Vec<(String, String)> = exact
                .iter()
                .map(|c| (c.oid.clone(), "same names and birth date".to_string()))
                .collect();
            candidates.extend(near);
            return Ok(Decision::Case { reason, candidates });
        }
    }
    // A known RPPS with different traits (e.g. a rehire whose name changed).
    if let Some(holders) = f.rpps.as_ref().and_then(|r| idx.rpps.get(r.as_str()))
        && !holders.is_empty()
    {
        return Ok(Decision::Case {
            reason: "rpps_known_traits_differ",
            candidates: holders
                .iter()
                .map(|h| {
                    (
                        h.clone(),
                        "same RPPS, different identity traits".to_string(),
                    )
                })
                .collect(),
        });
    }
    if source.creates_identities() {
        Ok(Decision::Create)
    } else {
        Ok(Decision::Unmatched)
    }
}
