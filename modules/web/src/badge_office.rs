//! The badge office's pages, for people with the `badge-office` (or
//! `admin`) role, signed in like everyone else.
//!
//! - `GET /badge-office` — pick the holder (matricule, RPPS or login), the
//!   enrolment workstation, and optionally "temporary until HH:MM today".
//! - `POST /badge-office/enrolments` (form, CSRF, a fresh login) — opens
//!   an enrolment bound to that workstation, if the operator may serve
//!   that holder ([`clavis_authn::badge::office`]); its agent personalises
//!   the next blank card tapped there. Redirects to the enrolment's page.
//! - `GET /badge-office/enrolments/{id}` — waits for the card (the page
//!   polls `GET /badge-office/enrolments/{id}/status`), then asks the holder
//!   to choose a PIN (`POST /badge-office/enrolments/{id}/pin`, CSRF); a
//!   holder who already has one types it too, or keeps it.

use crate::AppState;
use crate::error::ApiError;
use crate::pages::{Lang, esc, layout};
use crate::sso_web::{csrf_for, csrf_ok, current};
use actix_web::http::{StatusCode, header};
use actix_web::{FromRequest, HttpRequest, HttpResponse, get, post, web};
use chrono::{Local, TimeZone};
use clavis_authn::badge::{BadgeService, OfficeRefusal, PinRefusal, Purpose};
use clavis_core::{Actor, BadgeTxPurpose, BadgeTxStatus, Oid, Secret, secret::constant_time_eq};
use clavis_store::models::{BadgeTxRow, IdentityRoleRow, WorkstationRow};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

/// Roles allowed here.
pub const ROLES: [&str; 2] = ["badge-office", "admin"];

/// An operator of the badge office, as a handler argument: signed in (an
/// SSO session) and holding one of [`ROLES`]. Someone signed out is sent to
/// `/login` and back; someone without the role gets the refusal page.
struct Officer {
    session: Box<clavis_sso::Session>,
    /// The session's cookie token (the CSRF token of its forms is derived
    /// from it).
    token: String,
}

/// Why the badge office is not shown.
#[derive(Debug)]
enum NotAnOfficer {
    /// Signed out: sign in, then come back.
    SignIn,
    /// Signed in, without the role.
    Denied(Lang),
    /// Something failed on the way.
    Failed(ApiError),
}

impl std::fmt::Display for NotAnOfficer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotAnOfficer::SignIn => f.write_str("not signed in"),
            NotAnOfficer::Denied(_) => f.write_str("not a badge office operator"),
            NotAnOfficer::Failed(e) => e.fmt(f),
        }
    }
}

impl actix_web::ResponseError for NotAnOfficer {
    fn status_code(&self) -> StatusCode {
        match self {
            NotAnOfficer::SignIn => StatusCode::SEE_OTHER,
            NotAnOfficer::Denied(_) => StatusCode::FORBIDDEN,
            NotAnOfficer::Failed(e) => e.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            NotAnOfficer::SignIn => HttpResponse::SeeOther()
                .insert_header((
                    header::LOCATION,
                    format!(
                        "/login?return_to={}",
                        url::form_urlencoded::byte_serialize(b"/badge-office").collect::<String>()
                    ),
                ))
                .finish(),
            NotAnOfficer::Denied(lang) => HttpResponse::Forbidden()
                .content_type("text/html; charset=utf-8")
                .body(layout(
                    *lang,
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
            NotAnOfficer::Failed(e) => e.error_response(),
        }
    }
}

impl From<ApiError> for NotAnOfficer {
    fn from(e: ApiError) -> Self {
        NotAnOfficer::Failed(e)
    }
}

impl actix_web::FromRequest for Officer {
    type Error = NotAnOfficer;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, NotAnOfficer>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = req
                .app_data::<web::Data<AppState>>()
                .ok_or_else(|| ApiError::internal("the application state is missing"))?;
            let Some((session, token)) = current(state, &req).await? else {
                return Err(NotAnOfficer::SignIn);
            };
            let mut conn = state.db.conn().await.map_err(ApiError::from)?;
            let roles = IdentityRoleRow::for_identity(&mut conn, session.oid)
                .await
                .map_err(ApiError::from)?;
            // A session opened through Pro Santé Connect (a forgotten
            // badge) never runs the badge office: it encodes badges and
            // sets PINs, local authenticators e-CPS does not vouch for.
            let via_psc = session.method == Some(clavis_core::LoginMethod::Psc);
            if !via_psc && roles.iter().any(|r| ROLES.contains(&r.as_str())) {
                Ok(Officer {
                    session: Box::new(session),
                    token,
                })
            } else {
                Err(NotAnOfficer::Denied(Lang::of(&req)))
            }
        })
    }
}

