//! Pro Santé Connect end to end, on SQLite and on PostgreSQL, with real
//! parts only: the `clavis serve` binary with a `[psc]` section, headless
//! Chromium with a virtual FIDO2 key (playwright-core), the PSC stand-in
//! (`tests/e2e/psc-op.mjs`: node oidc-provider shaped like PSC, with its
//! e-CPS page), and PSC's broker played by openid-client, an independent
//! certified relying-party library (`tests/e2e/psc-broker.mjs`), registered
//! with `clavis client add … --psc`.
//!
//! The scenario (`tests/e2e/psc-e2e.mjs`, which prints each `step:`): the
//! nurse signs in with her key on PSC's way in; the first time she links
//! through e-CPS at PSC, and the broker verifies the ID token (signature by
//! Clavis's JWKS, `tid`, `oid`, `amr` from `[psc.amr] fido2`, `acr`,
//! nonce); the second time there is no page at all; another national id at
//! PSC is refused (nothing stored, a case opened); an expired link goes
//! through the link again; she removes the link on `/me`, says no, links
//! again; an operator removes it (`clavis psc unlink`); signing out sends
//! PSC a back-channel logout token; she signs in with PSC and that session
//! is never asserted back; she leaves, and neither her key nor PSC signs
//! her in. The one thing no command does, moving a link's end to now, the
//! scenario asks of this side (`hook: expire-link`), which holds the
//! database.

use crate::support::binary::{Proc, clavis, http_status, ok_json};
use crate::support::on_both_backends;
use clavis_core::{Clock, Oid};
use clavis_store::Db;
use clavis_store::models::PscLinkRow;
use clavis_testkit::db::{Backend, TestDb};
use serde_json::json;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

on_both_backends!(psc_links_once_answers_at_once_refuses_unlinks_signs_in_and_logs_out_in_chromium);

/// Clavis's client id and secret at the stand-in.
const PSC_CLIENT: &str = "clavis-chu-e2e";
const PSC_SECRET: &str = "secret-de-test-psc-e2e";
/// `[psc] tid`.
const TID: &str = "chu-e2e-0001";
/// `[psc.amr] fido2`: not the default, so that the broker sees the table.
const AMR_FIDO2: [&str; 4] = ["hwk", "pin", "mfa", "phr"];
/// The acr of a FIDO2 session (`authn`'s default).
const ACR_FIDO2: &str = "eidas2";
/// The nurse's RPPS (its Luhn key holds) and national id.
const RPPS: &str = "10003489282";
const NATIONAL_ID: &str = "810003489282";
/// Her account at the stand-in, and another professional's (another valid
/// RPPS, same name: only the national id differs).
const PSC_ACCOUNT: &str = "claire";
const OTHER_ACCOUNT: &str = "autre";
const OTHER_NATIONAL_ID: &str = "810001045367";

const HR: &str = "Matricule;Nom de naissance;Prénoms;Date de naissance;RPPS;Sortie\n\
                  E001;Lemoine;Claire;1990-01-01;10003489282;\n";
const HR_DEPARTED: &str = "Matricule;Nom de naissance;Prénoms;Date de naissance;RPPS;Sortie\n\
                           E001;Lemoine;Claire;1990-01-01;10003489282;oui\n";

/// The PSC stand-in (as `tests/it/psc/mod.rs` starts it), for Clavis at
/// `origin`; its log in `log`.
struct StandIn {
    _proc: Proc,
    port: u16,
    issuer: String,
}

