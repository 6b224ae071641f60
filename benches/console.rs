//! The console at the scale of a regional hospital group, against the real
//! `clavis serve`: a directory of `BENCH_IDENTITIES` people (default
//! 100,000) and a year of audit events (`BENCH_EVENTS`, default
//! 10,000,000), on SQLite or (`BENCH_DB=postgres`) on the PostgreSQL of
//! `CLAVIS_TEST_PG_URL`.
//!
//! `cargo bench --bench console`. Prints the p50 and p95 (over
//! `BENCH_ROUNDS` requests each, default 40, after warming up) of: identity
//! searches, audit searches on a day, a week and a month, the console's
//! pages (dashboard with its 24 hours of logins, an identity, sessions),
//! the compliance dashboard with its 12-month trends, the compliance
//! report as HTML, CSV and PDF — and the compliance report computed in
//! process. The last week holds `BENCH_SESSIONS` sessions (default
//! 100,000) and the last year a snapshot of the indicators a day. The targets (issue 13):
//! identity search p95 ≤ 50 ms, audit search on a time range p95 ≤ 200 ms,
//! compliance ≤ 1 s, a page p95 ≤ 30 ms.

use chrono::{DateTime, Duration, Utc};
use clavis_core::{Clock, LifecycleStatus, Oid};
use clavis_store::JsonList;
use clavis_store::models::{AuditEventRow, IdentityRow};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

const FAMILIES: [&str; 24] = [
    "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy",
    "Moreau", "Simon", "Laurent", "Lefèvre", "Michel", "García", "David", "Bertrand", "Roux",
    "Vincent", "Fournier", "Morel", "Girard", "André", "Lemoine",
];
const GIVEN: [&str; 16] = [
    "Marie", "Jean", "Pierre", "Michel", "André", "Philippe", "Nathalie", "Isabelle", "Hélène",
    "Sophie", "Claire", "Julien", "Nicolas", "Céline", "Thomas", "Inès",
];

/// The seeded people: `n` identities in batches, with a few traits that
/// vary (status, RPPS, profession); returns one of them.
async fn seed_people(db: &clavis_store::Db, n: usize) -> Oid {
    let mut conn = db.conn().await.expect("conn");
    let mut first = None;
    let mut batch = Vec::with_capacity(1000);
    for i in 0..n {
        let family = format!("{}{}", FAMILIES[i % FAMILIES.len()], i / 500);
        let given = GIVEN[(i / 7) % GIVEN.len()];
        let oid = Oid::new_random();
        first.get_or_insert(oid);
        let status = match i % 50 {
            0..=3 => LifecycleStatus::Departed,
            4 => LifecycleStatus::Suspended,
            _ => LifecycleStatus::Active,
        };
        let rpps = (i % 5 < 2)
            .then(|| {
                (0..10)
                    .map(|key| format!("1{i:09}{key}"))
                    .find(|r| clavis_core::Rpps::parse(r).is_ok())
            })
            .flatten();
        batch.push(IdentityRow {
            oid,
            status,
            birth_family_name: family.clone(),
            used_family_name: None,
            birth_given_names: vec![given.to_string()].into(),
            birth_date: Some(format!(
                "19{:02}-{:02}-{:02}",
                50 + i % 50,
                1 + i % 12,
                1 + i % 28
            )),
            birth_place: None,
            birth_country: None,
            sex: None,
            email: None,
            phone: None,
            search_text: clavis_core::names::normalize_search_text(&format!(
                "{family} {given} {}",
                rpps.clone().unwrap_or_default()
            )),
            rpps,
            adeli: None,
            contract_type: None,
            arrival_date: Some("2020-01-01".into()),
            departure_date: None,
            professions: JsonList::from(vec![["60", "10", "21"][i % 3].to_string()]),
            created_at: 0,
            updated_at: 0,
            status_changed_at: 0,
        });
        if batch.len() == 1000 {
            IdentityRow::insert_all(&mut conn, std::mem::take(&mut batch))
                .await
                .expect("people");
        }
    }
    IdentityRow::insert_all(&mut conn, batch)
        .await
        .expect("people");
    first.expect("at least one person")
}

