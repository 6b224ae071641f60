//! The badge office's pages, for people with the `badge-office` (or
//! `admin`) role, signed in like everyone else.
//!
//! - `GET /badge-office` — pick the holder (matricule, RPPS or login), the
//!   enrolment workstation, and optionally "temporary until HH:MM today".
//! - `POST /badge-office/enrolments` (form, CSRF) — opens an enrolment
//!   bound to that workstation; its agent personalises the next blank card
//!   tapped there. Redirects to the enrolment's page.
//! - `GET /badge-office/enrolments/{id}` — waits for the card (the page
//!   polls `GET /badge-office/enrolments/{id}/status`), then asks the holder
//!   to choose a PIN (`POST /badge-office/enrolments/{id}/pin`, CSRF).

use crate::AppState;
use crate::error::ApiError;
use crate::pages::{Lang, esc, layout};
use crate::sso_web::{csrf_for, csrf_ok, current};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{Local, TimeZone};
use clavis_authn::badge::{BadgeService, Purpose};
use clavis_store::models::{BadgeTxRow, IdentityRoleRow, WorkstationRow};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

/// Roles allowed here.
pub const ROLES: [&str; 2] = ["badge-office", "admin"];

enum Access {
    SignIn,
    Denied,
    Granted(Box<clavis_sso::Session>, String),
}

async fn access(state: &AppState, req: &HttpRequest) -> Result<Access, ApiError> {
    let Some((s, token)) = current(state, req).await? else {
        return Ok(Access::SignIn);
    };
    let mut conn = state.db.conn().await?;
    let roles = IdentityRoleRow::for_identity(&mut conn, &s.oid).await?;
    if roles.iter().any(|r| ROLES.contains(&r.as_str())) {
        Ok(Access::Granted(Box::new(s), token))
    } else {
        Ok(Access::Denied)
    }
}

fn page(lang: Lang, title: &str, body: &str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(layout(lang, title, body, false))
}

fn gate(lang: Lang, a: &Access, here: &str) -> Option<HttpResponse> {
    match a {
        Access::SignIn => Some(
            HttpResponse::SeeOther()
                .insert_header((
                    header::LOCATION,
                    format!(
                        "/login?return_to={}",
                        url::form_urlencoded::byte_serialize(here.as_bytes()).collect::<String>()
                    ),
                ))
                .finish(),
        ),
        Access::Denied => Some(
            HttpResponse::Forbidden()
                .content_type("text/html; charset=utf-8")
                .body(layout(
                    lang,
                    lang.t("Accès refusé", "Access denied"),
                    &format!(
                        "<h1>{}</h1><p class=\"error\" role=\"alert\">{}</p>",
                        lang.t("Accès refusé", "Access denied"),
                        lang.t(
                            "Cette page est réservée au bureau des badges.",
                            "This page is for the badge office."
                        )
                    ),
                    false,
                )),
        ),
        Access::Granted(..) => None,
    }
}

#[get("/badge-office")]
async fn home(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let lang = Lang::of(&req);
    let a = access(&state, &req).await?;
    if let Some(r) = gate(lang, &a, "/badge-office") {
        return Ok(r);
    }
    let Access::Granted(_, token) = a else {
        return Err(ApiError::Forbidden);
    };
    let mut conn = state.db.conn().await?;
    let options: String = WorkstationRow::list(&mut conn)
        .await?
        .iter()
        .filter(|w| w.revoked_at.is_none())
        .map(|w| format!("<option value=\"{}\">{}</option>", esc(&w.id), esc(&w.name)))
        .collect();
    let body = format!(
        "<h1>{title}</h1><form method=\"post\" action=\"/badge-office/enrolments\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <label for=\"identity\">{who}</label>\
         <input id=\"identity\" name=\"identity\" required autocomplete=\"off\">\
         <label for=\"workstation\">{where_}</label>\
         <select id=\"workstation\" name=\"workstation\" required>{options}</select>\
         <label for=\"until\">{until}</label>\
         <input id=\"until\" name=\"until\" type=\"time\">\
         <button type=\"submit\">{go}</button></form>",
        title = lang.t("Bureau des badges", "Badge office"),
        csrf = esc(&csrf_for(&token)),
        who = lang.t(
            "Titulaire (matricule, RPPS ou identifiant)",
            "Holder (staff number, RPPS or login)"
        ),
        where_ = lang.t("Poste d'encodage", "Enrolment workstation"),
        until = lang.t(
            "Badge temporaire valable jusqu'à (aujourd'hui ; vide : badge permanent)",
            "Temporary badge valid until (today; empty: permanent badge)"
        ),
        go = lang.t("Encoder le badge", "Encode the badge"),
    );
    Ok(page(
        lang,
        lang.t("Bureau des badges", "Badge office"),
        &body,
    ))
}

