//! The route × role matrix: every console route, asked by every role (and
//! by someone without any, and by someone signed out), answers what
//! `clavis_core::roles` says — `403` to each role that may not use it,
//! audited `console.denied` — and the operator's own page otherwise.

use super::{OPERATORS, csrf_of, hospital, psc_session};
use crate::support::audit::{events_after, last_seq};
use crate::support::http::{AppService, form, location};
use crate::support::{TestApp, on_both_backends};
use actix_web::http::Method;
use actix_web::test::{TestRequest, call_service, read_body};
use clavis_core::roles::{self, Area};
use clavis_testkit::db::Backend;

on_both_backends!(
    every_route_answers_403_to_the_roles_that_may_not_use_it,
    signed_out_a_page_asks_to_sign_in_and_an_action_is_refused,
    a_session_opened_through_pro_sante_connect_does_not_run_the_console,
);

/// One route of the console: its method, its path (`{claire}` and
/// `{session}` filled in at run time), and the page it answers when
/// allowed (`None`: an area without pages yet, `404`).
struct Route {
    method: Method,
    path: &'static str,
    allowed_status: u16,
}

const fn get(path: &'static str) -> Route {
    Route {
        method: Method::GET,
        path,
        allowed_status: 200,
    }
}

const fn post(path: &'static str) -> Route {
    Route {
        method: Method::POST,
        path,
        allowed_status: 303,
    }
}

/// Every route the console has, and in each area a route it does not have
/// (so that a future route there is covered too).
fn routes() -> Vec<Route> {
    let mut all = vec![
        get("/console"),
        get("/console/identities"),
        get("/console/identities?q=lemoine&status=active"),
        get("/console/identities/{claire}"),
        // (Nobody by that key: 404, past the gate.)
        Route {
            allowed_status: 404,
            ..post("/console/identities/personne/suspend")
        },
        Route {
            allowed_status: 404,
            ..post("/console/identities/personne/reinstate")
        },
        // (Without a note: refused 400, past the gate.)
        Route {
            allowed_status: 400,
            ..post("/console/identities/{claire}/psc-unlink")
        },
        get("/console/sessions"),
        get("/console/sessions?oid={claire}"),
        post("/console/sessions/end-all"),
        post("/console/sessions/{session}/end"),
        get("/console/authenticators"),
        get("/console/authenticators?status=all"),
        get("/console/authenticators?oid={claire}"),
        post("/console/authenticators/keys/{key}/revoke"),
        post("/console/authenticators/badges/{badge}/revoke"),
        post("/console/authenticators/pin-unlock"),
        Route {
            allowed_status: 200,
            ..post("/console/authenticators/enrolment-links")
        },
        get("/console/cases"),
        get("/console/cases?all=1"),
        get("/console/cases/{case}"),
        post("/console/cases/{case}/resolve"),
        get("/console/identities/manual"),
        post("/console/identities/manual"),
        get("/console/syncs"),
        get("/console/syncs?source=rh"),
        Route {
            allowed_status: 200,
            ..post("/console/syncs/rh/dry-run")
        },
        post("/console/syncs/rh/run"),
        get("/console/operators"),
        Route {
            allowed_status: 400,
            ..post("/console/operators/grant")
        },
        get("/console/applications"),
        // (An unknown algorithm: refused 400, past the gate.)
        Route {
            allowed_status: 400,
            ..post("/console/applications/keys/rotate")
        },
        // (An empty form: refused 400, past the gate.)
        Route {
            allowed_status: 400,
            ..post("/console/applications")
        },
        get("/console/habilitations"),
        // (No habilitation in the test hospital: opening a review is
        // refused 400, past the gate.)
        Route {
            allowed_status: 400,
            ..post("/console/habilitations/campaigns")
        },
        get("/console/compliance"),
        get("/console/compliance/departed"),
        get("/console/compliance/report"),
        get("/console/compliance/report.csv"),
        get("/console/compliance/report.pdf"),
        get("/console/audit"),
        get("/console/audit?action=login.&from=2020-01-01"),
        get("/console/audit/export.csv"),
        get("/console/audit/verify"),
    ];
    // A route no area has yet: refused to those the area refuses, not
    // found for the others (a route added there later is covered so).
    for area in Area::ALL.iter().filter(|a| **a != Area::Dashboard) {
        let act: &'static str = Box::leak(format!("/console/{area}/anything").into_boxed_str());
        all.push(Route {
            allowed_status: 404,
            ..post(act)
        });
    }
    all
}

