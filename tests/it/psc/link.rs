//! The link to the national identity, and Clavis answering PSC as FI
//! tiers: first time through e-CPS at PSC, then at once; the rule that
//! stores a link only for the identity's own RPPS and name; what a "no",
//! an expired link, a departure and an unlinking do.

use super::*;
use crate::support::on_both_backends;
use clavis_core::{Actor, Clock, PscUnlinkReason};

on_both_backends!(
    psc_asks_the_person_links_once_and_psc_is_answered_at_once_afterwards,
    a_national_id_that_is_not_the_identitys_stores_nothing_and_opens_a_case,
    a_family_name_that_disagrees_stores_nothing_and_opens_a_case,
    an_identity_without_rpps_in_hr_cannot_link_and_the_case_says_so,
    the_rpps_found_in_other_ids_is_enough_and_the_request_is_the_one_psc_expects,
    declining_the_link_answers_psc_access_denied,
    an_expired_link_or_a_changed_rpps_goes_through_the_link_again,
    a_departure_revokes_the_link_and_psc_gets_no_assertion,
    the_person_sees_and_removes_their_link_on_their_page,
    a_link_finished_after_the_session_changed_hands_stores_nothing,
    a_link_revoked_between_the_code_and_the_token_gets_no_tokens,
    other_applications_never_get_tid_and_oid,
    a_node_without_pro_sante_connect_answers_its_client_access_denied,
);

/// The `return_to` of a link page's path.
fn return_to_of(link_page: &str) -> String {
    url::form_urlencoded::parse(link_page.split_once('?').expect("query").1.as_bytes())
        .find(|(k, _)| k == "return_to")
        .map(|(_, v)| v.into_owned())
        .expect("return_to")
}

/// PSC's broker asks; the nurse goes through the link; back at the
/// broker's request, which is now answered with a code. Returns the code.
async fn linked_once<A: AppService>(svc: &A, t: &TestApp) -> String {
    let cookie = &t.session().cookie;
    let ask = get(svc, &broker_authorize(t), cookie).await;
    assert_eq!(ask.status(), 303);
    let link_page = location(&ask);
    assert!(link_page.starts_with("/psc/link?return_to="), "{link_page}");
    let page = get(svc, &link_page, cookie).await;
    assert_eq!(page.status(), 200);
    let html = text(page).await;
    assert!(
        html.contains("Associer votre compte à Pro Santé Connect"),
        "{html}"
    );
    let return_to = return_to_of(&link_page);
    let back = link_as(svc, cookie, &return_to, Some(CLAIRE.id)).await;
    assert_eq!(back.status(), 303, "linked: {}", text(back).await);
    assert_eq!(location(&back), return_to, "back to PSC's request");
    let answer = get(svc, &return_to, cookie).await;
    let q = broker_answer(&answer);
    assert_eq!(q["state"], "broker-state");
    q["code"].clone()
}

async fn psc_asks_the_person_links_once_and_psc_is_answered_at_once_afterwards(backend: Backend) {
    let psc = StandIn::start(&[]);
    let t = app(backend, &psc).await;
    let svc = t.service().await;
    let code = linked_once(&svc, &t).await;
    let claims = broker_token(&svc, &t, &code).await;
    assert_eq!(claims["tid"], TID);
    assert_eq!(claims["oid"], t.nurse().oid.to_string());
    assert_eq!(claims["sub"], t.nurse().oid.to_string());
    assert_eq!(claims["SubjectNameID"], CLAIRE.national_id);
    // The session is a badge + PIN one: the default [psc.amr] badge list.
    assert_eq!(claims["amr"], json!(["sc", "pin", "mfa"]));
    assert_eq!(claims["acr"], "eidas2");
    assert_eq!(claims["nonce"], "broker-nonce");
    assert!(claims["auth_time"].is_i64() && claims["sid"].is_string());
    // The link and its evidence.
    let link = link_of(&t).await.expect("stored");
    assert_eq!(link.national_id, CLAIRE.national_id);
    assert!(link.psc_sub.starts_with("f:") && link.psc_sub.ends_with(CLAIRE.national_id));
    assert_eq!(link.acr.as_deref(), Some("eidas1"));
    assert_eq!(link.auth_mode.as_deref(), Some("EDIT"));
    assert_eq!(link.id_token_sha256.len(), 64);
    let now = t.clock.now().timestamp();
    assert_eq!(link.expires_at - link.linked_at, 730 * 86_400);
    assert!((link.linked_at - now).abs() <= 1);
    let mut conn = t.t.db.conn().await.expect("conn");
    let verified = clavis_store::models::IdentityRow::rpps_verified_at(&mut conn, t.nurse().oid)
        .await
        .expect("read");
    assert_eq!(
        verified,
        Some(link.linked_at),
        "the RPPS is verified (EXI 27)"
    );
    // The second time: no page at all.
    let again = get(&svc, &broker_authorize(&t), &t.session().cookie).await;
    assert!(broker_answer(&again).contains_key("code"));
    let linked = audited(&t, "psc.linked").await;
    assert_eq!(linked.len(), 1);
    assert_eq!(linked[0]["changes"]["renewed"], false);
    let asserted = audited(&t, "psc.asserted").await;
    assert_eq!(asserted.len(), 1);
    assert_eq!(asserted[0]["changes"]["amr"], json!(["sc", "pin", "mfa"]));
    assert_eq!(asserted[0]["changes"]["acr"], "eidas2");
    assert_eq!(asserted[0]["changes"]["tid"], TID);
}

