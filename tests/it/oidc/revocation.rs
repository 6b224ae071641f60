//! Revoking what opened a session ends it: a badge reported lost, a FIDO2
//! key removed, a workstation withdrawn. The session stops working at
//! once, the tokens it gave an application stop working at userinfo, the
//! application is owed a back-channel logout, and the person's other
//! sessions stay open.

use super::{Ctx, setup_with, tokens, userinfo};
use crate::support::on_both_backends;
use clavis_core::{Actor, BadgeKind, BadgeStatus, Clock, SessionEndReason, SessionId};
use clavis_oidc::clients::NewClient;
use clavis_store::models::{BadgeRow, LogoutOutboxRow, SsoSessionRow, WorkstationRow};
use clavis_testkit::db::Backend;

on_both_backends!(
    revoking_a_badge_ends_the_sessions_it_opened_and_their_tokens,
    removing_a_key_ends_the_sessions_it_opened_and_their_tokens,
    revoking_a_workstation_ends_the_sessions_opened_there_and_their_tokens,
);

/// The test client, told of logouts on its back channel (queued only).
async fn clinic(backend: Backend) -> Ctx {
    setup_with(
        backend,
        NewClient {
            backchannel_logout_uri: Some("https://dpi.chu.test/backchannel".into()),
            ..NewClient::default()
        },
    )
    .await
}

/// A second session of the nurse, opened with `authenticator` at
/// `workstation`; it becomes the one the test's requests carry. Returns the
/// first one's id.
async fn sign_in_with(
    ctx: &mut Ctx,
    authenticator: Option<&str>,
    workstation: Option<&clavis_core::WorkstationId>,
) -> SessionId {
    let mut conn = ctx.t.db.conn().await.expect("conn");
    let (token, session) = clavis_sso::create(
        &mut conn,
        &ctx.st.sso,
        ctx.clock.now(),
        clavis_sso::NewSession {
            oid: ctx.oid,
            acr: "eidas2".into(),
            amr: vec!["hwk".into()],
            authenticator_id: authenticator.map(str::to_string),
            client_ip: None,
            user_agent: None,
            workstation_id: workstation.cloned(),
            ends_by: None,
            method: clavis_core::LoginMethod::Fido2,
        },
    )
    .await
    .expect("session");
    ctx.cookie = format!("{}={}", clavis_sso::COOKIE_NAME, token.expose());
    std::mem::replace(&mut ctx.session_id, session.id)
}

/// What must hold once the session of `ctx` was ended by a revocation:
/// it no longer works, its access token is refused at userinfo, its
/// application is owed a back-channel logout, and `other` still works.
async fn assert_ended_with_its_tokens(ctx: &Ctx, access_token: &str, other: &SessionId) {
    let app = ctx.service().await;
    let mut conn = ctx.t.db.conn().await.expect("conn");
    let row = SsoSessionRow::find(&mut conn, &ctx.session_id)
        .await
        .expect("read")
        .expect("row");
    assert_eq!(row.end_reason, Some(SessionEndReason::Revoked));
    let token = ctx.cookie.split_once('=').expect("cookie").1;
    assert!(
        clavis_sso::check_fast(&ctx.t.db, ctx.clock.now(), token)
            .await
            .expect("check")
            .is_none()
    );
    assert_eq!(userinfo(&app, access_token).await.status(), 401);
    let due = LogoutOutboxRow::for_session(&mut conn, &ctx.session_id)
        .await
        .expect("outbox");
    assert_eq!(due.len(), 1, "one back-channel logout owed");
    assert_eq!(due[0].client_id.as_str(), ctx.client_id);
    let other = SsoSessionRow::find(&mut conn, other)
        .await
        .expect("read")
        .expect("row");
    assert_eq!(other.ended_at, None, "the nurse's other session stays");
}

async fn revoking_a_badge_ends_the_sessions_it_opened_and_their_tokens(backend: Backend) {
    let mut ctx = clinic(backend).await;
    let badge = BadgeRow {
        id: "badge-1".into(),
        oid: ctx.oid,
        uid: "04010203040506".into(),
        reference_hash: "0".repeat(64),
        key_version: 1,
        kind: BadgeKind::Permanent,
        status: BadgeStatus::Active,
        status_reason: None,
        expires_at: None,
        created_at: 0,
        created_by: Actor::Cli("it".into()),
        last_used_at: None,
    };
    let mut conn = ctx.t.db.conn().await.expect("conn");
    badge.insert(&mut conn).await.expect("badge");
    let other = sign_in_with(&mut ctx, Some(badge.id.as_str()), None).await;
    let app = ctx.service().await;
    let tok = tokens(&app, &ctx).await;
    assert_eq!(
        userinfo(&app, tok["access_token"].as_str().expect("at"))
            .await
            .status(),
        200
    );
    clavis_authn::badge::records::revoke(
        &mut conn,
        ctx.clock.now(),
        &badge.id,
        "lost",
        &Actor::Cli("helpdesk".into()),
    )
    .await
    .expect("revoke");
    assert_ended_with_its_tokens(&ctx, tok["access_token"].as_str().expect("at"), &other).await;
}

async fn removing_a_key_ends_the_sessions_it_opened_and_their_tokens(backend: Backend) {
    let mut ctx = clinic(backend).await;
    let key = clavis_testkit::people::insert_key(&ctx.t.db, ctx.oid, "key-1").await;
    let mut conn = ctx.t.db.conn().await.expect("conn");
    let other = sign_in_with(&mut ctx, Some(&key.id), None).await;
    let app = ctx.service().await;
    let tok = tokens(&app, &ctx).await;
    clavis_authn::remove_key(
        &mut conn,
        ctx.clock.now(),
        ctx.oid,
        &key.id,
        "removed_by_user",
        &Actor::Identity(ctx.oid),
    )
    .await
    .expect("remove");
    assert_ended_with_its_tokens(&ctx, tok["access_token"].as_str().expect("at"), &other).await;
}

async fn revoking_a_workstation_ends_the_sessions_opened_there_and_their_tokens(backend: Backend) {
    let mut ctx = clinic(backend).await;
    let ws = WorkstationRow {
        id: "ws-1".into(),
        name: "ward-3".into(),
        location: None,
        secret_hash: "0".repeat(64),
        created_at: 0,
        created_by: Actor::Cli("it".into()),
        last_seen_at: None,
        revoked_at: None,
    };
    let mut conn = ctx.t.db.conn().await.expect("conn");
    ws.insert(&mut conn).await.expect("workstation");
    let other = sign_in_with(&mut ctx, None, Some(&ws.id)).await;
    let app = ctx.service().await;
    let tok = tokens(&app, &ctx).await;
    assert!(
        clavis_authn::badge::workstation::revoke(
            &mut conn,
            ctx.clock.now(),
            "ward-3",
            &Actor::Cli("it".into()),
        )
        .await
        .expect("revoke")
    );
    assert_ended_with_its_tokens(&ctx, tok["access_token"].as_str().expect("at"), &other).await;
}
