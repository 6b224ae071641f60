//! Operators from the console: roles granted and withdrawn by an
//! administrator after a fresh login, never on their own roles, the last
//! administrator kept; admin API tokens created (shown once) and revoked.

use super::{csrf_of, hospital, post_form as post};
use crate::support::audit::{events_after, last_seq};
use crate::support::on_both_backends;
use actix_web::test::{TestRequest, call_service, read_body};
use clavis_store::models::IdentityRoleRow;
use clavis_testkit::db::Backend;

on_both_backends!(roles_and_tokens_are_managed_by_an_administrator_never_on_themselves);

async fn roles_and_tokens_are_managed_by_an_administrator_never_on_themselves(backend: Backend) {
    let t = hospital(backend).await;
    let app = t.service().await;
    let alice = t.person("Alice");
    let claire = t.person("Claire");
    let cookie = t.open_session(alice).await.cookie;
    let csrf = csrf_of(&cookie);
    let held = |oid| {
        let db = t.t.db.clone();
        async move {
            let mut conn = db.conn().await.expect("conn");
            IdentityRoleRow::for_identity(&mut conn, oid)
                .await
                .expect("roles")
        }
    };

    let before = last_seq(&t.t.db).await;
    let (status, to, body) = post(
        &app,
        "/console/operators/grant",
        &cookie,
        &[
            ("csrf", &csrf),
            ("identity", &claire.to_string()),
            ("role", "helpdesk"),
        ],
    )
    .await;
    assert_eq!((status, to.as_str()), (303, "/console/operators"), "{body}");
    assert_eq!(held(claire).await, vec!["helpdesk".to_string()]);
    let events = events_after(&t.t.db, before).await;
    assert!(
        events.iter().any(|e| e["action"] == "role.granted"
            && e["actor"] == format!("identity:{alice}")
            && e["target"] == claire.to_string()),
        "{events:?}"
    );
    // A role that does not exist: refused.
    let (status, _, _) = post(
        &app,
        "/console/operators/grant",
        &cookie,
        &[
            ("csrf", &csrf),
            ("identity", &claire.to_string()),
            ("role", "root"),
        ],
    )
    .await;
    assert_eq!(status, 400);
    // Never one's own roles.
    let (status, _, _) = post(
        &app,
        "/console/operators/revoke",
        &cookie,
        &[
            ("csrf", &csrf),
            ("oid", &alice.to_string()),
            ("role", "admin"),
        ],
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(held(alice).await, vec!["admin".to_string()]);
    // Withdrawn.
    let (status, _, _) = post(
        &app,
        "/console/operators/revoke",
        &cookie,
        &[
            ("csrf", &csrf),
            ("oid", &claire.to_string()),
            ("role", "helpdesk"),
        ],
    )
    .await;
    assert_eq!(status, 303);
    assert!(held(claire).await.is_empty());
    let events = events_after(&t.t.db, before).await;
    assert!(
        events
            .iter()
            .any(|e| e["action"] == "role.revoked" && e["changes"]["role"] == "helpdesk")
    );

    // The last administrator keeps the role (the CLI could try).
    let mut conn = t.t.db.conn().await.expect("conn");
    let e = clavis_directory::roles::revoke_role(
        &mut conn,
        clavis_core::Clock::now(&t.clock),
        alice,
        "admin",
        &clavis_core::Actor::Cli("root".into()),
    )
    .await
    .expect_err("the last administrator");
    assert!(e.to_string().contains("last administrator"), "{e}");
    assert_eq!(held(alice).await, vec!["admin".to_string()]);

    // A token needs scopes and an expiry.
    let (status, _, body) = post(
        &app,
        "/console/operators/tokens",
        &cookie,
        &[
            ("csrf", &csrf),
            ("name", "supervision"),
            ("expires_days", "30"),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("at least one area"), "{body}");
    // A token, shown once, reading identities for 30 days.
    let (status, _, page) = post(
        &app,
        "/console/operators/tokens",
        &cookie,
        &[
            ("csrf", &csrf),
            ("name", "supervision"),
            ("scope-identities", "read"),
            ("scope-cases", ""),
            ("expires_days", "30"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{page}");
    let token = page
        .split("id=\"token\" readonly value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("the token is shown")
        .to_string();
    assert!(token.starts_with("clv_"), "{token}");
    let api = |method: &'static str, path: String| {
        let token = token.clone();
        let app = &app;
        async move {
            let req = match method {
                "POST" => TestRequest::post(),
                _ => TestRequest::get(),
            }
            .uri(&path)
            .insert_header(("authorization", format!("Bearer {token}")))
            .to_request();
            call_service(app, req).await.status().as_u16()
        }
    };
    assert_eq!(api("GET", "/admin/api/identities".into()).await, 200);
    assert_eq!(
        api("GET", format!("/admin/api/identities/{claire}")).await,
        200
    );
    // Out of its scopes: acting, another area, an enrolment link (the
    // authenticators' area, however it is spelt).
    assert_eq!(api("GET", "/admin/api/clients".into()).await, 403);
    assert_eq!(api("GET", "/admin/api/sync-runs".into()).await, 403);
    assert_eq!(
        api(
            "POST",
            format!("/admin/api/identities/{claire}/enrolment-link")
        )
        .await,
        403
    );
    assert_eq!(
        api(
            "POST",
            format!("/admin/api/identities/{claire}/%65nrolment-link")
        )
        .await,
        403
    );
    // Expired after 30 days: refused like any bad token.
    t.clock.advance(chrono::Duration::days(31));
    assert_eq!(api("GET", "/admin/api/identities".into()).await, 401);
    let fresh = t.open_session(alice).await.cookie;
    let (status, _, _) = post(
        &app,
        "/console/operators/tokens/supervision/revoke",
        &fresh,
        &[("csrf", &csrf_of(&fresh))],
    )
    .await;
    assert_eq!(status, 303);
    assert!(
        clavis_authn::api_token::authenticate(&mut conn, &token, clavis_core::Clock::now(&t.clock))
            .await
            .expect("auth")
            .is_none()
    );
    // Not for the auditor, who reads the page.
    let aude = t.open_session(t.person("Aude")).await.cookie;
    let resp = call_service(
        &app,
        TestRequest::get()
            .uri("/console/operators")
            .insert_header(("cookie", aude.clone()))
            .to_request(),
    )
    .await;
    assert_eq!(resp.status().as_u16(), 200);
    let page = String::from_utf8_lossy(&read_body(resp).await).into_owned();
    assert!(page.contains("data-token=\"supervision\""));
    assert!(!page.contains("action=\"/console/operators/grant\""));
    let (status, _, _) = post(
        &app,
        "/console/operators/tokens",
        &aude,
        &[("csrf", &csrf_of(&aude)), ("name", "x")],
    )
    .await;
    assert_eq!(status, 403);
}
