//! The badge office's pages (`/badge-office`): for people holding the
//! `badge-office` role only, every form with its CSRF token; a clerk opens
//! an enrolment, the agent of the chosen workstation encodes the card, and
//! the holder chooses a PIN there.

use super::{BADGE_DAY, blank, relay};
use crate::support::http::AppService;
use crate::support::{TestApp, on_both_backends};
use actix_web::cookie::Cookie;
use actix_web::test::{TestRequest, call_service, read_body, read_body_json};
use clavis_core::{Clock, Oid, Secret};
use clavis_store::models::BadgeRow;
use clavis_testkit::db::Backend;
use serde_json::{Value, json};

on_both_backends!(
    signed_out_to_the_login_page_and_without_the_role_refused,
    the_clerk_is_offered_the_workstations_and_a_form_without_its_csrf_token_is_refused,
    the_badge_office_encodes_a_badge_and_the_holder_chooses_a_pin,
    a_clerk_cannot_encode_a_badge_for_themselves_or_an_administrator,
    a_clerk_whose_login_is_old_signs_in_again_before_encoding,
    an_existing_pin_is_replaced_only_with_the_holders_current_pin,
    a_key_holder_without_a_pin_chooses_it_on_their_page_not_at_the_desk,
);

/// The office: Anne Durand the clerk (with the role), Claire Lemoine the
/// nurse (without), the `badge-office` workstation.
async fn office(backend: Backend) -> TestApp {
    let t = TestApp::on(backend)
        .at(BADGE_DAY)
        .with_person("Durand", "Anne")
        .with_person("Lemoine", "Claire")
        .with_workstation("badge-office")
        .start()
        .await;
    let mut conn = t.t.db.conn().await.expect("conn");
    clavis_store::models::IdentityRoleRow {
        oid: t.person("Anne"),
        role: "badge-office".into(),
        granted_by: clavis_core::Actor::Cli("it".into()),
        granted_at: 0,
    }
    .grant(&mut conn)
    .await
    .expect("role");
    t
}

/// An SSO session cookie of `oid` (badge login).
async fn session(t: &TestApp, oid: Oid) -> Cookie<'static> {
    let mut conn = t.t.db.conn().await.expect("conn");
    let (token, _) = clavis_sso::create(
        &mut conn,
        &t.state.sso,
        t.clock.now(),
        clavis_sso::NewSession {
            oid,
            acr: "eidas2".into(),
            amr: vec!["hwk".into()],
            authenticator_id: None,
            client_ip: None,
            user_agent: None,
            workstation_id: None,
            ends_by: None,
            method: clavis_core::LoginMethod::Badge,
        },
    )
    .await
    .expect("session");
    Cookie::new(clavis_sso::COOKIE_NAME, token.expose().clone())
}

/// POST /badge-office/enrolments for the nurse at the office workstation.
async fn open_enrolment(
    app: &impl AppService,
    t: &TestApp,
    cookie: &Cookie<'static>,
    csrf: &str,
) -> (u16, String) {
    open_enrolment_for(app, t, cookie, csrf, t.person("Claire")).await
}

/// POST /badge-office/enrolments for `holder` at the office workstation:
/// the status and the `Location` (or, for a refusal, the page).
async fn open_enrolment_for(
    app: &impl AppService,
    t: &TestApp,
    cookie: &Cookie<'static>,
    csrf: &str,
    holder: Oid,
) -> (u16, String) {
    let r = call_service(
        app,
        TestRequest::post()
            .uri("/badge-office/enrolments")
            .cookie(cookie.clone())
            .set_form([
                ("csrf", csrf),
                ("identity", holder.to_string().as_str()),
                ("workstation", t.workstation("badge-office").id.as_str()),
                ("until", ""),
            ])
            .to_request(),
    )
    .await;
    let status = r.status().as_u16();
    let location = r
        .headers()
        .get("location")
        .and_then(|h| h.to_str().ok())
        .map(str::to_string);
    match location {
        Some(l) => (status, l),
        None => (
            status,
            String::from_utf8(read_body(r).await.to_vec()).expect("utf-8"),
        ),
    }
}