impl Officer {
    /// The operator behind a form post: its CSRF token checked, and the
    /// badge service.
    fn posting<'s>(
        &self,
        state: &'s AppState,
        csrf: &str,
    ) -> Result<&'s Arc<BadgeService>, ApiError> {
        if !csrf_ok(&self.token, csrf) {
            return Err(ApiError::Forbidden);
        }
        state
            .badge
            .as_ref()
            .ok_or_else(|| ApiError::NotFound("badge login is not enabled".into()))
    }
}

fn page(lang: Lang, title: &str, body: &str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(layout(lang, title, body, false))
}

#[get("/badge-office")]
async fn home(
    officer: Officer,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let lang = Lang::of(&req);
    let token = officer.token;
    let mut conn = state.db.conn().await?;
    let options: String = WorkstationRow::list(&mut conn)
        .await?
        .iter()
        .filter(|w| w.revoked_at.is_none())
        .map(|w| {
            format!(
                "<option value=\"{}\">{}</option>",
                esc(w.id.as_str()),
                esc(&w.name)
            )
        })
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
    officer: Officer,
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<EnrolForm>,
) -> Result<HttpResponse, ApiError> {
    let lang = Lang::of(&req);
    let svc = officer.posting(&state, &form.csrf)?;
    let s = officer.session;
    if !crate::login::fresh(&state, &s) {
        // Encoding a badge is a way into someone's account: the operator
        // proves they are still at the desk.
        return Ok(HttpResponse::SeeOther()
            .insert_header((header::LOCATION, "/login?reauth=1&return_to=/badge-office"))
            .finish());
    }
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
    match clavis_authn::badge::office::check_holder(&mut conn, s.oid, person.oid).await {
        Ok(()) => {}
        Err(clavis_authn::badge::BadgeError::Office(r)) => {
            return Ok(refused(lang, &office_message(lang, &r)));
        }
        Err(e) => return Err(e.into()),
    }
    let ws = WorkstationRow::find(&mut conn, &form.workstation.as_str().into())
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
            &Actor::Identity(s.oid),
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
async fn own_enrolment(state: &AppState, operator: Oid, id: &str) -> Result<BadgeTxRow, ApiError> {
    let mut conn = state.db.conn().await?;
    BadgeTxRow::find(&mut conn, id)
        .await?
        .filter(|t| t.purpose == BadgeTxPurpose::Enrol && t.created_by == Actor::Identity(operator))
        .ok_or_else(|| ApiError::NotFound("enrolment not found".into()))
}

#[get("/badge-office/enrolments/{id}")]
async fn enrolment_page(
    officer: Officer,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let lang = Lang::of(&req);
    let Officer { session: s, token } = officer;
    let tx = own_enrolment(&state, s.oid, &id).await?;
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
         <label for=\"current\">{current}</label>\
         <input id=\"current\" name=\"current\" type=\"password\" inputmode=\"numeric\" maxlength=\"12\" autocomplete=\"off\">\
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
        current = lang.t(
            "Code PIN actuel du titulaire (seulement s'il en a déjà un)",
            "The holder's current PIN (only if they already have one)"
        ),
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
    let s = match Officer::extract(&req).await {
        Ok(officer) => officer.session,
        Err(NotAnOfficer::Failed(e)) => return Err(e),
        Err(_) => return Err(ApiError::Unauthorized),
    };
    let tx = own_enrolment(&state, s.oid, &id).await?;
    let status = if tx.status == BadgeTxStatus::Open && tx.is_expired(state.clock.now().timestamp())
    {
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
    pin: Secret<String>,
    pin2: Secret<String>,
    /// The holder's current PIN, when they have one.
    #[serde(default)]
    current: Option<Secret<String>>,
}

#[post("/badge-office/enrolments/{id}/pin")]
async fn holder_pin(
    officer: Officer,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    form: web::Form<PinForm>,
) -> Result<HttpResponse, ApiError> {
    let lang = Lang::of(&req);
    let svc = officer.posting(&state, &form.csrf)?;
    let s = officer.session;
    let tx = own_enrolment(&state, s.oid, &id).await?;
    let (true, Some(holder)) = (
        tx.status == BadgeTxStatus::Done && !tx.is_expired(state.clock.now().timestamp()),
        tx.oid,
    ) else {
        return Err(ApiError::NotFound("enrolment not found".into()));
    };
    let message = if !constant_time_eq(form.pin.expose().as_bytes(), form.pin2.expose().as_bytes())
    {
        Err(lang
            .t("Les deux saisies diffèrent.", "The two entries differ.")
            .to_string())
    } else {
        let mut conn = state.db.conn().await?;
        match clavis_authn::badge::office::set_holder_pin(
            &mut conn,
            svc.hasher(),
            svc.policy(),
            state.clock.now(),
            s.oid,
            holder,
            &form.pin,
            form.current.as_ref(),
        )
        .await
        {
            Ok(()) => Ok(()),
            Err(clavis_authn::badge::BadgeError::PinPolicy(p)) => {
                Err(crate::pages::pin_policy_message(lang, svc.policy(), &p))
            }
            Err(clavis_authn::badge::BadgeError::Office(r)) => Err(office_message(lang, &r)),
            Err(clavis_authn::badge::BadgeError::Pin(p)) => Err(current_pin_message(lang, &p)),
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

/// A refusal page of the badge office (403).
fn refused(lang: Lang, message: &str) -> HttpResponse {
    HttpResponse::Forbidden()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(layout(
            lang,
            lang.t("Bureau des badges", "Badge office"),
            &format!(
                "<h1>{}</h1><p class=\"error\" role=\"alert\">{}</p><p><a href=\"/badge-office\">{}</a></p>",
                lang.t("Bureau des badges", "Badge office"),
                esc(message),
                lang.t("Retour", "Back"),
            ),
            false,
        ))
}

/// What the operator is told when the office's rules refuse them.
fn office_message(lang: Lang, r: &OfficeRefusal) -> String {
    match (lang, r) {
        (Lang::Fr, OfficeRefusal::Themselves) => {
            "Vous ne pouvez pas encoder un badge ni définir un code PIN pour vous-même : adressez-vous à un collègue.".into()
        }
        (Lang::Fr, OfficeRefusal::AboveOperator(role)) => format!(
            "Ce titulaire a le rôle « {role} », que vous n'avez pas : son badge doit être encodé par un administrateur."
        ),
        (Lang::Fr, OfficeRefusal::HolderChoosesOwnPin) => {
            "Ce titulaire se connecte avec une clé de sécurité : il choisit lui-même son code PIN sur sa page « Mon compte » (/me), après s'être connecté avec sa clé. Le badge encodé fonctionnera dès qu'il l'aura fait.".into()
        }
        (Lang::Fr, OfficeRefusal::CurrentPinRequired) => {
            "Ce titulaire a déjà un code PIN : saisissez son code actuel pour le remplacer, ou laissez-lui son code (fermez cette page). S'il l'a oublié, le support informatique peut le réinitialiser.".into()
        }
        (Lang::En, r) => format!("Refused: {r}."),
    }
}

/// What the operator is told when the holder's current PIN is refused.
fn current_pin_message(lang: Lang, p: &PinRefusal) -> String {
    match (lang, p) {
        (Lang::Fr, PinRefusal::Wrong { left }) => {
            format!("Code PIN actuel incorrect. Essais restants : {left}.")
        }
        (Lang::Fr, PinRefusal::Locked { .. }) => {
            "Trop de codes PIN erronés : la connexion par badge de ce titulaire est bloquée. Le support informatique peut la débloquer.".into()
        }
        (Lang::Fr, PinRefusal::Busy) => {
            "Un code PIN de ce titulaire est en cours de vérification. Réessayez dans un instant.".into()
        }
        (Lang::Fr, PinRefusal::NoPin) => "Ce titulaire n'a pas de code PIN.".into(),
        (Lang::En, p) => format!("Current PIN refused: {p}."),
    }
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
