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

/// `/login/begin`'s whole answer to `body`.
async fn begin_raw(app: &impl AppService, body: Value) -> Value {
    let r = call_service(
        app,
        TestRequest::post()
            .uri("/login/begin")
            .set_json(body)
            .to_request(),
    )
    .await;
    assert_eq!(r.status(), 200);
    read_body_json(r).await
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

/// The decoded lengths of the ids listed.
fn id_lengths(options: &Value) -> Vec<usize> {
    use base64::Engine;
    allowed_ids(options)
        .iter()
        .map(|id| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(id)
                .expect("base64url id")
                .len()
        })
        .collect()
}

/// `options` with its list of ids cut to its first: the shape of one
/// entry, whatever the count.
fn one_listed(options: &Value) -> Value {
    let mut v = options.clone();
    if let Some(a) = v["publicKey"]["allowCredentials"].as_array_mut() {
        a.truncate(1);
    }
    v
}

async fn a_known_and_an_unknown_login_name_get_the_same_shape(backend: Backend) {
    let t = clinic(backend).await;
    let app = t.service().await;
    let oid = t.person("Claire");
    let path = enrolment_path(&t, oid).await;
    enrol_key(&app, &path, None).await;
    let mut conn = t.t.db.conn().await.expect("conn");
    let real = clavis_store::models::AuthenticatorRow::active_credential_ids(&mut conn)
        .await
        .expect("ids");
    drop(conn);
    assert_eq!(real.len(), 1);

    let known = options_for(&app, &oid.to_string()).await;
    let unknown = options_for(&app, "nobody.here").await;
    // The ceremony token is as long for a name with keys as for one
    // without, or for a username-less login.
    let token_len = |v: Value| v["ceremony"].as_str().expect("ceremony").len();
    let lens = [
        token_len(begin_raw(&app, json!({"username": oid})).await),
        token_len(begin_raw(&app, json!({"username": "nobody.here"})).await),
        token_len(begin_raw(&app, json!({})).await),
    ];
    assert!(lens.iter().all(|l| *l == lens[0]), "{lens:?}");
    assert_eq!(
        shape(&one_listed(&known)),
        shape(&one_listed(&unknown)),
        "{known}\n{unknown}"
    );
    assert!(allowed_ids(&known).contains(&real[0]), "{known}");
    // Every id, real or decoy, has the length of the ids enrolled here
    // (this key model's), known name or not.
    let real_len = id_lengths(&known)
        .into_iter()
        .zip(allowed_ids(&known))
        .find(|(_, id)| *id == real[0])
        .expect("listed")
        .0;
    for name in ["nobody.here", "someone.else", "x"] {
        let o = options_for(&app, name).await;
        assert!(id_lengths(&o).iter().all(|l| *l == real_len), "{name}: {o}");
    }
    assert!(id_lengths(&known).iter().all(|l| *l == real_len), "{known}");
    // Two or three ids, by the name alone: one key, none or three cannot
    // be told apart by the count, and unknown names show both counts.
    let counts: std::collections::BTreeSet<usize> = unknown_name_counts(&app).await;
    assert_eq!(
        counts,
        [2usize, 3].into_iter().collect(),
        "unknown names list 2 or 3 ids"
    );
    assert!((2..=3).contains(&allowed_ids(&known).len()), "{known}");
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

/// The counts of ids listed for 16 unknown names.
async fn unknown_name_counts(app: &impl AppService) -> std::collections::BTreeSet<usize> {
    let mut counts = std::collections::BTreeSet::new();
    for i in 0..16 {
        counts.insert(allowed_ids(&options_for(app, &format!("nobody.{i}")).await).len());
    }
    counts
}
