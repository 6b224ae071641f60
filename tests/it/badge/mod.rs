//! Badge login over HTTP against the real app (SQLite and PostgreSQL): the
//! card is the DESFire emulator, and the test plays the agent's part
//! byte for byte (`/agent/v1/step`). One file per use case: enrolment,
//! login, PIN, refusals, the agent protocol, key rotation, the badge
//! office and the admin API. The same flows through the real agent, pcscd
//! and Chromium are in `badge_e2e.rs`.

mod admin_api;
mod agent;
mod enrolment;
mod login;
mod office;
mod pin;
mod refusals;
mod rotation;

use crate::support::http::{AppService, basic};
use crate::support::{TestApp, WORKSTATION_SECRET};
use actix_web::test::{TestRequest, call_service, read_body_json};
use clavis_authn::badge::{BadgeService, Purpose};
use clavis_core::{Clock, Oid, Secret};
use clavis_desfire::AesKey;
use clavis_desfire::emulator::CardEmulator;
use clavis_store::models::{AuditEventRow, BadgeRow};
use clavis_testkit::db::Backend;
use serde_json::{Value, json};
use std::sync::Arc;

/// The day the badge tests run on.
const BADGE_DAY: &str = "2026-11-23T07:00:00Z";
/// Claire's PIN.
const CLAIRE_PIN: &str = "47395182";
/// Paul's PIN.
const PAUL_PIN: &str = "82461937";
/// A PIN nobody has.
const WRONG_PIN: &str = "13572468";
/// The UID of Claire's badge.
const CLAIRE_UID: [u8; 7] = [4, 1, 2, 3, 4, 5, 6];

/// A ward: Claire Lemoine and Paul Martin (no badge yet), the workstation
/// `ward-3` where they sign in and `badge-office` where badges are made.
async fn ward(backend: Backend) -> TestApp {
    TestApp::on(backend)
        .at(BADGE_DAY)
        .with_person("Lemoine", "Claire")
        .with_person("Martin", "Paul")
        .with_workstation("ward-3")
        .with_workstation("badge-office")
        .start()
        .await
}

/// The badge service of the application.
fn badge_service(app: &TestApp) -> Arc<BadgeService> {
    app.state.badge.clone().expect("badge service")
}

/// The HTTP application with another badge service (another key
/// version) over the same database and clock.
async fn service_with(app: &TestApp, badge: Arc<BadgeService>) -> impl AppService {
    let mut st = app.state.clone();
    st.badge = Some(badge);
    actix_web::test::init_service(clavis_web::build_app(st)).await
}

/// The badge service at another key version (same master key as the test
/// state's).
fn service_at(min: u8, version: u8) -> Arc<BadgeService> {
    let master = clavis_core::master_key::MasterKey::from_bytes(&[42u8; 32]);
    Arc::new(
        BadgeService::new(
            clavis_authn::BadgeConfig {
                key_version: version,
                min_key_version: min,
                ..Default::default()
            },
            |l| master.derive(l),
            AesKey::ZERO,
        )
        .expect("badge service"),
    )
}

/// A blank card as delivered (AES transport key = factory zero key).
fn blank(uid: [u8; 7]) -> CardEmulator {
    CardEmulator::new(uid, AesKey::ZERO, [uid[6]; 16])
}

/// Plays the agent of workstation `ws`: relays the transaction between
/// `card` and the app until it ends, and returns its last answer.
/// With `pull_after`, the card stops answering after that many APDUs.
async fn relay(
    app: &impl AppService,
    ws: &str,
    tx: &str,
    token: Option<&str>,
    card: &mut CardEmulator,
    pull_after: Option<usize>,
) -> Value {
    let mut step = 0;
    let mut answer: Option<String> = None;
    let mut sent = 0;
    loop {
        let r = call_service(
            app,
            TestRequest::post()
                .uri("/agent/v1/step")
                .insert_header(("Authorization", basic(ws, WORKSTATION_SECRET)))
                .set_json(
                    json!({"transaction": tx, "token": token, "step": step, "answer": answer}),
                )
                .to_request(),
        )
        .await;
        assert_eq!(r.status(), 200, "step {step}");
        let v: Value = read_body_json(r).await;
        let Some(apdu) = v["apdu"].as_str() else {
            return v;
        };
        step = v["step"].as_i64().expect("step") as i32;
        let bytes = hex::decode(apdu).expect("hex");
        answer = Some(if pull_after.is_some_and(|n| sent >= n) {
            String::new()
        } else {
            sent += 1;
            hex::encode(card.process(&bytes))
        });
    }
}

