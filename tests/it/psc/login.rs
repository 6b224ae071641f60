//! Signing in to Clavis with Pro Santé Connect (a forgotten badge): the
//! national id must belong to exactly one active identity; the session
//! says it came from PSC and is never asserted back to PSC; other
//! authentication methods are asked for before a key is added, unless the
//! hospital lets e-CPS stand as the proofing.

use super::*;
use crate::support::http::session_cookie_of;
use crate::support::on_both_backends;
use clavis_core::Clock;

on_both_backends!(
    a_professional_signs_in_with_psc_and_that_session_is_not_asserted_back,
    a_national_id_nobody_holds_signs_nobody_in,
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

async fn a_professional_signs_in_with_psc_and_that_session_is_not_asserted_back(backend: Backend) {
    let psc = StandIn::start(&[]);
    let t = app(backend, &psc).await;
    let svc = t.service().await;
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
    assert!(
        text(r)
            .await
            .contains("data-reason=\"unknown_national_id\"")
    );
    let failed = audited(&t, "login.failed").await;
    assert_eq!(
        failed.last().expect("audited")["changes"]["reason"],
        "unknown_national_id"
    );
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
        let r = sign_in_as(&svc, CLAIRE.id).await;
        let c = session_cookie_of(&r).expect("a session");
        let cookie = format!("{}={}", c.name(), c.value());
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
    let r = sign_in_as(&svc, CLAIRE.id).await;
    let c = session_cookie_of(&r).expect("a session");
    let cookie = format!("{}={}", c.name(), c.value());
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
