//! Back-channel logout as applications rely on it: every way a session
//! ends (reaching its 4 h, a departure, a suspension) sends a signed logout
//! token to the applications it signed in to; a failed delivery is retried
//! on the documented schedule and given up after `max_attempts`; and the
//! URIs Clavis calls cannot point at the appliance itself or its link
//! (loopback, link-local, unspecified) unless the configuration allows it,
//! at registration and again at delivery. Several nodes delivering at once
//! send each logout once.

use super::admin_clients::admin_auth;
use super::logout::{backchannel_receiver, deliver_due, setup_with_backchannel};
use super::{Ctx, audit_log, claims_of, setup, sign_in_to_the_client};
use crate::support::http::{AppService, json_of};
use crate::support::on_both_backends;
use actix_web::test::{TestRequest, call_service};
use chrono::Duration;
use clavis_core::{Clock, SessionEndReason};
use clavis_store::models::LogoutOutboxRow;
use clavis_testkit::db::Backend;
use serde_json::{Value, json};

on_both_backends!(
    a_session_reaching_its_4_hours_sends_a_logout_token,
    a_departure_sends_a_logout_token,
    a_suspension_sends_a_logout_token,
    a_failed_delivery_is_retried_on_schedule_and_given_up_after_max_attempts,
    a_backchannel_uri_on_a_local_address_is_refused_with_the_field_named,
    a_local_backchannel_uri_is_registered_when_the_configuration_allows_it,
    a_local_uri_registered_before_is_refused_at_delivery,
    workers_delivering_at_once_send_each_logout_once,
);

/// The claims of the logout token in a received back-channel body.
fn logout_claims(ctx: &Ctx, body: &str) -> Value {
    let token = url::form_urlencoded::parse(body.as_bytes())
        .find(|(k, _)| k == "logout_token")
        .expect("logout_token")
        .1
        .into_owned();
    let parsed = clavis_oidc::jws::parse(&token).expect("jws");
    clavis_oidc::jws::verify_with_set(&parsed, &ctx.st.oidc.keys().jwks()).expect("signed");
    claims_of(&token)
}

/// How the session ends in [`a_session_end_sends_a_logout_token`].
enum Ending {
    FourHours,
    Departure,
    Suspension,
}

/// The directory's lifecycle event for the nurse, applied with the
/// application's subscribers in one transaction, as a sync applies it.
async fn lifecycle(ctx: &Ctx, kind: clavis_directory::lifecycle::LifecycleKind) {
    let event = clavis_directory::lifecycle::LifecycleEvent {
        oid: ctx.oid,
        kind,
        reason: "hr".into(),
        sync_run_id: None,
        at: ctx.clock.now(),
    };
    let mut conn = ctx.t.db.conn().await.expect("conn");
    conn.transaction(async |tx| {
        for s in &ctx.st.subscribers {
            s.on_event(tx, &event).await.expect("subscriber");
        }
        Ok::<_, clavis_store::StoreError>(())
    })
    .await
    .expect("commit");
}

async fn a_session_end_sends_a_logout_token(backend: Backend, ending: Ending) {
    let (uri, got) = backchannel_receiver(200).await;
    let ctx = setup_with_backchannel(backend, uri).await;
    let app = ctx.service().await;
    sign_in_to_the_client(&app, &ctx).await;
    let expected = match ending {
        Ending::FourHours => {
            // Nobody comes back: serve's periodic job ends it.
            ctx.clock.advance(Duration::hours(4));
            let mut conn = ctx.t.db.conn().await.expect("conn");
            let n = clavis_sso::end_expired(&mut conn, ctx.clock.now())
                .await
                .expect("end expired");
            assert_eq!(n, 1);
            SessionEndReason::Expired
        }
        Ending::Departure => {
            lifecycle(&ctx, clavis_directory::lifecycle::LifecycleKind::Departed).await;
            SessionEndReason::Departed
        }
        Ending::Suspension => {
            lifecycle(&ctx, clavis_directory::lifecycle::LifecycleKind::Suspended).await;
            SessionEndReason::Suspended
        }
    };
    let mut conn = ctx.t.db.conn().await.expect("conn");
    let s = clavis_store::models::SsoSessionRow::find(&mut conn, &ctx.session_id)
        .await
        .expect("find")
        .expect("row");
    assert_eq!(s.end_reason, Some(expected));
    assert_eq!(deliver_due(&ctx).await, 1);
    let c = logout_claims(&ctx, &got.first().await);
    assert_eq!(c["sid"], json!(ctx.session_id));
    assert_eq!(c["sub"], json!(ctx.oid));
    assert_eq!(c["aud"], json!(ctx.client_id));
    assert!(c["events"].get(clavis_oidc::backchannel::EVENT).is_some());
    let rows = LogoutOutboxRow::for_session(&mut conn, &ctx.session_id)
        .await
        .expect("outbox");
    assert_eq!(rows.len(), 1);
    assert!(rows[0].delivered_at.is_some());
}

