//! Synchronisations from the console: a dry run shows what would change
//! and writes nothing; a run started from the console runs in the
//! background, is audited with the operator, and its page shows its
//! counts.

use super::{csrf_of, hospital, post_form as post};
use crate::support::audit::{events_after, last_seq};
use crate::support::http::AppService;
use crate::support::on_both_backends;
use actix_web::test::{TestRequest, call_service, read_body};
use clavis_core::SyncRunStatus;
use clavis_store::models::SyncRunRow;
use clavis_testkit::db::Backend;
use std::time::Duration;

on_both_backends!(a_dry_run_writes_nothing_and_a_run_from_the_console_is_audited_and_shown);

async fn get(app: &impl AppService, path: &str, cookie: &str) -> (u16, String, Option<String>) {
    let resp = call_service(
        app,
        TestRequest::get()
            .uri(path)
            .insert_header(("cookie", cookie.to_string()))
            .to_request(),
    )
    .await;
    let status = resp.status().as_u16();
    let refresh = resp
        .headers()
        .get("refresh")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (
        status,
        String::from_utf8_lossy(&read_body(resp).await).into_owned(),
        refresh,
    )
}

async fn a_dry_run_writes_nothing_and_a_run_from_the_console_is_audited_and_shown(
    backend: Backend,
) {
    let t = hospital(backend).await;
    let app = t.service().await;
    let ines = t.person("Ines");
    let cookie = t.open_session(ines).await.cookie;
    let csrf = csrf_of(&cookie);
    let (status, page, _) = get(&app, "/console/syncs", &cookie).await;
    assert_eq!(status, 200);
    assert!(page.contains("data-source=\"rh\""), "{page}");

    // The dry run: two creations, nothing written.
    let before = last_seq(&t.t.db).await;
    let (status, _, page) = post(
        &app,
        "/console/syncs/rh/dry-run",
        &cookie,
        &[("csrf", &csrf), ("full", "1")],
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<dd id=\"would-create\">2</dd>"), "{page}");
    assert!(page.contains("<dd id=\"would-depart\">0</dd>"), "{page}");
    assert!(page.contains("action=\"/console/syncs/rh/run\""));
    let mut conn = t.t.db.conn().await.expect("conn");
    assert!(
        SyncRunRow::list(&mut conn, Some("rh"), 10)
            .await
            .expect("runs")
            .is_empty(),
        "no run recorded"
    );
    assert!(
        events_after(&t.t.db, before).await.is_empty(),
        "nothing written"
    );
    assert!(
        clavis_directory::service::find_identity(&mut conn, "E500")
            .await
            .expect("find")
            .is_none()
    );
    // An unknown source: not found.
    let (status, _, _) = post(
        &app,
        "/console/syncs/paie/dry-run",
        &cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(status, 404);

    // The run, in the background.
    let (status, to, _) = post(
        &app,
        "/console/syncs/rh/run",
        &cookie,
        &[("csrf", &csrf), ("full", "1")],
    )
    .await;
    assert_eq!((status, to.as_str()), (303, "/console/syncs?source=rh"));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let run = loop {
        let runs = SyncRunRow::list(&mut conn, Some("rh"), 10)
            .await
            .expect("runs");
        if let Some(r) = runs
            .into_iter()
            .find(|r| r.status != SyncRunStatus::Running)
        {
            break r;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the run did not finish"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(run.status, SyncRunStatus::Succeeded, "{run:?}");
    assert_eq!(run.created, 2);
    assert!(
        clavis_directory::service::find_identity(&mut conn, "E500")
            .await
            .expect("find")
            .is_some()
    );
    let events = events_after(&t.t.db, before).await;
    assert!(
        events.iter().any(|e| e["action"] == "sync.requested"
            && e["actor"] == format!("identity:{ines}")
            && e["target"] == "rh"
            && e["changes"]["full"] == true),
        "{events:?}"
    );
    let (status, page, refresh) =
        get(&app, &format!("/console/syncs/runs/{}", run.id), &cookie).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("<dd id=\"run-status\">succeeded</dd>"),
        "{page}"
    );
    assert_eq!(refresh, None, "a finished run's page does not refresh");
    let (_, page, _) = get(&app, "/console/syncs", &cookie).await;
    assert!(page.contains(&format!("data-run=\"{}\"", run.id)), "{page}");
}
