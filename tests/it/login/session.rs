//! The SSO session a FIDO2 login opens: its cookie (`__Host-`, secure,
//! HttpOnly, Lax), the way back (never an open redirect), /me, every node
//! sharing the database, step-up on a stronger assurance, and logout.

use super::{
    begin_login, clinic, csrf_in, enrol_key, enrolment_path, finish_login, get_with, me_page, sign,
    sign_in, signed_in,
};
use crate::support::audit::{events_after, last_seq, named};
use crate::support::http::session_cookie_of;
use crate::support::{TestApp, audit_snapshot, on_both_backends};
use actix_web::cookie::Cookie;
use actix_web::test::{TestRequest, call_service, read_body_json};
use clavis_core::Clock;
use clavis_testkit::db::Backend;
use serde_json::{Value, json};

on_both_backends!(
    a_login_sets_a_host_only_secure_session_cookie_and_never_redirects_elsewhere,
    a_login_ceremony_cannot_be_replayed,
    me_shows_who_is_signed_in_the_time_left_and_the_keys,
    another_node_sharing_the_database_knows_the_session,
    signed_in_the_login_page_goes_on_unless_a_stronger_assurance_is_asked,
    logout_needs_the_csrf_token_and_ends_the_session,
    a_login_writes_audit_events_of_a_stable_shape,
    a_logout_writes_audit_events_of_a_stable_shape,
    a_login_gives_a_new_session_id_and_ends_the_one_the_browser_came_with,
);