async fn signed_out_to_the_login_page_and_without_the_role_refused(backend: Backend) {
    let t = office(backend).await;
    let app = t.service().await;
    let r = call_service(&app, TestRequest::get().uri("/badge-office").to_request()).await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers().get("location").expect("location"),
        "/login?return_to=%2Fbadge-office"
    );
    let nurse_cookie = session(&t, t.person("Claire")).await;
    let r = call_service(
        &app,
        TestRequest::get()
            .uri("/badge-office")
            .cookie(nurse_cookie)
            .to_request(),
    )
    .await;
    assert_eq!(r.status(), 403);
}

async fn the_clerk_is_offered_the_workstations_and_a_form_without_its_csrf_token_is_refused(
    backend: Backend,
) {
    let t = office(backend).await;
    let app = t.service().await;
    let cookie = session(&t, t.person("Anne")).await;
    let r = call_service(
        &app,
        TestRequest::get()
            .uri("/badge-office")
            .cookie(cookie.clone())
            .to_request(),
    )
    .await;
    assert_eq!(r.status(), 200);
    let html = String::from_utf8(read_body(r).await.to_vec()).expect("utf-8");
    assert!(
        html.contains("badge-office</option>"),
        "workstations offered"
    );
    let (status, _) = open_enrolment(&app, &t, &cookie, "nope").await;
    assert_eq!(status, 403);
}

async fn the_badge_office_encodes_a_badge_and_the_holder_chooses_a_pin(backend: Backend) {
    let t = office(backend).await;
    let app = t.service().await;
    let (clerk, nurse) = (t.person("Anne"), t.person("Claire"));
    let cookie = session(&t, clerk).await;
    let csrf = clavis_web::sso_web::csrf_for(cookie.value());
    let (status, page) = open_enrolment(&app, &t, &cookie, &csrf).await;
    assert_eq!(status, 303);
    let tx = page.rsplit('/').next().expect("id").to_string();
    let status = async || {
        let r = call_service(
            &app,
            TestRequest::get()
                .uri(&format!("{page}/status"))
                .cookie(cookie.clone())
                .to_request(),
        )
        .await;
        read_body_json::<Value, _>(r).await["status"].clone()
    };
    assert_eq!(status().await, "open");

    // The agent of the enrolment workstation encodes the card tapped there.
    let mut card = blank([4, 8, 8, 8, 8, 8, 1]);
    let ws = &t.workstation("badge-office").id;
    assert_eq!(
        relay(&app, ws.as_str(), &tx, None, &mut card, None).await,
        json!({"done": true})
    );
    assert_eq!(status().await, "done");

    // The holder chooses a PIN: mismatched or trivial ones are refused.
    for (pin, pin2, ok) in [
        ("47395182", "47395183", false),
        ("1234", "1234", false),
        ("47395182", "47395182", true),
    ] {
        let r = call_service(
            &app,
            TestRequest::post()
                .uri(&format!("{page}/pin"))
                .cookie(cookie.clone())
                .set_form([("csrf", csrf.as_str()), ("pin", pin), ("pin2", pin2)])
                .to_request(),
        )
        .await;
        assert_eq!(r.status(), 200);
        let html = String::from_utf8(read_body(r).await.to_vec()).expect("utf-8");
        assert_eq!(
            html.contains("Code PIN enregistré"),
            ok,
            "{pin}/{pin2}: {html}"
        );
    }
    let svc = super::badge_service(&t);
    let mut conn = t.t.db.conn().await.expect("conn");
    clavis_authn::badge::pin::check_pin(
        &mut conn,
        svc.hasher(),
        svc.policy(),
        t.clock.now(),
        nurse,
        &Secret::new("47395182".to_string()),
        &clavis_core::Actor::Cli("it".into()),
    )
    .await
    .expect("the holder's PIN works");
    let badges = BadgeRow::for_identity(&mut conn, nurse)
        .await
        .expect("badges");
    assert_eq!(
        (badges.len(), badges[0].uid.as_str()),
        (1, "04080808080801")
    );
    assert_eq!(badges[0].created_by, clavis_core::Actor::Identity(clerk));
}

