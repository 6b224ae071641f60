//! What the provider publishes about itself: the discovery document and
//! the JWKS, both snapshotted (relying parties are configured from them).

use super::{Ctx, setup};
use crate::support::http::json_of;
use crate::support::{json_snapshot, on_both_backends};
use actix_web::test::{TestRequest, call_service};
use clavis_testkit::db::Backend;
use serde_json::Value;

on_both_backends!(
    discovery_describes_the_provider,
    jwks_publishes_one_rs256_and_one_es256_public_key,
);

async fn get_json(ctx: &Ctx, uri: &str) -> Value {
    let app = ctx.service().await;
    let r = call_service(&app, TestRequest::get().uri(uri).to_request()).await;
    assert_eq!(r.status(), 200, "{uri}");
    json_of(r).await
}

async fn discovery_describes_the_provider(backend: Backend) {
    let ctx = setup(backend).await;
    let d = get_json(&ctx, "/.well-known/openid-configuration").await;
    json_snapshot!("openid_configuration", d);
}

async fn jwks_publishes_one_rs256_and_one_es256_public_key(backend: Backend) {
    let ctx = setup(backend).await;
    let jwks = get_json(&ctx, "/oidc/jwks").await;
    let keys = jwks["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 2, "one RS256 and one ES256 key");
    for k in keys {
        assert!(
            k.get("d").is_none() && k.get("p").is_none(),
            "no private part is published: {k}"
        );
    }
    // The key material and ids change with every database; the shape of
    // each key does not. Keys made in the same second are listed in kid
    // order, which is random: the snapshot lists them by algorithm (a
    // JWKS's order means nothing to a client).
    let mut jwks = jwks.clone();
    jwks["keys"]
        .as_array_mut()
        .expect("keys")
        .sort_by_key(|k| k["alg"].as_str().unwrap_or("").to_string());
    json_snapshot!("jwks", jwks, {
        ".keys[].kid" => "[kid]",
        ".keys[].n" => "[n]",
        ".keys[].e" => "[e]",
        ".keys[].x" => "[x]",
        ".keys[].y" => "[y]",
    });
}
