//! Throttling: repeated failed logins of a person impose a growing wait
//! (even on a good login), each failure audited with the client address.

use super::{clinic, enrolment_token, origin};
use crate::support::on_both_backends;
use clavis_core::{Clock, Oid};
use clavis_testkit::db::Backend;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

on_both_backends!(repeated_failures_impose_a_growing_wait_and_are_audited);

async fn repeated_failures_impose_a_growing_wait_and_are_audited(backend: Backend) {
    let app = clinic(backend).await;
    let (st, clock) = (&app.state, &app.clock);
    let oid = app.person("Claire");
    let tok = enrolment_token(&app, oid).await;
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
    for _ in 0..3 {
        let e = attempt(st, &mut conn, &mut key, oid, clock.now(), false)
            .await
            .expect_err("bad ceremony");
        assert!(matches!(e, clavis_authn::AuthnError::LoginFailed), "{e}");
    }
    // The fourth attempt, even a good one, must wait.
    let e = attempt(st, &mut conn, &mut key, oid, clock.now(), true)
        .await
        .expect_err("throttled");
    assert!(
        matches!(
            e,
            clavis_authn::AuthnError::TooManyAttempts {
                retry_after_secs: 1
            }
        ),
        "{e}"
    );
    clock.advance(chrono::Duration::seconds(1));
    attempt(st, &mut conn, &mut key, oid, clock.now(), true)
        .await
        .expect("after the wait, a good login passes");
    let audit = clavis_store::models::AuditEventRow::page(&mut conn, 0, 100)
        .await
        .expect("audit");
    assert_eq!(
        audit.iter().filter(|a| a.action == "login.failed").count(),
        3
    );
    assert!(
        audit
            .iter()
            .any(|a| a.action == "login.succeeded" && a.client_addr.as_deref() == Some("10.1.2.3"))
    );
}

async fn attempt(
    st: &clavis_web::AppState,
    conn: &mut clavis_store::DbConn,
    key: &mut SoftPasskey,
    oid: Oid,
    now: chrono::DateTime<chrono::Utc>,
    good: bool,
) -> Result<clavis_authn::LoginProof, clavis_authn::AuthnError> {
    let c = st
        .fido2
        .begin_login(conn, now, Some(&oid.to_string()))
        .await
        .expect("begin");
    let a = key.do_authentication(origin(), c.options).expect("sign");
    let ceremony = if good {
        c.ceremony
    } else {
        "stolen-or-stale".to_string()
    };
    st.fido2
        .finish_login(&st.db, now, &ceremony, &a, Some("10.1.2.3"), None)
        .await
        .map(|o| o.proof)
}