impl StandIn {
    fn start(dir: &Path, origin: &str, log: &Path) -> StandIn {
        let accounts = dir.join("psc-accounts.json");
        let list = json!([
            {"id": PSC_ACCOUNT, "SubjectNameID": NATIONAL_ID, "family_name": "LEMOINE",
             "given_name": "CLAIRE", "authMode": "EDIT"},
            {"id": OTHER_ACCOUNT, "SubjectNameID": OTHER_NATIONAL_ID, "family_name": "LEMOINE",
             "given_name": "CLAIRE", "authMode": "EDIT"},
        ]);
        std::fs::write(&accounts, list.to_string()).expect("accounts");
        let port = clavis_testkit::free_port();
        let mut child = Command::new("node")
            .arg(format!(
                "{}/tests/e2e/psc-op.mjs",
                env!("CARGO_MANIFEST_DIR")
            ))
            .env("PORT", port.to_string())
            .env("CLIENT_ID", PSC_CLIENT)
            .env("CLIENT_SECRET", PSC_SECRET)
            .env("REDIRECT_URIS", format!("{origin}/psc/callback"))
            .env("ACCOUNTS", &accounts)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(log).expect("stand-in log"))
            .spawn()
            .expect("node runs (scripts/test installs it and the e2e packages)");
        let stdout = child.stdout.take().expect("stdout");
        let proc = Proc(child);
        // The `ready` line, read on a thread so that a stand-in that never
        // starts fails the test at the deadline instead of hanging it.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the PSC stand-in is ready within 30 s");
        let issuer = line
            .trim()
            .strip_prefix("ready ")
            .unwrap_or_else(|| {
                panic!(
                    "unexpected first line from the stand-in: {line:?}\n{}",
                    std::fs::read_to_string(log).unwrap_or_default()
                )
            })
            .to_string();
        StandIn {
            _proc: proc,
            port,
            issuer,
        }
    }
}

/// The nurse's link reaches its end now (two years later, without moving
/// the clock, which must stay with the stand-in's).
async fn expire_link(db: &Db, oid: Oid) {
    let mut conn = db.conn().await.expect("conn");
    let mut link = PscLinkRow::find(&mut conn, oid)
        .await
        .expect("read")
        .expect("a link to expire");
    link.expires_at = clavis_core::SystemClock.now().timestamp();
    link.save(&mut conn).await.expect("save");
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}

/// Runs the node scenario (its stderr in `scenario_log`), answering its
/// hooks; panics with its transcript and the last lines of `logs` (the
/// scenario's and the servers') when it fails.
async fn run_scenario(
    envs: &[(&str, String)],
    db: &Db,
    nurse: Oid,
    scenario_log: &Path,
    logs: &[(&str, &Path)],
) {
    let mut child = Command::new("node")
        .arg(format!(
            "{}/tests/e2e/psc-e2e.mjs",
            env!("CARGO_MANIFEST_DIR")
        ))
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(scenario_log).expect("scenario log"))
        .spawn()
        .expect("node runs (scripts/test installs it with chromium and playwright-core)");
    let stdout = child.stdout.take().expect("stdout");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut node = Proc(child);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let report = |transcript: &str, what: &str| -> String {
        let mut s = format!("PSC browser scenario {what}:\n{transcript}");
        for (name, path) in logs {
            s.push_str(&format!("\n--- {name} (last lines) ---\n{}", tail(path)));
        }
        s
    };
    // The scenario's own watchdog fires at 240 s; this one backs it up.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    let mut transcript = String::new();
    loop {
        let line = match tokio::time::timeout_at(deadline, rx.recv()).await {
            Err(_) => panic!("{}", report(&transcript, "timed out")),
            Ok(None) => break,
            Ok(Some(line)) => line.expect("scenario output"),
        };
        transcript.push_str(&line);
        transcript.push('\n');
        if let Some(hook) = line.strip_prefix("hook: ") {
            match hook {
                "expire-link" => expire_link(db, nurse).await,
                other => panic!("{}", report(&transcript, &format!("asked {other}"))),
            }
            writeln!(stdin, "ok").expect("answer the hook");
        }
    }
    drop(stdin);
    // Shown with --nocapture: the steps the scenario went through.
    print!("{transcript}");
    let status = node.0.wait().expect("scenario ends");
    assert!(status.success(), "{}", report(&transcript, "failed"));
    assert!(
        transcript.contains("psc e2e: all steps passed"),
        "{}",
        report(&transcript, "stopped early")
    );
}