/// Asks `route` with `cookie`; answers the status and the body.
async fn ask(
    app: &impl AppService,
    t: &TestApp,
    route: &Route,
    cookie: &str,
) -> (u16, String, Vec<serde_json::Value>) {
    let claire = t.person("Claire");
    // A session of Claire's to end, fresh for each request.
    let session = t.open_session(claire).await;
    // And a key and a badge of hers to revoke.
    let n = clavis_core::ids::new_record_id();
    clavis_testkit::people::insert_key(&t.t.db, claire, &format!("key-{n}")).await;
    clavis_testkit::people::insert_badge(&t.t.db, claire, &format!("badge-{n}")).await;
    let case = if route.path.contains("{case}") {
        super::case_against_claire(t, &format!("Girard{}", &n[..8])).await
    } else {
        String::new()
    };
    let seen = if case.is_empty() {
        String::new()
    } else {
        super::seen_of(t, &case).await
    };
    let path = route
        .path
        .replace("{case}", &case)
        .replace("{claire}", &claire.to_string())
        .replace("{session}", session.id.as_str())
        .replace("{key}", &format!("key-{n}"))
        .replace("{badge}", &format!("badge-{n}"));
    let mut req = TestRequest::default()
        .method(route.method.clone())
        .uri(&path)
        .insert_header(("cookie", cookie.to_string()));
    let until =
        (clavis_core::Clock::now(&t.clock).date_naive() + chrono::Days::new(10)).to_string();
    if route.method == Method::POST {
        req = req
            .insert_header(("content-type", "application/x-www-form-urlencoded"))
            .set_payload(form(&[
                ("csrf", &csrf_of(cookie)),
                ("oid", &claire.to_string()),
                ("reason", "lost"),
                ("decision", "new"),
                ("seen", &seen),
                ("comment", "checked with HR"),
                ("birth_name", &format!("Nouveau{}", &n[..8])),
                ("given_names", "Jean"),
                ("birth_date", "1970-01-01"),
                ("until", &until),
                ("sponsor", "Dr Morel"),
            ]));
    }
    let before = last_seq(&t.t.db).await;
    let resp = call_service(app, req.to_request()).await;
    let status = resp.status().as_u16();
    let body = String::from_utf8_lossy(&read_body(resp).await).into_owned();
    (status, body, events_after(&t.t.db, before).await)
}

async fn every_route_answers_403_to_the_roles_that_may_not_use_it(backend: Backend) {
    let t = hospital(backend).await;
    let app = t.service().await;
    let mut callers: Vec<(&str, Vec<roles::OperatorRole>)> = OPERATORS
        .iter()
        .map(|(given, role)| (*given, vec![*role]))
        .collect();
    callers.push(("Noé", vec![]));
    let mut refused = 0;
    for (given, held) in &callers {
        let cookie = t.open_session(t.person(given)).await.cookie;
        for route in routes() {
            let area = clavis_web::console::area_of(route.path.split('?').next().unwrap_or(""))
                .expect("a console path");
            let access = clavis_web::console::access_of(&route.method);
            let allowed = roles::may(held, area, access);
            let (status, body, events) = ask(&app, &t, &route, &cookie).await;
            let what = format!("{given} {:?} {} ({area}, {access})", held, route.path);
            if allowed {
                assert_eq!(status, route.allowed_status, "{what}: {body}");
                if status == 200
                    && route.path.starts_with("/console")
                    && !route.path.ends_with(".csv")
                    && !route.path.ends_with(".pdf")
                {
                    assert!(
                        body.contains("<nav aria-label="),
                        "{what}: the console's page"
                    );
                }
            } else {
                refused += 1;
                assert_eq!(status, 403, "{what}: {body}");
                assert!(
                    body.contains("Accès refusé"),
                    "{what}: the refusal page, in French: {body}"
                );
                let denied: Vec<_> = events
                    .iter()
                    .filter(|e| e["action"] == "console.denied")
                    .collect();
                assert_eq!(denied.len(), 1, "{what}: audited once: {events:?}");
                assert_eq!(
                    denied[0]["actor"],
                    format!("identity:{}", t.person(given)),
                    "{what}"
                );
                assert_eq!(denied[0]["changes"]["area"], area.as_str(), "{what}");
                assert_eq!(denied[0]["changes"]["access"], access.as_str(), "{what}");
                // (A sync another role started may be writing meanwhile:
                // its events are the source's, not this operator's.)
                let theirs: Vec<_> = events
                    .iter()
                    .filter(|e| e["actor"] == format!("identity:{}", t.person(given)))
                    .collect();
                assert_eq!(theirs.len(), 1, "{what}: nothing done: {events:?}");
            }
        }
    }
    // The matrix has refusals for every role but the administrator, and
    // for everything of the person without a role.
    assert!(refused > routes().len(), "refusals counted: {refused}");
}

