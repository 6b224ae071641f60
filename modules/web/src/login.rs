//! Login, enrolment, self-service and logout: the pages staff see.
//!
//! - `GET /login` — "sign in with my security key" (username-less), or with
//!   a login name for keys without discoverable credentials.
//! - `POST /login/begin|finish` — the WebAuthn ceremony (JSON). Success
//!   creates an SSO session (new random id: no fixation) in a `__Host-`
//!   cookie and answers the safe `return_to`.
//! - `GET /enrol/{token}` + `POST /enrol/{token}/begin|finish` — first key.
//! - `GET /me` — who is signed in, time left, keys; add or remove a key
//!   after a fresh login; `POST /logout`.
//!
//! JSON endpoints only accept `application/json` (a cross-site form cannot
//! send it); HTML forms carry a CSRF token bound to the session.

use crate::AppState;
use crate::error::ApiError;
use crate::pages::{Lang, esc, layout};
use crate::request::{client_ip, user_agent};
use crate::sso_web::{clear_cookie, csrf_ok, current, safe_return_to, session_cookie, token_of};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use clavis_core::{Actor, Secret, SessionEndReason, secret::constant_time_eq};
use serde::Deserialize;
use serde_json::json;
use webauthn_rs::prelude::{PublicKeyCredential, RegisterPublicKeyCredential};

fn redirect(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to.to_string()))
        .finish()
}

#[derive(Debug, Deserialize)]
struct LoginPageQuery {
    return_to: Option<String>,
    reauth: Option<String>,
    /// The assurance the caller needs (e.g. from an OIDC `acr_values`).
    acr: Option<String>,
    /// A login name to suggest (OIDC `login_hint`).
    login_hint: Option<String>,
}

#[get("/login")]
async fn login_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<LoginPageQuery>,
) -> Result<HttpResponse, ApiError> {
    let lang = Lang::of(&req);
    let return_to = safe_return_to(q.return_to.as_deref());
    // Already signed in, strongly enough, and no fresh login asked: go on.
    // A weaker session steps up: the user authenticates again.
    if q.reauth.is_none()
        && let Some((s, _)) = current(&state, &req).await?
        && q.acr
            .as_deref()
            .is_none_or(|want| state.fido2.config().acr_order.satisfies(&s.acr, want))
    {
        return Ok(redirect(&return_to));
    }
    let body = format!(
        "<h1>{title}</h1><p>{intro}</p>\
         <form data-webauthn=\"login\" data-waiting=\"{waiting}\" data-failed=\"{failed}\">\
         <input type=\"hidden\" name=\"return_to\" value=\"{rt}\">\
         <label for=\"username\">{user_label}</label>\
         <input id=\"username\" name=\"username\" value=\"{hint}\" autocomplete=\"username webauthn\" aria-describedby=\"username-help\">\
         <p id=\"username-help\">{user_help}</p>\
         <button type=\"submit\">{button}</button></form>\
         <p id=\"status\" class=\"status\" role=\"status\" aria-live=\"polite\"></p>",
        title = lang.t("Connexion", "Sign in"),
        intro = lang.t(
            "Branchez ou approchez votre clé de sécurité, puis saisissez son code PIN quand il est demandé.",
            "Plug in or tap your security key, then enter its PIN when asked."
        ),
        waiting = lang.t("Utilisez votre clé de sécurité…", "Use your security key…"),
        failed = lang.t("Connexion impossible.", "Sign-in failed."),
        rt = esc(&return_to),
        hint = esc(q.login_hint.as_deref().unwrap_or("")),
        user_label = lang.t("Identifiant (facultatif)", "Login name (optional)"),
        user_help = lang.t(
            "Laissez vide si votre clé vous reconnaît seule.",
            "Leave empty if your key knows who you are."
        ),
        button = lang.t("Se connecter avec ma clé de sécurité", "Sign in with my security key"),
    );
    let body = format!(
        "{body}{}",
        crate::psc_web::login_button(&state, lang, &return_to)
    );
    let body = match state.badge.as_ref().filter(|b| b.config().enabled) {
        Some(b) => format!(
            "{}{body}",
            badge_section(lang, &b.config().agent_url, &return_to)
        ),
        None => body,
    };
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(layout(lang, lang.t("Connexion", "Sign in"), &body, true)))
}

