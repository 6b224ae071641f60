//! The attestation allow-list (`attestation = "allow-list"`): a key of a
//! listed model enrols; any other is refused with a message saying why,
//! audited, and the link stays usable for a listed key.

use super::{clinic, enrolment_token, origin};
use crate::support::{ORIGIN, on_both_backends};
use clavis_core::Clock;
use clavis_testkit::db::Backend;
use url::Url;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_authenticator_rs::softtoken::SoftToken;
use webauthn_rs::prelude::AttestationCaListBuilder;

on_both_backends!(
    a_key_of_a_listed_model_enrols,
    a_key_of_another_model_is_refused_with_a_clear_message_and_audited,
);

/// A relying party accepting only the model of the returned soft token.
fn allow_list_of_one_model() -> (clavis_authn::Fido2, SoftToken) {
    let (token, ca) = SoftToken::new(true).expect("soft token with its own CA");
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
    (fido2, token)
}

async fn a_key_of_a_listed_model_enrols(backend: Backend) {
    let t = clinic(backend).await;
    let (fido2, mut token) = allow_list_of_one_model();
    let (oid, now) = (t.person("Claire"), t.clock.now());
    let tok = enrolment_token(&t, oid).await;
    let mut conn = t.t.db.conn().await.expect("conn");
    let c = fido2
        .begin_enrolment(&mut conn, now, &tok)
        .await
        .expect("begin");
    let cred = token
        .do_registration(origin(), c.options)
        .expect("register");
    fido2
        .finish_registration(
            &mut conn,
            now,
            &c.ceremony,
            &cred,
            "",
            &clavis_core::Actor::Cli("it".into()),
        )
        .await
        .expect("allowed model");
    assert_eq!(
        clavis_authn::keys_of(&mut conn, oid)
            .await
            .expect("keys")
            .len(),
        1
    );
}

async fn a_key_of_another_model_is_refused_with_a_clear_message_and_audited(backend: Backend) {
    let t = clinic(backend).await;
    let (fido2, _) = allow_list_of_one_model();
    let (oid, now) = (t.person("Claire"), t.clock.now());
    let tok = enrolment_token(&t, oid).await;
    let mut conn = t.t.db.conn().await.expect("conn");
    let c = fido2
        .begin_enrolment(&mut conn, now, &tok)
        .await
        .expect("begin");
    // A self-attested passkey.
    let mut other = SoftPasskey::new(true);
    let cred = other
        .do_registration(origin(), c.options)
        .expect("register");
    let e = fido2
        .finish_registration(
            &mut conn,
            now,
            &c.ceremony,
            &cred,
            "",
            &clavis_core::Actor::Cli("it".into()),
        )
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
        0,
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
