//! Two `clavis serve` nodes on one PostgreSQL behind a real haproxy (the
//! Debian package, round robin, health-checked on `/readyz`): people sign
//! in with their keys and applications run code flows through it while one
//! node is killed (SIGKILL). Only requests in flight on the dead node may
//! fail: every session opened before stays open, every refresh token still
//! works, each back-channel logout is delivered once, and the audit chain
//! verifies.

use crate::restart::serve;
use crate::support::binary::{clavis, ok_json};
use base64::Engine;
use clavis_testkit::db::{Backend, TestDb};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

const CB: &str = "https://dpi.chu.test/cb";
const VERIFIER: &str = "cluster-test-verifier-0123456789-abcdefghijklmnopqrstuvwxyz";
const PEOPLE: usize = 4;

/// The configuration of one node.
fn node_config(dir: &Path, name: &str, port: u16, public: u16, db_url: &str) -> PathBuf {
    let config = dir.join(format!("{name}.toml"));
    std::fs::write(
        &config,
        format!(
            "state_dir = \"{state}\"\n\
             [server]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"http://localhost:{public}\"\n\
             trusted_proxies = [\"127.0.0.1\"]\nlogin_starts_per_minute = 0\n\
             [database]\nurl = \"{db_url}\"\n\
             [oidc]\nmaster_key_file = \"{key}\"\n\
             [oidc.backchannel]\nallow_local_targets = true\n",
            state = dir.join(name).display(),
            key = dir.join("master.key").display(),
        ),
    )
    .expect("config");
    config
}

/// A browser: its own cookies, no redirect followed.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

fn origin(base: &str) -> url::Url {
    url::Url::parse(base).expect("url")
}

/// Enrols a soft key for `oid` through the proxy (link from the CLI).
async fn enrol(config: &Path, base: &str, oid: &str) -> SoftPasskey {
    let link = ok_json(clavis(config, &["enrol-link", oid, "--json"]));
    let path = url::Url::parse(link["url"].as_str().expect("url"))
        .expect("url")
        .path()
        .to_string();
    let b = browser();
    let begin: Value = b
        .post(format!("{base}{path}/begin"))
        .json(&json!({}))
        .send()
        .await
        .expect("begin")
        .json()
        .await
        .expect("json");
    let mut key = SoftPasskey::new(true);
    let cred = key
        .do_registration(
            origin(base),
            serde_json::from_value(begin["options"].clone()).expect("options"),
        )
        .expect("registers");
    let r = b
        .post(format!("{base}{path}/finish"))
        .json(&json!({"ceremony": begin["ceremony"], "credential": cred, "label": "clé"}))
        .send()
        .await
        .expect("finish");
    assert_eq!(r.status(), 200);
    key
}

/// What one complete flow left: the session cookie and a refresh token.
struct Flow {
    browser: reqwest::Client,
    refresh_token: String,
}

/// A key login then a code flow, through the proxy; `Err` names the step
/// that failed.
async fn flow(
    base: &str,
    key: &mut SoftPasskey,
    oid: &str,
    client_id: &str,
    secret: &str,
) -> Result<Flow, String> {
    let b = browser();
    let step = |what: &'static str| move |e: reqwest::Error| format!("{what}: {e}");
    let begin: Value = b
        .post(format!("{base}/login/begin"))
        .json(&json!({"username": oid}))
        .send()
        .await
        .map_err(step("begin"))?
        .json()
        .await
        .map_err(step("begin"))?;
    let options = serde_json::from_value(begin["options"].clone())
        .map_err(|e| format!("begin answer {begin}: {e}"))?;
    let a = key
        .do_authentication(origin(base), options)
        .map_err(|e| format!("sign: {e:?}"))?;
    let r = b
        .post(format!("{base}/login/finish"))
        .json(&json!({"ceremony": begin["ceremony"], "credential": a}))
        .send()
        .await
        .map_err(step("finish"))?;
    if r.status() != 200 {
        return Err(format!("finish: {}", r.status()));
    }
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(VERIFIER.as_bytes()));
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("client_id", client_id)
        .append_pair("redirect_uri", CB)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid")
        .append_pair("state", "st")
        .append_pair("nonce", "n")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    let r = b
        .get(format!("{base}/oidc/authorize?{}", q.finish()))
        .send()
        .await
        .map_err(step("authorize"))?;
    let location = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| format!("authorize: {}", r.status()))?;
    let code = url::Url::parse(location)
        .map_err(|e| e.to_string())?
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .ok_or_else(|| format!("authorize: no code in {location}"))?;
    let tokens: Value = token(
        base,
        client_id,
        secret,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CB),
            ("code_verifier", VERIFIER),
        ],
    )
    .await?;
    Ok(Flow {
        browser: b,
        refresh_token: tokens["refresh_token"]
            .as_str()
            .ok_or_else(|| format!("no refresh token: {tokens}"))?
            .to_string(),
    })
}