/// The badge part of the login page: hidden until the page finds a
/// workstation agent (`static/badge.js`).
fn badge_section(lang: Lang, agent: &str, return_to: &str) -> String {
    format!(
        "<section id=\"badge\" hidden data-agent=\"{agent}\" data-return-to=\"{rt}\" \
         data-waiting=\"{waiting}\" data-ask-pin=\"{ask}\" data-refused=\"{refused}\" \
         data-failed=\"{failed}\" data-signed-in=\"{signed}\">\
         <h2>{title}</h2>\
         <p id=\"badge-status\" class=\"status\" role=\"status\" aria-live=\"polite\"></p>\
         <form id=\"badge-pin\" hidden>\
         <label for=\"pin\">{pin}</label>\
         <input id=\"pin\" name=\"pin\" type=\"password\" inputmode=\"numeric\" pattern=\"[0-9]*\" maxlength=\"12\" autocomplete=\"off\" required>\
         <button type=\"submit\">{submit}</button></form></section>\
         <script src=\"/static/badge.js\" defer></script>",
        agent = esc(agent),
        rt = esc(return_to),
        title = lang.t("Badge", "Badge"),
        waiting = lang.t(
            "Posez votre badge sur le lecteur.",
            "Place your badge on the reader."
        ),
        ask = lang.t(
            "Badge reconnu. Saisissez votre code PIN.",
            "Badge recognised. Enter your PIN."
        ),
        refused = lang.t(
            "Badge non reconnu. Retirez-le et présentez-le de nouveau.",
            "Badge not recognised. Remove it and tap it again."
        ),
        failed = lang.t(
            "La connexion par badge est indisponible pour le moment.",
            "Badge sign-in is unavailable at the moment."
        ),
        signed = lang.t("Connexion réussie.", "Signed in."),
        pin = lang.t("Code PIN", "PIN"),
        submit = lang.t("Valider", "Sign in"),
    )
}

#[derive(Debug, Deserialize)]
struct BeginLogin {
    username: Option<String>,
}

#[post("/login/begin")]
async fn login_begin(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<BeginLogin>,
) -> Result<HttpResponse, ApiError> {
    state.start_limits.admit_address(&req)?;
    let mut conn = state.db.conn().await?;
    let c = state
        .fido2
        .begin_login(&mut conn, state.clock.now(), body.username.as_deref())
        .await?;
    Ok(HttpResponse::Ok().json(c))
}

#[derive(Debug, Deserialize)]
struct FinishLogin {
    ceremony: String,
    credential: PublicKeyCredential,
    return_to: Option<String>,
}

#[post("/login/finish")]
async fn login_finish(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<FinishLogin>,
) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now();
    let ip = client_ip(&req);
    let outcome = state
        .fido2
        .finish_login(
            &state.db,
            now,
            &body.ceremony,
            &body.credential,
            ip.as_deref(),
            Some(clavis_authn::SessionRequest {
                sso: &state.sso,
                user_agent: user_agent(&req),
                // A new session id at every login (no fixation): the
                // browser's previous session, if any, ends with the login.
                replaces: token_of(&req).as_deref(),
            }),
        )
        .await?;
    let (token, _) = outcome
        .session
        .ok_or_else(|| ApiError::internal("login opened no session"))?;
    let mut answer = json!({"redirect": safe_return_to(body.return_to.as_deref())});
    // Someone else set this person's badge PIN: their next login of any
    // kind tells them, once. The session is open whatever happens here:
    // a failure to read the notice leaves it for `/me`, it never loses the
    // login.
    let notice = match state.db.conn().await {
        Ok(mut conn) => clavis_authn::badge::pin::take_replaced(&mut conn, outcome.proof.oid)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    match notice {
        Ok(Some(replaced)) => {
            let lang = Lang::of(&req);
            answer["notice"] = json!(crate::pages::pin_replaced_notice(lang, &replaced));
            answer["continue"] = json!(lang.t("Continuer", "Continue"));
        }
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "badge PIN notice not read at login"),
    }
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .cookie(session_cookie(
            token.expose(),
            state.sso.session_lifetime_secs,
            state.secure_cookies,
        ))
        .json(answer))
}

