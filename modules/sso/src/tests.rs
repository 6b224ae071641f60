//! Unit tests of the session lifecycle, on SQLite.

use super::*;
use clavis_core::SessionEndReason;
use clavis_testkit::db::{Backend, TestDb};

fn at(s: &str) -> DateTime<Utc> {
    s.parse().expect("instant")
}

fn nurse() -> NewSession {
    NewSession {
        workstation_id: None,
        oid: Oid::new_random(),
        acr: "eidas2".into(),
        amr: vec!["hwk".into(), "pin".into(), "mfa".into()],
        authenticator_id: Some("k1".into()),
        client_ip: Some("10.0.0.7".into()),
        user_agent: Some("test".into()),
        ends_by: None,
        method: clavis_core::LoginMethod::Fido2,
    }
}

#[tokio::test]
async fn a_session_lasts_exactly_four_hours() {
    let t = TestDb::new(Backend::Sqlite).await;
    let mut conn = t.db.conn().await.expect("conn");
    let t0 = at("2026-11-22T08:00:00Z");
    let (token, s) = create(&mut conn, &SsoConfig::default(), t0, nurse())
        .await
        .expect("create");
    assert_eq!(s.expires_at, at("2026-11-22T12:00:00Z"));
    let just_before = at("2026-11-22T11:59:59Z");
    assert!(
        check(&mut conn, just_before, token.expose())
            .await
            .expect("check")
            .is_some()
    );
    let four_hours_one_second = at("2026-11-22T12:00:01Z");
    assert!(
        check(&mut conn, four_hours_one_second, token.expose())
            .await
            .expect("check")
            .is_none()
    );
    // Once expired it stays ended, even if the clock went back.
    assert!(
        check(&mut conn, just_before, token.expose())
            .await
            .expect("check")
            .is_none()
    );
    let row = SsoSessionRow::find(&mut conn, &s.id)
        .await
        .expect("row")
        .expect("exists");
    assert_eq!(row.end_reason, Some(SessionEndReason::Expired));
    assert_ne!(row.token_hash, *token.expose(), "only the hash is stored");
}

#[tokio::test]
async fn idle_timeout_ends_an_unused_session() {
    let t = TestDb::new(Backend::Sqlite).await;
    let mut conn = t.db.conn().await.expect("conn");
    let cfg = SsoConfig {
        session_lifetime_secs: 14400,
        idle_timeout_secs: 900,
    };
    let t0 = at("2026-11-22T08:00:00Z");
    let (token, _) = create(&mut conn, &cfg, t0, nurse()).await.expect("create");
    assert!(
        check(&mut conn, at("2026-11-22T08:10:00Z"), token.expose())
            .await
            .expect("check")
            .is_some()
    );
    assert!(
        check(&mut conn, at("2026-11-22T08:24:00Z"), token.expose())
            .await
            .expect("check")
            .is_some()
    );
    assert!(
        check(&mut conn, at("2026-11-22T08:39:01Z"), token.expose())
            .await
            .expect("check")
            .is_none()
    );
}

#[tokio::test]
async fn a_login_replaces_the_session_the_browser_came_with() {
    let t = TestDb::new(Backend::Sqlite).await;
    let mut conn = t.db.conn().await.expect("conn");
    let t0 = at("2026-11-22T08:00:00Z");
    let cfg = SsoConfig::default();
    let (old_token, old) = create(&mut conn, &cfg, t0, nurse()).await.expect("old");
    let (new_token, new) = create(&mut conn, &cfg, t0, nurse()).await.expect("new");
    // The new session itself is never ended by its own login.
    assert!(
        !replace(&mut conn, t0, new_token.expose(), &new.id)
            .await
            .expect("replace")
    );
    assert!(
        !replace(&mut conn, t0, "forged", &new.id)
            .await
            .expect("replace")
    );
    assert!(
        replace(&mut conn, t0, old_token.expose(), &new.id)
            .await
            .expect("replace")
    );
    let row = SsoSessionRow::find(&mut conn, &old.id)
        .await
        .expect("row")
        .expect("exists");
    assert_eq!(row.end_reason, Some(SessionEndReason::Replaced));
    assert!(
        check_fast(&t.db, t0, old_token.expose())
            .await
            .expect("check")
            .is_none()
    );
    assert!(
        check_fast(&t.db, t0, new_token.expose())
            .await
            .expect("check")
            .is_some()
    );
}

