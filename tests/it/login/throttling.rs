//! Throttling: refused logins from one client address impose a growing
//! wait on that address (even on a good login), each failure audited with
//! the address. Nothing is counted for a request that spent no live
//! ceremony, and nothing against a person: junk posts carrying someone's
//! credential id lock nobody out. Behind a trusted reverse proxy the
//! address is the forwarded one.

use super::{begin_login, clinic, enrol_key, enrolment_path, enrolment_token, origin, sign};
use crate::support::on_both_backends;
use actix_web::test::{TestRequest, call_service};
use clavis_core::{Clock, Oid};
use clavis_store::models::AuditEventRow;
use clavis_testkit::db::Backend;
use serde_json::{Value, json};
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

on_both_backends!(
    repeated_failures_impose_a_growing_wait_and_are_audited,
    junk_posts_with_a_victims_credential_count_nothing_and_lock_nobody_out,
    one_address_failing_does_not_hold_back_another,
    behind_a_trusted_proxy_the_forwarded_address_is_throttled_and_audited,
    from_an_untrusted_peer_forwarded_for_is_ignored,
    concurrent_failures_from_one_address_are_each_counted,
    junk_bytes_in_forwarded_for_do_not_move_failures_onto_the_proxy,
);

/// Claire's key, enrolled through the library.
async fn enrolled(app: &crate::support::TestApp, oid: Oid) -> SoftPasskey {
    let (st, clock) = (&app.state, &app.clock);
    let tok = enrolment_token(app, oid).await;
    let mut conn = app.t.db.conn().await.expect("conn");
    let mut key = SoftPasskey::new(true);
    let c = st
        .fido2
        .begin_enrolment(&mut conn, clock.now(), &tok)
        .await
        .expect("begin");
    let cred = key.do_registration(origin(), c.options).expect("register");
    st.fido2
        .finish_registration(
            &mut conn,
            clock.now(),
            &c.ceremony,
            &cred,
            "",
            &clavis_core::Actor::Cli("it".into()),
        )
        .await
        .expect("enrol");
    key
}

/// How an attempt is made.
#[derive(Clone, Copy, PartialEq)]
enum How {
    /// Claire's key answers a live ceremony.
    Good,
    /// A key that is not Claire's answers a live ceremony, under the id of
    /// Claire's credential (an attacker who read it from `/login/begin`).
    ForgedUnderHerId,
    /// Claire's real answer posted with a ceremony id we never issued.
    UnknownCeremony,
}

async fn attempt(
    app: &crate::support::TestApp,
    key: &mut SoftPasskey,
    oid: Oid,
    how: How,
    ip: &str,
) -> Result<clavis_authn::LoginProof, clavis_authn::AuthnError> {
    let (st, now) = (&app.state, app.clock.now());
    let mut conn = app.t.db.conn().await.expect("conn");
    let c = st
        .fido2
        .begin_login(&mut conn, now, Some(&oid.to_string()))
        .await
        .expect("begin");
    let answer = match how {
        How::ForgedUnderHerId => {
            // Her credential id, a signature that does not verify.
            let real = key.do_authentication(origin(), c.options).expect("sign");
            let mut v = serde_json::to_value(&real).expect("json");
            flip_signature(&mut v);
            serde_json::from_value(v).expect("credential")
        }
        _ => key.do_authentication(origin(), c.options).expect("sign"),
    };
    let ceremony = match how {
        How::UnknownCeremony => "never-issued".to_string(),
        _ => c.ceremony,
    };
    st.fido2
        .finish_login(&st.db, now, &ceremony, &answer, Some(ip), None)
        .await
        .map(|o| o.proof)
}

/// Changes the first character of an assertion's signature: it no longer
/// verifies.
fn flip_signature(answer: &mut Value) {
    let sig = answer["response"]["signature"]
        .as_str()
        .expect("signature")
        .to_string();
    let flipped = if sig.starts_with('A') { "B" } else { "A" };
    answer["response"]["signature"] = Value::from(format!("{flipped}{}", &sig[1..]));
}

/// `e` is the throttle's refusal, with a wait of `secs`.
fn assert_waits(e: &clavis_authn::AuthnError, secs: i64) {
    assert!(
        matches!(
            e,
            clavis_authn::AuthnError::TooManyAttempts { retry_after_secs } if *retry_after_secs == secs
        ),
        "{e}"
    );
}

fn is_login_failed(e: &clavis_authn::AuthnError) -> bool {
    matches!(e, clavis_authn::AuthnError::LoginFailed)
}

async fn audit(app: &crate::support::TestApp) -> Vec<AuditEventRow> {
    let mut conn = app.t.db.conn().await.expect("conn");
    AuditEventRow::page(&mut conn, 0, 200).await.expect("audit")
}