/// Grants `role` to `oid`.
async fn grant(t: &TestApp, oid: Oid, role: &str) {
    let mut conn = t.t.db.conn().await.expect("conn");
    clavis_store::models::IdentityRoleRow {
        oid,
        role: role.into(),
        granted_by: clavis_core::Actor::Cli("it".into()),
        granted_at: 0,
    }
    .grant(&mut conn)
    .await
    .expect("role");
}

async fn a_clerk_cannot_encode_a_badge_for_themselves_or_an_administrator(backend: Backend) {
    let t = TestApp::on(backend)
        .at(BADGE_DAY)
        .with_person("Durand", "Anne")
        .with_person("Lemoine", "Claire")
        .with_person("Roux", "Marc")
        .with_workstation("badge-office")
        .start()
        .await;
    grant(&t, t.person("Anne"), "badge-office").await;
    grant(&t, t.person("Marc"), "admin").await;
    let app = t.service().await;
    let cookie = session(&t, t.person("Anne")).await;
    let csrf = clavis_web::sso_web::csrf_for(cookie.value());
    let (status, page) = open_enrolment_for(&app, &t, &cookie, &csrf, t.person("Anne")).await;
    assert_eq!(status, 403);
    assert!(page.contains("pour vous-même"), "{page}");
    let (status, page) = open_enrolment_for(&app, &t, &cookie, &csrf, t.person("Marc")).await;
    assert_eq!(status, 403);
    assert!(page.contains("« admin »"), "{page}");
    // Nothing was opened for either; the nurse is served as before.
    let started = super::actions(&t.t.db)
        .await
        .into_iter()
        .filter(|(a, _)| a == "badge.enrolment_started")
        .count();
    assert_eq!(started, 0);
    let (status, _) = open_enrolment_for(&app, &t, &cookie, &csrf, t.person("Claire")).await;
    assert_eq!(status, 303);
    // An administrator may serve the clerk, but not themselves either.
    let admin = session(&t, t.person("Marc")).await;
    let admin_csrf = clavis_web::sso_web::csrf_for(admin.value());
    let (status, _) = open_enrolment_for(&app, &t, &admin, &admin_csrf, t.person("Anne")).await;
    assert_eq!(status, 303);
    let (status, _) = open_enrolment_for(&app, &t, &admin, &admin_csrf, t.person("Marc")).await;
    assert_eq!(status, 403);
}

async fn a_clerk_whose_login_is_old_signs_in_again_before_encoding(backend: Backend) {
    let t = office(backend).await;
    let app = t.service().await;
    let cookie = session(&t, t.person("Anne")).await;
    let csrf = clavis_web::sso_web::csrf_for(cookie.value());
    let fresh = clavis_authn::AuthnConfig::default().fresh_login_secs;
    t.clock.advance(chrono::Duration::seconds(fresh + 1));
    let (status, location) = open_enrolment(&app, &t, &cookie, &csrf).await;
    assert_eq!(
        (status, location.as_str()),
        (303, "/login?reauth=1&return_to=/badge-office")
    );
}

/// The PIN form of the enrolment at `page`: whether the PIN was saved,
/// and the page.
async fn post_pin(
    app: &impl AppService,
    page: &str,
    cookie: &Cookie<'static>,
    csrf: &str,
    pin: &str,
    current: Option<&str>,
) -> (bool, String) {
    let mut form = vec![("csrf", csrf), ("pin", pin), ("pin2", pin)];
    if let Some(c) = current {
        form.push(("current", c));
    }
    let r = call_service(
        app,
        TestRequest::post()
            .uri(&format!("{page}/pin"))
            .cookie(cookie.clone())
            .set_form(form)
            .to_request(),
    )
    .await;
    assert_eq!(r.status(), 200);
    let html = String::from_utf8(read_body(r).await.to_vec()).expect("utf-8");
    (html.contains("Code PIN enregistré"), html)
}

