//! Token introspection (RFC 7662) and revocation (RFC 7009), for the
//! confidential client.

use super::{Ctx, field, setup, tokens};
use crate::support::http::{basic, form, json_of};
use crate::support::on_both_backends;
use actix_web::test::{TestRequest, call_service};
use clavis_testkit::db::Backend;
use serde_json::json;

on_both_backends!(
    introspection_tells_an_active_token_and_its_subject,
    introspection_of_an_unknown_token_says_only_inactive,
    revoking_the_refresh_token_ends_the_grant,
    a_removed_application_can_no_longer_introspect_its_tokens,
);

fn introspect(ctx: &Ctx, token: &str) -> actix_http::Request {
    TestRequest::post()
        .uri("/oidc/introspect")
        .insert_header(("authorization", basic(&ctx.client_id, &ctx.secret)))
        .insert_header(("content-type", "application/x-www-form-urlencoded"))
        .set_payload(form(&[("token", token)]))
        .to_request()
}

async fn introspection_tells_an_active_token_and_its_subject(backend: Backend) {
    let ctx = setup(backend).await;
    let app = ctx.service().await;
    let tok = tokens(&app, &ctx).await;
    let v = json_of(call_service(&app, introspect(&ctx, field(&tok, "access_token"))).await).await;
    assert_eq!(v["active"], true);
    assert_eq!(v["sub"], json!(ctx.oid));
}

async fn introspection_of_an_unknown_token_says_only_inactive(backend: Backend) {
    let ctx = setup(backend).await;
    let app = ctx.service().await;
    assert_eq!(
        json_of(call_service(&app, introspect(&ctx, "garbage")).await).await,
        json!({"active": false})
    );
}

async fn revoking_the_refresh_token_ends_the_grant(backend: Backend) {
    let ctx = setup(backend).await;
    let app = ctx.service().await;
    let tok = tokens(&app, &ctx).await;
    let r = call_service(
        &app,
        TestRequest::post()
            .uri("/oidc/revoke")
            .insert_header(("authorization", basic(&ctx.client_id, &ctx.secret)))
            .insert_header(("content-type", "application/x-www-form-urlencoded"))
            .set_payload(form(&[("token", field(&tok, "refresh_token"))]))
            .to_request(),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        json_of(call_service(&app, introspect(&ctx, field(&tok, "access_token"))).await).await["active"],
        false,
        "revoking the refresh token ends the grant"
    );
}

async fn a_removed_application_can_no_longer_introspect_its_tokens(backend: Backend) {
    let ctx = setup(backend).await;
    let app = ctx.service().await;
    let tok = tokens(&app, &ctx).await;
    let mut conn = ctx.t.db.conn().await.expect("conn");
    clavis_oidc::clients::remove(
        &mut conn,
        clavis_core::Clock::now(&ctx.clock),
        &ctx.client_id.as_str().into(),
        &clavis_core::Actor::Cli("it".into()),
    )
    .await
    .expect("remove");
    let r = call_service(&app, introspect(&ctx, field(&tok, "access_token"))).await;
    assert_eq!(r.status(), 401);
    assert_eq!(json_of(r).await["error"], "invalid_client");
}
