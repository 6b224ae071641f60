//! The token endpoint's authorization-code grant: a code and its PKCE
//! verifier give a signed ID token (its claims snapshotted) and an access
//! token; a replayed, expired or mismatched code gets `invalid_grant`
//! (RFC 6749 §5.2). Client authentication is in `client_auth.rs`, refresh
//! in `refresh.rs`.

use super::{CB, VERIFIER, audit_log, code, exchange, field, refresh, setup, token_req, userinfo};
use crate::support::http::json_of;
use crate::support::{json_snapshot, on_both_backends};
use actix_web::test::call_service;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clavis_testkit::db::Backend;
use serde_json::json;
use sha2::{Digest, Sha256};

on_both_backends!(
    a_code_and_its_verifier_give_a_signed_id_token_and_a_bearer_access_token,
    a_replayed_code_is_refused_and_revokes_what_the_first_use_issued,
    a_wrong_pkce_verifier_is_refused,
    a_missing_pkce_verifier_is_refused,
    another_redirect_uri_than_the_authorizations_is_refused,
    a_code_past_its_60_seconds_is_refused,
    an_unknown_grant_type_is_refused,
    a_code_writes_nothing_until_it_is_exchanged,
    a_code_altered_or_not_sealed_here_is_unknown,
    a_code_from_before_codes_were_sealed_replayed_is_still_a_replay,
);

async fn a_code_and_its_verifier_give_a_signed_id_token_and_a_bearer_access_token(
    backend: Backend,
) {
    let ctx = setup(backend).await;
    let app = ctx.service().await;
    let code = code(&app, &ctx).await;
    let r = exchange(&app, &ctx, &code).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()
            .get("cache-control")
            .and_then(|h| h.to_str().ok()),
        Some("no-store")
    );
    let tok = json_of(r).await;
    assert_eq!(tok["token_type"], "Bearer");
    // The ID token verifies against the published JWKS.
    let jwks = ctx.st.oidc.keys().jwks();
    let parsed = clavis_oidc::jws::parse(field(&tok, "id_token")).expect("jws");
    clavis_oidc::jws::verify_with_set(&parsed, &jwks).expect("signature");
    assert_eq!(parsed.alg(), "RS256");
    let c = &parsed.claims;
    assert_eq!(c["sub"], json!(ctx.oid));
    assert_eq!(c["aud"], json!(ctx.client_id));
    assert_eq!(c["nonce"], "n-1", "nonce echoed");
    assert_eq!(c["sid"], json!(ctx.session_id));
    assert_eq!(
        c["at_hash"],
        json!(
            URL_SAFE_NO_PAD.encode(&Sha256::digest(field(&tok, "access_token").as_bytes())[..16])
        )
    );
    let mut redacted = c.clone();
    for k in ["sub", "aud", "azp", "sid", "at_hash"] {
        redacted[k] = json!(format!("[{k}]"));
    }
    json_snapshot!("id_token_claims", redacted);
    // One event for the whole authorisation, written by the exchange: the
    // code itself wrote nothing.
    let audit = audit_log(&ctx).await;
    let issued: Vec<_> = audit
        .iter()
        .filter(|a| ["oidc.authorized", "oidc.tokens.issued"].contains(&a.action.as_str()))
        .collect();
    assert_eq!(issued.len(), 1, "{issued:?}");
    assert_eq!(issued[0].action, "oidc.tokens.issued");
    assert_eq!(
        issued[0].actor,
        format!("client:{}", ctx.client_id),
        "{issued:?}"
    );
    let changes: serde_json::Value = serde_json::from_str(&issued[0].changes).expect("json");
    assert_eq!(changes["session_id"], json!(ctx.session_id));
    assert_eq!(changes["oid"], json!(ctx.oid));
    assert_eq!(changes["acr"], c["acr"]);
    assert_eq!(changes["scope"], "openid profile email rpps roles");
}

/// The authorization endpoint writes nothing: the code carries its grant,
/// sealed. Until it is exchanged there is no grant, no audit event, and
/// the session has no application to tell of its end.
async fn a_code_writes_nothing_until_it_is_exchanged(backend: Backend) {
    let ctx = setup(backend).await;
    let app = ctx.service().await;
    let before = audit_log(&ctx).await.len();
    let code = code(&app, &ctx).await;
    assert_eq!(grants_of(&ctx).await, 0);
    assert_eq!(audit_log(&ctx).await.len(), before);
    // Opaque: nothing of the request shows in it.
    for visible in ["openid", "n-1", CB, &ctx.client_id] {
        assert!(!code.contains(visible), "{visible} in {code}");
    }
    assert!(code.len() < 1_000, "{} characters", code.len());
    let r = exchange(&app, &ctx, &code).await;
    assert_eq!(r.status(), 200);
    assert_eq!(grants_of(&ctx).await, 1);
}

/// A code altered by one character, cut short, not one Clavis sealed, or
/// sealed for another client (another installation's: the tests share one
/// master key, so it opens, and names a client that is not this one) is
/// unknown; refusing it stores nothing. (Another master key's codes do
/// not open at all: `clavis_oidc`'s unit tests.)
async fn a_code_altered_or_not_sealed_here_is_unknown(backend: Backend) {
    let ctx = setup(backend).await;
    let app = ctx.service().await;
    let code = code(&app, &ctx).await;
    let mut altered: Vec<char> = code.chars().collect();
    let i = altered.len() / 2;
    altered[i] = if altered[i] == 'A' { 'B' } else { 'A' };
    let altered: String = altered.into_iter().collect();
    let other = {
        let other = setup(backend).await;
        let other_app = other.service().await;
        super::code(&other_app, &other).await
    };
    for bad in [altered.as_str(), "", "x", &other, &code[..code.len() - 4]] {
        let r = exchange(&app, &ctx, bad).await;
        assert_eq!(r.status(), 400, "{bad}");
        let body = json_of(r).await;
        assert_eq!(body["error"], "invalid_grant", "{bad}: {body}");
    }
    assert_eq!(grants_of(&ctx).await, 0);
    // The real one still works.
    assert_eq!(exchange(&app, &ctx, &code).await.status(), 200);
}

