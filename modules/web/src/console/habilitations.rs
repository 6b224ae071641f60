//! Habilitations (roles per application) and their yearly review
//! ([`clavis_oidc::habilitations`]).
//!
//! - `GET /console/habilitations` (`?client=`, `?service=`) — the
//!   habilitations, with when each was last confirmed, and the review
//!   campaigns with their progress; the form that opens a campaign.
//! - `POST /console/habilitations/campaigns` — opens a campaign over one
//!   application or one service's people.
//! - `GET /console/habilitations/campaigns/{id}` — its items, kept,
//!   removed or awaiting; keep or remove each.
//! - `POST /console/habilitations/campaigns/{id}/decide` — one decision
//!   (never on one's own habilitations); a removal withdraws at once.
//! - `POST /console/habilitations/campaigns/{id}/close`.
//! - `POST /console/habilitations/grant` — a role in an application for a
//!   person (oid, RPPS or login), with its first and last day; a role held
//!   takes the new dates.
//! - `POST /console/habilitations/revoke` — withdraws one.
//!
//! Nobody grants or withdraws their own habilitations, nor those of
//! someone holding a role they do not hold.

use super::{Chrome, ConsoleForm, NoFields, Operator, local_time_secs, page};
use crate::AppState;
use crate::error::ApiError;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use askama::Template;
use clavis_core::roles::{Access, Area};
use clavis_core::{ClientId, Oid};
use clavis_oidc::habilitations::{self, ReviewDecision, ReviewScope};
use clavis_store::models::review::{ReviewCampaignRow, ReviewItemRow};
use clavis_store::models::{HabilitationFilter, HabilitationRow, OidcClientRow};
use serde::Deserialize;

/// Habilitations listed at most.
const LIST_LIMIT: i64 = 500;

struct HabRow {
    oid: String,
    name: String,
    client: String,
    role: String,
    granted: String,
    reviewed: String,
    /// `from → until`, blank when always valid.
    validity: String,
    /// Not in force today (not begun, or over).
    out_of_force: bool,
}

struct CampaignRow {
    id: String,
    title: String,
    scope: String,
    created: String,
    closed: bool,
    progress: String,
}

struct ClientOption {
    id: String,
    name: String,
}

#[derive(Template)]
#[template(path = "console/habilitations.html")]
struct ListPage {
    c: Chrome,
    rows: Vec<HabRow>,
    campaigns: Vec<CampaignRow>,
    clients: Vec<ClientOption>,
    may_review: bool,
}

#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    #[serde(default)]
    client: String,
    #[serde(default)]
    service: String,
}

fn progress_text(op: &Operator, items: &[ReviewItemRow]) -> String {
    let p = habilitations::progress(items);
    op.lang.tr_args("review-progress", &{
        let mut a = fluent_bundle::FluentArgs::new();
        a.set("decided", (p.kept + p.removed) as i64);
        a.set("total", p.total as i64);
        a.set("removed", p.removed as i64);
        a
    })
}

#[get("/habilitations")]
async fn list(
    op: Operator,
    state: web::Data<AppState>,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let lang = op.lang;
    let mut conn = state.db.conn().await?;
    let filter = HabilitationFilter {
        client_id: Some(q.client.trim())
            .filter(|c| !c.is_empty())
            .map(ClientId::from),
        oid: None,
        service: Some(q.service.trim().to_string()).filter(|s| !s.is_empty()),
    };
    let habs = HabilitationRow::list(&mut conn, &filter, LIST_LIMIT).await?;
    let today = state
        .clock
        .now()
        .with_timezone(&chrono::Local)
        .date_naive()
        .to_string();
    let oids: Vec<Oid> = habs.iter().map(|h| h.oid).collect();
    let names = super::person_names(&mut conn, &oids).await?;
    let rows = habs
        .into_iter()
        .map(|h| HabRow {
            name: names
                .get(&h.oid)
                .cloned()
                .unwrap_or_else(|| h.oid.to_string()),
            oid: h.oid.to_string(),
            client: h.client_id.to_string(),
            role: h.role.clone(),
            granted: local_time_secs(h.granted_at),
            reviewed: h.reviewed_at.map(local_time_secs).unwrap_or_default(),
            out_of_force: !h.in_force_on(&today),
            validity: match (&h.valid_from, &h.valid_until) {
                (None, None) => String::new(),
                (f, u) => format!(
                    "{} → {}",
                    f.clone().unwrap_or_default(),
                    u.clone().unwrap_or_default()
                ),
            },
        })
        .collect();
    let mut campaigns = Vec::new();
    for c in ReviewCampaignRow::list(&mut conn, 50).await? {
        let items = ReviewItemRow::for_campaign(&mut conn, &c.id).await?;
        campaigns.push(CampaignRow {
            progress: progress_text(&op, &items),
            scope: match (&c.client_id, &c.service) {
                (Some(client), _) => {
                    lang.tr1("review-scope-application", "client", client.to_string())
                }
                (None, Some(s)) => lang.tr1("review-scope-service", "service", s.clone()),
                _ => String::new(),
            },
            created: local_time_secs(c.created_at),
            closed: c.closed_at.is_some(),
            id: c.id,
            title: c.title,
        });
    }
    let clients = OidcClientRow::list_active(&mut conn)
        .await?
        .into_iter()
        .map(|c| ClientOption {
            id: c.client_id.to_string(),
            name: c.name,
        })
        .collect();
    let p = ListPage {
        c: op.chrome(Area::Habilitations, lang.tr("area-habilitations")),
        rows,
        campaigns,
        clients,
        may_review: op.may(Area::Habilitations, Access::Write),
    };
    page(&p)
}

