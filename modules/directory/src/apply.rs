//! Applying what sources say: recomputing identities (golden record,
//! status, assignment, accounts, lifecycle events, audit) from their linked
//! records, a batch at a time. Which identity a new record belongs to is
//! decided before, in [`crate::reconcile`].
//!
//! A refresh reads everything it needs for the batch at once (`Loaded`),
//! plans each identity in memory (`Plan`: its row, its assignment, its
//! accounts, its lifecycle events), then writes one pass per table
//! (`Writes`). Everything here runs inside the caller's transaction.

use crate::config::DirectoryConfig;
use crate::error::DirectoryError;
use crate::golden::{self, Golden, LinkedRecord, StatusReason, diff, identity_row_from};
use crate::lifecycle::{LifecycleEvent, LifecycleKind, Subscribers};
use crate::mapping::SourceFields;
use chrono::{DateTime, NaiveDate, Utc};
use clavis_audit::{AuditEvent, change};
use clavis_core::{Actor, AuditAction, LifecycleStatus, Oid, PscUnlinkReason};
use clavis_store::DbConn;
use clavis_store::models::{
    Account, Assignment, IdentityRow, IdentitySuspensionRow, LifecycleEventRow, PscLinkRow,
    SourceRecordRow,
};
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap, HashSet};

/// The context of one unit of work: who acts, when, in which run; audit
/// events accumulate here and are appended before the commit.
#[derive(Debug)]
pub struct Ctx<'a> {
    /// Configuration.
    pub cfg: &'a DirectoryConfig,
    /// The instant of the work.
    pub now: DateTime<Utc>,
    /// Who is applying it: a source's sync, an operator.
    pub actor: Actor,
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
    pub fn audit(&mut self, action: AuditAction, target: Option<String>, changes: Value) {
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
    oid: Oid,
) -> Result<RefreshOutcome, DirectoryError> {
    let out = refresh_identities(conn, ctx, &[oid]).await?;
    Ok(out.into_iter().next().map(|(_, o)| o).unwrap_or_default())
}

/// What was read for a batch before planning it: each identity's linked
/// records, stored row, current assignment and accounts, and who holds the
/// logins its records claim.
#[derive(Debug, Default)]
struct Loaded {
    records: HashMap<Oid, Vec<LinkedRecord>>,
    prevs: HashMap<Oid, IdentityRow>,
    currents: HashMap<Oid, Assignment>,
    accounts: HashMap<Oid, Vec<Account>>,
    /// Login → the identity its account is bound to.
    bound: HashMap<String, Oid>,
    /// Identities under a suspension an operator placed.
    held: HashSet<Oid>,
}

impl Loaded {
    /// Reads all of it for `oids`, one query per table; of the identities
    /// in `stored` only (the others are new: nothing is stored about them
    /// but the records just linked to them), their rows, assignments,
    /// accounts and suspensions.
    async fn read(
        conn: &mut DbConn,
        cfg: &DirectoryConfig,
        oids: &[Oid],
        stored: &[Oid],
    ) -> Result<Self, DirectoryError> {
        let mut records: HashMap<Oid, Vec<LinkedRecord>> = HashMap::new();
        for row in SourceRecordRow::for_identities(conn, oids).await? {
            let Some(src) = cfg.source(&row.source) else {
                continue;
            };
            let fields: SourceFields = serde_json::from_str(&row.attributes).map_err(|e| {
                DirectoryError::Corrupt(format!(
                    "source record {}/{}: {e}",
                    row.source, row.external_id
                ))
            })?;
            // Read by oid: every row has one.
            let Some(oid) = row.oid else {
                continue;
            };
            records.entry(oid).or_default().push(LinkedRecord {
                row,
                fields,
                role: src.role,
            });
        }
        let prevs = IdentityRow::find_many(conn, stored)
            .await?
            .into_iter()
            .map(|r| (r.oid, r))
            .collect();
        let currents = Assignment::current_for(conn, stored)
            .await?
            .into_iter()
            .map(|a| (a.oid, a))
            .collect();
        let mut accounts: HashMap<Oid, Vec<Account>> = HashMap::new();
        for a in Account::for_identities(conn, stored).await? {
            accounts.entry(a.oid).or_default().push(a);
        }
        // Logins claimed here that are bound elsewhere are never moved silently.
        let claimed: Vec<String> = records
            .values()
            .flatten()
            .filter_map(|r| r.fields.login.clone())
            .collect();
        let bound = Account::find_many(conn, &claimed)
            .await?
            .into_iter()
            .map(|a| (a.login, a.oid))
            .collect();
        let held = IdentitySuspensionRow::in_force_among(conn, stored).await?;
        Ok(Loaded {
            records,
            prevs,
            currents,
            accounts,
            bound,
            held,
        })
    }
}

