//! Pro Santé Connect at the HTTP edge: the link page, the trip to PSC and
//! back, sign-in with PSC, and the person's link on `/me`.
//!
//! - `GET /psc/link` — "Associer votre compte à Pro Santé Connect": why,
//!   and two buttons: go to PSC (e-CPS), or not now.
//! - `POST /psc/link` — starts the trip (CSRF-checked); a cookie binds it
//!   to this browser.
//! - `GET /psc/callback` — PSC's answer: the link stored (then back where
//!   the person was going, e.g. PSC's own authorization request), or a
//!   clear French page saying what went wrong and what to do.
//! - `GET /psc/login` — sign in with PSC (when `psc.sign_in_with_psc`).
//! - `POST /me/psc/unlink` — the person removes their link.

use crate::AppState;
use crate::error::ApiError;
use crate::pages::{Lang, esc, layout};
use crate::request::{client_ip, user_agent};
use crate::sso_web::{csrf_for, csrf_ok, current, safe_return_to, session_cookie, token_of};
use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use clavis_core::{Actor, PscUnlinkReason};
use clavis_federation::link::{LinkOutcome, LinkState};
use clavis_federation::login::{Browser, LoginOutcome};
use clavis_federation::rp::{Failure, Trip};
use clavis_federation::{Psc, Purpose};
use clavis_store::models::{IdentityRow, PscLinkRow};
use serde::Deserialize;

/// The cookie binding a trip to PSC to the browser that left for it.
const TRIP_COOKIE: &str = "__Host-clavis_psc";

fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to.to_string()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

fn trip_cookie(value: &str, max_age_secs: i64, secure: bool) -> Cookie<'static> {
    let mut c = Cookie::build(TRIP_COOKIE, value.to_string())
        .path("/")
        .http_only(true)
        // The answer comes back as a top-level GET from PSC: Lax sends it.
        .same_site(SameSite::Lax)
        .max_age(CookieDuration::seconds(max_age_secs))
        .finish();
    c.set_secure(secure);
    c
}

fn psc(state: &AppState) -> Result<&Psc, ApiError> {
    state
        .psc
        .as_deref()
        .ok_or_else(|| ApiError::NotFound("Pro Santé Connect is not enabled here".into()))
}

/// Where a "no" leads: back to PSC's request with `psc_declined` (PSC
/// then gets `access_denied`), else the person's page.
fn decline_path(return_to: &str) -> String {
    if return_to.starts_with(clavis_oidc::paths::AUTHORIZE) {
        format!("{return_to}&{}=1", clavis_oidc::fi_tiers::DECLINED_PARAM)
    } else {
        "/me".into()
    }
}

fn page(lang: Lang, status: StatusCode, title: &str, body: &str) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(layout(lang, title, body, false))
}

#[derive(Debug, Deserialize)]
struct LinkQuery {
    return_to: Option<String>,
}