/// The link with `account` at PSC, from `/me`; returns Clavis's answer.
async fn link_from_me<A: AppService>(
    svc: &A,
    t: &TestApp,
    account: &str,
) -> ServiceResponse<A::Body> {
    link_as(svc, &t.session().cookie, "/me", Some(account)).await
}

async fn a_national_id_that_is_not_the_identitys_stores_nothing_and_opens_a_case(backend: Backend) {
    let psc = StandIn::start(&[]);
    let t = app(backend, &psc).await;
    let svc = t.service().await;
    let r = link_from_me(&svc, &t, OTHER.id).await;
    assert_eq!(r.status(), 200);
    let html = text(r).await;
    assert!(
        html.contains("data-reason=\"national_id_mismatch\""),
        "{html}"
    );
    assert!(html.contains("Rien n'a été enregistré"), "{html}");
    assert!(link_of(&t).await.is_none(), "nothing stored");
    let refused = audited(&t, "psc.link_refused").await;
    assert_eq!(refused.len(), 1);
    let c = &refused[0]["changes"];
    assert_eq!(c["reason"], "national_id_mismatch");
    assert_eq!(c["national_id_psc"], OTHER.national_id);
    assert_eq!(c["national_ids_hr"], json!([CLAIRE.national_id]));
    let mut conn = t.t.db.conn().await.expect("conn");
    let case_id = c["case_id"].as_str().expect("a case");
    let case = clavis_store::models::ReconciliationCase::find(&mut conn, case_id)
        .await
        .expect("read")
        .expect("case");
    assert_eq!(case.source, "psc");
    assert_eq!(case.reason, "national_id_mismatch");
    assert!(case.candidates.contains(&t.nurse().oid.to_string()));
    // PSC still gets no assertion.
    let ask = get(&svc, &broker_authorize(&t), &t.session().cookie).await;
    assert!(location(&ask).starts_with("/psc/link?"));
}

async fn a_family_name_that_disagrees_stores_nothing_and_opens_a_case(backend: Backend) {
    let psc = StandIn::start(&[]);
    let t = app(backend, &psc).await;
    let svc = t.service().await;
    let html = text(link_from_me(&svc, &t, "claire-other-name").await).await;
    assert!(
        html.contains("data-reason=\"family_name_mismatch\""),
        "{html}"
    );
    assert!(link_of(&t).await.is_none());
    assert_eq!(
        audited(&t, "psc.link_refused").await[0]["changes"]["reason"],
        "family_name_mismatch"
    );
}

async fn an_identity_without_rpps_in_hr_cannot_link_and_the_case_says_so(backend: Backend) {
    let psc = StandIn::start(&[]);
    let t = app(backend, &psc).await;
    let mut conn = t.t.db.conn().await.expect("conn");
    let mut row = clavis_store::models::IdentityRow::find(&mut conn, t.nurse().oid)
        .await
        .expect("read")
        .expect("row");
    row.rpps = None;
    clavis_store::models::IdentityRow::update_all(&mut conn, vec![row])
        .await
        .expect("update");
    let svc = t.service().await;
    let html = text(link_from_me(&svc, &t, CLAIRE.id).await).await;
    assert!(
        html.contains("data-reason=\"no_national_id_in_hr\""),
        "{html}"
    );
    assert!(link_of(&t).await.is_none());
    let refused = audited(&t, "psc.link_refused").await;
    let case_id = refused[0]["changes"]["case_id"]
        .as_str()
        .expect("case")
        .to_string();
    let case = clavis_store::models::ReconciliationCase::find(&mut conn, &case_id)
        .await
        .expect("read")
        .expect("case");
    assert_eq!(case.reason, "no_national_id_in_hr");
    assert!(
        case.candidates.contains("HR gives this person no RPPS"),
        "{}",
        case.candidates
    );
}

