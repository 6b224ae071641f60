//! Every list the admin API answers is paged and says so: the items, how
//! many match in all, and the offset of the next page (`null` on the
//! last), so nothing past the first page goes unnoticed.

use crate::support::http::AppService;
use crate::support::{TestApp, on_both_backends};
use actix_web::test::{TestRequest, call_service, read_body_json};
use clavis_core::CaseStatus;
use clavis_testkit::db::Backend;
use serde_json::{Value, json};

on_both_backends!(identities_and_cases_come_in_pages_with_their_total);

async fn get(app: &impl AppService, t: &TestApp, uri: &str) -> Value {
    let r = call_service(
        app,
        TestRequest::get()
            .uri(uri)
            .insert_header(t.admin_auth())
            .to_request(),
    )
    .await;
    assert_eq!(r.status(), 200, "{uri}");
    read_body_json(r).await
}

async fn identities_and_cases_come_in_pages_with_their_total(backend: Backend) {
    let t = TestApp::on(backend)
        .with_person("Lemoine", "Claire")
        .with_person("Martin", "Paul")
        .with_person("Roux", "Marc")
        .with_admin_token()
        .start()
        .await;
    let mut conn = t.t.db.conn().await.expect("conn");
    for i in 0..3 {
        clavis_store::models::ReconciliationCase {
            id: format!("case-{i}"),
            source: "rh".into(),
            external_id: format!("E00{i}"),
            entry_ref: format!("uid=E00{i}"),
            reason: "near_match".into(),
            candidates: "[]".into(),
            status: CaseStatus::Open,
            resolution: None,
            resolved_by: None,
            opened_at: i,
            resolved_at: None,
            sync_run_id: None,
        }
        .insert(&mut conn)
        .await
        .expect("case");
    }
    let app = t.service().await;
    let first = get(&app, &t, "/admin/api/identities?limit=2").await;
    assert_eq!(first["items"].as_array().map(Vec::len), Some(2), "{first}");
    assert_eq!(
        (&first["total"], &first["next_offset"]),
        (&json!(3), &json!(2))
    );
    let last = get(&app, &t, "/admin/api/identities?limit=2&offset=2").await;
    assert_eq!(last["items"].as_array().map(Vec::len), Some(1), "{last}");
    assert_eq!(last["next_offset"], Value::Null);
    assert_eq!(last["total"], json!(3), "counted with the last page");
    let past = get(&app, &t, "/admin/api/identities?limit=2&offset=5").await;
    assert_eq!(past["items"].as_array().map(Vec::len), Some(0), "{past}");
    assert_eq!(past["total"], json!(3), "counted past the end too");
    // A search counts what it matches, not the page: Martin and Marc.
    let found = get(&app, &t, "/admin/api/identities?limit=1&search=MA").await;
    assert_eq!(found["items"].as_array().map(Vec::len), Some(1), "{found}");
    assert_eq!(
        (&found["total"], &found["next_offset"]),
        (&json!(2), &json!(1))
    );
    assert_eq!(found["items"][0]["birth_family_name"], "Martin", "{found}");

    let cases = get(&app, &t, "/admin/api/cases?limit=2").await;
    assert_eq!(cases["items"].as_array().map(Vec::len), Some(2), "{cases}");
    assert_eq!(
        (&cases["total"], &cases["next_offset"]),
        (&json!(3), &json!(2))
    );
    assert_eq!(cases["items"][0]["id"], "case-2", "newest first");
    let rest = get(&app, &t, "/admin/api/cases?limit=2&offset=2").await;
    assert_eq!(rest["items"][0]["id"], "case-0");
    assert_eq!(rest["next_offset"], Value::Null);
}
