//! Operators: who holds which role of Clavis, and the admin API's tokens.
//!
//! - `GET /console/operators` — the role grants and the API tokens.
//! - `POST /console/operators/grant` (`identity`, `role`) and
//!   `POST /console/operators/revoke` (`oid`, `role`) — never on one's own
//!   roles; the last administrator keeps theirs.
//! - `POST /console/operators/tokens` (`name`) — a new token, shown once;
//!   `POST /console/operators/tokens/{name}/revoke`.
//!
//! Every action needs a fresh login and is audited (`role.granted`,
//! `role.revoked`, `api_token.created`, `api_token.revoked`).

use super::{Chrome, ConsoleForm, NoFields, Operator, local_time_secs, page, role_label};
use crate::AppState;
use crate::error::ApiError;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use askama::Template;
use clavis_core::Oid;
use clavis_core::roles::{Access, Area, OperatorRole};
use clavis_directory::roles::{grant_role, revoke_role};
use clavis_store::models::{ApiToken, IdentityRoleRow};
use serde::Deserialize;
use std::collections::HashMap;

struct GrantRow {
    oid: String,
    name: String,
    role: String,
    role_label: String,
    granted_by: String,
    granted: String,
    may_revoke: bool,
}

struct TokenRow {
    name: String,
    scopes: String,
    expires: String,
    created: String,
    last_used: String,
    revoked: String,
}

struct AreaOption {
    value: &'static str,
    label: String,
}

struct RoleOption {
    value: &'static str,
    label: String,
}

#[derive(Template)]
#[template(path = "console/operators.html")]
struct ListPage {
    c: Chrome,
    grants: Vec<GrantRow>,
    tokens: Vec<TokenRow>,
    roles: Vec<RoleOption>,
    areas: Vec<AreaOption>,
    may_manage: bool,
    /// A token to show once, just created.
    token: Option<(String, String)>,
}

async fn list_page(
    op: &Operator,
    state: &AppState,
    token: Option<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let lang = op.lang;
    let mut conn = state.db.conn().await?;
    let grants = IdentityRoleRow::all(&mut conn).await?;
    let oids: Vec<Oid> = grants.iter().map(|g| g.oid).collect();
    let names = super::person_names(&mut conn, &oids).await?;
    let may_manage = op.may(Area::Operators, Access::Write);
    let p = ListPage {
        c: op.chrome(Area::Operators, lang.tr("area-operators")),
        grants: grants
            .into_iter()
            .map(|g| GrantRow {
                name: names
                    .get(&g.oid)
                    .cloned()
                    .unwrap_or_else(|| g.oid.to_string()),
                may_revoke: may_manage && g.oid != op.oid(),
                oid: g.oid.to_string(),
                role_label: g
                    .role
                    .parse::<OperatorRole>()
                    .map(|r| role_label(lang, r))
                    .unwrap_or_else(|_| g.role.clone()),
                role: g.role,
                granted_by: g.granted_by.to_string(),
                granted: local_time_secs(g.granted_at),
            })
            .collect(),
        tokens: ApiToken::list(&mut conn)
            .await?
            .into_iter()
            .map(|t| TokenRow {
                scopes: t
                    .scopes
                    .as_deref()
                    .map(|s| {
                        serde_json::from_str::<Vec<String>>(s)
                            .unwrap_or_default()
                            .join(" ")
                    })
                    .unwrap_or_else(|| lang.tr("operators-token-everything")),
                expires: t.expires_at.map(local_time_secs).unwrap_or_default(),
                name: t.name,
                created: local_time_secs(t.created_at),
                last_used: t.last_used_at.map(local_time_secs).unwrap_or_default(),
                revoked: t.revoked_at.map(local_time_secs).unwrap_or_default(),
            })
            .collect(),
        roles: OperatorRole::ALL
            .iter()
            .map(|r| RoleOption {
                value: r.as_str(),
                label: role_label(lang, *r),
            })
            .collect(),
        areas: Area::ALL
            .iter()
            .map(|a| AreaOption {
                value: a.as_str(),
                label: super::area_label(lang, *a),
            })
            .collect(),
        may_manage,
        token,
    };
    page(&p)
}

#[get("/operators")]
async fn list(op: Operator, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    list_page(&op, &state, None).await
}

fn back() -> HttpResponse {
    super::see_other("/console/operators")
}

#[derive(Debug, Deserialize)]
struct GrantForm {
    identity: String,
    role: String,
}