async fn the_rpps_found_in_other_ids_is_enough_and_the_request_is_the_one_psc_expects(
    backend: Backend,
) {
    let psc = StandIn::start(&[("WALLET_DISCOVERY_ONLY", "1")]);
    let t = app(backend, &psc).await;
    let svc = t.service().await;
    let r = link_from_me(&svc, &t, "claire-rpps-only").await;
    assert_eq!(location(&r), "/me");
    let link = link_of(&t).await.expect("linked");
    assert_eq!(link.national_id, CLAIRE.national_id);
    assert_eq!(link.auth_mode.as_deref(), Some("CARD"));
    let sent = psc.requests().await;
    let a = &sent["authorize"][0];
    assert_eq!(a["client_id"], PSC_CLIENT);
    assert_eq!(a["scope"], "openid scope_all");
    assert_eq!(a["acr_values"], "eidas1");
    assert_eq!(a["code_challenge_method"], "S256");
    assert_eq!(
        a["prompt"], "login",
        "a fresh e-CPS, whatever PSC session is open"
    );
    assert_eq!(a["nonce"], true);
    assert_eq!(a["state"], true);
    assert_eq!(a["redirect_uri"], format!("{ORIGIN}/psc/callback"));
    let tok = &sent["token"][0];
    assert_eq!(tok["grant_type"], "authorization_code");
    assert_eq!(tok["client_auth"], "basic");
    assert_eq!(tok["code_verifier"], true);
}

