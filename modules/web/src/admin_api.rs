//! The admin JSON API: identities, reconciliation cases, sync runs,
//! enrolment links, security keys, applications (OIDC clients),
//! workstations and badges.
//! Every request needs `Authorization: Bearer <token>` (see
//! `clavis api-token create`). Interactive admin login comes later.

use crate::AppState;
use crate::error::ApiError;
use crate::extract::AdminActor;
use actix_web::{HttpResponse, get, post, put, web};
use clavis_core::{BadgeStatus, BadgeTxPurpose, BadgeTxStatus, ClientId, LifecycleStatus};
use clavis_directory::service;
use clavis_directory::suspension::Decision;
use serde::Deserialize;
use serde_json::json;

/// The identity `key` names (oid, RPPS or login), or 404.
pub(crate) async fn person(
    conn: &mut clavis_store::DbConn,
    key: &str,
) -> Result<clavis_store::models::IdentityRow, ApiError> {
    service::find_identity(conn, key)
        .await?
        .ok_or_else(|| ApiError::NotFound("identity not found".into()))
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    status: Option<String>,
    search: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

#[get("/admin/api/identities")]
async fn identities(
    _admin: AdminActor,
    state: web::Data<AppState>,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let status: Option<LifecycleStatus> = q.status.as_deref().map(str::parse).transpose()?;
    let page = service::list_identities(
        &state.db,
        status,
        q.search.as_deref(),
        q.limit.unwrap_or(100),
        q.offset.unwrap_or(0),
    )
    .await?;
    Ok(HttpResponse::Ok().json(page))
}

#[get("/admin/api/identities/{key}")]
async fn identity(
    _admin: AdminActor,
    state: web::Data<AppState>,
    key: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let detail = service::show_identity(&state.db, &key).await?;
    Ok(HttpResponse::Ok().json(detail))
}

#[derive(Debug, Deserialize)]
struct CasesQuery {
    all: Option<bool>,
    limit: Option<i64>,
    offset: Option<i64>,
}

#[get("/admin/api/cases")]
async fn cases(
    _admin: AdminActor,
    state: web::Data<AppState>,
    q: web::Query<CasesQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = service::list_cases(
        &state.db,
        q.all.unwrap_or(false),
        q.limit.unwrap_or(100),
        q.offset.unwrap_or(0),
    )
    .await?;
    Ok(HttpResponse::Ok().json(page))
}

#[get("/admin/api/cases/{id}")]
async fn case(
    _admin: AdminActor,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(service::show_case(&state.db, &id).await?))
}

#[derive(Debug, Deserialize)]
struct RunsQuery {
    source: Option<String>,
    limit: Option<i64>,
}

#[get("/admin/api/sync-runs")]
async fn sync_runs(
    _admin: AdminActor,
    state: web::Data<AppState>,
    q: web::Query<RunsQuery>,
) -> Result<HttpResponse, ApiError> {
    let runs = service::list_sync_runs(
        &state.db,
        q.source.as_deref(),
        q.limit.unwrap_or(50).clamp(1, 1000),
    )
    .await?;
    Ok(HttpResponse::Ok().json(json!({"items": runs})))
}

#[derive(Debug, Deserialize)]
struct LinkRequest {
    valid_hours: Option<i64>,
}

/// Issues a one-time enrolment link for an identity (oid, RPPS or login),
/// like `clavis enrol-link`.
#[post("/admin/api/identities/{key}/enrolment-link")]
async fn enrolment_link(
    admin: AdminActor,
    state: web::Data<AppState>,
    key: web::Path<String>,
    body: Option<web::Json<LinkRequest>>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.db.conn().await?;
    let person = person(&mut conn, &key).await?;
    admin
        .may_act_on(&mut conn, &state, person.oid, "enrolment_link.create")
        .await?;
    let hours = body
        .and_then(|b| b.valid_hours)
        .unwrap_or(state.fido2.config().enrolment_link_hours);
    let link = clavis_authn::issue_enrolment_link(
        &mut conn,
        state.clock.now(),
        &state.public_url,
        person.oid,
        hours,
        &admin.actor(),
    )
    .await?;
    Ok(HttpResponse::Created()
        .json(json!({"url": link.url.expose(), "expires_at": link.expires_at})))
}

