//! FIDO2 with user verification only: a key that proves presence (a touch)
//! but not the person (no PIN, no biometric: the UV flag unset) enrols
//! nothing and opens no session. The software key signs honestly with UV
//! unset when the options it is given do not require verification, so the
//! tests hand it the server's options with `userVerification` lowered, as
//! a tampered browser or a U2F-only key would answer.

use super::{begin_login, clinic, enrol_key, enrolment_path, finish_login, origin};
use crate::support::audit::{events_after, last_seq};
use crate::support::http::session_cookie_of;
use crate::support::on_both_backends;
use actix_web::test::{TestRequest, call_service};
use clavis_testkit::db::Backend;
use serde_json::{Value, json};
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

on_both_backends!(
    a_key_without_user_verification_cannot_enrol,
    an_assertion_without_user_verification_opens_no_session,
);

async fn a_key_without_user_verification_cannot_enrol(backend: Backend) {
    let t = clinic(backend).await;
    let app = t.service().await;
    let oid = t.person("Claire");
    let path = enrolment_path(&t, oid).await;
    let begin: Value = actix_web::test::read_body_json(
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
    let mut options = begin["options"].clone();
    let selection = &mut options["publicKey"]["authenticatorSelection"];
    assert_eq!(selection["userVerification"], "required");
    selection["userVerification"] = json!("discouraged");
    let mut key = SoftPasskey::new(true);
    let cred = key
        .do_registration(origin(), serde_json::from_value(options).expect("options"))
        .expect("the key answers without user verification");
    let done = call_service(
        &app,
        TestRequest::post()
            .uri(&format!("{path}/finish"))
            .set_json(json!({"ceremony": begin["ceremony"], "credential": cred}))
            .to_request(),
    )
    .await;
    assert!(done.status().is_client_error(), "{}", done.status());
    let mut conn = t.t.db.conn().await.expect("conn");
    let keys = clavis_authn::keys_of(&mut conn, oid).await.expect("keys");
    assert!(keys.is_empty(), "no key enrolled: {keys:?}");
}

async fn an_assertion_without_user_verification_opens_no_session(backend: Backend) {
    let t = clinic(backend).await;
    let app = t.service().await;
    let oid = t.person("Claire");
    let mut key = enrol_key(&app, &enrolment_path(&t, oid).await, None).await;
    let begin = begin_login(&app, oid).await;
    let mut options = begin["options"].clone();
    assert_eq!(options["publicKey"]["userVerification"], "required");
    options["publicKey"]["userVerification"] = json!("discouraged");
    let assertion = key
        .do_authentication(origin(), serde_json::from_value(options).expect("options"))
        .expect("the key signs without user verification");
    let before = last_seq(&t.t.db).await;
    let r = finish_login(
        &app,
        json!({"ceremony": begin["ceremony"], "credential": assertion}),
    )
    .await;
    assert_eq!(r.status(), 401);
    assert!(session_cookie_of(&r).is_none_or(|c| c.value().is_empty()));
    let events = events_after(&t.t.db, before).await;
    let failed = events
        .iter()
        .find(|e| e["action"] == "login.failed")
        .expect("login.failed audited");
    assert!(
        events.iter().all(|e| e["action"] != "session.created"),
        "{events:#?}"
    );
    let reason = failed["changes"]["reason"].as_str().unwrap_or_default();
    assert!(
        ["user_not_verified", "signature_or_challenge_invalid"].contains(&reason),
        "{failed}"
    );
}
