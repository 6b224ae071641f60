//! Badge login over HTTP.
//!
//! - `POST /login/badge/start` — the login page opens a badge transaction
//!   (JSON: id, token, agent URL) and gets a `__Host-` cookie binding it to
//!   this browser; it hands id and token to the local agent.
//! - `POST /agent/v1/step` — the agent, authenticated as a registered
//!   workstation (HTTP Basic: workstation id and credential), posts each
//!   card answer and gets the next APDU ([`clavis_authn::badge`]).
//! - `POST /agent/v1/pending` — an agent whose card was tapped with no page
//!   waiting asks whether an enrolment is waiting for its workstation.
//! - `POST /login/badge/finish` — the PIN; success opens the SSO session
//!   (ending the previous one at that workstation) and answers the
//!   `return_to`.
//! - `GET /static/badge.js` — the page's script.
//!
//! Users see one message for any refused badge; the audit log has why.

use crate::AppState;
use crate::error::ApiError;
use crate::request::{client_ip, user_agent};
use crate::sso_web::{safe_return_to, session_cookie, token_of};
use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use base64::Engine;
use clavis_authn::badge::{AgentReply, BadgeService, PinRefusal, Purpose, RelayError};
use clavis_core::{Actor, Secret};
use clavis_store::models::WorkstationRow;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

/// The cookie binding a badge transaction to the browser that opened it.
pub const BADGE_COOKIE: &str = "__Host-clavis-badge";

fn service(state: &AppState) -> Result<&Arc<BadgeService>, ApiError> {
    state
        .badge
        .as_ref()
        .filter(|b| b.config().enabled)
        .ok_or_else(|| ApiError::NotFound("badge login is not enabled".into()))
}

/// Cookie carrying the browser binding of a transaction.
fn binding_cookie(value: &str, max_age: i64, secure: bool) -> Cookie<'static> {
    let mut c = Cookie::build(BADGE_COOKIE, value.to_string())
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .max_age(CookieDuration::seconds(max_age))
        .finish();
    c.set_secure(secure);
    c
}

#[post("/login/badge/start")]
async fn start(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let svc = service(&state)?;
    state.start_limits.admit(&state, &req).await?;
    let mut conn = state.db.conn().await?;
    let opened = svc
        .open(
            &mut conn,
            state.clock.now(),
            Purpose::Login,
            None,
            &Actor::Anonymous,
        )
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .cookie(binding_cookie(
            opened.browser.expose(),
            svc.config().transaction_secs,
            state.secure_cookies,
        ))
        .json(json!({
            "transaction": opened.id,
            "token": opened.token.expose(),
            "agent": svc.config().agent_url,
            "expires_at": opened.expires_at,
        })))
}

/// The workstation presenting HTTP Basic credentials.
async fn workstation(
    state: &AppState,
    svc: &BadgeService,
    req: &HttpRequest,
) -> Result<WorkstationRow, ApiError> {
    let (id, secret) = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| {
            s.split_once(':')
                .map(|(a, b)| (a.to_string(), b.to_string()))
        })
        .ok_or(ApiError::Unauthorized)?;
    let mut conn = state.db.conn().await?;
    match svc
        .workstation(&mut conn, state.clock.now(), &id.as_str().into(), &secret)
        .await
    {
        Ok(ws) => Ok(ws),
        Err(RelayError::Workstation) => {
            tracing::warn!(workstation.id = %id.chars().take(64).collect::<String>(), "agent credential refused");
            Err(ApiError::Unauthorized)
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, Deserialize)]
struct StepBody {
    transaction: String,
    #[serde(default)]
    token: Option<String>,
    step: i32,
    /// The card's answer to the previous APDU (hex).
    #[serde(default)]
    answer: Option<String>,
}

#[post("/agent/v1/step")]
async fn agent_step(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<StepBody>,
) -> Result<HttpResponse, ApiError> {
    let svc = service(&state)?;
    let ws = workstation(&state, svc, &req).await?;
    let answer = match &body.answer {
        Some(h) => Some(
            hex::decode(h)
                .map_err(|_| ApiError::BadRequest("answer: expected hexadecimal".into()))?,
        ),
        None => None,
    };
    let reply = svc
        .step(
            &state.db,
            state.clock.now(),
            &ws,
            &body.transaction,
            body.token.as_deref(),
            body.step,
            answer.as_deref(),
        )
        .await;
    let out = match reply {
        Ok(AgentReply::Send { apdu, step }) => json!({"apdu": hex::encode(apdu), "step": step}),
        Ok(AgentReply::Done) => json!({"done": true}),
        Ok(AgentReply::Failed) => json!({"failed": true}),
        Err(RelayError::OutOfOrder) => {
            return Err(ApiError::refused(
                StatusCode::CONFLICT,
                "out_of_order",
                "step already taken",
            ));
        }
        Err(e) => return Err(e.into()),
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(out))
}