async fn a_session_reaching_its_4_hours_sends_a_logout_token(backend: Backend) {
    a_session_end_sends_a_logout_token(backend, Ending::FourHours).await
}

async fn a_departure_sends_a_logout_token(backend: Backend) {
    a_session_end_sends_a_logout_token(backend, Ending::Departure).await
}

async fn a_suspension_sends_a_logout_token(backend: Backend) {
    a_session_end_sends_a_logout_token(backend, Ending::Suspension).await
}

/// The outbox row of the nurse's session.
async fn outbox_row(ctx: &Ctx) -> LogoutOutboxRow {
    let mut conn = ctx.t.db.conn().await.expect("conn");
    let mut rows = LogoutOutboxRow::for_session(&mut conn, &ctx.session_id)
        .await
        .expect("outbox");
    assert_eq!(rows.len(), 1);
    rows.remove(0)
}

async fn a_failed_delivery_is_retried_on_schedule_and_given_up_after_max_attempts(
    backend: Backend,
) {
    // Nothing listens there: every attempt fails at once.
    let port = clavis_testkit::free_port();
    let ctx = setup_with_backchannel(backend, format!("http://127.0.0.1:{port}/bc")).await;
    assert_eq!(ctx.st.oidc.cfg.backchannel.max_attempts, 8, "the default");
    let app = ctx.service().await;
    sign_in_to_the_client(&app, &ctx).await;
    let mut conn = ctx.t.db.conn().await.expect("conn");
    conn.transaction(async |tx| {
        clavis_sso::end(
            tx,
            ctx.clock.now(),
            &ctx.session_id,
            SessionEndReason::Revoked,
            &clavis_core::Actor::Cli("it".into()),
        )
        .await
    })
    .await
    .expect("end");
    // docs/oidc.md: retried after 10 s, 30 s, 1 min, 5 min, 15 min,
    // 30 min, 1 h; given up at the 8th failure.
    for (attempt, delay) in [10, 30, 60, 300, 900, 1800, 3600].into_iter().enumerate() {
        assert_eq!(deliver_due(&ctx).await, 0);
        let row = outbox_row(&ctx).await;
        assert_eq!(row.attempts, attempt as i32 + 1);
        assert_eq!(
            row.last_error.as_deref(),
            Some("connection refused or unreachable")
        );
        assert!(row.given_up_at.is_none());
        let now = ctx.clock.now().timestamp();
        assert_eq!(
            row.next_attempt_at - now,
            delay,
            "after attempt {}",
            attempt + 1
        );
        // Not a second early.
        ctx.clock.advance(Duration::seconds(delay - 1));
        deliver_due(&ctx).await;
        assert_eq!(outbox_row(&ctx).await.attempts, attempt as i32 + 1);
        ctx.clock.advance(Duration::seconds(1));
    }
    assert_eq!(deliver_due(&ctx).await, 0);
    let row = outbox_row(&ctx).await;
    assert_eq!(row.attempts, 8);
    assert!(row.given_up_at.is_some(), "given up after max_attempts");
    // Never tried again.
    ctx.clock.advance(Duration::days(1));
    deliver_due(&ctx).await;
    assert_eq!(outbox_row(&ctx).await.attempts, 8);
    let audit = audit_log(&ctx).await;
    let count = |a: &str| audit.iter().filter(|e| e.action == a).count();
    assert_eq!(count("oidc.backchannel.failed"), 7);
    assert_eq!(count("oidc.backchannel.given_up"), 1);
}