/// What a batch's refresh will write.
#[derive(Debug, Default)]
struct Writes {
    inserts: Vec<IdentityRow>,
    /// Identities as they were read, and as they will be.
    updates: Vec<(IdentityRow, IdentityRow)>,
    close_assignments: Vec<Oid>,
    /// Identities whose RPPS HR changed: its verification is forgotten.
    rpps_changed: Vec<Oid>,
    new_assignments: Vec<Assignment>,
    accounts: Vec<Account>,
    barred: Vec<(Oid, &'static str)>,
    events: Vec<(LifecycleEventRow, LifecycleEvent)>,
    /// Logins given to an identity in this batch.
    claimed: HashMap<String, Oid>,
}

impl Writes {
    /// Writes everything planned, one pass per table, then tells the
    /// subscribers of each lifecycle event.
    async fn write(
        self,
        conn: &mut DbConn,
        ctx: &mut Ctx<'_>,
        now: i64,
    ) -> Result<(), DirectoryError> {
        IdentityRow::insert_all(conn, self.inserts).await?;
        IdentityRow::update_changed(conn, self.updates).await?;
        IdentityRow::clear_rpps_verification(conn, &self.rpps_changed).await?;
        // A link to Pro Santé Connect verified the old RPPS: it ends.
        for oid in &self.rpps_changed {
            let revoked =
                PscLinkRow::revoke(conn, *oid, now, PscUnlinkReason::RppsChanged, &ctx.actor)
                    .await?;
            if let Some(link) = revoked {
                ctx.audit(
                    AuditAction::PscUnlinked,
                    Some(oid.to_string()),
                    json!({"reason": PscUnlinkReason::RppsChanged, "national_id": link.national_id,
                           "psc_sub": link.psc_sub}),
                );
            }
        }
        Assignment::close_current_for(conn, &self.close_assignments, now).await?;
        Assignment::insert_all(conn, self.new_assignments).await?;
        Account::upsert_all(conn, self.accounts).await?;
        for (oid, status) in self.barred {
            // Belt and braces: nothing of a departed person stays enabled.
            for l in Account::disable_all_for(conn, oid, status, now).await? {
                ctx.audit(
                    AuditAction::AccountDisabled,
                    Some(l),
                    json!({"oid": oid, "reason": status}),
                );
            }
        }
        let (rows, events): (Vec<_>, Vec<_>) = self.events.into_iter().unzip();
        LifecycleEventRow::insert_all(conn, rows).await?;
        for event in &events {
            for s in ctx.subscribers.iter() {
                s.on_event(conn, event).await?;
            }
            tracing::info!(identity.oid = %event.oid, lifecycle.kind = event.kind.as_str(), lifecycle.reason = %event.reason, "lifecycle event");
        }
        Ok(())
    }
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
    oids: &[Oid],
) -> Result<Vec<(Oid, RefreshOutcome)>, DirectoryError> {
    refresh_identities_with_new(conn, ctx, oids, &HashSet::new()).await
}

/// [`refresh_identities`], where the identities in `new` were made in this
/// transaction (their oids drawn at random a moment ago): nobody else can
/// know them yet, so they are neither locked nor looked for in the tables
/// that cannot hold them yet. A first sync of 100,000 people is all new
/// identities: five lookups a page fewer.
pub async fn refresh_identities_with_new(
    conn: &mut DbConn,
    ctx: &mut Ctx<'_>,
    oids: &[Oid],
    new: &HashSet<Oid>,
) -> Result<Vec<(Oid, RefreshOutcome)>, DirectoryError> {
    if oids.is_empty() {
        return Ok(Vec::new());
    }
    let now = ctx.now.timestamp();
    let stored: Vec<Oid> = oids.iter().copied().filter(|o| !new.contains(o)).collect();
    // Whoever else recomputes these people (a sync batch, an operator's
    // suspension) waits, and what they committed is read here.
    IdentityRow::lock_many(conn, &stored).await?;
    let loaded = Loaded::read(conn, ctx.cfg, oids, &stored).await?;
    let mut w = Writes::default();
    let mut outcomes = Vec::with_capacity(oids.len());
    let mut seen = BTreeSet::new();
    for &oid in oids {
        if !seen.insert(oid) {
            continue;
        }
        let out = plan_identity(ctx, oid, &loaded, now, &mut w)?;
        outcomes.push((oid, out));
    }
    w.write(conn, ctx, now).await?;
    Ok(outcomes)
}

/// Plans one identity's refresh (pure but for `ctx.audit`): its row, its
/// assignment, its accounts, then its lifecycle events, in that order.
fn plan_identity(
    ctx: &mut Ctx<'_>,
    oid: Oid,
    loaded: &Loaded,
    now: i64,
    w: &mut Writes,
) -> Result<RefreshOutcome, DirectoryError> {
    let records = loaded.records.get(&oid).map(Vec::as_slice).unwrap_or(&[]);
    let prev = loaded.prevs.get(&oid);
    if records.is_empty() && prev.is_none() {
        return Ok(RefreshOutcome::default());
    }
    let mut golden = golden::merge(records, ctx.cfg, ctx.today());
    golden.held = loaded.held.contains(&oid);
    let (status, reason) = golden::status_for(&golden, ctx.today());
    let next = identity_row_from(oid, &golden, status, prev, now);
    let mut plan = Plan {
        ctx,
        w,
        oid,
        prev,
        golden,
        status,
        reason,
        next,
        now,
        out: RefreshOutcome::default(),
        accounts_disabled: false,
    };
    plan.row();
    let moved = plan.assignment(loaded.currents.get(&oid)) || plan.professions_changed();
    plan.accounts(
        loaded.accounts.get(&oid).map(Vec::as_slice).unwrap_or(&[]),
        &loaded.bound,
    );
    plan.lifecycle(moved)
}

/// One identity being planned: what it was, what its records make it now,
/// and where the plan goes (the batch's writes, the context's audit).
struct Plan<'p, 'c> {
    ctx: &'p mut Ctx<'c>,
    w: &'p mut Writes,
    oid: Oid,
    /// The stored row, unless the identity is new.
    prev: Option<&'p IdentityRow>,
    golden: Golden,
    status: LifecycleStatus,
    reason: StatusReason,
    /// The row its records make.
    next: IdentityRow,
    now: i64,
    out: RefreshOutcome,
    /// The plan disables the last enabled account of someone not barred.
    accounts_disabled: bool,
}

impl Plan<'_, '_> {
    /// The identity row: created, or updated with the fields that changed.
    fn row(&mut self) {
        let (oid, next) = (self.oid, &self.next);
        match self.prev {
            None => {
                self.out.created = true;
                self.out.changed = true;
                let shown = json!({
                    "status": next.status, "birth_family_name": next.birth_family_name,
                    "used_family_name": next.used_family_name, "birth_given_names": self.golden.fields.birth_given_names,
                    "birth_date": next.birth_date, "birth_place": next.birth_place, "rpps": next.rpps,
                    "contract_type": next.contract_type, "arrival_date": next.arrival_date,
                    "departure_date": next.departure_date,
                });
                self.ctx
                    .audit(AuditAction::IdentityCreated, Some(oid.to_string()), shown);
                self.w.inserts.push(next.clone());
            }
            Some(p) => {
                if p.rpps != next.rpps {
                    self.w.rpps_changed.push(oid);
                }
                let mut changes = diff(p, next);
                if !changes.is_empty() || p.search_text != next.search_text {
                    self.out.changed = true;
                    self.w.updates.push((p.clone(), next.clone()));
                }
                if !changes.is_empty() {
                    if p.status != next.status {
                        changes.insert("reason".into(), json!(self.reason.as_str()));
                    }
                    self.ctx.audit(
                        AuditAction::IdentityUpdated,
                        Some(oid.to_string()),
                        Value::Object(changes),
                    );
                }
            }
        }
    }