#[get("/enrol/{token}")]
async fn enrol_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    token: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let lang = Lang::of(&req);
    let mut conn = state.db.conn().await?;
    let valid = clavis_authn::check_enrolment_link(&mut conn, state.clock.now(), &token)
        .await
        .is_ok();
    let body = if valid {
        format!(
            "<h1>{title}</h1><p>{intro}</p>\
             <form data-webauthn=\"register\" data-endpoint=\"/enrol/{tok}\" data-waiting=\"{waiting}\" data-failed=\"{failed}\">\
             <label for=\"label\">{label}</label><input id=\"label\" name=\"label\" maxlength=\"64\" value=\"{default_label}\">\
             <button type=\"submit\">{button}</button></form>\
             <p id=\"status\" class=\"status\" role=\"status\" aria-live=\"polite\"></p>",
            title = lang.t("Enregistrer ma clé de sécurité", "Enrol my security key"),
            intro = lang.t(
                "Branchez votre clé. Elle vous demandera de choisir ou de saisir son code PIN.",
                "Plug in your key. It will ask you to choose or enter its PIN."
            ),
            tok = esc(&token),
            waiting = lang.t("Utilisez votre clé de sécurité…", "Use your security key…"),
            failed = lang.t("Enregistrement impossible.", "Enrolment failed."),
            label = lang.t("Nom de la clé", "Key name"),
            default_label = lang.t("Ma clé de sécurité", "My security key"),
            button = lang.t("Enregistrer la clé", "Enrol the key"),
        )
    } else {
        format!(
            "<h1>{}</h1><p>{}</p>",
            lang.t("Lien non valable", "Link not valid"),
            lang.t(
                "Ce lien d'enregistrement a déjà servi, a expiré ou n'existe pas. Demandez-en un nouveau au service informatique.",
                "This enrolment link was already used, has expired or does not exist. Ask the IT desk for a new one."
            )
        )
    };
    let status = if valid {
        actix_web::http::StatusCode::OK
    } else {
        actix_web::http::StatusCode::GONE
    };
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(layout(
            lang,
            lang.t("Clé de sécurité", "Security key"),
            &body,
            valid,
        )))
}

#[post("/enrol/{token}/begin")]
async fn enrol_begin(
    state: web::Data<AppState>,
    token: web::Path<String>,
    _b: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.db.conn().await?;
    let c = state
        .fido2
        .begin_enrolment(&mut conn, state.clock.now(), &token)
        .await?;
    Ok(HttpResponse::Ok().json(c))
}

#[derive(Debug, Deserialize)]
struct FinishRegistration {
    ceremony: String,
    credential: RegisterPublicKeyCredential,
    label: Option<String>,
}

#[post("/enrol/{token}/finish")]
async fn enrol_finish(
    state: web::Data<AppState>,
    token: web::Path<String>,
    body: web::Json<FinishRegistration>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.db.conn().await?;
    let now = state.clock.now();
    // The ceremony remembers its link; checking it again refuses a link
    // that expired or was used meanwhile.
    let oid = clavis_authn::check_enrolment_link(&mut conn, now, &token).await?;
    state
        .fido2
        .finish_registration(
            &mut conn,
            now,
            &body.ceremony,
            &body.credential,
            body.label.as_deref().unwrap_or(""),
            &Actor::Identity(oid),
        )
        .await?;
    Ok(HttpResponse::Ok().json(json!({"redirect": "/login?return_to=/me"})))
}