/// A code issued and exchanged before codes were sealed (its grant stored
/// under the code's hash), presented again after the upgrade, is still a
/// replay: what its first use issued is revoked.
async fn a_code_from_before_codes_were_sealed_replayed_is_still_a_replay(backend: Backend) {
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    let ctx = setup(backend).await;
    let app = ctx.service().await;
    let code = code(&app, &ctx).await;
    let first = json_of(exchange(&app, &ctx, &code).await).await;
    // The grant as the version before stored it: under the hash of its
    // random code.
    let legacy = "k3x9Q2m7LrVt8WcYp1ZbN4dF6hJs0aGe5uIoTqXyRw";
    let mut conn = ctx.t.db.conn().await.expect("conn");
    {
        use clavis_store::schema::oidc_grants::dsl;
        clavis_store::with_conn!(&mut conn, c => diesel::update(dsl::oidc_grants)
            .set(dsl::code_hash.eq(clavis_core::secret::sha256_hex(legacy)))
            .execute(c)
            .await)
        .expect("the legacy grant");
    }
    let r = exchange(&app, &ctx, legacy).await;
    assert_eq!(r.status(), 400);
    assert_eq!(
        json_of(r).await["error_description"],
        "authorization code already used"
    );
    assert_eq!(
        userinfo(&app, field(&first, "access_token")).await.status(),
        401,
        "the first exchange's access token is revoked"
    );
    let audit = audit_log(&ctx).await;
    assert!(audit.iter().any(|a| a.action == "oidc.code.replayed"));
    // A code that neither opens nor was stored is unknown, and revokes
    // nothing.
    let r = exchange(&app, &ctx, "never-issued").await;
    assert_eq!(
        json_of(r).await["error_description"],
        "unknown authorization code"
    );
}

/// How many grants are stored.
async fn grants_of(ctx: &super::Ctx) -> i64 {
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    let mut conn = ctx.t.db.conn().await.expect("conn");
    clavis_store::with_conn!(&mut conn, c => clavis_store::schema::oidc_grants::table
        .count()
        .get_result::<i64>(c)
        .await)
    .expect("count")
}

async fn a_replayed_code_is_refused_and_revokes_what_the_first_use_issued(backend: Backend) {
    let ctx = setup(backend).await;
    let app = ctx.service().await;
    let code = code(&app, &ctx).await;
    let first = json_of(exchange(&app, &ctx, &code).await).await;
    let r = exchange(&app, &ctx, &code).await;
    assert_eq!(r.status(), 400);
    assert_eq!(json_of(r).await["error"], "invalid_grant");
    assert_eq!(
        userinfo(&app, field(&first, "access_token")).await.status(),
        401,
        "the first exchange's access token is revoked"
    );
    let r = refresh(&app, &ctx, field(&first, "refresh_token")).await;
    assert_eq!(json_of(r).await["error"], "invalid_grant");
}

async fn a_wrong_pkce_verifier_is_refused(backend: Backend) {
    let ctx = setup(backend).await;
    let app = ctx.service().await;
    let c = code(&app, &ctx).await;
    let r = call_service(
        &app,
        token_req(
            &ctx,
            &[
                ("grant_type", "authorization_code"),
                ("code", &c),
                ("redirect_uri", CB),
                ("code_verifier", "x".repeat(43).as_str()),
            ],
        )
        .to_request(),
    )
    .await;
    assert_eq!(json_of(r).await["error"], "invalid_grant");
}

async fn a_missing_pkce_verifier_is_refused(backend: Backend) {
    let ctx = setup(backend).await;
    let app = ctx.service().await;
    let c = code(&app, &ctx).await;
    let r = call_service(
        &app,
        token_req(
            &ctx,
            &[
                ("grant_type", "authorization_code"),
                ("code", &c),
                ("redirect_uri", CB),
            ],
        )
        .to_request(),
    )
    .await;
    assert_eq!(json_of(r).await["error"], "invalid_grant");
}

async fn another_redirect_uri_than_the_authorizations_is_refused(backend: Backend) {
    let ctx = setup(backend).await;
    let app = ctx.service().await;
    let c = code(&app, &ctx).await;
    let r = call_service(
        &app,
        token_req(
            &ctx,
            &[
                ("grant_type", "authorization_code"),
                ("code", &c),
                ("redirect_uri", "https://dpi.chu.test/other"),
                ("code_verifier", VERIFIER),
            ],
        )
        .to_request(),
    )
    .await;
    assert_eq!(json_of(r).await["error"], "invalid_grant");
}

async fn a_code_past_its_60_seconds_is_refused(backend: Backend) {
    let ctx = setup(backend).await;
    let app = ctx.service().await;
    let c = code(&app, &ctx).await;
    ctx.clock.advance(chrono::Duration::seconds(61));
    let r = exchange(&app, &ctx, &c).await;
    assert_eq!(json_of(r).await["error"], "invalid_grant");
}

async fn an_unknown_grant_type_is_refused(backend: Backend) {
    let ctx = setup(backend).await;
    let app = ctx.service().await;
    let r = call_service(
        &app,
        token_req(&ctx, &[("grant_type", "password")]).to_request(),
    )
    .await;
    assert_eq!(json_of(r).await["error"], "unsupported_grant_type");
}