    /// The assignment: a change of service, UF or FINESS closes the current
    /// one. Returns whether the person moved.
    fn assignment(&mut self, current: Option<&Assignment>) -> bool {
        let oid = self.oid;
        let f = &self.golden.fields;
        let wanted = (f.service.clone(), f.uf.clone(), f.finess.clone());
        let has_wanted = wanted.0.is_some() || wanted.1.is_some() || wanted.2.is_some();
        let same =
            current.is_some_and(|c| (c.service.clone(), c.uf.clone(), c.finess.clone()) == wanted);
        if same || !(has_wanted || current.is_some()) {
            return false;
        }
        let mut moved = false;
        if let Some(c) = current {
            self.w.close_assignments.push(oid);
            moved = true;
            self.ctx.audit(
                AuditAction::IdentityAssignmentChanged,
                Some(oid.to_string()),
                json!({"service": change(&c.service, &wanted.0), "uf": change(&c.uf, &wanted.1), "finess": change(&c.finess, &wanted.2)}),
            );
        }
        if has_wanted {
            self.w.new_assignments.push(Assignment {
                id: clavis_core::ids::new_ordered_record_id(),
                oid,
                service: wanted.0,
                uf: wanted.1,
                finess: wanted.2,
                // A move starts today; a first assignment at the arrival.
                start_date: if current.is_some() {
                    Some(self.ctx.today().to_string())
                } else {
                    f.arrival_date.map(|d| d.to_string())
                },
                end_date: f.departure_date.map(|d| d.to_string()),
                is_current: true,
                recorded_at: self.now,
                ended_at: None,
            });
            self.out.changed = true;
        }
        moved
    }

