//! Badge login end to end through real parts: `pcscd` with the vpcd
//! virtual reader, our DESFire emulator on it (the testkit speaks vpcd's
//! protocol), the real `clavis-agent` (PC/SC), the real `clavis serve`, the
//! `clavis` CLI, and headless Chromium (tests/e2e/badge.mjs).

use crate::support::binary::{Proc, clavis, ok_json};
use clavis_core::Clock;
use clavis_desfire::AesKey;
use clavis_desfire::emulator::CardEmulator;
use clavis_testkit::pcscd::{Pcscd, READER_0, Tapped};
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const PEOPLE: &str = "Matricule;Nom de naissance;Prénoms;Date de naissance;Sortie\n\
E001;Lemoine;Claire;1990-01-01;\n\
E002;Martin;Paul;1985-05-05;\n";

/// The agent binary, next to `clavis` (scripts/test builds it first).
fn agent_bin() -> PathBuf {
    let p = Path::new(env!("CARGO_BIN_EXE_clavis")).with_file_name("clavis-agent");
    assert!(
        p.exists(),
        "{} is missing: run `cargo build -p clavis_agent` (scripts/test does)",
        p.display()
    );
    p
}

fn blank(uid: [u8; 7]) -> Arc<Mutex<CardEmulator>> {
    Arc::new(Mutex::new(CardEmulator::new(
        uid,
        AesKey::ZERO,
        [uid[6]; 16],
    )))
}

fn get(url: &str) -> Option<reqwest::blocking::Response> {
    reqwest::blocking::Client::new()
        .get(url)
        .timeout(Duration::from_secs(2))
        .send()
        .ok()
}

