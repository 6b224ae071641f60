//! The FIDO2 login in real headless Chromium (virtual authenticator through
//! DevTools, driven by playwright-core: tests/e2e/fido2.mjs) against the
//! real `clavis serve`.

use crate::support::binary::{Proc, http_status};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const PERSON: &str = "Matricule;Nom de naissance;Prénoms;Date de naissance;Sortie\nE001;Lemoine;Claire;1990-01-01;\n";
const DEPARTED: &str = "Matricule;Nom de naissance;Prénoms;Date de naissance;Sortie\nE001;Lemoine;Claire;1990-01-01;oui\n";

fn clavis(config: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_clavis"))
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .expect("clavis runs")
}

/// Writes the config, syncs the person, issues a link and starts `serve`.
fn setup(
    dir: &Path,
    lifetime_secs: u64,
) -> (Proc, u16, String, std::path::PathBuf, std::path::PathBuf) {
    let port = clavis_testkit::free_port();
    let csv = dir.join("agents.csv");
    std::fs::write(&csv, PERSON).expect("csv");
    let config = dir.join("clavis.toml");
    std::fs::write(
        &config,
        format!(
            r#"state_dir = "{state}"
[server]
listen = "127.0.0.1:{port}"
public_url = "http://localhost:{port}"
[sso]
session_lifetime_secs = {lifetime_secs}
[oidc.backchannel]
# The test relying party listens on 127.0.0.1.
allow_local_targets = true
[directory]
missing_runs_before_departure = 1
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
            state = dir.join("state").display(),
            csv = csv.display(),
        ),
    )
    .expect("config");
    assert!(clavis(&config, &["sync"]).status.success());
    let out = clavis(&config, &["enrol-link", "E001", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let link: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let url = link["url"].as_str().expect("url").to_string();
    assert!(
        url.starts_with(&format!("http://localhost:{port}/enrol/")),
        "{url}"
    );
    let server = Proc(
        Command::new(env!("CARGO_BIN_EXE_clavis"))
            .arg("--config")
            .arg(&config)
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("serve starts"),
    );
    let up = clavis_testkit::wait_until(Duration::from_secs(20), || {
        http_status(port, "/readyz") == Some(200)
    });
    assert!(up, "clavis serve did not become ready");
    (server, port, url, config, csv)
}

fn run_browser(envs: &[(&str, String)]) {
    run_script("fido2.mjs", envs)
}

fn run_script(name: &str, envs: &[(&str, String)]) {
    let script = format!("{}/tests/e2e/{name}", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("node")
        .arg(script)
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("node runs (scripts/test installs it with chromium and playwright-core)");
    assert!(
        out.status.success(),
        "browser scenario failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn in_chromium_enrol_sign_in_usernameless_sign_out_and_a_departure_ends_the_session() {
    let dir = tempfile::tempdir().expect("dir");
    let (_server, port, url, config, csv) = setup(dir.path(), 14400);
    run_browser(&[
        ("SCENARIO", "full".into()),
        ("BASE_URL", format!("http://localhost:{port}")),
        ("ENROL_URL", url),
        ("CLAVIS_BIN", env!("CARGO_BIN_EXE_clavis").into()),
        ("CLAVIS_CONFIG", config.display().to_string()),
        ("CSV_PATH", csv.display().to_string()),
        ("CSV_DEPARTED", DEPARTED.into()),
    ]);
}

#[test]
fn in_chromium_a_session_past_its_lifetime_is_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let (_server, port, url, _config, _csv) = setup(dir.path(), 5);
    run_browser(&[
        ("SCENARIO", "expiry".into()),
        ("BASE_URL", format!("http://localhost:{port}")),
        ("ENROL_URL", url),
    ]);
}

#[test]
fn openid_client_runs_the_code_flow_refresh_and_both_logouts_against_clavis() {
    let dir = tempfile::tempdir().expect("dir");
    let (_server, port, url, config, _csv) = setup(dir.path(), 14400);
    let rp_port = clavis_testkit::free_port();
    let rp = format!("http://127.0.0.1:{rp_port}");
    let out = clavis(
        &config,
        &[
            "client",
            "add",
            "--name",
            "RP de test",
            "--redirect-uri",
            &format!("{rp}/cb"),
            "--post-logout-redirect-uri",
            &format!("{rp}/bye"),
            "--backchannel-logout-uri",
            &format!("{rp}/backchannel"),
            "--json",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let c: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        c["discovery_url"],
        format!("http://localhost:{port}/.well-known/openid-configuration")
    );
    run_script(
        "oidc-rp.mjs",
        &[
            ("BASE_URL", format!("http://localhost:{port}")),
            ("ENROL_URL", url),
            ("RP_PORT", rp_port.to_string()),
            ("CLIENT_ID", c["client_id"].as_str().expect("id").into()),
            (
                "CLIENT_SECRET",
                c["client_secret"].as_str().expect("secret").into(),
            ),
        ],
    );
}