/// A badge login begun by the login page.
struct Login {
    tx: String,
    token: String,
    cookie: actix_web::cookie::Cookie<'static>,
}

async fn start_login(app: &impl AppService) -> Login {
    let r = call_service(
        app,
        TestRequest::post()
            .uri("/login/badge/start")
            .set_json(json!({}))
            .to_request(),
    )
    .await;
    assert_eq!(r.status(), 200);
    let cookie = r
        .response()
        .cookies()
        .find(|c| c.name() == clavis_web::badge_web::BADGE_COOKIE)
        .expect("binding cookie")
        .into_owned();
    let v: Value = read_body_json(r).await;
    Login {
        tx: v["transaction"].as_str().expect("tx").into(),
        token: v["token"].as_str().expect("token").into(),
        cookie,
    }
}

/// The login page's last call, with the PIN: (status, body, the session
/// cookie's value if one was set).
async fn finish(app: &impl AppService, l: &Login, pin: &str) -> (u16, Value, Option<String>) {
    let r = call_service(
        app,
        TestRequest::post()
            .uri("/login/badge/finish")
            .cookie(l.cookie.clone())
            .insert_header(("Accept-Language", "fr"))
            .set_json(
                json!({"transaction": l.tx, "token": l.token, "pin": pin, "return_to": "/me"}),
            )
            .to_request(),
    )
    .await;
    let status = r.status().as_u16();
    let session = r
        .response()
        .cookies()
        .find(|c| c.name() == clavis_sso::COOKIE_NAME)
        .map(|c| c.value().to_string());
    (status, read_body_json(r).await, session)
}

/// A badge login of `card` at `ward-3`, up to the PIN: the login and the
/// relay's last answer.
async fn tap(app: &impl AppService, card: &mut CardEmulator) -> (Login, Value) {
    tap_at(app, "ws-ward-3", card, None).await
}

/// [`tap`] at workstation `ws`, the card pulled after `pull_after` APDUs.
async fn tap_at(
    app: &impl AppService,
    ws: &str,
    card: &mut CardEmulator,
    pull_after: Option<usize>,
) -> (Login, Value) {
    card.reset();
    let l = start_login(app).await;
    let end = relay(app, ws, &l.tx, Some(&l.token), card, pull_after).await;
    (l, end)
}

/// Personalises `card` for `oid` at `badge-office` (an enrolment bound to
/// the workstation, as `clavis badge enrol` opens it), through `app` and
/// `svc`: the relay's last answer.
async fn enrol_with(
    app: &impl AppService,
    t: &TestApp,
    svc: &BadgeService,
    oid: Oid,
    until: Option<chrono::DateTime<chrono::Utc>>,
    card: &mut CardEmulator,
) -> Value {
    let ws = t.workstation("badge-office");
    let mut conn = t.t.db.conn().await.expect("conn");
    let opened = svc
        .open(
            &mut conn,
            t.clock.now(),
            Purpose::Enrol { oid, until },
            Some(&ws.id),
            &clavis_core::Actor::Cli("it".into()),
        )
        .await
        .expect("open");
    // The agent learns of it by asking.
    let pending = call_service(
        app,
        TestRequest::post()
            .uri("/agent/v1/pending")
            .insert_header(("Authorization", basic(ws.id.as_str(), WORKSTATION_SECRET)))
            .to_request(),
    )
    .await;
    assert_eq!(pending.status(), 200);
    let p: Value = read_body_json(pending).await;
    assert_eq!(p["transaction"], opened.id.as_str());
    relay(app, ws.id.as_str(), &opened.id, None, card, None).await
}

