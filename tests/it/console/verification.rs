//! The audit chain's status in the console, on both backends: walks from
//! the furthest point found intact (by the hour, or on demand), the whole
//! journal in the background, and an event edited behind Clavis's back
//! found and named.

use super::{csrf_of, get_page as get, hospital};
use crate::support::{TestApp, on_both_backends};
use clavis_core::{Actor, AuditAction, Clock};
use clavis_store::models::AuditVerificationRow;
use clavis_testkit::db::Backend;

on_both_backends!(the_chain_is_walked_on_from_where_it_was_found_intact);

async fn walks(t: &TestApp) -> Vec<AuditVerificationRow> {
    let mut conn = t.t.db.conn().await.expect("conn");
    AuditVerificationRow::latest(&mut conn, 100)
        .await
        .expect("walks")
}

async fn append(t: &TestApp, n: usize) {
    let mut conn = t.t.db.conn().await.expect("conn");
    for _ in 0..n {
        clavis_audit::AuditEvent::new(
            Actor::Clavis,
            AuditAction::LoginFailed,
            None,
            serde_json::json!({}),
        )
        .record(&mut conn, Clock::now(&t.clock))
        .await
        .expect("event");
    }
}

/// Edits event `seq` behind Clavis's back (its trigger dropped first).
async fn tamper(t: &TestApp, seq: i64) {
    use clavis_store::with_conn;
    use diesel_async::RunQueryDsl;
    let mut conn = t.t.db.conn().await.expect("conn");
    let drop_trigger = match t.t.db.backend() {
        clavis_store::Backend::Sqlite => "DROP TRIGGER IF EXISTS audit_events_no_update",
        clavis_store::Backend::Postgres => {
            "DROP TRIGGER IF EXISTS audit_events_no_update ON audit_events"
        }
    };
    with_conn!(&mut conn, c => diesel::sql_query(drop_trigger).execute(c).await)
        .expect("drop trigger");
    let edit = format!("UPDATE audit_events SET actor = 'mallory' WHERE seq = {seq}");
    with_conn!(&mut conn, c => diesel::sql_query(edit).execute(c).await).expect("tamper");
}

async fn the_chain_is_walked_on_from_where_it_was_found_intact(backend: Backend) {
    let t = hospital(backend).await;
    let app = t.service().await;
    let cookie = t.open_session(t.person("Aude")).await.cookie;
    let csrf = csrf_of(&cookie);
    let (status, page) = get(&app, "/console/audit/verify", &cookie).await;
    assert_eq!(status, 200);
    assert!(page.contains("pas encore été vérifiée"), "{page}");
    // Starting a walk carries the form's token (a GET: auditors read only).
    let (status, _) = get(&app, "/console/audit/verify?run=new", &cookie).await;
    assert_eq!(status, 403);
    assert!(walks(&t).await.is_empty());

    // The first walk takes the whole journal (nothing found intact yet):
    // in the background.
    let new = format!("/console/audit/verify?run=new&csrf={csrf}");
    let (status, _) = get(&app, &new, &cookie).await;
    assert_eq!(status, 303);
    let first = wait_for_whole(&t, 0, &[]).await;
    let head = {
        let mut conn = t.t.db.conn().await.expect("conn");
        clavis_store::models::AuditEventRow::head(&mut conn)
            .await
            .expect("head")
    };
    assert_eq!(first.from_seq, 0, "the whole chain, the first time");
    assert_eq!(first.broken_seq, None);
    assert!(first.verified_seq.expect("verified") >= head.0 - 1);
    assert_eq!(first.started_by, Actor::Identity(t.person("Aude")));

    // Ten more events: the next walk takes them only.
    t.clock.advance(chrono::Duration::minutes(1));
    append(&t, 10).await;
    let (_, _) = get(&app, &new, &cookie).await;
    let second = walks(&t).await.remove(0);
    assert_eq!(second.from_seq, first.verified_seq.expect("seq") + 1);
    assert_eq!(second.checked, 10);
    assert_eq!(second.broken_seq, None);
    let (_, page) = get(&app, "/console/audit/verify", &cookie).await;
    assert!(
        page.contains("intacte jusqu&#39;à l&#39;événement"),
        "{page}"
    );

    // An event after the last intact point is edited: the next walk names it.
    t.clock.advance(chrono::Duration::minutes(1));
    append(&t, 3).await;
    let edited = second.verified_seq.expect("seq") + 2;
    tamper(&t, edited).await;
    let (_, _) = get(&app, &new, &cookie).await;
    let third = walks(&t).await.remove(0);
    assert_eq!(third.broken_seq, Some(edited));
    assert_eq!(third.broken_reason.as_deref(), Some("hash_mismatch"));
    let (_, page) = get(&app, "/console/audit/verify", &cookie).await;
    assert!(page.contains("role=\"alert\""), "{page}");
    assert!(
        page.contains(&format!("seq {edited} (hash_mismatch)")),
        "{page}"
    );

    // A break sticks: the next walk does not go on past it (it walks the
    // whole journal again, in the background), and the page still says so.
    let (_, _) = get(&app, &new, &cookie).await;
    let again = wait_for_whole(&t, third.started_at, &[first.id.clone(), third.id.clone()]).await;
    assert_eq!(again.broken_seq, Some(edited));
    let (_, page) = get(&app, "/console/audit/verify", &cookie).await;
    assert!(page.contains("role=\"alert\""), "{page}");

    // An edit before it is for the whole walk, in the background.
    tamper(&t, 2).await;
    t.clock.advance(chrono::Duration::minutes(1));
    // (The walk started above is done: another may start.)
    let (status, _) = get(
        &app,
        &format!("/console/audit/verify?run=whole&csrf={csrf}"),
        &cookie,
    )
    .await;
    assert_eq!(status, 303);
    let whole = wait_for_whole(
        &t,
        again.started_at + 1,
        &[first.id.clone(), again.id.clone()],
    )
    .await;
    assert_eq!(whole.broken_seq, Some(2));

    // An event stored beyond the head (not appended by Clavis) is named.
    let mut conn = t.t.db.conn().await.expect("conn");
    let (head, _) = clavis_store::models::AuditEventRow::head(&mut conn)
        .await
        .expect("head");
    let last = clavis_store::models::AuditEventRow::page(&mut conn, head - 1, 1)
        .await
        .expect("page")
        .remove(0);
    let mut stray = last.clone();
    stray.seq = head + 5;
    stray.id = "stray".into();
    clavis_store::models::AuditEventRow::insert_all(&mut conn, vec![stray])
        .await
        .expect("stray");
    let (report, _) = clavis_audit::verify_from(&mut conn, Some((last.seq, last.hash)))
        .await
        .expect("walk");
    assert_eq!(
        report.first_broken.map(|b| b.reason).as_deref(),
        Some("beyond_head")
    );
}

/// The first whole walk started at or after `since` (not one of `not`),
/// once finished.
async fn wait_for_whole(t: &TestApp, since: i64, not: &[String]) -> AuditVerificationRow {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if let Some(w) = walks(t).await.into_iter().find(|w| {
            w.from_seq == 0
                && w.finished_at.is_some()
                && w.started_at >= since
                && !not.contains(&w.id)
        }) {
            return w;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the whole walk did not finish"
        );
        tokio::task::yield_now().await;
    }
}