/// POST /oidc/token as the application.
async fn token(
    base: &str,
    client_id: &str,
    secret: &str,
    form: &[(&str, &str)],
) -> Result<Value, String> {
    let r = reqwest::Client::new()
        .post(format!("{base}/oidc/token"))
        .basic_auth(client_id, Some(secret))
        .form(form)
        .send()
        .await
        .map_err(|e| format!("token: {e}"))?;
    if r.status() != 200 {
        return Err(format!("token: {}", r.status()));
    }
    r.json().await.map_err(|e| format!("token: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_behind_haproxy_lose_nothing_when_one_is_killed() {
    let pg = TestDb::new(Backend::Postgres).await;
    let dir = tempfile::tempdir().expect("dir");
    let (pa, pb, hp) = (
        clavis_testkit::free_port(),
        clavis_testkit::free_port(),
        clavis_testkit::free_port(),
    );
    let base = format!("http://localhost:{hp}");
    let config_a = node_config(dir.path(), "node-a", pa, hp, &pg.url);
    let config_b = node_config(dir.path(), "node-b", pb, hp, &pg.url);
    // The first node creates the master key; the second uses the same.
    let mut node_a = serve(&config_a, pa);
    let _node_b = serve(&config_b, pb);
    let _proxy = clavis_testkit::haproxy::start(dir.path(), hp, &[pa, pb]);
    let (bc_uri, bodies) = crate::support::receiver::receiver(200).await;
    let app = ok_json(clavis(
        &config_a,
        &[
            "client",
            "add",
            "--name",
            "DPI",
            "--redirect-uri",
            CB,
            "--backchannel-logout-uri",
            &bc_uri,
            "--json",
        ],
    ));
    let client_id = app["client_id"].as_str().expect("id").to_string();
    let secret = app["client_secret"].as_str().expect("secret").to_string();
    let mut people = Vec::new();
    for i in 0..PEOPLE {
        let oid = clavis_testkit::people::insert_person(
            &pg.db,
            "Martin",
            &format!("Agent{i}"),
            clavis_core::LifecycleStatus::Active,
        )
        .await
        .to_string();
        let key = enrol(&config_a, &base, &oid).await;
        people.push((oid, key));
    }

    // Each person signs in and signs in to the DPI, six times over; once
    // eight flows are done, node A is killed while the others are under way.
    let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    // The soft keys are not Send: the people run side by side on this
    // thread (their requests still in flight at once).
    let local = tokio::task::LocalSet::new();
    let mut tasks = Vec::new();
    for (oid, mut key) in people {
        let (base, client_id, secret) = (base.clone(), client_id.clone(), secret.clone());
        let done = done.clone();
        tasks.push(local.spawn_local(async move {
            let (mut flows, mut failures) = (Vec::new(), Vec::new());
            for _ in 0..6 {
                match flow(&base, &mut key, &oid, &client_id, &secret).await {
                    Ok(f) => flows.push(f),
                    Err(e) => failures.push(e),
                }
                done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            (oid, flows, failures)
        }));
    }
    let results = local
        .run_until(async move {
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            while done.load(std::sync::atomic::Ordering::SeqCst) < 2 * PEOPLE {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the first flows did not finish"
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            node_a.kill();
            let mut results = Vec::new();
            for t in tasks {
                results.push(t.await.expect("task"));
            }
            results
        })
        .await;
    let mut all = Vec::new();
    for (oid, flows, failures) in results {
        // A request in flight on the dead node may fail; nothing else.
        assert!(failures.len() <= 1, "{oid}: {failures:?}");
        assert!(flows.len() >= 5, "{oid}: {} flows", flows.len());
        all.extend(flows);
    }

    // Every session opened is still open, every refresh token works.
    for f in &all {
        let r = f
            .browser
            .get(format!("{base}/me"))
            .send()
            .await
            .expect("me");
        assert_eq!(r.status(), 200, "a session was lost");
        token(
            &base,
            &client_id,
            &secret,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &f.refresh_token),
            ],
        )
        .await
        .expect("the refresh token works");
    }

    // Everyone's sessions end: each owed logout is delivered once, by the
    // node left.
    let mut conn = pg.db.conn().await.expect("conn");
    for row in clavis_sso::list(
        &mut conn,
        clavis_core::Clock::now(&clavis_core::SystemClock),
        None,
    )
    .await
    .expect("sessions")
    {
        succeeded(clavis(&config_b, &["session", "revoke", row.id.as_str()]));
    }
    let owed = || async {
        let mut conn = pg.db.conn().await.expect("conn");
        clavis_store::models::LogoutOutboxRow::due(&mut conn, i64::MAX, 10_000)
            .await
            .expect("outbox")
            .len()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while owed().await > 0 {
        assert!(std::time::Instant::now() < deadline, "logouts still owed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let got: Vec<String> = bodies
        .bodies()
        .iter()
        .map(|b| {
            crate::support::receiver::logout_claims_unverified(b)["sid"]
                .as_str()
                .unwrap_or("?")
                .to_string()
        })
        .collect();
    let mut unique = got.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), got.len(), "a logout was sent twice: {got:?}");
    assert!(
        got.len() >= all.len(),
        "{} logouts for {} flows",
        got.len(),
        all.len()
    );

    // The audit chain written by both nodes verifies.
    let out = clavis(&config_b, &["audit", "verify"]);
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A command that prints text: checks it succeeded.
fn succeeded(out: std::process::Output) {
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