async fn an_existing_pin_is_replaced_only_with_the_holders_current_pin(backend: Backend) {
    let t = office(backend).await;
    let app = t.service().await;
    let (clerk, nurse) = (t.person("Anne"), t.person("Claire"));
    let svc = super::badge_service(&t);
    super::set_pin(&t, &svc, nurse, "58203917").await;
    let cookie = session(&t, clerk).await;
    let csrf = clavis_web::sso_web::csrf_for(cookie.value());
    let (status, page) = open_enrolment(&app, &t, &cookie, &csrf).await;
    assert_eq!(status, 303);
    let tx = page.rsplit('/').next().expect("id").to_string();
    let mut card = blank([4, 8, 8, 8, 8, 8, 2]);
    let ws = &t.workstation("badge-office").id;
    relay(&app, ws.as_str(), &tx, None, &mut card, None).await;

    // Without the holder's current PIN: refused, nothing changed.
    let (saved, html) = post_pin(&app, &page, &cookie, &csrf, "47395182", None).await;
    assert!(!saved && html.contains("déjà un code PIN"), "{html}");
    // A wrong current PIN counts towards the holder's lockout.
    let (saved, html) = post_pin(&app, &page, &cookie, &csrf, "47395182", Some("11112222")).await;
    assert!(!saved && html.contains("Essais restants : 4"), "{html}");
    let works = async |pin: &str| {
        let mut conn = t.t.db.conn().await.expect("conn");
        clavis_authn::badge::pin::check_pin(
            &mut conn,
            svc.hasher(),
            svc.policy(),
            t.clock.now(),
            nurse,
            &Secret::new(pin.to_string()),
            &clavis_core::Actor::Cli("it".into()),
        )
        .await
        .is_ok()
    };
    assert!(works("58203917").await, "the old PIN still works");
    // With it, the new PIN replaces the old, and the holder will be told.
    let (saved, html) = post_pin(&app, &page, &cookie, &csrf, "47395182", Some("58203917")).await;
    assert!(saved, "{html}");
    let mut conn = t.t.db.conn().await.expect("conn");
    let row = clavis_store::models::BadgePinRow::find(&mut conn, nurse)
        .await
        .expect("read")
        .expect("pin");
    assert_eq!(row.replaced_by, Some(clavis_core::Actor::Identity(clerk)));
    assert!(works("47395182").await);
    assert!(!works("58203917").await);
}

async fn a_key_holder_without_a_pin_chooses_it_on_their_page_not_at_the_desk(backend: Backend) {
    let t = office(backend).await;
    let app = t.service().await;
    let nurse = t.person("Claire");
    clavis_testkit::people::insert_key(&t.t.db, nurse, "key-1").await;
    let mut conn = t.t.db.conn().await.expect("conn");
    let cookie = session(&t, t.person("Anne")).await;
    let csrf = clavis_web::sso_web::csrf_for(cookie.value());
    let (status, page) = open_enrolment(&app, &t, &cookie, &csrf).await;
    assert_eq!(status, 303);
    let tx = page.rsplit('/').next().expect("id").to_string();
    let mut card = blank([4, 8, 8, 8, 8, 8, 3]);
    let ws = &t.workstation("badge-office").id;
    relay(&app, ws.as_str(), &tx, None, &mut card, None).await;
    let (saved, html) = post_pin(&app, &page, &cookie, &csrf, "47395182", None).await;
    assert!(!saved && html.contains("clé de sécurité"), "{html}");
    let pin = clavis_store::models::BadgePinRow::find(&mut conn, nurse)
        .await
        .expect("read");
    assert!(pin.is_none(), "the desk chose no PIN for her");
}