#[derive(Debug, Deserialize)]
struct NewCampaign {
    title: String,
    scope: String,
    #[serde(default)]
    client: String,
    #[serde(default)]
    service: String,
}

#[post("/habilitations/campaigns")]
async fn open(
    op: Operator,
    state: web::Data<AppState>,
    form: ConsoleForm<NewCampaign>,
) -> Result<HttpResponse, ApiError> {
    let f = form.0;
    let scope = match f.scope.as_str() {
        "application" => ReviewScope::Application(ClientId::from(f.client.trim())),
        "service" => ReviewScope::Service(f.service),
        _ => return Err(ApiError::BadRequest("scope: application or service".into())),
    };
    let mut conn = state.db.conn().await?;
    let id =
        habilitations::open_campaign(&mut conn, state.clock.now(), &f.title, scope, &op.actor())
            .await?;
    Ok(super::see_other(format!(
        "/console/habilitations/campaigns/{id}"
    )))
}

struct ItemRow {
    oid: String,
    name: String,
    client: String,
    role: String,
    decision: String,
    decided_by: String,
    may_decide: bool,
}

#[derive(Template)]
#[template(path = "console/review.html")]
struct CampaignPage {
    c: Chrome,
    id: String,
    closed: bool,
    progress: String,
    items: Vec<ItemRow>,
    may_review: bool,
}

#[get("/habilitations/campaigns/{id}")]
async fn campaign(
    op: Operator,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let lang = op.lang;
    let mut conn = state.db.conn().await?;
    let c = ReviewCampaignRow::find(&mut conn, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound(lang.tr("review-not-found")))?;
    let items = ReviewItemRow::for_campaign(&mut conn, &id).await?;
    let oids: Vec<Oid> = items.iter().map(|i| i.oid).collect();
    let names = super::person_names(&mut conn, &oids).await?;
    let may_review = op.may(Area::Habilitations, Access::Write) && c.closed_at.is_none();
    let progress = progress_text(&op, &items);
    let rows = items
        .into_iter()
        .map(|i| ItemRow {
            name: names
                .get(&i.oid)
                .cloned()
                .unwrap_or_else(|| i.oid.to_string()),
            may_decide: may_review && i.decision.is_none() && i.oid != op.oid(),
            oid: i.oid.to_string(),
            client: i.client_id.to_string(),
            role: i.role,
            decision: match i.decision.as_deref() {
                Some("kept") => lang.tr("review-kept"),
                Some("removed") => lang.tr("review-removed"),
                _ => lang.tr("review-awaiting"),
            },
            decided_by: i.decided_by.map(|a| a.to_string()).unwrap_or_default(),
        })
        .collect();
    let p = CampaignPage {
        c: op.chrome(Area::Habilitations, c.title.clone()),
        id: c.id,
        closed: c.closed_at.is_some(),
        progress,
        items: rows,
        may_review,
    };
    page(&p)
}

#[derive(Debug, Deserialize)]
struct DecisionForm {
    oid: String,
    client: String,
    role: String,
    decision: String,
}