/// The session behind a form post, its CSRF token checked; `None` when
/// signed out.
async fn form_session(
    state: &AppState,
    req: &HttpRequest,
    csrf: &str,
) -> Result<Option<clavis_sso::Session>, ApiError> {
    match current(state, req).await? {
        None => Ok(None),
        Some((s, token)) if csrf_ok(&token, csrf) => Ok(Some(s)),
        Some(_) => Err(ApiError::Forbidden),
    }
}

/// The session of a key-management call: signed in, and recently.
async fn fresh_session(
    state: &AppState,
    req: &HttpRequest,
) -> Result<clavis_sso::Session, ApiError> {
    let (s, _) = current(state, req).await?.ok_or(ApiError::Unauthorized)?;
    if !fresh(state, &s) {
        return Err(ApiError::BadRequest(
            "sign in again first (fresh login required)".into(),
        ));
    }
    if !may_manage_authenticators(state, &s) {
        return Err(ApiError::Forbidden);
    }
    Ok(s)
}

/// Whether the session may add or remove security keys or set the badge
/// PIN: any session but one opened through Pro Santé Connect, which may
/// only where the hospital lets e-CPS stand as the identity proofing of a
/// new authenticator (`psc.fido2_enrolment_after_psc_login`).
fn may_manage_authenticators(state: &AppState, s: &clavis_sso::Session) -> bool {
    s.method != Some(clavis_core::LoginMethod::Psc)
        || state
            .psc
            .as_deref()
            .is_some_and(|p| p.config().fido2_enrolment_after_psc_login)
}

/// Whether the session's login is recent enough for a sensitive action
/// (`authn.fresh_login_secs`): keys, the badge office.
pub(crate) fn fresh(state: &AppState, s: &clavis_sso::Session) -> bool {
    (state.clock.now() - s.auth_time).num_seconds() <= state.fido2.config().fresh_login_secs
}

