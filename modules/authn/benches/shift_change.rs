//! The 7:00 shift change: many badge taps at once, server side, on SQLite
//! and (when `CLAVIS_TEST_PG_URL` names a server: `scripts/test-services
//! start`) on PostgreSQL. 64 people, each with an enrolled badge at a
//! workstation of their own; 16 taps in flight on a 2-worker runtime (as
//! `clavis serve` on 2 cores) for `BENCH_SECS` (default 10) seconds:
//!
//! - taps: the transaction opened and relayed through the agent protocol
//!   until the badge is identified (every step replayed and recorded);
//! - logins: the same, then the PIN checked (argon2id, 19 MiB) and the SSO
//!   session opened with its audit events, as `POST /login/badge/finish`.
//!
//! The card is an emulator (its work, the radio and HTTP are not the
//! server's); the load runs in the same process.
//! `cargo bench -p clavis_authn --bench shift_change`.

mod support;

use clavis_authn::badge::{BadgeService, Purpose};
use clavis_core::Oid;
use clavis_desfire::AesKey;
use clavis_desfire::emulator::CardEmulator;
use clavis_store::models::WorkstationRow;
use clavis_testkit::db::{Backend, TestDb};
use std::sync::Arc;
use std::time::{Duration, Instant};

const PEOPLE: usize = 64;
const IN_FLIGHT: usize = 16;
const PIN: &str = "482915";

/// One person's badge at their workstation.
struct Holder {
    ws: WorkstationRow,
    card: CardEmulator,
}

async fn setup(svc: &BadgeService, backend: Backend) -> (TestDb, Vec<Holder>) {
    let t = TestDb::new(backend).await;
    let mut holders = Vec::with_capacity(PEOPLE);
    for i in 0..PEOPLE {
        let oid: Oid = clavis_testkit::people::insert_person(
            &t.db,
            &format!("Agent{i}"),
            "Marie",
            clavis_core::LifecycleStatus::Active,
        )
        .await;
        let ws = support::workstation(&t.db, &format!("ws-{i}")).await;
        let mut card = CardEmulator::new([4, 1, 2, 3, 4, 5, i as u8], AesKey::ZERO, [i as u8; 16]);
        support::tap(
            svc,
            &t.db,
            &ws,
            Purpose::Enrol { oid, until: None },
            &mut card,
        )
        .await;
        let mut conn = t.db.conn().await.expect("conn");
        clavis_authn::badge::pin::set_pin(
            &mut conn,
            svc.hasher(),
            svc.policy(),
            support::now(),
            oid,
            &clavis_core::secret::Secret::new(PIN.to_string()),
            &clavis_core::Actor::Cli("bench".into()),
        )
        .await
        .expect("pin");
        holders.push(Holder { ws, card });
    }
    (t, holders)
}

/// Taps (and, with `pin`, logins) per second with [`IN_FLIGHT`] at once.
async fn run(
    svc: &Arc<BadgeService>,
    t: &Arc<TestDb>,
    holders: &mut Vec<Holder>,
    secs: u64,
    pin: bool,
) -> f64 {
    let end = Instant::now() + Duration::from_secs(secs);
    let start = Instant::now();
    let per_task = holders.len() / IN_FLIGHT;
    let mut tasks = Vec::new();
    for _ in 0..IN_FLIGHT {
        let mut mine: Vec<Holder> = holders.drain(..per_task).collect();
        let (svc, t) = (svc.clone(), t.clone());
        tasks.push(tokio::spawn(async move {
            let sso = clavis_sso::SsoConfig::default();
            let mut done = 0u64;
            'outer: loop {
                for h in mine.iter_mut() {
                    if Instant::now() >= end {
                        break 'outer;
                    }
                    h.card.reset();
                    let (opened, _) =
                        support::tap(&svc, &t.db, &h.ws, Purpose::Login, &mut h.card).await;
                    if pin {
                        svc.finish_login(
                            &t.db,
                            &sso,
                            support::now(),
                            &opened.id,
                            opened.token.expose(),
                            opened.browser.expose(),
                            &clavis_core::secret::Secret::new(PIN.to_string()),
                            Some("10.0.0.1".into()),
                            None,
                            None,
                        )
                        .await
                        .expect("login");
                    }
                    done += 1;
                }
            }
            (done, mine)
        }));
    }
    let mut total = 0;
    for task in tasks {
        let (done, mine) = task.await.expect("task");
        total += done;
        holders.extend(mine);
    }
    total as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let secs: u64 = std::env::var("BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let mut backends = vec![Backend::Sqlite];
    if std::env::var("CLAVIS_TEST_PG_URL").is_ok() {
        backends.push(Backend::Postgres);
    } else {
        println!("(CLAVIS_TEST_PG_URL unset: SQLite only)");
    }
    println!(
        "backend    | taps/s ({IN_FLIGHT} in flight, badge identified) | logins/s (tap + PIN + session)"
    );
    for backend in backends {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let svc = Arc::new(support::service());
            let (t, mut holders) = setup(&svc, backend).await;
            let t = Arc::new(t);
            // Warm up.
            run(&svc, &t, &mut holders, 1, false).await;
            let taps = run(&svc, &t, &mut holders, secs, false).await;
            let logins = run(&svc, &t, &mut holders, secs, true).await;
            println!(
                "{:<10} | {taps:>42.0} | {logins:>30.0}",
                format!("{backend:?}")
            );
        });
    }
}