/// POST /admin/api/clients with a back-channel URI: (status, answer).
async fn register_with_backchannel(
    app: &impl AppService,
    auth: &(&'static str, String),
    uri: &str,
) -> (u16, Value) {
    let r = call_service(
        app,
        TestRequest::post()
            .uri("/admin/api/clients")
            .insert_header(auth.clone())
            .set_json(json!({
                "name": "DUI",
                "redirect_uris": ["https://dui.chu.test/cb"],
                "backchannel_logout_uri": uri,
            }))
            .to_request(),
    )
    .await;
    (r.status().as_u16(), json_of(r).await)
}

async fn a_backchannel_uri_on_a_local_address_is_refused_with_the_field_named(backend: Backend) {
    let ctx = setup(backend).await;
    let auth = admin_auth(&ctx).await;
    let app = ctx.service().await;
    for uri in [
        "http://127.0.0.1:8080/admin",
        "http://localhost:8080/bc",
        "https://[::1]/bc",
        "https://169.254.169.254/latest/meta-data/",
        "https://[fe80::1]/bc",
        "https://0.0.0.0/bc",
    ] {
        let (status, body) = register_with_backchannel(&app, &auth, uri).await;
        assert_eq!(status, 400, "{uri}: {body}");
        let text = body.to_string();
        assert!(text.contains("backchannel_logout_uri"), "{text}");
        assert!(
            text.contains("oidc.backchannel.allow_local_targets"),
            "{text}"
        );
    }
    // The hospital's applications on private networks are fine.
    let (status, body) = register_with_backchannel(&app, &auth, "https://10.20.30.40/bc").await;
    assert_eq!(status, 201, "{body}");
}

async fn a_local_backchannel_uri_is_registered_when_the_configuration_allows_it(backend: Backend) {
    let ctx = setup_with_backchannel(backend, "http://127.0.0.1:9/bc".into()).await;
    let auth = admin_auth(&ctx).await;
    let app = ctx.service().await;
    let (status, body) = register_with_backchannel(&app, &auth, "http://localhost:8081/bc").await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["backchannel_logout_uri"], "http://localhost:8081/bc");
}

/// A loopback URI registered while allowed (or by an older version) is not
/// called once the setting is off: the attempt fails as refused, and the
/// receiver hears nothing.
async fn a_local_uri_registered_before_is_refused_at_delivery(backend: Backend) {
    let (uri, got) = backchannel_receiver(200).await;
    let ctx = setup_with_backchannel(backend, uri).await;
    let app = ctx.service().await;
    sign_in_to_the_client(&app, &ctx).await;
    let mut conn = ctx.t.db.conn().await.expect("conn");
    conn.transaction(async |tx| {
        clavis_sso::end(
            tx,
            ctx.clock.now(),
            &ctx.session_id,
            SessionEndReason::Revoked,
            &clavis_core::Actor::Cli("it".into()),
        )
        .await
    })
    .await
    .expect("end");
    // The same database, served under the default settings.
    let strict = crate::support::state(&ctx.t.db, std::sync::Arc::new(ctx.clock.clone())).await;
    assert!(!strict.oidc.cfg.backchannel.allow_local_targets);
    let http = clavis_oidc::backchannel::http_client(&strict.oidc.cfg.backchannel).expect("client");
    let delivered =
        clavis_oidc::backchannel::deliver_due(&strict.oidc, &ctx.t.db, &http, ctx.clock.now())
            .await
            .expect("deliver");
    assert_eq!(delivered, 0);
    let row = outbox_row(&ctx).await;
    assert_eq!(
        row.last_error.as_deref(),
        Some("refused: the URI names a loopback address")
    );
    assert!(got.bodies().is_empty(), "the receiver was never called");
}

