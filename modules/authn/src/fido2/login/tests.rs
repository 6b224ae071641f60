//! The FIDO2 login on SQLite, with a software passkey.

use super::*;
use crate::{AuthnConfig, issue_enrolment_link};
use clavis_store::models::{AuditEventRow, SsoSessionRow};
use clavis_testkit::db::{Backend, TestDb};
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

const ORIGIN: &str = "http://localhost:8080";

fn origin() -> Url {
    Url::parse(ORIGIN).expect("url")
}

/// A relying party, an active person and the soft key they enrolled
/// from a link.
async fn enrolled(db: &Db, now: DateTime<Utc>) -> (Fido2, Oid, SoftPasskey) {
    let fido2 = Fido2::new(AuthnConfig::default(), &origin(), None).expect("relying party");
    let oid =
        clavis_testkit::people::insert_person(db, "Lemoine", "Claire", LifecycleStatus::Active)
            .await;
    let mut conn = db.conn().await.expect("conn");
    let link = issue_enrolment_link(
        &mut conn,
        now,
        ORIGIN,
        oid,
        24,
        &clavis_core::Actor::Cli("it".into()),
    )
    .await
    .expect("link");
    let token = link
        .url
        .expose()
        .rsplit('/')
        .next()
        .expect("token")
        .to_string();
    let c = fido2
        .begin_enrolment(&mut conn, now, &token)
        .await
        .expect("begin enrolment");
    let mut key = SoftPasskey::new(true);
    let cred = key
        .do_registration(origin(), c.options)
        .expect("soft key registers");
    fido2
        .finish_registration(
            &mut conn,
            now,
            &c.ceremony,
            &cred,
            "Clé bleue",
            &clavis_core::Actor::Cli("it".into()),
        )
        .await
        .expect("enrolled");
    (fido2, oid, key)
}

/// Signs in username-first, opening a session that replaces
/// `replaces`; `ceremony` overrides the one begun (a stale id).
async fn sign_in(
    fido2: &Fido2,
    db: &Db,
    key: &mut SoftPasskey,
    oid: Oid,
    now: DateTime<Utc>,
    replaces: Option<&str>,
    ceremony: Option<&str>,
) -> Result<LoginOutcome, AuthnError> {
    let mut conn = db.conn().await.expect("conn");
    let c = fido2
        .begin_login(&mut conn, now, Some(&oid.to_string()))
        .await
        .expect("begin login");
    let a = key.do_authentication(origin(), c.options).expect("sign");
    let sso = clavis_sso::SsoConfig::default();
    let open = SessionRequest {
        sso: &sso,
        user_agent: None,
        replaces,
    };
    let ceremony = ceremony.unwrap_or(&c.ceremony);
    fido2
        .finish_login(db, now, ceremony, &a, Some("10.0.0.1"), Some(open))
        .await
}

