//! The holder chooses their own badge PIN on `/me`, after a fresh login:
//! how someone who signs in with a key gets a first PIN without the badge
//! office choosing it for them.

use super::{clinic, csrf_in, me_page, signed_in};
use crate::support::http::AppService;
use crate::support::on_both_backends;
use actix_web::cookie::Cookie;
use actix_web::test::{TestRequest, call_service, read_body};
use clavis_core::{Clock, Secret};
use clavis_testkit::db::Backend;

on_both_backends!(a_freshly_signed_in_holder_sets_their_own_badge_pin);

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
