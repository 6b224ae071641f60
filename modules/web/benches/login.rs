//! Server-side cost of a complete FIDO2 login (begin + finish + session
//! creation) and of a session check, on SQLite. The software key's signing
//! is excluded from the login timing (it happens on the user's key).
//!
//! `cargo bench -p clavis_web --bench login`

use chrono::{DateTime, Utc};
use clavis_authn::{AuthnConfig, Fido2};
use clavis_core::Oid;
use clavis_testkit::db::{Backend, TestDb};
use criterion::{Criterion, criterion_group, criterion_main};
use std::time::{Duration, Instant};
use url::Url;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

const ORIGIN: &str = "http://localhost:8080";

fn now() -> DateTime<Utc> {
    "2026-11-22T08:00:00Z".parse().expect("instant")
}

async fn setup() -> (TestDb, Fido2, Oid, SoftPasskey) {
    let t = TestDb::new(Backend::Sqlite).await;
    let fido2 = Fido2::new(
        AuthnConfig::default(),
        &Url::parse(ORIGIN).expect("url"),
        None,
    )
    .expect("rp");
    let (oid, key) = enrol(&t, &fido2, "Bea").await;
    (t, fido2, oid, key)
}

/// A new identity with one enrolled software key.
async fn enrol(t: &TestDb, fido2: &Fido2, given: &str) -> (Oid, SoftPasskey) {
    let oid = clavis_testkit::people::insert_person(
        &t.db,
        "Bench",
        given,
        clavis_core::LifecycleStatus::Active,
    )
    .await;
    let mut conn = t.db.conn().await.expect("conn");
    let link = clavis_authn::issue_enrolment_link(
        &mut conn,
        now(),
        ORIGIN,
        oid,
        24,
        &clavis_core::Actor::Cli("bench".into()),
    )
    .await
    .expect("link");
    let token = link
        .url
        .expose()
        .rsplit('/')
        .next()
        .expect("token")
        .to_string();
    let mut key = SoftPasskey::new(true);
    let c = fido2
        .begin_enrolment(&mut conn, now(), &token)
        .await
        .expect("begin");
    let cred = key
        .do_registration(Url::parse(ORIGIN).expect("url"), c.options)
        .expect("register");
    fido2
        .finish_registration(
            &mut conn,
            now(),
            &c.ceremony,
            &cred,
            "",
            &clavis_core::Actor::Cli("bench".into()),
        )
        .await
        .expect("enrol");
    (oid, key)
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (t, fido2, oid, mut key) = rt.block_on(setup());
    // What a person types at the login page: their oid, here.
    let username = oid.to_string();
    let sso = clavis_sso::SsoConfig::default();
    let mut conn = rt.block_on(t.db.conn()).expect("conn");

    c.bench_function("fido2_login_server_side", |b| {
        b.iter_custom(|iters| {
            let mut server = Duration::ZERO;
            for _ in 0..iters {
                let t0 = Instant::now();
                let ch = rt
                    .block_on(fido2.begin_login(&mut conn, now(), Some(&username)))
                    .expect("begin");
                server += t0.elapsed();
                let a = key
                    .do_authentication(Url::parse(ORIGIN).expect("url"), ch.options)
                    .expect("sign");
                let t1 = Instant::now();
                rt.block_on(async {
                    let out = fido2
                        .finish_login(
                            &t.db,
                            now(),
                            &ch.ceremony,
                            &a,
                            Some("10.0.0.1"),
                            Some(clavis_authn::SessionRequest {
                                sso: &sso,
                                user_agent: None,
                                replaces: None,
                            }),
                        )
                        .await
                        .expect("login");
                    assert!(out.session.is_some());
                });
                server += t1.elapsed();
            }
            server
        })
    });

    // Logins as a server sees them: several at once, on the runtime's two
    // workers. Each of 4 tasks is one person with their own key. The keys'
    // signatures are made between the two measured phases (begin for the
    // whole batch, then finish for the whole batch), so only server work is
    // timed; the time reported per login is wall time / logins.
    let fido2 = std::sync::Arc::new(fido2);
    let people: Vec<(String, SoftPasskey)> = rt.block_on(async {
        let mut v = Vec::new();
        for given in ["Ana", "Ben", "Cyd", "Dan"] {
            let (oid, key) = enrol(&t, &fido2, given).await;
            v.push((oid.to_string(), key));
        }
        v
    });
    let people: Vec<_> = people
        .into_iter()
        .map(|p| std::sync::Arc::new(std::sync::Mutex::new(p)))
        .collect();
    c.bench_function("fido2_login_4_concurrent", |b| {
        b.iter_custom(|iters| {
            let per_task = iters.div_ceil(people.len() as u64) as usize;
            let total = per_task * people.len();
            let sso = std::sync::Arc::new(sso.clone());
            // Phase 1: every task begins its logins.
            let t0 = Instant::now();
            let begun: Vec<Vec<_>> = rt.block_on(async {
                let mut handles = Vec::new();
                for p in &people {
                    let (db, fido2, p) = (t.db.clone(), fido2.clone(), p.clone());
                    handles.push(tokio::spawn(async move {
                        let oid = p.lock().expect("person").0.clone();
                        let mut conn = db.conn().await.expect("conn");
                        let mut out = Vec::with_capacity(per_task);
                        for _ in 0..per_task {
                            out.push(
                                fido2
                                    .begin_login(&mut conn, now(), Some(&oid))
                                    .await
                                    .expect("begin"),
                            );
                        }
                        out
                    }));
                }
                let mut all = Vec::new();
                for h in handles {
                    all.push(h.await.expect("task"));
                }
                all
            });
            let mut server = t0.elapsed();
            // The keys sign (not timed).
            let signed: Vec<Vec<_>> = begun
                .into_iter()
                .zip(&people)
                .map(|(challenges, p)| {
                    let mut p = p.lock().expect("person");
                    challenges
                        .into_iter()
                        .map(|ch| {
                            let a =
                                p.1.do_authentication(Url::parse(ORIGIN).expect("url"), ch.options)
                                    .expect("sign");
                            (ch.ceremony, a)
                        })
                        .collect()
                })
                .collect();
            // Phase 2: every task finishes its logins, opening sessions.
            let t1 = Instant::now();
            rt.block_on(async {
                let mut handles = Vec::new();
                for batch in signed {
                    let (db, fido2, sso) = (t.db.clone(), fido2.clone(), sso.clone());
                    handles.push(tokio::spawn(async move {
                        for (ceremony, a) in batch {
                            let out = fido2
                                .finish_login(
                                    &db,
                                    now(),
                                    &ceremony,
                                    &a,
                                    Some("10.0.0.2"),
                                    Some(clavis_authn::SessionRequest {
                                        sso: &sso,
                                        user_agent: None,
                                        replaces: None,
                                    }),
                                )
                                .await
                                .expect("login");
                            assert!(out.session.is_some());
                        }
                    }));
                }
                for h in handles {
                    h.await.expect("task");
                }
            });
            server += t1.elapsed();
            server.mul_f64(iters as f64 / total as f64)
        })
    });

    let (token, _) = rt
        .block_on(async {
            conn.transaction(async |tx| {
                clavis_sso::create(
                    tx,
                    &sso,
                    now(),
                    clavis_sso::NewSession {
                        workstation_id: None,
                        oid,
                        acr: "eidas2".into(),
                        amr: vec!["hwk".into()],
                        authenticator_id: None,
                        client_ip: None,
                        user_agent: None,
                        ends_by: None,
                        method: clavis_core::LoginMethod::Fido2,
                    },
                )
                .await
            })
            .await
        })
        .expect("session");
    c.bench_function("session_check", |b| {
        b.iter(|| {
            let s = rt
                .block_on(clavis_sso::check_fast(&t.db, now(), token.expose()))
                .expect("check");
            assert!(s.is_some());
        })
    });

    // Throughput with 4 concurrent requests, as several workers serve them:
    // the time per check reported is wall time / checks.
    let tasks = 4u64;
    let db = t.db.clone();
    let token = std::sync::Arc::new(token.expose().clone());
    c.bench_function("session_check_4_concurrent", |b| {
        b.iter_custom(|iters| {
            let per_task = iters.div_ceil(tasks);
            let db = db.clone();
            let token = token.clone();
            rt.block_on(async move {
                let start = Instant::now();
                let mut handles = Vec::new();
                for _ in 0..tasks {
                    let db = db.clone();
                    let token = token.clone();
                    handles.push(tokio::spawn(async move {
                        for _ in 0..per_task {
                            let s = clavis_sso::check_fast(&db, now(), &token)
                                .await
                                .expect("check");
                            assert!(s.is_some());
                        }
                    }));
                }
                for h in handles {
                    h.await.expect("task");
                }
                start
                    .elapsed()
                    .mul_f64(iters as f64 / (per_task * tasks) as f64)
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
