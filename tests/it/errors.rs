//! The error answers others depend on, snapshotted: the one JSON envelope
//! of the admin API and the pages, `{"error": {"code", "message"}}` (the
//! code stable, the message safe to show), and the token endpoint's own
//! RFC 6749 §5.2 shape, `{"error", "error_description"}`. Each snapshot
//! holds the status, the body and the `WWW-Authenticate` challenge if any.

use crate::support::http::{basic, form};
use crate::support::{TestApp, json_snapshot, on_both_backends};
use actix_web::dev::ServiceResponse;
use actix_web::test::{TestRequest, call_service, read_body};
use clavis_oidc::clients::NewClient;
use clavis_testkit::db::Backend;
use serde_json::{Value, json};

on_both_backends!(
    the_admin_api_answers_401_400_and_404_in_one_envelope,
    a_form_without_its_csrf_token_is_refused_in_the_envelope,
    a_badge_login_finished_before_the_card_answered_is_refused_in_the_envelope,
    the_token_endpoint_answers_in_the_rfc_6749_shape,
);

/// What a client sees of an error: status, challenge, body.
async fn answer<B: actix_web::body::MessageBody>(r: ServiceResponse<B>) -> Value {
    let status = r.status().as_u16();
    let challenge = r
        .headers()
        .get("www-authenticate")
        .and_then(|h| h.to_str().ok())
        .map(str::to_string);
    let body: Value = serde_json::from_slice(&read_body(r).await).expect("a JSON body");
    let mut v = json!({"status": status, "body": body});
    if let Some(c) = challenge {
        v["www-authenticate"] = json!(c);
    }
    v
}

async fn the_admin_api_answers_401_400_and_404_in_one_envelope(backend: Backend) {
    let t = TestApp::on(backend).with_admin_token().start().await;
    let app = t.service().await;
    let unauthorized = answer(
        call_service(
            &app,
            TestRequest::get().uri("/admin/api/identities").to_request(),
        )
        .await,
    )
    .await;
    json_snapshot!("admin_api_401", unauthorized);
    let get = |uri: &str| {
        TestRequest::get()
            .uri(uri)
            .insert_header(t.admin_auth())
            .to_request()
    };
    let bad_request = answer(call_service(&app, get("/admin/api/badges?status=lost")).await).await;
    json_snapshot!("admin_api_400", bad_request);
    let not_found = answer(call_service(&app, get("/admin/api/identities/nobody")).await).await;
    json_snapshot!("admin_api_404", not_found);
}

/// The admin API refuses no authenticated caller (one token, every right):
/// its 403 is the pages' CSRF refusal, in the same envelope.
async fn a_form_without_its_csrf_token_is_refused_in_the_envelope(backend: Backend) {
    let t = TestApp::on(backend)
        .with_nurse()
        .with_session()
        .start()
        .await;
    let app = t.service().await;
    let r = call_service(
        &app,
        TestRequest::post()
            .uri("/logout")
            .insert_header(("cookie", t.session().cookie.clone()))
            .set_form([("csrf", "forged")])
            .to_request(),
    )
    .await;
    let forbidden = answer(r).await;
    json_snapshot!("csrf_403", forbidden);
}

async fn a_badge_login_finished_before_the_card_answered_is_refused_in_the_envelope(
    backend: Backend,
) {
    let t = TestApp::on(backend).start().await;
    let app = t.service().await;
    let r = call_service(
        &app,
        TestRequest::post()
            .uri("/login/badge/start")
            .set_json(json!({}))
            .to_request(),
    )
    .await;
    let cookie = r
        .response()
        .cookies()
        .find(|c| c.name() == clavis_web::badge_web::BADGE_COOKIE)
        .expect("binding cookie")
        .into_owned();
    let started: Value = serde_json::from_slice(&read_body(r).await).expect("json");
    let r = call_service(
        &app,
        TestRequest::post()
            .uri("/login/badge/finish")
            .cookie(cookie)
            .insert_header(("Accept-Language", "fr"))
            .set_json(json!({"transaction": started["transaction"], "token": started["token"], "pin": "47395182"}))
            .to_request(),
    )
    .await;
    let refused = answer(r).await;
    json_snapshot!("badge_finish_refused", refused);
}

async fn the_token_endpoint_answers_in_the_rfc_6749_shape(backend: Backend) {
    let t = TestApp::on(backend)
        .with_client(NewClient::default())
        .start()
        .await;
    let app = t.service().await;
    let c = t.client();
    let token = |auth: String, pairs: &[(&str, &str)]| {
        TestRequest::post()
            .uri("/oidc/token")
            .insert_header(("authorization", auth))
            .insert_header(("content-type", "application/x-www-form-urlencoded"))
            .set_payload(form(pairs))
            .to_request()
    };
    let code = [
        ("grant_type", "authorization_code"),
        ("code", "not-a-code"),
        ("redirect_uri", crate::support::app::CALLBACK),
        ("code_verifier", &"v".repeat(43)),
    ];
    let invalid_grant =
        answer(call_service(&app, token(basic(&c.id, &c.secret), &code)).await).await;
    json_snapshot!("token_invalid_grant", invalid_grant);
    let invalid_client =
        answer(call_service(&app, token(basic(&c.id, "not-the-secret"), &code)).await).await;
    json_snapshot!("token_invalid_client", invalid_client);
    let unsupported = answer(
        call_service(
            &app,
            token(basic(&c.id, &c.secret), &[("grant_type", "password")]),
        )
        .await,
    )
    .await;
    json_snapshot!("token_unsupported_grant_type", unsupported);
}
