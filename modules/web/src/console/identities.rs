//! `GET /console/identities` — search the directory (names with or
//! without accents, RPPS, login, email), filter by status, page through;
//! `GET /console/identities/{key}` — one identity: its traits and the
//! sources they came from, accounts, national ids, assignments, operator
//! roles, authenticators, open sessions, lifecycle history and audit trail,
//! with the actions the operator's roles allow.

use super::{Chrome, Operator, local_time_secs, page};
use crate::AppState;
use crate::error::ApiError;
use crate::pages::Lang;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use askama::Template;
use clavis_core::LifecycleStatus;
use clavis_core::roles::{Access, Area, OperatorRole};
use clavis_directory::service::{self, IdentityDetail, IdentityView};
use clavis_directory::suspension::Decision;
use clavis_store::models::{
    AuditEventRow, AuditFilter, AuthenticatorRow, BadgeRow, HabilitationFilter, HabilitationRow,
    IdentityRoleRow, IdentityRow, IdentitySuspensionRow, PscLinkRow, SsoSessionRow,
};
use serde::Deserialize;

/// Identities per page.
const PAGE_SIZE: i64 = 50;

/// A status as operators read it.
pub fn status_label(lang: Lang, s: LifecycleStatus) -> String {
    lang.tr(match s {
        LifecycleStatus::Pending => "status-pending",
        LifecycleStatus::Active => "status-active",
        LifecycleStatus::Suspended => "status-suspended",
        LifecycleStatus::Departed => "status-departed",
    })
}

/// A person's name as the lists show it: used family name (or birth
/// family name), then given names.
pub fn display_name(v: &IdentityView) -> String {
    let family = v
        .used_family_name
        .as_deref()
        .unwrap_or(&v.birth_family_name);
    format!(
        "{} {}",
        family.to_uppercase(),
        v.birth_given_names.join(" ")
    )
    .trim()
    .to_string()
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    offset: i64,
}

struct Row {
    oid: String,
    name: String,
    birth_date: String,
    rpps: String,
    logins: String,
    service: String,
    status: String,
}

struct StatusOption {
    value: &'static str,
    label: String,
    selected: bool,
}

#[derive(Template)]
#[template(path = "console/identities.html")]
struct ListPage {
    c: Chrome,
    q: String,
    statuses: Vec<StatusOption>,
    rows: Vec<Row>,
    results: String,
    previous: Option<String>,
    next: Option<String>,
}

/// The list's address for another page, keeping the search.
fn list_href(q: &str, status: &str, offset: i64) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    if !q.is_empty() {
        s.append_pair("q", q);
    }
    if !status.is_empty() {
        s.append_pair("status", status);
    }
    s.append_pair("offset", &offset.to_string());
    format!("/console/identities?{}", s.finish())
}

#[get("/identities")]
async fn list(
    op: Operator,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let lang = op.lang;
    let q = query.q.trim().to_string();
    let status: Option<LifecycleStatus> = match query.status.as_str() {
        "" => None,
        s => Some(s.parse()?),
    };
    let offset = query.offset.max(0);
    let found = service::list_identities(
        &state.db,
        status,
        Some(&q).filter(|q| !q.is_empty()).map(String::as_str),
        PAGE_SIZE,
        offset,
    )
    .await?;
    let status_text = status.map(|s| s.to_string()).unwrap_or_default();
    let rows = found
        .items
        .iter()
        .map(|v| Row {
            oid: v.oid.to_string(),
            name: display_name(v),
            birth_date: v.birth_date.clone().unwrap_or_default(),
            rpps: v.rpps.clone().unwrap_or_default(),
            logins: v.logins.join(", "),
            service: v
                .assignment
                .as_ref()
                .and_then(|a| a.service.clone())
                .unwrap_or_default(),
            status: status_label(lang, v.status),
        })
        .collect();
    let p = ListPage {
        c: op.chrome(Area::Identities, lang.tr("area-identities")),
        statuses: LifecycleStatus::ALL
            .iter()
            .map(|s| StatusOption {
                value: s.as_str(),
                label: status_label(lang, *s),
                selected: Some(*s) == status,
            })
            .collect(),
        rows,
        results: lang.tr1("console-results", "count", found.total),
        previous: (offset > 0).then(|| list_href(&q, &status_text, (offset - PAGE_SIZE).max(0))),
        next: found.next_offset.map(|n| list_href(&q, &status_text, n)),
        q,
    };
    page(&p)
}

