//! Signing in to Clavis with Pro Santé Connect (a forgotten badge): the
//! national id must be that of exactly one active identity whose link
//! stands (HR's RPPS alone is not enough); the session says it came from
//! PSC and is never asserted back to PSC, never runs the badge office,
//! and adds a key or sets a PIN only where the hospital lets e-CPS stand
//! as the proofing.

use super::*;
use crate::support::http::session_cookie_of;
use crate::support::on_both_backends;
use clavis_core::Clock;

on_both_backends!(
    a_professional_signs_in_with_psc_and_that_session_is_not_asserted_back,
    a_national_id_nobody_holds_signs_nobody_in,
    hr_s_rpps_alone_signs_nobody_in_the_link_does,
    a_psc_session_neither_runs_the_badge_office_nor_sets_a_pin,
    sign_in_with_psc_is_offered_only_when_configured,
    a_psc_session_adds_a_key_only_where_the_hospital_allows_it,
    signing_out_of_a_psc_session_signs_out_of_psc_too,
);

/// The whole sign-in with PSC as `account`; Clavis's answer to PSC's
/// return.
async fn sign_in_as<A: AppService>(svc: &A, account: &str) -> ServiceResponse<A::Body> {
    let start = get(svc, "/psc/login?return_to=/me", "").await;
    assert_eq!(start.status(), 303);
    let trip = set_cookie(&start, "__Host-clavis_psc").expect("trip cookie");
    let back = at_psc(&location(&start), Some(account)).await;
    get(svc, &back, &format!("__Host-clavis_psc={trip}")).await
}

/// The nurse links from her badge session first (sign-in with PSC goes
/// through a standing link).
async fn linked<A: AppService>(svc: &A, t: &TestApp) {
    let r = link_as(svc, &t.session().cookie, "/me", Some(CLAIRE.id)).await;
    assert_eq!(location(&r), "/me", "linked first");
}

/// Signs in with PSC as the nurse; her session's cookie header.
async fn psc_session<A: AppService>(svc: &A) -> String {
    let r = sign_in_as(svc, CLAIRE.id).await;
    let c = session_cookie_of(&r).expect("a session");
    format!("{}={}", c.name(), c.value())
}

async fn a_professional_signs_in_with_psc_and_that_session_is_not_asserted_back(backend: Backend) {
    let psc = StandIn::start(&[]);
    let t = app(backend, &psc).await;
    let svc = t.service().await;
    linked(&svc, &t).await;
    let html = text(get(&svc, "/login", "").await).await;
    assert!(
        html.contains("Se connecter avec Pro Santé Connect (e-CPS)"),
        "{html}"
    );
    let r = sign_in_as(&svc, CLAIRE.id).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/me");
    let cookie = session_cookie_of(&r).expect("a session");
    let cookie = format!("{}={}", cookie.name(), cookie.value());
    let me = get(&svc, "/me", &cookie).await;
    assert_eq!(me.status(), 200);
    // Her keys cannot be managed from a PSC session (the default).
    let html = text(me).await;
    assert!(!html.contains("data-endpoint=\"/me/keys\""), "{html}");
    let mut conn = t.t.db.conn().await.expect("conn");
    let sessions = clavis_sso::list(&mut conn, t.clock.now(), Some(t.nurse().oid))
        .await
        .expect("sessions");
    let s = sessions
        .iter()
        .find(|s| s.method == Some(clavis_core::LoginMethod::Psc))
        .expect("the PSC session");
    assert_eq!(s.acr, "eidas1");
    assert_eq!(s.amr, ["psc", "psc_edit"]);
    let ok = audited(&t, "login.succeeded").await;
    assert_eq!(ok.last().expect("audited")["changes"]["method"], "psc");
    // PSC's broker asking with this session: never asserted back.
    let r = get(&svc, &broker_authorize(&t), &cookie).await;
    assert_eq!(broker_answer(&r)["error"], "access_denied");
    assert_eq!(
        audited(&t, "psc.assertion_refused").await[0]["changes"]["reason"],
        "method_not_accepted"
    );
}

async fn a_national_id_nobody_holds_signs_nobody_in(backend: Backend) {
    let psc = StandIn::start(&[]);
    let t = app(backend, &psc).await;
    let svc = t.service().await;
    let r = sign_in_as(&svc, OTHER.id).await;
    assert_eq!(r.status(), 403);
    assert!(session_cookie_of(&r).is_none());
    assert!(text(r).await.contains("data-reason=\"not_linked\""));
    let failed = audited(&t, "login.failed").await;
    assert_eq!(
        failed.last().expect("audited")["changes"]["reason"],
        "not_linked"
    );
}

