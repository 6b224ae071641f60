//! Workstations and badges through the admin API: registering a
//! workstation (its credential shown once), enrolling a badge (the agent
//! picks the enrolment up), listing, revoking, unlocking a PIN lockout.

use super::{BADGE_DAY, CLAIRE_PIN, WRONG_PIN, badge_service, blank};
use crate::support::http::{AppService, basic};
use crate::support::{TestApp, on_both_backends};
use actix_web::test::{TestRequest, call_service, read_body_json};
use clavis_core::{Clock, Secret};
use clavis_testkit::db::Backend;
use serde_json::{Value, json};

on_both_backends!(
    without_a_token_nothing_is_said_about_badges,
    a_workstation_is_registered_with_its_credential_shown_once_under_a_unique_name,
    a_temporary_badge_is_enrolled_through_the_api_and_the_agent,
    badges_are_listed_by_identity_and_status_and_a_revocation_shows,
    the_api_unlocks_a_pin_lockout,
    a_revoked_workstations_agent_is_refused_at_once,
);

/// Claire, an admin API token, no workstation yet.
async fn admin(backend: Backend) -> TestApp {
    TestApp::on(backend)
        .at(BADGE_DAY)
        .with_person("Lemoine", "Claire")
        .with_admin_token()
        .start()
        .await
}