struct Fact {
    label: String,
    value: String,
}

struct AuthRow {
    kind: String,
    label: String,
    status: String,
    created: String,
    last_used: String,
}

struct SessionRow {
    id: String,
    started: String,
    expires: String,
    method: String,
    workstation: String,
}

struct EventRow {
    at: String,
    actor: String,
    action: String,
    changes: String,
}

#[derive(Template)]
#[template(path = "console/identity.html")]
struct DetailPage {
    c: Chrome,
    oid: String,
    status: String,
    facts: Vec<Fact>,
    national: Vec<Fact>,
    habilitations: Vec<Fact>,
    terms: Vec<Fact>,
    accounts: Vec<Fact>,
    sources: Vec<Fact>,
    assignments: Vec<Fact>,
    roles: String,
    authenticators: Vec<AuthRow>,
    sessions: Vec<SessionRow>,
    lifecycle: Vec<Fact>,
    events: Vec<EventRow>,
    show_trail: bool,
    may_end_sessions: bool,
    /// The suspension an operator placed and that is in force, if any.
    suspension: Option<SuspensionShown>,
    /// Earlier suspensions, lifted.
    past_suspensions: Vec<SuspensionShown>,
    /// The operator may suspend or reinstate this person.
    may_suspend: bool,
    /// A standing link to Pro Santé Connect the operator may withdraw.
    may_unlink_psc: bool,
}

/// A suspension as the detail page shows it.
struct SuspensionShown {
    reason: String,
    placed_by: String,
    placed_at: String,
    lifted: String,
}

fn fact(lang: Lang, id: &str, value: Option<String>) -> Option<Fact> {
    value.filter(|v| !v.is_empty()).map(|value| Fact {
        label: lang.tr(id),
        value,
    })
}

fn facts_of(lang: Lang, d: &IdentityDetail) -> Vec<Fact> {
    let v = &d.identity;
    [
        fact(
            lang,
            "trait-birth-family-name",
            Some(v.birth_family_name.clone()),
        ),
        fact(lang, "trait-used-family-name", v.used_family_name.clone()),
        fact(
            lang,
            "trait-given-names",
            Some(v.birth_given_names.join(", ")),
        ),
        fact(lang, "trait-birth-date", v.birth_date.clone()),
        fact(lang, "trait-birth-place", v.birth_place.clone()),
        fact(lang, "trait-sex", v.sex.clone()),
        fact(lang, "trait-rpps", v.rpps.clone()),
        fact(lang, "trait-national-id", v.national_id.clone()),
        fact(lang, "trait-adeli", v.adeli.clone()),
        fact(lang, "trait-email", v.email.clone()),
        fact(lang, "trait-phone", v.phone.clone()),
        fact(lang, "trait-contract", v.contract_type.clone()),
        fact(lang, "trait-professions", Some(v.professions.join(", "))),
        fact(lang, "trait-arrival", v.arrival_date.clone()),
        fact(lang, "trait-departure", v.departure_date.clone()),
    ]
    .into_iter()
    .flatten()
    .collect()
}

