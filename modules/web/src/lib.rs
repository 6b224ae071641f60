//! The HTTP surface of Clavis (actix-web).
//!
//! Handlers are thin: they parse input, call one service of a capability
//! crate and map the result. Each area exposes `configure`; [`build_app`]
//! assembles them for both `clavis serve` and the tests.
//!
//! Today: `/healthz`, `/readyz`; `/` (see [`home`]); login with a FIDO2
//! key, enrolment links, `/me` and `/logout` (see [`login`]); and the admin
//! JSON API under `/admin/api/` protected by API tokens
//! (`Authorization: Bearer …`). Every response carries the security
//! headers of [`security_headers`]; every request's duration is measured
//! by route for the metrics ([`prometheus`], served on a listener of its
//! own), and each is served under its own id ([`request_id`]).

pub mod admin_api;
pub mod admin_api_console;
pub mod badge_office;
pub mod badge_web;
pub mod console;
pub mod error;
pub mod extract;
pub mod health;
pub mod home;
pub mod i18n;
pub mod limits;
pub mod login;
pub mod oidc_web;
pub mod pages;
pub mod prometheus;
pub mod psc_web;
pub mod request;
pub mod request_id;
pub mod security_headers;
pub mod sso_web;
/// Admin API tokens, issued and checked by [`clavis_authn::api_token`]
/// (this name kept for callers).
pub use clavis_authn::api_token as tokens;

use actix_web::web;
use clavis_core::Clock;
use clavis_directory::DirectoryConfig;
use clavis_directory::lifecycle::Subscribers;
use clavis_store::Db;
use std::sync::Arc;

/// What every handler can reach. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The database.
    pub db: Db,
    /// The directory configuration.
    pub directory: Arc<DirectoryConfig>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Lifecycle subscribers (for operator actions that change identities).
    pub subscribers: Subscribers,
    /// The FIDO2 relying party.
    pub fido2: Arc<clavis_authn::Fido2>,
    /// Session settings.
    pub sso: clavis_sso::SsoConfig,
    /// Whether cookies carry `Secure` (always, except plain-HTTP tests on
    /// addresses browsers do not treat as secure).
    pub secure_cookies: bool,
    /// The URL users reach Clavis at (enrolment links point there).
    pub public_url: String,
    /// The OpenID provider.
    pub oidc: Arc<clavis_oidc::Provider>,
    /// Badge login (`None`: not offered).
    pub badge: Option<Arc<clavis_authn::badge::BadgeService>>,
    /// The reverse proxies whose `X-Forwarded-For` is believed
    /// (`server.trusted_proxies`; see [`request::client_ip`]).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// What anyone may start without signing in (see [`limits`]).
    pub start_limits: Arc<limits::StartLimits>,
    /// Pro Santé Connect (`None`: not enabled).
    pub psc: Option<Arc<clavis_federation::Psc>>,
}

/// Registers every route on `cfg` (used by `serve` and by tests).
pub fn configure(state: AppState) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(web::Data::new(state))
            .app_data(web::JsonConfig::default().limit(64 * 1024))
            .configure(health::configure)
            .configure(home::configure)
            .configure(pages::configure)
            .configure(login::configure)
            .configure(badge_web::configure)
            .configure(badge_office::configure)
            .configure(oidc_web::configure)
            .configure(psc_web::configure)
            .configure(console::configure)
            .configure(admin_api::configure)
            .configure(admin_api_console::configure);
    }
}

/// The application, for `HttpServer::new(move || build_app(state.clone()))`
/// and `actix_web::test::init_service(build_app(state))`.
pub fn build_app(
    state: AppState,
) -> actix_web::App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    actix_web::App::new()
        .wrap(actix_web::middleware::from_fn(extract::admin_gate))
        .wrap(security_headers::middleware(&state))
        // The metrics take the route the request-id middleware found
        // (request_id::route): no middleware that rewrites the path may
        // come between them.
        .wrap(actix_web::middleware::from_fn(prometheus::record_latency))
        .wrap(actix_web::middleware::from_fn(request_id::middleware))
        .configure(configure(state))
}
