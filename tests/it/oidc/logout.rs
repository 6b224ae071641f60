//! Logout: RP-initiated (`/oidc/logout` with `id_token_hint`, OpenID
//! Connect RP-Initiated Logout 1.0) ends the SSO session and what it
//! granted; the back-channel (OpenID Connect Back-Channel Logout 1.0)
//! tells each client with a signed logout token, retried when delivery
//! fails.

use super::{
    Ctx, audit_log, authorize_as_nurse, claims_of, field, refresh, setup, setup_with_config,
    sign_in_to_the_client, tokens,
};
use crate::support::http::{AppService, form, json_of, location};
use crate::support::on_both_backends;
use actix_web::dev::ServiceResponse;
use clavis_core::Clock;
use clavis_oidc::clients::NewClient;
use clavis_testkit::db::Backend;
use serde_json::json;

on_both_backends!(
    an_unregistered_post_logout_uri_gets_an_error_page_and_the_session_stays,
    logout_with_id_token_hint_ends_the_session_and_returns_to_the_client_with_its_state,
    the_back_channel_tells_the_client_with_a_signed_logout_token,
    a_failed_back_channel_delivery_is_retried_later_and_audited,
);

/// A one-request HTTP endpoint on 127.0.0.1 that answers `status` and
/// records the body it receives.
pub(super) async fn backchannel_receiver(
    status: u16,
) -> (String, crate::support::receiver::Received) {
    crate::support::receiver::receiver(status).await
}

/// The test client, with a back-channel logout URI on this machine (so
/// with `oidc.backchannel.allow_local_targets`).
pub(super) async fn setup_with_backchannel(backend: Backend, uri: String) -> Ctx {
    let mut oidc = clavis_oidc::OidcConfig::default();
    oidc.backchannel.allow_local_targets = true;
    setup_with_config(
        backend,
        NewClient {
            backchannel_logout_uri: Some(uri),
            ..NewClient::default()
        },
        oidc,
    )
    .await
}

/// `/oidc/logout` with these parameters and the nurse's session.
async fn logout<A: AppService>(
    app: &A,
    ctx: &Ctx,
    pairs: &[(&str, &str)],
) -> ServiceResponse<A::Body> {
    authorize_as_nurse(app, ctx, &format!("/oidc/logout?{}", form(pairs))).await
}

/// The back-channel deliveries due now, as the background task runs them.
pub(super) async fn deliver_due(ctx: &Ctx) -> usize {
    let http = clavis_oidc::backchannel::http_client(&ctx.st.oidc.cfg.backchannel).expect("client");
    clavis_oidc::backchannel::deliver_due(&ctx.st.oidc, &ctx.t.db, &http, ctx.clock.now())
        .await
        .expect("deliver")
}

async fn an_unregistered_post_logout_uri_gets_an_error_page_and_the_session_stays(
    backend: Backend,
) {
    let ctx = setup(backend).await;
    let app = ctx.service().await;
    let tok = tokens(&app, &ctx).await;
    let r = logout(
        &app,
        &ctx,
        &[
            ("id_token_hint", field(&tok, "id_token")),
            ("post_logout_redirect_uri", "https://evil.test/"),
        ],
    )
    .await;
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none());
    let mut conn = ctx.t.db.conn().await.expect("conn");
    let s = clavis_store::models::SsoSessionRow::find(&mut conn, &ctx.session_id)
        .await
        .expect("find")
        .expect("row");
    assert!(s.end_reason.is_none(), "the session is untouched");
}

