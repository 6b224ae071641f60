//! The OpenID provider's HTTP endpoints. Thin: each parses the request,
//! calls [`clavis_oidc::Provider`], and renders the result.
//!
//! - `GET /.well-known/openid-configuration`, `GET /oidc/jwks`
//! - `GET|POST /oidc/authorize` — answers at once with a code when the
//!   browser's SSO session is good enough; otherwise sends the user to
//!   `/login` (step-up) and back. Unknown client or unregistered
//!   `redirect_uri`: an error page, never a redirect.
//! - `POST /oidc/token`, `GET|POST /oidc/userinfo`, `POST /oidc/introspect`,
//!   `POST /oidc/revoke`
//! - `GET|POST /oidc/logout` — RP-initiated logout (with a confirmation
//!   page when the request does not name the browser's session).

use crate::AppState;
use crate::error::ApiError;
use crate::pages::{Lang, esc, layout};
use crate::sso_web::{clear_cookie, csrf_for, csrf_ok, current};
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use clavis_oidc::clients::{Presented, parse_basic};
use clavis_oidc::paths;
use clavis_oidc::{AuthorizeError, EndSession, Outcome, TokenError};
use serde_json::json;

type Params = Vec<(String, String)>;

fn oidc(state: &AppState) -> &clavis_oidc::Provider {
    &state.oidc
}

fn no_store(mut b: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    b.insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"));
    b
}

async fn discovery(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .insert_header(("Access-Control-Allow-Origin", "*"))
        .json(oidc(&state).discovery())
}

async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .insert_header(("Access-Control-Allow-Origin", "*"))
        .content_type("application/jwk-set+json")
        .body(oidc(&state).keys().jwks().to_string())
}

fn error_page(lang: Lang, status: StatusCode, message: &str) -> HttpResponse {
    let body = format!(
        "<h1>{}</h1><p class=\"error\" role=\"alert\">{}</p><p>{}</p>",
        lang.t("Connexion impossible", "Cannot sign in"),
        esc(message),
        lang.t(
            "Revenez à l'application et réessayez ; si le problème continue, contactez le support informatique.",
            "Go back to the application and try again; if it persists, contact the IT desk."
        ),
    );
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(layout(lang, lang.t("Erreur", "Error"), &body, false))
}

fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to.to_string()))
        .finish()
}

async fn authorize(
    state: &AppState,
    req: &HttpRequest,
    params: Params,
) -> Result<HttpResponse, ApiError> {
    let lang = Lang::of(req);
    let session = current(state, req).await?.map(|(s, _)| s);
    let r = oidc(state)
        .authorize(&state.db, state.clock.now(), &params, session.as_ref())
        .await;
    Ok(match r {
        Ok(Outcome::Redirect(to)) => see_other(&to),
        Ok(Outcome::PscLink { return_to, .. }) => {
            let q = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("return_to", &return_to)
                .finish();
            see_other(&format!("/psc/link?{q}"))
        }
        Ok(Outcome::Login {
            return_to,
            acr,
            login_hint,
        }) => {
            let mut q = url::form_urlencoded::Serializer::new(String::new());
            q.append_pair("return_to", &return_to);
            if session.is_some() {
                q.append_pair("reauth", "1");
            }
            if let Some(a) = &acr {
                q.append_pair("acr", a);
            }
            if let Some(h) = &login_hint {
                q.append_pair("login_hint", h);
            }
            see_other(&format!("/login?{}", q.finish()))
        }
        Err(AuthorizeError::Page { code, message }) => {
            tracing::info!(oidc.error = code, "authorization request refused");
            error_page(lang, StatusCode::BAD_REQUEST, &message)
        }
        Err(AuthorizeError::Redirect { location, error }) => {
            tracing::info!(oidc.error = error, "authorization error sent to the client");
            see_other(&location)
        }
        Err(AuthorizeError::Internal(e)) => return Err(ApiError::internal(e)),
    })
}

async fn authorize_get(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<Params>,
) -> Result<HttpResponse, ApiError> {
    authorize(&state, &req, q.into_inner()).await
}

async fn authorize_post(
    state: web::Data<AppState>,
    req: HttpRequest,
    f: web::Form<Params>,
) -> Result<HttpResponse, ApiError> {
    authorize(&state, &req, f.into_inner()).await
}

