//! How long a session lasts, as every request sees it: `/me` goes through
//! the fast session check of the HTTP edge (`clavis_sso::check_fast`), with
//! the application's clock moved on to the second. A session is over at
//! auth time + 4 h exactly (4 h 00 min 00 s is already too late), and an
//! idle timeout of any length holds there as it does on the slow check.

use crate::support::http::AppService;
use crate::support::{TestApp, on_both_backends};
use actix_web::test::{TestRequest, call_service};
use chrono::Duration;
use clavis_core::{Clock, SessionEndReason, SessionId};
use clavis_testkit::db::Backend;

on_both_backends!(
    a_session_works_until_4h_and_is_refused_from_4h_00min_00s,
    a_session_is_refused_at_4h_00min_01s_and_ended_as_expired,
    a_30_second_idle_timeout_ends_an_unused_session_and_spares_a_used_one,
    an_idle_timeout_ends_the_session_at_the_second_it_is_reached,
);

/// The status of GET /me with the session `cookie` (200 signed in, 303 to
/// the login page otherwise).
async fn me(app: &impl AppService, cookie: &str) -> u16 {
    call_service(
        app,
        TestRequest::get()
            .uri("/me")
            .insert_header(("cookie", cookie.to_string()))
            .to_request(),
    )
    .await
    .status()
    .as_u16()
}

/// Why the session `id` ended, if it did.
async fn end_reason(t: &TestApp, id: &SessionId) -> Option<SessionEndReason> {
    let mut conn = t.t.db.conn().await.expect("conn");
    clavis_store::models::SsoSessionRow::find(&mut conn, id)
        .await
        .expect("find")
        .expect("row")
        .end_reason
}

async fn a_session_works_until_4h_and_is_refused_from_4h_00min_00s(backend: Backend) {
    let t = TestApp::on(backend)
        .with_nurse()
        .with_session()
        .start()
        .await;
    let app = t.service().await;
    let s = t.session().clone();
    let t0 = t.clock.now();
    assert_eq!(me(&app, &s.cookie).await, 200);
    t.clock.set(t0 + Duration::hours(4) - Duration::seconds(1));
    assert_eq!(me(&app, &s.cookie).await, 200, "3 h 59 min 59 s");
    assert_eq!(end_reason(&t, &s.id).await, None);
    t.clock.set(t0 + Duration::hours(4));
    assert_eq!(me(&app, &s.cookie).await, 303, "4 h 00 min 00 s");
    assert_eq!(end_reason(&t, &s.id).await, Some(SessionEndReason::Expired));
    // Ended for good, even if the clock went back.
    t.clock.set(t0);
    assert_eq!(me(&app, &s.cookie).await, 303);
}

async fn a_session_is_refused_at_4h_00min_01s_and_ended_as_expired(backend: Backend) {
    let t = TestApp::on(backend)
        .with_nurse()
        .with_session()
        .start()
        .await;
    let app = t.service().await;
    let s = t.session().clone();
    t.clock.advance(Duration::hours(4) + Duration::seconds(1));
    assert_eq!(me(&app, &s.cookie).await, 303, "4 h 00 min 01 s");
    assert_eq!(end_reason(&t, &s.id).await, Some(SessionEndReason::Expired));
    let audit = crate::support::audit::events_after(&t.t.db, 0).await;
    assert!(
        audit.iter().any(|e| e["action"] == "session.ended"
            && e["target"] == s.id.to_string()
            && e["changes"]["reason"] == "expired"),
        "{audit:#?}"
    );
}

async fn a_30_second_idle_timeout_ends_an_unused_session_and_spares_a_used_one(backend: Backend) {
    let t = TestApp::on(backend)
        .with_nurse()
        .with_sso(clavis_sso::SsoConfig {
            session_lifetime_secs: 4 * 3600,
            idle_timeout_secs: 30,
        })
        .with_session()
        .start()
        .await;
    let app = t.service().await;
    let s = t.session().clone();
    // Used every 20 s for five minutes: never idle.
    for _ in 0..15 {
        t.clock.advance(Duration::seconds(20));
        assert_eq!(me(&app, &s.cookie).await, 200, "used every 20 s");
    }
    // Unused for 29 s: still there; then for 30 s: over.
    t.clock.advance(Duration::seconds(29));
    assert_eq!(me(&app, &s.cookie).await, 200);
    t.clock.advance(Duration::seconds(30));
    assert_eq!(me(&app, &s.cookie).await, 303);
    assert_eq!(end_reason(&t, &s.id).await, Some(SessionEndReason::Idle));
}

async fn an_idle_timeout_ends_the_session_at_the_second_it_is_reached(backend: Backend) {
    let t = TestApp::on(backend)
        .with_nurse()
        .with_sso(clavis_sso::SsoConfig {
            session_lifetime_secs: 4 * 3600,
            idle_timeout_secs: 900,
        })
        .with_session()
        .start()
        .await;
    let app = t.service().await;
    let oid = t.nurse().oid;
    let unused = t.session().clone();
    let t0 = t.clock.now();
    t.clock.set(t0 + Duration::seconds(899));
    assert_eq!(
        me(&app, &unused.cookie).await,
        200,
        "unused for 14 min 59 s"
    );
    // Another session, unused for exactly 15 min.
    t.clock.set(t0);
    let other = t.open_session(oid).await;
    t.clock.set(t0 + Duration::seconds(900));
    assert_eq!(me(&app, &other.cookie).await, 303, "unused for 15 min");
    assert_eq!(
        end_reason(&t, &other.id).await,
        Some(SessionEndReason::Idle)
    );
    // The first one was used at 14 min 59 s: it lives on.
    assert_eq!(me(&app, &unused.cookie).await, 200);
}