#[get("/identities/{key}")]
async fn detail(
    op: Operator,
    state: web::Data<AppState>,
    key: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let lang = op.lang;
    let d = service::show_identity(&state.db, &key).await?;
    let oid = d.identity.oid;
    let mut conn = state.db.conn().await?;
    let now = state.clock.now().timestamp();
    let roles = OperatorRole::parse_all(&IdentityRoleRow::for_identity(&mut conn, oid).await?);
    let mut authenticators: Vec<AuthRow> = AuthenticatorRow::for_identity(&mut conn, oid)
        .await?
        .into_iter()
        .map(|a| AuthRow {
            kind: lang.tr("authenticator-key"),
            label: a.label,
            status: a.status.to_string(),
            created: local_time_secs(a.created_at),
            last_used: a.last_used_at.map(local_time_secs).unwrap_or_default(),
        })
        .collect();
    authenticators.extend(
        BadgeRow::for_identity(&mut conn, oid)
            .await?
            .into_iter()
            .map(|b| AuthRow {
                kind: lang.tr("authenticator-badge"),
                label: b.kind.to_string(),
                status: b.status.to_string(),
                created: local_time_secs(b.created_at),
                last_used: b.last_used_at.map(local_time_secs).unwrap_or_default(),
            }),
    );
    let sessions = SsoSessionRow::list_live(&mut conn, Some(oid), now, 100)
        .await?
        .into_iter()
        .map(|s| SessionRow {
            id: s.id.to_string(),
            started: local_time_secs(s.auth_time),
            expires: local_time_secs(s.expires_at),
            method: s.method.map(|m| m.to_string()).unwrap_or_default(),
            workstation: s.workstation_id.map(|w| w.to_string()).unwrap_or_default(),
        })
        .collect();
    // The person's audit trail, for those who may read the journal.
    let show_trail = op.may(Area::Audit, Access::Read);
    let trail = if show_trail {
        AuditEventRow::search(
            &mut conn,
            &AuditFilter {
                target: Some(oid.to_string()),
                ..AuditFilter::default()
            },
            50,
        )
        .await?
    } else {
        vec![]
    };
    let events = trail
        .into_iter()
        .map(|e| EventRow {
            at: super::audit::event_time(e.occurred_at),
            actor: e.actor,
            action: e.action,
            changes: e.changes,
        })
        .collect();
    let terms = clavis_store::models::ManualTermsRow::for_identity(&mut conn, oid)
        .await?
        .into_iter()
        .flat_map(|t| {
            [
                Fact {
                    label: lang.tr("manual-sponsor"),
                    value: t.sponsor,
                },
                Fact {
                    label: lang.tr("manual-reason"),
                    value: t.reason,
                },
                Fact {
                    label: lang.tr("manual-until"),
                    value: t.until_date,
                },
            ]
        })
        .collect();
    // National identity: when the RPPS was last verified, and the link to
    // Pro Santé Connect with its state.
    let now_secs = state.clock.now().timestamp();
    let mut national = Vec::new();
    if d.identity.rpps.is_some() {
        national.push(Fact {
            label: lang.tr("identity-rpps-verified"),
            value: IdentityRow::rpps_verified_at(&mut conn, oid)
                .await?
                .map(local_time_secs)
                .unwrap_or_else(|| lang.tr("identity-never")),
        });
    }
    let mut psc_standing = false;
    if let Some(link) = PscLinkRow::find(&mut conn, oid).await? {
        psc_standing = link.revoked_at.is_none() && link.expires_at > now_secs;
        let state_text = if link.revoked_at.is_some() {
            lang.tr("identity-psc-revoked")
        } else if link.expires_at <= now_secs {
            lang.tr("identity-psc-expired")
        } else {
            lang.tr1(
                "identity-psc-valid",
                "until",
                local_time_secs(link.expires_at),
            )
        };
        national.push(Fact {
            label: lang.tr("identity-psc-link"),
            value: format!("{} · {state_text}", link.national_id),
        });
    }
    let habilitations = HabilitationRow::list(
        &mut conn,
        &HabilitationFilter {
            oid: Some(oid),
            ..HabilitationFilter::default()
        },
        500,
    )
    .await?
    .into_iter()
    .map(|h| Fact {
        label: h.client_id.to_string(),
        value: format!(
            "{} · {}",
            h.role,
            h.reviewed_at
                .map(|t| lang.tr1("identity-confirmed", "at", local_time_secs(t)))
                .unwrap_or_else(|| lang.tr("identity-not-reviewed"))
        ),
    })
    .collect();
    let mut suspensions = IdentitySuspensionRow::for_identity(&mut conn, oid)
        .await?
        .into_iter()
        .map(|s| {
            let in_force = s.lifted_at.is_none();
            let shown = SuspensionShown {
                reason: s.reason,
                placed_by: s.placed_by.to_string(),
                placed_at: local_time_secs(s.placed_at),
                lifted: match (s.lifted_at, s.lifted_by, s.lift_reason) {
                    (Some(at), Some(by), reason) => format!(
                        "{} · {by} · {}",
                        local_time_secs(at),
                        reason.unwrap_or_default()
                    ),
                    _ => String::new(),
                },
            };
            (in_force, shown)
        })
        .collect::<Vec<_>>();
    let suspension = suspensions
        .iter()
        .position(|(in_force, _)| *in_force)
        .map(|i| suspensions.remove(i).1);
    let past_suspensions = suspensions.into_iter().map(|(_, s)| s).collect();
    let may_suspend = op.may(Area::Identities, Access::Write)
        && op.oid() != oid
        && (suspension.is_some() || d.identity.status != LifecycleStatus::Departed);
    let title = display_name(&d.identity);
    let p = DetailPage {
        c: op.chrome(Area::Identities, title),
        oid: oid.to_string(),
        status: status_label(lang, d.identity.status),
        facts: facts_of(lang, &d),
        national,
        habilitations,
        terms,
        accounts: d
            .identity
            .accounts
            .iter()
            .map(|a| Fact {
                label: a.login.clone(),
                value: format!(
                    "{} · {}{}",
                    a.source,
                    lang.tr(if a.enabled {
                        "account-enabled"
                    } else {
                        "account-disabled"
                    }),
                    a.disabled_reason
                        .as_deref()
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default()
                ),
            })
            .collect(),
        sources: d
            .identity
            .sources
            .iter()
            .map(|s| Fact {
                label: s.source.clone(),
                value: s.external_id.clone(),
            })
            .collect(),
        assignments: d
            .assignments
            .iter()
            .map(|a| Fact {
                label: format!(
                    "{}{}",
                    a.service.clone().unwrap_or_default(),
                    a.uf.as_deref()
                        .map(|u| format!(" / {u}"))
                        .unwrap_or_default()
                ),
                value: format!(
                    "{} → {}{}",
                    a.start_date.clone().unwrap_or_default(),
                    a.end_date.clone().unwrap_or_default(),
                    if a.current {
                        format!(" ({})", lang.tr("assignment-current"))
                    } else {
                        String::new()
                    }
                ),
            })
            .collect(),
        roles: roles
            .iter()
            .map(|r| super::role_label(lang, *r))
            .collect::<Vec<_>>()
            .join(", "),
        authenticators,
        sessions,
        lifecycle: d
            .lifecycle
            .iter()
            .map(|e| Fact {
                label: e["at"]
                    .as_str()
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                    .map(|t| super::local_time(t.with_timezone(&chrono::Utc)))
                    .unwrap_or_default(),
                value: format!(
                    "{} {}",
                    e["kind"].as_str().unwrap_or_default(),
                    e["reason"].as_str().unwrap_or_default()
                ),
            })
            .collect(),
        events,
        show_trail,
        may_end_sessions: op.may(Area::Sessions, Access::Write) && op.oid() != oid,
        suspension,
        past_suspensions,
        may_suspend,
        may_unlink_psc: psc_standing && op.may(Area::Identities, Access::Write) && op.oid() != oid,
    };
    page(&p)
}

