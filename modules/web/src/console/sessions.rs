//! `GET /console/sessions` — the SSO sessions open now (all, one
//! person's with `?oid=`, or one workstation's with `?workstation=`); `POST /console/sessions/{id}/end` ends one, and
//! `POST /console/sessions/end-all` (field `oid`) every one of a person.
//! Ending is refused on oneself and on anyone holding a role the operator
//! does not; it ends the applications' sessions too (back-channel logout)
//! and is audited `session.ended` with the operator as actor.

use super::{Chrome, ConsoleForm, NoFields, Operator, local_time_secs, page};
use crate::AppState;
use crate::error::ApiError;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use askama::Template;
use clavis_core::roles::{Access, Area};
use clavis_core::{Oid, SessionEndReason, SessionId};
use clavis_store::DbConn;
use clavis_store::models::{IdentityRow, SsoSessionRow};
use serde::Deserialize;

/// Sessions listed at most.
const LIST_LIMIT: i64 = 500;

#[derive(Debug, Deserialize)]
struct ListQuery {
    oid: Option<String>,
    workstation: Option<String>,
}

struct Row {
    id: String,
    oid: String,
    name: String,
    started: String,
    expires: String,
    method: String,
    workstation: String,
    address: String,
    may_end: bool,
}

#[derive(Template)]
#[template(path = "console/sessions.html")]
struct ListPage {
    c: Chrome,
    rows: Vec<Row>,
    results: String,
    filtered: bool,
}

#[get("/sessions")]
async fn list(
    op: Operator,
    state: web::Data<AppState>,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let lang = op.lang;
    let oid: Option<Oid> = match q.oid.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => Some(super::parse_oid("oid", s)?),
        None => None,
    };
    let mut conn = state.db.conn().await?;
    let now = state.clock.now().timestamp();
    let workstation = q
        .workstation
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(clavis_core::WorkstationId::from);
    let live = match &workstation {
        Some(ws) => {
            let mut at =
                SsoSessionRow::list_live_at_workstation(&mut conn, ws, now, LIST_LIMIT).await?;
            at.retain(|s| oid.is_none_or(|o| s.oid == o));
            at
        }
        None => SsoSessionRow::list_live(&mut conn, oid, now, LIST_LIMIT).await?,
    };
    let oids: Vec<Oid> = live.iter().map(|s| s.oid).collect();
    let names = super::person_names(&mut conn, &oids).await?;
    let may_end = op.may(Area::Sessions, Access::Write);
    let rows: Vec<Row> = live
        .into_iter()
        .map(|s| Row {
            id: s.id.to_string(),
            oid: s.oid.to_string(),
            name: names
                .get(&s.oid)
                .cloned()
                .unwrap_or_else(|| s.oid.to_string()),
            started: local_time_secs(s.auth_time),
            expires: local_time_secs(s.expires_at),
            method: s.method.map(|m| m.to_string()).unwrap_or_default(),
            workstation: s.workstation_id.map(|w| w.to_string()).unwrap_or_default(),
            address: s.client_ip.unwrap_or_default(),
            may_end: may_end && s.oid != op.oid(),
        })
        .collect();
    let p = ListPage {
        c: op.chrome(Area::Sessions, lang.tr("area-sessions")),
        results: lang.tr1("console-results", "count", rows.len() as i64),
        rows,
        filtered: oid.is_some() || workstation.is_some(),
    };
    page(&p)
}

/// Ends sessions of `target` in one transaction, after checking the
/// operator may act on them.
async fn end_for(
    op: &Operator,
    state: &AppState,
    req: &HttpRequest,
    conn: &mut DbConn,
    target: Oid,
    which: Option<SessionId>,
) -> Result<(), ApiError> {
    op.may_act_on(conn, state, req, target, "session.end")
        .await?;
    let now = state.clock.now();
    let actor = op.actor();
    conn.transaction(async |tx: &mut DbConn| -> Result<(), ApiError> {
        match &which {
            Some(id) => {
                clavis_sso::end(tx, now, id, SessionEndReason::Revoked, &actor).await?;
            }
            None => {
                clavis_sso::end_all_for(tx, now, target, SessionEndReason::Revoked, &actor).await?;
            }
        }
        Ok(())
    })
    .await
}

#[post("/sessions/{id}/end")]
async fn end_one(
    op: Operator,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    _form: ConsoleForm<NoFields>,
) -> Result<HttpResponse, ApiError> {
    let id = SessionId::from(id.into_inner());
    let mut conn = state.db.conn().await?;
    let now = state.clock.now().timestamp();
    let session = SsoSessionRow::find(&mut conn, &id)
        .await?
        .filter(|s| s.ended_at.is_none() && s.expires_at > now)
        .ok_or_else(|| ApiError::NotFound(op.lang.tr("sessions-not-found")))?;
    end_for(&op, &state, &req, &mut conn, session.oid, Some(id)).await?;
    Ok(super::see_other("/console/sessions"))
}

#[derive(Debug, Deserialize)]
struct EndAllForm {
    oid: String,
}

#[post("/sessions/end-all")]
async fn end_all(
    op: Operator,
    state: web::Data<AppState>,
    req: HttpRequest,
    form: ConsoleForm<EndAllForm>,
) -> Result<HttpResponse, ApiError> {
    let target = super::parse_oid("oid", &form.0.oid)?;
    let mut conn = state.db.conn().await?;
    if IdentityRow::find(&mut conn, target).await?.is_none() {
        return Err(ApiError::NotFound("identity not found".into()));
    }
    end_for(&op, &state, &req, &mut conn, target, None).await?;
    Ok(super::see_other(format!("/console/identities/{target}")))
}

/// Registers the sessions' pages and actions.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list).service(end_one).service(end_all);
}