#[tokio::test]
async fn unknown_or_forged_tokens_find_nothing_and_logout_ends() {
    let t = TestDb::new(Backend::Sqlite).await;
    let mut conn = t.db.conn().await.expect("conn");
    let t0 = at("2026-11-22T08:00:00Z");
    let (token, s) = create(&mut conn, &SsoConfig::default(), t0, nurse())
        .await
        .expect("create");
    assert!(
        check(&mut conn, t0, "forged")
            .await
            .expect("check")
            .is_none()
    );
    assert!(check(&mut conn, t0, "").await.expect("check").is_none());
    assert!(
        end(
            &mut conn,
            t0,
            &s.id,
            SessionEndReason::Logout,
            &clavis_core::Actor::Cli("it".into())
        )
        .await
        .expect("end")
    );
    assert!(
        !end(
            &mut conn,
            t0,
            &s.id,
            SessionEndReason::Logout,
            &clavis_core::Actor::Cli("it".into())
        )
        .await
        .expect("end twice")
    );
    assert!(
        check(&mut conn, t0, token.expose())
            .await
            .expect("check")
            .is_none()
    );
}

/// An idle timeout shorter than the old once-a-minute write: both checks
/// end the session once unused for 30 s, and neither ends a session used
/// every 20 s.
#[tokio::test]
async fn a_30_second_idle_timeout_holds_on_both_checks() {
    let t = TestDb::new(Backend::Sqlite).await;
    let mut conn = t.db.conn().await.expect("conn");
    let cfg = SsoConfig {
        session_lifetime_secs: 14400,
        idle_timeout_secs: 30,
    };
    let t0 = at("2026-11-22T08:00:00Z");
    let (fast, fast_session) = create(&mut conn, &cfg, t0, nurse()).await.expect("fast");
    let (slow, slow_session) = create(&mut conn, &cfg, t0, nurse()).await.expect("slow");
    // Used every 20 s for two minutes: never idle.
    for s in (20..=120).step_by(20) {
        let now = t0 + chrono::Duration::seconds(s);
        assert!(
            check_fast(&t.db, now, fast.expose())
                .await
                .expect("check")
                .is_some(),
            "fast path, used at +{s}s"
        );
        assert!(
            check(&mut conn, now, slow.expose())
                .await
                .expect("check")
                .is_some(),
            "slow path, used at +{s}s"
        );
    }
    // Then unused for 30 s: over on both paths, ended as idle.
    let idle = t0 + chrono::Duration::seconds(150);
    assert!(
        check_fast(&t.db, idle, fast.expose())
            .await
            .expect("check")
            .is_none()
    );
    assert!(
        check(&mut conn, idle, slow.expose())
            .await
            .expect("check")
            .is_none()
    );
    for s in [&fast_session, &slow_session] {
        let row = SsoSessionRow::find(&mut conn, &s.id)
            .await
            .expect("row")
            .expect("exists");
        assert_eq!(row.end_reason, Some(SessionEndReason::Idle));
    }
}

#[tokio::test]
async fn the_last_use_never_moves_back() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let t = TestDb::new(backend).await;
        let mut conn = t.db.conn().await.expect("conn");
        let t0 = at("2026-11-22T08:00:00Z");
        let (_, s) = create(&mut conn, &SsoConfig::default(), t0, nurse())
            .await
            .expect("create");
        let later = t0.timestamp() + 600;
        SsoSessionRow::touch(&mut conn, &s.id, later)
            .await
            .expect("touch");
        // Another node, a little behind, records its own use afterwards.
        SsoSessionRow::touch(&mut conn, &s.id, later - 30)
            .await
            .expect("touch");
        let row = SsoSessionRow::find(&mut conn, &s.id)
            .await
            .expect("read")
            .expect("row");
        assert_eq!(row.last_seen_at, later, "{backend:?}");
    }
}