/// `n` sessions over the last week (ended but the last few), by the
/// seeded people, by badge, key and Pro Santé Connect.
async fn seed_sessions(db: &clavis_store::Db, n: usize, people: &[Oid], now: DateTime<Utc>) {
    use clavis_core::LoginMethod;
    let mut conn = db.conn().await.expect("conn");
    let start = now.timestamp() - 7 * 86_400;
    let step = (7 * 86_400) / n.max(1) as i64;
    conn.transaction(async |tx| {
        for i in 0..n {
            let at = start + step * i as i64;
            let method = [
                LoginMethod::Badge,
                LoginMethod::Badge,
                LoginMethod::Fido2,
                LoginMethod::Psc,
            ][i % 4];
            clavis_store::models::SsoSessionRow {
                id: clavis_core::SessionId::from(format!("s-{i}")),
                token_hash: format!("h-{i}"),
                oid: people[i % people.len()],
                auth_time: at,
                expires_at: at + 4 * 3600,
                idle_timeout_secs: 0,
                last_seen_at: at,
                acr: "eidas2".into(),
                amr: JsonList(vec!["hwk".into(), "pin".into(), "mfa".into()]),
                authenticator_id: None,
                client_ip: None,
                user_agent: None,
                ended_at: (at + 4 * 3600 < now.timestamp()).then_some(at + 3600),
                end_reason: None,
                workstation_id: Some(clavis_core::WorkstationId::from(format!("ws-{}", i % 500))),
                method: Some(method),
            }
            .insert(tx)
            .await?;
        }
        Ok::<_, clavis_store::StoreError>(())
    })
    .await
    .expect("sessions");
}

/// A year of the indicators' daily figures.
async fn seed_snapshots(db: &clavis_store::Db, now: DateTime<Utc>) {
    use clavis_store::models::compliance::SnapshotRow;
    let mut conn = db.conn().await.expect("conn");
    conn.transaction(async |tx| {
        for d in 1..=365 {
            let day = (now - Duration::days(d)).date_naive().to_string();
            let rows: Vec<SnapshotRow> = clavis_directory::compliance::Followed::ALL
                .iter()
                .map(|f| SnapshotRow {
                    taken_on: day.clone(),
                    indicator: f.as_str().into(),
                    numerator: 900 - d,
                    denominator: Some(1000),
                    taken_at: 0,
                })
                .collect();
            SnapshotRow::upsert_day(tx, &rows).await?;
        }
        Ok::<_, clavis_store::StoreError>(())
    })
    .await
    .expect("snapshots");
}

