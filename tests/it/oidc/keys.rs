//! Signing-key rotation: a new key signs from the next token on, the
//! retired one stays published until every ID token it signed has expired.

use super::{Ctx, field, setup, tokens};
use crate::support::on_both_backends;
use clavis_core::Clock;
use clavis_oidc::keys::Alg;
use clavis_testkit::db::Backend;

on_both_backends!(
    a_rotation_publishes_both_keys_and_new_tokens_use_the_new_one,
    the_retired_key_leaves_the_jwks_once_its_id_tokens_have_expired,
);

/// Rotates the RS256 key: (the old kid, the new kid).
async fn rotate(ctx: &Ctx) -> (String, String) {
    let old = ctx
        .st
        .oidc
        .keys()
        .current(Alg::Rs256)
        .expect("key")
        .kid
        .clone();
    let mut conn = ctx.t.db.conn().await.expect("conn");
    let new = ctx
        .st
        .oidc
        .rotate(
            &mut conn,
            Alg::Rs256,
            ctx.clock.now().timestamp(),
            &clavis_core::Actor::Cli("it".into()),
        )
        .await
        .expect("rotate");
    assert_ne!(old, new);
    (old, new)
}

async fn a_rotation_publishes_both_keys_and_new_tokens_use_the_new_one(backend: Backend) {
    let ctx = setup(backend).await;
    let (old, new) = rotate(&ctx).await;
    let jwks = ctx.st.oidc.keys().jwks();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .filter_map(|k| k["kid"].as_str())
        .collect();
    assert!(kids.contains(&old.as_str()) && kids.contains(&new.as_str()));
    let app = ctx.service().await;
    let tok = tokens(&app, &ctx).await;
    let parsed = clavis_oidc::jws::parse(field(&tok, "id_token")).expect("jws");
    assert_eq!(parsed.kid(), Some(new.as_str()));
}

async fn the_retired_key_leaves_the_jwks_once_its_id_tokens_have_expired(backend: Backend) {
    let ctx = setup(backend).await;
    let (old, new) = rotate(&ctx).await;
    let mut conn = ctx.t.db.conn().await.expect("conn");
    ctx.st
        .oidc
        .reload_keys(&mut conn, ctx.clock.now().timestamp() + 601)
        .await
        .expect("reload");
    let jwks = ctx.st.oidc.keys().jwks().to_string();
    assert!(!jwks.contains(&old), "{jwks}");
    assert!(jwks.contains(&new), "{jwks}");
}
