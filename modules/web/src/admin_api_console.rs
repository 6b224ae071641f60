//! The console's actions in the admin JSON API, through the same service
//! functions and the same audit: manual identities, synchronisation runs
//! (and dry runs), habilitations and their reviews, case decisions, ending
//! sessions, operator roles, the audit journal's search, and the
//! compliance report. API tokens themselves are made by people only (the
//! console, the CLI): a token never mints another. Each route's area (for a token's scopes) is
//! its first segment: `habilitations`, `cases`, `sessions`, `operators`,
//! `audit`, `compliance` ([`crate::extract::api_area`]).
//!
//! An API token acts as `api:<name>`: the console's rules on acting on
//! oneself or on a higher role are about people, and a token is none; what
//! it may reach is its scopes.

use crate::AppState;
use crate::error::ApiError;
use crate::extract::AdminActor;
use actix_web::{HttpResponse, get, post, web};
use clavis_core::roles::OperatorRole;
use clavis_core::{ClientId, Oid, SessionEndReason, SessionId};
use clavis_directory::service::{self, Resolution};
use clavis_oidc::habilitations::{self, ReviewDecision, ReviewScope, Validity};
use clavis_store::DbConn;
use clavis_store::models::{HabilitationFilter, HabilitationRow, OidcClientRow};
use serde::Deserialize;
use serde_json::json;

/// The identity `key` names (oid, RPPS or login), or 404.
async fn person(conn: &mut DbConn, key: &str) -> Result<Oid, ApiError> {
    Ok(crate::admin_api::person(conn, key).await?.oid)
}

#[derive(Debug, Deserialize)]
struct HabilitationsQuery {
    client_id: Option<String>,
    person: Option<String>,
    service: Option<String>,
    limit: Option<i64>,
}