fn browser(base: &str, pin: &str, wrong: Option<&str>, name: &str, agent_log: &Path) {
    let script = format!("{}/tests/e2e/badge.mjs", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("node")
        .arg(script)
        .env("BASE_URL", base)
        .env("PIN", pin)
        .env("WRONG_PIN", wrong.unwrap_or(""))
        .env("EXPECT_NAME", name)
        .output()
        .expect("node runs (scripts/test installs it with chromium and playwright-core)");
    assert!(
        out.status.success(),
        "browser scenario failed:\n{}\n{}\nagent log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(agent_log).unwrap_or_default()
    );
}

/// Enrols the card on the reader for `who` through the CLI: the agent's
/// watcher finds the waiting enrolment when the card is tapped.
fn enrol(
    config: &Path,
    who: &str,
    card: Arc<Mutex<CardEmulator>>,
    agent_log: &Path,
) -> (Value, Tapped) {
    let relayed = enrolments_relayed(agent_log);
    let cli = Command::new(env!("CARGO_BIN_EXE_clavis"))
        .arg("--config")
        .arg(config)
        .args([
            "badge",
            "enrol",
            "--identity",
            who,
            "--workstation",
            "ward-3",
            "--json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("clavis badge enrol");
    // Tapped before or after the CLI opens the enrolment: the agent's
    // watcher keeps asking while an unused card is on the reader.
    let tapped = Tapped::tap(READER_0, card, None);
    let out = cli.wait_with_output().expect("enrol finishes");
    assert!(
        out.status.success(),
        "{}\nagent log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(agent_log).unwrap_or_default()
    );
    let_go(agent_log, relayed);
    (ok_json(out), tapped)
}

/// Enrolments the agent has relayed so far (its log says so once it has
/// let go of the card).
fn enrolments_relayed(agent_log: &Path) -> usize {
    std::fs::read_to_string(agent_log)
        .unwrap_or_default()
        .matches("enrolment relayed")
        .count()
}

/// Waits until the agent has let go of the card of the enrolment after
/// `before` relayed: the CLI is answered when Clavis has written the card,
/// a moment before the agent resets and releases it. A card taken away in
/// that moment fails the reset, and pcscd's virtual reader then missed
/// the next card tapped (a person does not pull a badge that fast).
fn let_go(agent_log: &Path, before: usize) {
    assert!(
        clavis_testkit::wait_until(Duration::from_secs(10), || {
            enrolments_relayed(agent_log) > before
        }),
        "the agent did not let go of the card; its log:\n{}",
        std::fs::read_to_string(agent_log).unwrap_or_default()
    );
}

fn issue_temporary(
    config: &Path,
    who: &str,
    until: &str,
    card: Arc<Mutex<CardEmulator>>,
    agent_log: &Path,
) -> (Value, Tapped) {
    let relayed = enrolments_relayed(agent_log);
    let cli = Command::new(env!("CARGO_BIN_EXE_clavis"))
        .arg("--config")
        .arg(config)
        .args([
            "badge",
            "issue-temporary",
            "--identity",
            who,
            "--workstation",
            "ward-3",
            "--until",
            until,
            "--json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("clavis badge issue-temporary");
    let tapped = Tapped::tap(READER_0, card, None);
    let out = cli.wait_with_output().expect("issue-temporary finishes");
    assert!(
        out.status.success(),
        "{}\nagent log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(agent_log).unwrap_or_default()
    );
    let_go(agent_log, relayed);
    (ok_json(out), tapped)
}

fn set_pin(config: &Path, who: &str, pin: &str) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_clavis"))
        .arg("--config")
        .arg(config)
        .args(["badge", "set-pin", who, "--stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("set-pin");
    writeln!(c.stdin.take().expect("stdin"), "{pin}").expect("write pin");
    let out = c.wait_with_output().expect("set-pin finishes");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Asks the agent to read for a fresh login transaction, as the page
/// would, with `origin`.
fn agent_read(base: &str, agent: &str, origin: &str) -> (u16, Value) {
    let http = reqwest::blocking::Client::new();
    let tx: Value = http
        .post(format!("{base}/login/badge/start"))
        .json(&json!({}))
        .send()
        .expect("start")
        .json()
        .expect("json");
    let r = http
        .post(format!("{agent}/v1/read"))
        .header("Origin", origin)
        .json(&json!({"transaction": tx["transaction"], "token": tx["token"]}))
        .timeout(Duration::from_secs(60))
        .send()
        .expect("agent answers");
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

/// Takes the card away and waits until the agent sees the reader empty
/// (a person takes longer than pcscd's polling; a test does not).
fn take_away(tapped: Tapped, agent: &str) {
    tapped.remove();
    assert!(
        clavis_testkit::wait_until(Duration::from_secs(10), || {
            get(&format!("{agent}/v1/status"))
                .and_then(|r| r.json::<Value>().ok())
                .is_some_and(|v| v["card_present"] == false)
        }),
        "the reader still shows a card"
    );
}

/// Like [`agent_read`], then posts `pins` one after the other as the page
/// would; returns each answer's status and error code.
fn read_then_pins(base: &str, agent: &str, pins: &[&str]) -> (Value, Vec<(u16, String)>) {
    let http = reqwest::blocking::Client::new();
    let start = http
        .post(format!("{base}/login/badge/start"))
        .json(&json!({}))
        .send()
        .expect("start");
    let cookie = start
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("__Host-clavis-badge="))
        .and_then(|c| c.split(';').next())
        .expect("binding cookie")
        .to_string();
    let tx: Value = start.json().expect("json");
    let read: Value = http
        .post(format!("{agent}/v1/read"))
        .header("Origin", base)
        .json(&json!({"transaction": tx["transaction"], "token": tx["token"]}))
        .timeout(Duration::from_secs(60))
        .send()
        .expect("agent answers")
        .json()
        .expect("json");
    let answers = pins
        .iter()
        .map(|pin| {
            let r = http
                .post(format!("{base}/login/badge/finish"))
                .header("Cookie", &cookie)
                .json(&json!({"transaction": tx["transaction"], "token": tx["token"], "pin": pin}))
                .send()
                .expect("finish");
            let status = r.status().as_u16();
            let v: Value = r.json().unwrap_or(Value::Null);
            (
                status,
                v["error"]["code"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    (read, answers)
}

fn live_sessions(config: &Path) -> Vec<Value> {
    ok_json(clavis(config, &["session", "list", "--json"]))
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn badge_enrolment_and_login_through_pcscd_the_agent_and_chromium() {
    assert!(
        clavis_testkit::pcscd::available(),
        "pcscd and vsmartcard-vpcd are needed (scripts/test-services install)"
    );
    let pcscd = Pcscd::start();
    let dir = tempfile::tempdir().expect("dir");
    let port = clavis_testkit::free_port();
    let agent_port = clavis_testkit::free_port();
    let base = format!("http://localhost:{port}");
    let agent = format!("http://127.0.0.1:{agent_port}");
    let csv = dir.path().join("agents.csv");
    std::fs::write(&csv, PEOPLE).expect("csv");
    let config = dir.path().join("clavis.toml");
    std::fs::write(
        &config,
        format!(
            r#"state_dir = "{state}"
[server]
listen = "127.0.0.1:{port}"
public_url = "{base}"
[badge]
system_id = "CHU-E2E"
agent_url = "{agent}"
transaction_secs = 60
[[directory.sources]]
name = "rh"
kind = "csv"
role = "hr"
path = "{csv}"
[directory.sources.attributes]
external_id = "Matricule"
birth_family_name = "Nom de naissance"
birth_given_names = "Prénoms"
birth_date = "Date de naissance"
leaver = "Sortie"
"#,
            state = dir.path().join("state").display(),
            csv = csv.display(),
        ),
    )
    .expect("config");
    assert!(clavis(&config, &["sync"]).status.success());
    let _serve = Proc(
        Command::new(env!("CARGO_BIN_EXE_clavis"))
            .arg("--config")
            .arg(&config)
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("serve starts"),
    );
    assert!(
        clavis_testkit::wait_until(Duration::from_secs(20), || {
            get(&format!("{base}/readyz")).is_some_and(|r| r.status() == 200)
        }),
        "clavis serve did not become ready"
    );

    // Register the workstation and start its agent on the PC/SC reader.
    let ws = ok_json(clavis(
        &config,
        &["workstation", "add", "--name", "ward-3", "--json"],
    ));
    let cred = dir.path().join("credential");
    std::fs::write(&cred, ws["credential"].as_str().expect("credential")).expect("cred");
    let agent_cfg = dir.path().join("agent.toml");
    std::fs::write(
        &agent_cfg,
        format!(
            "clavis_url = \"{base}\"\nworkstation_id = \"{}\"\ncredential_file = \"{}\"\nlisten = \"127.0.0.1:{agent_port}\"\nreader = \"Virtual PCD 00 00\"\ncard_wait_secs = 20\n",
            ws["id"].as_str().expect("id"),
            cred.display()
        ),
    )
    .expect("agent config");
    let agent_log = dir.path().join("agent.log");
    let _agent = Proc(
        Command::new(agent_bin())
            .arg("--config")
            .arg(&agent_cfg)
            .env("CLAVIS_AGENT_LOG", "debug,clavis_agent::card=trace")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&agent_log).expect("agent log"))
            .spawn()
            .expect("agent starts"),
    );
    assert!(
        clavis_testkit::wait_until(Duration::from_secs(20), || {
            get(&format!("{agent}/v1/status"))
                .and_then(|r| r.json::<Value>().ok())
                .is_some_and(|v| v["reader"] == "Virtual PCD 00 00")
        }),
        "the agent did not find the virtual reader; pcscd log:\n{}",
        pcscd.log()
    );

    // Enrol a blank card for Claire at the workstation; the holder sets
    // her PIN.
    let claire_card = blank([4, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26]);
    let (badge, tapped) = enrol(&config, "E001", claire_card.clone(), &agent_log);
    assert_eq!(badge["uid"], "04212223242526");
    assert_eq!(badge["status"], "active");
    set_pin(&config, "E001", "47395182");

    // Sign in in Chromium with the card already on the reader: a wrong PIN
    // first, then the right one.
    take_away(tapped, &agent);
    let tapped = Tapped::tap(READER_0, claire_card.clone(), None);
    browser(&base, "47395182", Some("13572468"), "Lemoine", &agent_log);
    let sessions = live_sessions(&config);
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    assert_eq!(sessions[0]["workstation_id"], ws["id"]);
    assert_eq!(sessions[0]["amr"], json!(["hwk", "pin", "mfa"]));
    take_away(tapped, &agent);

    // The agent only relays for Clavis's origin.
    let (status, _) = agent_read(&base, &agent, "https://evil.example");
    assert_eq!(status, 403);

    // Fast user switching: Paul signs in at the same workstation and
    // Claire's session there ends.
    let paul_card = blank([4, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36]);
    let (_, tapped) = enrol(&config, "E002", paul_card.clone(), &agent_log);
    set_pin(&config, "E002", "82461937");
    take_away(tapped, &agent);
    let tapped = Tapped::tap(READER_0, paul_card.clone(), None);
    browser(&base, "82461937", None, "Martin", &agent_log);
    take_away(tapped, &agent);
    let sessions = live_sessions(&config);
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    assert_ne!(sessions[0]["oid"], badge["oid"], "Claire's session ended");

    // A revoked badge is refused at the next tap.
    let out = clavis(
        &config,
        &[
            "badge",
            "revoke",
            badge["id"].as_str().expect("id"),
            "--reason",
            "lost",
        ],
    );
    assert!(out.status.success());
    let tapped = Tapped::tap(READER_0, claire_card.clone(), None);
    let (_, v) = agent_read(&base, &agent, &base);
    assert_eq!(v["outcome"], "failed");
    take_away(tapped, &agent);

    // Five wrong PINs lock Paul's badge login; even his PIN is refused
    // then, until an operator unlocks it.
    let tapped = Tapped::tap(READER_0, paul_card.clone(), None);
    let (read, answers) = read_then_pins(
        &base,
        &agent,
        &[
            "13572468", "13572468", "13572468", "13572468", "13572468", "82461937",
        ],
    );
    assert_eq!(read["outcome"], "done");
    let codes: Vec<&str> = answers.iter().map(|(_, e)| e.as_str()).collect();
    assert_eq!(
        codes,
        [
            "wrong_pin",
            "wrong_pin",
            "wrong_pin",
            "wrong_pin",
            "locked",
            "locked"
        ]
    );
    take_away(tapped, &agent);
    assert!(
        clavis(&config, &["badge", "unlock", "E002"])
            .status
            .success()
    );
    let tapped = Tapped::tap(READER_0, paul_card.clone(), None);
    let (_, answers) = read_then_pins(&base, &agent, &["82461937"]);
    assert_eq!(answers[0].0, 200);
    take_away(tapped, &agent);

    // A clone (same UID as Paul's badge, our application with the common
    // identification key copied, but not his diversified keys) and a card
    // personalised by another system are refused.
    let master = {
        let text =
            std::fs::read_to_string(dir.path().join("state/master.key")).expect("master key");
        let bytes: [u8; 32] = hex::decode(text.trim())
            .expect("hex")
            .try_into()
            .expect("32 bytes");
        clavis_core::master_key::MasterKey::from_bytes(&bytes)
    };
    let ours = clavis_authn::badge::BadgeService::new(
        clavis_authn::BadgeConfig {
            system_id: "CHU-E2E".into(),
            ..Default::default()
        },
        |l| master.derive(l),
        AesKey::ZERO,
    )
    .expect("service");
    let clone = blank([4, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36]);
    clone
        .lock()
        .expect("card")
        .add_application(
            ours.keys().aid,
            0x09,
            vec![
                AesKey::new([1; 16]),
                AesKey::new([2; 16]),
                ours.keys().ident_key.clone(),
            ],
        )
        .expect("clone application");
    let other = clavis_authn::badge::BadgeService::new(
        clavis_authn::BadgeConfig::default(),
        |_| [0x33; 32],
        AesKey::ZERO,
    )
    .expect("other system");
    let foreign = blank([4, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46]);
    {
        let pk = other.personalisation_keys();
        let mut card = foreign.lock().expect("card");
        let (mut p, mut apdu) =
            clavis_authn::badge::Personalisation::start(&pk, || [3u8; 16]).expect("start");
        while let clavis_authn::badge::personalise::Step::Send(next) = p
            .on_response(&card.process(apdu.as_bytes()))
            .expect("personalise")
        {
            apdu = next;
        }
    }
    for card in [clone, foreign] {
        let tapped = Tapped::tap(READER_0, card, None);
        let (_, v) = agent_read(&base, &agent, &base);
        assert_eq!(v["outcome"], "failed");
        take_away(tapped, &agent);
    }

    // A temporary badge for Claire, whose own badge was revoked: it signs
    // her in until its end, and is refused after.
    let wall = clavis_core::SystemClock;
    // Long enough for the issue and the login under a loaded machine (the
    // whole suite at once): 10 s was sometimes over before the PIN.
    let until = wall.now() + chrono::Duration::seconds(25);
    let temp_card = blank([4, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56]);
    let (temp, tapped) = issue_temporary(
        &config,
        "E001",
        &until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        temp_card.clone(),
        &agent_log,
    );
    assert_eq!(temp["kind"], "temporary");
    take_away(tapped, &agent);
    let tapped = Tapped::tap(READER_0, temp_card.clone(), None);
    let (read, answers) = read_then_pins(&base, &agent, &["47395182"]);
    assert_eq!(
        (read["outcome"].as_str(), answers[0].0),
        (Some("done"), 200),
        "agent log:\n{}\npcscd log:\n{}",
        std::fs::read_to_string(&agent_log).unwrap_or_default(),
        pcscd.log()
    );
    take_away(tapped, &agent);
    // Its end passes (the badge's own validity, not a server to wait for).
    assert!(clavis_testkit::wait_until(Duration::from_secs(45), || {
        wall.now() > until + chrono::Duration::seconds(1)
    }));
    let tapped = Tapped::tap(READER_0, temp_card, None);
    let (_, v) = agent_read(&base, &agent, &base);
    assert_eq!(v["outcome"], "failed");
    take_away(tapped, &agent);

    // Card pulled away in the middle of the exchange (last: vpcd does not
    // take another virtual card after one left mid-exchange).
    let pulled = Tapped::tap(READER_0, claire_card.clone(), Some(3));
    let (status, v) = agent_read(&base, &agent, &base);
    assert_eq!(
        (status, v["outcome"].as_str()),
        (200, Some("card_removed")),
        "agent log:\n{}",
        std::fs::read_to_string(&agent_log).unwrap_or_default()
    );
    assert!(pulled.answered() <= 3);
    take_away(pulled, &agent);
}