/// Splits client credentials off a back-channel form.
fn presented(req: &HttpRequest, form: &Params) -> Result<(Presented, Params), TokenError> {
    let mut p = Presented {
        basic: req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .and_then(parse_basic),
        ..Presented::default()
    };
    if req.headers().contains_key(header::AUTHORIZATION) && p.basic.is_none() {
        return Err(TokenError {
            status: 401,
            error: "invalid_client",
            description: "malformed Authorization header".into(),
        });
    }
    let mut rest = Vec::with_capacity(form.len());
    for (k, v) in form {
        let slot = match k.as_str() {
            "client_id" => &mut p.client_id,
            "client_secret" => &mut p.client_secret,
            "client_assertion_type" => &mut p.assertion_type,
            "client_assertion" => &mut p.assertion,
            _ => {
                rest.push((k.clone(), v.clone()));
                continue;
            }
        };
        if slot.replace(v.clone()).is_some() {
            return Err(TokenError {
                status: 400,
                error: "invalid_request",
                description: format!("parameter {k} is repeated"),
            });
        }
    }
    Ok((p, rest))
}

fn token_error(req: &HttpRequest, e: TokenError) -> HttpResponse {
    let mut b = no_store(HttpResponse::build(
        StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST),
    ));
    if e.status == 401 && req.headers().contains_key(header::AUTHORIZATION) {
        b.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"clavis\""));
    }
    b.json(e.body())
}

async fn token(state: web::Data<AppState>, req: HttpRequest, f: web::Form<Params>) -> HttpResponse {
    let (p, rest) = match presented(&req, &f) {
        Ok(x) => x,
        Err(e) => return token_error(&req, e),
    };
    match oidc(&state)
        .token(&state.db, state.clock.now(), &p, &rest)
        .await
    {
        Ok(body) => no_store(HttpResponse::Ok()).json(body),
        Err(e) => token_error(&req, e),
    }
}

async fn introspect(
    state: web::Data<AppState>,
    req: HttpRequest,
    f: web::Form<Params>,
) -> HttpResponse {
    let (p, rest) = match presented(&req, &f) {
        Ok(x) => x,
        Err(e) => return token_error(&req, e),
    };
    match oidc(&state)
        .introspect(&state.db, state.clock.now(), &p, &rest)
        .await
    {
        Ok(body) => no_store(HttpResponse::Ok()).json(body),
        Err(e) => token_error(&req, e),
    }
}

async fn revoke(
    state: web::Data<AppState>,
    req: HttpRequest,
    f: web::Form<Params>,
) -> HttpResponse {
    let (p, rest) = match presented(&req, &f) {
        Ok(x) => x,
        Err(e) => return token_error(&req, e),
    };
    match oidc(&state)
        .revoke(&state.db, state.clock.now(), &p, &rest)
        .await
    {
        Ok(()) => no_store(HttpResponse::Ok()).finish(),
        Err(e) => token_error(&req, e),
    }
}

async fn userinfo(state: &AppState, req: &HttpRequest, form_token: Option<String>) -> HttpResponse {
    let header_token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        })
        .map(|t| t.trim().to_string());
    let token = match (header_token, form_token) {
        (Some(_), Some(_)) => {
            return HttpResponse::BadRequest()
                .insert_header((header::WWW_AUTHENTICATE, "Bearer error=\"invalid_request\""))
                .json(json!({"error": "invalid_request"}));
        }
        (Some(t), None) | (None, Some(t)) => t,
        (None, None) => {
            return HttpResponse::Unauthorized()
                .insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"clavis\""))
                .finish();
        }
    };
    match oidc(state)
        .userinfo(&state.db, state.clock.now(), &token)
        .await
    {
        Ok(claims) => no_store(HttpResponse::Ok())
            .insert_header(("Access-Control-Allow-Origin", "*"))
            .json(claims),
        Err(e) => {
            HttpResponse::build(StatusCode::from_u16(e.status).unwrap_or(StatusCode::UNAUTHORIZED))
                .insert_header((
                    header::WWW_AUTHENTICATE,
                    format!("Bearer error=\"{}\"", e.error),
                ))
                .json(json!({"error": e.error}))
        }
    }
}

async fn userinfo_get(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    userinfo(&state, &req, None).await
}

async fn userinfo_post(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let form_token = url::form_urlencoded::parse(&body)
        .find(|(k, _)| k == "access_token")
        .map(|(_, v)| v.into_owned());
    userinfo(&state, &req, form_token).await
}

