//! No account enumeration at `/login/begin`: a login name that exists and
//! one that does not get answers of the same shape, each the same from one
//! request to the next.

use super::{clinic, enrol_key, enrolment_path};
use crate::support::http::AppService;
use crate::support::on_both_backends;
use actix_web::test::{TestRequest, call_service, read_body_json};
use clavis_testkit::db::Backend;
use serde_json::{Value, json};

on_both_backends!(a_known_and_an_unknown_login_name_get_the_same_shape);

/// The browser options `/login/begin` answers for `username`.
async fn options_for(app: &impl AppService, username: &str) -> Value {
    let r = call_service(
        app,
        TestRequest::post()
            .uri("/login/begin")
            .set_json(json!({"username": username}))
            .to_request(),
    )
    .await;
    assert_eq!(r.status(), 200);
    let v: Value = read_body_json(r).await;
    v["options"].clone()
}

/// The JSON with every leaf replaced by its type: what a caller could
/// tell two answers apart by, short of the values themselves.
fn shape(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
        Value::Array(a) => Value::Array(a.iter().map(shape).collect()),
        Value::String(_) => json!("string"),
        Value::Number(_) => json!("number"),
        Value::Bool(_) => json!("bool"),
        Value::Null => Value::Null,
    }
}

fn allowed_ids(options: &Value) -> Vec<String> {
    options["publicKey"]["allowCredentials"]
        .as_array()
        .expect("allowCredentials")
        .iter()
        .map(|c| c["id"].as_str().expect("id").to_string())
        .collect()
}

async fn a_known_and_an_unknown_login_name_get_the_same_shape(backend: Backend) {
    let t = clinic(backend).await;
    let app = t.service().await;
    let oid = t.person("Claire");
    let path = enrolment_path(&t, oid).await;
    enrol_key(&app, &path, None).await;

    let known = options_for(&app, &oid.to_string()).await;
    let unknown = options_for(&app, "nobody.here").await;
    assert_eq!(shape(&known), shape(&unknown), "{known}\n{unknown}");
    // One key or none: two ids each way.
    assert_eq!(allowed_ids(&unknown).len(), 2);
    assert_eq!(allowed_ids(&known).len(), 2);
    // A decoy is as stable as a real credential id, and each name has its own.
    assert_eq!(
        allowed_ids(&unknown),
        allowed_ids(&options_for(&app, "nobody.here").await)
    );
    assert_eq!(
        allowed_ids(&known),
        allowed_ids(&options_for(&app, &oid.to_string()).await)
    );
    assert_ne!(
        allowed_ids(&unknown),
        allowed_ids(&options_for(&app, "someone.else").await)
    );
    // Username-less login keeps its empty list.
    let r = call_service(
        &app,
        TestRequest::post()
            .uri("/login/begin")
            .set_json(json!({}))
            .to_request(),
    )
    .await;
    let v: Value = read_body_json(r).await;
    assert_eq!(allowed_ids(&v["options"]).len(), 0);
}
