//! The console's operator: who is signed in, with which roles, resolved
//! once per request by [`super::console_gate`] and handed to handlers as
//! an argument ([`Operator`]); the form extractor that checks the CSRF
//! token ([`ConsoleForm`]); and the rules an operator's action on a person
//! obeys ([`Operator::may_act_on`], [`Operator::require_fresh`]).

use crate::AppState;
use crate::error::ApiError;
use crate::pages::Lang;
use crate::request::client_ip;
use crate::sso_web::{csrf_for, csrf_ok, current};
use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, web};
use clavis_audit::AuditEvent;
use clavis_core::roles::{self, Access, Area, OperatorRole, TargetRefusal};
use clavis_core::{Actor, AuditAction, LoginMethod, Oid};
use clavis_store::DbConn;
use clavis_store::models::{IdentityRoleRow, IdentityRow};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use std::sync::Arc;

/// A signed-in operator whose roles allow the request's area and access.
#[derive(Debug, Clone)]
pub struct Operator {
    /// Their SSO session.
    pub session: Arc<clavis_sso::Session>,
    /// The session's cookie token (the CSRF token derives from it).
    token: Arc<str>,
    /// Their operator roles.
    pub roles: Vec<OperatorRole>,
    /// Their name, as shown in the console.
    pub display_name: String,
    /// The language of their pages.
    pub lang: Lang,
}

/// Why the gate does not let a request through.
#[derive(Debug)]
pub(super) enum Refusal {
    /// Signed out, reading a page: sign in, then come back.
    SignIn(String),
    /// Signed out and acting, or signed in without the role.
    Forbidden,
    /// Something failed on the way.
    Failed(ApiError),
}

impl From<ApiError> for Refusal {
    fn from(e: ApiError) -> Self {
        Refusal::Failed(e)
    }
}

impl From<clavis_store::StoreError> for Refusal {
    fn from(e: clavis_store::StoreError) -> Self {
        Refusal::Failed(e.into())
    }
}

impl Refusal {
    pub(super) fn response(self, lang: Lang) -> HttpResponse {
        match self {
            Refusal::SignIn(back) => super::see_other(format!(
                "/login?return_to={}",
                url::form_urlencoded::byte_serialize(back.as_bytes()).collect::<String>()
            )),
            Refusal::Forbidden => super::problem_page(lang, StatusCode::FORBIDDEN, None),
            Refusal::Failed(e) => {
                let status = actix_web::ResponseError::status_code(&e);
                // Logs an internal cause once.
                let _ = actix_web::ResponseError::error_response(&e);
                super::problem_page(lang, status, None)
            }
        }
    }
}

/// The operator of `req`, if signed in with a role that allows `area` with
/// `access`; a signed-in person refused is audited (`console.denied`).
pub(super) async fn resolve(
    req: &HttpRequest,
    area: Area,
    access: Access,
) -> Result<Operator, Refusal> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::internal("the application state is missing"))?;
    let Some((session, token)) = current(state, req).await? else {
        return Err(if access == Access::Read {
            let back = match req.query_string() {
                "" => req.path().to_string(),
                q => format!("{}?{q}", req.path()),
            };
            Refusal::SignIn(back)
        } else {
            Refusal::Forbidden
        });
    };
    let mut conn = state.db.conn().await.map_err(ApiError::from)?;
    let roles =
        OperatorRole::parse_all(&IdentityRoleRow::for_identity(&mut conn, session.oid).await?);
    // A session opened through Pro Santé Connect (a forgotten badge) does
    // not run the console: it acts on local authenticators and identities
    // that e-CPS does not vouch for.
    let via_psc = session.method == Some(LoginMethod::Psc);
    if via_psc || !roles::may(&roles, area, access) {
        tracing::warn!(
            identity.oid = %session.oid, console.area = %area, console.access = %access,
            "console: refused"
        );
        if denials_recorded().check_key(&session.oid).is_ok() {
            AuditEvent::new(
                Actor::Identity(session.oid),
                AuditAction::ConsoleDenied,
                None,
                json!({
                    "area": area, "access": access, "path": req.path(),
                    "roles": roles, "via_psc": via_psc,
                }),
            )
            .from_addr(client_ip(req))
            .record(&mut conn, state.clock.now())
            .await
            .map_err(ApiError::internal)?;
        } else {
            // Someone hammering the console: refused all the same, counted,
            // but the journal is not filled with it.
            metrics::counter!("clavis_console_denials_unrecorded_total").increment(1);
        }
        return Err(Refusal::Forbidden);
    }
    let display_name = match IdentityRow::find(&mut conn, session.oid).await? {
        Some(i) => format!(
            "{} {}",
            i.birth_given_names
                .first()
                .map(String::as_str)
                .unwrap_or(""),
            i.used_family_name
                .as_deref()
                .unwrap_or(&i.birth_family_name)
        )
        .trim()
        .to_string(),
        None => session.oid.to_string(),
    };
    Ok(Operator {
        session: Arc::new(session),
        token: token.into(),
        roles,
        display_name,
        lang: Lang::of(req),
    })
}