/// Registers the identities' pages.
pub fn configure(cfg: &mut web::ServiceConfig) {
    // `manual` before `{key}`: it is not an identity's key.
    cfg.service(list)
        .service(manual_list)
        .service(manual_add)
        .service(detail)
        .service(suspend)
        .service(reinstate)
        .service(psc_unlink);
}

#[derive(Debug, Deserialize)]
struct UnlinkForm {
    #[serde(default)]
    note: String,
}

/// `POST /console/identities/{key}/psc-unlink` — withdraws the person's
/// link to Pro Santé Connect (a mistaken link, a doubt about who linked):
/// they can no longer sign in through PSC, nor be asserted to it, until
/// they link again with their e-CPS. A note is required; always after a
/// fresh login (it changes who the person is known to be).
#[post("/identities/{key}/psc-unlink")]
async fn psc_unlink(
    op: Operator,
    state: web::Data<AppState>,
    req: HttpRequest,
    key: web::Path<String>,
    form: super::ConsoleForm<UnlinkForm>,
) -> Result<HttpResponse, ApiError> {
    let note = clavis_directory::service::check_comment(&form.0.note)?.to_string();
    let mut conn = state.db.conn().await?;
    let target = service::find_identity(&mut conn, &key)
        .await?
        .ok_or_else(|| ApiError::NotFound("identity not found".into()))?
        .oid;
    let back = format!("/console/identities/{target}");
    op.may_act_strictly_on(&mut conn, &state, &req, target, "psc.unlink")
        .await?;
    if let Some(again) = op.fresh_login_needed(&state, &back) {
        return Ok(again);
    }
    drop(conn);
    let removed = clavis_federation::link::unlink(
        &state.db,
        state.clock.now(),
        target,
        clavis_core::PscUnlinkReason::ByOperator,
        &op.actor(),
        Some(&note),
    )
    .await?;
    if !removed {
        return Err(ApiError::NotFound(
            "no standing link to Pro Santé Connect".into(),
        ));
    }
    Ok(super::see_other(back))
}

