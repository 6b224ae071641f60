//! The badge PIN: each wrong PIN says how many tries are left, the last
//! one locks the badge login (even the right PIN is then refused), and an
//! operator's unlock lets the holder in again. No PIN reaches the log.

use super::{
    CLAIRE_PIN, Login, WRONG_PIN, actions, assert_audit_keeps_no_pin, claires_badge, finish, tap,
    ward,
};
use crate::support::http::AppService;
use crate::support::{json_snapshot, on_both_backends};
use clavis_core::Clock;
use clavis_testkit::db::Backend;
use serde_json::{Value, json};

on_both_backends!(
    wrong_pins_count_down_to_a_lockout_that_refuses_even_the_right_pin,
    an_operator_unlock_lets_the_holder_in_again,
    parallel_pins_on_several_taps_never_get_past_the_lockout,
    a_pin_set_by_someone_else_is_told_once_at_the_next_badge_login,
);

/// Four wrong PINs, each saying how many tries are left: the first
/// answer.
async fn four_wrong_pins(app: &impl AppService, l: &Login) -> Value {
    let mut first = None;
    for left in (1..5).rev() {
        let (status, body, _) = finish(app, l, WRONG_PIN).await;
        first.get_or_insert_with(|| json!({"status": status, "body": body.clone()}));
        assert_eq!(status, 401);
        assert_eq!(body["error"]["code"], "wrong_pin");
        assert!(
            body["error"]["message"]
                .as_str()
                .expect("msg")
                .contains(&left.to_string()),
            "{body}"
        );
    }
    first.expect("four answers")
}

async fn wrong_pins_count_down_to_a_lockout_that_refuses_even_the_right_pin(backend: Backend) {
    let t = ward(backend).await;
    let app = t.service().await;
    let mut card = claires_badge(&app, &t).await;
    let (l, _) = tap(&app, &mut card).await;
    // The refusal a badge login page acts on, in the one JSON envelope.
    let wrong_pin = four_wrong_pins(&app, &l).await;
    json_snapshot!("wrong_pin", wrong_pin);
    let (status, body, _) = finish(&app, &l, WRONG_PIN).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (423, Some("locked"))
    );
    let (status, body, session) = finish(&app, &l, CLAIRE_PIN).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (423, Some("locked"))
    );
    assert!(session.is_none());
    let log = actions(&t.t.db).await;
    assert!(log.iter().any(|(a, _)| a == "badge.pin_locked"));
    assert_audit_keeps_no_pin(&t.t.db, &[CLAIRE_PIN, WRONG_PIN]).await;
}

async fn an_operator_unlock_lets_the_holder_in_again(backend: Backend) {
    let t = ward(backend).await;
    let app = t.service().await;
    let mut card = claires_badge(&app, &t).await;
    let (l, _) = tap(&app, &mut card).await;
    four_wrong_pins(&app, &l).await;
    assert_eq!(finish(&app, &l, WRONG_PIN).await.0, 423);
    let mut conn = t.t.db.conn().await.expect("conn");
    clavis_authn::badge::pin::unlock(
        &mut conn,
        t.clock.now(),
        t.person("Claire"),
        &clavis_core::Actor::Cli("it".into()),
    )
    .await
    .expect("unlock");
    assert_eq!(finish(&app, &l, CLAIRE_PIN).await.0, 200);
}