impl FromRequest for Operator {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    /// The operator the gate resolved; outside `/console` there is none
    /// (`403`).
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(
            req.extensions()
                .get::<Operator>()
                .cloned()
                .ok_or(ApiError::Forbidden),
        )
    }
}

impl Operator {
    /// Their identity.
    pub fn oid(&self) -> Oid {
        self.session.oid
    }

    /// The actor of their audit events.
    pub fn actor(&self) -> Actor {
        Actor::Identity(self.session.oid)
    }

    /// Whether their roles allow `area` with `access` (to show or hide an
    /// action; the gate decides whether it is done).
    pub fn may(&self, area: Area, access: Access) -> bool {
        roles::may(&self.roles, area, access)
    }

    /// The CSRF token of their forms.
    pub fn csrf(&self) -> String {
        csrf_for(&self.token)
    }

    /// Whether `submitted` is their forms' CSRF token (constant time): for
    /// the rare `GET` that starts work (an auditor reads only, and may
    /// still start a verification of the journal).
    pub fn csrf_matches(&self, submitted: &str) -> bool {
        csrf_ok(&self.token, submitted)
    }

    /// `None` when they signed in recently enough for a sensitive action
    /// (`fresh_login_secs`); otherwise the answer that sends them to sign
    /// in again and come back to `return_to`.
    pub fn fresh_login_needed(&self, state: &AppState, return_to: &str) -> Option<HttpResponse> {
        if crate::login::fresh(state, &self.session) {
            return None;
        }
        Some(super::see_other(format!(
            "/login?reauth=1&return_to={}",
            url::form_urlencoded::byte_serialize(return_to.as_bytes()).collect::<String>()
        )))
    }

    /// [`Self::may_act_on`], and more for what gives a way into someone's
    /// account or changes who they are (enrolment links, PINs, revoking
    /// authenticators, linking a record to them): a person who holds an
    /// operator role is acted on by an administrator only, and after a
    /// fresh login. Answers whether the target holds a role (the caller
    /// then asks [`Self::fresh_login_needed`]).
    pub async fn may_act_strictly_on(
        &self,
        conn: &mut DbConn,
        state: &AppState,
        req: &HttpRequest,
        target: Oid,
        action: &str,
    ) -> Result<bool, ApiError> {
        let theirs = OperatorRole::parse_all(&IdentityRoleRow::for_identity(conn, target).await?);
        self.check_target(conn, state, req, target, &theirs, action)
            .await?;
        if theirs.is_empty() {
            return Ok(false);
        }
        if self.roles.contains(&OperatorRole::Admin) {
            return Ok(true);
        }
        Err(self
            .refuse(
                conn,
                state,
                req,
                target,
                action,
                "operator_target_needs_admin",
                self.lang.tr("refused-operator-target"),
            )
            .await)
    }

    /// Whether they may do `action` to `target`: never to themselves,
    /// never to someone holding a role they do not hold (an administrator
    /// excepted). A refusal is audited (`console.target_refused`) and
    /// answered `403`.
    pub async fn may_act_on(
        &self,
        conn: &mut DbConn,
        state: &AppState,
        req: &HttpRequest,
        target: Oid,
        action: &str,
    ) -> Result<(), ApiError> {
        let theirs = OperatorRole::parse_all(&IdentityRoleRow::for_identity(conn, target).await?);
        self.check_target(conn, state, req, target, &theirs, action)
            .await
    }

