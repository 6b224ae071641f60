//! Applications (OIDC clients) through the admin API: registration by the
//! same rules as `clavis client add`, listing without secrets, secret
//! rotation and removal, each audited.

use super::{Ctx, audit_log, setup};
use crate::support::http::{AppService, json_of};
use crate::support::on_both_backends;
use actix_web::test::{TestRequest, call_service};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clavis_core::Clock;
use clavis_testkit::db::Backend;
use serde_json::{Value, json};

on_both_backends!(
    a_redirect_uri_that_is_not_https_is_refused_with_the_field_named,
    an_assurance_level_the_hospital_does_not_configure_is_refused,
    an_application_is_registered_with_a_256_bit_secret_and_listed_without_it,
    rotating_a_secret_gives_a_new_one_and_is_audited,
    a_removed_application_is_unknown_and_its_removal_audited,
    without_a_token_the_applications_are_not_listed,
);

/// The `Authorization` header of a fresh admin API token.
pub(super) async fn admin_auth(ctx: &Ctx) -> (&'static str, String) {
    let mut conn = ctx.t.db.conn().await.expect("conn");
    let token = clavis_web::tokens::create(
        &mut conn,
        "dsi",
        &clavis_core::Actor::Cli("it".into()),
        ctx.clock.now(),
    )
    .await
    .expect("token");
    ("authorization", format!("Bearer {}", token.expose()))
}

/// POST /admin/api/clients with `body`: (status, answer).
async fn add(app: &impl AppService, auth: &(&'static str, String), body: Value) -> (u16, Value) {
    let r = call_service(
        app,
        TestRequest::post()
            .uri("/admin/api/clients")
            .insert_header(auth.clone())
            .set_json(body)
            .to_request(),
    )
    .await;
    (r.status().as_u16(), json_of(r).await)
}

/// Registers the DUI application: (client id, secret).
async fn add_dui(app: &impl AppService, auth: &(&'static str, String)) -> (String, String) {
    let (status, c) = add(
        app,
        auth,
        json!({"name": "DUI", "redirect_uris": ["https://dui.chu.test/cb"], "require_acr": "eidas2"}),
    )
    .await;
    assert_eq!(status, 201, "{c}");
    (
        c["client_id"].as_str().expect("id").to_string(),
        c["client_secret"].as_str().expect("secret").to_string(),
    )
}

async fn a_redirect_uri_that_is_not_https_is_refused_with_the_field_named(backend: Backend) {
    let ctx = setup(backend).await;
    let auth = admin_auth(&ctx).await;
    let app = ctx.service().await;
    let (status, body) = add(
        &app,
        &auth,
        json!({"name": "DUI", "redirect_uris": ["http://dui.chu.test/cb"]}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.to_string().contains("redirect_uri"), "{body}");
}

/// The same rule the CLI meets (`clients::register`).
async fn an_assurance_level_the_hospital_does_not_configure_is_refused(backend: Backend) {
    let ctx = setup(backend).await;
    let auth = admin_auth(&ctx).await;
    let app = ctx.service().await;
    let (status, body) = add(
        &app,
        &auth,
        json!({"name": "DUI", "redirect_uris": ["https://dui.chu.test/cb"], "require_acr": "eidas9"}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.to_string().contains("require_acr"), "{body}");
}

async fn an_application_is_registered_with_a_256_bit_secret_and_listed_without_it(
    backend: Backend,
) {
    let ctx = setup(backend).await;
    let auth = admin_auth(&ctx).await;
    let app = ctx.service().await;
    let (_, secret) = add_dui(&app, &auth).await;
    assert_eq!(
        URL_SAFE_NO_PAD.decode(&secret).expect("b64").len(),
        32,
        "256-bit secret"
    );
    let list = json_of(
        call_service(
            &app,
            TestRequest::get()
                .uri("/admin/api/clients")
                .insert_header(auth.clone())
                .to_request(),
        )
        .await,
    )
    .await;
    assert_eq!(list.as_array().expect("list").len(), 2);
    assert!(
        !list.to_string().contains(&secret),
        "secrets are never listed"
    );
    let audit = audit_log(&ctx).await;
    assert!(audit.iter().any(|e| e.action == "oidc.client.added"));
}

async fn rotating_a_secret_gives_a_new_one_and_is_audited(backend: Backend) {
    let ctx = setup(backend).await;
    let auth = admin_auth(&ctx).await;
    let app = ctx.service().await;
    let (id, secret) = add_dui(&app, &auth).await;
    let r = call_service(
        &app,
        TestRequest::post()
            .uri(&format!("/admin/api/clients/{id}/rotate-secret"))
            .insert_header(auth.clone())
            .to_request(),
    )
    .await;
    let new_secret = json_of(r).await["client_secret"]
        .as_str()
        .expect("s")
        .to_string();
    assert_ne!(new_secret, secret);
    let audit = audit_log(&ctx).await;
    assert!(
        audit
            .iter()
            .any(|e| e.action == "oidc.client.secret_rotated")
    );
}

async fn a_removed_application_is_unknown_and_its_removal_audited(backend: Backend) {
    let ctx = setup(backend).await;
    let auth = admin_auth(&ctx).await;
    let app = ctx.service().await;
    let (id, _) = add_dui(&app, &auth).await;
    let r = call_service(
        &app,
        TestRequest::delete()
            .uri(&format!("/admin/api/clients/{id}"))
            .insert_header(auth.clone())
            .to_request(),
    )
    .await;
    assert_eq!(r.status(), 204);
    let r = call_service(
        &app,
        TestRequest::get()
            .uri(&format!("/admin/api/clients/{id}"))
            .insert_header(auth.clone())
            .to_request(),
    )
    .await;
    assert_eq!(r.status(), 404);
    let audit = audit_log(&ctx).await;
    assert!(audit.iter().any(|e| e.action == "oidc.client.removed"));
}

async fn without_a_token_the_applications_are_not_listed(backend: Backend) {
    let ctx = setup(backend).await;
    let app = ctx.service().await;
    let r = call_service(
        &app,
        TestRequest::get().uri("/admin/api/clients").to_request(),
    )
    .await;
    assert_eq!(r.status(), 401);
}