async fn hr_s_rpps_alone_signs_nobody_in_the_link_does(backend: Backend) {
    let psc = StandIn::start(&[]);
    let t = app(backend, &psc).await;
    let svc = t.service().await;
    // HR gives the nurse this RPPS, but nobody checked it against PSC: HR
    // may hold someone else's number.
    let r = sign_in_as(&svc, CLAIRE.id).await;
    assert_eq!(r.status(), 403);
    assert!(session_cookie_of(&r).is_none());
    let html = text(r).await;
    assert!(
        html.contains("data-reason=\"not_linked\"") && html.contains("Mon compte"),
        "{html}"
    );
    linked(&svc, &t).await;
    assert!(session_cookie_of(&sign_in_as(&svc, CLAIRE.id).await).is_some());
    // A link that no longer stands signs nobody in either.
    let mut conn = t.t.db.conn().await.expect("conn");
    let mut link = link_of(&t).await.expect("link");
    link.expires_at = t.clock.now().timestamp();
    link.save(&mut conn).await.expect("save");
    let r = sign_in_as(&svc, CLAIRE.id).await;
    assert!(text(r).await.contains("data-reason=\"link_not_valid\""));
}

async fn a_psc_session_neither_runs_the_badge_office_nor_sets_a_pin(backend: Backend) {
    let psc = StandIn::start(&[]);
    let t = app(backend, &psc).await;
    let svc = t.service().await;
    linked(&svc, &t).await;
    let mut conn = t.t.db.conn().await.expect("conn");
    clavis_store::models::IdentityRoleRow {
        oid: t.nurse().oid,
        role: "badge-office".into(),
        granted_by: clavis_core::Actor::Cli("it".into()),
        granted_at: 0,
    }
    .grant(&mut conn)
    .await
    .expect("role");
    // With her badge session, she is an officer.
    assert_eq!(
        get(&svc, "/badge-office", &t.session().cookie)
            .await
            .status(),
        200
    );
    let cookie = psc_session(&svc).await;
    assert_eq!(get(&svc, "/badge-office", &cookie).await.status(), 403);
    let r = post(
        &svc,
        "/me/badge-pin",
        &cookie,
        &[
            ("csrf", &csrf(&cookie)),
            ("pin", "482913"),
            ("pin2", "482913"),
        ],
    )
    .await;
    assert_eq!(r.status(), 403);
}

async fn sign_in_with_psc_is_offered_only_when_configured(backend: Backend) {
    let psc = StandIn::start(&[]);
    let cfg = PscConfig {
        sign_in_with_psc: false,
        ..psc_config(&psc)
    };
    let t = app_with(
        backend,
        cfg,
        ClientAuth::Secret(clavis_core::Secret::new(PSC_SECRET.into())),
    )
    .await;
    let svc = t.service().await;
    let html = text(get(&svc, "/login", "").await).await;
    assert!(!html.contains("psc-login"), "{html}");
    assert_eq!(get(&svc, "/psc/login", "").await.status(), 404);
}

/// POST `/me/keys/begin` with the session `cookie`.
async fn begin_adding_a_key<A: AppService>(svc: &A, cookie: &str) -> u16 {
    call_service(
        svc,
        TestRequest::post()
            .uri("/me/keys/begin")
            .insert_header(("cookie", cookie.to_string()))
            .set_json(json!({}))
            .to_request(),
    )
    .await
    .status()
    .as_u16()
}

async fn a_psc_session_adds_a_key_only_where_the_hospital_allows_it(backend: Backend) {
    let psc = StandIn::start(&[]);
    for allowed in [false, true] {
        let cfg = PscConfig {
            fido2_enrolment_after_psc_login: allowed,
            ..psc_config(&psc)
        };
        let t = app_with(
            backend,
            cfg,
            ClientAuth::Secret(clavis_core::Secret::new(PSC_SECRET.into())),
        )
        .await;
        let svc = t.service().await;
        linked(&svc, &t).await;
        let cookie = psc_session(&svc).await;
        let html = text(get(&svc, "/me", &cookie).await).await;
        assert_eq!(
            html.contains("data-endpoint=\"/me/keys\""),
            allowed,
            "{html}"
        );
        let status = begin_adding_a_key(&svc, &cookie).await;
        assert_eq!(
            status,
            if allowed { 200 } else { 403 },
            "allowed: {allowed}"
        );
    }
}

async fn signing_out_of_a_psc_session_signs_out_of_psc_too(backend: Backend) {
    let psc = StandIn::start(&[]);
    let t = app(backend, &psc).await;
    let svc = t.service().await;
    linked(&svc, &t).await;
    let cookie = psc_session(&svc).await;
    let out = post(&svc, "/logout", &cookie, &[("csrf", &csrf(&cookie))]).await;
    assert_eq!(out.status(), 303);
    let to = location(&out);
    assert!(to.contains("/protocol/openid-connect/logout?"), "{to}");
    assert_eq!(
        get(&svc, "/me", &cookie).await.status(),
        303,
        "signed out of Clavis"
    );
    let back = back_from_psc(&to).await;
    assert!(back.starts_with("/psc/logged-out"), "{back}");
    let page = text(get(&svc, &back, "").await).await;
    assert!(
        page.contains("Votre session Pro Santé Connect est fermée aussi"),
        "{page}"
    );
    let logouts = psc.logouts().await;
    assert_eq!(logouts[0]["id_token_hint"], true, "{logouts}");
    assert_eq!(
        logouts[0]["post_logout_redirect_uri"],
        format!("{ORIGIN}/psc/logged-out")
    );
    // A badge session signs out of Clavis only.
    let cookie = &t.session().cookie;
    let out = post(&svc, "/logout", cookie, &[("csrf", &csrf(cookie))]).await;
    assert_eq!(out.status(), 200);
}