/// An operator's reason for a decision.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReasonBody {
    reason: String,
}

/// Suspends a person at once (oid, RPPS or login) with a reason, as the
/// console does: `409` when a suspension is in force or they departed.
#[post("/admin/api/identities/{key}/suspend")]
async fn identity_suspend(
    admin: AdminActor,
    state: web::Data<AppState>,
    key: web::Path<String>,
    body: web::Json<ReasonBody>,
) -> Result<HttpResponse, ApiError> {
    suspension(admin, state, &key, &body.reason, Decision::Suspend).await
}

/// Lifts the suspension in force on a person with a reason: `409` when
/// there is none. The answer's `status` stays `suspended` while HR's flag
/// says so.
#[post("/admin/api/identities/{key}/reinstate")]
async fn identity_reinstate(
    admin: AdminActor,
    state: web::Data<AppState>,
    key: web::Path<String>,
    body: web::Json<ReasonBody>,
) -> Result<HttpResponse, ApiError> {
    suspension(admin, state, &key, &body.reason, Decision::Reinstate).await
}

async fn suspension(
    admin: AdminActor,
    state: web::Data<AppState>,
    key: &str,
    reason: &str,
    decision: Decision,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.db.conn().await?;
    let target = person(&mut conn, key).await?.oid;
    admin
        .may_act_on(&mut conn, &state, target, decision.action())
        .await?;
    drop(conn);
    let out = clavis_directory::suspension::decide(
        &state.db,
        &state.directory,
        &state.subscribers,
        state.clock.now(),
        &target.to_string(),
        decision,
        reason,
        &admin.actor(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(json!({"oid": out.oid, "status": out.status})))
}

/// A client registration, as `clavis client add` takes it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewClientBody {
    name: String,
    redirect_uris: Vec<String>,
    #[serde(default)]
    post_logout_redirect_uris: Vec<String>,
    #[serde(default)]
    public: bool,
    auth_method: Option<String>,
    jwks: Option<serde_json::Value>,
    backchannel_logout_uri: Option<String>,
    #[serde(default)]
    require_pkce: bool,
    require_acr: Option<String>,
    id_token_alg: Option<String>,
    scopes: Option<Vec<String>>,
    /// Pro Santé Connect itself (FI tiers).
    #[serde(default)]
    psc: bool,
}

/// The registered applications (OIDC clients).
#[get("/admin/api/clients")]
async fn clients_list(
    _admin: AdminActor,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.db.conn().await?;
    let all: Vec<_> = clavis_store::models::OidcClientRow::list_active(&mut conn)
        .await?
        .iter()
        .map(clavis_oidc::clients::ClientView::of)
        .collect();
    Ok(HttpResponse::Ok().json(all))
}

/// Registers an application; the answer carries its secret, once.
#[post("/admin/api/clients")]
async fn clients_add(
    admin: AdminActor,
    state: web::Data<AppState>,
    body: web::Json<NewClientBody>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let mut conn = state.db.conn().await?;
    let (c, secret) = clavis_oidc::clients::register(
        &mut conn,
        state.clock.now(),
        clavis_oidc::clients::NewClient {
            name: b.name,
            redirect_uris: b.redirect_uris,
            post_logout_redirect_uris: b.post_logout_redirect_uris,
            public: b.public,
            auth_method: b.auth_method,
            jwks: b.jwks,
            backchannel_logout_uri: b.backchannel_logout_uri,
            require_pkce: b.require_pkce,
            require_acr: b.require_acr,
            id_token_alg: b.id_token_alg,
            scopes: b.scopes,
            psc: b.psc,
        },
        &state.oidc.registration_rules(),
        &admin.actor(),
    )
    .await?;
    let mut v = serde_json::to_value(&c).map_err(ApiError::internal)?;
    v["client_secret"] = json!(secret.as_ref().map(|s| s.expose().clone()));
    v["discovery_url"] = json!(state.oidc.url(clavis_oidc::paths::DISCOVERY));
    Ok(HttpResponse::Created().json(v))
}

