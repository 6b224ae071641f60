//! Liveness and readiness for load balancers and systemd.

use crate::AppState;
use actix_web::{HttpResponse, get, web};
use serde_json::json;

/// `/healthz`: the process answers.
#[get("/healthz")]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// How far this machine's clock may be from the database server's before
/// the node stops taking traffic: sessions, codes and leases written by
/// one node are read against another's clock.
pub const MAX_CLOCK_SKEW_MS: i64 = 5_000;

/// Whether a clock `skew_ms` away from the database's is close enough.
pub fn clock_agrees(skew_ms: i64) -> bool {
    skew_ms.abs() <= MAX_CLOCK_SKEW_MS
}

/// `/readyz`: the database answers too, and (on PostgreSQL, shared by the
/// nodes) this machine's clock agrees with the database server's within
/// [`MAX_CLOCK_SKEW_MS`]; otherwise 503, so that a load balancer stops
/// sending it logins until NTP has put it right.
#[get("/readyz")]
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    use clavis_core::Clock;
    let before = clavis_core::clock::SystemClock.now().timestamp_millis();
    let server = match state.db.server_clock_ms().await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "not ready: database unavailable");
            return HttpResponse::ServiceUnavailable()
                .json(json!({"status": "not_ready", "database": "unavailable"}));
        }
    };
    let server = match server {
        Some(ms) => ms,
        None => match state.db.check().await {
            Ok(()) => return HttpResponse::Ok().json(json!({"status": "ready", "database": "ok"})),
            Err(e) => {
                tracing::warn!(error = %e, "not ready: database unavailable");
                return HttpResponse::ServiceUnavailable()
                    .json(json!({"status": "not_ready", "database": "unavailable"}));
            }
        },
    };
    // The machine's own clock, not the application's (tests move that
    // one), at the middle of the round trip; a round trip over a second
    // (a busy pool) measures nothing.
    let after = clavis_core::clock::SystemClock.now().timestamp_millis();
    let skew_ms = (before + after) / 2 - server;
    if after - before > 1_000 || clock_agrees(skew_ms) {
        HttpResponse::Ok()
            .json(json!({"status": "ready", "database": "ok", "clock_skew_ms": skew_ms}))
    } else {
        tracing::error!(
            clock_skew_ms = skew_ms,
            max_ms = MAX_CLOCK_SKEW_MS,
            "not ready: this machine's clock differs from the database server's; check NTP"
        );
        HttpResponse::ServiceUnavailable().json(json!({
            "status": "not_ready",
            "database": "ok",
            "clock": "skewed",
            "clock_skew_ms": skew_ms,
        }))
    }
}

/// Registers the health routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(healthz).service(readyz);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clock_more_than_five_seconds_off_is_not_ready() {
        assert!(clock_agrees(0));
        assert!(clock_agrees(5_000));
        assert!(clock_agrees(-5_000));
        assert!(!clock_agrees(5_001));
        assert!(!clock_agrees(-60_000));
    }
}