async fn declining_the_link_answers_psc_access_denied(backend: Backend) {
    let psc = StandIn::start(&[]);
    let t = app(backend, &psc).await;
    let svc = t.service().await;
    let cookie = &t.session().cookie;
    let ask = get(&svc, &broker_authorize(&t), cookie).await;
    let html = text(get(&svc, &location(&ask), cookie).await).await;
    let decline = html
        .split("id=\"psc-decline\" href=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("a decline link")
        .replace("&amp;", "&");
    let r = get(&svc, &decline, cookie).await;
    let q = broker_answer(&r);
    assert_eq!(q["error"], "access_denied");
    assert_eq!(q["state"], "broker-state");
    let refused = audited(&t, "psc.assertion_refused").await;
    assert_eq!(refused[0]["changes"]["reason"], "declined");
    // Cancelling at PSC is a "no" too: nothing stored, back to PSC's
    // request with a way to answer it.
    let r = link_as(&svc, cookie, &return_to_of(&location(&ask)), None).await;
    assert_eq!(r.status(), 400);
    let html = text(r).await;
    assert!(
        html.contains("data-reason=\"psc_error\"") && html.contains("psc-continue"),
        "{html}"
    );
    assert!(link_of(&t).await.is_none());
}

async fn an_expired_link_or_a_changed_rpps_goes_through_the_link_again(backend: Backend) {
    let psc = StandIn::start(&[]);
    let t = app(backend, &psc).await;
    let svc = t.service().await;
    linked_once(&svc, &t).await;
    let mut conn = t.t.db.conn().await.expect("conn");
    // Two years later (the link's end moved back rather than the clock,
    // which must stay with the stand-in's).
    let mut link = link_of(&t).await.expect("linked");
    link.expires_at = t.clock.now().timestamp();
    link.save(&mut conn).await.expect("save");
    let ask = get(&svc, &broker_authorize(&t), &t.session().cookie).await;
    assert!(
        location(&ask).starts_with("/psc/link?"),
        "expired: the link again"
    );
    // Renewed: PSC is answered again, and the audit says renewed.
    linked_once(&svc, &t).await;
    let linked = audited(&t, "psc.linked").await;
    assert_eq!(linked.len(), 2);
    assert_eq!(linked[1]["changes"]["renewed"], true);
    // HR changes the RPPS: the link no longer stands.
    let mut row = clavis_store::models::IdentityRow::find(&mut conn, t.nurse().oid)
        .await
        .expect("read")
        .expect("row");
    row.rpps = Some("10001045367".into());
    clavis_store::models::IdentityRow::update_all(&mut conn, vec![row])
        .await
        .expect("update");
    let ask = get(&svc, &broker_authorize(&t), &t.session().cookie).await;
    assert!(
        location(&ask).starts_with("/psc/link?"),
        "RPPS changed: the link again"
    );
}

async fn a_departure_revokes_the_link_and_psc_gets_no_assertion(backend: Backend) {
    use clavis_directory::lifecycle::LifecycleKind;
    let psc = StandIn::start(&[]);
    let t = app(backend, &psc).await;
    let svc = t.service().await;
    linked_once(&svc, &t).await;
    // Another session of hers survives nothing: the departure ends them
    // all; a fresh one is opened after it to show PSC still gets nothing.
    t.apply_lifecycle(t.nurse().oid, LifecycleKind::Departed)
        .await;
    let mut conn = t.t.db.conn().await.expect("conn");
    let link = link_of(&t).await.expect("kept as evidence");
    assert_eq!(link.revoked_reason, Some(PscUnlinkReason::Departed));
    assert_eq!(link.revoked_by, Some(Actor::Lifecycle));
    let unlinked = audited(&t, "psc.unlinked").await;
    assert_eq!(unlinked[0]["changes"]["reason"], "departed");
    // Marked departed by HR; a session opened anyway gets no assertion.
    let mut row = clavis_store::models::IdentityRow::find(&mut conn, t.nurse().oid)
        .await
        .expect("read")
        .expect("row");
    row.status = clavis_core::LifecycleStatus::Departed;
    clavis_store::models::IdentityRow::update_all(&mut conn, vec![row])
        .await
        .expect("update");
    let s = t.open_session(t.nurse().oid).await;
    let r = get(&svc, &broker_authorize(&t), &s.cookie).await;
    assert_eq!(broker_answer(&r)["error"], "access_denied");
    assert_eq!(
        audited(&t, "psc.assertion_refused").await[0]["changes"]["reason"],
        "identity_not_active"
    );
}

async fn the_person_sees_and_removes_their_link_on_their_page(backend: Backend) {
    let psc = StandIn::start(&[]);
    let t = app(backend, &psc).await;
    let svc = t.service().await;
    let cookie = &t.session().cookie;
    let html = text(get(&svc, "/me", cookie).await).await;
    assert!(html.contains("Non associé"), "{html}");
    link_from_me(&svc, &t, CLAIRE.id).await;
    let html = text(get(&svc, "/me", cookie).await).await;
    assert!(
        html.contains(&format!(
            "<dd id=\"psc-national-id\">{}</dd>",
            CLAIRE.national_id
        )),
        "{html}"
    );
    assert!(
        html.contains("Renouveler avec e-CPS") && html.contains("psc-valid-until"),
        "{html}"
    );
    let r = post(&svc, "/me/psc/unlink", cookie, &[("csrf", &csrf(cookie))]).await;
    assert_eq!(r.status(), 303);
    let link = link_of(&t).await.expect("kept as evidence");
    assert_eq!(link.revoked_reason, Some(PscUnlinkReason::ByPerson));
    let html = text(get(&svc, "/me", cookie).await).await;
    assert!(
        html.contains("Association retirée") && !html.contains("psc-unlink"),
        "{html}"
    );
    // A form without the session's CSRF token removes nothing.
    let r = post(&svc, "/me/psc/unlink", cookie, &[("csrf", "forged")]).await;
    assert_eq!(r.status(), 403);
    // PSC now takes the person through the link again.
    let ask = get(&svc, &broker_authorize(&t), cookie).await;
    assert!(location(&ask).starts_with("/psc/link?"));
}

async fn a_link_revoked_between_the_code_and_the_token_gets_no_tokens(backend: Backend) {
    let psc = StandIn::start(&[]);
    let t = app(backend, &psc).await;
    let svc = t.service().await;
    let code = linked_once(&svc, &t).await;
    clavis_federation::link::unlink(
        &t.t.db,
        t.clock.now(),
        t.nurse().oid,
        PscUnlinkReason::ByOperator,
        &Actor::Cli("it".into()),
        Some("RPPS under review"),
    )
    .await
    .expect("unlink");
    let r = call_service(
        &svc,
        TestRequest::post()
            .uri("/oidc/token")
            .insert_header(("authorization", basic(&t.client().id, &t.client().secret)))
            .insert_header(("content-type", "application/x-www-form-urlencoded"))
            .set_payload(form(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", BROKER_CB),
                ("code_verifier", VERIFIER),
            ]))
            .to_request(),
    )
    .await;
    assert_eq!(r.status(), 400);
    assert_eq!(json_of(r).await["error"], "invalid_grant");
    assert!(audited(&t, "psc.asserted").await.is_empty());
    let unlinked = audited(&t, "psc.unlinked").await;
    assert_eq!(unlinked[0]["changes"]["note"], "RPPS under review");
}