#[derive(Debug, Deserialize)]
struct SuspensionForm {
    #[serde(default)]
    reason: String,
}

/// `POST /console/identities/{key}/suspend` — suspends the person at once
/// with a reason: accounts disabled, sessions ended, keys, badges and the
/// link to Pro Santé Connect suspended, in one transaction. Someone holding
/// an operator role is suspended by an administrator only, after a fresh
/// login.
#[post("/identities/{key}/suspend")]
async fn suspend(
    op: Operator,
    state: web::Data<AppState>,
    req: HttpRequest,
    key: web::Path<String>,
    form: super::ConsoleForm<SuspensionForm>,
) -> Result<HttpResponse, ApiError> {
    suspension_decision(op, state, req, key.into_inner(), form.0, Decision::Suspend).await
}

/// `POST /console/identities/{key}/reinstate` — lifts the suspension an
/// operator placed, with a reason: the person is recomputed from their
/// records (still suspended while HR's flag says so); what the suspension
/// took from them (accounts, keys, badges) works again.
#[post("/identities/{key}/reinstate")]
async fn reinstate(
    op: Operator,
    state: web::Data<AppState>,
    req: HttpRequest,
    key: web::Path<String>,
    form: super::ConsoleForm<SuspensionForm>,
) -> Result<HttpResponse, ApiError> {
    suspension_decision(
        op,
        state,
        req,
        key.into_inner(),
        form.0,
        Decision::Reinstate,
    )
    .await
}

async fn suspension_decision(
    op: Operator,
    state: web::Data<AppState>,
    req: HttpRequest,
    key: String,
    form: SuspensionForm,
    decision: Decision,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.db.conn().await?;
    let target = service::find_identity(&mut conn, &key)
        .await?
        .ok_or_else(|| ApiError::NotFound("identity not found".into()))?
        .oid;
    let back = format!("/console/identities/{target}");
    if op
        .may_act_strictly_on(&mut conn, &state, &req, target, decision.action())
        .await?
        && let Some(again) = op.fresh_login_needed(&state, &back)
    {
        return Ok(again);
    }
    drop(conn);
    clavis_directory::suspension::decide(
        &state.db,
        &state.directory,
        &state.subscribers,
        state.clock.now(),
        &target.to_string(),
        decision,
        &form.reason,
        &op.actor(),
    )
    .await?;
    Ok(super::see_other(back))
}

/// Manual identities listed per page.
const MANUAL_PAGE_SIZE: i64 = 100;

struct ManualRow {
    oid: Option<String>,
    name: String,
    sponsor: String,
    reason: String,
    until: String,
    status: String,
}

#[derive(Template)]
#[template(path = "console/manual.html")]
struct ManualPage {
    c: Chrome,
    rows: Vec<ManualRow>,
    results: String,
    may_create: bool,
    today: String,
    latest: String,
}

