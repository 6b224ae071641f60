//! The userinfo endpoint: what an access token tells a client about the
//! person (the claims of the scopes asked: profile, email, rpps, roles).

use super::{field, setup, tokens, userinfo};
use crate::support::http::json_of;
use crate::support::on_both_backends;
use clavis_testkit::db::Backend;
use serde_json::json;

on_both_backends!(
    userinfo_tells_the_nurses_identifiers_professions_and_roles,
    userinfo_refuses_an_unknown_access_token,
);

async fn userinfo_tells_the_nurses_identifiers_professions_and_roles(backend: Backend) {
    let ctx = setup(backend).await;
    let app = ctx.service().await;
    let tok = tokens(&app, &ctx).await;
    let r = userinfo(&app, field(&tok, "access_token")).await;
    assert_eq!(r.status(), 200);
    let info = json_of(r).await;
    assert_eq!(info["sub"], json!(ctx.oid));
    assert_eq!(info["SubjectNameID"], "810003489281");
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
