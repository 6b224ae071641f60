//! The agent protocol (`/agent/v1/step`): each step once, only by the
//! workstation the transaction began at, with its credential and the
//! transaction's token.

use super::{Login, claires_badge, start_login, ward};
use crate::support::http::{AppService, basic};
use crate::support::{WORKSTATION_SECRET, on_both_backends};
use actix_web::test::{TestRequest, call_service, read_body_json};
use clavis_desfire::emulator::CardEmulator;
use clavis_testkit::db::Backend;
use serde_json::{Value, json};

on_both_backends!(
    a_step_replayed_by_the_agent_is_refused,
    another_workstation_a_wrong_credential_or_a_wrong_token_cannot_take_over_a_transaction,
);

const WARD: &str = "ws-ward-3";

/// POST /agent/v1/step as workstation `ws` with `secret`: the status.
async fn step(app: &impl AppService, ws: &str, secret: &str, body: Value) -> u16 {
    call_service(
        app,
        TestRequest::post()
            .uri("/agent/v1/step")
            .insert_header(("Authorization", basic(ws, secret)))
            .set_json(body)
            .to_request(),
    )
    .await
    .status()
    .as_u16()
}

/// A badge login of `card` at the ward begun by its first step: the login,
/// the next step number and the card's answer to the first APDU.
async fn begun(app: &impl AppService, card: &mut CardEmulator) -> (Login, Value, String) {
    let l = start_login(app).await;
    let first = call_service(
        app,
        TestRequest::post()
            .uri("/agent/v1/step")
            .insert_header(("Authorization", basic(WARD, WORKSTATION_SECRET)))
            .set_json(json!({"transaction": l.tx, "token": l.token, "step": 0}))
            .to_request(),
    )
    .await;
    assert_eq!(first.status(), 200);
    let v: Value = read_body_json(first).await;
    let answer =
        hex::encode(card.process(&hex::decode(v["apdu"].as_str().expect("apdu")).expect("hex")));
    (l, v["step"].clone(), answer)
}

async fn a_step_replayed_by_the_agent_is_refused(backend: Backend) {
    let t = ward(backend).await;
    let app = t.service().await;
    let mut card = claires_badge(&app, &t).await;
    card.reset();
    let (l, next, answer) = begun(&app, &mut card).await;
    // The same step number twice: the second is refused.
    for expected in [200, 409] {
        let body = json!({"transaction": l.tx, "token": l.token, "step": next, "answer": answer});
        assert_eq!(step(&app, WARD, WORKSTATION_SECRET, body).await, expected);
    }
}

async fn another_workstation_a_wrong_credential_or_a_wrong_token_cannot_take_over_a_transaction(
    backend: Backend,
) {
    let t = ward(backend).await;
    let app = t.service().await;
    let mut card = claires_badge(&app, &t).await;
    card.reset();
    let (l, next, answer) = begun(&app, &mut card).await;
    let body = json!({"transaction": l.tx, "token": l.token, "step": next, "answer": answer});
    assert_eq!(step(&app, WARD, WORKSTATION_SECRET, body).await, 200);
    let office = t.workstation("badge-office").id.clone();
    for (ws, secret, token, status) in [
        (office.as_str(), WORKSTATION_SECRET, l.token.as_str(), 404),
        (WARD, "wrong", l.token.as_str(), 401),
        ("ws-nobody", WORKSTATION_SECRET, l.token.as_str(), 401),
        (WARD, WORKSTATION_SECRET, "not-the-token", 404),
    ] {
        let body = json!({"transaction": l.tx, "token": token, "step": 2, "answer": "9000"});
        assert_eq!(
            step(&app, ws, secret, body).await,
            status,
            "{ws} {secret} {token}"
        );
    }
}
