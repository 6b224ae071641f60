//! Badge login over HTTP against the real app (SQLite and PostgreSQL): the
//! card is the DESFire emulator, and the test plays the agent's part
//! byte for byte (`/agent/v1/step`). The same flows through the real agent,
//! pcscd and Chromium are in `badge_e2e.rs`.

use crate::support::{ORIGIN, on_both_backends, state};
use actix_web::dev::{Service, ServiceResponse};
use actix_web::test::{TestRequest, call_service, read_body_json};
use base64::Engine;
use clavis_authn::badge::{BadgeService, Purpose};
use clavis_core::{Clock, FixedClock, Oid, Secret};
use clavis_desfire::AesKey;
use clavis_desfire::emulator::CardEmulator;
use clavis_store::models::{AuditEventRow, BadgeRow, SsoSessionRow, WorkstationRow};
use clavis_testkit::db::{Backend, TestDb};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::sync::Arc;

const SECRET: &str = "0123456789abcdef0123456789abcdef";

on_both_backends!(
    badge_enrolment_login_lockout_switching_and_refusals,
    the_admin_api_registers_workstations_enrols_lists_revokes_and_unlocks_badges,
    a_key_rotation_re_keys_each_badge_on_its_next_tap_even_after_a_cut,
    the_badge_office_encodes_a_badge_and_the_holder_chooses_a_pin,
);

async fn workstation(db: &clavis_store::Db, name: &str) -> WorkstationRow {
    let row = WorkstationRow {
        id: format!("ws-{name}"),
        name: name.into(),
        location: None,
        secret_hash: hex::encode(Sha256::digest(SECRET.as_bytes())),
        created_at: 0,
        created_by: "test".into(),
        last_seen_at: None,
        revoked_at: None,
    };
    let mut conn = db.conn().await.expect("conn");
    row.insert(&mut conn).await.expect("workstation");
    row
}

fn basic(ws: &str, secret: &str) -> String {
    basic_with(ws, secret)
}

/// A blank card as delivered (AES transport key = factory zero key).
fn blank(uid: [u8; 7]) -> CardEmulator {
    CardEmulator::new(uid, AesKey::ZERO, [uid[6]; 16])
}