/// One application.
#[get("/admin/api/clients/{id}")]
async fn clients_show(
    _admin: AdminActor,
    state: web::Data<AppState>,
    id: web::Path<ClientId>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.db.conn().await?;
    let row = clavis_store::models::OidcClientRow::find_active(&mut conn, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound("client not found".into()))?;
    Ok(HttpResponse::Ok().json(clavis_oidc::clients::ClientView::of(&row)))
}

/// Removes an application.
#[actix_web::delete("/admin/api/clients/{id}")]
async fn clients_remove(
    admin: AdminActor,
    state: web::Data<AppState>,
    id: web::Path<ClientId>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.db.conn().await?;
    clavis_oidc::clients::remove(&mut conn, state.clock.now(), &id, &admin.actor()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A field that may be absent (kept), `null` (removed) or a value.
fn kept_or_null<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// The settings an operator changes in an application: each field given
/// replaces the registered one.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientChangesBody {
    name: Option<String>,
    redirect_uris: Option<Vec<String>>,
    post_logout_redirect_uris: Option<Vec<String>>,
    #[serde(default, deserialize_with = "kept_or_null")]
    backchannel_logout_uri: Option<Option<String>>,
    #[serde(default, deserialize_with = "kept_or_null")]
    require_acr: Option<Option<String>>,
    scopes: Option<Vec<String>>,
}

/// Changes an application's settings (as the console's form does): the
/// fields given, under the registration's rules; answers the application.
#[put("/admin/api/clients/{id}")]
async fn clients_update(
    admin: AdminActor,
    state: web::Data<AppState>,
    id: web::Path<ClientId>,
    body: web::Json<ClientChangesBody>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let mut conn = state.db.conn().await?;
    let view = clavis_oidc::clients::update(
        &mut conn,
        state.clock.now(),
        &id,
        clavis_oidc::clients::ClientChanges {
            name: b.name,
            redirect_uris: b.redirect_uris,
            post_logout_redirect_uris: b.post_logout_redirect_uris,
            backchannel_logout_uri: b.backchannel_logout_uri,
            require_acr: b.require_acr,
            scopes: b.scopes,
        },
        &state.oidc.registration_rules(),
        &admin.actor(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// A new secret for an application (the old one stops working).
#[post("/admin/api/clients/{id}/rotate-secret")]
async fn clients_rotate_secret(
    admin: AdminActor,
    state: web::Data<AppState>,
    id: web::Path<ClientId>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.db.conn().await?;
    let s = clavis_oidc::clients::rotate_secret(&mut conn, state.clock.now(), &id, &admin.actor())
        .await?;
    Ok(HttpResponse::Ok().json(json!({"client_id": id.as_str(), "client_secret": s.expose()})))
}

/// The registered workstations.
#[get("/admin/api/workstations")]
async fn workstations_list(
    _admin: AdminActor,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.db.conn().await?;
    let rows = clavis_store::models::WorkstationRow::list(&mut conn).await?;
    Ok(HttpResponse::Ok().json(
        rows.iter()
            .map(clavis_authn::badge::workstation::view)
            .collect::<Vec<_>>(),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewWorkstation {
    name: String,
    location: Option<String>,
}

/// Registers a workstation; the credential is in this answer only.
#[post("/admin/api/workstations")]
async fn workstations_add(
    admin: AdminActor,
    state: web::Data<AppState>,
    body: web::Json<NewWorkstation>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.db.conn().await?;
    let body = body.into_inner();
    let (row, secret) = clavis_authn::badge::workstation::register(
        &mut conn,
        state.clock.now(),
        &body.name,
        body.location,
        &admin.actor(),
    )
    .await?;
    let mut v = clavis_authn::badge::workstation::view(&row);
    v["credential"] = json!(secret.expose());
    Ok(HttpResponse::Created().json(v))
}

/// Revokes a workstation (id or name).
#[post("/admin/api/workstations/{key}/revoke")]
async fn workstations_revoke(
    admin: AdminActor,
    state: web::Data<AppState>,
    key: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.db.conn().await?;
    let done = clavis_authn::badge::workstation::revoke(
        &mut conn,
        state.clock.now(),
        &key,
        &admin.actor(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(json!({"revoked": done})))
}

/// A new credential for a workstation, in this answer only.
#[post("/admin/api/workstations/{key}/rotate-credential")]
async fn workstations_rotate(
    admin: AdminActor,
    state: web::Data<AppState>,
    key: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.db.conn().await?;
    let (ws, secret) = clavis_authn::badge::workstation::rotate_credential(
        &mut conn,
        state.clock.now(),
        &key,
        &admin.actor(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(json!({"id": ws.id, "credential": secret.expose()})))
}

#[derive(Debug, Deserialize)]
struct BadgeQuery {
    identity: Option<String>,
    status: Option<String>,
}

/// Badges, newest first (`?identity=` oid/RPPS/login, `?status=`).
#[get("/admin/api/badges")]
async fn badges_list(
    _admin: AdminActor,
    state: web::Data<AppState>,
    q: web::Query<BadgeQuery>,
) -> Result<HttpResponse, ApiError> {
    let status: Option<BadgeStatus> = q.status.as_deref().map(str::parse).transpose()?;
    let mut conn = state.db.conn().await?;
    let rows = match &q.identity {
        Some(key) => {
            let person = service::find_identity(&mut conn, key)
                .await?
                .ok_or_else(|| ApiError::NotFound("identity not found".into()))?;
            clavis_store::models::BadgeRow::for_identity(&mut conn, person.oid)
                .await?
                .into_iter()
                .filter(|b| status.is_none_or(|s| b.status == s))
                .collect()
        }
        None => clavis_store::models::BadgeRow::list(&mut conn, status, 10_000).await?,
    };
    Ok(HttpResponse::Ok().json(
        rows.iter()
            .map(clavis_authn::badge::records::view)
            .collect::<Vec<_>>(),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokeBody {
    reason: Option<String>,
}

/// The reason a revocation body gives (`lost` when there is no body); a
/// body that is there but not `{"reason": "…"}` is refused, never read as
/// "lost".
fn revoke_reason(body: &[u8]) -> Result<String, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok("lost".into());
    }
    let parsed: RevokeBody = serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("body: {e} (expected {{\"reason\": \"…\"}})")))?;
    Ok(parsed.reason.unwrap_or_else(|| "lost".into()))
}

/// Revokes a badge (lost, stolen, replaced).
#[post("/admin/api/badges/{id}/revoke")]
async fn badges_revoke(
    admin: AdminActor,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let reason = revoke_reason(&body)?;
    if reason.is_empty() || reason.len() > 200 {
        return Err(ApiError::BadRequest("reason: 1 to 200 characters".into()));
    }
    let mut conn = state.db.conn().await?;
    let badge_id = clavis_core::BadgeId::from(id.into_inner());
    if let Some(b) = clavis_store::models::BadgeRow::find(&mut conn, &badge_id).await? {
        admin
            .may_act_on(&mut conn, &state, b.oid, "badge.revoke")
            .await?;
    }
    clavis_authn::badge::records::revoke(
        &mut conn,
        state.clock.now(),
        &badge_id,
        &reason,
        &admin.actor(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(json!({"revoked": true})))
}

/// An identity's security keys (FIDO2), revoked ones left out.
#[get("/admin/api/identities/{key}/security-keys")]
async fn security_keys(
    _admin: AdminActor,
    state: web::Data<AppState>,
    key: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.db.conn().await?;
    let person = person(&mut conn, &key).await?;
    let keys = clavis_authn::keys_of(&mut conn, person.oid).await?;
    Ok(HttpResponse::Ok().json(json!({"items": keys, "total": keys.len()})))
}

/// Revokes someone's security key (lost, stolen, broken): it opens nothing
/// more, and the sessions it opened end at once with their applications'
/// tokens.
#[post("/admin/api/identities/{key}/security-keys/{id}/revoke")]
async fn security_keys_revoke(
    admin: AdminActor,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let (key, id) = path.into_inner();
    let reason = revoke_reason(&body)?;
    let mut conn = state.db.conn().await?;
    let person = person(&mut conn, &key).await?;
    admin
        .may_act_on(&mut conn, &state, person.oid, "key.revoke")
        .await?;
    clavis_authn::remove_key(
        &mut conn,
        state.clock.now(),
        person.oid,
        &id,
        &reason,
        &admin.actor(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(json!({"revoked": true})))
}

/// Lifts an identity's PIN lockout.
#[post("/admin/api/identities/{key}/badge-unlock")]
async fn badge_unlock(
    admin: AdminActor,
    state: web::Data<AppState>,
    key: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.db.conn().await?;
    let person = person(&mut conn, &key).await?;
    admin
        .may_act_on(&mut conn, &state, person.oid, "badge.pin_unlock")
        .await?;
    let done =
        clavis_authn::badge::pin::unlock(&mut conn, state.clock.now(), person.oid, &admin.actor())
            .await?;
    Ok(HttpResponse::Ok().json(json!({"unlocked": done})))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnrolmentBody {
    identity: String,
    workstation: String,
    /// A temporary badge valid until then (RFC 3339).
    temporary_until: Option<chrono::DateTime<chrono::Utc>>,
}

/// Waits for the next blank card tapped at a workstation to become the
/// identity's badge (a temporary one with `temporary_until`). Poll
/// `GET /admin/api/badges/enrolments/{id}` for the result.
#[post("/admin/api/badges/enrolments")]
async fn badges_enrol(
    admin: AdminActor,
    state: web::Data<AppState>,
    body: web::Json<EnrolmentBody>,
) -> Result<HttpResponse, ApiError> {
    let svc = state
        .badge
        .as_ref()
        .ok_or_else(|| ApiError::NotFound("badge login is not enabled".into()))?;
    let now = state.clock.now();
    if let Some(u) = body.temporary_until
        && (u <= now || u - now > chrono::Duration::days(7))
    {
        return Err(ApiError::BadRequest(
            "temporary_until: in the future, at most 7 days ahead".into(),
        ));
    }
    let mut conn = state.db.conn().await?;
    let person = service::find_identity(&mut conn, &body.identity)
        .await?
        .ok_or_else(|| ApiError::NotFound("identity not found".into()))?;
    admin
        .may_act_on(&mut conn, &state, person.oid, "badge.enrol")
        .await?;
    let ws = clavis_store::models::WorkstationRow::find_by_key(&mut conn, &body.workstation)
        .await?
        .filter(|w| w.revoked_at.is_none())
        .ok_or_else(|| ApiError::NotFound("workstation not found".into()))?;
    let opened = svc
        .open(
            &mut conn,
            now,
            clavis_authn::badge::Purpose::Enrol {
                oid: person.oid,
                until: body.temporary_until,
            },
            Some(&ws.id),
            &admin.actor(),
        )
        .await?;
    Ok(HttpResponse::Created()
        .json(json!({"id": opened.id, "workstation": ws.id, "expires_at": opened.expires_at})))
}

/// Where an enrolment stands: `open` (waiting for a card), `done` (with
/// the badge) or `failed` (with why).
#[get("/admin/api/badges/enrolments/{id}")]
async fn badges_enrolment(
    _admin: AdminActor,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.db.conn().await?;
    let tx = clavis_store::models::BadgeTxRow::find(&mut conn, &id)
        .await?
        .filter(|t| t.purpose == BadgeTxPurpose::Enrol)
        .ok_or_else(|| ApiError::NotFound("enrolment not found".into()))?;
    let badge = match &tx.badge_id {
        Some(b) => clavis_store::models::BadgeRow::find(&mut conn, b)
            .await?
            .map(|b| clavis_authn::badge::records::view(&b)),
        None => None,
    };
    let status = if tx.status == BadgeTxStatus::Open && tx.is_expired(state.clock.now().timestamp())
    {
        "expired"
    } else {
        tx.status.as_str()
    };
    Ok(HttpResponse::Ok()
        .json(json!({"id": tx.id, "status": status, "failure": tx.failure, "badge": badge})))
}

/// Registers the admin API routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(identities)
        .service(identity)
        .service(cases)
        .service(case)
        .service(sync_runs)
        .service(enrolment_link)
        .service(identity_suspend)
        .service(identity_reinstate)
        .service(clients_list)
        .service(clients_add)
        .service(clients_show)
        .service(clients_remove)
        .service(clients_rotate_secret)
        .service(clients_update)
        .service(workstations_list)
        .service(workstations_add)
        .service(workstations_revoke)
        .service(workstations_rotate)
        .service(badges_list)
        .service(badges_revoke)
        .service(badge_unlock)
        .service(badges_enrol)
        .service(badges_enrolment)
        .service(security_keys)
        .service(security_keys_revoke);
}
