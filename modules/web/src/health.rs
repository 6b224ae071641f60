//! Liveness and readiness for load balancers and systemd.

use crate::AppState;
use actix_web::{HttpResponse, get, web};
use serde_json::json;

/// `/healthz`: the process answers.
#[get("/healthz")]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// `/readyz`: the database answers too.
#[get("/readyz")]
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    match state.db.check().await {
        Ok(()) => HttpResponse::Ok().json(json!({"status": "ready", "database": "ok"})),
        Err(e) => {
            tracing::warn!(error = %e, "not ready: database unavailable");
            HttpResponse::ServiceUnavailable()
                .json(json!({"status": "not_ready", "database": "unavailable"}))
        }
    }
}

/// Registers the health routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(healthz).service(readyz);
}