/// A year of audit events, `n` of them, evenly spread until `now`, chained
/// only in their sequence numbers (the bench searches; it does not verify).
async fn seed_events(db: &clavis_store::Db, n: usize, actors: &[Oid], now: DateTime<Utc>) {
    let mut conn = db.conn().await.expect("conn");
    let first = conn
        .transaction(async |tx| {
            let (first, prev) = AuditEventRow::reserve(tx, n as i64).await?;
            AuditEventRow::set_head(tx, first + n as i64 - 1, &prev).await?;
            Ok::<_, clavis_store::StoreError>(first)
        })
        .await
        .expect("reserve");
    let start = (now - Duration::days(365)).timestamp_micros();
    let step = (365 * 86_400 * 1_000_000i64) / n.max(1) as i64;
    const ACTIONS: [&str; 6] = [
        "login.succeeded",
        "session.created",
        "oidc.tokens.issued",
        "session.ended",
        "login.failed",
        "identity.updated",
    ];
    let mut batch = Vec::with_capacity(10_000);
    for i in 0..n {
        let who = actors[i % actors.len()];
        batch.push(AuditEventRow {
            seq: first + i as i64,
            id: format!("ev-{i}"),
            occurred_at: start + step * i as i64,
            actor: format!("identity:{who}"),
            action: ACTIONS[i % ACTIONS.len()].into(),
            target: Some(who.to_string()),
            changes: "{}".into(),
            source: None,
            sync_run_id: None,
            client_addr: Some("10.1.2.3".into()),
            prev_hash: String::new(),
            hash: String::new(),
            request_id: None,
        });
        if batch.len() == 10_000 {
            AuditEventRow::insert_all(&mut conn, std::mem::take(&mut batch))
                .await
                .expect("events");
        }
    }
    AuditEventRow::insert_all(&mut conn, batch)
        .await
        .expect("events");
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// p50 and p95 (ms) of `rounds` GETs of `path` after 3 warm-ups.
async fn measure(
    http: &reqwest::Client,
    base: &str,
    cookie: &str,
    path: &str,
    rounds: usize,
) -> (f64, f64) {
    let mut times = Vec::with_capacity(rounds);
    for i in 0..rounds + 3 {
        let t = Instant::now();
        let resp = http
            .get(format!("{base}{path}"))
            .header("cookie", cookie)
            .send()
            .await
            .expect("request");
        let status = resp.status();
        let _ = resp.bytes().await.expect("body");
        assert!(status.is_success(), "{path}: {status}");
        if i >= 3 {
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
    }
    times.sort_by(f64::total_cmp);
    (percentile(&times, 0.5), percentile(&times, 0.95))
}

#[tokio::main]
async fn main() {
    let people = env_usize("BENCH_IDENTITIES", 100_000);
    let events = env_usize("BENCH_EVENTS", 10_000_000);
    let rounds = env_usize("BENCH_ROUNDS", 40);
    let postgres = std::env::var("BENCH_DB").is_ok_and(|d| d == "postgres");
    let dir = tempfile::tempdir().expect("dir");
    std::fs::create_dir_all(dir.path().join("state")).expect("state");
    let (db, database, _keep) = if postgres {
        let t = clavis_testkit::db::TestDb::new(clavis_testkit::db::Backend::Postgres).await;
        let section = format!("[database]\nurl = \"{}\"\n", t.url);
        (t.db.clone(), section, Some(t))
    } else {
        let path = dir.path().join("state").join("clavis.db");
        let db = clavis_store::Db::open(&path.display().to_string(), 4).expect("db");
        clavis_store::migrate::run_pending(&db)
            .await
            .expect("migrate");
        (db, String::new(), None)
    };
    let now = clavis_core::SystemClock.now();
    let t0 = Instant::now();
    let someone = seed_people(&db, people).await;
    let seeded_people = t0.elapsed();
    // The operator: an administrator with a session.
    let admin =
        clavis_testkit::people::insert_person(&db, "Martin", "Alice", LifecycleStatus::Active)
            .await;
    let mut conn = db.conn().await.expect("conn");
    clavis_directory::roles::grant_role(
        &mut conn,
        now,
        admin,
        "admin",
        &clavis_core::Actor::Cli("bench".into()),
    )
    .await
    .expect("role");
    let actors: Vec<Oid> = IdentityRow::list(
        &mut conn,
        &clavis_store::models::identity::IdentityFilter {
            status: None,
            search_words: vec![],
            limit: 2000,
            offset: 0,
        },
    )
    .await
    .expect("people")
    .into_iter()
    .map(|r| r.oid)
    .collect();
    let t1 = Instant::now();
    seed_events(&db, events, &actors, now).await;
    let seeded_events = t1.elapsed();
    let sessions = env_usize("BENCH_SESSIONS", 100_000);
    seed_sessions(&db, sessions, &actors, now).await;
    seed_snapshots(&db, now).await;
    conn.refresh_statistics(&["identities", "audit_events", "sso_sessions"])
        .await
        .expect("statistics");
    let (token, _) = conn
        .transaction(async |tx| {
            clavis_sso::create(
                tx,
                &clavis_sso::SsoConfig::default(),
                now,
                clavis_sso::NewSession {
                    workstation_id: None,
                    oid: admin,
                    acr: "eidas2".into(),
                    amr: vec!["hwk".into(), "pin".into(), "mfa".into()],
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
        .expect("session");
    let cookie = format!("{}={}", clavis_sso::COOKIE_NAME, token.expose());

    // The compliance report, in process.
    let mut report_ms = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let r = clavis_directory::compliance::report(
            &mut conn,
            &clavis_directory::config::ComplianceConfig::default(),
            now,
        )
        .await
        .expect("report");
        report_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        assert!(r.active > 0);
    }
    drop(conn);

    let port = clavis_testkit::free_port();
    let config = dir.path().join("clavis.toml");
    std::fs::write(
        &config,
        format!(
            "state_dir = \"{}\"\n[server]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"http://localhost:{port}\"\n[log]\nlevel = \"warn\"\n[metrics]\nenabled = false\n{database}",
            dir.path().join("state").display()
        ),
    )
    .expect("config");
    let _server = Proc(
        Command::new(env!("CARGO_BIN_EXE_clavis"))
            .arg("--config")
            .arg(&config)
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("serve"),
    );
    let up = clavis_testkit::wait_until(std::time::Duration::from_secs(60), || {
        clavis_testkit::http_status(port, "/readyz") == Some(200)
    });
    assert!(up, "clavis serve did not become ready");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let base = format!("http://127.0.0.1:{port}");
    let day = (now - Duration::days(100)).format("%Y-%m-%d").to_string();
    let week_end = (now - Duration::days(94)).format("%Y-%m-%d").to_string();
    let month_end = (now - Duration::days(70)).format("%Y-%m-%d").to_string();
    // An RPPS of the directory (the 6th person has one).
    let rpps = (0..10)
        .map(|key| format!("1{:09}{key}", 5))
        .find(|r| clavis_core::Rpps::parse(r).is_ok())
        .expect("an rpps");
    let actor = url::form_urlencoded::byte_serialize(format!("identity:{}", actors[7]).as_bytes())
        .collect::<String>();
    let rows: Vec<(&str, String)> = vec![
        (
            "identity search: a family name",
            "/console/identities?q=moreau12".into(),
        ),
        (
            "identity search: name and given name",
            "/console/identities?q=lefevre3+helene".into(),
        ),
        (
            "identity search: a common given name",
            "/console/identities?q=marie".into(),
        ),
        (
            "identity search: an RPPS",
            format!("/console/identities?q={rpps}"),
        ),
        (
            "audit search: one day",
            format!("/console/audit?from={day}&to={day}"),
        ),
        (
            "audit search: a week",
            format!("/console/audit?from={day}&to={week_end}"),
        ),
        (
            "audit search: a month",
            format!("/console/audit?from={day}&to={month_end}"),
        ),
        (
            "audit search: an actor over a month",
            format!("/console/audit?actor={actor}&from={day}&to={month_end}"),
        ),
        (
            "audit search: a family over a month",
            format!("/console/audit?action=login.&from={day}&to={month_end}"),
        ),
        ("page: dashboard", "/console".into()),
        (
            "page: an identity",
            format!("/console/identities/{someone}"),
        ),
        ("page: sessions", "/console/sessions".into()),
        (
            "page: sessions at a workstation",
            "/console/sessions?workstation=ws-7".into(),
        ),
        ("page: compliance dashboard", "/console/compliance".into()),
        (
            "compliance report: HTML",
            "/console/compliance/report".into(),
        ),
        (
            "compliance report: CSV",
            "/console/compliance/report.csv".into(),
        ),
        (
            "compliance report: PDF",
            "/console/compliance/report.pdf".into(),
        ),
    ];
    println!(
        "console bench{}: {people} identities (seeded in {:.1} s), {events} audit events (seeded in {:.1} s), {rounds} requests each",
        if postgres { ", PostgreSQL" } else { ", SQLite" },
        seeded_people.as_secs_f64(),
        seeded_events.as_secs_f64()
    );
    for (name, path) in rows {
        let (p50, p95) = measure(&http, &base, &cookie, &path, rounds).await;
        println!("  {name:<40} p50 {p50:>8.1} ms   p95 {p95:>8.1} ms");
    }
    report_ms.sort_by(f64::total_cmp);
    println!(
        "  {:<40} p50 {:>8.1} ms   max {:>8.1} ms",
        "compliance report (in process)",
        percentile(&report_ms, 0.5),
        report_ms[report_ms.len() - 1]
    );
}
