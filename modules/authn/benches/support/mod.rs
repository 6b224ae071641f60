//! What the relay benches share: the badge service as `clavis serve` sets
//! it up, a workstation, and a tap relayed through the agent protocol
//! (server side; the card is an emulator).

use clavis_authn::BadgeConfig;
use clavis_authn::badge::{AgentReply, BadgeService, Opened, Purpose};
use clavis_desfire::AesKey;
use clavis_desfire::emulator::CardEmulator;
use clavis_store::Db;
use clavis_store::models::WorkstationRow;
use std::time::{Duration, Instant};

/// The instant the benches run at.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    "2026-11-23T08:00:00Z".parse().expect("instant")
}

/// The badge service, with fixed keys.
pub fn service() -> BadgeService {
    BadgeService::new(
        BadgeConfig::default(),
        |label| {
            let mut k = [0x5Au8; 32];
            for (i, b) in label.bytes().enumerate() {
                k[i % 32] ^= b;
            }
            k
        },
        AesKey::ZERO,
    )
    .expect("service")
}

/// A workstation `id`, recorded in `db`.
pub async fn workstation(db: &Db, id: &str) -> WorkstationRow {
    let ws = WorkstationRow {
        id: id.into(),
        name: id.into(),
        location: None,
        secret_hash: String::new(),
        created_at: 0,
        created_by: clavis_core::Actor::Cli("bench".into()),
        last_seen_at: None,
        revoked_at: None,
    };
    let mut conn = db.conn().await.expect("conn");
    ws.insert(&mut conn).await.expect("workstation");
    ws
}

/// One tap relayed to its end (a login: the badge identified; an
/// enrolment: the badge personalised): the transaction, and the time the
/// server spent on it.
pub async fn tap(
    svc: &BadgeService,
    db: &Db,
    ws: &WorkstationRow,
    purpose: Purpose,
    card: &mut CardEmulator,
) -> (Opened, Duration) {
    let now = now();
    let start = Instant::now();
    let mut conn = db.conn().await.expect("conn");
    let bound = matches!(purpose, Purpose::Enrol { .. }).then_some(&ws.id);
    let opened = svc
        .open(
            &mut conn,
            now,
            purpose,
            bound,
            &clavis_core::Actor::Cli("bench".into()),
        )
        .await
        .expect("open");
    drop(conn);
    let token = bound.is_none().then(|| opened.token.expose().clone());
    let mut server = start.elapsed();
    let mut step = 0;
    let mut answer: Option<Vec<u8>> = None;
    loop {
        let t0 = Instant::now();
        let reply = svc
            .step(
                db,
                now,
                ws,
                &opened.id,
                token.as_deref(),
                step,
                answer.as_deref(),
            )
            .await
            .expect("step");
        server += t0.elapsed();
        match reply {
            AgentReply::Send { apdu, step: next } => {
                step = next;
                answer = Some(card.process(&apdu));
            }
            AgentReply::Done => return (opened, server),
            AgentReply::Failed => panic!("the badge was refused"),
        }
    }
}
