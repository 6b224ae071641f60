//! Operations, against real parts: Clavis behind a real nginx
//! (`proxy.rs`), Clavis terminating TLS itself (`tls.rs`), and `/metrics`
//! scraped by a real Prometheus (`metrics.rs`), request ids in responses
//! and JSON logs (`request_id.rs`). Each runs the `clavis`
//! binary ([`Clavis`]); nginx and Prometheus run as the test's own user,
//! with their own files in a temporary folder, on loopback ports.

mod metrics;
mod proxy;
mod request_id;
mod tls;

use crate::support::binary::Proc;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long a server may take to answer after it started.
pub const STARTUP: Duration = Duration::from_secs(30);

/// Polls `check` until it is true or `timeout` passed (every 50 ms);
/// whether it became true.
pub async fn eventually<F: Future<Output = bool>>(
    timeout: Duration,
    mut check: impl FnMut() -> F,
) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A running `clavis serve`, stopped when dropped.
#[derive(Debug)]
pub struct Clavis {
    pub proc: Proc,
    pub port: u16,
    /// Its standard error (the logs), for assertions and failures.
    pub log: PathBuf,
}

impl Clavis {
    /// Starts `clavis serve` in `dir` on `db_url`, listening on a free
    /// loopback port, with `server` added to `[server]` and `more` after
    /// it (other sections). Not yet known to be ready: see [`Self::ready`].
    pub fn spawn(dir: &Path, db_url: &str, server: &str, more: &str) -> Clavis {
        let port = clavis_testkit::free_port();
        let config = dir.join("clavis.toml");
        std::fs::write(
            &config,
            format!(
                "state_dir = \"{state}\"\n[server]\nlisten = \"127.0.0.1:{port}\"\n{server}\n[database]\nurl = \"{db_url}\"\n{more}\n",
                state = dir.join("state").display(),
            ),
        )
        .expect("config");
        let log = dir.join("clavis.log");
        let proc = Proc(
            Command::new(env!("CARGO_BIN_EXE_clavis"))
                .arg("--config")
                .arg(&config)
                .arg("serve")
                .env("CLAVIS_LANG", "en")
                .env("CLAVIS_LOG", "info")
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).expect("log"))
                .spawn()
                .expect("clavis serve starts"),
        );
        Clavis { proc, port, log }
    }

    /// Waits until `check` says the server answers (panics with its log
    /// after [`STARTUP`]).
    pub async fn ready<F: Future<Output = bool>>(self, check: impl FnMut() -> F) -> Clavis {
        let up = eventually(STARTUP, check).await;
        assert!(up, "clavis serve did not answer:\n{}", self.logs());
        self
    }

    /// Waits until plain HTTP `/readyz` answers 200 on its port.
    pub async fn ready_http(self) -> Clavis {
        let port = self.port;
        self.ready(move || async move {
            tokio::task::spawn_blocking(move || {
                crate::support::binary::http_status(port, "/readyz") == Some(200)
            })
            .await
            .unwrap_or(false)
        })
        .await
    }

    /// What it logged so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Whether this process runs as root (then nginx's workers must be told
/// to become an unprivileged user).
pub fn is_root(dir: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let probe = dir.join(".whoami");
    std::fs::write(&probe, b"").expect("probe");
    std::fs::metadata(&probe).expect("probe").uid() == 0
}

/// `POST /login/begin` at `base` with these extra headers: the status, and
/// the ceremony when one started.
pub async fn begin_login(
    client: &reqwest::Client,
    base: &str,
    headers: &[(&str, &str)],
) -> (u16, Option<String>) {
    let mut req = client
        .post(format!("{base}/login/begin"))
        .json(&serde_json::json!({}));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let r = req.send().await.expect("an answer");
    let status = r.status().as_u16();
    let body: serde_json::Value = r.json().await.unwrap_or_default();
    (status, body["ceremony"].as_str().map(str::to_string))
}

/// Finishes `ceremony` with a signature from no key Clavis knows (with
/// these extra headers): a refused login, audited and counted.
pub async fn refused_finish(
    client: &reqwest::Client,
    base: &str,
    ceremony: &str,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut req = client
        .post(format!("{base}/login/finish"))
        .json(&serde_json::json!({
            "ceremony": ceremony,
            "credential": {
                "id": "AAAAAAAAAAAAAAAAAAAAAA",
                "rawId": "AAAAAAAAAAAAAAAAAAAAAA",
                "response": {"authenticatorData": "AAAA", "clientDataJSON": "AAAA", "signature": "AAAA", "userHandle": null},
                "type": "public-key"
            }
        }));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.send().await.expect("an answer")
}