async fn repeated_failures_impose_a_growing_wait_and_are_audited(backend: Backend) {
    let app = clinic(backend).await;
    let oid = app.person("Claire");
    let mut key = enrolled(&app, oid).await;
    for _ in 0..3 {
        let e = attempt(&app, &mut key, oid, How::ForgedUnderHerId, "10.1.2.3")
            .await
            .expect_err("forged");
        assert!(is_login_failed(&e), "{e}");
    }
    // The fourth attempt from that address, even a good one, must wait.
    let e = attempt(&app, &mut key, oid, How::Good, "10.1.2.3")
        .await
        .expect_err("throttled");
    assert_waits(&e, 1);
    app.clock.advance(chrono::Duration::seconds(1));
    // A fifth failure doubles the wait.
    let e = attempt(&app, &mut key, oid, How::ForgedUnderHerId, "10.1.2.3")
        .await
        .expect_err("forged");
    assert!(is_login_failed(&e), "{e}");
    let e = attempt(&app, &mut key, oid, How::Good, "10.1.2.3")
        .await
        .expect_err("throttled again");
    assert_waits(&e, 2);
    app.clock.advance(chrono::Duration::seconds(2));
    attempt(&app, &mut key, oid, How::Good, "10.1.2.3")
        .await
        .expect("after the wait, a good login passes");
    let events = audit(&app).await;
    let failed: Vec<_> = events
        .iter()
        .filter(|a| a.action == "login.failed")
        .collect();
    assert_eq!(failed.len(), 4);
    assert!(
        failed
            .iter()
            .all(|a| a.client_addr.as_deref() == Some("10.1.2.3"))
    );
    assert!(
        events
            .iter()
            .any(|a| a.action == "login.succeeded" && a.client_addr.as_deref() == Some("10.1.2.3"))
    );
    // The success cleared the address's counter: the next failure is free.
    let e = attempt(&app, &mut key, oid, How::ForgedUnderHerId, "10.1.2.3")
        .await
        .expect_err("forged");
    assert!(is_login_failed(&e), "{e}");
    attempt(&app, &mut key, oid, How::Good, "10.1.2.3")
        .await
        .expect("no wait after one failure");
}

async fn junk_posts_with_a_victims_credential_count_nothing_and_lock_nobody_out(backend: Backend) {
    let app = clinic(backend).await;
    let oid = app.person("Claire");
    let mut key = enrolled(&app, oid).await;
    let before = audit(&app).await.len();
    // Far more than the free failures, from the victim's own address.
    for _ in 0..12 {
        let e = attempt(&app, &mut key, oid, How::UnknownCeremony, "10.1.2.3")
            .await
            .expect_err("unknown ceremony");
        assert!(is_login_failed(&e), "{e}");
    }
    attempt(&app, &mut key, oid, How::Good, "10.1.2.3")
        .await
        .expect("her genuine key still signs her in at once");
    let events = audit(&app).await;
    assert!(
        !events.iter().any(|a| a.action == "login.failed"),
        "junk wrote no failure"
    );
    // Only her login and nothing per junk post.
    assert!(events.len() - before <= 2, "{:?}", &events[before..]);
}

async fn one_address_failing_does_not_hold_back_another(backend: Backend) {
    let app = clinic(backend).await;
    let oid = app.person("Claire");
    let mut key = enrolled(&app, oid).await;
    for _ in 0..6 {
        let _ = attempt(&app, &mut key, oid, How::ForgedUnderHerId, "10.9.9.9").await;
    }
    let e = attempt(&app, &mut key, oid, How::Good, "10.9.9.9")
        .await
        .expect_err("the attacker's address waits");
    assert!(
        matches!(e, clavis_authn::AuthnError::TooManyAttempts { .. }),
        "{e}"
    );
    attempt(&app, &mut key, oid, How::Good, "10.1.2.3")
        .await
        .expect("Claire, from her own workstation, is not held back");
}

/// POST /login/finish from the TCP peer `peer` with `X-Forwarded-For: xff`.
async fn http_attempt(
    svc: &impl crate::support::http::AppService,
    key: &mut SoftPasskey,
    oid: Oid,
    good: bool,
    peer: &str,
    xff: impl AsRef<[u8]>,
) -> (u16, Option<String>) {
    let begin = begin_login(svc, oid).await;
    let mut answer = sign(key, &begin);
    if !good {
        flip_signature(&mut answer);
    }
    let resp = call_service(
        svc,
        TestRequest::post()
            .uri("/login/finish")
            .peer_addr(format!("{peer}:40000").parse().expect("peer"))
            .insert_header((
                "X-Forwarded-For",
                actix_web::http::header::HeaderValue::from_bytes(xff.as_ref()).expect("header"),
            ))
            .set_json(json!({"ceremony": begin["ceremony"], "credential": answer}))
            .to_request(),
    )
    .await;
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (resp.status().as_u16(), retry_after)
}

