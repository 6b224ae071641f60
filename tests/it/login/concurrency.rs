//! Concurrent logins: several at once on two workers each open their own
//! session, spend each ceremony once and keep the audit chain whole.

use crate::support::{ORIGIN, on_both_backends, state};
use clavis_core::Clock;
use clavis_testkit::db::{Backend, TestDb};
use std::sync::Arc;
use url::Url;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

on_both_backends!(concurrent_logins_each_open_a_session_and_keep_the_audit_chain_whole);

/// Logins run their statements in place on SQLite (one unit per login, the
/// worker handing its other tasks over): several at once on two workers must
/// each open their own session, spend each ceremony once and keep the audit
/// chain whole.
async fn concurrent_logins_each_open_a_session_and_keep_the_audit_chain_whole(backend: Backend) {
    let t = TestDb::new(backend).await;
    let clock = clavis_core::FixedClock::at("2026-11-22T08:00:00Z".parse().expect("instant"));
    let st = Arc::new(state(&t.db, Arc::new(clock.clone())).await);
    let mut signed = Vec::new();
    for given in ["Ana", "Ben", "Cyd", "Dan"] {
        let oid = clavis_testkit::people::insert_person(
            &t.db,
            "Martin",
            given,
            clavis_core::LifecycleStatus::Active,
        )
        .await;
        let mut conn = t.db.conn().await.expect("conn");
        let link = clavis_authn::issue_enrolment_link(
            &mut conn,
            clock.now(),
            ORIGIN,
            oid,
            24,
            &clavis_core::Actor::Cli("it".into()),
        )
        .await
        .expect("link");
        let tok = link
            .url
            .expose()
            .rsplit('/')
            .next()
            .expect("token")
            .to_string();
        let mut key = SoftPasskey::new(true);
        let c = st
            .fido2
            .begin_enrolment(&mut conn, clock.now(), &tok)
            .await
            .expect("begin");
        let cred = key
            .do_registration(Url::parse(ORIGIN).expect("url"), c.options)
            .expect("register");
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
        // Five logins each, begun and signed in order; finished below.
        let mut mine = Vec::new();
        for _ in 0..5 {
            let c = st
                .fido2
                .begin_login(&mut conn, clock.now(), Some(&oid.to_string()))
                .await
                .expect("begin");
            let a = key
                .do_authentication(Url::parse(ORIGIN).expect("url"), c.options)
                .expect("sign");
            mine.push((c.ceremony, a));
        }
        signed.push((oid, mine));
    }
    // One of Ana's responses is replayed by a second task at the same time.
    let replay = signed[0].1[0].clone();
    let mut tasks = Vec::new();
    for (oid, mine) in signed {
        let st = st.clone();
        let now = clock.now();
        tasks.push(tokio::spawn(async move {
            let sso = clavis_sso::SsoConfig::default();
            let mut sessions = 0;
            for (ceremony, a) in mine {
                let out = st
                    .fido2
                    .finish_login(
                        &st.db,
                        now,
                        &ceremony,
                        &a,
                        None,
                        Some(clavis_authn::SessionRequest {
                            sso: &sso,
                            user_agent: None,
                            replaces: None,
                        }),
                    )
                    .await;
                if let Ok(out) = out {
                    assert_eq!(out.proof.oid, oid);
                    assert!(out.session.is_some());
                    sessions += 1;
                }
            }
            sessions
        }));
    }
    let st2 = st.clone();
    let now = clock.now();
    let replayed = tokio::spawn(async move {
        st2.fido2
            .finish_login(&st2.db, now, &replay.0, &replay.1, None, None)
            .await
            .is_ok()
    });
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("task");
    }
    let replay_won = replayed.await.expect("task");
    // Exactly one of the two uses of Ana's first ceremony succeeded.
    assert_eq!(total + usize::from(replay_won), 20);
    let mut conn = t.db.conn().await.expect("conn");
    let sessions = clavis_sso::list(&mut conn, clock.now(), None)
        .await
        .expect("sessions");
    assert_eq!(sessions.len(), total);
    let report = clavis_audit::verify(&mut conn).await.expect("verify");
    assert!(report.first_broken.is_none(), "{report:?}");
    let audit = clavis_store::models::AuditEventRow::page(&mut conn, 0, 500)
        .await
        .expect("audit");
    assert_eq!(
        audit
            .iter()
            .filter(|a| a.action == "login.succeeded")
            .count(),
        20
    );
    // The losing use is audited (`ceremony_replayed`) when its signature
    // was checked before the winner spent the ceremony; arriving after, it
    // is indistinguishable from junk and writes nothing.
    let failed: Vec<_> = audit
        .iter()
        .filter(|a| a.action == "login.failed")
        .collect();
    assert!(failed.len() <= 1, "{failed:?}");
    assert!(
        failed
            .iter()
            .all(|a| a.changes.contains("ceremony_replayed")),
        "{failed:?}"
    );
}
