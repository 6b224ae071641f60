//! Operations, against real parts: Clavis behind a real nginx
//! (`proxy.rs`), Clavis terminating TLS itself (`tls.rs`), and `/metrics`
//! scraped by a real Prometheus (`metrics.rs`), request ids in responses
//! and JSON logs (`request_id.rs`), traces received over OTLP
//! (`traces.rs`). Each runs the `clavis`
//! binary ([`Clavis`]); nginx and Prometheus run as the test's own user,
//! with their own files in a temporary folder, on loopback ports.

mod metrics;
mod proxy;
mod request_id;
mod tls;
mod traces;

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
        Self::spawn_with(dir, db_url, server, more, &[])
    }

    /// [`Self::spawn`] with these environment variables too.
    pub fn spawn_with(
        dir: &Path,
        db_url: &str,
        server: &str,
        more: &str,
        env: &[(&str, &str)],
    ) -> Clavis {
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
                .envs(env.iter().copied())
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

    /// Its base URL, on loopback.
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
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

/// The redirect URI of the test client.
pub const CALLBACK: &str = "https://dpi.chu.test/callback";

/// An OpenID code flow done against the server at `base` (whose
/// configuration is in `dir`, database `db`).
pub struct CodeFlow {
    pub client_id: String,
    pub code: String,
    /// The `X-Request-Id` of the authorisation request that issued the
    /// code, and of the token request.
    pub authorize_request_id: String,
    pub token_request_id: String,
    /// The token endpoint's answer.
    pub token_status: u16,
}

/// A client registered by the CLI, a session of Claire Lemoine's (as a
/// login writes it), the code (PKCE), the tokens.
pub async fn code_flow(dir: &Path, db: &clavis_store::Db, base: &str) -> CodeFlow {
    use base64::Engine;
    use sha2::{Digest, Sha256};
    let client = crate::support::binary::ok_json(crate::support::binary::clavis(
        &dir.join("clavis.toml"),
        &[
            "client",
            "add",
            "--name",
            "DPI",
            "--redirect-uri",
            CALLBACK,
            "--json",
        ],
    ));
    let client_id = client["client_id"].as_str().expect("client_id").to_string();
    let secret = client["client_secret"].as_str().expect("client_secret");
    let oid = clavis_testkit::people::insert_person(
        db,
        "Lemoine",
        "Claire",
        clavis_core::LifecycleStatus::Active,
    )
    .await;
    let cookie = crate::support::binary::open_session(db, oid).await;
    let verifier = "a-verifier-of-forty-three-characters-or-more-0000";
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let r = http
        .get(format!("{base}/oidc/authorize"))
        .query(&[
            ("client_id", client_id.as_str()),
            ("redirect_uri", CALLBACK),
            ("response_type", "code"),
            ("scope", "openid"),
            ("state", "st-1"),
            ("nonce", "n-1"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ])
        .header("cookie", &cookie)
        .send()
        .await
        .expect("authorize");
    let authorize_request_id = request_id(&r);
    let location = r
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let code = url::Url::parse(&location)
        .ok()
        .and_then(|u| {
            u.query_pairs()
                .find(|(k, _)| k == "code")
                .map(|(_, v)| v.into_owned())
        })
        .unwrap_or_else(|| panic!("no code in {location:?} ({})", r.status()));
    let r = http
        .post(format!("{base}/oidc/token"))
        .basic_auth(&client_id, Some(secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CALLBACK),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .expect("token");
    CodeFlow {
        client_id,
        code,
        authorize_request_id,
        token_request_id: request_id(&r),
        token_status: r.status().as_u16(),
    }
}

/// The `X-Request-Id` of an answer.
pub fn request_id(r: &reqwest::Response) -> String {
    r.headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("an X-Request-Id")
        .to_string()
}

/// An HTTP client for a test's requests: 10 s at most each.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}
