//! Applications: the OpenID clients (DPI/DUI, Pro Santé Connect, any
//! application that delegates its login to Clavis), through the rules of
//! [`clavis_oidc::clients`].
//!
//! - `GET /console/applications` — the registered applications; the
//!   form that registers one.
//! - `POST /console/applications` — registers it; its secret (for a
//!   confidential client) is shown once, on the answer's page.
//! - `GET /console/applications/{id}` — its settings: redirect and logout
//!   URIs, back-channel logout, required acr, scopes, its discovery URL.
//! - `POST /console/applications/{id}/edit` — its name, redirect and
//!   logout URIs, back-channel logout URI, required acr and scopes (the
//!   claims it receives), under the registration's rules.
//! - `POST /console/applications/{id}/rotate-secret` — a new secret, shown
//!   once; the old one stops working at once.
//! - `POST /console/applications/{id}/remove` — removed; its codes and
//!   tokens stop working at once.
//!
//! Each action needs a fresh login: a secret or a registration is a way
//! to obtain tokens for anyone who signs in.

use super::{Chrome, ConsoleForm, NoFields, Operator, local_time, page};
use crate::AppState;
use crate::error::ApiError;
use actix_web::{HttpResponse, get, post, web};
use askama::Template;
use clavis_core::ClientId;
use clavis_core::roles::{Access, Area};
use clavis_oidc::clients::{self, ClientView, NewClient};
use clavis_store::models::OidcClientRow;
use serde::Deserialize;

/// A signing key in service.
struct KeyRow {
    alg: String,
    kid: String,
    age_days: i64,
    due: bool,
}

struct AppRow {
    id: String,
    name: String,
    kind: String,
    uris: usize,
    psc: bool,
}

#[derive(Template)]
#[template(path = "console/applications.html")]
struct ListPage {
    c: Chrome,
    rows: Vec<AppRow>,
    may_manage: bool,
    keys: Vec<KeyRow>,
}

#[get("/applications")]
async fn list(op: Operator, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let lang = op.lang;
    let mut conn = state.db.conn().await?;
    let rows = OidcClientRow::list_active(&mut conn)
        .await?
        .iter()
        .map(ClientView::of)
        .map(|v| AppRow {
            kind: lang.tr(if v.public {
                "application-public"
            } else {
                "application-confidential"
            }),
            uris: v.redirect_uris.len(),
            psc: v.psc,
            id: v.client_id.to_string(),
            name: v.name,
        })
        .collect();
    let now = state.clock.now().timestamp();
    let keys = clavis_store::models::OidcKeyRow::published(&mut conn, now)
        .await?
        .into_iter()
        .filter(|k| k.retired_at.is_none())
        .map(|k| {
            let age_days = (now - k.created_at) / 86_400;
            KeyRow {
                alg: k.alg,
                kid: k.kid,
                age_days,
                due: age_days >= super::dashboard::KEY_ROTATION_DAYS,
            }
        })
        .collect();
    let p = ListPage {
        c: op.chrome(Area::Applications, lang.tr("area-applications")),
        rows,
        may_manage: op.may(Area::Applications, Access::Write),
        keys,
    };
    page(&p)
}

/// The lines of a text area, trimmed, without the empty ones.
fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

#[derive(Debug, Deserialize)]
struct NewApplication {
    name: String,
    redirect_uris: String,
    #[serde(default)]
    post_logout_redirect_uris: String,
    #[serde(default)]
    backchannel_logout_uri: String,
    #[serde(default)]
    public: String,
    #[serde(default)]
    require_acr: String,
}

#[derive(Template)]
#[template(path = "console/application.html")]
struct DetailPage {
    c: Chrome,
    app: ClientView,
    created: String,
    discovery: String,
    /// A secret to show once (after a registration or a rotation).
    secret: Option<String>,
    may_manage: bool,
    /// Every scope Clavis serves.
    scopes: String,
    /// The acr values it may require.
    acr_levels: Vec<String>,
}

fn detail_page(
    op: &Operator,
    state: &AppState,
    app: ClientView,
    secret: Option<String>,
) -> Result<HttpResponse, ApiError> {
    let p = DetailPage {
        c: op.chrome(Area::Applications, app.name.clone()),
        created: local_time(app.created_at),
        discovery: state.oidc.url(clavis_oidc::paths::DISCOVERY),
        scopes: clavis_oidc::SCOPES.join(" "),
        acr_levels: state
            .oidc
            .registration_rules()
            .acr_order
            .levels()
            .iter()
            .map(|l| l.to_string())
            .collect(),
        app,
        secret,
        may_manage: op.may(Area::Applications, Access::Write),
    };
    page(&p)
}

#[post("/applications")]
async fn register(
    op: Operator,
    state: web::Data<AppState>,
    form: ConsoleForm<NewApplication>,
) -> Result<HttpResponse, ApiError> {
    if let Some(again) = op.fresh_login_needed(&state, "/console/applications") {
        return Ok(again);
    }
    let f = form.0;
    let mut conn = state.db.conn().await?;
    let (app, secret) = clients::register(
        &mut conn,
        state.clock.now(),
        NewClient {
            name: f.name.trim().to_string(),
            redirect_uris: lines(&f.redirect_uris),
            post_logout_redirect_uris: lines(&f.post_logout_redirect_uris),
            public: !f.public.is_empty(),
            backchannel_logout_uri: Some(f.backchannel_logout_uri.trim().to_string())
                .filter(|u| !u.is_empty()),
            require_acr: Some(f.require_acr.trim().to_string()).filter(|a| !a.is_empty()),
            ..NewClient::default()
        },
        &state.oidc.registration_rules(),
        &op.actor(),
    )
    .await?;
    detail_page(&op, &state, app, secret.map(|s| s.expose().clone()))
}

