//! FIDO2 login and the SSO session through the real HTTP application, with
//! software authenticators (webauthn-authenticator-rs) as the keys.

use crate::support::http::session_cookie_of;
use crate::support::{ORIGIN, on_both_backends, state};
use actix_web::test::{TestRequest, call_service, read_body, read_body_json};
use clavis_core::{Clock, Oid};
use clavis_testkit::db::{Backend, TestDb};
use serde_json::{Value, json};
use std::sync::Arc;
use url::Url;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

async fn nurse(db: &clavis_store::Db, status: &str) -> Oid {
    clavis_testkit::people::insert_person(
        db,
        "Lemoine",
        "Claire",
        status.parse().expect("a lifecycle status"),
    )
    .await
}

on_both_backends!(
    enrol_from_a_link_sign_in_see_me_and_sign_out,
    a_departed_identitys_session_and_keys_stop_working_at_once,
    an_allow_list_accepts_listed_models_and_refuses_others_with_a_clear_message,
    repeated_failures_impose_a_growing_wait_and_are_audited,
    concurrent_logins_each_open_a_session_and_keep_the_audit_chain_whole,
);

async fn enrol_from_a_link_sign_in_see_me_and_sign_out(backend: Backend) {
    let t = TestDb::new(backend).await;
    let clock = clavis_core::FixedClock::at("2026-11-22T08:00:00Z".parse().expect("instant"));
    let oid = nurse(&t.db, "active").await;
    let app = actix_web::test::init_service(clavis_web::build_app(
        state(&t.db, Arc::new(clock.clone())).await,
    ))
    .await;
    let mut conn = t.db.conn().await.expect("conn");
    let link =
        clavis_authn::issue_enrolment_link(&mut conn, clock.now(), ORIGIN, oid, 24, "cli:it")
            .await
            .expect("link");
    let path = link.url.expose().trim_start_matches(ORIGIN).to_string();

    // Enrol.
    let page = call_service(&app, TestRequest::get().uri(&path).to_request()).await;
    assert_eq!(page.status(), 200);
    let mut key = SoftPasskey::new(true);
    let begin: Value = read_body_json(
        call_service(
            &app,
            TestRequest::post()
                .uri(&format!("{path}/begin"))
                .set_json(json!({}))
                .to_request(),
        )
        .await,
    )
    .await;
    let options = serde_json::from_value(begin["options"].clone()).expect("creation options");
    let cred = key
        .do_registration(Url::parse(ORIGIN).expect("url"), options)
        .expect("soft key registers");
    let done = call_service(
        &app,
        TestRequest::post()
            .uri(&format!("{path}/finish"))
            .set_json(
                json!({"ceremony": begin["ceremony"], "credential": cred, "label": "Clé bleue"}),
            )
            .to_request(),
    )
    .await;
    assert_eq!(done.status(), 200, "{:?}", read_body(done).await);

    // The link is single use.
    assert_eq!(
        call_service(&app, TestRequest::get().uri(&path).to_request())
            .await
            .status(),
        410
    );
    let again = call_service(
        &app,
        TestRequest::post()
            .uri(&format!("{path}/begin"))
            .set_json(json!({}))
            .to_request(),
    )
    .await;
    assert_eq!(again.status(), 400);

    // Sign in, username first (the software key keeps no discoverable
    // credential; username-less login is proven in Chromium).
    let begin: Value = read_body_json(
        call_service(
            &app,
            TestRequest::post()
                .uri("/login/begin")
                .set_json(json!({"username": oid}))
                .to_request(),
        )
        .await,
    )
    .await;
    let options = serde_json::from_value(begin["options"].clone()).expect("request options");
    let assertion = key
        .do_authentication(Url::parse(ORIGIN).expect("url"), options)
        .expect("soft key signs");
    let resp = call_service(
        &app,
        TestRequest::post()
            .uri("/login/finish")
            .set_json(json!({"ceremony": begin["ceremony"], "credential": assertion, "return_to": "//evil.example/x"}))
            .to_request(),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let cookie = session_cookie_of(&resp).expect("session cookie");
    assert!(cookie.http_only().unwrap_or(false) && cookie.secure().unwrap_or(false));
    assert_eq!(cookie.same_site(), Some(actix_web::cookie::SameSite::Lax));
    assert_eq!(cookie.path(), Some("/"));
    assert!(cookie.domain().is_none(), "__Host- cookies have no domain");
    let body: Value = read_body_json(resp).await;
    assert_eq!(
        body["redirect"], "/me",
        "an open redirect is replaced by /me"
    );

    // The ceremony cannot be replayed.
    let replay = call_service(
        &app,
        TestRequest::post()
            .uri("/login/finish")
            .set_json(json!({"ceremony": begin["ceremony"], "credential": assertion}))
            .to_request(),
    )
    .await;
    assert_eq!(replay.status(), 401);

    // /me shows who is signed in and the time left.
    let me = call_service(
        &app,
        TestRequest::get()
            .uri("/me")
            .cookie(cookie.clone())
            .to_request(),
    )
    .await;
    assert_eq!(me.status(), 200);
    let html = String::from_utf8(read_body(me).await.to_vec()).expect("utf8");
    assert!(html.contains("Claire Lemoine"), "{html}");
    assert!(html.contains("4 h 00 min"), "{html}");
    assert!(html.contains("Clé bleue"));
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("csrf")
        .to_string();

    // A fresh login may add a second key from /me, and remove it (CSRF).
    let begin: Value = read_body_json(
        call_service(
            &app,
            TestRequest::post()
                .uri("/me/keys/begin")
                .cookie(cookie.clone())
                .set_json(json!({}))
                .to_request(),
        )
        .await,
    )
    .await;
    let mut spare = SoftPasskey::new(true);
    let cred = spare
        .do_registration(
            Url::parse(ORIGIN).expect("url"),
            serde_json::from_value(begin["options"].clone()).expect("options"),
        )
        .expect("register spare");
    let added = call_service(
        &app,
        TestRequest::post()
            .uri("/me/keys/finish")
            .cookie(cookie.clone())
            .set_json(json!({"ceremony": begin["ceremony"], "credential": cred, "label": "Clé de secours"}))
            .to_request(),
    )
    .await;
    assert_eq!(added.status(), 200);
    let keys = clavis_authn::keys_of(&mut conn, oid).await.expect("keys");
    assert_eq!(keys.len(), 2);
    let spare_id = keys
        .iter()
        .find(|k| k.label == "Clé de secours")
        .expect("spare")
        .id
        .clone();
    let forged = call_service(
        &app,
        TestRequest::post()
            .uri(&format!("/me/keys/{spare_id}/remove"))
            .cookie(cookie.clone())
            .set_form([("csrf", "x")])
            .to_request(),
    )
    .await;
    assert_eq!(forged.status(), 403, "removing a key needs the CSRF token");
    let removed = call_service(
        &app,
        TestRequest::post()
            .uri(&format!("/me/keys/{spare_id}/remove"))
            .cookie(cookie.clone())
            .set_form([("csrf", csrf.as_str())])
            .to_request(),
    )
    .await;
    assert_eq!(removed.status(), 303);
    assert_eq!(
        clavis_authn::keys_of(&mut conn, oid)
            .await
            .expect("keys")
            .len(),
        1
    );
    // Six minutes later the login is no longer fresh: no key changes.
    clock.advance(chrono::Duration::minutes(6));
    let stale = call_service(
        &app,
        TestRequest::post()
            .uri("/me/keys/begin")
            .cookie(cookie.clone())
            .set_json(json!({}))
            .to_request(),
    )
    .await;
    assert_eq!(
        stale.status(),
        400,
        "adding a key needs a login less than 5 minutes old"
    );

    // Another node sharing the database knows the session.
    let other_node = actix_web::test::init_service(clavis_web::build_app(
        state(&t.db, Arc::new(clock.clone())).await,
    ))
    .await;
    let there = call_service(
        &other_node,
        TestRequest::get()
            .uri("/me")
            .cookie(cookie.clone())
            .to_request(),
    )
    .await;
    assert_eq!(there.status(), 200, "valid on every node");

    // Signed in: /login goes on, unless a stronger assurance is asked
    // (step-up: authenticate again).
    let again = call_service(
        &app,
        TestRequest::get()
            .uri("/login?return_to=/me")
            .cookie(cookie.clone())
            .to_request(),
    )
    .await;
    assert_eq!(again.status(), 303);
    let weaker = call_service(
        &app,
        TestRequest::get()
            .uri("/login?acr=eidas1")
            .cookie(cookie.clone())
            .to_request(),
    )
    .await;
    assert_eq!(weaker.status(), 303, "eidas2 satisfies eidas1");
    let stronger = call_service(
        &app,
        TestRequest::get()
            .uri("/login?acr=eidas3")
            .cookie(cookie.clone())
            .to_request(),
    )
    .await;
    assert_eq!(
        stronger.status(),
        200,
        "eidas3 asks for a new authentication"
    );

    // Logout needs the CSRF token.
    let forged = call_service(
        &app,
        TestRequest::post()
            .uri("/logout")
            .cookie(cookie.clone())
            .set_form([("csrf", "nope")])
            .to_request(),
    )
    .await;
    assert_eq!(forged.status(), 403);
    let out = call_service(
        &app,
        TestRequest::post()
            .uri("/logout")
            .cookie(cookie.clone())
            .set_form([("csrf", csrf.as_str())])
            .to_request(),
    )
    .await;
    assert_eq!(out.status(), 200);
    let after = call_service(
        &app,
        TestRequest::get().uri("/me").cookie(cookie).to_request(),
    )
    .await;
    assert_eq!(after.status(), 303, "signed out: back to the login page");
}

async fn a_departed_identitys_session_and_keys_stop_working_at_once(backend: Backend) {
    let t = TestDb::new(backend).await;
    let clock = clavis_core::FixedClock::at("2026-11-22T08:00:00Z".parse().expect("instant"));
    let oid = nurse(&t.db, "active").await;
    let st = state(&t.db, Arc::new(clock.clone())).await;
    let app = actix_web::test::init_service(clavis_web::build_app(st.clone())).await;
    let mut conn = t.db.conn().await.expect("conn");
    let link =
        clavis_authn::issue_enrolment_link(&mut conn, clock.now(), ORIGIN, oid, 24, "cli:it")
            .await
            .expect("link");
    let path = link.url.expose().trim_start_matches(ORIGIN).to_string();
    let mut key = SoftPasskey::new(true);
    let begin: Value = read_body_json(
        call_service(
            &app,
            TestRequest::post()
                .uri(&format!("{path}/begin"))
                .set_json(json!({}))
                .to_request(),
        )
        .await,
    )
    .await;
    let cred = key
        .do_registration(
            Url::parse(ORIGIN).expect("url"),
            serde_json::from_value(begin["options"].clone()).expect("options"),
        )
        .expect("register");
    let r = call_service(
        &app,
        TestRequest::post()
            .uri(&format!("{path}/finish"))
            .set_json(json!({"ceremony": begin["ceremony"], "credential": cred}))
            .to_request(),
    )
    .await;
    assert_eq!(r.status(), 200);
    let login = |key: &mut SoftPasskey, begin: &Value| {
        key.do_authentication(
            Url::parse(ORIGIN).expect("url"),
            serde_json::from_value(begin["options"].clone()).expect("options"),
        )
        .expect("sign")
    };
    let username = json!({"username": oid});
    let begin: Value = read_body_json(
        call_service(
            &app,
            TestRequest::post()
                .uri("/login/begin")
                .set_json(&username)
                .to_request(),
        )
        .await,
    )
    .await;
    let a = login(&mut key, &begin);
    let resp = call_service(
        &app,
        TestRequest::post()
            .uri("/login/finish")
            .set_json(json!({"ceremony": begin["ceremony"], "credential": a}))
            .to_request(),
    )
    .await;
    let cookie = session_cookie_of(&resp).expect("cookie");

    // A second login is under way when HR says she left.
    let pending: Value = read_body_json(
        call_service(
            &app,
            TestRequest::post()
                .uri("/login/begin")
                .set_json(&username)
                .to_request(),
        )
        .await,
    )
    .await;
    let signed = login(&mut key, &pending);

    // HR says she left: the directory applies it with its subscribers.
    {
        use clavis_directory::lifecycle::{LifecycleEvent, LifecycleKind};
        let event = LifecycleEvent {
            oid,
            kind: LifecycleKind::Departed,
            reason: "leaver_flag".into(),
            sync_run_id: None,
            at: clock.now(),
        };
        conn.transaction(async |tx| {
            for s in &st.subscribers {
                s.on_event(tx, &event).await.expect("subscriber");
            }
            Ok::<_, clavis_store::StoreError>(())
        })
        .await
        .expect("commit");
    }
    let me = call_service(
        &app,
        TestRequest::get().uri("/me").cookie(cookie).to_request(),
    )
    .await;
    assert_eq!(me.status(), 303, "the session is gone at the next request");
    // Her key is suspended: a username-first challenge no longer lists it,
    // so the key is asked with an empty list and the server refuses.
    let begin: Value = read_body_json(
        call_service(
            &app,
            TestRequest::post()
                .uri("/login/begin")
                .set_json(&username)
                .to_request(),
        )
        .await,
    )
    .await;
    assert!(
        begin["options"]["publicKey"]["allowCredentials"]
            .as_array()
            .is_none_or(|a| a.is_empty()),
        "{begin}"
    );
    let late = call_service(
        &app,
        TestRequest::post()
            .uri("/login/finish")
            .set_json(json!({"ceremony": pending["ceremony"], "credential": signed}))
            .to_request(),
    )
    .await;
    assert_eq!(late.status(), 401, "a suspended key never opens a session");
    let body: Value = read_body_json(late).await;
    assert_eq!(body["error"]["code"], "login_failed");
    let mut conn2 = t.db.conn().await.expect("conn");
    let keys = clavis_authn::keys_of(&mut conn2, oid).await.expect("keys");
    assert_eq!(keys[0].status.as_str(), "suspended");
}

async fn an_allow_list_accepts_listed_models_and_refuses_others_with_a_clear_message(
    backend: Backend,
) {
    use webauthn_authenticator_rs::softtoken::SoftToken;
    use webauthn_rs::prelude::AttestationCaListBuilder;
    let t = TestDb::new(backend).await;
    let now = "2026-11-22T08:00:00Z".parse().expect("instant");
    let (mut token, ca) = SoftToken::new(true).expect("soft token with its own CA");
    let aaguid = token.get_info().aaguid.expect("aaguid");
    let mut list = AttestationCaListBuilder::new();
    list.insert_device_x509(ca, aaguid, "Soft token".into(), Default::default())
        .expect("ca");
    let cfg = clavis_authn::AuthnConfig {
        attestation: clavis_authn::AttestationPolicy::AllowList,
        ..Default::default()
    };
    let fido2 =
        clavis_authn::Fido2::new(cfg, &Url::parse(ORIGIN).expect("url"), Some(list.build()))
            .expect("rp");
    let oid = nurse(&t.db, "active").await;
    let mut conn = t.db.conn().await.expect("conn");

    // A listed model enrols.
    let link = clavis_authn::issue_enrolment_link(&mut conn, now, ORIGIN, oid, 24, "cli:it")
        .await
        .expect("link");
    let tok = link
        .url
        .expose()
        .rsplit('/')
        .next()
        .expect("token")
        .to_string();
    let c = fido2
        .begin_enrolment(&mut conn, now, &tok)
        .await
        .expect("begin");
    let cred = token
        .do_registration(Url::parse(ORIGIN).expect("url"), c.options)
        .expect("register");
    fido2
        .finish_registration(&mut conn, now, &c.ceremony, &cred, "", "identity:x")
        .await
        .expect("allowed model");

    // Another model (a self-attested passkey) is refused, and it is audited.
    let link = clavis_authn::issue_enrolment_link(&mut conn, now, ORIGIN, oid, 24, "cli:it")
        .await
        .expect("link");
    let tok = link
        .url
        .expose()
        .rsplit('/')
        .next()
        .expect("token")
        .to_string();
    let c = fido2
        .begin_enrolment(&mut conn, now, &tok)
        .await
        .expect("begin");
    let mut other = SoftPasskey::new(true);
    let cred = other
        .do_registration(Url::parse(ORIGIN).expect("url"), c.options)
        .expect("register");
    let e = fido2
        .finish_registration(&mut conn, now, &c.ceremony, &cred, "", "identity:x")
        .await
        .expect_err("refused");
    assert!(
        matches!(e, clavis_authn::AuthnError::ModelNotAllowed),
        "{e}"
    );
    assert!(e.to_string().contains("not accepted by the hospital"));
    assert_eq!(
        clavis_authn::keys_of(&mut conn, oid)
            .await
            .expect("keys")
            .len(),
        1,
        "nothing recorded"
    );
    let audit = clavis_store::models::AuditEventRow::page(&mut conn, 0, 100)
        .await
        .expect("audit");
    assert!(audit.iter().any(|a| a.action == "key.refused"));
    // The refused link was not consumed: the person can retry with a listed key.
    assert!(
        clavis_authn::check_enrolment_link(&mut conn, now, &tok)
            .await
            .is_ok()
    );
}

async fn repeated_failures_impose_a_growing_wait_and_are_audited(backend: Backend) {
    let t = TestDb::new(backend).await;
    let clock = clavis_core::FixedClock::at("2026-11-22T08:00:00Z".parse().expect("instant"));
    let st = state(&t.db, Arc::new(clock.clone())).await;
    let oid = nurse(&t.db, "active").await;
    let mut conn = t.db.conn().await.expect("conn");
    let link =
        clavis_authn::issue_enrolment_link(&mut conn, clock.now(), ORIGIN, oid, 24, "cli:it")
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
        .finish_registration(&mut conn, clock.now(), &c.ceremony, &cred, "", "x")
        .await
        .expect("enrol");
    for _ in 0..3 {
        let e = attempt(&st, &mut conn, &mut key, oid, clock.now(), false)
            .await
            .expect_err("bad ceremony");
        assert!(matches!(e, clavis_authn::AuthnError::LoginFailed), "{e}");
    }
    // The fourth attempt, even a good one, must wait.
    let e = attempt(&st, &mut conn, &mut key, oid, clock.now(), true)
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
    attempt(&st, &mut conn, &mut key, oid, clock.now(), true)
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
    let a = key
        .do_authentication(Url::parse(ORIGIN).expect("url"), c.options)
        .expect("sign");
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
        let link =
            clavis_authn::issue_enrolment_link(&mut conn, clock.now(), ORIGIN, oid, 24, "cli:it")
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
            .finish_registration(&mut conn, clock.now(), &c.ceremony, &cred, "", "x")
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
    assert_eq!(
        audit.iter().filter(|a| a.action == "login.failed").count(),
        1
    );
}