#[post("/habilitations/campaigns/{id}/decide")]
async fn decide(
    op: Operator,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    form: ConsoleForm<DecisionForm>,
) -> Result<HttpResponse, ApiError> {
    let f = form.0;
    let oid = super::parse_oid("oid", &f.oid)?;
    let decision = match f.decision.as_str() {
        "keep" => ReviewDecision::Keep,
        "remove" => ReviewDecision::Remove,
        _ => return Err(ApiError::BadRequest("decision: keep or remove".into())),
    };
    let mut conn = state.db.conn().await?;
    // Nobody reviews their own habilitations.
    op.may_act_on(&mut conn, &state, &req, oid, "review.decide")
        .await?;
    habilitations::decide(
        &mut conn,
        state.clock.now(),
        &id,
        oid,
        &ClientId::from(f.client.trim()),
        f.role.trim(),
        decision,
        &op.actor(),
    )
    .await?;
    Ok(super::see_other(format!(
        "/console/habilitations/campaigns/{id}"
    )))
}

#[post("/habilitations/campaigns/{id}/close")]
async fn close(
    op: Operator,
    state: web::Data<AppState>,
    id: web::Path<String>,
    _form: ConsoleForm<NoFields>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.db.conn().await?;
    habilitations::close_campaign(&mut conn, state.clock.now(), &id, &op.actor()).await?;
    Ok(super::see_other(format!(
        "/console/habilitations/campaigns/{id}"
    )))
}

#[derive(Debug, Deserialize)]
struct GrantForm {
    person: String,
    client: String,
    role: String,
    #[serde(default)]
    valid_from: String,
    #[serde(default)]
    valid_until: String,
}

/// A date field, or nothing when left empty.
fn optional_date(field: &str, text: &str) -> Result<Option<chrono::NaiveDate>, ApiError> {
    match text.trim() {
        "" => Ok(None),
        t => chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| ApiError::BadRequest(format!("{field}: a date YYYY-MM-DD"))),
    }
}

#[post("/habilitations/grant")]
async fn grant(
    op: Operator,
    state: web::Data<AppState>,
    req: HttpRequest,
    form: ConsoleForm<GrantForm>,
) -> Result<HttpResponse, ApiError> {
    let f = form.0;
    let validity = habilitations::Validity {
        from: optional_date("valid_from", &f.valid_from)?,
        until: optional_date("valid_until", &f.valid_until)?,
    };
    let mut conn = state.db.conn().await?;
    let person = clavis_directory::service::find_identity(&mut conn, &f.person)
        .await?
        .ok_or_else(|| ApiError::NotFound("identity not found".into()))?;
    let client = ClientId::from(f.client.trim());
    OidcClientRow::find_active(&mut conn, &client)
        .await?
        .ok_or_else(|| ApiError::BadRequest("client: not a registered application".into()))?;
    op.may_act_on(&mut conn, &state, &req, person.oid, "habilitation.grant")
        .await?;
    habilitations::grant_for(
        &mut conn,
        state.clock.now(),
        person.oid,
        &client,
        &f.role,
        validity,
        &op.actor(),
    )
    .await?;
    Ok(super::see_other(format!(
        "/console/habilitations?client={client}"
    )))
}

#[derive(Debug, Deserialize)]
struct RevokeForm {
    oid: String,
    client: String,
    role: String,
}

#[post("/habilitations/revoke")]
async fn revoke(
    op: Operator,
    state: web::Data<AppState>,
    req: HttpRequest,
    form: ConsoleForm<RevokeForm>,
) -> Result<HttpResponse, ApiError> {
    let f = form.0;
    let oid = super::parse_oid("oid", &f.oid)?;
    let client = ClientId::from(f.client.trim());
    let mut conn = state.db.conn().await?;
    op.may_act_on(&mut conn, &state, &req, oid, "habilitation.revoke")
        .await?;
    let held = habilitations::revoke(
        &mut conn,
        state.clock.now(),
        oid,
        &client,
        &f.role,
        &op.actor(),
        serde_json::json!({}),
    )
    .await?;
    if !held {
        return Err(ApiError::NotFound("habilitation not found".into()));
    }
    Ok(super::see_other(format!(
        "/console/habilitations?client={client}"
    )))
}

/// Registers the habilitations' pages.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list)
        .service(grant)
        .service(revoke)
        .service(open)
        .service(campaign)
        .service(decide)
        .service(close);
}
