//! The userinfo endpoint: what an access token tells a client about the
//! person (the claims of the scopes asked: profile, email, rpps, roles),
//! and only while the application that holds it is registered.

use super::admin_clients::admin_auth;
use super::{audit_log, field, refresh, setup, tokens, userinfo};
use crate::support::http::json_of;
use crate::support::on_both_backends;
use actix_web::test::{TestRequest, call_service};
use clavis_testkit::db::Backend;
use serde_json::{Value, json};

on_both_backends!(
    userinfo_tells_the_nurses_identifiers_professions_and_roles,
    userinfo_refuses_an_unknown_access_token,
    a_removed_applications_access_token_is_refused_at_userinfo,
    userinfo_refuses_a_token_of_an_application_removed_without_its_grants,
);

async fn userinfo_tells_the_nurses_identifiers_professions_and_roles(backend: Backend) {
    let ctx = setup(backend).await;
    let app = ctx.service().await;
    let tok = tokens(&app, &ctx).await;
    let r = userinfo(&app, field(&tok, "access_token")).await;
    assert_eq!(r.status(), 200);
    let info = json_of(r).await;
    assert_eq!(info["sub"], json!(ctx.oid));
    assert_eq!(info["SubjectNameID"], "810003489282");
    assert_eq!(info["preferred_username"], "clemoine");
    assert_eq!(
        info["professions"],
        json!([{"code": "60", "label": "Infirmier"}])
    );
    assert_eq!(info["roles"], json!(["ide"]));
}

async fn userinfo_refuses_an_unknown_access_token(backend: Backend) {
    let ctx = setup(backend).await;
    let app = ctx.service().await;
    assert_eq!(userinfo(&app, "not-a-token").await.status(), 401);
}

async fn a_removed_applications_access_token_is_refused_at_userinfo(backend: Backend) {
    let ctx = setup(backend).await;
    let auth = admin_auth(&ctx).await;
    let app = ctx.service().await;
    let tok = tokens(&app, &ctx).await;
    let access = field(&tok, "access_token");
    assert_eq!(userinfo(&app, access).await.status(), 200);
    let r = call_service(
        &app,
        TestRequest::delete()
            .uri(&format!("/admin/api/clients/{}", ctx.client_id))
            .insert_header(auth)
            .to_request(),
    )
    .await;
    assert_eq!(r.status(), 204);
    assert_eq!(userinfo(&app, access).await.status(), 401);
    // Its refresh token is no use either, and its grant is revoked, in the
    // removal's transaction, with the reason.
    assert_eq!(
        refresh(&app, &ctx, field(&tok, "refresh_token"))
            .await
            .status(),
        401
    );
    let mut conn = ctx.t.db.conn().await.expect("conn");
    let token = clavis_store::models::OidcTokenRow::find(
        &mut conn,
        &clavis_core::secret::sha256_hex(access),
    )
    .await
    .expect("find")
    .expect("token");
    let grant = clavis_store::models::OidcGrantRow::find(&mut conn, &token.grant_id)
        .await
        .expect("find")
        .expect("grant");
    assert_eq!(grant.revoked_reason.as_deref(), Some("client_removed"));
    let removed = audit_log(&ctx)
        .await
        .into_iter()
        .find(|e| e.action == "oidc.client.removed")
        .expect("audited");
    let changes: Value = serde_json::from_str(&removed.changes).expect("json");
    assert_eq!(changes["grants_revoked"], 1);
}

/// A client removed by an older version (or by hand) left its grants
/// standing: userinfo checks the client itself.
async fn userinfo_refuses_a_token_of_an_application_removed_without_its_grants(backend: Backend) {
    let ctx = setup(backend).await;
    let app = ctx.service().await;
    let tok = tokens(&app, &ctx).await;
    let access = field(&tok, "access_token");
    let mut conn = ctx.t.db.conn().await.expect("conn");
    let mut row =
        clavis_store::models::OidcClientRow::find_active(&mut conn, &ctx.client_id.as_str().into())
            .await
            .expect("find")
            .expect("client");
    row.removed_at = Some(0);
    row.update(&mut conn).await.expect("update");
    assert_eq!(userinfo(&app, access).await.status(), 401);
}