#[post("/agent/v1/pending")]
async fn agent_pending(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let svc = service(&state)?;
    let ws = workstation(&state, svc, &req).await?;
    let mut conn = state.db.conn().await?;
    match svc.pending_for(&mut conn, state.clock.now(), &ws).await? {
        Some(tx) => Ok(HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(json!({"transaction": tx}))),
        None => Ok(HttpResponse::NoContent().finish()),
    }
}

#[derive(Debug, Deserialize)]
struct FinishBody {
    transaction: String,
    token: Secret<String>,
    pin: Secret<String>,
    #[serde(default)]
    return_to: Option<String>,
}

#[post("/login/badge/finish")]
async fn finish(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<FinishBody>,
) -> Result<HttpResponse, ApiError> {
    let svc = service(&state)?;
    let lang = crate::pages::Lang::of(&req);
    let now = state.clock.now();
    let browser = req
        .cookie(BADGE_COOKIE)
        .map(|c| c.value().to_string())
        .unwrap_or_default();
    let r = svc
        .finish_login(
            &state.db,
            &state.sso,
            now,
            &body.transaction,
            body.token.expose(),
            &browser,
            &body.pin,
            client_ip(&req),
            user_agent(&req),
            token_of(&req).as_deref(),
        )
        .await;
    let login = match r {
        Ok(ok) => ok,
        Err(RelayError::Pin(PinRefusal::Wrong { left })) => {
            return Err(ApiError::refused(
                StatusCode::UNAUTHORIZED,
                "wrong_pin",
                &match lang {
                    crate::pages::Lang::Fr => {
                        format!("Code PIN incorrect. Essais restants : {left}.")
                    }
                    crate::pages::Lang::En => format!("Wrong PIN. Attempts left: {left}."),
                },
            ));
        }
        Err(RelayError::Pin(PinRefusal::Locked { until })) => {
            let local = until.with_timezone(&chrono::Local).format("%H:%M");
            return Err(ApiError::refused(
                StatusCode::from_u16(423).unwrap_or(StatusCode::FORBIDDEN),
                "locked",
                &match lang {
                    crate::pages::Lang::Fr => format!(
                        "Trop de codes PIN erronés : la connexion par badge est bloquée jusqu'à {local}. Le support informatique peut la débloquer."
                    ),
                    crate::pages::Lang::En => format!(
                        "Too many wrong PINs: badge sign-in is locked until {local}. The IT desk can unlock it."
                    ),
                },
            ));
        }
        Err(RelayError::Pin(PinRefusal::Busy)) => {
            return Err(ApiError::refused(
                StatusCode::CONFLICT,
                "pin_check_in_progress",
                lang.t(
                    "Un code PIN est déjà en cours de vérification pour ce badge. Réessayez dans un instant.",
                    "A PIN is already being checked for this badge. Please try again in a moment.",
                ),
            ));
        }
        Err(RelayError::Pin(PinRefusal::NoPin)) => {
            return Err(ApiError::refused(
                StatusCode::FORBIDDEN,
                "no_pin",
                lang.t(
                    "Aucun code PIN n'est défini pour ce badge. Adressez-vous au bureau des badges.",
                    "No PIN is set for this badge. Please see the badge office.",
                ),
            ));
        }
        Err(RelayError::Unknown | RelayError::BadgeRefused) => {
            return Err(ApiError::refused(
                StatusCode::BAD_REQUEST,
                "badge_refused",
                lang.t(
                    "Badge non reconnu. Présentez-le de nouveau.",
                    "Badge not recognised. Please tap it again.",
                ),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let mut gone = binding_cookie("", 0, state.secure_cookies);
    gone.make_removal();
    let mut answer = json!({"redirect": safe_return_to(body.return_to.as_deref())});
    if let Some(replaced) = &login.pin_replaced {
        answer["notice"] = json!(crate::pages::pin_replaced_notice(lang, replaced));
        answer["continue"] = json!(lang.t("Continuer", "Continue"));
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .cookie(session_cookie(
            login.token.expose(),
            state.sso.session_lifetime_secs,
            state.secure_cookies,
        ))
        .cookie(gone)
        .json(answer))
}

#[get("/static/badge.js")]
async fn script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(include_str!("assets/badge.js"))
}

/// Registers the badge routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(start)
        .service(agent_step)
        .service(agent_pending)
        .service(finish)
        .service(script);
}
