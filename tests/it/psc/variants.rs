//! The ways PSC may be met: `private_key_jwt` instead of a secret, ID
//! tokens signed ES256 or PS256, userinfo as a signed JWT; and the person
//! who signed in through PSC adding a FIDO2 key where the hospital allows
//! it.

use super::*;
use crate::support::on_both_backends;
use clavis_oidc::keys::SigningKey;

on_both_backends!(
    private_key_jwt_es256_id_tokens_and_a_signed_userinfo_link,
    ps256_id_tokens_and_a_signed_userinfo_link,
);

async fn linked_with<A: AppService>(svc: &A, t: &TestApp) {
    let r = link_as(svc, &t.session().cookie, "/me", Some(CLAIRE.id)).await;
    assert_eq!(location(&r), "/me", "{}", text(r).await);
    let link = link_of(t).await.expect("linked");
    assert_eq!(link.national_id, CLAIRE.national_id);
}

async fn private_key_jwt_es256_id_tokens_and_a_signed_userinfo_link(backend: Backend) {
    let rng = ring::rand::SystemRandom::new();
    let der = ring::signature::EcdsaKeyPair::generate_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &rng,
    )
    .expect("key");
    let key = SigningKey::from_private_pkcs8(der.as_ref()).expect("P-256 key");
    let jwks = json!({"keys": [key.public_jwk]}).to_string();
    let psc = StandIn::start(&[
        ("CLIENT_AUTH", "private_key_jwt"),
        ("CLIENT_JWKS", &jwks),
        ("ID_TOKEN_ALG", "ES256"),
        ("USERINFO_SIGNED", "1"),
    ]);
    let t = app_with(
        backend,
        psc_config(&psc),
        ClientAuth::PrivateKey(Box::new(key)),
    )
    .await;
    let svc = t.service().await;
    linked_with(&svc, &t).await;
    let sent = psc.requests().await;
    assert_eq!(sent["token"][0]["client_auth"], "client_assertion");
}

async fn ps256_id_tokens_and_a_signed_userinfo_link(backend: Backend) {
    let psc = StandIn::start(&[("ID_TOKEN_ALG", "PS256"), ("USERINFO_SIGNED", "1")]);
    let t = app(backend, &psc).await;
    let svc = t.service().await;
    linked_with(&svc, &t).await;
}
