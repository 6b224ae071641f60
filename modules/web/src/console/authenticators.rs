//! The authenticators area: security keys and badges.
//!
//! - `GET /console/authenticators` — by model (keys counted per AAGUID, a
//!   model's keys with `?aaguid=`), by status, or one person's (`?oid=`).
//! - `POST /console/authenticators/keys/{id}/revoke` and
//!   `…/badges/{id}/revoke` (field `reason`: lost, stolen, broken, other)
//!   — revoked, and every session it opened ends with it (applications
//!   told by back-channel logout), in one transaction.
//! - `POST /console/authenticators/pin-unlock` (field `oid`) — lifts a
//!   badge PIN lock.
//! - `POST /console/authenticators/enrolment-links` (field `oid`) — a
//!   one-time link to register a security key, shown once.
//!
//! Every action obeys [`Operator::may_act_strictly_on`]: never on oneself,
//! and on someone who holds an operator role only by an administrator,
//! after a fresh login (an enrolment link or a PIN is a way into their
//! account).

use super::{Chrome, ConsoleForm, Operator, local_time_secs, page};
use crate::AppState;
use crate::error::ApiError;
use crate::pages::Lang;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use askama::Template;
use clavis_core::roles::{Access, Area};
use clavis_core::{AuthenticatorStatus, BadgeId, BadgeStatus, Oid};
use clavis_store::models::{AuthenticatorRow, BadgeRow, IdentityRow};
use serde::Deserialize;

/// Rows listed at most per kind.
const LIST_LIMIT: i64 = 200;

/// The reasons an operator revokes an authenticator for.
const REASONS: [&str; 4] = ["lost", "stolen", "broken", "other"];

fn reason_label(lang: Lang, reason: &str) -> String {
    lang.tr(match reason {
        "lost" => "reason-lost",
        "stolen" => "reason-stolen",
        "broken" => "reason-broken",
        _ => "reason-other",
    })
}

#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    #[serde(default)]
    oid: String,
    #[serde(default)]
    aaguid: String,
    #[serde(default)]
    status: String,
}

struct Model {
    aaguid: String,
    href: String,
    count: i64,
}

struct Row {
    id: String,
    /// `keys` or `badges` (the action's path).
    kind_path: &'static str,
    kind: String,
    label: String,
    oid: String,
    owner: String,
    status: String,
    created: String,
    last_used: String,
    may_revoke: bool,
}

struct ReasonOption {
    value: &'static str,
    label: String,
}

#[derive(Template)]
#[template(path = "console/authenticators.html")]
struct ListPage {
    c: Chrome,
    person: Option<String>,
    person_oid: String,
    models: Vec<Model>,
    rows: Vec<Row>,
    reasons: Vec<ReasonOption>,
    may_act: bool,
    status: String,
}