/// [`enrol_with`] the application's own badge service.
async fn enrol(
    app: &impl AppService,
    t: &TestApp,
    oid: Oid,
    until: Option<chrono::DateTime<chrono::Utc>>,
    card: &mut CardEmulator,
) -> Value {
    enrol_with(app, t, &badge_service(t), oid, until, card).await
}

/// Sets `pin` as the PIN of `oid`.
async fn set_pin(t: &TestApp, svc: &BadgeService, oid: Oid, pin: &str) {
    set_pin_by(t, svc, oid, pin, &clavis_core::Actor::Cli("it".into())).await;
}

/// Sets `pin` as the PIN of `oid`, on behalf of `by` (someone other than
/// the holder: the holder is told at their next login).
pub(crate) async fn set_pin_by(
    t: &TestApp,
    svc: &BadgeService,
    oid: Oid,
    pin: &str,
    by: &clavis_core::Actor,
) {
    let mut conn = t.t.db.conn().await.expect("conn");
    clavis_authn::badge::pin::set_pin(
        &mut conn,
        svc.hasher(),
        svc.policy(),
        t.clock.now(),
        oid,
        &Secret::new(pin.to_string()),
        by,
    )
    .await
    .expect("pin");
}

/// A badge enrolled for `given` (Claire or Paul of [`ward`]) with its
/// holder's PIN set.
async fn badge_of(
    app: &impl AppService,
    t: &TestApp,
    given: &str,
    uid: [u8; 7],
    pin: &str,
) -> CardEmulator {
    let mut card = blank(uid);
    let oid = t.person(given);
    assert_eq!(
        enrol(app, t, oid, None, &mut card).await,
        json!({"done": true})
    );
    set_pin(t, &badge_service(t), oid, pin).await;
    card
}

/// Claire's badge ([`CLAIRE_UID`], [`CLAIRE_PIN`]).
async fn claires_badge(app: &impl AppService, t: &TestApp) -> CardEmulator {
    badge_of(app, t, "Claire", CLAIRE_UID, CLAIRE_PIN).await
}

/// The badges of `oid`.
async fn badges_of(t: &TestApp, oid: Oid) -> Vec<BadgeRow> {
    let mut conn = t.t.db.conn().await.expect("conn");
    BadgeRow::for_identity(&mut conn, oid)
        .await
        .expect("badges")
}

/// The audit log as (action, details) pairs.
async fn actions(db: &clavis_store::Db) -> Vec<(String, Value)> {
    let mut conn = db.conn().await.expect("conn");
    AuditEventRow::page(&mut conn, 0, 100_000)
        .await
        .expect("audit")
        .into_iter()
        .map(|e| {
            (
                e.action.clone(),
                serde_json::from_str(&e.changes).unwrap_or(Value::Null),
            )
        })
        .collect()
}

/// The `action:reason` of every badge refusal in the audit log.
async fn refusal_reasons(db: &clavis_store::Db) -> Vec<String> {
    actions(db)
        .await
        .iter()
        .filter(|(a, _)| {
            a == "badge.check_failed" || a == "badge.refused" || a == "badge.enrolment_failed"
        })
        .map(|(a, d)| format!("{a}:{}", d["reason"].as_str().unwrap_or("")))
        .collect()
}

/// Asserts that the audit log records this refusal with its precise reason.
async fn assert_refusal_audited(db: &clavis_store::Db, want: &str) {
    let reasons = refusal_reasons(db).await;
    assert!(
        reasons.iter().any(|r| r == want),
        "{want} not in {reasons:?}"
    );
}

/// Asserts that none of `pins` reached the audit log, and that its chain
/// is whole.
async fn assert_audit_keeps_no_pin(db: &clavis_store::Db, pins: &[&str]) {
    let log = actions(db).await;
    let everything =
        serde_json::to_string(&log.iter().map(|(_, d)| d).collect::<Vec<_>>()).expect("json");
    for secret in pins {
        assert!(
            !everything.contains(secret),
            "a PIN reached the audit log: {everything}"
        );
    }
    let mut conn = db.conn().await.expect("conn");
    assert!(
        clavis_audit::verify(&mut conn)
            .await
            .expect("verify")
            .first_broken
            .is_none()
    );
}