/// `GET /console/identities/manual` — people outside HR, soonest end
/// first, and (identity office, administrators) the form that adds one.
#[get("/identities/manual")]
async fn manual_list(op: Operator, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let lang = op.lang;
    let mut conn = state.db.conn().await?;
    let terms = clavis_store::models::ManualTermsRow::list(&mut conn, MANUAL_PAGE_SIZE, 0).await?;
    let total = clavis_store::models::ManualTermsRow::count(&mut conn).await?;
    let oids: Vec<clavis_core::Oid> = terms.iter().filter_map(|(_, o)| *o).collect();
    let people: std::collections::HashMap<clavis_core::Oid, clavis_store::models::IdentityRow> =
        clavis_store::models::IdentityRow::find_many(&mut conn, &oids)
            .await?
            .into_iter()
            .map(|i| (i.oid, i))
            .collect();
    let rows = terms
        .into_iter()
        .map(|(t, oid)| {
            let person = oid.and_then(|o| people.get(&o));
            ManualRow {
                oid: oid.map(|o| o.to_string()),
                name: person
                    .map(super::person_name)
                    .unwrap_or_else(|| lang.tr("manual-in-case")),
                status: person
                    .map(|i| status_label(lang, i.status))
                    .unwrap_or_default(),
                sponsor: t.sponsor,
                reason: t.reason,
                until: t.until_date,
            }
        })
        .collect();
    let today = state.clock.now().with_timezone(&chrono::Local).date_naive();
    let p = ManualPage {
        c: op.chrome(Area::Identities, lang.tr("manual-title")),
        rows,
        results: lang.tr1("console-results", "count", total),
        may_create: op.may(Area::Identities, Access::Write),
        today: today.to_string(),
        latest: (today + chrono::Days::new(clavis_directory::manual::MAX_TERM_DAYS)).to_string(),
    };
    page(&p)
}

#[derive(Debug, Deserialize)]
struct ManualForm {
    birth_name: String,
    #[serde(default)]
    used_name: String,
    given_names: String,
    birth_date: String,
    #[serde(default)]
    birth_place: String,
    #[serde(default)]
    rpps: String,
    until: String,
    sponsor: String,
    reason: String,
}

fn date_field(field: &str, text: &str) -> Result<chrono::NaiveDate, ApiError> {
    chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|_| ApiError::BadRequest(format!("{field}: a date YYYY-MM-DD")))
}

/// `POST /console/identities/manual` — adds a person outside HR: created,
/// or (they resemble someone) a case opened; refused when they are
/// someone already there.
#[post("/identities/manual")]
async fn manual_add(
    op: Operator,
    state: web::Data<AppState>,
    form: super::ConsoleForm<ManualForm>,
) -> Result<HttpResponse, ApiError> {
    use clavis_directory::manual::{self, ManualOutcome, ManualTerms, NewManualIdentity};
    let f = form.0;
    let rpps = match f.rpps.trim() {
        "" => None,
        r => Some(
            clavis_core::Rpps::parse(r).map_err(|e| ApiError::BadRequest(format!("rpps: {e}")))?,
        ),
    };
    let new = NewManualIdentity {
        birth_family_name: f.birth_name,
        used_family_name: Some(f.used_name).filter(|u| !u.trim().is_empty()),
        birth_given_names: f.given_names.split(',').map(str::to_string).collect(),
        birth_date: date_field("birth_date", &f.birth_date)?,
        birth_place: Some(f.birth_place).filter(|p| !p.trim().is_empty()),
        rpps,
        terms: Some(ManualTerms {
            sponsor: f.sponsor,
            reason: f.reason,
            until: date_field("until", &f.until)?,
        }),
    };
    let outcome = manual::add_identity(
        &state.db,
        &state.directory,
        &state.subscribers,
        state.clock.now(),
        new,
        &op.actor(),
    )
    .await?;
    let to = match outcome {
        ManualOutcome::Created(oid) => format!("/console/identities/{oid}"),
        ManualOutcome::CaseOpened { case_id, .. } => format!("/console/cases/{case_id}"),
    };
    Ok(super::see_other(to))
}