async fn psc_links_once_answers_at_once_refuses_unlinks_signs_in_and_logs_out_in_chromium(
    backend: Backend,
) {
    let t = TestDb::new(backend).await;
    let dir = tempfile::tempdir().expect("dir");
    let port = clavis_testkit::free_port();
    let broker_port = clavis_testkit::free_port();
    let base = format!("http://localhost:{port}");
    let broker =
        format!("http://127.0.0.1:{broker_port}/auth/realms/esante-wallet/broker/clavis-chu");
    let standin_log = dir.path().join("psc-op.log");
    let psc = StandIn::start(dir.path(), &base, &standin_log);

    let csv = dir.path().join("agents.csv");
    std::fs::write(&csv, HR).expect("csv");
    let secret = dir.path().join("psc-secret");
    std::fs::write(&secret, PSC_SECRET).expect("secret");
    let amr = AMR_FIDO2
        .iter()
        .map(|a| format!("\"{a}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let config = dir.path().join("clavis.toml");
    std::fs::write(
        &config,
        format!(
            r#"state_dir = "{state}"
[server]
listen = "127.0.0.1:{port}"
public_url = "{base}"
[database]
url = "{db}"
[oidc.backchannel]
# PSC's broker (played by openid-client) listens on 127.0.0.1.
allow_local_targets = true
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
rpps = "RPPS"
leaver = "Sortie"
[psc]
enabled = true
issuer = "{issuer}"
client_id = "{PSC_CLIENT}"
client_secret_file = "{secret}"
tid = "{TID}"
sign_in_with_psc = true
[psc.amr]
fido2 = [{amr}]
"#,
            state = dir.path().join("state").display(),
            db = t.url,
            csv = csv.display(),
            issuer = psc.issuer,
            secret = secret.display(),
        ),
    )
    .expect("config");

    let sync = clavis(&config, &["sync"]);
    assert!(
        sync.status.success(),
        "{}",
        String::from_utf8_lossy(&sync.stderr)
    );
    let nurse = ok_json(clavis(&config, &["identity", "show", RPPS, "--json"]));
    let oid: Oid = nurse["oid"]
        .as_str()
        .unwrap_or_else(|| panic!("an oid in {nurse}"))
        .parse()
        .expect("an oid");
    let enrol = ok_json(clavis(&config, &["enrol-link", "E001", "--json"]));
    let client = ok_json(clavis(
        &config,
        &[
            "client",
            "add",
            "--name",
            "Pro Santé Connect",
            "--redirect-uri",
            &format!("{broker}/endpoint"),
            "--backchannel-logout-uri",
            &format!("{broker}/backchannel-logout"),
            "--psc",
            "--json",
        ],
    ));
    assert_eq!(client["psc"], true, "{client}");

    let serve_log = dir.path().join("serve.log");
    let _serve = Proc(
        Command::new(env!("CARGO_BIN_EXE_clavis"))
            .arg("--config")
            .arg(&config)
            .arg("serve")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&serve_log).expect("serve log"))
            .spawn()
            .expect("serve starts"),
    );
    assert!(
        clavis_testkit::wait_until(Duration::from_secs(30), || {
            http_status(port, "/readyz") == Some(200)
        }),
        "clavis serve did not become ready:\n{}",
        tail(&serve_log)
    );

    let scenario_log = dir.path().join("scenario.err");
    run_scenario(
        &[
            ("BASE_URL", base.clone()),
            ("ENROL_URL", enrol["url"].as_str().expect("url").into()),
            ("STANDIN_URL", format!("http://127.0.0.1:{}", psc.port)),
            ("BROKER_PORT", broker_port.to_string()),
            (
                "CLIENT_ID",
                client["client_id"].as_str().expect("id").into(),
            ),
            (
                "CLIENT_SECRET",
                client["client_secret"].as_str().expect("secret").into(),
            ),
            ("TID", TID.into()),
            ("AMR_FIDO2", json!(AMR_FIDO2).to_string()),
            ("ACR_FIDO2", ACR_FIDO2.into()),
            ("NURSE_OID", oid.to_string()),
            ("NATIONAL_ID", NATIONAL_ID.into()),
            ("PSC_ACCOUNT", PSC_ACCOUNT.into()),
            ("OTHER_ACCOUNT", OTHER_ACCOUNT.into()),
            ("CLAVIS_BIN", env!("CARGO_BIN_EXE_clavis").into()),
            ("CLAVIS_CONFIG", config.display().to_string()),
            ("CSV_PATH", csv.display().to_string()),
            ("CSV_DEPARTED", HR_DEPARTED.into()),
        ],
        &t.db,
        oid,
        &scenario_log,
        &[
            ("scenario stderr", &scenario_log),
            ("clavis serve", &serve_log),
            ("PSC stand-in", &standin_log),
        ],
    )
    .await;
}