#[get("/authenticators")]
async fn list(
    op: Operator,
    state: web::Data<AppState>,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let lang = op.lang;
    let mut conn = state.db.conn().await?;
    let person: Option<Oid> = match q.oid.trim() {
        "" => None,
        s => Some(super::parse_oid("oid", s)?),
    };
    let (key_status, badge_status) = match q.status.trim() {
        "" | "active" => (Some(AuthenticatorStatus::Active), Some(BadgeStatus::Active)),
        "suspended" => (
            Some(AuthenticatorStatus::Suspended),
            Some(BadgeStatus::Suspended),
        ),
        "revoked" => (
            Some(AuthenticatorStatus::Revoked),
            Some(BadgeStatus::Revoked),
        ),
        "all" => (None, None),
        other => {
            return Err(ApiError::BadRequest(format!(
                "status: {other} is not one of active, suspended, revoked, all"
            )));
        }
    };
    let (keys, badges) = match person {
        Some(oid) => (
            AuthenticatorRow::for_identity(&mut conn, oid).await?,
            BadgeRow::for_identity(&mut conn, oid).await?,
        ),
        None => {
            let aaguid = Some(q.aaguid.trim()).filter(|a| !a.is_empty());
            let keys =
                AuthenticatorRow::list_keys(&mut conn, aaguid, key_status, LIST_LIMIT).await?;
            let badges = if aaguid.is_some() {
                vec![]
            } else {
                BadgeRow::list(&mut conn, badge_status, LIST_LIMIT).await?
            };
            (keys, badges)
        }
    };
    let models = if person.is_none() {
        AuthenticatorRow::count_by_model(&mut conn, AuthenticatorStatus::Active)
            .await?
            .into_iter()
            .map(|(aaguid, count)| {
                let aaguid = aaguid.unwrap_or_default();
                Model {
                    href: format!(
                        "/console/authenticators?aaguid={}",
                        url::form_urlencoded::byte_serialize(aaguid.as_bytes()).collect::<String>()
                    ),
                    aaguid,
                    count,
                }
            })
            .collect()
    } else {
        vec![]
    };
    let owner_oids: Vec<Oid> = keys
        .iter()
        .map(|k| k.oid)
        .chain(badges.iter().map(|b| b.oid))
        .collect();
    let owners = super::person_names(&mut conn, &owner_oids).await?;
    let may_act = op.may(Area::Authenticators, Access::Write);
    let mut rows: Vec<Row> = keys
        .into_iter()
        .map(|k| Row {
            may_revoke: may_act && k.oid != op.oid() && k.status != AuthenticatorStatus::Revoked,
            id: k.id,
            kind_path: "keys",
            kind: lang.tr("authenticator-key"),
            label: match k.aaguid {
                Some(a) => format!("{} ({a})", k.label),
                None => k.label,
            },
            oid: k.oid.to_string(),
            owner: owners.get(&k.oid).cloned().unwrap_or_default(),
            status: k.status.to_string(),
            created: local_time_secs(k.created_at),
            last_used: k.last_used_at.map(local_time_secs).unwrap_or_default(),
        })
        .collect();
    rows.extend(badges.into_iter().map(|b| Row {
        may_revoke: may_act && b.oid != op.oid() && b.status != BadgeStatus::Revoked,
        id: b.id.to_string(),
        kind_path: "badges",
        kind: lang.tr("authenticator-badge"),
        label: match b.expires_at {
            Some(t) => format!("{} → {}", b.kind, local_time_secs(t)),
            None => b.kind.to_string(),
        },
        oid: b.oid.to_string(),
        owner: owners.get(&b.oid).cloned().unwrap_or_default(),
        status: b.status.to_string(),
        created: local_time_secs(b.created_at),
        last_used: b.last_used_at.map(local_time_secs).unwrap_or_default(),
    }));
    let person_name = match person {
        Some(oid) => Some(
            super::person_names(&mut conn, &[oid])
                .await?
                .remove(&oid)
                .ok_or_else(|| ApiError::NotFound("identity not found".into()))?,
        ),
        None => None,
    };
    let p = ListPage {
        c: op.chrome(Area::Authenticators, lang.tr("area-authenticators")),
        person_oid: person.map(|o| o.to_string()).unwrap_or_default(),
        person: person_name,
        models,
        rows,
        reasons: REASONS
            .iter()
            .map(|r| ReasonOption {
                value: r,
                label: reason_label(lang, r),
            })
            .collect(),
        may_act,
        status: q.status.trim().to_string(),
    };
    page(&p)
}

#[derive(Debug, Deserialize)]
struct RevokeForm {
    reason: String,
    /// Where to come back to (a console path).
    #[serde(default)]
    back: String,
}

/// Where to go after an action: `back` if it is a console path, else the
/// person's authenticators.
fn after(back: &str, oid: Oid) -> HttpResponse {
    let to = if back.starts_with("/console/") && !back.contains("//") && !back.contains('\\') {
        back.to_string()
    } else {
        format!("/console/authenticators?oid={oid}")
    };
    super::see_other(to)
}

fn checked_reason(r: &str) -> Result<&'static str, ApiError> {
    REASONS
        .iter()
        .find(|x| **x == r.trim())
        .copied()
        .ok_or_else(|| ApiError::BadRequest("reason: one of lost, stolen, broken, other".into()))
}

