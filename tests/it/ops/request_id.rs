//! Every request has an id, answered in `X-Request-Id` and carried by every
//! log line written while serving it (JSON logs: under `span`) and by the
//! audit events it writes. The id is
//! the trusted reverse proxy's when it sends a plausible one; a client
//! cannot choose its own.

use super::Clavis;
use crate::support::TestApp;
use crate::support::on_both_backends;
use actix_web::test::{TestRequest, call_service};
use clavis_testkit::db::{Backend, TestDb};
use serde_json::{Value, json};

on_both_backends!(
    the_id_is_the_trusted_proxys_or_clavis_own,
    json_logs_carry_the_request_id_of_the_request_they_were_written_for,
);

/// The `X-Request-Id` Clavis answers `GET /healthz` from `peer` sending
/// `sent`.
async fn answered_id(app: &TestApp, peer: &str, sent: Option<&str>) -> String {
    let svc = app.service().await;
    let mut req = TestRequest::get()
        .uri("/healthz")
        .peer_addr(peer.parse().expect("peer"));
    if let Some(s) = sent {
        req = req.insert_header(("X-Request-Id", s));
    }
    let r = call_service(&svc, req.to_request()).await;
    r.headers()
        .get("x-request-id")
        .expect("an X-Request-Id")
        .to_str()
        .expect("text")
        .to_string()
}

fn is_uuid(s: &str) -> bool {
    s.len() == 36 && s.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

async fn the_id_is_the_trusted_proxys_or_clavis_own(backend: Backend) {
    let mut app = TestApp::on(backend).start().await;
    app.state.trusted_proxies = vec!["10.0.0.1/32".parse().expect("net")];
    let nginx = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";
    // The proxy's id is taken…
    assert_eq!(answered_id(&app, "10.0.0.1:4000", Some(nginx)).await, nginx);
    // …not a client's, nor a proxy's that could forge a log line.
    let own = answered_id(&app, "192.0.2.7:4000", Some(nginx)).await;
    assert!(is_uuid(&own) && own != nginx, "{own}");
    let forged = answered_id(&app, "10.0.0.1:4000", Some("x level=ERROR forged")).await;
    assert!(is_uuid(&forged), "{forged}");
    // Without one, each request gets a new id.
    let a = answered_id(&app, "192.0.2.7:4000", None).await;
    let b = answered_id(&app, "192.0.2.7:4000", None).await;
    assert!(is_uuid(&a) && is_uuid(&b) && a != b, "{a} {b}");
}

async fn json_logs_carry_the_request_id_of_the_request_they_were_written_for(backend: Backend) {
    let t = TestDb::new(backend).await;
    let dir = tempfile::tempdir().expect("dir");
    let clavis = Clavis::spawn(
        dir.path(),
        &t.url,
        "trusted_proxies = [\"127.0.0.1\"]",
        "[metrics]\nenabled = false\n[log]\nformat = \"json\"",
    )
    .ready_http()
    .await;
    let http = reqwest::Client::new();
    let base = clavis.base();
    // A refused login, passed on by "the proxy" (127.0.0.1) with its id:
    // Clavis logs the refusal.
    let id = "proxy-req-7f3a9c";
    let (status, ceremony) = super::begin_login(&http, &base, &[]).await;
    assert_eq!(status, 200);
    let ceremony = ceremony.expect("a ceremony");
    let r = super::refused_finish(&http, &base, &ceremony, &[("X-Request-Id", id)]).await;
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(
        r.headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
        Some(id)
    );
    let refusal = || {
        clavis.logs().lines().find_map(|l| {
            let v: Value = serde_json::from_str(l).ok()?;
            (v["fields"]["message"] == "login failed").then_some(v)
        })
    };
    let logged = super::eventually(std::time::Duration::from_secs(10), || async {
        refusal().is_some()
    })
    .await;
    assert!(logged, "no JSON line for the refusal:\n{}", clavis.logs());
    let line = refusal().expect("the line");
    assert_eq!(line["span"]["request.id"], json!(id), "{line}");
    assert_eq!(line["span"]["http.route"], json!("/login/finish"), "{line}");
    // Every line is JSON.
    for l in clavis.logs().lines() {
        assert!(serde_json::from_str::<Value>(l).is_ok(), "{l}");
    }
    // The audit event of the refusal carries the same id, and the chain
    // (which hashes it) verifies.
    let mut conn = t.db.conn().await.expect("conn");
    let events = clavis_store::models::AuditEventRow::page(&mut conn, 0, 1_000)
        .await
        .expect("audit");
    let failed = events
        .iter()
        .find(|e| e.action == "login.failed")
        .expect("the refusal audited");
    assert_eq!(failed.request_id.as_deref(), Some(id), "{failed:?}");
    let report = clavis_audit::verify(&mut conn).await.expect("verify");
    assert_eq!(report.first_broken, None, "{report:?}");
}