    /// Whether the professions changed (a move, for the lifecycle).
    fn professions_changed(&self) -> bool {
        self.prev
            .is_some_and(|p| p.professions != self.next.professions)
    }

    /// The accounts follow AD and the person's status; a login bound to
    /// someone else is never moved silently.
    fn accounts(&mut self, existing: &[Account], bound: &HashMap<String, Oid>) {
        let (oid, status, now) = (self.oid, self.status, self.now);
        let planned_from = self.w.accounts.len();
        let barred = matches!(
            status,
            LifecycleStatus::Departed | LifecycleStatus::Suspended
        );
        let mut wanted_logins = BTreeSet::new();
        for (login, ad_enabled, source) in &self.golden.logins {
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
                .or_else(|| self.w.claimed.get(login))
                .filter(|o| **o != oid)
            {
                self.ctx.audit(
                    AuditAction::AccountConflict,
                    Some(login.clone()),
                    json!({"bound_to": other, "claimed_by": oid}),
                );
                continue;
            }
            self.w.claimed.insert(login.clone(), oid);
            self.w.accounts.push(Account {
                login: login.clone(),
                oid,
                source: source.clone(),
                enabled,
                disabled_reason: why.clone(),
                created_at: old.map(|a| a.created_at).unwrap_or(now),
                updated_at: now,
            });
            self.out.changed = true;
            let action = match (old.map(|a| a.enabled), enabled) {
                (None, _) => AuditAction::AccountCreated,
                (Some(true), false) => AuditAction::AccountDisabled,
                (Some(false), true) => AuditAction::AccountEnabled,
                _ => AuditAction::AccountUpdated,
            };
            self.ctx.audit(
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
            self.w.accounts.push(Account {
                enabled: false,
                disabled_reason: Some(why.to_string()),
                updated_at: now,
                ..a.clone()
            });
            self.out.changed = true;
            self.ctx.audit(
                AuditAction::AccountDisabled,
                Some(a.login.clone()),
                json!({"oid": oid, "reason": why}),
            );
        }
        if barred {
            self.w.barred.push((oid, status.as_str()));
        } else {
            // A person still employed whose last enabled account was just
            // disabled may no longer sign in: their sessions end.
            let mut enabled: HashMap<&str, bool> = existing
                .iter()
                .map(|a| (a.login.as_str(), a.enabled))
                .collect();
            for a in &self.w.accounts[planned_from..] {
                enabled.insert(a.login.as_str(), a.enabled);
            }
            // From "may sign in" to "may not": some enabled account, or
            // none at all, before; accounts, none enabled, after.
            let could_before = existing.is_empty() || existing.iter().any(|a| a.enabled);
            let none_now = !enabled.is_empty() && enabled.values().all(|e| !e);
            self.accounts_disabled = could_before && none_now;
        }
    }

    /// The lifecycle events: the status transition, and a move of an
    /// existing identity. Ends the plan with its outcome.
    fn lifecycle(mut self, moved: bool) -> Result<RefreshOutcome, DirectoryError> {
        let oid = self.oid;
        let prev_status = self.prev.map(|p| p.status);
        let mut kinds = Vec::new();
        if let Some(k) = transition(prev_status, self.status) {
            kinds.push(k);
        }
        if moved && self.prev.is_some() {
            kinds.push(LifecycleKind::Moved);
        }
        if self.accounts_disabled {
            kinds.push(LifecycleKind::AccountsDisabled);
        }
        for kind in kinds {
            if kind == LifecycleKind::Departed {
                self.out.departed = true;
            }
            let why = match kind {
                LifecycleKind::Moved => "assignment_changed",
                LifecycleKind::AccountsDisabled => "account_disabled",
                _ => self.reason.as_str(),
            };
            let row = LifecycleEventRow {
                id: clavis_core::ids::new_ordered_record_id(),
                oid,
                kind: kind.as_str().to_string(),
                reason: why.to_string(),
                occurred_at: self.now,
                sync_run_id: self.ctx.sync_run_id.clone(),
            };
            let event = LifecycleEvent {
                oid,
                kind,
                reason: why.to_string(),
                sync_run_id: self.ctx.sync_run_id.clone(),
                at: self.ctx.now,
            };
            self.w.events.push((row, event));
        }
        Ok(self.out)
    }
}
