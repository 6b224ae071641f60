//! The holder chooses their own badge PIN on `/me`, after a fresh login:
//! how someone who signs in with a key gets a first PIN without the badge
//! office choosing it for them.

use super::{begin_login, clinic, csrf_in, finish_login, me_page, sign, signed_in};
use crate::support::http::AppService;
use crate::support::on_both_backends;
use actix_web::cookie::Cookie;
use actix_web::test::{TestRequest, call_service, read_body};
use clavis_core::{Clock, Secret};
use clavis_testkit::db::Backend;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

on_both_backends!(
    a_freshly_signed_in_holder_sets_their_own_badge_pin,
    a_pin_set_by_someone_else_is_told_at_a_key_login_and_on_me_until_read,
);

async fn post_pin(
    app: &impl AppService,
    cookie: &Cookie<'static>,
    csrf: &str,
    pin: &str,
    pin2: &str,
) -> (u16, String, Option<String>) {
    let r = call_service(
        app,
        TestRequest::post()
            .uri("/me/badge-pin")
            .cookie(cookie.clone())
            .set_form([("csrf", csrf), ("pin", pin), ("pin2", pin2)])
            .to_request(),
    )
    .await;
    let status = r.status().as_u16();
    let location = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = String::from_utf8(read_body(r).await.to_vec()).expect("utf-8");
    (status, body, location)
}

async fn a_freshly_signed_in_holder_sets_their_own_badge_pin(backend: Backend) {
    let t = clinic(backend).await;
    let app = t.service().await;
    let oid = t.person("Claire");
    let (_, cookie) = signed_in(&app, &t).await;
    let html = me_page(&app, &cookie).await;
    assert!(html.contains("action=\"/me/badge-pin\""), "offered on /me");
    let csrf = csrf_in(&html);
    // Without the CSRF token: refused.
    let (status, _, _) = post_pin(&app, &cookie, "nope", "47395182", "47395182").await;
    assert_eq!(status, 403);
    let (status, body, _) = post_pin(&app, &cookie, &csrf, "1234", "1234").await;
    assert_eq!(status, 400, "a trivial PIN is refused: {body}");
    let (status, body, _) = post_pin(&app, &cookie, &csrf, "47395182", "47395182").await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("Votre code PIN de badge est enregistré"),
        "{body}"
    );
    let svc = t.state.badge.clone().expect("badge");
    let mut conn = t.t.db.conn().await.expect("conn");
    clavis_authn::badge::pin::check_pin(
        &mut conn,
        svc.hasher(),
        svc.policy(),
        t.clock.now(),
        oid,
        &Secret::new("47395182".to_string()),
        &clavis_core::Actor::Anonymous,
    )
    .await
    .expect("the PIN she chose works");
    let row = clavis_store::models::BadgePinRow::find(&mut conn, oid)
        .await
        .expect("read")
        .expect("pin");
    assert_eq!(row.replaced_by, None, "her own choice needs no notice");
    // Past the fresh-login window: sent to sign in again first.
    let fresh = clavis_authn::AuthnConfig::default().fresh_login_secs;
    t.clock.advance(chrono::Duration::seconds(fresh + 1));
    let (status, _, location) = post_pin(&app, &cookie, &csrf, "60718293", "60718293").await;
    assert_eq!(
        (status, location.as_deref()),
        (303, Some("/login?reauth=1&return_to=/me"))
    );
}

/// The helpdesk sets Claire's badge PIN.
async fn helpdesk_sets_pin(t: &crate::support::TestApp, pin: &str) {
    let svc = t.state.badge.clone().expect("badge");
    let by = clavis_core::Actor::Cli("helpdesk".into());
    crate::badge::set_pin_by(t, &svc, t.person("Claire"), pin, &by).await;
}

/// A badge PIN replaced by someone else is told at the holder's next login
/// of any kind (here her key), once; and `/me` shows it until she says she
/// has read it.
async fn a_pin_set_by_someone_else_is_told_at_a_key_login_and_on_me_until_read(backend: Backend) {
    let t = clinic(backend).await;
    let app = t.service().await;
    let oid = t.person("Claire");
    let (mut key, cookie) = signed_in(&app, &t).await;
    // A first PIN (at enrolment) replaces nothing: nothing to tell.
    helpdesk_sets_pin(&t, "47395182").await;
    let html = me_page(&app, &cookie).await;
    assert!(!html.contains("id=\"pin-replaced\""), "nothing to tell yet");
    // Replaced while she is away: her next key login tells her, once.
    helpdesk_sets_pin(&t, "60718293").await;
    let login = async |key: &mut SoftPasskey| {
        let begin = begin_login(&app, oid).await;
        let a = sign(key, &begin);
        let r = finish_login(
            &app,
            serde_json::json!({"ceremony": begin["ceremony"], "credential": a}),
        )
        .await;
        assert_eq!(r.status(), 200);
        let cookie = crate::support::http::session_cookie_of(&r).expect("session");
        let body: serde_json::Value = actix_web::test::read_body_json(r).await;
        (body, cookie)
    };
    let (body, cookie) = login(&mut key).await;
    let notice = body["notice"].as_str().expect("a notice at the key login");
    assert!(
        notice.contains("code PIN de badge a été modifié"),
        "{notice}"
    );
    assert_eq!(body["continue"], "Continuer");
    assert!(body["redirect"].is_string(), "{body}");
    let (body, _) = login(&mut key).await;
    assert!(body.get("notice").is_none(), "told once: {body}");
    assert!(
        !me_page(&app, &cookie).await.contains("id=\"pin-replaced\""),
        "told at the login, not again on /me"
    );
    // Replaced again: /me shows it until she acknowledges it.
    t.clock.advance(chrono::Duration::seconds(60));
    helpdesk_sets_pin(&t, "71829304").await;
    let html = me_page(&app, &cookie).await;
    assert!(html.contains("id=\"pin-replaced\""), "{html}");
    assert!(html.contains("code PIN de badge a été modifié"), "{html}");
    let again = me_page(&app, &cookie).await;
    assert!(again.contains("id=\"pin-replaced\""), "shown until read");
    let csrf = csrf_in(&html);
    let ack = |csrf: String| {
        let cookie = cookie.clone();
        let app = &app;
        async move {
            call_service(
                app,
                TestRequest::post()
                    .uri("/me/badge-pin/notice")
                    .cookie(cookie)
                    .set_form([("csrf", csrf.as_str())])
                    .to_request(),
            )
            .await
            .status()
            .as_u16()
        }
    };
    assert_eq!(ack("nope".into()).await, 403, "CSRF checked");
    assert!(me_page(&app, &cookie).await.contains("id=\"pin-replaced\""));
    assert_eq!(ack(csrf).await, 303);
    assert!(!me_page(&app, &cookie).await.contains("id=\"pin-replaced\""));
    // Read on /me: her next login has nothing more to say.
    let (body, _) = login(&mut key).await;
    assert!(body.get("notice").is_none(), "{body}");
}
