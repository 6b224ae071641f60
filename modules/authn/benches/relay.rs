//! Server-side cost of one badge login relayed through an agent, as
//! `clavis serve` does it: open the transaction, then one step per card
//! answer (replay of the protocol from the recorded answers, the step
//! recorded in SQLite, the badge identified and the result stored), the
//! card's work, the radio, HTTP and the PIN hash excluded:
//! `cargo bench -p clavis_authn --bench relay`. The shift change (many
//! taps at once, both backends) is `--bench shift_change`.

mod support;

use clavis_authn::badge::Purpose;
use clavis_desfire::AesKey;
use clavis_desfire::emulator::CardEmulator;
use clavis_testkit::db::{Backend, TestDb};
use criterion::{Criterion, criterion_group, criterion_main};
use std::time::Duration;

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let svc = support::service();
    let (t, ws, mut card) = rt.block_on(async {
        let t = TestDb::new(Backend::Sqlite).await;
        let oid = clavis_testkit::people::insert_person(
            &t.db,
            "Lemoine",
            "Claire",
            clavis_core::LifecycleStatus::Active,
        )
        .await;
        let ws = support::workstation(&t.db, "ws-bench").await;
        let mut card = CardEmulator::new([4, 1, 2, 3, 4, 5, 6], AesKey::ZERO, [9; 16]);
        support::tap(
            &svc,
            &t.db,
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
                    total += support::tap(&svc, &t.db, &ws, Purpose::Login, &mut card)
                        .await
                        .1;
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