async fn end_session(
    state: &AppState,
    req: &HttpRequest,
    params: Params,
    confirmed: bool,
) -> Result<HttpResponse, ApiError> {
    let lang = Lang::of(req);
    let current = current(state, req).await?;
    let session = current.as_ref().map(|(s, _)| s);
    let r = oidc(state)
        .end_session(&state.db, state.clock.now(), &params, session, confirmed)
        .await;
    Ok(match r {
        Ok(EndSession::Confirm { params }) => {
            let token = current.as_ref().map(|(_, t)| t.as_str()).unwrap_or("");
            let hidden: String = params
                .iter()
                .filter(|(k, _)| k != "csrf" && k != "confirm")
                .map(|(k, v)| {
                    format!(
                        "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                        esc(k),
                        esc(v)
                    )
                })
                .collect();
            let body = format!(
                "<h1>{title}</h1><p>{q}</p><form method=\"post\" action=\"{action}\">{hidden}\
                 <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
                 <input type=\"hidden\" name=\"confirm\" value=\"1\">\
                 <button type=\"submit\">{button}</button></form>",
                title = lang.t("Déconnexion", "Sign out"),
                q = lang.t(
                    "Voulez-vous vous déconnecter de toutes les applications de l'établissement ?",
                    "Sign out of every application of the hospital?"
                ),
                action = paths::END_SESSION,
                csrf = csrf_for(token),
                button = lang.t("Me déconnecter", "Sign out"),
            );
            HttpResponse::Ok()
                .content_type("text/html; charset=utf-8")
                .body(layout(
                    lang,
                    lang.t("Déconnexion", "Sign out"),
                    &body,
                    false,
                ))
        }
        Ok(EndSession::Done { redirect: Some(to) }) => {
            let mut r = see_other(&to);
            r.add_cookie(&clear_cookie(state.secure_cookies))
                .map_err(ApiError::internal)?;
            r
        }
        Ok(EndSession::Done { redirect: None }) => {
            let body = format!(
                "<h1>{}</h1><p><a href=\"/login\">{}</a></p>",
                lang.t("Vous êtes déconnecté(e)", "You are signed out"),
                lang.t("Se reconnecter", "Sign in again")
            );
            HttpResponse::Ok()
                .cookie(clear_cookie(state.secure_cookies))
                .content_type("text/html; charset=utf-8")
                .body(layout(
                    lang,
                    lang.t("Déconnexion", "Signed out"),
                    &body,
                    false,
                ))
        }
        Err(AuthorizeError::Page { message, .. }) => {
            error_page(lang, StatusCode::BAD_REQUEST, &message)
        }
        Err(AuthorizeError::Redirect { location, .. }) => see_other(&location),
        Err(AuthorizeError::Internal(e)) => return Err(ApiError::internal(e)),
    })
}

async fn end_session_get(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<Params>,
) -> Result<HttpResponse, ApiError> {
    end_session(&state, &req, q.into_inner(), false).await
}

async fn end_session_post(
    state: web::Data<AppState>,
    req: HttpRequest,
    f: web::Form<Params>,
) -> Result<HttpResponse, ApiError> {
    let mut params = f.into_inner();
    let csrf = params
        .iter()
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v.clone());
    let confirm = params.iter().any(|(k, v)| k == "confirm" && v == "1");
    params.retain(|(k, _)| k != "csrf" && k != "confirm");
    // Confirmation only counts from our own form (CSRF bound to the session).
    let confirmed = confirm
        && match (crate::sso_web::token_of(&req), csrf) {
            (Some(t), Some(c)) => csrf_ok(&t, &c),
            _ => false,
        };
    if confirm && !confirmed {
        return Err(ApiError::Forbidden);
    }
    end_session(&state, &req, params, confirmed).await
}

/// Registers the provider's routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(paths::DISCOVERY, web::get().to(discovery))
        .route(paths::JWKS, web::get().to(jwks))
        .route(paths::AUTHORIZE, web::get().to(authorize_get))
        .route(paths::AUTHORIZE, web::post().to(authorize_post))
        .route(paths::TOKEN, web::post().to(token))
        .route(paths::USERINFO, web::get().to(userinfo_get))
        .route(paths::USERINFO, web::post().to(userinfo_post))
        .route(paths::INTROSPECT, web::post().to(introspect))
        .route(paths::REVOKE, web::post().to(revoke))
        .route(paths::END_SESSION, web::get().to(end_session_get))
        .route(paths::END_SESSION, web::post().to(end_session_post));
}
