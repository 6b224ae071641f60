//! Enrolling a key from a one-time link (`/enrol/<token>`): the page, the
//! WebAuthn registration, and the link spent once used.

use super::{clinic, enrol_key, enrolment_path};
use crate::support::on_both_backends;
use actix_web::test::{TestRequest, call_service};
use clavis_testkit::db::Backend;
use serde_json::json;

on_both_backends!(
    an_enrolment_link_opens_its_page_and_registers_a_key,
    an_enrolment_link_is_single_use,
);

async fn an_enrolment_link_opens_its_page_and_registers_a_key(backend: Backend) {
    let t = clinic(backend).await;
    let app = t.service().await;
    let oid = t.person("Claire");
    let path = enrolment_path(&t, oid).await;
    let page = call_service(&app, TestRequest::get().uri(&path).to_request()).await;
    assert_eq!(page.status(), 200);
    enrol_key(&app, &path, Some("Clé bleue")).await;
    let mut conn = t.t.db.conn().await.expect("conn");
    let keys = clavis_authn::keys_of(&mut conn, oid).await.expect("keys");
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].label, "Clé bleue");
}

async fn an_enrolment_link_is_single_use(backend: Backend) {
    let t = clinic(backend).await;
    let app = t.service().await;
    let path = enrolment_path(&t, t.person("Claire")).await;
    enrol_key(&app, &path, None).await;
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
}