#[get("/me")]
async fn me(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let lang = Lang::of(&req);
    let Some((s, token)) = current(&state, &req).await? else {
        return Ok(redirect("/login?return_to=/me"));
    };
    let mut conn = state.db.conn().await?;
    let identity = clavis_directory::service::find_identity(&mut conn, &s.oid.to_string())
        .await?
        .ok_or_else(|| ApiError::internal("session of an unknown identity"))?;
    let given = &identity.birth_given_names;
    let name = format!(
        "{} {}",
        given.first().map(String::as_str).unwrap_or(""),
        identity
            .used_family_name
            .as_deref()
            .unwrap_or(&identity.birth_family_name)
    );
    let left = s.seconds_left(state.clock.now());
    let keys = clavis_authn::keys_of(&mut conn, s.oid).await?;
    let others = clavis_sso::list(&mut conn, state.clock.now(), Some(s.oid))
        .await?
        .into_iter()
        .filter(|o| o.id != s.id)
        .count();
    let csrf = crate::sso_web::csrf_for(&token);
    let can_change = fresh(&state, &s) && may_manage_authenticators(&state, &s);
    let mut rows = String::new();
    for k in &keys {
        let remove = if can_change {
            format!(
                "<form method=\"post\" action=\"/me/keys/{id}/remove\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
                 <button class=\"secondary\" type=\"submit\">{label}</button></form>",
                id = esc(&k.id),
                label = lang.t("Retirer", "Remove"),
            )
        } else {
            String::new()
        };
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{remove}</td></tr>",
            esc(&k.label),
            esc(k.status.as_str()),
            k.last_used_at
                .map(|d| d.format("%Y-%m-%d %H:%M").to_string())
                .unwrap_or_else(|| "—".into()),
        ));
    }
    let add = if can_change {
        format!(
            "<form data-webauthn=\"register\" data-endpoint=\"/me/keys\" data-waiting=\"{w}\" data-failed=\"{f}\">\
             <label for=\"label\">{l}</label><input id=\"label\" name=\"label\" maxlength=\"64\">\
             <button type=\"submit\">{b}</button></form>",
            w = lang.t("Utilisez votre nouvelle clé…", "Use your new key…"),
            f = lang.t("Ajout impossible.", "Could not add the key."),
            l = lang.t("Nom de la nouvelle clé", "New key name"),
            b = lang.t("Ajouter une clé", "Add a key"),
        )
    } else {
        format!(
            "<p><a href=\"/login?reauth=1&amp;return_to=/me\">{}</a></p>",
            lang.t(
                "Reconnectez-vous pour ajouter ou retirer une clé.",
                "Sign in again to add or remove a key."
            )
        )
    };
    let badge_pin = badge_pin_section(&state, lang, can_change, &csrf);
    let pin_notice = match clavis_authn::badge::pin::replaced_notice(&mut conn, s.oid).await? {
        Some(r) => format!(
            "<div class=\"notice\" role=\"alert\" id=\"pin-replaced\"><p>{}</p>\
             <form method=\"post\" action=\"/me/badge-pin/notice\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
             <button class=\"secondary\" type=\"submit\">{}</button></form></div>",
            esc(&crate::pages::pin_replaced_notice(lang, &r)),
            lang.t("J'ai pris connaissance", "I have read this"),
            csrf = esc(&csrf),
        ),
        None => String::new(),
    };
    let psc = crate::psc_web::me_section(&state, &mut conn, lang, &identity, &csrf).await?;
    let body = format!(
        "<h1>{hello} {name}</h1>{pin_notice}<p id=\"session\">{left_label} <strong>{h} h {m:02} min</strong>.</p>\
         <h2>{keys_title}</h2><table><thead><tr><th>{kn}</th><th>{ks}</th><th>{ku}</th><th></th></tr></thead><tbody>{rows}</tbody></table>\
         {add}<p id=\"status\" class=\"status\" role=\"status\" aria-live=\"polite\"></p>{badge_pin}{psc}\
         <h2>{sessions_title}</h2><p>{others_text} <strong>{others}</strong></p>\
         <form method=\"post\" action=\"/me/sessions/end-others\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <button class=\"secondary\" type=\"submit\">{end_others}</button></form>\
         <form method=\"post\" action=\"/logout\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <button class=\"secondary\" type=\"submit\">{logout}</button></form>",
        hello = lang.t("Bonjour", "Hello"),
        name = esc(name.trim()),
        left_label = lang.t("Votre session se termine dans", "Your session ends in"),
        h = left / 3600,
        m = (left % 3600) / 60,
        keys_title = lang.t("Mes clés de sécurité", "My security keys"),
        kn = lang.t("Nom", "Name"),
        ks = lang.t("État", "Status"),
        ku = lang.t("Dernière utilisation", "Last used"),
        logout = lang.t("Se déconnecter", "Sign out"),
        sessions_title = lang.t("Mes autres sessions", "My other sessions"),
        others_text = lang.t("Sessions ouvertes ailleurs :", "Sessions open elsewhere:"),
        end_others = lang.t("Fermer mes autres sessions", "End my other sessions"),
    );
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(layout(
            lang,
            lang.t("Mon compte", "My account"),
            &body,
            can_change,
        )))
}

#[derive(Debug, Deserialize)]
struct CsrfForm {
    csrf: String,
}