async fn signed_out_a_page_asks_to_sign_in_and_an_action_is_refused(backend: Backend) {
    let t = hospital(backend).await;
    let app = t.service().await;
    let resp = call_service(
        &app,
        TestRequest::get()
            .uri("/console/identities?q=lemoine")
            .to_request(),
    )
    .await;
    assert_eq!(resp.status().as_u16(), 303);
    assert_eq!(
        location(&resp),
        "/login?return_to=%2Fconsole%2Fidentities%3Fq%3Dlemoine"
    );
    let claire = t.open_session(t.person("Claire")).await;
    let resp = call_service(
        &app,
        TestRequest::post()
            .uri("/console/sessions/end-all")
            .insert_header(("content-type", "application/x-www-form-urlencoded"))
            .set_payload(form(&[("oid", &t.person("Claire").to_string())]))
            .to_request(),
    )
    .await;
    assert_eq!(resp.status().as_u16(), 403);
    let mut conn = t.t.db.conn().await.expect("conn");
    let row = clavis_store::models::SsoSessionRow::find(&mut conn, &claire.id)
        .await
        .expect("find")
        .expect("row");
    assert_eq!(row.ended_at, None, "nothing ended");
    // A path of no area is not found, whoever asks.
    let admin = t.open_session(t.person("Alice")).await;
    for path in [
        "/console/dashboard",
        "/console/nothing",
        "/console/Identities",
    ] {
        let resp = call_service(
            &app,
            TestRequest::get()
                .uri(path)
                .insert_header(("cookie", admin.cookie.clone()))
                .to_request(),
        )
        .await;
        assert_eq!(resp.status().as_u16(), 404, "{path}");
    }
}

async fn a_session_opened_through_pro_sante_connect_does_not_run_the_console(backend: Backend) {
    let t = hospital(backend).await;
    let app = t.service().await;
    let alice = t.person("Alice");
    let (cookie, _) = psc_session(&t, alice, "eidas2", &["mfa"]).await;
    let before = last_seq(&t.t.db).await;
    let resp = call_service(
        &app,
        TestRequest::get()
            .uri("/console")
            .insert_header(("cookie", cookie))
            .to_request(),
    )
    .await;
    assert_eq!(resp.status().as_u16(), 403);
    let events = events_after(&t.t.db, before).await;
    assert!(
        events
            .iter()
            .any(|e| e["action"] == "console.denied" && e["changes"]["via_psc"] == true),
        "{events:?}"
    );
    // The same administrator signed in with a badge reaches it.
    let badge = t.open_session(alice).await;
    let resp = call_service(
        &app,
        TestRequest::get()
            .uri("/console")
            .insert_header(("cookie", badge.cookie))
            .to_request(),
    )
    .await;
    assert_eq!(resp.status().as_u16(), 200);
}
