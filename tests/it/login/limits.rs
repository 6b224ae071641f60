//! What anyone may start without signing in is limited: logins started
//! per client address (429 with Retry-After beyond, other addresses go on)
//! and unfinished logins overall (503 beyond, free again once they expire).

use super::clinic;
use crate::support::http::AppService;
use crate::support::on_both_backends;
use actix_web::test::{TestRequest, call_service};
use clavis_core::Clock;
use clavis_testkit::db::Backend;
use serde_json::json;
use std::sync::Arc;

on_both_backends!(
    starts_from_one_address_are_limited_and_other_addresses_go_on,
    unfinished_logins_are_capped_until_they_expire_and_are_swept,
);

/// POST `uri` (a login start) from `peer`: the status and `Retry-After`.
async fn start(app: &impl AppService, uri: &str, peer: &str) -> (u16, Option<String>) {
    let r = call_service(
        app,
        TestRequest::post()
            .uri(uri)
            .peer_addr(format!("{peer}:50000").parse().expect("peer"))
            .set_json(json!({}))
            .to_request(),
    )
    .await;
    let retry = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (r.status().as_u16(), retry)
}

async fn starts_from_one_address_are_limited_and_other_addresses_go_on(backend: Backend) {
    let mut t = clinic(backend).await;
    t.state.start_limits = Arc::new(clavis_web::limits::StartLimits::new(3, 0));
    let app = t.service().await;
    assert_eq!(start(&app, "/login/begin", "192.0.2.10").await.0, 200);
    assert_eq!(start(&app, "/login/badge/start", "192.0.2.10").await.0, 200);
    assert_eq!(start(&app, "/login/begin", "192.0.2.10").await.0, 200);
    // The fourth start of that address within the minute waits, whichever
    // kind of login it is.
    for uri in ["/login/begin", "/login/badge/start"] {
        let (status, retry) = start(&app, uri, "192.0.2.10").await;
        assert_eq!(status, 429, "{uri}");
        let secs: u64 = retry.expect("Retry-After").parse().expect("seconds");
        assert!((1..=60).contains(&secs), "{secs}");
    }
    assert_eq!(start(&app, "/login/begin", "192.0.2.11").await.0, 200);
    assert_eq!(t.state.start_limits.remembered(), 2);
    // Nothing was stored for the refused starts.
    let mut conn = t.t.db.conn().await.expect("conn");
    let now = t.clock.now().timestamp();
    let stored = clavis_store::models::CeremonyRow::count_live(&mut conn, now)
        .await
        .expect("count")
        + clavis_store::models::BadgeTxRow::count_live(&mut conn, now)
            .await
            .expect("count");
    assert_eq!(stored, 4);
}

async fn unfinished_logins_are_capped_until_they_expire_and_are_swept(backend: Backend) {
    let mut t = clinic(backend).await;
    t.state.start_limits = Arc::new(clavis_web::limits::StartLimits::new(0, 3));
    let app = t.service().await;
    for i in 0..3 {
        assert_eq!(
            start(&app, "/login/begin", &format!("192.0.2.{i}")).await.0,
            200
        );
    }
    let (status, retry) = start(&app, "/login/badge/start", "192.0.2.9").await;
    assert_eq!(status, 503);
    assert_eq!(retry.as_deref(), Some("5"));
    // Five minutes later the three have expired: room again, and the
    // sweep deletes them.
    t.clock.advance(chrono::Duration::seconds(301));
    assert_eq!(start(&app, "/login/begin", "192.0.2.9").await.0, 200);
    let mut conn = t.t.db.conn().await.expect("conn");
    clavis_store::models::CeremonyRow::delete_expired(&mut conn, t.clock.now().timestamp())
        .await
        .expect("sweep");
    // Only the new one is left (storing a ceremony sometimes sweeps too,
    // so the three may already have gone then).
    let stored = clavis_store::models::CeremonyRow::count_live(&mut conn, i64::MIN)
        .await
        .expect("count");
    assert_eq!(stored, 1);
}