#[post("/me/keys/{id}/remove")]
async fn remove_key(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, ApiError> {
    let Some(s) = form_session(&state, &req, &form.csrf).await? else {
        return Ok(redirect("/login?return_to=/me"));
    };
    if !may_manage_authenticators(&state, &s) {
        return Err(ApiError::Forbidden);
    }
    if !fresh(&state, &s) {
        return Ok(redirect("/login?reauth=1&return_to=/me"));
    }
    let mut conn = state.db.conn().await?;
    clavis_authn::remove_key(
        &mut conn,
        state.clock.now(),
        s.oid,
        &id,
        "removed_by_user",
        &Actor::Identity(s.oid),
    )
    .await?;
    Ok(redirect("/me"))
}

#[post("/me/keys/begin")]
async fn add_key_begin(
    state: web::Data<AppState>,
    req: HttpRequest,
    _b: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let s = fresh_session(&state, &req).await?;
    let mut conn = state.db.conn().await?;
    let c = state
        .fido2
        .begin_registration_for(&mut conn, state.clock.now(), s.oid, None)
        .await?;
    Ok(HttpResponse::Ok().json(c))
}

#[post("/me/keys/finish")]
async fn add_key_finish(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<FinishRegistration>,
) -> Result<HttpResponse, ApiError> {
    let s = fresh_session(&state, &req).await?;
    let mut conn = state.db.conn().await?;
    state
        .fido2
        .finish_registration(
            &mut conn,
            state.clock.now(),
            &body.ceremony,
            &body.credential,
            body.label.as_deref().unwrap_or(""),
            &Actor::Identity(s.oid),
        )
        .await?;
    Ok(HttpResponse::Ok().json(json!({"redirect": "/me"})))
}

/// The badge PIN part of `/me` (when badge login is offered): the holder
/// chooses their own PIN after a fresh login, which is how someone who
/// signs in with a key gets a first PIN without the badge office choosing
/// it for them.
fn badge_pin_section(state: &AppState, lang: Lang, can_change: bool, csrf: &str) -> String {
    if state.badge.is_none() {
        return String::new();
    }
    let title = lang.t("Mon code PIN de badge", "My badge PIN");
    if !can_change {
        return format!(
            "<h2>{title}</h2><p><a href=\"/login?reauth=1&amp;return_to=/me\">{}</a></p>",
            lang.t(
                "Reconnectez-vous pour choisir votre code PIN de badge.",
                "Sign in again to choose your badge PIN."
            )
        );
    }
    format!(
        "<h2>{title}</h2><form method=\"post\" action=\"/me/badge-pin\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <label for=\"badge-pin\">{new}</label>\
         <input id=\"badge-pin\" name=\"pin\" type=\"password\" inputmode=\"numeric\" maxlength=\"12\" autocomplete=\"off\" required>\
         <label for=\"badge-pin2\">{again}</label>\
         <input id=\"badge-pin2\" name=\"pin2\" type=\"password\" inputmode=\"numeric\" maxlength=\"12\" autocomplete=\"off\" required>\
         <button type=\"submit\">{save}</button></form>",
        csrf = esc(csrf),
        new = lang.t(
            "Nouveau code PIN (4 à 8 chiffres)",
            "New PIN (4 to 8 digits)"
        ),
        again = lang.t("Confirmation", "Again"),
        save = lang.t("Enregistrer mon code PIN", "Save my PIN"),
    )
}

#[derive(Debug, Deserialize)]
struct BadgePinForm {
    csrf: String,
    pin: Secret<String>,
    pin2: Secret<String>,
}

/// The holder sets their own badge PIN (fresh login, CSRF). Audited
/// `badge.pin_set` with the holder as actor.
#[post("/me/badge-pin")]
async fn set_own_badge_pin(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<BadgePinForm>,
) -> Result<HttpResponse, ApiError> {
    let lang = Lang::of(&req);
    let Some(s) = form_session(&state, &req, &form.csrf).await? else {
        return Ok(redirect("/login?return_to=/me"));
    };
    if !may_manage_authenticators(&state, &s) {
        return Err(ApiError::Forbidden);
    }
    if !fresh(&state, &s) {
        return Ok(redirect("/login?reauth=1&return_to=/me"));
    }
    let svc = state
        .badge
        .as_ref()
        .ok_or_else(|| ApiError::NotFound("badge login is not enabled".into()))?;
    let outcome = if !constant_time_eq(form.pin.expose().as_bytes(), form.pin2.expose().as_bytes())
    {
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
            s.oid,
            &form.pin,
            &Actor::Identity(s.oid),
        )
        .await
        {
            Ok(()) => Ok(()),
            Err(clavis_authn::badge::BadgeError::PinPolicy(p)) => {
                Err(crate::pages::pin_policy_message(lang, svc.policy(), &p))
            }
            Err(e) => return Err(e.into()),
        }
    };
    let (title, text, class) = match &outcome {
        Ok(()) => (
            lang.t("Code PIN enregistré", "PIN saved"),
            lang.t(
                "Votre code PIN de badge est enregistré.",
                "Your badge PIN is saved.",
            )
            .to_string(),
            "status",
        ),
        Err(m) => (lang.t("Code PIN", "PIN"), m.clone(), "error"),
    };
    Ok(HttpResponse::build(if outcome.is_ok() {
        actix_web::http::StatusCode::OK
    } else {
        actix_web::http::StatusCode::BAD_REQUEST
    })
    .content_type("text/html; charset=utf-8")
    .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
    .body(layout(
        lang,
        title,
        &format!(
            "<h1>{title}</h1><p class=\"{class}\" role=\"status\">{}</p><p><a href=\"/me\">{}</a></p>",
            esc(&text),
            lang.t("Retour à mon compte", "Back to my account"),
        ),
        false,
    )))
}