#[get("/psc/link")]
async fn link_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<LinkQuery>,
) -> Result<HttpResponse, ApiError> {
    psc(&state)?;
    let lang = Lang::of(&req);
    let return_to = safe_return_to(q.return_to.as_deref());
    let Some((_, token)) = current(&state, &req).await? else {
        let back = format!("/psc/link?return_to={}", urlencode(&return_to));
        return Ok(see_other(&format!("/login?return_to={}", urlencode(&back))));
    };
    let body = format!(
        "<h1>{title}</h1><p>{why}</p><p>{how}</p>\
         <form method=\"post\" action=\"/psc/link\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <input type=\"hidden\" name=\"return_to\" value=\"{rt}\">\
         <button id=\"psc-link\" type=\"submit\">{go}</button></form>\
         <p><a id=\"psc-decline\" href=\"{decline}\">{no}</a></p>",
        title = lang.t(
            "Associer votre compte à Pro Santé Connect",
            "Link your account to Pro Santé Connect"
        ),
        why = lang.t(
            "Pour accéder aux services nationaux (DMP, MSSanté, Ameli Pro…) sans vous reconnecter, votre compte de l'établissement doit être associé à votre identité nationale de professionnel de santé.",
            "To reach the national services (DMP, MSSanté, Ameli Pro…) without signing in again, your hospital account must be linked to your national health professional identity."
        ),
        how = lang.t(
            "Vous allez vous identifier une fois sur Pro Santé Connect avec votre e-CPS (application sur votre téléphone) ou votre carte CPS. L'association vaut deux ans.",
            "You will identify once at Pro Santé Connect with your e-CPS (the app on your phone) or your CPS card. The link lasts two years."
        ),
        csrf = csrf_for(&token),
        rt = esc(&return_to),
        go = lang.t("Associer avec e-CPS", "Link with e-CPS"),
        decline = esc(&decline_path(&return_to)),
        no = lang.t("Pas maintenant", "Not now"),
    );
    Ok(page(
        lang,
        StatusCode::OK,
        lang.t("Pro Santé Connect", "Pro Santé Connect"),
        &body,
    ))
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[derive(Debug, Deserialize)]
struct LinkForm {
    csrf: String,
    return_to: Option<String>,
}

#[post("/psc/link")]
async fn link_start(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<LinkForm>,
) -> Result<HttpResponse, ApiError> {
    let p = psc(&state)?;
    let Some((s, token)) = current(&state, &req).await? else {
        return Err(ApiError::Unauthorized);
    };
    if !csrf_ok(&token, &form.csrf) {
        return Err(ApiError::Forbidden);
    }
    let return_to = safe_return_to(form.return_to.as_deref());
    Ok(to_psc(
        &state,
        &req,
        p,
        Purpose::Link,
        Some((s.oid, s.id)),
        &return_to,
    )
    .await)
}

/// Starts a trip to PSC and sends the browser there with the cookie that
/// binds the trip to it; a French page when PSC cannot be reached.
async fn to_psc(
    state: &AppState,
    req: &HttpRequest,
    p: &Psc,
    purpose: Purpose,
    who: Option<(clavis_core::Oid, clavis_core::SessionId)>,
    return_to: &str,
) -> HttpResponse {
    match p
        .begin(&state.db, state.clock.now(), purpose, who, return_to)
        .await
    {
        Ok(start) => HttpResponse::SeeOther()
            .insert_header((header::LOCATION, start.redirect))
            .cookie(trip_cookie(
                start.browser_token.expose(),
                p.config().request_ttl_secs,
                state.secure_cookies,
            ))
            .finish(),
        Err(e) => broken_page(Lang::of(req), &e),
    }
}

#[get("/psc/login")]
async fn login_start(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<LinkQuery>,
) -> Result<HttpResponse, ApiError> {
    let p = psc(&state)?;
    if !p.config().sign_in_with_psc {
        return Err(ApiError::NotFound(
            "sign-in with Pro Santé Connect is not offered here".into(),
        ));
    }
    state.start_limits.admit(&state, &req).await?;
    let return_to = safe_return_to(q.return_to.as_deref());
    Ok(to_psc(&state, &req, p, Purpose::Login, None, &return_to).await)
}

#[derive(Debug, Deserialize)]
struct Callback {
    state: Option<String>,
    code: Option<String>,
    error: Option<String>,
}

#[get("/psc/callback")]
async fn callback(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<Callback>,
) -> Result<HttpResponse, ApiError> {
    let p = psc(&state)?;
    // Each answer is checked and audited: as many per address as logins
    // may start, so that nobody fills the audit log with forged ones.
    state.start_limits.admit(&state, &req).await?;
    let lang = Lang::of(&req);
    let now = state.clock.now();
    let ip = client_ip(&req);
    let browser = req.cookie(TRIP_COOKIE).map(|c| c.value().to_string());
    let live = current(&state, &req).await?.map(|(s, _)| s.id);
    let clear = {
        let mut c = trip_cookie("", 0, state.secure_cookies);
        c.make_removal();
        c
    };
    let verified = p
        .finish(
            &state.db,
            now,
            q.state.as_deref().unwrap_or(""),
            q.code.as_deref(),
            q.error.as_deref(),
            browser.as_deref(),
            ip.as_deref(),
        )
        .await;
    let mut resp = match verified {
        Ok(v) => match v.trip.purpose {
            Purpose::Link => match p
                .link(&state.db, now, &v, live.as_ref(), ip.as_deref())
                .await
            {
                Ok(LinkOutcome::Linked { .. }) => see_other(&v.trip.return_to),
                Ok(LinkOutcome::Refused { reason, .. }) => refused_link_page(lang, reason, &v.trip),
                Err(e) => broken_page(lang, &e),
            },
            Purpose::Login => {
                let outcome = match p
                    .sign_in(
                        &state.db,
                        &state.sso,
                        now,
                        &v,
                        Browser {
                            client_ip: ip.as_deref(),
                            user_agent: user_agent(&req).as_deref(),
                            replaces: token_of(&req).as_deref(),
                        },
                    )
                    .await
                {
                    Ok(outcome) => outcome,
                    Err(e) => {
                        let mut r = broken_page(lang, &e);
                        r.add_cookie(&clear).map_err(ApiError::internal)?;
                        return Ok(r);
                    }
                };
                match outcome {
                    LoginOutcome::SignedIn { token, .. } => {
                        let mut r = see_other(&v.trip.return_to);
                        r.add_cookie(&session_cookie(
                            token.expose(),
                            state.sso.session_lifetime_secs,
                            state.secure_cookies,
                        ))
                        .map_err(ApiError::internal)?;
                        r
                    }
                    LoginOutcome::Refused(reason) => refused_login_page(lang, reason),
                }
            }
        },
        Err(Failure::Refused { trip, refusal }) => failed_page(lang, refusal.code, trip.as_ref()),
        Err(Failure::Error(e)) => broken_page(lang, &e),
    };
    resp.add_cookie(&clear).map_err(ApiError::internal)?;
    Ok(resp)
}

/// What went wrong, for the person: a heading, the message (with the
/// stable `reason` the pages and the tests act on), and where to go next.
fn alert_page(
    lang: Lang,
    status: StatusCode,
    heading: &str,
    reason: Option<&str>,
    message: &str,
    (href, label): (&str, &str),
) -> HttpResponse {
    let reason = reason
        .map(|r| format!(" data-reason=\"{}\"", esc(r)))
        .unwrap_or_default();
    let body = format!(
        "<h1>{heading}</h1><p class=\"error\" role=\"alert\"{reason}>{message}</p>\
         <p><a id=\"psc-continue\" href=\"{}\">{label}</a></p>",
        esc(href)
    );
    page(lang, status, heading, &body)
}

/// Where the person goes on after a refusal: back to PSC's request (which
/// then gets `access_denied`), to the login page, or to their page.
fn way_on(lang: Lang, trip: Option<&Trip>) -> (String, &'static str) {
    match trip {
        Some(t)
            if t.purpose == Purpose::Link
                && t.return_to.starts_with(clavis_oidc::paths::AUTHORIZE) =>
        {
            (
                decline_path(&t.return_to),
                lang.t("Retourner à Pro Santé Connect", "Back to Pro Santé Connect"),
            )
        }
        Some(t) if t.purpose == Purpose::Login => (
            "/login".to_string(),
            lang.t("Retour à la connexion", "Back to sign-in"),
        ),
        _ => (
            "/me".to_string(),
            lang.t("Retour à mon compte", "Back to my account"),
        ),
    }
}

fn refused_link_page(lang: Lang, reason: &str, trip: &Trip) -> HttpResponse {
    let message = match reason {
        "no_national_id_in_hr" => lang.t(
            "Votre numéro RPPS n'est pas connu du service des ressources humaines de l'établissement. L'association est impossible pour l'instant : le service des identités a été prévenu et reviendra vers vous.",
            "HR does not hold your RPPS number. The link is not possible yet: the identity office was told and will contact you.",
        ),
        "family_name_mismatch" => lang.t(
            "Le nom transmis par Pro Santé Connect ne correspond pas à celui connu de l'établissement. Rien n'a été enregistré : le service des identités a été prévenu pour vérifier votre dossier.",
            "The name Pro Santé Connect gave differs from the hospital's. Nothing was stored: the identity office was told and will check your record.",
        ),
        "identity_not_active" => lang.t(
            "Votre compte n'est pas actif dans l'établissement : l'association est impossible.",
            "Your account is not active in the hospital: the link is not possible.",
        ),
        "session_changed" => lang.t(
            "La session qui a demandé l'association n'est plus ouverte sur ce poste. Rien n'a été enregistré : reconnectez-vous, puis recommencez.",
            "The session that asked for the link is no longer open on this workstation. Nothing was stored: sign in again, then start over.",
        ),
        _ => lang.t(
            "L'identité nationale avec laquelle vous vous êtes identifié(e) sur Pro Santé Connect n'est pas celle que l'établissement connaît pour vous (numéro RPPS différent). Rien n'a été enregistré : le service des identités a été prévenu pour vérifier votre numéro RPPS.",
            "The national identity you used at Pro Santé Connect is not the one the hospital holds for you (another RPPS number). Nothing was stored: the identity office was told and will check your RPPS number.",
        ),
    };
    let (href, label) = way_on(lang, Some(trip));
    alert_page(
        lang,
        StatusCode::OK,
        lang.t("Association impossible", "Link not possible"),
        Some(reason),
        message,
        (&href, label),
    )
}

fn refused_login_page(lang: Lang, reason: &str) -> HttpResponse {
    let message = match reason {
        "identity_not_active" | "account_disabled" => lang.t(
            "Votre compte n'est pas actif dans l'établissement : la connexion est impossible.",
            "Your account is not active in the hospital: you cannot sign in.",
        ),
        "not_linked" | "link_not_valid" => lang.t(
            "Votre compte n'est pas (ou plus) associé à Pro Santé Connect. Connectez-vous une fois avec votre badge ou votre clé de sécurité, puis associez votre compte depuis « Mon compte ».",
            "Your account is not (or no longer) linked to Pro Santé Connect. Sign in once with your badge or security key, then link your account from “My account”.",
        ),
        _ => lang.t(
            "Aucun compte de l'établissement ne correspond à votre identité nationale. Contactez le support informatique.",
            "No hospital account matches your national identity. Contact the IT desk.",
        ),
    };
    alert_page(
        lang,
        StatusCode::FORBIDDEN,
        lang.t("Connexion impossible", "Cannot sign in"),
        Some(reason),
        message,
        ("/login", lang.t("Retour à la connexion", "Back to sign-in")),
    )
}

fn failed_page(lang: Lang, code: &str, trip: Option<&Trip>) -> HttpResponse {
    let (title, message) = if code == "psc_error" {
        (
            lang.t("Démarche annulée", "Cancelled"),
            lang.t(
                "Vous n'êtes pas allé(e) au bout de l'identification sur Pro Santé Connect. Rien n'a été enregistré.",
                "You did not complete the identification at Pro Santé Connect. Nothing was stored.",
            ),
        )
    } else {
        (
            lang.t("Vérification impossible", "Verification failed"),
            lang.t(
                "La réponse de Pro Santé Connect n'a pas pu être vérifiée. Rien n'a été enregistré. Recommencez ; si le problème continue, contactez le support informatique.",
                "Pro Santé Connect's answer could not be verified. Nothing was stored. Try again; if it persists, contact the IT desk.",
            ),
        )
    };
    let (href, label) = way_on(lang, trip);
    alert_page(
        lang,
        StatusCode::BAD_REQUEST,
        title,
        Some(code),
        message,
        (&href, label),
    )
}

/// The page of something that broke on the way (logged): PSC unreachable,
/// or an error of ours.
fn broken_page(lang: Lang, e: &clavis_federation::PscError) -> HttpResponse {
    let back = ("/me", lang.t("Retour à mon compte", "Back to my account"));
    if let clavis_federation::PscError::Unreachable(_) = e {
        tracing::warn!(error = %e, "Pro Santé Connect unreachable");
        return alert_page(
            lang,
            StatusCode::BAD_GATEWAY,
            lang.t("Pro Santé Connect injoignable", "Pro Santé Connect unreachable"),
            None,
            lang.t(
                "Pro Santé Connect ne répond pas pour le moment. Rien n'a été enregistré ; réessayez dans quelques minutes.",
                "Pro Santé Connect does not answer at the moment. Nothing was stored; try again in a few minutes.",
            ),
            back,
        );
    }
    tracing::error!(error = %e, "Pro Santé Connect step failed");
    alert_page(
        lang,
        StatusCode::INTERNAL_SERVER_ERROR,
        lang.t("Erreur", "Error"),
        None,
        lang.t(
            "Une erreur est survenue. Rien n'a été enregistré ; si le problème continue, contactez le support informatique.",
            "Something went wrong. Nothing was stored; if it persists, contact the IT desk.",
        ),
        back,
    )
}

#[derive(Debug, Deserialize)]
struct CsrfForm {
    csrf: String,
}

#[post("/me/psc/unlink")]
async fn unlink(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, ApiError> {
    psc(&state)?;
    let Some((s, token)) = current(&state, &req).await? else {
        return Ok(see_other("/login?return_to=/me"));
    };
    if !csrf_ok(&token, &form.csrf) {
        return Err(ApiError::Forbidden);
    }
    clavis_federation::link::unlink(
        &state.db,
        state.clock.now(),
        s.oid,
        PscUnlinkReason::ByPerson,
        &Actor::Identity(s.oid),
        None,
    )
    .await?;
    Ok(see_other("/me"))
}

/// The Pro Santé Connect part of `/me`: the person's link (national id,
/// verified when, valid until) with renew and remove; empty when PSC is
/// off.
pub(crate) async fn me_section(
    state: &AppState,
    conn: &mut clavis_store::DbConn,
    lang: Lang,
    identity: &IdentityRow,
    csrf: &str,
) -> Result<String, ApiError> {
    if state.psc.is_none() {
        return Ok(String::new());
    }
    let now = state.clock.now().timestamp();
    let link = PscLinkRow::find(conn, identity.oid).await?;
    let date = |t: i64| {
        chrono::DateTime::from_timestamp(t, 0)
            .map(|d| d.format("%d/%m/%Y").to_string())
            .unwrap_or_default()
    };
    let (status, facts) = match &link {
        Some(l) => {
            let st = clavis_federation::link::state(l, identity, now);
            let status = match st {
                LinkState::Valid => lang.t("Associé", "Linked"),
                LinkState::Expired => lang.t(
                    "Association expirée : renouvelez-la",
                    "Link expired: renew it",
                ),
                LinkState::Revoked => lang.t("Association retirée", "Link removed"),
                LinkState::NationalIdChanged => lang.t(
                    "Votre RPPS a changé dans l'établissement : associez de nouveau",
                    "Your RPPS changed in the hospital: link again",
                ),
                LinkState::IdentityNotActive => lang.t("Compte inactif", "Account not active"),
            };
            let facts = if st == LinkState::Revoked {
                String::new()
            } else {
                format!(
                    "<dl><dt>{}</dt><dd id=\"psc-national-id\">{}</dd><dt>{}</dt><dd>{}</dd><dt>{}</dt><dd id=\"psc-valid-until\">{}</dd></dl>",
                    lang.t("Identifiant national", "National id"),
                    esc(&l.national_id),
                    lang.t("Vérifié le", "Verified on"),
                    date(l.linked_at),
                    lang.t("Valable jusqu'au", "Valid until"),
                    date(l.expires_at),
                )
            };
            (status, facts)
        }
        None => (lang.t("Non associé", "Not linked"), String::new()),
    };
    let standing = link.as_ref().is_some_and(|l| l.revoked_at.is_none());
    let remove = if standing {
        format!(
            "<form method=\"post\" action=\"/me/psc/unlink\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
             <button id=\"psc-unlink\" class=\"secondary\" type=\"submit\">{}</button></form>",
            lang.t("Retirer l'association", "Remove the link")
        )
    } else {
        String::new()
    };
    Ok(format!(
        "<h2>{title}</h2><p id=\"psc-status\">{status}</p>{facts}\
         <form method=\"post\" action=\"/psc/link\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <input type=\"hidden\" name=\"return_to\" value=\"/me\">\
         <button id=\"psc-renew\" type=\"submit\">{renew}</button></form>{remove}",
        title = lang.t("Pro Santé Connect", "Pro Santé Connect"),
        renew = if standing {
            lang.t("Renouveler avec e-CPS", "Renew with e-CPS")
        } else {
            lang.t("Associer avec e-CPS", "Link with e-CPS")
        },
    ))
}

/// The "sign in with PSC" part of the login page, when offered.
pub(crate) fn login_button(state: &AppState, lang: Lang, return_to: &str) -> String {
    match state.psc.as_deref() {
        Some(p) if p.config().sign_in_with_psc => format!(
            "<section id=\"psc\"><h2>{}</h2><p>{}</p><p><a id=\"psc-login\" class=\"button\" href=\"/psc/login?return_to={}\">{}</a></p></section>",
            lang.t("Badge oublié ?", "Forgot your badge?"),
            lang.t(
                "Connectez-vous avec votre e-CPS (application sur votre téléphone) ou votre carte CPS.",
                "Sign in with your e-CPS (the app on your phone) or your CPS card."
            ),
            esc(&urlencode(return_to)),
            lang.t("Se connecter avec Pro Santé Connect (e-CPS)", "Sign in with Pro Santé Connect (e-CPS)"),
        ),
        _ => String::new(),
    }
}

/// PSC's logout URL for a session opened through PSC, if any; a PSC that
/// cannot be reached only costs the logout at PSC (logged), never the
/// logout at Clavis.
pub(crate) async fn logout_at_psc(
    state: &AppState,
    psc: &Psc,
    session_id: &clavis_core::SessionId,
) -> Option<String> {
    match psc.logout_url(&state.db, session_id).await {
        Ok(url) => url,
        Err(e) => {
            tracing::warn!(error = %e, "logout at Pro Santé Connect skipped");
            None
        }
    }
}

/// Where PSC sends the browser back after that logout.
#[get("/psc/logged-out")]
async fn logged_out(req: HttpRequest) -> HttpResponse {
    let lang = Lang::of(&req);
    let body = format!(
        "<h1>{}</h1><p>{}</p><p><a href=\"/login\">{}</a></p>",
        lang.t("Vous êtes déconnecté(e)", "You are signed out"),
        lang.t(
            "Votre session Pro Santé Connect est fermée aussi.",
            "Your Pro Santé Connect session is closed too."
        ),
        lang.t("Se reconnecter", "Sign in again"),
    );
    page(
        lang,
        StatusCode::OK,
        lang.t("Déconnexion", "Signed out"),
        &body,
    )
}

/// The admin API's view of a person's link (as `clavis psc links
/// --identity`): the link with its evidence and state, or 404.
#[get("/admin/api/identities/{key}/psc-link")]
async fn admin_link(
    _admin: crate::extract::AdminActor,
    state: web::Data<AppState>,
    key: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.db.conn().await?;
    let person = clavis_directory::service::find_identity(&mut conn, &key)
        .await?
        .ok_or_else(|| ApiError::NotFound("identity not found".into()))?;
    let link = PscLinkRow::find(&mut conn, person.oid)
        .await?
        .ok_or_else(|| ApiError::NotFound("no link to Pro Santé Connect".into()))?;
    let st = clavis_federation::link::state(&link, &person, state.clock.now().timestamp());
    let date = |t: i64| chrono::DateTime::from_timestamp(t, 0);
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "oid": link.oid, "national_id": link.national_id, "psc_sub": link.psc_sub,
        "acr": link.acr, "auth_mode": link.auth_mode, "id_token_sha256": link.id_token_sha256,
        "linked_at": date(link.linked_at), "expires_at": date(link.expires_at),
        "revoked_at": link.revoked_at.and_then(date), "revoked_reason": link.revoked_reason,
        "revoked_by": link.revoked_by, "state": st,
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UnlinkBody {
    reason: String,
}

/// Removes a person's link (as `clavis psc unlink`); the reason is kept
/// in the audit.
#[post("/admin/api/identities/{key}/psc-link/revoke")]
async fn admin_unlink(
    admin: crate::extract::AdminActor,
    state: web::Data<AppState>,
    key: web::Path<String>,
    body: web::Json<UnlinkBody>,
) -> Result<HttpResponse, ApiError> {
    let reason = body.reason.trim();
    if reason.is_empty() || reason.len() > 200 {
        return Err(ApiError::BadRequest("reason: 1 to 200 characters".into()));
    }
    let mut conn = state.db.conn().await?;
    let person = clavis_directory::service::find_identity(&mut conn, &key)
        .await?
        .ok_or_else(|| ApiError::NotFound("identity not found".into()))?;
    admin
        .may_act_on(&mut conn, &state, person.oid, "psc.unlink")
        .await?;
    drop(conn);
    let removed = clavis_federation::link::unlink(
        &state.db,
        state.clock.now(),
        person.oid,
        PscUnlinkReason::ByOperator,
        &admin.actor(),
        Some(reason),
    )
    .await?;
    if !removed {
        return Err(ApiError::NotFound(
            "no standing link to Pro Santé Connect".into(),
        ));
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({"revoked": true})))
}

/// Registers the PSC routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(link_page)
        .service(link_start)
        .service(login_start)
        .service(callback)
        .service(logged_out)
        .service(unlink)
        .service(admin_link)
        .service(admin_unlink);
}
