//! The console's actions through the admin API, on both backends: the same
//! service functions and the same audit (actor `api:<token>`), and a
//! token's scopes deciding what it reaches.

use super::{case_against_claire, hospital, session_is_live};
use crate::support::audit::{events_after, last_seq};
use crate::support::{TestApp, on_both_backends};
use actix_web::test::{TestRequest, call_service, read_body};
use clavis_core::{ClientId, Clock, Oid};
use clavis_store::models::{HabilitationRow, IdentityRoleRow};
use clavis_testkit::db::Backend;
use serde_json::{Value, json};

on_both_backends!(
    the_console_s_actions_are_in_the_admin_api,
    a_token_reaches_only_its_scopes,
    manual_identities_and_sync_runs_through_the_api,
    a_token_with_scopes_never_acts_on_an_operator,
);

/// Asks the API with `auth`: status and JSON body (`Null` when empty).
async fn api(
    app: &impl crate::support::http::AppService,
    auth: &(&'static str, String),
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let req = match method {
        "GET" => TestRequest::get(),
        "PUT" => TestRequest::put(),
        _ => TestRequest::post(),
    }
    .uri(path)
    .insert_header(auth.clone());
    let req = match body {
        Some(b) => req.set_json(b),
        None => req,
    };
    let resp = call_service(app, req.to_request()).await;
    let status = resp.status().as_u16();
    let bytes = read_body(resp).await;
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn dpi(t: &TestApp) -> ClientId {
    let mut conn = t.t.db.conn().await.expect("conn");
    clavis_oidc::clients::register(
        &mut conn,
        t.clock.now(),
        clavis_oidc::clients::NewClient {
            name: "DPI".into(),
            redirect_uris: vec!["https://dpi.chu.test/cb".into()],
            ..Default::default()
        },
        &t.state.oidc.registration_rules(),
        &clavis_core::Actor::Cli("it".into()),
    )
    .await
    .expect("client")
    .0
    .client_id
}

async fn roles_of(t: &TestApp, oid: Oid) -> Vec<String> {
    let mut conn = t.t.db.conn().await.expect("conn");
    IdentityRoleRow::for_identity(&mut conn, oid)
        .await
        .expect("roles")
}

async fn the_console_s_actions_are_in_the_admin_api(backend: Backend) {
    let t = hospital(backend).await;
    let app = t.service().await;
    let auth = t.admin_auth();
    let claire = t.person("Claire");
    let client = dpi(&t).await;
    let until = (t.clock.now().with_timezone(&chrono::Local).date_naive() + chrono::Days::new(30))
        .to_string();
    let before = last_seq(&t.t.db).await;

    // Habilitations: granted with an end, listed, reviewed away.
    let grant = json!({"person": claire, "client_id": client, "role": "ide", "valid_until": until});
    let (status, body) = api(
        &app,
        &auth,
        "POST",
        "/admin/api/habilitations",
        Some(grant.clone()),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, _) = api(&app, &auth, "POST", "/admin/api/habilitations", Some(grant)).await;
    assert_eq!(status, 200, "already held, same days");
    let (status, list) = api(
        &app,
        &auth,
        "GET",
        &format!("/admin/api/habilitations?person={claire}"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(list["items"][0]["valid_until"], until.as_str(), "{list}");
    let (status, opened) = api(
        &app,
        &auth,
        "POST",
        "/admin/api/habilitations/campaigns",
        Some(json!({"title": "Revue DPI", "client_id": client})),
    )
    .await;
    assert_eq!(status, 201, "{opened}");
    let campaign = opened["id"].as_str().expect("id").to_string();
    let (status, body) = api(
        &app,
        &auth,
        "POST",
        &format!("/admin/api/habilitations/campaigns/{campaign}/decide"),
        Some(json!({"oid": claire, "client_id": client, "role": "ide", "decision": "remove"})),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let mut conn = t.t.db.conn().await.expect("conn");
    assert!(
        HabilitationRow::find(&mut conn, claire, &client, "ide")
            .await
            .expect("find")
            .is_none(),
        "removed at once"
    );
    drop(conn);
    let (status, _) = api(
        &app,
        &auth,
        "POST",
        &format!("/admin/api/habilitations/campaigns/{campaign}/close"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = api(
        &app,
        &auth,
        "POST",
        "/admin/api/habilitations/revoke",
        Some(json!({"person": claire, "client_id": client, "role": "ide"})),
    )
    .await;
    assert_eq!(status, 404, "no longer held");

    // A case: linked to a listed candidate only, with its comment.
    let case = case_against_claire(&t, "Girard").await;
    let stranger = t.person("Noé");
    let (status, _) = api(
        &app,
        &auth,
        "POST",
        &format!("/admin/api/cases/{case}/resolve"),
        Some(json!({"decision": "link", "candidate": stranger, "comment": "vu"})),
    )
    .await;
    assert_eq!(status, 400, "not a candidate");
    let (status, _) = api(
        &app,
        &auth,
        "POST",
        &format!("/admin/api/cases/{case}/resolve"),
        Some(json!({"decision": "link", "candidate": claire, "comment": " "})),
    )
    .await;
    assert_eq!(status, 400, "a comment is required");
    let (status, body) = api(
        &app,
        &auth,
        "POST",
        &format!("/admin/api/cases/{case}/resolve"),
        Some(json!({"decision": "link", "candidate": claire, "comment": "même personne, vérifié avec la DRH"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["oid"], claire.to_string());

    // Sessions: one, then all of a person.
    let one = t.open_session(claire).await;
    let other = t.open_session(claire).await;
    let (status, _) = api(
        &app,
        &auth,
        "POST",
        &format!("/admin/api/sessions/{}/end", one.id.as_str()),
        None,
    )
    .await;
    assert_eq!(status, 204);
    assert!(!session_is_live(&t, &one.id).await);
    assert!(session_is_live(&t, &other.id).await);
    let (status, _) = api(
        &app,
        &auth,
        "POST",
        "/admin/api/sessions/end-all",
        Some(json!({"person": claire})),
    )
    .await;
    assert_eq!(status, 204);
    assert!(!session_is_live(&t, &other.id).await);

    // Operator roles.
    let role = |r: &str| Some(json!({"person": claire, "role": r}));
    let (status, _) = api(
        &app,
        &auth,
        "POST",
        "/admin/api/operators/roles/grant",
        role("superuser"),
    )
    .await;
    assert_eq!(status, 400, "not a role");
    let (status, _) = api(
        &app,
        &auth,
        "POST",
        "/admin/api/operators/roles/grant",
        role("helpdesk"),
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(roles_of(&t, claire).await, vec!["helpdesk"]);
    let (status, _) = api(
        &app,
        &auth,
        "POST",
        "/admin/api/operators/roles/revoke",
        role("helpdesk"),
    )
    .await;
    assert_eq!(status, 204);
    assert!(roles_of(&t, claire).await.is_empty());
    let (status, _) = api(
        &app,
        &auth,
        "POST",
        "/admin/api/operators/roles/revoke",
        role("helpdesk"),
    )
    .await;
    assert_eq!(status, 404);

    // Every action above is in the journal as the token's, and the API's
    // search finds them.
    let events = events_after(&t.t.db, before).await;
    for action in [
        "habilitation.granted",
        "review.opened",
        "review.decided",
        "habilitation.revoked",
        "review.closed",
        "case.resolved",
        "session.ended",
        "role.granted",
        "role.revoked",
    ] {
        let e = events
            .iter()
            .find(|e| e["action"] == action)
            .unwrap_or_else(|| panic!("{action} in {events:?}"));
        if action != "session.ended" {
            assert_eq!(e["actor"], "api:dsi", "{e}");
        }
    }
    let resolved = events
        .iter()
        .find(|e| e["action"] == "case.resolved")
        .expect("case");
    assert_eq!(
        resolved["changes"]["comment"],
        "même personne, vérifié avec la DRH"
    );
    let (status, found) = api(
        &app,
        &auth,
        "GET",
        "/admin/api/audit?action=role.&actor=api:dsi",
        None,
    )
    .await;
    assert_eq!(status, 200);
    let actions: Vec<&str> = found["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(actions, ["role.revoked", "role.granted"], "newest first");
    let (status, _) = api(&app, &auth, "GET", "/admin/api/audit?from=yesterday", None).await;
    assert_eq!(status, 400);

    // The compliance report, as JSON.
    let (status, report) = api(&app, &auth, "GET", "/admin/api/compliance", None).await;
    assert_eq!(status, 200);
    assert_eq!(report["active"], 8, "{report}");
    assert_eq!(report["second_factor"]["denominator"], 8);
}

async fn a_token_reaches_only_its_scopes(backend: Backend) {
    let t = hospital(backend).await;
    let app = t.service().await;
    let mut conn = t.t.db.conn().await.expect("conn");
    let scopes = [clavis_authn::api_token::parse_scope("habilitations:read").expect("scope")];
    let token = clavis_authn::api_token::create_scoped(
        &mut conn,
        "revue",
        Some(&scopes),
        None,
        &clavis_core::Actor::Cli("it".into()),
        Clock::now(&t.clock),
    )
    .await
    .expect("token");
    drop(conn);
    let auth = ("authorization", format!("Bearer {}", token.expose()));
    let client = dpi(&t).await;
    let (status, _) = api(&app, &auth, "GET", "/admin/api/habilitations", None).await;
    assert_eq!(status, 200);
    for (method, path, body) in [
        (
            "POST",
            "/admin/api/habilitations",
            Some(json!({"person": t.person("Claire"), "client_id": client, "role": "ide"})),
        ),
        ("GET", "/admin/api/audit", None),
        ("GET", "/admin/api/compliance", None),
        (
            "POST",
            "/admin/api/operators/roles/grant",
            Some(json!({"person": t.person("Claire"), "role": "admin"})),
        ),
        (
            "POST",
            "/admin/api/sessions/end-all",
            Some(json!({"person": t.person("Claire")})),
        ),
    ] {
        let (status, _) = api(&app, &auth, method, path, body).await;
        assert_eq!(status, 403, "{method} {path}");
    }
    assert!(roles_of(&t, t.person("Claire")).await.is_empty());
}

async fn manual_identities_and_sync_runs_through_the_api(backend: Backend) {
    let t = hospital(backend).await;
    let app = t.service().await;
    let auth = t.admin_auth();
    let until = (t.clock.now().with_timezone(&chrono::Local).date_naive() + chrono::Days::new(60))
        .to_string();
    let consultant = json!({
        "birth_family_name": "Garnier", "birth_given_names": ["Paul"],
        "birth_date": "1979-09-14", "until": until, "sponsor": "Dr Morel",
        "reason": "audit du bloc",
    });
    let (status, body) = api(
        &app,
        &auth,
        "POST",
        "/admin/api/identities",
        Some(consultant.clone()),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let oid: Oid = body["oid"].as_str().expect("oid").parse().expect("oid");
    let (status, body) = api(
        &app,
        &auth,
        "POST",
        "/admin/api/identities",
        Some(consultant),
    )
    .await;
    assert_eq!(status, 409, "the same person: {body}");
    // Terms come together.
    let (status, _) = api(
        &app,
        &auth,
        "POST",
        "/admin/api/identities",
        Some(
            json!({"birth_family_name": "Roux", "birth_given_names": ["Léa"],
                    "birth_date": "1990-01-02", "sponsor": "Dr Morel"}),
        ),
    )
    .await;
    assert_eq!(status, 400);
    // Someone carrying Claire's RPPS under another name: a case, no double.
    let (status, body) = api(
        &app,
        &auth,
        "POST",
        "/admin/api/identities",
        Some(
            json!({"birth_family_name": "Girard", "birth_given_names": ["Paul"],
                    "birth_date": "1985-03-02", "rpps": super::CLAIRE_RPPS}),
        ),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["candidates"][0]["oid"], t.person("Claire").to_string());
    let events = events_after(&t.t.db, 0).await;
    assert!(events.iter().any(|e| e["action"] == "identity.created"
        && e["target"] == oid.to_string()
        && e["actor"] == "api:dsi"));

    // HR's source: a dry run shows two arrivals and writes nothing.
    let (status, report) = api(
        &app,
        &auth,
        "POST",
        "/admin/api/sync-runs",
        Some(json!({"source": "rh", "dry_run": true})),
    )
    .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["created"], 2, "{report}");
    let (_, runs) = api(&app, &auth, "GET", "/admin/api/sync-runs?source=rh", None).await;
    assert_eq!(runs["items"].as_array().map(Vec::len), Some(0), "{runs}");
    let (status, _) = api(
        &app,
        &auth,
        "POST",
        "/admin/api/sync-runs",
        Some(json!({"source": "nowhere"})),
    )
    .await;
    assert_eq!(status, 404);
    // A run, in the background: its outcome in the runs.
    let (status, _) = api(
        &app,
        &auth,
        "POST",
        "/admin/api/sync-runs",
        Some(json!({"source": "rh"})),
    )
    .await;
    assert_eq!(status, 202);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let finished = loop {
        let (_, runs) = api(&app, &auth, "GET", "/admin/api/sync-runs?source=rh", None).await;
        if let Some(r) = runs["items"]
            .as_array()
            .and_then(|i| i.first())
            .filter(|r| r["status"] != "running")
        {
            break r.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the run did not finish"
        );
        tokio::task::yield_now().await;
    };
    assert_eq!(finished["status"], "succeeded", "{finished}");
    assert_eq!(finished["created"], 2, "{finished}");
    let events = events_after(&t.t.db, 0).await;
    assert!(
        events
            .iter()
            .any(|e| e["action"] == "sync.requested" && e["actor"] == "api:dsi")
    );
}

async fn a_token_with_scopes_never_acts_on_an_operator(backend: Backend) {
    let t = hospital(backend).await;
    let app = t.service().await;
    let mut conn = t.t.db.conn().await.expect("conn");
    let scopes: Vec<_> = [
        "identities:write",
        "sessions:write",
        "authenticators:write",
        "operators:write",
        "habilitations:write",
    ]
    .iter()
    .map(|s| clavis_authn::api_token::parse_scope(s).expect("scope"))
    .collect();
    let token = clavis_authn::api_token::create_scoped(
        &mut conn,
        "provisioning",
        Some(&scopes),
        None,
        &clavis_core::Actor::Cli("it".into()),
        Clock::now(&t.clock),
    )
    .await
    .expect("token");
    drop(conn);
    let auth = ("authorization", format!("Bearer {}", token.expose()));
    let (alice, claire) = (t.person("Alice"), t.person("Claire"));
    let admin_session = t.open_session(alice).await;
    let before = last_seq(&t.t.db).await;
    for (path, body) in [
        (
            format!("/admin/api/identities/{alice}/suspend"),
            Some(json!({"reason": "x"})),
        ),
        (
            format!("/admin/api/identities/{alice}/enrolment-link"),
            None,
        ),
        (format!("/admin/api/identities/{alice}/badge-unlock"), None),
        (
            "/admin/api/sessions/end-all".to_string(),
            Some(json!({"person": alice})),
        ),
        (
            format!("/admin/api/sessions/{}/end", admin_session.id.as_str()),
            None,
        ),
        (
            format!("/admin/api/identities/{alice}/psc-link/revoke"),
            Some(json!({"reason": "x"})),
        ),
        (
            "/admin/api/habilitations".to_string(),
            Some(json!({"person": alice, "client_id": dpi(&t).await, "role": "admin-dpi"})),
        ),
    ] {
        let (status, _) = api(&app, &auth, "POST", &path, body).await;
        assert_eq!(status, 403, "{path}");
    }
    assert!(session_is_live(&t, &admin_session.id).await);
    let refused = events_after(&t.t.db, before)
        .await
        .into_iter()
        .filter(|e| e["action"] == "console.target_refused" && e["actor"] == "api:provisioning")
        .count();
    assert_eq!(refused, 7);
    // Roles: never with a token that has scopes, even `operators`.
    let (status, _) = api(
        &app,
        &auth,
        "POST",
        "/admin/api/operators/roles/grant",
        Some(json!({"person": claire, "role": "admin"})),
    )
    .await;
    assert_eq!(status, 403);
    assert!(roles_of(&t, claire).await.is_empty());
    // A nurse: the same token acts.
    let (status, _) = api(
        &app,
        &auth,
        "POST",
        "/admin/api/sessions/end-all",
        Some(json!({"person": claire})),
    )
    .await;
    assert_eq!(status, 204);
    let (status, body) = api(
        &app,
        &auth,
        "POST",
        &format!("/admin/api/identities/{claire}/enrolment-link"),
        None,
    )
    .await;
    assert_eq!(status, 201, "{body}");
}
