//! The `clavis` binary and other processes, as the end-to-end tests run
//! them: a command and its JSON answer, a process stopped when dropped,
//! an HTTP status read over a bare TCP connection (for readiness polls).

use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command, Output};
use std::time::Duration;

/// A child process, stopped when dropped: asked first (SIGTERM: Chromium
/// and node close what they opened), killed after a grace.
#[derive(Debug)]
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = Command::new("kill")
                .args(["-TERM", &self.0.id().to_string()])
                .status();
            let exited = clavis_testkit::wait_until(Duration::from_secs(5), || {
                matches!(self.0.try_wait(), Ok(Some(_)))
            });
            if !exited {
                let _ = self.0.kill();
            }
        }
        let _ = self.0.wait();
    }
}

/// `clavis --config CONFIG ARGS…`, in English (and without the systemd
/// credentials of whoever runs the tests).
pub fn clavis(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_clavis"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env("CLAVIS_LANG", "en")
        .env_remove("CREDENTIALS_DIRECTORY")
        .output()
        .expect("clavis runs")
}

/// The JSON a command printed; panics with its output when it failed.
pub fn ok_json(out: Output) -> Value {
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

pub use clavis_testkit::http_status;

/// Opens a session for `oid` in `db`, the database of a running `clavis
/// serve`, as a login would write it: its cookie (`name=token`).
pub async fn open_session(db: &clavis_store::Db, oid: clavis_core::Oid) -> String {
    let mut conn = db.conn().await.expect("conn");
    let (token, _) = conn
        .transaction(async |tx| {
            clavis_sso::create(
                tx,
                &clavis_sso::SsoConfig::default(),
                clavis_core::Clock::now(&clavis_core::SystemClock),
                clavis_sso::NewSession {
                    oid,
                    acr: "eidas2".into(),
                    amr: vec!["hwk".into(), "user".into(), "mfa".into()],
                    authenticator_id: None,
                    client_ip: None,
                    user_agent: None,
                    workstation_id: None,
                    ends_by: None,
                    method: clavis_core::LoginMethod::Fido2,
                },
            )
            .await
        })
        .await
        .expect("session");
    format!("{}={}", clavis_sso::COOKIE_NAME, token.expose())
}
