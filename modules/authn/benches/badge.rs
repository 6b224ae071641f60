//! Server-side cost of one badge check (SelectApplication, two EV2
//! authentications, GetCardUID, AN10922 diversification, ReadData in Full
//! mode), the card's own work and the radio excluded:
//! `cargo bench -p clavis_authn --bench badge`.

use clavis_authn::badge::check::Step;
use clavis_authn::badge::{BadgeCheck, BadgeKeys, REFERENCE_FILE, REFERENCE_LEN, key_no};
use clavis_desfire::emulator::CardEmulator;
use clavis_desfire::{Access, AccessRights, AesKey, Aid, CardUid, CommMode};
use criterion::{Criterion, criterion_group, criterion_main};
use std::time::{Duration, Instant};

fn bench(c: &mut Criterion) {
    let keys = BadgeKeys {
        aid: Aid::new(0x5A_4C_43).expect("aid"),
        system_id: b"CHU-BENCH".to_vec(),
        ident_key: AesKey::new([0x21; 16]),
        login_master: AesKey::new([0x42; 16]),
    };
    let uid = [4, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66];
    let login = keys
        .login_key_for(&CardUid::new(&uid).expect("uid"))
        .expect("div");
    let mut card = CardEmulator::new(uid, AesKey::ZERO, [7; 16]);
    card.add_application(
        keys.aid,
        0x0B,
        vec![login.clone(), login, keys.ident_key.clone()],
    )
    .expect("app");
    card.add_std_file(
        keys.aid,
        REFERENCE_FILE,
        CommMode::Full,
        AccessRights {
            read: Access::Key(key_no::LOGIN),
            write: Access::Key(key_no::MASTER),
            read_write: Access::Key(key_no::MASTER),
            change: Access::Key(key_no::MASTER),
        },
        vec![0xAB; REFERENCE_LEN],
    )
    .expect("file");
    c.bench_function("badge_check_server_side", |b| {
        b.iter_custom(|iters| {
            let mut server = Duration::ZERO;
            for i in 0..iters {
                let t = Instant::now();
                let (mut check, mut apdu) =
                    BadgeCheck::start(&keys, move || [(i % 251) as u8; 16]).expect("start");
                server += t.elapsed();
                loop {
                    let answer = card.process(apdu.as_bytes());
                    let t = Instant::now();
                    let step = check.on_response(&answer).expect("genuine");
                    server += t.elapsed();
                    match step {
                        Step::Send(next) => apdu = next,
                        Step::Done(_) => break,
                    }
                }
            }
            server
        })
    });
}

/// One PIN check with the parameters Clavis uses (argon2id, 19 MiB, t=2).
fn pin(c: &mut Criterion) {
    let h = clavis_authn::badge::PinHasher::standard(b"bench-pepper").expect("params");
    let stored = h.hash("4829").expect("hash");
    let mut g = c.benchmark_group("pin");
    g.sample_size(20);
    g.bench_function("verify_argon2id_19MiB_t2", |b| {
        b.iter(|| assert!(h.verify(&stored, "4829").expect("verify")))
    });
    g.finish();
}

criterion_group!(benches, bench, pin);
criterion_main!(benches);
