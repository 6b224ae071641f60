//! Server-side cost of one badge login relayed through an agent, as
//! `clavis serve` does it: open the transaction, then one step per card
//! answer (replay of the protocol from the recorded answers, the step
//! recorded in SQLite, the badge identified and the result stored), the
//! card's work, the radio, HTTP and the PIN hash excluded:
//! `cargo bench -p clavis_authn --bench relay`.

use clavis_authn::BadgeConfig;
use clavis_authn::badge::{AgentReply, BadgeService, Purpose};
use clavis_desfire::AesKey;
use clavis_desfire::emulator::CardEmulator;
use clavis_store::models::WorkstationRow;
use clavis_testkit::db::{Backend, TestDb};
use criterion::{Criterion, criterion_group, criterion_main};
use std::time::{Duration, Instant};

async fn drive(
    svc: &BadgeService,
    t: &TestDb,
    ws: &WorkstationRow,
    purpose: Purpose,
    card: &mut CardEmulator,
) -> Duration {
    let now: chrono::DateTime<chrono::Utc> = "2026-11-23T08:00:00Z".parse().expect("instant");
    let start = Instant::now();
    let mut conn = t.db.conn().await.expect("conn");
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
                &t.db,
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
            AgentReply::Done => return server,
            AgentReply::Failed => panic!("the badge was refused"),
        }
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let svc = BadgeService::new(
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
    .expect("service");
    let (t, ws, mut card) = rt.block_on(async {
        let t = TestDb::new(Backend::Sqlite).await;
        let oid = clavis_testkit::people::insert_person(
            &t.db,
            "Lemoine",
            "Claire",
            clavis_core::LifecycleStatus::Active,
        )
        .await;
        let ws = WorkstationRow {
            id: "ws-bench".into(),
            name: "bench".into(),
            location: None,
            secret_hash: String::new(),
            created_at: 0,
            created_by: clavis_core::Actor::Cli("bench".into()),
            last_seen_at: None,
            revoked_at: None,
        };
        let mut conn = t.db.conn().await.expect("conn");
        ws.insert(&mut conn).await.expect("workstation");
        drop(conn);
        let mut card = CardEmulator::new([4, 1, 2, 3, 4, 5, 6], AesKey::ZERO, [9; 16]);
        drive(
            &svc,
            &t,
            &ws,
            Purpose::Enrol { oid, until: None },
            &mut card,
        )
        .await;
        (t, ws, card)
    });
    c.bench_function("badge_login_relayed_server_side", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    card.reset();
                    total += drive(&svc, &t, &ws, Purpose::Login, &mut card).await;
                }
                total
            })
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(8));
    targets = bench
}
criterion_main!(benches);