async fn logout_with_id_token_hint_ends_the_session_and_returns_to_the_client_with_its_state(
    backend: Backend,
) {
    let ctx = setup(backend).await;
    let app = ctx.service().await;
    let tok = tokens(&app, &ctx).await;
    let r = logout(
        &app,
        &ctx,
        &[
            ("id_token_hint", field(&tok, "id_token")),
            ("post_logout_redirect_uri", "https://dpi.chu.test/bye"),
            ("state", "s2"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "https://dpi.chu.test/bye?state=s2");
    let mut conn = ctx.t.db.conn().await.expect("conn");
    let s = clavis_store::models::SsoSessionRow::find(&mut conn, &ctx.session_id)
        .await
        .expect("find")
        .expect("row");
    assert_eq!(s.end_reason.map(|r| r.as_str()), Some("logout"));
    // The refresh token died with the session.
    let r = refresh(&app, &ctx, field(&tok, "refresh_token")).await;
    assert_eq!(json_of(r).await["error"], "invalid_grant");
}

async fn the_back_channel_tells_the_client_with_a_signed_logout_token(backend: Backend) {
    let (uri, got) = backchannel_receiver(200).await;
    let ctx = setup_with_backchannel(backend, uri).await;
    let app = ctx.service().await;
    let tok = tokens(&app, &ctx).await;
    let r = logout(
        &app,
        &ctx,
        &[
            ("id_token_hint", field(&tok, "id_token")),
            ("post_logout_redirect_uri", "https://dpi.chu.test/bye"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    // One notification, delivered, signed, with sid and the event.
    assert_eq!(deliver_due(&ctx).await, 1);
    let body = got.first().await;
    let token = url::form_urlencoded::parse(body.as_bytes())
        .find(|(k, _)| k == "logout_token")
        .expect("logout_token")
        .1
        .into_owned();
    let parsed = clavis_oidc::jws::parse(&token).expect("jws");
    clavis_oidc::jws::verify_with_set(&parsed, &ctx.st.oidc.keys().jwks()).expect("signed");
    assert_eq!(parsed.header["typ"], "logout+jwt");
    let c = claims_of(&token);
    assert_eq!(c["sid"], json!(ctx.session_id));
    assert_eq!(c["sub"], json!(ctx.oid));
    assert!(c["events"].get(clavis_oidc::backchannel::EVENT).is_some());
    assert!(c.get("nonce").is_none());
    let mut conn = ctx.t.db.conn().await.expect("conn");
    let rows = clavis_store::models::LogoutOutboxRow::for_session(&mut conn, &ctx.session_id)
        .await
        .expect("outbox");
    assert!(rows[0].delivered_at.is_some());
}

async fn a_failed_back_channel_delivery_is_retried_later_and_audited(backend: Backend) {
    let (uri, got) = backchannel_receiver(500).await;
    let ctx = setup_with_backchannel(backend, uri).await;
    let app = ctx.service().await;
    sign_in_to_the_client(&app, &ctx).await;
    // An operator revokes the session (any end counts, not only logout).
    let mut conn = ctx.t.db.conn().await.expect("conn");
    conn.transaction(async |tx| {
        clavis_sso::end(
            tx,
            ctx.clock.now(),
            &ctx.session_id,
            clavis_core::SessionEndReason::Revoked,
            &clavis_core::Actor::Cli("it".into()),
        )
        .await
    })
    .await
    .expect("end");
    assert_eq!(deliver_due(&ctx).await, 0);
    got.first().await;
    let rows = clavis_store::models::LogoutOutboxRow::for_session(&mut conn, &ctx.session_id)
        .await
        .expect("outbox");
    assert_eq!(rows[0].attempts, 1);
    assert_eq!(rows[0].last_error.as_deref(), Some("HTTP 500"));
    assert!(rows[0].next_attempt_at > ctx.clock.now().timestamp());
    // Not due yet: nothing is sent.
    assert_eq!(deliver_due(&ctx).await, 0);
    let audit = audit_log(&ctx).await;
    assert!(audit.iter().any(|a| a.action == "oidc.backchannel.failed"));
}

/// PostgreSQL (several nodes): a code's exchange and the end of its
/// session meet at the audit head's lock, which each takes (the exchange's
/// `oidc.tokens.issued`, the end's `session.ended`) and holds to its
/// commit; neither takes a lock on the other's rows. An exchange that has
/// the lock first is committed before the end revokes the session's
/// grants: its grant is revoked and its application owed a logout. An
/// exchange that gets it after the end committed sees the session ended
/// when it checks after its audit event, and rolls back. These are the
/// statements `clavis_oidc`'s exchange runs, in its order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exchange_and_the_end_of_its_session_take_turns() {
    use clavis_store::DbConn;
    use clavis_store::models::{LogoutOutboxRow, OidcGrantRow, SsoSessionRow};
    let ctx = setup(Backend::Postgres).await;
    let now = ctx.clock.now();
    let mut watcher = ctx.t.db.conn().await.expect("watcher");
    let first = SsoSessionRow::find(&mut watcher, &ctx.session_id)
        .await
        .expect("read")
        .expect("the nurse's session");
    let grant_of = |session: &SsoSessionRow| OidcGrantRow {
        id: clavis_core::ids::new_ordered_record_id(),
        code_hash: clavis_core::ids::new_record_id(),
        client_id: ctx.client_id.as_str().into(),
        oid: ctx.oid,
        session_id: session.id.clone(),
        redirect_uri: super::CB.into(),
        scope: "openid".into(),
        nonce: None,
        code_challenge: None,
        auth_time: session.auth_time,
        acr: session.acr.clone(),
        amr: session.amr.clone(),
        code_expires_at: now.timestamp() + 60,
        code_used_at: Some(now.timestamp()),
        revoked_at: None,
        revoked_reason: None,
        created_at: now.timestamp(),
        trace_parent: None,
    };
    let issued = |g: &OidcGrantRow| {
        clavis_audit::AuditEvent::new(
            clavis_core::Actor::Client(g.client_id.clone()),
            clavis_core::AuditAction::OidcTokensIssued,
            Some(g.id.clone()),
            json!({}),
        )
    };
    let is_live = |s: Option<SsoSessionRow>| s.is_some_and(|s| s.ended_at.is_none());

    // The exchange has the lock first: the end waits for it, then revokes
    // what it stored.
    let grant = grant_of(&first);
    let (checked_tx, checked) = tokio::sync::oneshot::channel::<()>();
    let (commit_tx, commit) = tokio::sync::oneshot::channel::<()>();
    let db = ctx.t.db.clone();
    let (g, event) = (grant.clone(), issued(&grant));
    let exchange = tokio::spawn(async move {
        let mut conn = db.conn().await.expect("conn");
        conn.transaction(async |tx: &mut DbConn| {
            assert!(is_live(SsoSessionRow::find(tx, &g.session_id).await?));
            assert!(g.insert_exchanged(tx).await?, "stored once");
            event.record(tx, now).await.expect("audited");
            assert!(is_live(SsoSessionRow::find(tx, &g.session_id).await?));
            checked_tx.send(()).expect("the test waits");
            commit.await.expect("the test says when");
            Ok::<(), clavis_store::StoreError>(())
        })
        .await
        .expect("the exchange commits");
    });
    checked.await.expect("the exchange checked the session");
    let db = ctx.t.db.clone();
    let id = ctx.session_id.clone();
    let ending = tokio::spawn(async move {
        let mut conn = db.conn().await.expect("conn");
        conn.transaction(async |tx: &mut DbConn| {
            clavis_sso::end(
                tx,
                now,
                &id,
                clavis_core::SessionEndReason::Revoked,
                &clavis_core::Actor::Cli("it".into()),
            )
            .await
        })
        .await
        .expect("end")
    });
    crate::storage::until_one_waits_for_a_lock(&mut watcher, &ending).await;
    commit_tx.send(()).expect("the exchange waits");
    exchange.await.expect("exchange");
    assert!(ending.await.expect("end"), "the session was live");
    let after = OidcGrantRow::find(&mut watcher, &grant.id)
        .await
        .expect("read")
        .expect("the grant");
    assert_eq!(after.revoked_reason.as_deref(), Some("session_revoked"));
    let owed = LogoutOutboxRow::for_session(&mut watcher, &ctx.session_id)
        .await
        .expect("outbox");
    assert_eq!(
        owed.iter()
            .map(|o| o.client_id.as_str())
            .collect::<Vec<_>>(),
        [ctx.client_id.as_str()],
        "the application is owed its logout"
    );

    // The end has the lock first: the exchange, which saw the session live
    // before, waits for it, then sees the session ended.
    let second = SsoSessionRow {
        id: clavis_core::SessionId::from(clavis_core::ids::new_record_id()),
        token_hash: "another".into(),
        ended_at: None,
        end_reason: None,
        ..first
    };
    second.insert(&mut watcher).await.expect("a second session");
    let grant = grant_of(&second);
    let (ended_tx, ended) = tokio::sync::oneshot::channel::<()>();
    let (commit_tx, commit) = tokio::sync::oneshot::channel::<()>();
    let db = ctx.t.db.clone();
    let id = second.id.clone();
    let ending = tokio::spawn(async move {
        let mut conn = db.conn().await.expect("conn");
        conn.transaction(async |tx: &mut DbConn| {
            let live = clavis_sso::end(
                tx,
                now,
                &id,
                clavis_core::SessionEndReason::Revoked,
                &clavis_core::Actor::Cli("it".into()),
            )
            .await?;
            ended_tx.send(()).expect("the test waits");
            commit.await.expect("the test says when");
            Ok::<bool, clavis_sso::SsoError>(live)
        })
        .await
        .expect("the end commits")
    });
    ended.await.expect("the end was written");
    let db = ctx.t.db.clone();
    let (g, event) = (grant.clone(), issued(&grant));
    let exchange = tokio::spawn(async move {
        let mut conn = db.conn().await.expect("conn");
        let mut seen = Vec::new();
        let _ = conn
            .transaction(async |tx: &mut DbConn| {
                seen.push(is_live(SsoSessionRow::find(tx, &g.session_id).await?));
                g.insert_exchanged(tx).await?;
                event.record(tx, now).await.expect("audited");
                seen.push(is_live(SsoSessionRow::find(tx, &g.session_id).await?));
                // As the exchange: the session ended, nothing is kept.
                Err::<(), _>(clavis_store::StoreError::Unavailable("ended".into()))
            })
            .await;
        seen
    });
    crate::storage::until_one_waits_for_a_lock(&mut watcher, &exchange).await;
    commit_tx.send(()).expect("the end waits");
    assert!(ending.await.expect("end"));
    assert_eq!(
        exchange.await.expect("exchange"),
        [true, false],
        "live before the lock, ended after it"
    );
}