/// The operator behind a form post (signed in, with the role, CSRF token
/// checked) and the badge service; `Err(page)` to sign in or refused.
async fn operator_form<'s>(
    state: &'s AppState,
    req: &HttpRequest,
    lang: Lang,
    csrf: &str,
) -> Result<Result<(Box<clavis_sso::Session>, &'s Arc<BadgeService>), HttpResponse>, ApiError> {
    let a = access(state, req).await?;
    if let Some(r) = gate(lang, &a, "/badge-office") {
        return Ok(Err(r));
    }
    let Access::Granted(s, token) = a else {
        return Err(ApiError::Forbidden);
    };
    if !csrf_ok(&token, csrf) {
        return Err(ApiError::Forbidden);
    }
    let svc = state
        .badge
        .as_ref()
        .ok_or_else(|| ApiError::NotFound("badge login is not enabled".into()))?;
    Ok(Ok((s, svc)))
}

#[derive(Debug, Deserialize)]
struct EnrolForm {
    csrf: String,
    identity: String,
    workstation: String,
    #[serde(default)]
    until: String,
}

#[post("/badge-office/enrolments")]
async fn enrol(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<EnrolForm>,
) -> Result<HttpResponse, ApiError> {
    let lang = Lang::of(&req);
    let (s, svc) = match operator_form(&state, &req, lang, &form.csrf).await? {
        Ok(ok) => ok,
        Err(page) => return Ok(page),
    };
    let now = state.clock.now();
    let until = match form.until.trim() {
        "" => None,
        t => {
            let time = chrono::NaiveTime::parse_from_str(t, "%H:%M")
                .map_err(|_| ApiError::BadRequest("until: HH:MM".into()))?;
            let at = Local
                .from_local_datetime(&now.with_timezone(&Local).date_naive().and_time(time))
                .single()
                .map(|d| d.with_timezone(&chrono::Utc))
                .filter(|d| *d > now)
                .ok_or_else(|| ApiError::BadRequest("until: a time later today".into()))?;
            Some(at)
        }
    };
    let mut conn = state.db.conn().await?;
    let person = clavis_directory::service::find_identity(&mut conn, form.identity.trim())
        .await?
        .ok_or_else(|| ApiError::NotFound("identity not found".into()))?;
    let ws = WorkstationRow::find(&mut conn, &form.workstation)
        .await?
        .filter(|w| w.revoked_at.is_none())
        .ok_or_else(|| ApiError::NotFound("workstation not found".into()))?;
    let opened = svc
        .open(
            &mut conn,
            now,
            Purpose::Enrol {
                oid: person.oid,
                until,
            },
            Some(&ws.id),
            &format!("identity:{}", s.oid),
        )
        .await?;
    Ok(HttpResponse::SeeOther()
        .insert_header((
            header::LOCATION,
            format!("/badge-office/enrolments/{}", opened.id),
        ))
        .finish())
}

/// The enrolment, if this operator opened it.
async fn own_enrolment(state: &AppState, operator: &str, id: &str) -> Result<BadgeTxRow, ApiError> {
    let mut conn = state.db.conn().await?;
    BadgeTxRow::find(&mut conn, id)
        .await?
        .filter(|t| t.purpose == "enrol" && t.created_by == format!("identity:{operator}"))
        .ok_or_else(|| ApiError::NotFound("enrolment not found".into()))
}