async fn find(state: &AppState, id: &str) -> Result<ClientView, ApiError> {
    let mut conn = state.db.conn().await?;
    OidcClientRow::find_active(&mut conn, &ClientId::from(id))
        .await?
        .map(|r| ClientView::of(&r))
        .ok_or_else(|| ApiError::NotFound("application not found".into()))
}

#[get("/applications/{id}")]
async fn detail(
    op: Operator,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let app = find(&state, &id).await?;
    detail_page(&op, &state, app, None)
}

/// The edit form: every field is sent (the page fills them in).
#[derive(Debug, Deserialize)]
struct EditApplication {
    name: String,
    redirect_uris: String,
    #[serde(default)]
    post_logout_redirect_uris: String,
    #[serde(default)]
    backchannel_logout_uri: String,
    #[serde(default)]
    require_acr: String,
    /// The scopes, separated by spaces.
    #[serde(default)]
    scopes: String,
}

#[post("/applications/{id}/edit")]
async fn edit(
    op: Operator,
    state: web::Data<AppState>,
    id: web::Path<String>,
    form: ConsoleForm<EditApplication>,
) -> Result<HttpResponse, ApiError> {
    let back = format!("/console/applications/{id}");
    if let Some(again) = op.fresh_login_needed(&state, &back) {
        return Ok(again);
    }
    let f = form.0;
    let optional = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
    let mut conn = state.db.conn().await?;
    clients::update(
        &mut conn,
        state.clock.now(),
        &ClientId::from(id.as_str()),
        clients::ClientChanges {
            name: Some(f.name),
            redirect_uris: Some(lines(&f.redirect_uris)),
            post_logout_redirect_uris: Some(lines(&f.post_logout_redirect_uris)),
            backchannel_logout_uri: Some(optional(&f.backchannel_logout_uri)),
            require_acr: Some(optional(&f.require_acr)),
            scopes: Some(f.scopes.split_whitespace().map(str::to_string).collect()),
        },
        &state.oidc.registration_rules(),
        &op.actor(),
    )
    .await?;
    Ok(super::see_other(back))
}

#[post("/applications/{id}/rotate-secret")]
async fn rotate(
    op: Operator,
    state: web::Data<AppState>,
    id: web::Path<String>,
    _form: ConsoleForm<NoFields>,
) -> Result<HttpResponse, ApiError> {
    if let Some(again) = op.fresh_login_needed(&state, &format!("/console/applications/{id}")) {
        return Ok(again);
    }
    let mut conn = state.db.conn().await?;
    let secret = clients::rotate_secret(
        &mut conn,
        state.clock.now(),
        &ClientId::from(id.as_str()),
        &op.actor(),
    )
    .await?;
    let app = find(&state, &id).await?;
    detail_page(&op, &state, app, Some(secret.expose().clone()))
}

#[post("/applications/{id}/remove")]
async fn remove(
    op: Operator,
    state: web::Data<AppState>,
    id: web::Path<String>,
    _form: ConsoleForm<NoFields>,
) -> Result<HttpResponse, ApiError> {
    if let Some(again) = op.fresh_login_needed(&state, &format!("/console/applications/{id}")) {
        return Ok(again);
    }
    let mut conn = state.db.conn().await?;
    clients::remove(
        &mut conn,
        state.clock.now(),
        &ClientId::from(id.as_str()),
        &op.actor(),
    )
    .await?;
    Ok(super::see_other("/console/applications"))
}

#[derive(Debug, Deserialize)]
struct RotateKeyForm {
    alg: String,
}

/// `POST /console/applications/keys/rotate` — a new signing key for an
/// algorithm: the old one stays published until the tokens it signed have
/// expired, every node takes the new one within a minute. After a fresh
/// login; audited `oidc.key.rotated`.
#[post("/applications/keys/rotate")]
async fn rotate_key(
    op: Operator,
    state: web::Data<AppState>,
    form: ConsoleForm<RotateKeyForm>,
) -> Result<HttpResponse, ApiError> {
    if let Some(again) = op.fresh_login_needed(&state, "/console/applications") {
        return Ok(again);
    }
    let alg = clavis_oidc::keys::Alg::parse(form.0.alg.trim())
        .ok_or_else(|| ApiError::BadRequest("alg: RS256 or ES256".into()))?;
    let mut conn = state.db.conn().await?;
    state
        .oidc
        .rotate(&mut conn, alg, state.clock.now().timestamp(), &op.actor())
        .await?;
    Ok(super::see_other("/console/applications#keys"))
}

/// Registers the applications' pages.
pub fn configure(cfg: &mut web::ServiceConfig) {
    // `keys/rotate` before `{id}`.
    cfg.service(list)
        .service(rotate_key)
        .service(register)
        .service(detail)
        .service(edit)
        .service(rotate)
        .service(remove);
}