#[post("/operators/grant")]
async fn grant(
    op: Operator,
    state: web::Data<AppState>,
    req: HttpRequest,
    form: ConsoleForm<GrantForm>,
) -> Result<HttpResponse, ApiError> {
    if let Some(again) = op.fresh_login_needed(&state, "/console/operators") {
        return Ok(again);
    }
    let role: OperatorRole = form.0.role.parse()?;
    let mut conn = state.db.conn().await?;
    let person = clavis_directory::service::find_identity(&mut conn, &form.0.identity)
        .await?
        .ok_or_else(|| ApiError::NotFound("identity not found".into()))?;
    op.may_act_on(&mut conn, &state, &req, person.oid, "role.grant")
        .await?;
    grant_role(
        &mut conn,
        state.clock.now(),
        person.oid,
        role.as_str(),
        &op.actor(),
    )
    .await?;
    Ok(back())
}

#[derive(Debug, Deserialize)]
struct RevokeForm {
    oid: String,
    role: String,
}

#[post("/operators/revoke")]
async fn revoke(
    op: Operator,
    state: web::Data<AppState>,
    req: HttpRequest,
    form: ConsoleForm<RevokeForm>,
) -> Result<HttpResponse, ApiError> {
    if let Some(again) = op.fresh_login_needed(&state, "/console/operators") {
        return Ok(again);
    }
    let oid = super::parse_oid("oid", &form.0.oid)?;
    let mut conn = state.db.conn().await?;
    op.may_act_on(&mut conn, &state, &req, oid, "role.revoke")
        .await?;
    if !revoke_role(
        &mut conn,
        state.clock.now(),
        oid,
        form.0.role.trim(),
        &op.actor(),
    )
    .await?
    {
        return Err(ApiError::NotFound("this role is not held".into()));
    }
    Ok(back())
}

#[derive(Debug, Deserialize)]
struct TokenForm {
    name: String,
    /// Days until it stops working.
    #[serde(default)]
    expires_days: String,
    /// `scope-<area>` = `read` or `write` (empty: not that area).
    #[serde(flatten)]
    areas: HashMap<String, String>,
}

/// The longest life of a token made in the console: a year.
const TOKEN_MAX_DAYS: i64 = 366;

#[post("/operators/tokens")]
async fn create_token(
    op: Operator,
    state: web::Data<AppState>,
    form: ConsoleForm<TokenForm>,
) -> Result<HttpResponse, ApiError> {
    if let Some(again) = op.fresh_login_needed(&state, "/console/operators") {
        return Ok(again);
    }
    let f = form.0;
    let name = f.name.trim().to_string();
    let mut scopes = Vec::new();
    for area in Area::ALL {
        match f.areas.get(&format!("scope-{area}")).map(String::as_str) {
            None | Some("") => {}
            Some(access) => scopes.push((*area, access.parse::<Access>()?)),
        }
    }
    if scopes.is_empty() {
        return Err(ApiError::BadRequest(
            "scopes: choose at least one area".into(),
        ));
    }
    let days: i64 = f
        .expires_days
        .trim()
        .parse()
        .ok()
        .filter(|d| (1..=TOKEN_MAX_DAYS).contains(d))
        .ok_or_else(|| ApiError::BadRequest(format!("expires_days: 1 to {TOKEN_MAX_DAYS} days")))?;
    let now = state.clock.now();
    let mut conn = state.db.conn().await?;
    let secret = clavis_authn::api_token::create_scoped(
        &mut conn,
        &name,
        Some(&scopes),
        Some(now + chrono::Duration::days(days)),
        &op.actor(),
        now,
    )
    .await?;
    drop(conn);
    list_page(&op, &state, Some((name, secret.expose().clone()))).await
}

#[post("/operators/tokens/{name}/revoke")]
async fn revoke_token(
    op: Operator,
    state: web::Data<AppState>,
    name: web::Path<String>,
    _form: ConsoleForm<NoFields>,
) -> Result<HttpResponse, ApiError> {
    if let Some(again) = op.fresh_login_needed(&state, "/console/operators") {
        return Ok(again);
    }
    let mut conn = state.db.conn().await?;
    if !clavis_authn::api_token::revoke(&mut conn, &name, &op.actor(), state.clock.now()).await? {
        return Err(ApiError::NotFound("no live token of that name".into()));
    }
    Ok(back())
}

/// Registers the operators' pages.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list)
        .service(grant)
        .service(revoke)
        .service(create_token)
        .service(revoke_token);
}