/// The previous session ends in the login's own transaction: not at
/// all when the login is refused, as `replaced` (audited after the new
/// session's creation) when it succeeds. On both backends, whose reads
/// before the transaction differ (inline on SQLite, pooled on
/// PostgreSQL).
async fn a_login_replaces_the_session_the_browser_came_with(backend: Backend) {
    let t = TestDb::new(backend).await;
    let now: DateTime<Utc> = "2026-11-22T08:00:00Z".parse().expect("instant");
    let (fido2, oid, mut key) = enrolled(&t.db, now).await;
    let first = sign_in(&fido2, &t.db, &mut key, oid, now, None, None)
        .await
        .expect("first login");
    let (old_token, old) = first.session.expect("first session");
    let old_token = old_token.expose().clone();

    let refused = sign_in(
        &fido2,
        &t.db,
        &mut key,
        oid,
        now,
        Some(&old_token),
        Some("stale"),
    );
    assert!(matches!(refused.await, Err(AuthnError::LoginFailed)));
    let live = |token: String| {
        let db = t.db.clone();
        async move {
            clavis_sso::check_fast(&db, now, &token)
                .await
                .expect("check")
                .is_some()
        }
    };
    assert!(
        live(old_token.clone()).await,
        "a refused login ends nothing"
    );

    let second = sign_in(&fido2, &t.db, &mut key, oid, now, Some(&old_token), None)
        .await
        .expect("second login");
    let (new_token, new) = second.session.expect("second session");
    assert_ne!(new.id, old.id);
    assert!(!live(old_token).await);
    assert!(live(new_token.expose().clone()).await);
    let mut conn = t.db.conn().await.expect("conn");
    let row = SsoSessionRow::find(&mut conn, &old.id)
        .await
        .expect("read")
        .expect("row");
    assert_eq!(
        row.end_reason,
        Some(clavis_core::SessionEndReason::Replaced)
    );
    let actions: Vec<(String, Option<String>)> = AuditEventRow::page(&mut conn, 0, 100)
        .await
        .expect("audit")
        .into_iter()
        .map(|e| (e.action, e.target))
        .filter(|(a, _)| a.starts_with("login.") || a.starts_with("session."))
        .collect();
    let step = |a: &str, target: &str| (a.to_string(), Some(target.to_string()));
    assert_eq!(
        actions,
        vec![
            step("login.succeeded", &oid.to_string()),
            step("session.created", old.id.as_str()),
            // The stale ceremony was never ours: refused, nothing written.
            step("login.succeeded", &oid.to_string()),
            step("session.created", new.id.as_str()),
            step("session.ended", old.id.as_str()),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_replaces_the_session_the_browser_came_with_on_sqlite() {
    a_login_replaces_the_session_the_browser_came_with(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_replaces_the_session_the_browser_came_with_on_postgres() {
    a_login_replaces_the_session_the_browser_came_with(Backend::Postgres).await;
}

/// A login's server half travels sealed in its token: another node with
/// the same key finishes it (nothing was stored at the start), a process
/// with another key, a token altered by one character or out of time
/// cannot, and a finished one is finished once. Nothing is written for a
/// token that does not open.
async fn a_sealed_login_is_finished_once_by_any_node_holding_the_key(backend: Backend) {
    let t = TestDb::new(backend).await;
    let now: DateTime<Utc> = "2026-11-22T08:00:00Z".parse().expect("instant");
    let (fido2, oid, mut key) = enrolled(&t.db, now).await;
    let fido2 = fido2.with_ceremony_key([7; 32]);
    let node_b = Fido2::new(AuthnConfig::default(), &origin(), None)
        .expect("relying party")
        .with_ceremony_key([7; 32]);
    let stranger = Fido2::new(AuthnConfig::default(), &origin(), None).expect("relying party");
    let mut conn = t.db.conn().await.expect("conn");
    let begin = async |conn: &mut DbConn| {
        fido2
            .begin_login(conn, now, Some(&oid.to_string()))
            .await
            .expect("begin")
    };
    let c = begin(&mut conn).await;
    assert_eq!(
        CeremonyRow::count_live(&mut conn, i64::MIN)
            .await
            .expect("count"),
        0,
        "nothing stored at the start"
    );
    let a = key.do_authentication(origin(), c.options).expect("sign");
    let finish = async |f: &Fido2, ceremony: &str, at: DateTime<Utc>| {
        f.finish_login(&t.db, at, ceremony, &a, Some("10.0.0.1"), None)
            .await
    };
    let audited = async |conn: &mut DbConn| {
        AuditEventRow::page(conn, 0, 100)
            .await
            .expect("audit")
            .into_iter()
            .filter(|e| e.action.starts_with("login."))
            .map(|e| e.changes)
            .collect::<Vec<_>>()
    };
    // Not this process's key, one character changed, or too late: refused,
    // nothing written.
    let mut altered = c.ceremony.clone().into_bytes();
    let mid = altered.len() / 2;
    altered[mid] = if altered[mid] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).expect("ascii");
    let late = now + chrono::Duration::seconds(crate::fido2::CEREMONY_TTL_SECS);
    for (f, ceremony, at) in [
        (&stranger, c.ceremony.as_str(), now),
        (&node_b, altered.as_str(), now),
        (&node_b, c.ceremony.as_str(), late),
    ] {
        assert!(matches!(
            finish(f, ceremony, at).await,
            Err(AuthnError::LoginFailed)
        ));
    }
    assert!(audited(&mut conn).await.is_empty(), "nothing written");
    // Another node holding the key finishes it, once.
    let done = finish(&node_b, &c.ceremony, now)
        .await
        .expect("finished on node B");
    assert_eq!(done.proof.oid, oid);
    assert!(matches!(
        finish(&fido2, &c.ceremony, now).await,
        Err(AuthnError::LoginFailed)
    ));
    // Replayed after it was finished: refused before any work, and
    // nothing written (a replay loop costs the audit log nothing).
    let changes = audited(&mut conn).await;
    assert_eq!(changes.len(), 1, "the login only: {changes:?}");
    for _ in 0..3 {
        assert!(matches!(
            finish(&node_b, &c.ceremony, now).await,
            Err(AuthnError::LoginFailed)
        ));
    }
    assert_eq!(audited(&mut conn).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sealed_login_is_finished_once_by_any_node_holding_the_key_on_sqlite() {
    a_sealed_login_is_finished_once_by_any_node_holding_the_key(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sealed_login_is_finished_once_by_any_node_holding_the_key_on_postgres() {
    a_sealed_login_is_finished_once_by_any_node_holding_the_key(Backend::Postgres).await;
}