/// Twelve PINs at once, eleven wrong and the right one, spread over four
/// transactions of the same badge (four taps): never more wrong PINs in a
/// row than the lockout allows, and no login once the lock has fallen.
async fn parallel_pins_on_several_taps_never_get_past_the_lockout(backend: Backend) {
    let t = ward(backend).await;
    let app = t.service().await;
    let mut card = claires_badge(&app, &t).await;
    let mut logins = Vec::new();
    for _ in 0..4 {
        logins.push(tap(&app, &mut card).await.0);
    }
    let svc = t.state.badge.clone().expect("badge service");
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(12));
    let mut tasks = Vec::new();
    for i in 0..12 {
        let l = &logins[i % logins.len()];
        let (tx, token, browser) = (l.tx.clone(), l.token.clone(), l.cookie.value().to_string());
        let pin = if i == 11 { CLAIRE_PIN } else { WRONG_PIN };
        let (svc, db, sso, now) = (
            svc.clone(),
            t.t.db.clone(),
            t.state.sso.clone(),
            t.clock.now(),
        );
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            svc.finish_login(
                &db,
                &sso,
                now,
                &tx,
                &token,
                &browser,
                &clavis_core::Secret::new(pin.to_string()),
                None,
                None,
                None,
            )
            .await
            .map(|_| ())
        }));
    }
    let (mut succeeded, mut spent) = (0, 0);
    for task in tasks {
        match task.await.expect("task") {
            Ok(()) => succeeded += 1,
            Err(clavis_authn::badge::RelayError::Pin(_)) => {}
            // The transaction the right PIN spent serves no other request.
            Err(clavis_authn::badge::RelayError::Unknown) => spent += 1,
            Err(e) => panic!("only PIN refusals expected, got {e}"),
        }
    }
    assert!(succeeded <= 1);
    assert!(spent == 0 || succeeded == 1, "{spent} refused as spent");
    // Read in the order they happened: never more than five wrong PINs in
    // a row (a right one in between starts the count again), no PIN
    // checked once the lock has fallen, and no login after it.
    let log = actions(&t.t.db).await;
    let (mut in_a_row, mut locked) = (0, false);
    for (action, changes) in &log {
        match action.as_str() {
            "badge.pin_failed" | "badge.pin_locked" => {
                assert!(!locked, "a PIN checked after the lock: {log:?}");
                in_a_row += 1;
                assert!(in_a_row <= 5, "{in_a_row} wrong PINs in a row: {log:?}");
                assert_eq!(changes["failures"], json!(in_a_row), "{log:?}");
                locked = action == "badge.pin_locked";
            }
            "login.succeeded" => {
                assert!(!locked, "a login after the lock: {log:?}");
                in_a_row = 0;
            }
            _ => {}
        }
    }
    let mut conn = t.t.db.conn().await.expect("conn");
    let row = clavis_store::models::BadgePinRow::find(&mut conn, t.person("Claire"))
        .await
        .expect("read")
        .expect("pin");
    assert!(row.failures <= 5, "{row:?}");
    assert_eq!(row.checking_until, None, "every lease released: {row:?}");
}

async fn a_pin_set_by_someone_else_is_told_once_at_the_next_badge_login(backend: Backend) {
    let t = ward(backend).await;
    let app = t.service().await;
    let mut card = claires_badge(&app, &t).await;
    // Her first PIN, set at enrolment, is no news to her.
    let (l, _) = tap(&app, &mut card).await;
    let (status, body, _) = finish(&app, &l, CLAIRE_PIN).await;
    assert_eq!(status, 200);
    assert!(body.get("notice").is_none(), "{body}");
    // The helpdesk replaces it.
    super::set_pin_by(
        &t,
        &super::badge_service(&t),
        t.person("Claire"),
        "60718293",
        &clavis_core::Actor::Cli("helpdesk".into()),
    )
    .await;
    let (l, _) = tap(&app, &mut card).await;
    let (status, body, session) = finish(&app, &l, "60718293").await;
    assert_eq!(status, 200);
    assert!(session.is_some());
    let notice = body["notice"].as_str().expect("a notice");
    assert!(
        notice.contains("code PIN de badge a été modifié"),
        "{notice}"
    );
    assert_eq!(body["continue"], "Continuer");
    // Told once.
    let (l, _) = tap(&app, &mut card).await;
    let (status, body, _) = finish(&app, &l, "60718293").await;
    assert_eq!(status, 200);
    assert!(body.get("notice").is_none(), "{body}");
    let set: Vec<_> = actions(&t.t.db)
        .await
        .into_iter()
        .filter(|(a, _)| a == "badge.pin_set")
        .map(|(_, c)| c["replaced"].clone())
        .collect();
    assert_eq!(set, vec![json!(false), json!(true)]);
}