#[get("/badge-office/enrolments/{id}")]
async fn enrolment_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let lang = Lang::of(&req);
    let a = access(&state, &req).await?;
    if let Some(r) = gate(lang, &a, "/badge-office") {
        return Ok(r);
    }
    let Access::Granted(s, token) = a else {
        return Err(ApiError::Forbidden);
    };
    let tx = own_enrolment(&state, &s.oid, &id).await?;
    let body = format!(
        "<h1>{title}</h1>\
         <p id=\"enrolment-status\" class=\"status\" role=\"status\" aria-live=\"polite\" data-status-url=\"/badge-office/enrolments/{id}/status\" \
         data-done=\"{done}\" data-failed=\"{failed}\">{waiting}</p>\
         <form id=\"holder-pin\" method=\"post\" action=\"/badge-office/enrolments/{id}/pin\" hidden>\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <label for=\"pin\">{pin}</label>\
         <input id=\"pin\" name=\"pin\" type=\"password\" inputmode=\"numeric\" maxlength=\"12\" autocomplete=\"off\" required>\
         <label for=\"pin2\">{pin2}</label>\
         <input id=\"pin2\" name=\"pin2\" type=\"password\" inputmode=\"numeric\" maxlength=\"12\" autocomplete=\"off\" required>\
         <button type=\"submit\">{save}</button></form>\
         <script src=\"/static/badge-office.js\" defer></script>",
        title = lang.t("Encodage du badge", "Encoding the badge"),
        id = esc(&tx.id),
        waiting = lang.t(
            "Posez une carte vierge sur le lecteur du poste d'encodage…",
            "Place a blank card on the enrolment workstation's reader…"
        ),
        done = lang.t(
            "Badge encodé. Le titulaire choisit maintenant son code PIN (s'il a déjà un badge, il peut garder le sien : fermez cette page).",
            "Badge encoded. The holder now chooses a PIN (one who already has a badge may keep theirs: close this page)."
        ),
        failed = lang.t(
            "Encodage impossible avec cette carte.",
            "This card could not be encoded."
        ),
        csrf = esc(&csrf_for(&token)),
        pin = lang.t("Code PIN du titulaire", "Holder's PIN"),
        pin2 = lang.t("Confirmation", "Again"),
        save = lang.t("Enregistrer le code PIN", "Save the PIN"),
    );
    Ok(page(
        lang,
        lang.t("Encodage du badge", "Encoding the badge"),
        &body,
    ))
}

#[get("/badge-office/enrolments/{id}/status")]
async fn enrolment_status(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let Access::Granted(s, _) = access(&state, &req).await? else {
        return Err(ApiError::Unauthorized);
    };
    let tx = own_enrolment(&state, &s.oid, &id).await?;
    let status = if tx.status == "open" && tx.expires_at <= state.clock.now().timestamp() {
        "expired"
    } else {
        tx.status.as_str()
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({"status": status, "failure": tx.failure})))
}

#[derive(Debug, Deserialize)]
struct PinForm {
    csrf: String,
    pin: String,
    pin2: String,
}

#[post("/badge-office/enrolments/{id}/pin")]
async fn holder_pin(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    form: web::Form<PinForm>,
) -> Result<HttpResponse, ApiError> {
    let lang = Lang::of(&req);
    let (s, svc) = match operator_form(&state, &req, lang, &form.csrf).await? {
        Ok(ok) => ok,
        Err(page) => return Ok(page),
    };
    let tx = own_enrolment(&state, &s.oid, &id).await?;
    let (true, Some(holder)) = (
        tx.status == "done" && tx.expires_at > state.clock.now().timestamp(),
        tx.oid.clone(),
    ) else {
        return Err(ApiError::NotFound("enrolment not found".into()));
    };
    let message = if form.pin != form.pin2 {
        Err(lang
            .t("Les deux saisies diffèrent.", "The two entries differ.")
            .to_string())
    } else {
        let mut conn = state.db.conn().await?;
        match clavis_authn::badge::pin::set_pin(
            &mut conn,
            svc.hasher(),
            svc.policy(),
            state.clock.now(),
            &holder,
            &form.pin,
            &format!("identity:{}", s.oid),
        )
        .await
        {
            Ok(()) => Ok(()),
            Err(clavis_authn::badge::BadgeError::PinPolicy(p)) => Err(match lang {
                Lang::Fr => format!(
                    "Code PIN refusé : {} à {} chiffres, sans suite ni répétition évidente.",
                    svc.policy().pin_min,
                    svc.policy().pin_max
                ),
                Lang::En => format!("PIN refused: {p}."),
            }),
            Err(e) => return Err(e.into()),
        }
    };
    let body = match message {
        Ok(()) => format!(
            "<h1>{}</h1><p class=\"status\" role=\"status\">{}</p><p><a href=\"/badge-office\">{}</a></p>",
            lang.t("Badge prêt", "Badge ready"),
            lang.t(
                "Code PIN enregistré. Le titulaire peut se connecter avec son badge.",
                "PIN saved. The holder can sign in with the badge."
            ),
            lang.t("Encoder un autre badge", "Encode another badge"),
        ),
        Err(m) => format!(
            "<h1>{}</h1><p class=\"error\" role=\"alert\">{}</p><p><a href=\"/badge-office/enrolments/{}\">{}</a></p>",
            lang.t("Code PIN", "PIN"),
            esc(&m),
            esc(&tx.id),
            lang.t("Recommencer", "Try again"),
        ),
    };
    Ok(page(
        lang,
        lang.t("Bureau des badges", "Badge office"),
        &body,
    ))
}

#[get("/static/badge-office.js")]
async fn script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(include_str!("assets/badge-office.js"))
}

/// Registers the badge office's routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(home)
        .service(enrol)
        .service(enrolment_page)
        .service(enrolment_status)
        .service(holder_pin)
        .service(script);
}