async fn behind_a_trusted_proxy_the_forwarded_address_is_throttled_and_audited(backend: Backend) {
    let mut app = clinic(backend).await;
    app.state.trusted_proxies = vec!["127.0.0.1/32".parse().expect("net")];
    let svc = app.service().await;
    let oid = app.person("Claire");
    let path = enrolment_path(&app, oid).await;
    let mut key = enrol_key(&svc, &path, None).await;
    for _ in 0..3 {
        let (s, _) = http_attempt(&svc, &mut key, oid, false, "127.0.0.1", "203.0.113.5").await;
        assert_eq!(s, 401);
    }
    let (s, retry) = http_attempt(&svc, &mut key, oid, true, "127.0.0.1", "203.0.113.5").await;
    assert_eq!(s, 429, "the forwarded client waits");
    assert_eq!(retry.as_deref(), Some("1"), "and is told how long");
    let (s, _) = http_attempt(&svc, &mut key, oid, true, "127.0.0.1", "203.0.113.6").await;
    assert_eq!(s, 200, "another client behind the same proxy does not");
    let events = audit(&app).await;
    assert!(
        events
            .iter()
            .filter(|a| a.action == "login.failed")
            .all(|a| a.client_addr.as_deref() == Some("203.0.113.5"))
    );
    assert!(
        events
            .iter()
            .any(|a| a.action == "session.created"
                && a.client_addr.as_deref() == Some("203.0.113.6"))
    );
}

async fn from_an_untrusted_peer_forwarded_for_is_ignored(backend: Backend) {
    let app = clinic(backend).await;
    let svc = app.service().await;
    let oid = app.person("Claire");
    let path = enrolment_path(&app, oid).await;
    let mut key = enrol_key(&svc, &path, None).await;
    // A client changing its X-Forwarded-For each time cannot escape its
    // own counter.
    for i in 0..3 {
        let (s, _) = http_attempt(
            &svc,
            &mut key,
            oid,
            false,
            "198.51.100.4",
            &format!("203.0.113.{i}"),
        )
        .await;
        assert_eq!(s, 401);
    }
    let (s, _) = http_attempt(&svc, &mut key, oid, true, "198.51.100.4", "203.0.113.77").await;
    assert_eq!(s, 429);
    let events = audit(&app).await;
    assert!(
        events
            .iter()
            .filter(|a| a.action == "login.failed")
            .all(|a| a.client_addr.as_deref() == Some("198.51.100.4"))
    );
}

async fn concurrent_failures_from_one_address_are_each_counted(backend: Backend) {
    let app = clinic(backend).await;
    let oid = app.person("Claire");
    let mut key = enrolled(&app, oid).await;
    // Six live ceremonies answered with a signature that does not verify,
    // finished all at once from one address.
    let mut answers = Vec::new();
    for _ in 0..6 {
        let mut conn = app.t.db.conn().await.expect("conn");
        let c = app
            .state
            .fido2
            .begin_login(&mut conn, app.clock.now(), Some(&oid.to_string()))
            .await
            .expect("begin");
        let real = key.do_authentication(origin(), c.options).expect("sign");
        let mut v = serde_json::to_value(&real).expect("json");
        flip_signature(&mut v);
        let forged: webauthn_rs::prelude::PublicKeyCredential =
            serde_json::from_value(v).expect("credential");
        answers.push((c.ceremony, forged));
    }
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(answers.len()));
    let mut tasks = Vec::new();
    for (ceremony, answer) in answers {
        let (st, now, barrier) = (app.state.clone(), app.clock.now(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            st.fido2
                .finish_login(&st.db, now, &ceremony, &answer, Some("10.7.7.7"), None)
                .await
        }));
    }
    let mut failed = 0;
    for task in tasks {
        match task.await.expect("task") {
            Err(clavis_authn::AuthnError::LoginFailed) => failed += 1,
            Err(clavis_authn::AuthnError::TooManyAttempts { .. }) => {}
            other => panic!("a forged answer got {other:?}"),
        }
    }
    assert!(
        failed >= 3,
        "at least the free failures are checked: {failed}"
    );
    let mut conn = app.t.db.conn().await.expect("conn");
    let counter = clavis_store::models::LoginFailureRow::find(&mut conn, "ip:10.7.7.7")
        .await
        .expect("read")
        .expect("counter");
    assert_eq!(counter.failures, failed, "every refused login counted once");
}

async fn junk_bytes_in_forwarded_for_do_not_move_failures_onto_the_proxy(backend: Backend) {
    let mut app = clinic(backend).await;
    app.state.trusted_proxies = vec!["127.0.0.1/32".parse().expect("net")];
    let svc = app.service().await;
    let oid = app.person("Claire");
    let path = enrolment_path(&app, oid).await;
    let mut key = enrol_key(&svc, &path, None).await;
    // nginx appends the real address to whatever the client sent, on the
    // same line: a byte that is not text must not make the line unreadable.
    let forged = b"\xff, 203.0.113.5".to_vec();
    for _ in 0..3 {
        let (s, _) = http_attempt(&svc, &mut key, oid, false, "127.0.0.1", &forged).await;
        assert_eq!(s, 401);
    }
    let (s, _) = http_attempt(&svc, &mut key, oid, true, "127.0.0.1", &forged).await;
    assert_eq!(s, 429, "the sender waits");
    let (s, _) = http_attempt(&svc, &mut key, oid, true, "127.0.0.1", "203.0.113.6").await;
    assert_eq!(s, 200, "everyone else behind the proxy does not");
}