/// Habilitations, by application, person or service.
#[get("/admin/api/habilitations")]
async fn habilitations_list(
    _admin: AdminActor,
    state: web::Data<AppState>,
    q: web::Query<HabilitationsQuery>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.db.conn().await?;
    let oid = match q.person.as_deref() {
        Some(k) => Some(person(&mut conn, k).await?),
        None => None,
    };
    let rows = HabilitationRow::list(
        &mut conn,
        &HabilitationFilter {
            client_id: q.client_id.as_deref().map(ClientId::from),
            oid,
            service: q.service.clone(),
        },
        q.limit.unwrap_or(1000).clamp(1, 10_000),
    )
    .await?;
    let items: Vec<_> = rows
        .into_iter()
        .map(|h| {
            json!({"oid": h.oid, "client_id": h.client_id, "role": h.role,
                   "granted_at": h.granted_at, "granted_by": h.granted_by,
                   "reviewed_at": h.reviewed_at, "valid_from": h.valid_from,
                   "valid_until": h.valid_until})
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "items": items })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantBody {
    person: String,
    client_id: String,
    role: String,
    valid_from: Option<chrono::NaiveDate>,
    valid_until: Option<chrono::NaiveDate>,
}

/// Grants a role in an application, with its first and last day; a role
/// held takes the new dates. `201` when new, `200` otherwise.
#[post("/admin/api/habilitations")]
async fn habilitations_grant(
    admin: AdminActor,
    state: web::Data<AppState>,
    body: web::Json<GrantBody>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let mut conn = state.db.conn().await?;
    let oid = person(&mut conn, &b.person).await?;
    admin
        .may_act_on(&mut conn, &state, oid, "habilitation.grant")
        .await?;
    let client = ClientId::from(b.client_id.as_str());
    OidcClientRow::find_active(&mut conn, &client)
        .await?
        .ok_or_else(|| ApiError::BadRequest("client_id: not a registered application".into()))?;
    let new = habilitations::grant_for(
        &mut conn,
        state.clock.now(),
        oid,
        &client,
        &b.role,
        Validity {
            from: b.valid_from,
            until: b.valid_until,
        },
        &admin.actor(),
    )
    .await?;
    let answer = json!({"oid": oid, "client_id": client, "role": b.role.trim()});
    Ok(if new {
        HttpResponse::Created().json(answer)
    } else {
        HttpResponse::Ok().json(answer)
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokeBody {
    person: String,
    client_id: String,
    role: String,
}

/// Withdraws a role; `404` when it was not held.
#[post("/admin/api/habilitations/revoke")]
async fn habilitations_revoke(
    admin: AdminActor,
    state: web::Data<AppState>,
    body: web::Json<RevokeBody>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.db.conn().await?;
    let oid = person(&mut conn, &body.person).await?;
    admin
        .may_act_on(&mut conn, &state, oid, "habilitation.revoke")
        .await?;
    let held = habilitations::revoke(
        &mut conn,
        state.clock.now(),
        oid,
        &ClientId::from(body.client_id.as_str()),
        &body.role,
        &admin.actor(),
        json!({}),
    )
    .await?;
    if !held {
        return Err(ApiError::NotFound("habilitation not found".into()));
    }
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CampaignBody {
    title: String,
    client_id: Option<String>,
    service: Option<String>,
}

/// Opens a review campaign over one application or one service's people.
#[post("/admin/api/habilitations/campaigns")]
async fn campaign_open(
    admin: AdminActor,
    state: web::Data<AppState>,
    body: web::Json<CampaignBody>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let scope = match (b.client_id, b.service) {
        (Some(c), None) => ReviewScope::Application(ClientId::from(c.as_str())),
        (None, Some(s)) => ReviewScope::Service(s),
        _ => {
            return Err(ApiError::BadRequest(
                "client_id or service: one of the two".into(),
            ));
        }
    };
    let mut conn = state.db.conn().await?;
    let id = habilitations::open_campaign(
        &mut conn,
        state.clock.now(),
        &b.title,
        scope,
        &admin.actor(),
    )
    .await?;
    Ok(HttpResponse::Created().json(json!({ "id": id })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DecisionBody {
    oid: Oid,
    client_id: String,
    role: String,
    /// `keep` or `remove`.
    decision: String,
}

/// One reviewer's decision on one habilitation of a campaign.
#[post("/admin/api/habilitations/campaigns/{id}/decide")]
async fn campaign_decide(
    admin: AdminActor,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Json<DecisionBody>,
) -> Result<HttpResponse, ApiError> {
    let decision = match body.decision.as_str() {
        "keep" => ReviewDecision::Keep,
        "remove" => ReviewDecision::Remove,
        _ => return Err(ApiError::BadRequest("decision: keep or remove".into())),
    };
    let mut conn = state.db.conn().await?;
    admin
        .may_act_on(&mut conn, &state, body.oid, "review.decide")
        .await?;
    habilitations::decide(
        &mut conn,
        state.clock.now(),
        &id,
        body.oid,
        &ClientId::from(body.client_id.as_str()),
        &body.role,
        decision,
        &admin.actor(),
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Closes a campaign: it takes no more decisions.
#[post("/admin/api/habilitations/campaigns/{id}/close")]
async fn campaign_close(
    admin: AdminActor,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.db.conn().await?;
    habilitations::close_campaign(&mut conn, state.clock.now(), &id, &admin.actor()).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResolveBody {
    /// `link`, `new`, `reject`, or `close` (Pro Santé Connect cases).
    decision: String,
    /// The identity to link (one of the case's candidates).
    candidate: Option<Oid>,
    /// Why (required).
    comment: String,
}

/// Decides a reconciliation case as the console does: link the entry to
/// one of the candidates, create a new identity, reject the entry, or
/// close a refused link to Pro Santé Connect; the comment is required.
#[post("/admin/api/cases/{id}/resolve")]
async fn case_resolve(
    admin: AdminActor,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Json<ResolveBody>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let resolution = match (b.decision.as_str(), b.candidate) {
        ("link", Some(oid)) => {
            let mut conn = state.db.conn().await?;
            let case = clavis_store::models::ReconciliationCase::find(&mut conn, &id)
                .await?
                .ok_or_else(|| ApiError::NotFound("case not found".into()))?;
            let candidates: serde_json::Value =
                serde_json::from_str(&case.candidates).unwrap_or_default();
            if !service::lists_candidate(&candidates, oid) {
                return Err(ApiError::BadRequest(
                    "candidate: not one of this case's candidates".into(),
                ));
            }
            admin
                .may_act_on(&mut conn, &state, oid, "case.link")
                .await?;
            Resolution::Link(oid.to_string())
        }
        ("link", None) => return Err(ApiError::BadRequest("candidate: required to link".into())),
        ("new", _) => Resolution::CreateNew,
        ("reject", _) => Resolution::Reject,
        ("close", _) => Resolution::Close(b.comment.clone()),
        _ => {
            return Err(ApiError::BadRequest(
                "decision: one of link, new, reject, close".into(),
            ));
        }
    };
    let oid = service::resolve_case(
        &state.db,
        &state.directory,
        &state.subscribers,
        state.clock.now(),
        &id,
        resolution,
        &b.comment,
        &admin.actor(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(json!({ "id": id.as_str(), "oid": oid })))
}

/// Ends one SSO session (the applications are told).
#[post("/admin/api/sessions/{id}/end")]
async fn session_end(
    admin: AdminActor,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = SessionId::from(id.into_inner());
    let mut conn = state.db.conn().await?;
    let now = state.clock.now();
    let session = clavis_store::models::SsoSessionRow::find(&mut conn, &id)
        .await?
        .filter(|s| s.ended_at.is_none() && s.expires_at > now.timestamp())
        .ok_or_else(|| ApiError::NotFound("session not found".into()))?;
    admin
        .may_act_on(&mut conn, &state, session.oid, "session.end")
        .await?;
    let actor = admin.actor();
    conn.transaction(async |tx: &mut DbConn| -> Result<(), ApiError> {
        clavis_sso::end(tx, now, &id, SessionEndReason::Revoked, &actor).await?;
        Ok(())
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PersonBody {
    person: String,
}

/// Ends every session of a person (oid, RPPS or login).
#[post("/admin/api/sessions/end-all")]
async fn sessions_end_all(
    admin: AdminActor,
    state: web::Data<AppState>,
    body: web::Json<PersonBody>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.db.conn().await?;
    let oid = person(&mut conn, &body.person).await?;
    admin
        .may_act_on(&mut conn, &state, oid, "session.end")
        .await?;
    let (now, actor) = (state.clock.now(), admin.actor());
    conn.transaction(async |tx: &mut DbConn| -> Result<(), ApiError> {
        clavis_sso::end_all_for(tx, now, oid, SessionEndReason::Revoked, &actor).await?;
        Ok(())
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleBody {
    person: String,
    role: OperatorRole,
}

/// Grants an operator role.
#[post("/admin/api/operators/roles/grant")]
async fn role_grant(
    admin: AdminActor,
    state: web::Data<AppState>,
    body: web::Json<RoleBody>,
) -> Result<HttpResponse, ApiError> {
    admin.may_manage_roles()?;
    let mut conn = state.db.conn().await?;
    let oid = person(&mut conn, &body.person).await?;
    clavis_directory::roles::grant_role(
        &mut conn,
        state.clock.now(),
        oid,
        body.role.as_str(),
        &admin.actor(),
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Withdraws an operator role (never the last administrator's); `404`
/// when it was not held.
#[post("/admin/api/operators/roles/revoke")]
async fn role_revoke(
    admin: AdminActor,
    state: web::Data<AppState>,
    body: web::Json<RoleBody>,
) -> Result<HttpResponse, ApiError> {
    admin.may_manage_roles()?;
    let mut conn = state.db.conn().await?;
    let oid = person(&mut conn, &body.person).await?;
    let held = clavis_directory::roles::revoke_role(
        &mut conn,
        state.clock.now(),
        oid,
        body.role.as_str(),
        &admin.actor(),
    )
    .await?;
    if !held {
        return Err(ApiError::NotFound("role not held".into()));
    }
    Ok(HttpResponse::NoContent().finish())
}

/// The audit journal's search (`actor`, `target`, `action` — a family
/// when it ends with a dot —, `from`, `to`, and `before`/`before_at` for
/// the next page), newest first, 100 per page.
#[get("/admin/api/audit")]
async fn audit_search(
    _admin: AdminActor,
    state: web::Data<AppState>,
    q: web::Query<crate::console::audit::SearchQuery>,
) -> Result<HttpResponse, ApiError> {
    const PAGE: i64 = 100;
    let filter = q.filter()?;
    let mut conn = state.db.conn().await?;
    let rows = clavis_store::models::AuditEventRow::search(&mut conn, &filter, PAGE).await?;
    let next = (rows.len() as i64 == PAGE)
        .then(|| {
            rows.last()
                .map(|e| json!({"before": e.seq, "before_at": e.occurred_at}))
        })
        .flatten();
    let items: Vec<_> = rows
        .into_iter()
        .map(|e| {
            json!({"seq": e.seq, "occurred_at": e.occurred_at, "actor": e.actor,
                   "action": e.action, "target": e.target,
                   "changes": serde_json::from_str::<serde_json::Value>(&e.changes).unwrap_or_default(),
                   "client_addr": e.client_addr, "request_id": e.request_id, "hash": e.hash})
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "items": items, "next": next })))
}

/// The compliance indicators now, with the people behind each.
#[get("/admin/api/compliance")]
async fn compliance_report(
    _admin: AdminActor,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.db.conn().await?;
    let r = clavis_directory::compliance::report(
        &mut conn,
        &state.directory.compliance,
        state.clock.now(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(r))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ManualBody {
    birth_family_name: String,
    used_family_name: Option<String>,
    birth_given_names: Vec<String>,
    birth_date: chrono::NaiveDate,
    birth_place: Option<String>,
    rpps: Option<String>,
    /// A person outside HR: their last day, who answers for them, why.
    until: Option<chrono::NaiveDate>,
    sponsor: Option<String>,
    reason: Option<String>,
}

/// Adds a person by hand, as the console's "Identités manuelles" does:
/// `201 {"oid"}` when created, `202 {"case_id", "reason", "candidates"}`
/// when they resemble someone (a case opened, nothing merged), `409` when
/// they are someone already there.
#[post("/admin/api/identities")]
async fn identity_add(
    admin: AdminActor,
    state: web::Data<AppState>,
    body: web::Json<ManualBody>,
) -> Result<HttpResponse, ApiError> {
    use clavis_directory::manual::{self, ManualOutcome, ManualTerms, NewManualIdentity};
    let b = body.into_inner();
    let rpps = b
        .rpps
        .as_deref()
        .map(|r| {
            clavis_core::Rpps::parse(r).map_err(|e| ApiError::BadRequest(format!("rpps: {e}")))
        })
        .transpose()?;
    let terms = match (b.until, b.sponsor, b.reason) {
        (Some(until), Some(sponsor), Some(reason)) => Some(ManualTerms {
            sponsor,
            reason,
            until,
        }),
        (None, None, None) => None,
        _ => {
            return Err(ApiError::BadRequest(
                "until, sponsor, reason: the three together for a person outside HR".into(),
            ));
        }
    };
    let outcome = manual::add_identity(
        &state.db,
        &state.directory,
        &state.subscribers,
        state.clock.now(),
        NewManualIdentity {
            birth_family_name: b.birth_family_name,
            used_family_name: b.used_family_name,
            birth_given_names: b.birth_given_names,
            birth_date: b.birth_date,
            birth_place: b.birth_place,
            rpps,
            terms,
        },
        &admin.actor(),
    )
    .await?;
    Ok(match outcome {
        ManualOutcome::Created(oid) => HttpResponse::Created().json(json!({ "oid": oid })),
        ManualOutcome::CaseOpened {
            case_id,
            reason,
            candidates,
        } => HttpResponse::Accepted().json(json!({
            "case_id": case_id, "reason": reason,
            "candidates": candidates.iter().map(|(o, why)| json!({"oid": o, "why": why})).collect::<Vec<_>>(),
        })),
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SyncBody {
    source: String,
    /// Show what would change, write nothing.
    #[serde(default)]
    dry_run: bool,
    /// Read the whole source rather than what changed.
    #[serde(default)]
    full: bool,
}

/// Runs a source: a dry run answers its report (what would be created,
/// moved, departed; nothing written); a run is started in the background
/// (`202`, audited `sync.requested`), its outcome in `/admin/api/sync-runs`.
#[post("/admin/api/sync-runs")]
async fn sync_start(
    admin: AdminActor,
    state: web::Data<AppState>,
    req: actix_web::HttpRequest,
    body: web::Json<SyncBody>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let name = state
        .directory
        .sources
        .iter()
        .find(|s| s.name == b.source)
        .map(|s| s.name.clone())
        .ok_or_else(|| ApiError::NotFound("no such source".into()))?;
    let engine = clavis_directory::SyncEngine::new(
        state.db.clone(),
        std::sync::Arc::clone(&state.directory),
        std::sync::Arc::clone(&state.clock),
        state.subscribers.clone(),
    );
    let opts = clavis_directory::SyncOptions {
        full: b.full,
        dry_run: b.dry_run,
    };
    if b.dry_run {
        let report = engine
            .run(&name, opts, &clavis_directory::NoProgress)
            .await
            .map_err(|e| ApiError::BadRequest(format!("{name}: {e}")))?;
        return Ok(HttpResponse::Ok().json(report));
    }
    let mut conn = state.db.conn().await?;
    clavis_audit::AuditEvent::new(
        admin.actor(),
        clavis_core::AuditAction::SyncRequested,
        Some(name.clone()),
        json!({"full": b.full}),
    )
    .from_addr(crate::request::client_ip(&req))
    .record(&mut conn, state.clock.now())
    .await
    .map_err(ApiError::internal)?;
    drop(conn);
    let source = name.clone();
    tokio::spawn(async move {
        if let Err(e) = engine
            .run(&source, opts, &clavis_directory::NoProgress)
            .await
        {
            tracing::warn!(sync.source = %source, error = %e, "admin API: the sync run failed");
        }
    });
    Ok(HttpResponse::Accepted().json(json!({ "source": name })))
}

/// Registers the routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(identity_add)
        .service(sync_start)
        .service(habilitations_list)
        .service(habilitations_grant)
        .service(habilitations_revoke)
        .service(campaign_open)
        .service(campaign_decide)
        .service(campaign_close)
        .service(case_resolve)
        .service(session_end)
        .service(sessions_end_all)
        .service(role_grant)
        .service(role_revoke)
        .service(audit_search)
        .service(compliance_report);
}