/// The holder has read that someone else set their badge PIN: `/me` stops
/// showing it (as their next login would have).
#[post("/me/badge-pin/notice")]
async fn acknowledge_pin_notice(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, ApiError> {
    let Some(s) = form_session(&state, &req, &form.csrf).await? else {
        return Ok(redirect("/login?return_to=/me"));
    };
    let mut conn = state.db.conn().await?;
    clavis_authn::badge::pin::take_replaced(&mut conn, s.oid).await?;
    Ok(redirect("/me"))
}

#[post("/me/sessions/end-others")]
async fn end_other_sessions(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, ApiError> {
    let Some(s) = form_session(&state, &req, &form.csrf).await? else {
        return Ok(redirect("/login?return_to=/me"));
    };
    let mut conn = state.db.conn().await?;
    let now = state.clock.now();
    for other in clavis_sso::list(&mut conn, now, Some(s.oid)).await? {
        if other.id != s.id {
            clavis_sso::end(
                &mut conn,
                now,
                &other.id,
                SessionEndReason::Revoked,
                &Actor::Identity(s.oid),
            )
            .await?;
        }
    }
    Ok(redirect("/me"))
}

#[post("/logout")]
async fn logout(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, ApiError> {
    let lang = Lang::of(&req);
    if let Some((s, token)) = current(&state, &req).await? {
        if !csrf_ok(&token, &form.csrf) {
            return Err(ApiError::Forbidden);
        }
        let mut conn = state.db.conn().await?;
        clavis_sso::end(
            &mut conn,
            state.clock.now(),
            &s.id,
            SessionEndReason::Logout,
            &Actor::Identity(s.oid),
        )
        .await?;
        // A session opened through Pro Santé Connect ends there too.
        if let (Some(psc), Some(clavis_core::LoginMethod::Psc)) = (state.psc.as_deref(), s.method)
            && let Some(to) = crate::psc_web::logout_at_psc(&state, psc, &s.id).await
        {
            return Ok(HttpResponse::SeeOther()
                .cookie(clear_cookie(state.secure_cookies))
                .insert_header((header::LOCATION, to))
                .finish());
        }
    }
    let body = format!(
        "<h1>{}</h1><p><a href=\"/login\">{}</a></p>",
        lang.t("Vous êtes déconnecté(e)", "You are signed out"),
        lang.t("Se reconnecter", "Sign in again")
    );
    Ok(HttpResponse::Ok()
        .cookie(clear_cookie(state.secure_cookies))
        .content_type("text/html; charset=utf-8")
        .body(layout(
            lang,
            lang.t("Déconnexion", "Signed out"),
            &body,
            false,
        )))
}

#[get("/static/webauthn.js")]
async fn script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(include_str!("assets/webauthn.js"))
}

/// Registers the login, enrolment, self-service and logout routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(login_page)
        .service(login_begin)
        .service(login_finish)
        .service(enrol_page)
        .service(enrol_begin)
        .service(enrol_finish)
        .service(me)
        .service(remove_key)
        .service(add_key_begin)
        .service(add_key_finish)
        .service(end_other_sessions)
        .service(set_own_badge_pin)
        .service(acknowledge_pin_notice)
        .service(logout)
        .service(script);
}
