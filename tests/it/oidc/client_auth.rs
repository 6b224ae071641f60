//! How a client authenticates at the token endpoint: with its secret by
//! the method it registered (`client_secret_basic` here; no switching to
//! `client_secret_post`), or with a signed assertion (`private_key_jwt`,
//! each assertion once). Any failure is `401 invalid_client`.

use super::{CB, Ctx, VERIFIER, audit_log, code, setup, setup_with};
use crate::support::http::{AppService, basic, form, json_of};
use crate::support::on_both_backends;
use actix_web::dev::ServiceResponse;
use actix_web::test::{TestRequest, call_service};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clavis_core::Clock;
use clavis_oidc::clients::NewClient;
use clavis_testkit::db::Backend;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::json;

on_both_backends!(
    a_wrong_secret_is_refused_with_a_basic_challenge,
    a_client_registered_for_basic_cannot_switch_to_post,
    a_private_key_jwt_assertion_for_another_audience_is_refused,
    a_private_key_jwt_client_redeems_a_code_with_a_signed_assertion,
    a_replayed_assertion_is_refused_and_audited_and_a_fresh_one_still_redeems_the_code,
);

/// A code exchange whose client authentication is in the body (or none).
fn exchange_with(code: &str, auth: &[(&str, &str)]) -> TestRequest {
    let mut pairs = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", CB),
        ("code_verifier", VERIFIER),
    ];
    pairs.extend_from_slice(auth);
    TestRequest::post()
        .uri("/oidc/token")
        .insert_header(("content-type", "application/x-www-form-urlencoded"))
        .set_payload(form(&pairs))
}

async fn a_wrong_secret_is_refused_with_a_basic_challenge(backend: Backend) {
    let ctx = setup(backend).await;
    let app = ctx.service().await;
    let c = code(&app, &ctx).await;
    let req = exchange_with(&c, &[])
        .insert_header(("authorization", basic(&ctx.client_id, "not-the-secret")));
    let r = call_service(&app, req.to_request()).await;
    assert_eq!(r.status(), 401);
    assert!(r.headers().contains_key("www-authenticate"));
    assert_eq!(json_of(r).await["error"], "invalid_client");
}

async fn a_client_registered_for_basic_cannot_switch_to_post(backend: Backend) {
    let ctx = setup(backend).await;
    let app = ctx.service().await;
    let c = code(&app, &ctx).await;
    let r = call_service(
        &app,
        exchange_with(
            &c,
            &[
                ("client_id", &ctx.client_id),
                ("client_secret", &ctx.secret),
            ],
        )
        .to_request(),
    )
    .await;
    assert_eq!(json_of(r).await["error"], "invalid_client");
}

/// A `private_key_jwt` client and the key it signs its assertions with.
struct JwtClient {
    ctx: Ctx,
    key: EcdsaKeyPair,
    rng: ring::rand::SystemRandom,
}

impl JwtClient {
    async fn new(backend: Backend) -> JwtClient {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).expect("gen");
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .expect("kp");
        let pt = key.public_key().as_ref();
        let jwk = json!({"kty": "EC", "crv": "P-256", "kid": "rp-1", "x": URL_SAFE_NO_PAD.encode(&pt[1..33]), "y": URL_SAFE_NO_PAD.encode(&pt[33..65])});
        let mut ctx = setup_with(
            backend,
            NewClient {
                auth_method: Some("private_key_jwt".into()),
                jwks: Some(json!({"keys": [jwk]})),
                ..NewClient::default()
            },
        )
        .await;
        ctx.secret.clear();
        JwtClient { ctx, key, rng }
    }

    /// An assertion of the client for `aud`, with this `jti`.
    fn assertion(&self, aud: &str, jti: &str) -> String {
        let now = self.ctx.clock.now().timestamp();
        let id = &self.ctx.client_id;
        clavis_oidc::jws::encode(
            &json!({"alg": "ES256", "kid": "rp-1"}),
            &json!({"iss": id, "sub": id, "aud": aud, "exp": now + 60, "iat": now, "jti": jti}),
            |input| {
                self.key
                    .sign(&self.rng, input)
                    .expect("sign")
                    .as_ref()
                    .to_vec()
            },
        )
    }

    /// The exchange of `code` authenticated by `assertion`.
    async fn exchange<A: AppService>(
        &self,
        app: &A,
        code: &str,
        assertion: &str,
    ) -> ServiceResponse<A::Body> {
        let auth = [
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion),
        ];
        call_service(app, exchange_with(code, &auth).to_request()).await
    }
}

const TOKEN_ENDPOINT: &str = "http://localhost:8080/oidc/token";

async fn a_private_key_jwt_assertion_for_another_audience_is_refused(backend: Backend) {
    let client = JwtClient::new(backend).await;
    let app = client.ctx.service().await;
    let code = code(&app, &client.ctx).await;
    let wrong = client.assertion("https://elsewhere.test/token", "j1");
    let r = client.exchange(&app, &code, &wrong).await;
    assert_eq!(
        json_of(r).await["error"],
        "invalid_client",
        "wrong audience"
    );
}

async fn a_private_key_jwt_client_redeems_a_code_with_a_signed_assertion(backend: Backend) {
    let client = JwtClient::new(backend).await;
    let app = client.ctx.service().await;
    let code = code(&app, &client.ctx).await;
    let good = client.assertion(TOKEN_ENDPOINT, "j1");
    let r = client.exchange(&app, &code, &good).await;
    assert_eq!(r.status(), 200);
}

async fn a_replayed_assertion_is_refused_and_audited_and_a_fresh_one_still_redeems_the_code(
    backend: Backend,
) {
    let client = JwtClient::new(backend).await;
    let app = client.ctx.service().await;
    let first = code(&app, &client.ctx).await;
    let good = client.assertion(TOKEN_ENDPOINT, "j1");
    assert_eq!(client.exchange(&app, &first, &good).await.status(), 200);
    // The same assertion again, with a fresh code: refused (each assertion
    // once, OpenID Connect Core §9) and audited; the code stays usable.
    let second = code(&app, &client.ctx).await;
    let r = client.exchange(&app, &second, &good).await;
    assert_eq!(r.status(), 401);
    assert_eq!(
        json_of(r).await["error"],
        "invalid_client",
        "replayed assertion"
    );
    let audit = audit_log(&client.ctx).await;
    assert!(
        audit
            .iter()
            .any(|a| a.action == "oidc.client_assertion.replayed" && a.changes.contains("j1"))
    );
    // A new assertion (another jti) redeems the code.
    let fresh = client.assertion(TOKEN_ENDPOINT, "j2");
    assert_eq!(client.exchange(&app, &second, &fresh).await.status(), 200);
}
