//! The refresh-token grant: each refresh rotates the refresh token, and a
//! rotated one presented again is taken as stolen: the whole grant dies
//! (OAuth 2.0 Security BCP §4.14).

use super::{audit_log, claims_of, field, refresh, setup, tokens, userinfo};
use crate::support::http::json_of;
use crate::support::on_both_backends;
use clavis_testkit::db::Backend;

on_both_backends!(
    a_refresh_gives_new_tokens_and_rotates_the_refresh_token,
    a_refresh_brings_only_the_scopes_the_application_still_has,
    a_rotated_refresh_token_presented_again_revokes_the_grant_and_is_audited,
);

async fn a_refresh_gives_new_tokens_and_rotates_the_refresh_token(backend: Backend) {
    let ctx = setup(backend).await;
    let app = ctx.service().await;
    let tok = tokens(&app, &ctx).await;
    let rt1 = field(&tok, "refresh_token");
    let r = refresh(&app, &ctx, rt1).await;
    assert_eq!(r.status(), 200);
    let tok2 = json_of(r).await;
    assert_ne!(rt1, field(&tok2, "refresh_token"));
    assert_eq!(
        userinfo(&app, field(&tok2, "access_token")).await.status(),
        200
    );
}

async fn a_rotated_refresh_token_presented_again_revokes_the_grant_and_is_audited(
    backend: Backend,
) {
    let ctx = setup(backend).await;
    let app = ctx.service().await;
    let tok = tokens(&app, &ctx).await;
    let rt1 = field(&tok, "refresh_token");
    let tok2 = json_of(refresh(&app, &ctx, rt1).await).await;
    let r = refresh(&app, &ctx, rt1).await;
    assert_eq!(r.status(), 400);
    assert_eq!(json_of(r).await["error"], "invalid_grant");
    // Reuse revoked the grant: the new refresh token and access token die too.
    let r = refresh(&app, &ctx, field(&tok2, "refresh_token")).await;
    assert_eq!(json_of(r).await["error"], "invalid_grant");
    assert_eq!(
        userinfo(&app, field(&tok2, "access_token")).await.status(),
        401
    );
    let audit = audit_log(&ctx).await;
    assert!(audit.iter().any(|a| a.action == "oidc.refresh.reused"));
}

async fn a_refresh_brings_only_the_scopes_the_application_still_has(backend: Backend) {
    let ctx = setup(backend).await;
    let app = ctx.service().await;
    let tok = tokens(&app, &ctx).await;
    assert!(
        field(&tok, "scope").split(' ').any(|s| s == "rpps"),
        "{tok}"
    );
    // An operator narrows the application's scopes: no more RPPS.
    let mut conn = ctx.t.db.conn().await.expect("conn");
    clavis_oidc::clients::update(
        &mut conn,
        clavis_core::Clock::now(&ctx.clock),
        &clavis_core::ClientId::from(ctx.client_id.as_str()),
        clavis_oidc::clients::ClientChanges {
            scopes: Some(vec!["openid".into(), "profile".into()]),
            ..Default::default()
        },
        &ctx.st.oidc.registration_rules(),
        &clavis_core::Actor::Cli("it".into()),
    )
    .await
    .expect("narrowed");
    drop(conn);
    let r = refresh(&app, &ctx, field(&tok, "refresh_token")).await;
    assert_eq!(r.status(), 200);
    let tok2 = json_of(r).await;
    assert_eq!(field(&tok2, "scope"), "openid profile", "{tok2}");
    let id_token = claims_of(field(&tok2, "id_token"));
    assert!(id_token.get("rpps").is_none(), "{id_token}");
    let info = json_of(userinfo(&app, field(&tok2, "access_token")).await).await;
    assert!(
        info.get("email").is_none() && info.get("rpps").is_none(),
        "{info}"
    );
}