    /// [`Self::may_act_on`] for a target whose roles are `theirs`.
    async fn check_target(
        &self,
        conn: &mut DbConn,
        state: &AppState,
        req: &HttpRequest,
        target: Oid,
        theirs: &[OperatorRole],
        action: &str,
    ) -> Result<(), ApiError> {
        let Err(refusal) = roles::may_target(self.oid(), &self.roles, target, theirs) else {
            return Ok(());
        };
        let (reason, message) = match refusal {
            TargetRefusal::Themselves => {
                ("themselves".to_string(), self.lang.tr("refused-themselves"))
            }
            TargetRefusal::HigherRole(r) => (
                format!("holds_{r}"),
                self.lang.tr1(
                    "refused-higher-role",
                    "role",
                    super::role_label(self.lang, r),
                ),
            ),
        };
        Err(self
            .refuse(conn, state, req, target, action, &reason, message)
            .await)
    }

    /// Records a refused action on `target` (`console.target_refused`
    /// with `reason`) and answers `403` with `message`.
    #[allow(clippy::too_many_arguments)]
    async fn refuse(
        &self,
        conn: &mut DbConn,
        state: &AppState,
        req: &HttpRequest,
        target: Oid,
        action: &str,
        reason: &str,
        message: String,
    ) -> ApiError {
        let recorded = AuditEvent::new(
            self.actor(),
            AuditAction::ConsoleTargetRefused,
            Some(target.to_string()),
            json!({"action": action, "reason": reason}),
        )
        .from_addr(client_ip(req))
        .record(conn, state.clock.now())
        .await;
        match recorded {
            Ok(()) => ApiError::refused(StatusCode::FORBIDDEN, "target_refused", message),
            Err(e) => ApiError::internal(e),
        }
    }
}

/// The fields of a form that carries nothing but its CSRF token (a
/// button).
#[derive(Debug, Deserialize)]
pub struct NoFields {}

/// Refusals recorded in the journal per person: a burst of
/// [`DENIALS_BURST`], then one a second, smoothed (GCRA, `governor`), on
/// each node. Beyond, a refusal is still refused and
/// logged, and counted in `clavis_console_denials_unrecorded_total`, but
/// not journaled: a signed-in person hammering the console cannot fill the
/// audit journal.
/// Refusals of one person journaled in a row before the limit applies.
pub const DENIALS_BURST: u32 = 100;

fn denials_recorded() -> &'static governor::DefaultKeyedRateLimiter<Oid> {
    static LIMITER: std::sync::OnceLock<governor::DefaultKeyedRateLimiter<Oid>> =
        std::sync::OnceLock::new();
    LIMITER.get_or_init(|| {
        let one = std::num::NonZeroU32::MIN;
        governor::RateLimiter::keyed(
            governor::Quota::per_second(one)
                .allow_burst(std::num::NonZeroU32::new(DENIALS_BURST).unwrap_or(one)),
        )
    })
}

/// A console form whose `csrf` field is the operator's: the rest of its
/// fields, `T`. A form without it, or with another, is refused `403`
/// before the handler runs.
#[derive(Debug)]
pub struct ConsoleForm<T>(pub T);

#[derive(Deserialize)]
struct WithCsrf<T> {
    #[serde(default)]
    csrf: String,
    #[serde(flatten)]
    fields: T,
}

impl<T: DeserializeOwned + 'static> FromRequest for ConsoleForm<T> {
    type Error = ApiError;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let operator = req.extensions().get::<Operator>().cloned();
        let form = web::Form::<WithCsrf<T>>::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            let operator = operator.ok_or(ApiError::Forbidden)?;
            let form = form
                .await
                .map_err(|e| ApiError::BadRequest(format!("form: {e}")))?
                .into_inner();
            if !csrf_ok(&operator.token, &form.csrf) {
                // A forged or stale form: refused, and on the record.
                if let Some(state) = req.app_data::<web::Data<AppState>>() {
                    let mut conn = state.db.conn().await?;
                    AuditEvent::new(
                        operator.actor(),
                        AuditAction::ConsoleDenied,
                        None,
                        json!({"reason": "csrf", "path": req.path()}),
                    )
                    .from_addr(client_ip(&req))
                    .record(&mut conn, state.clock.now())
                    .await
                    .map_err(ApiError::internal)?;
                }
                return Err(ApiError::Forbidden);
            }
            Ok(ConsoleForm(form.fields))
        })
    }
}
