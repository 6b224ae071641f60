//! Who is calling, as handler arguments: an extractor resolves the caller
//! before the handler runs, so no handler begins with a check it could
//! forget.
//!
//! - [`AdminActor`]: a caller of the admin JSON API, authenticated by its
//!   bearer token (`Authorization: Bearer clv_…`, see
//!   `clavis api-token create`) in [`admin_gate`], before the request is
//!   parsed. Any failure answers the same `401`. A token with scopes
//!   reaches only their areas ([`api_area`]): anything else is `403`.

use crate::AppState;
use crate::error::ApiError;
use crate::request::client_ip;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use clavis_core::Actor;
use clavis_core::roles::Area;

/// A caller of the admin API: the name of the API token it presented.
#[derive(Debug, Clone)]
pub struct AdminActor {
    token_name: String,
    /// The token has scopes (it reaches some areas only).
    scoped: bool,
}

impl AdminActor {
    /// The actor recorded in audit events (`api:<token name>`).
    pub fn actor(&self) -> Actor {
        Actor::Api(self.token_name.clone())
    }

    /// Whether the token may do `action` to `target`: a token with scopes
    /// never acts on someone holding an operator role (a way into their
    /// account, their sessions, their status: an administrator's business,
    /// in the console after a fresh login, or with a token without
    /// scopes). A refusal is audited (`console.target_refused`) and
    /// answered `403`.
    pub async fn may_act_on(
        &self,
        conn: &mut clavis_store::DbConn,
        state: &AppState,
        target: clavis_core::Oid,
        action: &str,
    ) -> Result<(), ApiError> {
        if !self.scoped {
            return Ok(());
        }
        let roles = clavis_store::models::IdentityRoleRow::for_identity(conn, target).await?;
        if clavis_core::roles::OperatorRole::parse_all(&roles).is_empty() {
            return Ok(());
        }
        clavis_audit::AuditEvent::new(
            self.actor(),
            clavis_core::AuditAction::ConsoleTargetRefused,
            Some(target.to_string()),
            serde_json::json!({"action": action, "why": "operator_target_for_scoped_token"}),
        )
        .record(conn, state.clock.now())
        .await
        .map_err(ApiError::internal)?;
        Err(ApiError::Forbidden)
    }

    /// Operator roles are granted and withdrawn by tokens without scopes
    /// only (an `operators` scope would otherwise make an administrator).
    pub fn may_manage_roles(&self) -> Result<(), ApiError> {
        if self.scoped {
            return Err(ApiError::Forbidden);
        }
        Ok(())
    }
}

impl FromRequest for AdminActor {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    /// The actor [`admin_gate`] authenticated for this request. A route
    /// outside `/admin/api/` that asks for one gets `401`.
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(
            req.extensions()
                .get::<AdminActor>()
                .cloned()
                .ok_or(ApiError::Unauthorized),
        )
    }
}

/// The path prefix of the admin JSON API.
pub const ADMIN_API_PREFIX: &str = "/admin/api/";

/// Middleware: every request under [`ADMIN_API_PREFIX`] is authenticated
/// by its bearer token before anything of it is read (its query, its
/// body): a caller without a valid token learns nothing, not even which
/// fields a body may have. The actor is then an extension of the request,
/// for [`AdminActor`].
pub async fn admin_gate(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    if !req.path().starts_with(ADMIN_API_PREFIX) {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    match authenticate(req.request()).await {
        Ok((actor, token)) => {
            // The path as the router will match it (percent-decoded).
            let path = actix_web::dev::Url::new(req.uri().clone())
                .path()
                .to_string();
            let access = crate::console::access_of(req.method());
            let allowed = match api_area(&path) {
                Some(area) => token.may(area, access),
                // A path of no known area: only for tokens without scopes.
                None => token.scopes.is_none(),
            };
            if !allowed {
                tracing::warn!(api.token = %actor.token_name, path = %path, "admin API: out of the token's scopes");
                return Ok(req
                    .error_response(ApiError::Forbidden)
                    .map_into_right_body());
            }
            req.extensions_mut().insert(actor);
            Ok(next.call(req).await?.map_into_left_body())
        }
        Err(e) => Ok(req.error_response(e).map_into_right_body()),
    }
}

/// The area of the admin API a path belongs to (the scopes of tokens are
/// the console's areas): what acts on authenticators is
/// [`Area::Authenticators`] wherever it sits.
pub fn api_area(path: &str) -> Option<Area> {
    let rest = path.strip_prefix(ADMIN_API_PREFIX)?;
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        [
            "identities",
            _,
            "badge-unlock" | "enrolment-link" | "security-keys",
            ..,
        ] => Some(Area::Authenticators),
        ["identities", ..] => Some(Area::Identities),
        ["cases", ..] => Some(Area::Cases),
        ["sync-runs", ..] => Some(Area::Syncs),
        ["clients", ..] => Some(Area::Applications),
        ["badges" | "workstations", ..] => Some(Area::Authenticators),
        ["habilitations", ..] => Some(Area::Habilitations),
        ["sessions", ..] => Some(Area::Sessions),
        ["operators", ..] => Some(Area::Operators),
        ["audit", ..] => Some(Area::Audit),
        ["compliance", ..] => Some(Area::Compliance),
        _ => None,
    }
}

/// The bearer token's actor and grant, or why not (one answer for every
/// failure).
async fn authenticate(
    req: &HttpRequest,
) -> Result<(AdminActor, clavis_authn::api_token::Authenticated), ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::internal("the application state is missing"))?;
    let presented = req
        .headers()
        .get("Authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or(ApiError::Unauthorized)?;
    let mut conn = state.db.conn().await?;
    match clavis_authn::api_token::authenticate(&mut conn, presented, state.clock.now()).await? {
        Some(token) => Ok((
            AdminActor {
                token_name: token.name.clone(),
                scoped: token.scopes.is_some(),
            },
            token,
        )),
        None => {
            let addr = client_ip(req).unwrap_or_default();
            tracing::warn!(client.addr = %addr, "admin API: token refused");
            Err(ApiError::Unauthorized)
        }
    }
}