/// Plays the agent: relays the transaction between `card` and the app.
/// With `pull_after`, the card stops answering after that many APDUs.
async fn relay<S, B>(
    app: &S,
    ws: &str,
    tx: &str,
    token: Option<&str>,
    card: &mut CardEmulator,
    pull_after: Option<usize>,
) -> Value
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: actix_web::body::MessageBody,
{
    let mut step = 0;
    let mut answer: Option<String> = None;
    let mut sent = 0;
    loop {
        let r = call_service(
            app,
            TestRequest::post()
                .uri("/agent/v1/step")
                .insert_header(("Authorization", basic(ws, SECRET)))
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

struct Login {
    tx: String,
    token: String,
    cookie: actix_web::cookie::Cookie<'static>,
}

async fn start_login<S, B>(app: &S) -> Login
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: actix_web::body::MessageBody,
{
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

async fn finish<S, B>(app: &S, l: &Login, pin: &str) -> (u16, Value, Option<String>)
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: actix_web::body::MessageBody,
{
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

/// Personalises `card` for `oid` at `ws` (an enrolment bound to the
/// workstation, as `clavis badge enrol` opens it).
#[allow(clippy::too_many_arguments)]
async fn enrol<S, B>(
    app: &S,
    db: &clavis_store::Db,
    svc: &BadgeService,
    now: chrono::DateTime<chrono::Utc>,
    ws: &WorkstationRow,
    oid: Oid,
    until: Option<chrono::DateTime<chrono::Utc>>,
    card: &mut CardEmulator,
) -> Value
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: actix_web::body::MessageBody,
{
    let mut conn = db.conn().await.expect("conn");
    let opened = svc
        .open(
            &mut conn,
            now,
            Purpose::Enrol { oid, until },
            Some(&ws.id),
            "cli:it",
        )
        .await
        .expect("open");
    // The agent learns of it by asking.
    let pending = call_service(
        app,
        TestRequest::post()
            .uri("/agent/v1/pending")
            .insert_header(("Authorization", basic(&ws.id, SECRET)))
            .to_request(),
    )
    .await;
    assert_eq!(pending.status(), 200);
    let p: Value = read_body_json(pending).await;
    assert_eq!(p["transaction"], opened.id.as_str());
    relay(app, &ws.id, &opened.id, None, card, None).await
}

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

async fn badge_enrolment_login_lockout_switching_and_refusals(backend: Backend) {
    let t = TestDb::new(backend).await;
    let clock = FixedClock::at("2026-11-23T07:00:00Z".parse().expect("instant"));
    let st = state(&t.db, Arc::new(clock.clone())).await;
    let svc = st.badge.clone().expect("badge service");
    let app = actix_web::test::init_service(clavis_web::build_app(st)).await;
    let ward = workstation(&t.db, "ward-3").await;
    let office = workstation(&t.db, "badge-office").await;
    let claire = clavis_testkit::people::insert_person(
        &t.db,
        "Lemoine",
        "Claire",
        clavis_core::LifecycleStatus::Active,
    )
    .await;
    let paul = clavis_testkit::people::insert_person(
        &t.db,
        "Martin",
        "Paul",
        clavis_core::LifecycleStatus::Active,
    )
    .await;

    // Enrol a blank card for Claire; it keeps the door application.
    let mut card = blank([4, 1, 2, 3, 4, 5, 6]);
    let door = clavis_desfire::Aid::new(0x0F_00_01).expect("aid");
    card.add_application(door, 0x0F, vec![AesKey::new([0x10; 16])])
        .expect("door");
    let done = enrol(
        &app,
        &t.db,
        &svc,
        clock.now(),
        &office,
        claire,
        None,
        &mut card,
    )
    .await;
    assert_eq!(done, json!({"done": true}));
    assert!(
        card.has_key(door, 0, &AesKey::new([0x10; 16])),
        "door application untouched"
    );
    let mut conn = t.db.conn().await.expect("conn");
    let badges = BadgeRow::for_identity(&mut conn, claire)
        .await
        .expect("badges");
    assert_eq!(badges.len(), 1);
    assert_eq!(badges[0].uid, "04010203040506");
    assert_eq!(badges[0].status.as_str(), "active");
    clavis_authn::badge::pin::set_pin(
        &mut conn,
        svc.hasher(),
        svc.policy(),
        clock.now(),
        claire,
        &Secret::new("47395182".to_string()),
        "cli:it",
    )
    .await
    .expect("pin");

    // The same card again cannot be enrolled twice.
    let again = enrol(
        &app,
        &t.db,
        &svc,
        clock.now(),
        &office,
        claire,
        None,
        &mut card,
    )
    .await;
    assert_eq!(again, json!({"failed": true}));

    // Badge + PIN at the ward workstation: a session with badge amr,
    // recorded at that workstation.
    let l = start_login(&app).await;
    assert_eq!(
        relay(&app, &ward.id, &l.tx, Some(&l.token), &mut card, None).await,
        json!({"done": true})
    );
    let (status, body, session) = finish(&app, &l, "47395182").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["redirect"], "/me");
    let token = session.expect("session cookie");
    let s = clavis_sso::check(&mut conn, clock.now(), &token)
        .await
        .expect("check")
        .expect("live session");
    assert_eq!(s.oid, claire);
    assert_eq!(s.amr, vec!["hwk", "pin", "mfa"]);
    assert_eq!(s.acr, "eidas2");
    assert_eq!(s.workstation_id.as_deref(), Some(ward.id.as_str()));
    // The transaction is spent: the PIN cannot open a second session.
    assert_eq!(finish(&app, &l, "47395182").await.0, 400);

    // A step replayed by the agent (same step number) is refused.
    let l2 = start_login(&app).await;
    let first = call_service(
        &app,
        TestRequest::post()
            .uri("/agent/v1/step")
            .insert_header(("Authorization", basic(&ward.id, SECRET)))
            .set_json(json!({"transaction": l2.tx, "token": l2.token, "step": 0}))
            .to_request(),
    )
    .await;
    assert_eq!(first.status(), 200);
    let v: Value = read_body_json(first).await;
    let answer =
        hex::encode(card.process(&hex::decode(v["apdu"].as_str().expect("apdu")).expect("hex")));
    let step = v["step"].clone();
    for expected in [200, 409] {
        let r = call_service(
            &app,
            TestRequest::post()
                .uri("/agent/v1/step")
                .insert_header(("Authorization", basic(&ward.id, SECRET)))
                .set_json(json!({"transaction": l2.tx, "token": l2.token, "step": step, "answer": answer}))
                .to_request(),
        )
        .await;
        assert_eq!(r.status(), expected);
    }
    // Another workstation cannot take over a transaction, a wrong
    // credential is refused, a wrong token is unknown.
    for (ws, secret, token, status) in [
        (office.id.as_str(), SECRET, l2.token.as_str(), 404),
        (ward.id.as_str(), "wrong", l2.token.as_str(), 401),
        ("ws-nobody", SECRET, l2.token.as_str(), 401),
        (ward.id.as_str(), SECRET, "not-the-token", 404),
    ] {
        let r = call_service(
            &app,
            TestRequest::post()
                .uri("/agent/v1/step")
                .insert_header(("Authorization", basic(ws, secret)))
                .set_json(
                    json!({"transaction": l2.tx, "token": token, "step": 2, "answer": "9000"}),
                )
                .to_request(),
        )
        .await;
        assert_eq!(r.status(), status, "{ws} {secret} {token}");
    }
    card.reset();

    // Fast user switching: Paul badges in at the same workstation; Claire's
    // session there ends first.
    let mut pauls = blank([4, 9, 9, 9, 9, 9, 1]);
    assert_eq!(
        enrol(
            &app,
            &t.db,
            &svc,
            clock.now(),
            &office,
            paul,
            None,
            &mut pauls
        )
        .await,
        json!({"done": true})
    );
    clavis_authn::badge::pin::set_pin(
        &mut conn,
        svc.hasher(),
        svc.policy(),
        clock.now(),
        paul,
        &Secret::new("82461937".to_string()),
        "cli:it",
    )
    .await
    .expect("pin");
    let lp = start_login(&app).await;
    relay(&app, &ward.id, &lp.tx, Some(&lp.token), &mut pauls, None).await;
    let (status, _, paul_session) = finish(&app, &lp, "82461937").await;
    assert_eq!(status, 200);
    assert!(
        clavis_sso::check(&mut conn, clock.now(), &token)
            .await
            .expect("check")
            .is_none(),
        "Claire's session at ward-3 ended"
    );
    let ended = SsoSessionRow::find(&mut conn, &s.id)
        .await
        .expect("row")
        .expect("row");
    assert_eq!(ended.end_reason.map(|r| r.as_str()), Some("switched"));
    assert!(paul_session.is_some());

    // Wrong PIN until lockout; then even the right PIN is refused, and an
    // operator unlock lets her in again.
    card.reset();
    let l3 = start_login(&app).await;
    relay(&app, &ward.id, &l3.tx, Some(&l3.token), &mut card, None).await;
    for left in (1..5).rev() {
        let (status, body, _) = finish(&app, &l3, "13572468").await;
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
    let (status, body, _) = finish(&app, &l3, "13572468").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (423, Some("locked"))
    );
    let (status, body, session) = finish(&app, &l3, "47395182").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (423, Some("locked"))
    );
    assert!(session.is_none());
    clavis_authn::badge::pin::unlock(&mut conn, clock.now(), claire, "cli:it")
        .await
        .expect("unlock");
    assert_eq!(finish(&app, &l3, "47395182").await.0, 200);

    // A clone: same UID, our application copied, but not the diversified
    // key (the attacker only knows the common identification key).
    let keys = svc.keys();
    let mut clone = blank([4, 1, 2, 3, 4, 5, 6]);
    clone
        .add_application(
            keys.aid,
            0x09,
            vec![
                AesKey::new([1; 16]),
                AesKey::new([2; 16]),
                keys.ident_key.clone(),
            ],
        )
        .expect("clone app");
    let lc = start_login(&app).await;
    assert_eq!(
        relay(&app, &ward.id, &lc.tx, Some(&lc.token), &mut clone, None).await,
        json!({"failed": true})
    );
    assert_eq!(
        finish(&app, &lc, "47395182").await.1["error"]["code"],
        "badge_refused"
    );

    // A card of another system (another master key): refused at the
    // identification key.
    let other = clavis_authn::badge::BadgeService::new(
        clavis_authn::BadgeConfig::default(),
        |l| {
            let mut k = [7u8; 32];
            k[..l.len().min(32)].copy_from_slice(&l.as_bytes()[..l.len().min(32)]);
            k
        },
        AesKey::ZERO,
    )
    .expect("other system");
    let mut foreign = blank([4, 7, 7, 7, 7, 7, 7]);
    {
        let pk = other.personalisation_keys();
        let (mut p, mut apdu) =
            clavis_authn::badge::Personalisation::start(&pk, || [3u8; 16]).expect("start");
        while let clavis_authn::badge::personalise::Step::Send(next) = p
            .on_response(&foreign.process(apdu.as_bytes()))
            .expect("personalise")
        {
            apdu = next;
        }
    }
    let lf = start_login(&app).await;
    assert_eq!(
        relay(&app, &ward.id, &lf.tx, Some(&lf.token), &mut foreign, None).await,
        json!({"failed": true})
    );

    // The card pulled away in the middle of the authentication.
    card.reset();
    let lr = start_login(&app).await;
    assert_eq!(
        relay(&app, &ward.id, &lr.tx, Some(&lr.token), &mut card, Some(2)).await,
        json!({"failed": true})
    );

    // A revoked badge.
    clavis_authn::badge::records::revoke(&mut conn, clock.now(), &badges[0].id, "lost", "cli:it")
        .await
        .expect("revoke");
    card.reset();
    let lv = start_login(&app).await;
    assert_eq!(
        relay(&app, &ward.id, &lv.tx, Some(&lv.token), &mut card, None).await,
        json!({"failed": true})
    );

    // A temporary badge for the day: works until its end, refused after.
    let mut temp = blank([4, 5, 5, 5, 5, 5, 5]);
    let until = clock.now() + chrono::Duration::hours(12);
    assert_eq!(
        enrol(
            &app,
            &t.db,
            &svc,
            clock.now(),
            &office,
            claire,
            Some(until),
            &mut temp
        )
        .await,
        json!({"done": true})
    );
    let lt = start_login(&app).await;
    relay(&app, &ward.id, &lt.tx, Some(&lt.token), &mut temp, None).await;
    assert_eq!(finish(&app, &lt, "47395182").await.0, 200);
    clock.advance(chrono::Duration::hours(13));
    temp.reset();
    let lx = start_login(&app).await;
    assert_eq!(
        relay(&app, &ward.id, &lx.tx, Some(&lx.token), &mut temp, None).await,
        json!({"failed": true})
    );

    // Every refusal is audited with its precise reason; no PIN and no
    // badge reference ever reaches the log.
    let log = actions(&t.db).await;
    let reasons: Vec<String> = log
        .iter()
        .filter(|(a, _)| {
            a == "badge.check_failed" || a == "badge.refused" || a == "badge.enrolment_failed"
        })
        .map(|(a, d)| format!("{a}:{}", d["reason"].as_str().unwrap_or("")))
        .collect();
    for want in [
        "badge.enrolment_failed:already_personalised",
        "badge.check_failed:login_key_refused",
        "badge.check_failed:identification_refused",
        "badge.check_failed:card_removed",
        "badge.refused:badge revoked",
        "badge.refused:temporary badge expired",
    ] {
        assert!(
            reasons.iter().any(|r| r == want),
            "{want} not in {reasons:?}"
        );
    }
    let everything =
        serde_json::to_string(&log.iter().map(|(_, d)| d).collect::<Vec<_>>()).expect("json");
    for secret in ["47395182", "13572468", "82461937"] {
        assert!(
            !everything.contains(secret),
            "a PIN reached the audit log: {everything}"
        );
    }
    assert!(
        log.iter()
            .any(|(a, d)| a == "login.succeeded" && d["method"] == "badge")
    );
    assert!(log.iter().any(|(a, _)| a == "badge.pin_locked"));
    let mut conn = t.db.conn().await.expect("conn");
    assert!(
        clavis_audit::verify(&mut conn)
            .await
            .expect("verify")
            .first_broken
            .is_none()
    );
    let _ = ORIGIN;
}

async fn the_admin_api_registers_workstations_enrols_lists_revokes_and_unlocks_badges(
    backend: Backend,
) {
    let t = TestDb::new(backend).await;
    let clock = FixedClock::at("2026-11-23T07:00:00Z".parse().expect("instant"));
    let st = state(&t.db, Arc::new(clock.clone())).await;
    let svc = st.badge.clone().expect("badge service");
    let app = actix_web::test::init_service(clavis_web::build_app(st)).await;
    let claire = clavis_testkit::people::insert_person(
        &t.db,
        "Lemoine",
        "Claire",
        clavis_core::LifecycleStatus::Active,
    )
    .await;
    let mut conn = t.db.conn().await.expect("conn");
    let token = clavis_web::tokens::create(&mut conn, "dsi", "it", clock.now())
        .await
        .expect("token");
    let auth = ("authorization", format!("Bearer {}", token.expose()));
    let call = |req: TestRequest| req.insert_header(auth.clone()).to_request();

    // Without a token: 401, and nothing is said about what exists.
    let r = call_service(
        &app,
        TestRequest::get().uri("/admin/api/badges").to_request(),
    )
    .await;
    assert_eq!(r.status(), 401);

    // Register a workstation; the credential is shown once and works.
    let r = call_service(
        &app,
        call(
            TestRequest::post()
                .uri("/admin/api/workstations")
                .set_json(json!({"name": "Bureau des badges", "location": "RDC"})),
        ),
    )
    .await;
    assert_eq!(r.status(), 201);
    let ws: Value = read_body_json(r).await;
    let ws_id = ws["id"].as_str().expect("id").to_string();
    let credential = ws["credential"].as_str().expect("credential").to_string();
    let r = call_service(
        &app,
        call(
            TestRequest::post()
                .uri("/admin/api/workstations")
                .set_json(json!({"name": "Bureau des badges"})),
        ),
    )
    .await;
    assert_eq!(r.status(), 400, "duplicate name");
    let listed: Value = read_body_json(
        call_service(
            &app,
            call(TestRequest::get().uri("/admin/api/workstations")),
        )
        .await,
    )
    .await;
    assert_eq!(listed.as_array().expect("array").len(), 1);
    assert!(listed[0].get("credential").is_none() && listed[0].get("secret_hash").is_none());

    // A temporary badge for the day through the API: the agent picks up
    // the enrolment and relays a blank card.
    let until = clock.now() + chrono::Duration::hours(10);
    let r = call_service(
        &app,
        call(TestRequest::post().uri("/admin/api/badges/enrolments").set_json(
            json!({"identity": claire, "workstation": "Bureau des badges", "temporary_until": until}),
        )),
    )
    .await;
    assert_eq!(r.status(), 201);
    let enrolment: Value = read_body_json(r).await;
    let tx = enrolment["id"].as_str().expect("id").to_string();
    let status_of = |tx: String| {
        let app = &app;
        let auth = auth.clone();
        async move {
            let r = call_service(
                app,
                TestRequest::get()
                    .uri(&format!("/admin/api/badges/enrolments/{tx}"))
                    .insert_header(auth)
                    .to_request(),
            )
            .await;
            read_body_json::<Value, _>(r).await
        }
    };
    assert_eq!(status_of(tx.clone()).await["status"], "open");
    let pending: Value = read_body_json(
        call_service(
            &app,
            TestRequest::post()
                .uri("/agent/v1/pending")
                .insert_header(("Authorization", basic_with(&ws_id, &credential)))
                .to_request(),
        )
        .await,
    )
    .await;
    assert_eq!(pending["transaction"], tx.as_str());
    let mut card = blank([4, 6, 6, 6, 6, 6, 6]);
    let mut step = 0;
    let mut answer: Option<String> = None;
    loop {
        let v: Value = read_body_json(
            call_service(
                &app,
                TestRequest::post()
                    .uri("/agent/v1/step")
                    .insert_header(("Authorization", basic_with(&ws_id, &credential)))
                    .set_json(json!({"transaction": tx, "step": step, "answer": answer}))
                    .to_request(),
            )
            .await,
        )
        .await;
        let Some(apdu) = v["apdu"].as_str() else {
            assert_eq!(v, json!({"done": true}));
            break;
        };
        step = v["step"].as_i64().expect("step") as i32;
        answer = Some(hex::encode(card.process(&hex::decode(apdu).expect("hex"))));
    }
    let done = status_of(tx.clone()).await;
    assert_eq!(done["status"], "done");
    assert_eq!(done["badge"]["kind"], "temporary");
    assert_eq!(done["badge"]["uid"], "04060606060606");
    assert_eq!(done["badge"]["expires_at"], until.timestamp());
    let badge_id = done["badge"]["id"].as_str().expect("id").to_string();

    // Listed by identity and status; revoked; the revocation shows.
    let r: Value = read_body_json(
        call_service(
            &app,
            call(TestRequest::get().uri(&format!(
                "/admin/api/badges?identity={claire}&status=active"
            ))),
        )
        .await,
    )
    .await;
    assert_eq!(r.as_array().expect("array").len(), 1);
    let r = call_service(
        &app,
        call(
            TestRequest::post()
                .uri(&format!("/admin/api/badges/{badge_id}/revoke"))
                .set_json(json!({"reason": "forgotten badge returned"})),
        ),
    )
    .await;
    assert_eq!(r.status(), 200);
    let r: Value = read_body_json(
        call_service(
            &app,
            call(TestRequest::get().uri("/admin/api/badges?status=revoked")),
        )
        .await,
    )
    .await;
    assert_eq!(r[0]["status_reason"], "forgotten badge returned");
    let r = call_service(
        &app,
        call(
            TestRequest::post()
                .uri("/admin/api/badges/nope/revoke")
                .set_json(json!({})),
        ),
    )
    .await;
    assert_eq!(r.status(), 404);

    // Unlock a PIN lockout.
    clavis_authn::badge::pin::set_pin(
        &mut conn,
        svc.hasher(),
        svc.policy(),
        clock.now(),
        claire,
        &Secret::new("47395182".to_string()),
        "it",
    )
    .await
    .expect("pin");
    for _ in 0..5 {
        let _ = clavis_authn::badge::pin::check_pin(
            &mut conn,
            svc.hasher(),
            svc.policy(),
            clock.now(),
            claire,
            &Secret::new("13572468".to_string()),
        )
        .await;
    }
    assert!(matches!(
        clavis_authn::badge::pin::check_pin(
            &mut conn,
            svc.hasher(),
            svc.policy(),
            clock.now(),
            claire,
            &Secret::new("47395182".to_string())
        )
        .await,
        Err(clavis_authn::badge::BadgeError::Pin(
            clavis_authn::badge::PinRefusal::Locked { .. }
        ))
    ));
    let r: Value = read_body_json(
        call_service(
            &app,
            call(TestRequest::post().uri(&format!("/admin/api/identities/{claire}/badge-unlock"))),
        )
        .await,
    )
    .await;
    assert_eq!(r["unlocked"], true);
    clavis_authn::badge::pin::check_pin(
        &mut conn,
        svc.hasher(),
        svc.policy(),
        clock.now(),
        claire,
        &Secret::new("47395182".to_string()),
    )
    .await
    .expect("unlocked");

    // A revoked workstation's agent is refused at once.
    let r = call_service(
        &app,
        call(TestRequest::post().uri(&format!("/admin/api/workstations/{ws_id}/revoke"))),
    )
    .await;
    assert_eq!(r.status(), 200);
    let r = call_service(
        &app,
        TestRequest::post()
            .uri("/agent/v1/pending")
            .insert_header(("Authorization", basic_with(&ws_id, &credential)))
            .to_request(),
    )
    .await;
    assert_eq!(r.status(), 401);
}

fn basic_with(ws: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{ws}:{secret}"))
    )
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

async fn a_key_rotation_re_keys_each_badge_on_its_next_tap_even_after_a_cut(backend: Backend) {
    let t = TestDb::new(backend).await;
    let clock = FixedClock::at("2026-11-23T07:00:00Z".parse().expect("instant"));
    let v1 = service_at(1, 1);
    let mut st1 = state(&t.db, Arc::new(clock.clone())).await;
    st1.badge = Some(v1.clone());
    let app1 = actix_web::test::init_service(clavis_web::build_app(st1)).await;
    let office = workstation(&t.db, "badge-office").await;
    let ward = workstation(&t.db, "ward-3").await;
    let claire = clavis_testkit::people::insert_person(
        &t.db,
        "Lemoine",
        "Claire",
        clavis_core::LifecycleStatus::Active,
    )
    .await;
    let paul = clavis_testkit::people::insert_person(
        &t.db,
        "Martin",
        "Paul",
        clavis_core::LifecycleStatus::Active,
    )
    .await;
    let mut conn = t.db.conn().await.expect("conn");
    let mut cards = Vec::new();
    for (oid, uid, pin) in [
        (claire, [4, 1, 1, 1, 1, 1, 1], "47395182"),
        (paul, [4, 2, 2, 2, 2, 2, 2], "82461937"),
    ] {
        let mut card = blank(uid);
        let done = enrol(
            &app1,
            &t.db,
            &v1,
            clock.now(),
            &office,
            oid,
            None,
            &mut card,
        )
        .await;
        assert_eq!(done, json!({"done": true}));
        clavis_authn::badge::pin::set_pin(
            &mut conn,
            v1.hasher(),
            v1.policy(),
            clock.now(),
            oid,
            &Secret::new(pin.to_string()),
            "it",
        )
        .await
        .expect("pin");
        cards.push(card);
    }
    let aid = v1.keys().aid;
    for card in &cards {
        assert_eq!(card.key_version(aid, 1), Some(1));
    }

    // The DSI rotates to version 2 (version 1 still accepted).
    let v2 = service_at(1, 2);
    let mut st2 = state(&t.db, Arc::new(clock.clone())).await;
    st2.badge = Some(v2.clone());
    let app2 = actix_web::test::init_service(clavis_web::build_app(st2)).await;

    // Claire's next tap re-keys her badge, and she signs in as usual.
    cards[0].reset();
    let l = start_login(&app2).await;
    assert_eq!(
        relay(&app2, &ward.id, &l.tx, Some(&l.token), &mut cards[0], None).await,
        json!({"done": true})
    );
    assert_eq!(finish(&app2, &l, "47395182").await.0, 200);
    for key in 0..3 {
        assert_eq!(
            cards[0].key_version(aid, key),
            Some(2),
            "key {key} re-keyed"
        );
    }
    let badge = &BadgeRow::for_identity(&mut conn, claire)
        .await
        .expect("badges")[0];
    assert_eq!(badge.key_version, 2);
    // Version 1 retired: her badge still works; a version-1 login service
    // no longer can read it.
    let v2_only = service_at(2, 2);
    let mut st3 = state(&t.db, Arc::new(clock.clone())).await;
    st3.badge = Some(v2_only);
    let app3 = actix_web::test::init_service(clavis_web::build_app(st3)).await;
    cards[0].reset();
    let l = start_login(&app3).await;
    assert_eq!(
        relay(&app3, &ward.id, &l.tx, Some(&l.token), &mut cards[0], None).await,
        json!({"done": true})
    );
    cards[0].reset();
    let l = start_login(&app1).await;
    assert_eq!(
        relay(&app1, &ward.id, &l.tx, Some(&l.token), &mut cards[0], None).await,
        json!({"failed": true})
    );

    // Paul pulls his badge in the middle of re-keying, right after key 1
    // changed: his login still goes on, and the next tap finishes the job.
    cards[1].reset();
    let l = start_login(&app2).await;
    // 3 APDUs refused at the version-2 identification key, 7 for the
    // version-1 check, then select, authenticate (2) and ChangeKey key 1.
    let n = 3 + 7 + 3 + 1;
    assert_eq!(
        relay(
            &app2,
            &ward.id,
            &l.tx,
            Some(&l.token),
            &mut cards[1],
            Some(n)
        )
        .await,
        json!({"done": true})
    );
    assert_eq!(cards[1].key_version(aid, 1), Some(2));
    assert_eq!(cards[1].key_version(aid, 2), Some(1), "cut before key 2");
    assert_eq!(finish(&app2, &l, "82461937").await.0, 200);
    cards[1].reset();
    let l = start_login(&app2).await;
    assert_eq!(
        relay(&app2, &ward.id, &l.tx, Some(&l.token), &mut cards[1], None).await,
        json!({"done": true})
    );
    for key in 0..3 {
        assert_eq!(
            cards[1].key_version(aid, key),
            Some(2),
            "key {key} re-keyed"
        );
    }
    let badge = &BadgeRow::for_identity(&mut conn, paul)
        .await
        .expect("badges")[0];
    assert_eq!(badge.key_version, 2);
    let log = actions(&t.db).await;
    assert!(
        log.iter()
            .any(|(a, d)| a == "badge.rekey_failed"
                && d["reason"] == "card removed during re-keying")
    );
    assert_eq!(log.iter().filter(|(a, _)| a == "badge.rekeyed").count(), 2);
}

async fn the_badge_office_encodes_a_badge_and_the_holder_chooses_a_pin(backend: Backend) {
    let t = TestDb::new(backend).await;
    let clock = FixedClock::at("2026-11-23T07:00:00Z".parse().expect("instant"));
    let st = state(&t.db, Arc::new(clock.clone())).await;
    let svc = st.badge.clone().expect("badge service");
    let sso = st.sso.clone();
    let app = actix_web::test::init_service(clavis_web::build_app(st)).await;
    let office = workstation(&t.db, "badge-office").await;
    let clerk = clavis_testkit::people::insert_person(
        &t.db,
        "Durand",
        "Anne",
        clavis_core::LifecycleStatus::Active,
    )
    .await;
    let nurse = clavis_testkit::people::insert_person(
        &t.db,
        "Lemoine",
        "Claire",
        clavis_core::LifecycleStatus::Active,
    )
    .await;
    let mut conn = t.db.conn().await.expect("conn");
    let session = |oid: Oid| {
        let sso = sso.clone();
        let db = t.db.clone();
        let now = clock.now();
        async move {
            let mut conn = db.conn().await.expect("conn");
            let (token, _) = clavis_sso::create(
                &mut conn,
                &sso,
                now,
                clavis_sso::NewSession {
                    oid,
                    acr: "eidas2".into(),
                    amr: vec!["hwk".into()],
                    authenticator_id: None,
                    client_ip: None,
                    user_agent: None,
                    workstation_id: None,
                },
            )
            .await
            .expect("session");
            actix_web::cookie::Cookie::new(clavis_sso::COOKIE_NAME, token.expose().clone())
        }
    };

    // Signed out: to the login page; signed in without the role: refused.
    let r = call_service(&app, TestRequest::get().uri("/badge-office").to_request()).await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers().get("location").expect("location"),
        "/login?return_to=%2Fbadge-office"
    );
    let nurse_cookie = session(nurse).await;
    let r = call_service(
        &app,
        TestRequest::get()
            .uri("/badge-office")
            .cookie(nurse_cookie)
            .to_request(),
    )
    .await;
    assert_eq!(r.status(), 403);

    // The clerk has the badge-office role.
    clavis_store::models::IdentityRoleRow {
        oid: clerk,
        role: "badge-office".into(),
        granted_by: "it".into(),
        granted_at: 0,
    }
    .grant(&mut conn)
    .await
    .expect("role");
    let cookie = session(clerk).await;
    let r = call_service(
        &app,
        TestRequest::get()
            .uri("/badge-office")
            .cookie(cookie.clone())
            .to_request(),
    )
    .await;
    assert_eq!(r.status(), 200);
    let html = String::from_utf8(actix_web::test::read_body(r).await.to_vec()).expect("utf-8");
    assert!(
        html.contains("badge-office</option>"),
        "workstations offered"
    );
    let csrf = clavis_web::sso_web::csrf_for(cookie.value());

    // A form without its CSRF token is refused.
    let r = call_service(
        &app,
        TestRequest::post()
            .uri("/badge-office/enrolments")
            .cookie(cookie.clone())
            .set_form([
                ("csrf", "nope"),
                ("identity", nurse.to_string().as_str()),
                ("workstation", office.id.as_str()),
                ("until", ""),
            ])
            .to_request(),
    )
    .await;
    assert_eq!(r.status(), 403);
    let r = call_service(
        &app,
        TestRequest::post()
            .uri("/badge-office/enrolments")
            .cookie(cookie.clone())
            .set_form([
                ("csrf", csrf.as_str()),
                ("identity", nurse.to_string().as_str()),
                ("workstation", office.id.as_str()),
                ("until", ""),
            ])
            .to_request(),
    )
    .await;
    assert_eq!(r.status(), 303);
    let page = r
        .headers()
        .get("location")
        .expect("location")
        .to_str()
        .expect("str")
        .to_string();
    let tx = page.rsplit('/').next().expect("id").to_string();
    let status = |cookie: actix_web::cookie::Cookie<'static>| {
        let uri = format!("{page}/status");
        let app = &app;
        async move {
            let r = call_service(
                app,
                TestRequest::get().uri(&uri).cookie(cookie).to_request(),
            )
            .await;
            read_body_json::<Value, _>(r).await["status"].clone()
        }
    };
    assert_eq!(status(cookie.clone()).await, "open");

    // The agent of the enrolment workstation encodes the card tapped there.
    let mut card = blank([4, 8, 8, 8, 8, 8, 1]);
    assert_eq!(
        relay(&app, &office.id, &tx, None, &mut card, None).await,
        json!({"done": true})
    );
    assert_eq!(status(cookie.clone()).await, "done");

    // The holder chooses a PIN: mismatched or trivial ones are refused.
    for (pin, pin2, ok) in [
        ("47395182", "47395183", false),
        ("1234", "1234", false),
        ("47395182", "47395182", true),
    ] {
        let r = call_service(
            &app,
            TestRequest::post()
                .uri(&format!("{page}/pin"))
                .cookie(cookie.clone())
                .set_form([("csrf", csrf.as_str()), ("pin", pin), ("pin2", pin2)])
                .to_request(),
        )
        .await;
        assert_eq!(r.status(), 200);
        let html = String::from_utf8(actix_web::test::read_body(r).await.to_vec()).expect("utf-8");
        assert_eq!(
            html.contains("Code PIN enregistré"),
            ok,
            "{pin}/{pin2}: {html}"
        );
    }
    clavis_authn::badge::pin::check_pin(
        &mut conn,
        svc.hasher(),
        svc.policy(),
        clock.now(),
        nurse,
        &Secret::new("47395182".to_string()),
    )
    .await
    .expect("the holder's PIN works");
    let badges = BadgeRow::for_identity(&mut conn, nurse)
        .await
        .expect("badges");
    assert_eq!(
        (badges.len(), badges[0].uid.as_str()),
        (1, "04080808080801")
    );
    assert_eq!(badges[0].created_by, format!("identity:{clerk}"));
}
