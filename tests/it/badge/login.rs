//! Badge + PIN login at a workstation: a session of the badge's holder
//! (`hwk pin mfa`, `eidas2`) recorded at that workstation; one session per
//! transaction; the next person badging in at the same workstation ends
//! the previous one's session there (fast user switching).

use super::{
    CLAIRE_PIN, PAUL_PIN, actions, assert_audit_keeps_no_pin, badge_of, claires_badge, finish, tap,
    ward,
};
use crate::support::on_both_backends;
use clavis_core::Clock;
use clavis_store::models::SsoSessionRow;
use clavis_testkit::db::Backend;
use serde_json::json;

on_both_backends!(
    badge_and_pin_open_a_session_at_the_workstation_with_badge_amr,
    a_spent_transaction_cannot_open_a_second_session,
    the_next_person_badging_in_ends_the_previous_session_at_that_workstation,
);

async fn badge_and_pin_open_a_session_at_the_workstation_with_badge_amr(backend: Backend) {
    let t = ward(backend).await;
    let app = t.service().await;
    let mut card = claires_badge(&app, &t).await;
    let (l, end) = tap(&app, &mut card).await;
    assert_eq!(end, json!({"done": true}));
    let (status, body, session) = finish(&app, &l, CLAIRE_PIN).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["redirect"], "/me");
    let token = session.expect("session cookie");
    let mut conn = t.t.db.conn().await.expect("conn");
    let s = clavis_sso::check(&mut conn, t.clock.now(), &token)
        .await
        .expect("check")
        .expect("live session");
    assert_eq!(s.oid, t.person("Claire"));
    assert_eq!(s.amr, vec!["hwk", "pin", "mfa"]);
    assert_eq!(s.acr, "eidas2");
    assert_eq!(
        s.workstation_id.as_ref().map(|w| w.as_str()),
        Some(t.workstation("ward-3").id.as_str())
    );
    let log = actions(&t.t.db).await;
    assert!(
        log.iter()
            .any(|(a, d)| a == "login.succeeded" && d["method"] == "badge")
    );
    assert_audit_keeps_no_pin(&t.t.db, &[CLAIRE_PIN]).await;
}

async fn a_spent_transaction_cannot_open_a_second_session(backend: Backend) {
    let t = ward(backend).await;
    let app = t.service().await;
    let mut card = claires_badge(&app, &t).await;
    let (l, _) = tap(&app, &mut card).await;
    assert_eq!(finish(&app, &l, CLAIRE_PIN).await.0, 200);
    // The transaction is spent: the PIN cannot open a second session.
    assert_eq!(finish(&app, &l, CLAIRE_PIN).await.0, 400);
}

async fn the_next_person_badging_in_ends_the_previous_session_at_that_workstation(
    backend: Backend,
) {
    let t = ward(backend).await;
    let app = t.service().await;
    let mut claires = claires_badge(&app, &t).await;
    let (l, _) = tap(&app, &mut claires).await;
    let claire_token = finish(&app, &l, CLAIRE_PIN).await.2.expect("session");
    let mut conn = t.t.db.conn().await.expect("conn");
    let claire_session = clavis_sso::check(&mut conn, t.clock.now(), &claire_token)
        .await
        .expect("check")
        .expect("live session");
    // Paul badges in at the same workstation; Claire's session there ends
    // first.
    let mut pauls = badge_of(&app, &t, "Paul", [4, 9, 9, 9, 9, 9, 1], PAUL_PIN).await;
    let (lp, _) = tap(&app, &mut pauls).await;
    let (status, _, paul_session) = finish(&app, &lp, PAUL_PIN).await;
    assert_eq!(status, 200);
    assert!(
        clavis_sso::check(&mut conn, t.clock.now(), &claire_token)
            .await
            .expect("check")
            .is_none(),
        "Claire's session at ward-3 ended"
    );
    let ended = SsoSessionRow::find(&mut conn, &claire_session.id)
        .await
        .expect("row")
        .expect("row");
    assert_eq!(ended.end_reason.map(|r| r.as_str()), Some("switched"));
    assert!(paul_session.is_some());
    assert_audit_keeps_no_pin(&t.t.db, &[CLAIRE_PIN, PAUL_PIN]).await;
}