#[post("/authenticators/keys/{id}/revoke")]
async fn revoke_key(
    op: Operator,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    form: ConsoleForm<RevokeForm>,
) -> Result<HttpResponse, ApiError> {
    let reason = checked_reason(&form.0.reason)?;
    let mut conn = state.db.conn().await?;
    let key = AuthenticatorRow::find(&mut conn, &id)
        .await?
        .filter(|k| k.status != AuthenticatorStatus::Revoked)
        .ok_or_else(|| ApiError::NotFound(op.lang.tr("authenticator-not-found")))?;
    if op
        .may_act_strictly_on(&mut conn, &state, &req, key.oid, "key.revoke")
        .await?
        && let Some(again) = op.fresh_login_needed(&state, &form.0.back)
    {
        return Ok(again);
    }
    clavis_authn::remove_key(
        &mut conn,
        state.clock.now(),
        key.oid,
        &key.id,
        reason,
        &op.actor(),
    )
    .await?;
    Ok(after(&form.0.back, key.oid))
}

#[post("/authenticators/badges/{id}/revoke")]
async fn revoke_badge(
    op: Operator,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    form: ConsoleForm<RevokeForm>,
) -> Result<HttpResponse, ApiError> {
    let reason = checked_reason(&form.0.reason)?;
    let id = BadgeId::from(id.into_inner());
    let mut conn = state.db.conn().await?;
    let badge = BadgeRow::find(&mut conn, &id)
        .await?
        .filter(|b| b.status != BadgeStatus::Revoked)
        .ok_or_else(|| ApiError::NotFound(op.lang.tr("authenticator-not-found")))?;
    if op
        .may_act_strictly_on(&mut conn, &state, &req, badge.oid, "badge.revoke")
        .await?
        && let Some(again) = op.fresh_login_needed(&state, &form.0.back)
    {
        return Ok(again);
    }
    clavis_authn::badge::records::revoke(&mut conn, state.clock.now(), &id, reason, &op.actor())
        .await?;
    Ok(after(&form.0.back, badge.oid))
}

#[derive(Debug, Deserialize)]
struct PersonForm {
    oid: String,
}

impl PersonForm {
    fn oid(&self) -> Result<Oid, ApiError> {
        super::parse_oid("oid", &self.oid)
    }
}

#[post("/authenticators/pin-unlock")]
async fn pin_unlock(
    op: Operator,
    state: web::Data<AppState>,
    req: HttpRequest,
    form: ConsoleForm<PersonForm>,
) -> Result<HttpResponse, ApiError> {
    let oid = form.0.oid()?;
    let mut conn = state.db.conn().await?;
    if op
        .may_act_strictly_on(&mut conn, &state, &req, oid, "badge.pin_unlock")
        .await?
        && let Some(again) = op.fresh_login_needed(&state, &format!("/console/identities/{oid}"))
    {
        return Ok(again);
    }
    if !clavis_authn::badge::pin::unlock(&mut conn, state.clock.now(), oid, &op.actor()).await? {
        return Err(ApiError::NotFound(op.lang.tr("pin-none")));
    }
    Ok(after(&format!("/console/identities/{oid}"), oid))
}

#[derive(Template)]
#[template(path = "console/enrolment_link.html")]
struct LinkPage {
    c: Chrome,
    oid: String,
    url: String,
    expires: String,
}

#[post("/authenticators/enrolment-links")]
async fn enrolment_link(
    op: Operator,
    state: web::Data<AppState>,
    req: HttpRequest,
    form: ConsoleForm<PersonForm>,
) -> Result<HttpResponse, ApiError> {
    let oid = form.0.oid()?;
    let mut conn = state.db.conn().await?;
    if IdentityRow::find(&mut conn, oid).await?.is_none() {
        return Err(ApiError::NotFound("identity not found".into()));
    }
    if op
        .may_act_strictly_on(&mut conn, &state, &req, oid, "enrolment_link.issue")
        .await?
        && let Some(again) = op.fresh_login_needed(&state, &format!("/console/identities/{oid}"))
    {
        return Ok(again);
    }
    let link = clavis_authn::issue_enrolment_link(
        &mut conn,
        state.clock.now(),
        &state.public_url,
        oid,
        state.fido2.config().enrolment_link_hours,
        &op.actor(),
    )
    .await?;
    let p = LinkPage {
        c: op.chrome(Area::Authenticators, op.lang.tr("enrolment-link-title")),
        oid: oid.to_string(),
        url: link.url.expose().clone(),
        expires: super::local_time(link.expires_at),
    };
    page(&p)
}

/// Registers the authenticators' pages and actions.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list)
        .service(revoke_key)
        .service(revoke_badge)
        .service(pin_unlock)
        .service(enrolment_link);
}