async fn a_login_sets_a_host_only_secure_session_cookie_and_never_redirects_elsewhere(
    backend: Backend,
) {
    let t = clinic(backend).await;
    let app = t.service().await;
    let oid = t.person("Claire");
    let mut key = enrol_key(&app, &enrolment_path(&t, oid).await, None).await;
    let begin = begin_login(&app, oid).await;
    let assertion = sign(&mut key, &begin);
    let resp = finish_login(
        &app,
        json!({"ceremony": begin["ceremony"], "credential": assertion, "return_to": "//evil.example/x"}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let cookie = session_cookie_of(&resp).expect("session cookie");
    assert!(cookie.http_only().unwrap_or(false) && cookie.secure().unwrap_or(false));
    assert_eq!(cookie.same_site(), Some(actix_web::cookie::SameSite::Lax));
    assert_eq!(cookie.path(), Some("/"));
    assert!(cookie.domain().is_none(), "__Host- cookies have no domain");
    let body: Value = read_body_json(resp).await;
    assert_eq!(
        body["redirect"], "/me",
        "an open redirect is replaced by /me"
    );
}

async fn a_login_ceremony_cannot_be_replayed(backend: Backend) {
    let t = clinic(backend).await;
    let app = t.service().await;
    let oid = t.person("Claire");
    let mut key = enrol_key(&app, &enrolment_path(&t, oid).await, None).await;
    let begin = begin_login(&app, oid).await;
    let assertion = sign(&mut key, &begin);
    let body = json!({"ceremony": begin["ceremony"], "credential": assertion});
    assert_eq!(finish_login(&app, body.clone()).await.status(), 200);
    assert_eq!(finish_login(&app, body).await.status(), 401);
}

async fn me_shows_who_is_signed_in_the_time_left_and_the_keys(backend: Backend) {
    let t = clinic(backend).await;
    let app = t.service().await;
    let (_, cookie) = signed_in(&app, &t).await;
    let html = me_page(&app, &cookie).await;
    assert!(html.contains("Claire Lemoine"), "{html}");
    assert!(html.contains("4 h 00 min"), "{html}");
    assert!(html.contains("Clé bleue"));
}

async fn another_node_sharing_the_database_knows_the_session(backend: Backend) {
    let t = clinic(backend).await;
    let app = t.service().await;
    let (_, cookie) = signed_in(&app, &t).await;
    let other_node = actix_web::test::init_service(clavis_web::build_app(
        crate::support::state(&t.t.db, std::sync::Arc::new(t.clock.clone())).await,
    ))
    .await;
    let there = get_with(&other_node, "/me", &cookie).await;
    assert_eq!(there.status(), 200, "valid on every node");
}

async fn signed_in_the_login_page_goes_on_unless_a_stronger_assurance_is_asked(backend: Backend) {
    let t = clinic(backend).await;
    let app = t.service().await;
    let (_, cookie) = signed_in(&app, &t).await;
    let again = get_with(&app, "/login?return_to=/me", &cookie).await;
    assert_eq!(again.status(), 303);
    let weaker = get_with(&app, "/login?acr=eidas1", &cookie).await;
    assert_eq!(weaker.status(), 303, "eidas2 satisfies eidas1");
    let stronger = get_with(&app, "/login?acr=eidas3", &cookie).await;
    assert_eq!(
        stronger.status(),
        200,
        "eidas3 asks for a new authentication"
    );
}

async fn logout_needs_the_csrf_token_and_ends_the_session(backend: Backend) {
    let t = clinic(backend).await;
    let app = t.service().await;
    let (_, cookie) = signed_in(&app, &t).await;
    let csrf = csrf_in(&me_page(&app, &cookie).await);
    let logout = |csrf: String| {
        TestRequest::post()
            .uri("/logout")
            .cookie(cookie.clone())
            .set_form([("csrf", csrf)])
            .to_request()
    };
    let forged = call_service(&app, logout("nope".into())).await;
    assert_eq!(forged.status(), 403);
    let out = call_service(&app, logout(csrf)).await;
    assert_eq!(out.status(), 200);
    let after = get_with(&app, "/me", &cookie).await;
    assert_eq!(after.status(), 303, "signed out: back to the login page");
}

/// The names of the volatile values of Claire's audit events: her oid,
/// her session's id, her key's id.
async fn names_of(t: &TestApp, cookie: &Cookie<'static>) -> Vec<(String, &'static str)> {
    let oid = t.person("Claire");
    let mut conn = t.t.db.conn().await.expect("conn");
    let session = clavis_sso::check(&mut conn, t.clock.now(), cookie.value())
        .await
        .expect("check")
        .expect("live session");
    let key = clavis_authn::keys_of(&mut conn, oid).await.expect("keys")[0]
        .id
        .clone();
    vec![
        (oid.to_string(), "[claire]"),
        (session.id.to_string(), "[session]"),
        (key, "[key]"),
    ]
}

async fn a_login_writes_audit_events_of_a_stable_shape(backend: Backend) {
    let t = clinic(backend).await;
    let app = t.service().await;
    let oid = t.person("Claire");
    let mut key = enrol_key(&app, &enrolment_path(&t, oid).await, Some("Clé bleue")).await;
    let before = last_seq(&t.t.db).await;
    let cookie = sign_in(&app, &mut key, oid).await;
    let events = events_after(&t.t.db, before).await;
    let names = names_of(&t, &cookie).await;
    audit_snapshot!("audit_login", named(events, &names));
}

async fn a_logout_writes_audit_events_of_a_stable_shape(backend: Backend) {
    let t = clinic(backend).await;
    let app = t.service().await;
    let (_, cookie) = signed_in(&app, &t).await;
    let csrf = csrf_in(&me_page(&app, &cookie).await);
    let names = names_of(&t, &cookie).await;
    let before = last_seq(&t.t.db).await;
    let out = call_service(
        &app,
        TestRequest::post()
            .uri("/logout")
            .cookie(cookie.clone())
            .set_form([("csrf", csrf.as_str())])
            .to_request(),
    )
    .await;
    assert_eq!(out.status(), 200);
    let events = events_after(&t.t.db, before).await;
    audit_snapshot!("audit_logout", named(events, &names));
}

/// Session fixation: whatever session cookie the browser arrives with (a
/// live one, perhaps planted by someone else, or a made-up value), the
/// login answers with a new session token, and the session the browser
/// came with is over (`replaced`).
async fn a_login_gives_a_new_session_id_and_ends_the_one_the_browser_came_with(backend: Backend) {
    let t = clinic(backend).await;
    let app = t.service().await;
    let oid = t.person("Claire");
    let (mut key, planted) = signed_in(&app, &t).await;
    let finish_with = |cookie: Cookie<'static>, body: Value| {
        TestRequest::post()
            .uri("/login/finish")
            .cookie(cookie)
            .set_json(body)
            .to_request()
    };
    let before = last_seq(&t.t.db).await;
    let begin = begin_login(&app, oid).await;
    let a = sign(&mut key, &begin);
    let r = call_service(
        &app,
        finish_with(
            planted.clone(),
            json!({"ceremony": begin["ceremony"], "credential": a}),
        ),
    )
    .await;
    assert_eq!(r.status(), 200);
    let fresh = session_cookie_of(&r).expect("a new session cookie");
    assert_ne!(fresh.value(), planted.value(), "a new session token");
    assert_eq!(get_with(&app, "/me", &fresh).await.status(), 200);
    assert_eq!(
        get_with(&app, "/me", &planted).await.status(),
        303,
        "the session the browser came with is over"
    );
    let events = events_after(&t.t.db, before).await;
    assert!(
        events
            .iter()
            .any(|e| e["action"] == "session.ended" && e["changes"]["reason"] == "replaced"),
        "{events:#?}"
    );
    // A made-up cookie value is never taken up as the session's token.
    let forged = Cookie::new(clavis_sso::COOKIE_NAME, "x".repeat(43));
    let begin = begin_login(&app, oid).await;
    let a = sign(&mut key, &begin);
    let r = call_service(
        &app,
        finish_with(
            forged.clone(),
            json!({"ceremony": begin["ceremony"], "credential": a}),
        ),
    )
    .await;
    assert_eq!(r.status(), 200);
    let issued = session_cookie_of(&r).expect("session cookie");
    assert_ne!(issued.value(), forged.value());
    assert_eq!(get_with(&app, "/me", &forged).await.status(), 303);
}
