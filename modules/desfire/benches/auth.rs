//! Server-side cost of one badge check: SelectApplication, AuthenticateEV2First (both
//! steps), GetCardUID in Full mode and ReadData of a 16-byte file in MAC mode.
//!
//! `badge_check/host_and_card` runs the host against the card emulator (both sides'
//! crypto). `badge_check/host_only` replays the card answers recorded from the emulator,
//! so it measures only what the appliance computes; the agent round trips are not part of
//! either figure. Target: ≤ 1 ms per badge check.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::hint::black_box;
use std::time::Duration;

use clavis_desfire::commands::NativeCommand;
use clavis_desfire::emulator::CardEmulator;
use clavis_desfire::{Access, AccessRights, AesKey, Aid, Authenticator, CardUid, CommMode, apdu};
use criterion::{Criterion, criterion_group, criterion_main};

const UID: [u8; 7] = [0x04, 0xA1, 0xB2, 0xC3, 0xD4, 0xE5, 0xF6];
const RND_A: [u8; 16] = [0x5A; 16];

fn aid() -> Aid {
    Aid::new(0x00_C1A0).unwrap()
}

fn badge_key() -> AesKey {
    AesKey::new([0xB1; 16])
}

fn card() -> CardEmulator {
    let mut card = CardEmulator::new(UID, AesKey::ZERO, [0x42; 16]);
    card.add_application(aid(), 0x0F, vec![AesKey::ZERO, badge_key()])
        .unwrap();
    card.add_std_file(
        aid(),
        1,
        CommMode::Mac,
        AccessRights {
            read: Access::Key(1),
            write: Access::Key(0),
            read_write: Access::Key(0),
            change: Access::Key(0),
        },
        b"CLAVIS-BADGE-001".to_vec(),
    )
    .unwrap();
    card
}

/// One badge check; `transmit` stands for the agent round trip.
fn badge_check(
    key: &AesKey,
    mut transmit: impl FnMut(&[u8]) -> Vec<u8>,
) -> clavis_desfire::Result<(CardUid, Vec<u8>)> {
    let select = NativeCommand::select_application(aid()).to_plain_apdu()?;
    apdu::expect_plain_ok(&transmit(select.as_bytes()))?;
    let (command, pending) = Authenticator::begin(1, key, RND_A)?;
    let (command, pending) = pending.on_response(&transmit(command.as_bytes()))?;
    let mut session = pending.on_response(&transmit(command.as_bytes()))?;
    let (command, pending) = session.get_card_uid()?;
    let uid = session.finish(pending, &transmit(command.as_bytes()))?;
    let (command, pending) = session.read_data(1, 0, 16, CommMode::Mac)?;
    let content = session.finish(pending, &transmit(command.as_bytes()))?;
    Ok((uid, content))
}

fn bench(c: &mut Criterion) {
    let key = badge_key();
    let mut group = c.benchmark_group("badge_check");

    let mut live = card();
    group.bench_function("host_and_card", |b| {
        b.iter(|| badge_check(black_box(&key), |apdu| live.process(apdu)).unwrap())
    });

    // Record one exchange, then replay the card's answers to the host alone. With a fixed
    // RndA the host sends the same commands, so the recorded answers stay valid.
    let mut recorder = card();
    let mut recorded = Vec::new();
    badge_check(&key, |apdu| {
        let answer = recorder.process(apdu);
        recorded.push(answer.clone());
        answer
    })
    .unwrap();
    group.bench_function("host_only", |b| {
        b.iter(|| {
            let mut answers = recorded.iter();
            badge_check(black_box(&key), |_| answers.next().unwrap().clone()).unwrap()
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    targets = bench
}
criterion_main!(benches);