/// Three workers (as on three nodes) deliver the same 12 owed logouts at
/// once: each is sent once, recorded once and audited once. A claim left
/// by a worker that died is taken over once it runs out.
async fn workers_delivering_at_once_send_each_logout_once(backend: Backend) {
    let (uri, bodies) = crate::support::receiver::receiver(200).await;
    let ctx = setup_with_backchannel(backend, uri).await;
    let now = ctx.clock.now().timestamp();
    let owed: Vec<LogoutOutboxRow> = (0..12)
        .map(|i| LogoutOutboxRow {
            id: format!("owed-{i:02}"),
            session_id: clavis_core::SessionId::from(format!("session-{i:02}")),
            oid: ctx.oid,
            client_id: clavis_core::ClientId::from(ctx.client_id.clone()),
            attempts: 0,
            next_attempt_at: now,
            last_error: None,
            delivered_at: None,
            given_up_at: None,
            created_at: now,
            claimed_by: None,
            claimed_until: None,
        })
        .collect();
    let mut conn = ctx.t.db.conn().await.expect("conn");
    LogoutOutboxRow::insert_all(&mut conn, &owed)
        .await
        .expect("queued");
    let (a, b, c) = tokio::join!(deliver_due(&ctx), deliver_due(&ctx), deliver_due(&ctx));
    assert_eq!(a + b + c, 12, "{a} + {b} + {c}");
    let mut sids: Vec<String> = bodies
        .bodies()
        .iter()
        .map(|b| {
            logout_claims(&ctx, b)["sid"]
                .as_str()
                .expect("sid")
                .to_string()
        })
        .collect();
    sids.sort();
    let expected: Vec<String> = (0..12).map(|i| format!("session-{i:02}")).collect();
    assert_eq!(sids, expected, "each logout sent once");
    let delivered = audit_log(&ctx)
        .await
        .into_iter()
        .filter(|e| e.action == "oidc.backchannel.delivered")
        .count();
    assert_eq!(delivered, 12, "each delivery audited once");
    for r in &owed {
        let row = LogoutOutboxRow::for_session(&mut conn, &r.session_id)
            .await
            .expect("read")
            .remove(0);
        assert!(
            row.delivered_at.is_some() && row.claimed_by.is_none(),
            "{row:?}"
        );
    }
    // A worker claims one more and dies: nobody sends it while its claim
    // holds; once it has run out, the next worker does.
    let mut last = owed[0].clone();
    last.id = "owed-last".into();
    last.session_id = clavis_core::SessionId::from("session-last".to_string());
    LogoutOutboxRow::insert_all(&mut conn, &[last.clone()])
        .await
        .expect("queued");
    let lease = ctx.st.oidc.cfg.backchannel.timeout_secs as i64 + 60;
    assert!(
        LogoutOutboxRow::claim(&mut conn, &last, "dead-worker", now, now + lease)
            .await
            .expect("claim")
    );
    assert_eq!(
        deliver_due(&ctx).await,
        0,
        "held by the dead worker's claim"
    );
    ctx.clock.advance(Duration::seconds(lease));
    assert_eq!(deliver_due(&ctx).await, 1, "taken over");
    assert_eq!(bodies.bodies().len(), 13);
    // The dead worker, back, cannot record over it.
    assert!(
        !last
            .record_attempt(&mut conn, "dead-worker")
            .await
            .expect("record"),
        "its claim is gone"
    );
    // A worker holding a copy read before another's failed attempt does
    // not send it again before its retry time.
    let mut one = owed[1].clone();
    one.id = "owed-stale".into();
    one.session_id = clavis_core::SessionId::from("session-stale".to_string());
    LogoutOutboxRow::insert_all(&mut conn, &[one.clone()])
        .await
        .expect("queued");
    let t = ctx.clock.now().timestamp();
    assert!(
        LogoutOutboxRow::claim(&mut conn, &one, "worker-a", t, t + lease)
            .await
            .expect("claim")
    );
    let mut tried = one.clone();
    tried.attempts = 1;
    tried.next_attempt_at = t + 10;
    tried.last_error = Some("HTTP 503".into());
    assert!(
        tried
            .record_attempt(&mut conn, "worker-a")
            .await
            .expect("record")
    );
    assert!(
        !LogoutOutboxRow::claim(&mut conn, &one, "worker-b", t, t + lease)
            .await
            .expect("claim"),
        "a stale copy claims nothing"
    );
}
