//! The console in real headless Chromium (tests/e2e/console.mjs): one
//! operator per role enrols a key, signs in and walks the pages the role
//! reaches; axe-core finds no serious or critical accessibility violation
//! on any of them; screenshots are kept in `target/e2e-artifacts/console`.

use crate::support::binary::{Proc, http_status};
use clavis_core::roles::{self, Access, Area, OperatorRole};
use clavis_web::console::{area_label, href};
use clavis_web::pages::Lang;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// HR's list: one person per role, and Claire, a nurse.
const PEOPLE: &str = "Matricule;Nom de naissance;Prénoms;Date de naissance\n\
E100;Martin;Alice;1980-01-01\n\
E101;Idrissi;Inès;1981-02-02\n\
E102;Blanc;Bruno;1982-03-03\n\
E103;Hamon;Hugo;1983-04-04\n\
E104;Aubert;Aude;1984-05-05\n\
E105;Lemoine;Claire;1990-01-01\n";

fn clavis(config: &Path, args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_clavis"))
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .expect("clavis runs");
    assert!(
        out.status.success(),
        "clavis {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn json(out: std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).expect("json")
}

#[test]
fn in_chromium_each_role_walks_its_console_pages_and_they_are_accessible() {
    let dir = tempfile::tempdir().expect("dir");
    let port = clavis_testkit::free_port();
    let csv = dir.path().join("agents.csv");
    std::fs::write(&csv, PEOPLE).expect("csv");
    let config = dir.path().join("clavis.toml");
    std::fs::write(
        &config,
        format!(
            r#"state_dir = "{state}"
[server]
listen = "127.0.0.1:{port}"
public_url = "http://localhost:{port}"
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
"#,
            state = dir.path().join("state").display(),
            csv = csv.display(),
        ),
    )
    .expect("config");
    clavis(&config, &["sync"]);
    let claire = json(clavis(&config, &["identity", "show", "E105", "--json"]))["oid"]
        .as_str()
        .expect("oid")
        .to_string();

    let operators = [
        ("alice", "E100", OperatorRole::Admin),
        ("ines", "E101", OperatorRole::IdentityOffice),
        ("bruno", "E102", OperatorRole::BadgeOffice),
        ("hugo", "E103", OperatorRole::Helpdesk),
        ("aude", "E104", OperatorRole::Auditor),
    ];
    let mut walk = Vec::new();
    for (name, matricule, role) in operators {
        clavis(
            &config,
            &[
                "admin",
                "grant-role",
                "--identity",
                matricule,
                "--role",
                role.as_str(),
            ],
        );
        let link = json(clavis(&config, &["enrol-link", matricule, "--json"]))["url"]
            .as_str()
            .expect("url")
            .to_string();
        let held = [role];
        let menu: Vec<String> = Area::ALL
            .iter()
            .filter(|a| roles::may(&held, **a, Access::Read))
            .map(|a| area_label(Lang::Fr, *a))
            .collect();
        let forbidden: Vec<String> = Area::ALL
            .iter()
            .filter(|a| !roles::may(&held, **a, Access::Read))
            .take(2)
            .map(|a| href(*a))
            .collect();
        // Beyond the menu: the detail pages each role works with.
        let extra: Vec<String> = match role {
            OperatorRole::Admin => vec![
                "/console/identities/E105".into(),
                "/console/audit/verify".into(),
                "/console/compliance/report".into(),
            ],
            OperatorRole::IdentityOffice => vec![
                "/console/identities?q=lemoine".into(),
                "/console/identities/E105".into(),
                "/console/identities/manual".into(),
                "/console/cases?all=1".into(),
            ],
            OperatorRole::BadgeOffice | OperatorRole::Helpdesk => vec![
                "/console/identities/E105".into(),
                format!("/console/authenticators?oid={claire}"),
            ],
            OperatorRole::Auditor => vec![
                "/console/audit?action=role.".into(),
                "/console/audit/verify".into(),
                "/console/compliance/report".into(),
            ],
        };
        walk.push(serde_json::json!({
            "name": name, "link": link, "menu": menu, "forbidden": forbidden, "extra": extra,
        }));
    }
    assert!(
        walk.iter()
            .all(|o| !o["menu"].as_array().expect("menu").is_empty()),
        "every role has a menu"
    );

    let _server = Proc(
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

    let shots = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("..")
        .join("e2e-artifacts")
        .join("console");
    let script = format!("{}/tests/e2e/console.mjs", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("node")
        .arg(script)
        .env("BASE_URL", format!("http://localhost:{port}"))
        .env("SHOTS", shots.display().to_string())
        .env("OPERATORS", serde_json::Value::Array(walk).to_string())
        .output()
        .expect("node runs (scripts/test installs it with chromium, playwright-core and axe-core)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "browser scenario failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("pages checked"), "{stdout}");
    let pngs = std::fs::read_dir(&shots)
        .expect("screenshots")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "png"))
        })
        .count();
    assert!(pngs >= 20, "a screenshot per page: {pngs}");
}