async fn other_applications_never_get_tid_and_oid(backend: Backend) {
    let psc = StandIn::start(&[]);
    let t = app(backend, &psc).await;
    let svc = t.service().await;
    linked_once(&svc, &t).await;
    // A DPI, linked person or not, gets no FI tiers claims.
    let mut conn = t.t.db.conn().await.expect("conn");
    let (dpi, secret) = clavis_oidc::clients::register(
        &mut conn,
        t.clock.now(),
        NewClient {
            name: "DPI".into(),
            redirect_uris: vec!["https://dpi.chu.test/cb".into()],
            ..NewClient::default()
        },
        &t.state.oidc.registration_rules(),
        &Actor::Cli("it".into()),
    )
    .await
    .expect("dpi");
    let url = broker_authorize(&t)
        .replace(&t.client().id, dpi.client_id.as_str())
        .replace(
            &url::form_urlencoded::byte_serialize(BROKER_CB.as_bytes()).collect::<String>(),
            "https%3A%2F%2Fdpi.chu.test%2Fcb",
        );
    let r = get(&svc, &url, &t.session().cookie).await;
    let code = query_of(&location(&r))["code"].clone();
    let r = call_service(
        &svc,
        TestRequest::post()
            .uri("/oidc/token")
            .insert_header((
                "authorization",
                basic(dpi.client_id.as_str(), secret.expect("secret").expose()),
            ))
            .insert_header(("content-type", "application/x-www-form-urlencoded"))
            .set_payload(form(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "https://dpi.chu.test/cb"),
                ("code_verifier", VERIFIER),
            ]))
            .to_request(),
    )
    .await;
    let body = json_of(r).await;
    let payload = body["id_token"]
        .as_str()
        .expect("id token")
        .split('.')
        .nth(1)
        .expect("payload");
    let claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("b64")).expect("json");
    assert!(
        claims.get("tid").is_none() && claims.get("oid").is_none(),
        "{claims}"
    );
    assert_eq!(
        claims["amr"],
        json!(["hwk", "pin", "mfa"]),
        "the session's own amr"
    );
}

async fn a_node_without_pro_sante_connect_answers_its_client_access_denied(backend: Backend) {
    let t = TestApp::on(backend)
        .with_nurse()
        .with_session()
        .with_client(NewClient {
            name: "Pro Santé Connect".into(),
            redirect_uris: vec![BROKER_CB.into()],
            psc: true,
            ..NewClient::default()
        })
        .start()
        .await;
    let svc = t.service().await;
    let r = get(&svc, &broker_authorize(&t), &t.session().cookie).await;
    assert_eq!(broker_answer(&r)["error"], "access_denied");
    assert_eq!(
        audited(&t, "psc.assertion_refused").await[0]["changes"]["reason"],
        "psc_not_configured"
    );
}

async fn a_link_finished_after_the_session_changed_hands_stores_nothing(backend: Backend) {
    let psc = StandIn::start(&[]);
    let t = app(backend, &psc).await;
    let svc = t.service().await;
    let cookie = &t.session().cookie;
    let (trip, back) = trip_to_psc(&svc, cookie, "/me", Some(CLAIRE.id)).await;
    // She walked away; the next person's session is in the browser now.
    let next = t.open_session(t.nurse().oid).await;
    let r = get(&svc, &back, &with_trip(&next.cookie, &trip)).await;
    let html = text(r).await;
    assert!(html.contains("data-reason=\"session_changed\""), "{html}");
    assert!(link_of(&t).await.is_none());
    let refused = audited(&t, "psc.link_refused").await;
    assert_eq!(refused[0]["changes"]["reason"], "session_changed");
    assert!(
        refused[0]["changes"]["case_id"].is_null(),
        "no case for that"
    );
}
