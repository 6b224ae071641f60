//! What anyone may start without signing in is limited: logins started
//! per client address (429 with Retry-After beyond, other addresses go on)
//! and unfinished badge logins overall (503 beyond, free again once they
//! expire). A FIDO2 login stores nothing until it is finished, so no flood
//! of them fills anything or keeps a key login from starting.

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
    // Nothing was stored for the refused starts, nor for the FIDO2 ones:
    // the one badge transaction only.
    let mut conn = t.t.db.conn().await.expect("conn");
    let now = t.clock.now().timestamp();
    let ceremonies = clavis_store::models::CeremonyRow::count_live(&mut conn, i64::MIN)
        .await
        .expect("count");
    let badge = clavis_store::models::BadgeTxRow::count_live(&mut conn, now)
        .await
        .expect("count");
    assert_eq!((ceremonies, badge), (0, 1));
}

async fn unfinished_logins_are_capped_until_they_expire_and_are_swept(backend: Backend) {
    let mut t = clinic(backend).await;
    t.state.start_limits = Arc::new(clavis_web::limits::StartLimits::new(0, 3));
    let app = t.service().await;
    for i in 0..3 {
        assert_eq!(
            start(&app, "/login/badge/start", &format!("192.0.2.{i}"))
                .await
                .0,
            200
        );
    }
    let (status, retry) = start(&app, "/login/badge/start", "192.0.2.9").await;
    assert_eq!(status, 503);
    assert_eq!(retry.as_deref(), Some("5"));
    // A flood of FIDO2 starts meanwhile: each answered, none stored, and
    // none refused for the badge transactions' cap.
    for i in 0..20 {
        assert_eq!(
            start(&app, "/login/begin", &format!("198.51.100.{i}"))
                .await
                .0,
            200
        );
    }
    let mut conn = t.t.db.conn().await.expect("conn");
    let ceremonies = clavis_store::models::CeremonyRow::count_live(&mut conn, i64::MIN)
        .await
        .expect("count");
    assert_eq!(ceremonies, 0);
    // Five minutes later the three have expired: room again.
    t.clock.advance(chrono::Duration::seconds(301));
    assert_eq!(start(&app, "/login/badge/start", "192.0.2.9").await.0, 200);
    let live = clavis_store::models::BadgeTxRow::count_live(&mut conn, t.clock.now().timestamp())
        .await
        .expect("count");
    assert_eq!(live, 1);
}