/// `req` with the admin token, sent: (status, JSON body or null).
async fn call(app: &impl AppService, t: &TestApp, req: TestRequest) -> (u16, Value) {
    let r = call_service(app, req.insert_header(t.admin_auth()).to_request()).await;
    let status = r.status().as_u16();
    let body = actix_web::test::read_body(r).await;
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

/// Registers the badge office's workstation: (id, credential).
async fn register_office(app: &impl AppService, t: &TestApp) -> (String, String) {
    let (status, ws) = call(
        app,
        t,
        TestRequest::post()
            .uri("/admin/api/workstations")
            .set_json(json!({"name": "Bureau des badges", "location": "RDC"})),
    )
    .await;
    assert_eq!(status, 201, "{ws}");
    (
        ws["id"].as_str().expect("id").to_string(),
        ws["credential"].as_str().expect("credential").to_string(),
    )
}

/// The agent's POST /agent/v1/pending.
async fn pending(app: &impl AppService, ws: &str, credential: &str) -> actix_web::http::StatusCode {
    call_service(
        app,
        TestRequest::post()
            .uri("/agent/v1/pending")
            .insert_header(("Authorization", basic(ws, credential)))
            .to_request(),
    )
    .await
    .status()
}

/// Enrols a temporary badge for Claire through the API and the agent of a
/// newly registered workstation: (the badge's enrolment status, its end).
async fn enrol_temporary(app: &impl AppService, t: &TestApp) -> (Value, i64) {
    let (ws_id, credential) = register_office(app, t).await;
    let until = t.clock.now() + chrono::Duration::hours(10);
    let (status, enrolment) = call(
        app,
        t,
        TestRequest::post().uri("/admin/api/badges/enrolments").set_json(
            json!({"identity": t.person("Claire"), "workstation": "Bureau des badges", "temporary_until": until}),
        ),
    )
    .await;
    assert_eq!(status, 201);
    let tx = enrolment["id"].as_str().expect("id").to_string();
    let status_uri = format!("/admin/api/badges/enrolments/{tx}");
    assert_eq!(
        call(app, t, TestRequest::get().uri(&status_uri)).await.1["status"],
        "open"
    );
    let p: Value = read_body_json(
        call_service(
            app,
            TestRequest::post()
                .uri("/agent/v1/pending")
                .insert_header(("Authorization", basic(&ws_id, &credential)))
                .to_request(),
        )
        .await,
    )
    .await;
    assert_eq!(p["transaction"], tx.as_str());
    let mut card = blank([4, 6, 6, 6, 6, 6, 6]);
    let mut step = 0;
    let mut answer: Option<String> = None;
    loop {
        let v: Value = read_body_json(
            call_service(
                app,
                TestRequest::post()
                    .uri("/agent/v1/step")
                    .insert_header(("Authorization", basic(&ws_id, &credential)))
                    .set_json(json!({"transaction": tx, "step": step, "answer": answer}))
                    .to_request(),
            )
            .await,
        )
        .await;
        let Some(apdu) = v["apdu"].as_str() else {
            assert_eq!(v, json!({"done": true}));
            break;
        };
        step = v["step"].as_i64().expect("step") as i32;
        answer = Some(hex::encode(card.process(&hex::decode(apdu).expect("hex"))));
    }
    let done = call(app, t, TestRequest::get().uri(&status_uri)).await.1;
    (done, until.timestamp())
}

async fn without_a_token_nothing_is_said_about_badges(backend: Backend) {
    let t = admin(backend).await;
    let app = t.service().await;
    let r = call_service(
        &app,
        TestRequest::get().uri("/admin/api/badges").to_request(),
    )
    .await;
    assert_eq!(r.status(), 401);
}

async fn a_workstation_is_registered_with_its_credential_shown_once_under_a_unique_name(
    backend: Backend,
) {
    let t = admin(backend).await;
    let app = t.service().await;
    let (ws_id, credential) = register_office(&app, &t).await;
    // The credential works: nothing is pending for it.
    assert_eq!(pending(&app, &ws_id, &credential).await, 204);
    let (status, _) = call(
        &app,
        &t,
        TestRequest::post()
            .uri("/admin/api/workstations")
            .set_json(json!({"name": "Bureau des badges"})),
    )
    .await;
    assert_eq!(status, 400, "duplicate name");
    let (_, listed) = call(&app, &t, TestRequest::get().uri("/admin/api/workstations")).await;
    assert_eq!(listed.as_array().expect("array").len(), 1);
    assert!(listed[0].get("credential").is_none() && listed[0].get("secret_hash").is_none());
}

async fn a_temporary_badge_is_enrolled_through_the_api_and_the_agent(backend: Backend) {
    let t = admin(backend).await;
    let app = t.service().await;
    let (done, until) = enrol_temporary(&app, &t).await;
    assert_eq!(done["status"], "done");
    assert_eq!(done["badge"]["kind"], "temporary");
    assert_eq!(done["badge"]["uid"], "04060606060606");
    assert_eq!(done["badge"]["expires_at"], until);
}

async fn badges_are_listed_by_identity_and_status_and_a_revocation_shows(backend: Backend) {
    let t = admin(backend).await;
    let app = t.service().await;
    let (done, _) = enrol_temporary(&app, &t).await;
    let badge_id = done["badge"]["id"].as_str().expect("id").to_string();
    let claire = t.person("Claire");
    let (_, r) = call(
        &app,
        &t,
        TestRequest::get().uri(&format!(
            "/admin/api/badges?identity={claire}&status=active"
        )),
    )
    .await;
    assert_eq!(r.as_array().expect("array").len(), 1);
    let (status, _) = call(
        &app,
        &t,
        TestRequest::post()
            .uri(&format!("/admin/api/badges/{badge_id}/revoke"))
            .set_json(json!({"reason": "forgotten badge returned"})),
    )
    .await;
    assert_eq!(status, 200);
    let (_, r) = call(
        &app,
        &t,
        TestRequest::get().uri("/admin/api/badges?status=revoked"),
    )
    .await;
    assert_eq!(r[0]["status_reason"], "forgotten badge returned");
    let (status, _) = call(
        &app,
        &t,
        TestRequest::post()
            .uri("/admin/api/badges/nope/revoke")
            .set_json(json!({})),
    )
    .await;
    assert_eq!(status, 404);
}

async fn the_api_unlocks_a_pin_lockout(backend: Backend) {
    let t = admin(backend).await;
    let app = t.service().await;
    let svc = badge_service(&t);
    let claire = t.person("Claire");
    let mut conn = t.t.db.conn().await.expect("conn");
    super::set_pin(&t, &svc, claire, CLAIRE_PIN).await;
    let check = async |conn: &mut clavis_store::DbConn, pin: &str| {
        clavis_authn::badge::pin::check_pin(
            conn,
            svc.hasher(),
            svc.policy(),
            t.clock.now(),
            claire,
            &Secret::new(pin.to_string()),
            &clavis_core::Actor::Cli("it".into()),
        )
        .await
    };
    for _ in 0..5 {
        let _ = check(&mut conn, WRONG_PIN).await;
    }
    assert!(matches!(
        check(&mut conn, CLAIRE_PIN).await,
        Err(clavis_authn::badge::BadgeError::Pin(
            clavis_authn::badge::PinRefusal::Locked { .. }
        ))
    ));
    let (_, r) = call(
        &app,
        &t,
        TestRequest::post().uri(&format!("/admin/api/identities/{claire}/badge-unlock")),
    )
    .await;
    assert_eq!(r["unlocked"], true);
    check(&mut conn, CLAIRE_PIN).await.expect("unlocked");
}

async fn a_revoked_workstations_agent_is_refused_at_once(backend: Backend) {
    let t = admin(backend).await;
    let app = t.service().await;
    let (ws_id, credential) = register_office(&app, &t).await;
    let (status, _) = call(
        &app,
        &t,
        TestRequest::post().uri(&format!("/admin/api/workstations/{ws_id}/revoke")),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(pending(&app, &ws_id, &credential).await, 401);
}
