//! Complete OpenID code flows (authorize with an existing SSO session →
//! token with an RS256 ID token) against the real `clavis serve`, and the
//! same flows against node oidc-provider (a certified provider) on the same
//! machine in the same run.
//!
//! `cargo bench --bench oidc_flows` (needs node and `npm ci` in tests/e2e;
//! `scripts/test-services install` provides both). Prints, for each
//! provider: the most flows per second with 16 flows in flight for 10 s, and
//! the p50/p99 latency of flows started at a steady 500 per second for 10 s
//! (open loop: latency counts from the scheduled start, so a stalled server
//! cannot hide its queue). The load generator runs on one thread of the
//! same 2-core machine, for both providers alike. It also prints the CPU
//! time per flow of each provider (from /proc) and of itself: steadier than
//! flows per second on a machine whose speed drifts.
//!
//! The same Clavis also answers Pro Santé Connect as FI tiers ("clavis FI
//! tiers"): the client is marked `psc` and the person's link stands, so
//! each flow also checks the link (at authorize and at token), maps the
//! amr and audits the assertion.
//!
//! `BENCH_SECS` (default 10), `BENCH_IN_FLIGHT` (default 16), `BENCH_ALG`
//! (ES256 for ES256 ID tokens), `BENCH_ONLY=clavis` (skip node),
//! `BENCH_METRICS=off` (Clavis without its metrics, to measure their cost),
//! `BENCH_TRACES=on` (Clavis sending every trace over OTLP to the test
//! receiver, `tests/otlp/receiver.py --count`, to measure their cost; it
//! prints how many spans arrived; `BENCH_TRACE_RATIO` sets
//! `traces.sample_ratio`, default 1.0), `BENCH_DB=postgres` (Clavis on the
//! PostgreSQL of `CLAVIS_TEST_PG_URL`, its server's CPU counted with
//! Clavis's), `BENCH_NODES=2` (two nodes on that PostgreSQL behind haproxy),
//! `BENCH_BIN=/path/to/clavis` (serve that build instead of this one: two
//! builds compared in turn on one machine, each copied out of target/; the
//! database is prepared by this build's code, so both must share its
//! schema).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const REDIRECT: &str = "http://127.0.0.1:9/cb";

struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[derive(Clone)]
struct Target {
    name: String,
    /// The provider's processes (a node oidc-provider, the Clavis nodes and,
    /// on PostgreSQL, the database server's), whose CPU time is read from
    /// /proc.
    pids: Vec<u32>,
    authorize: String,
    token: String,
    cookie: String,
    client_id: String,
    secret: String,
}

fn pkce() -> (String, String) {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    let verifier = URL_SAFE_NO_PAD.encode(b);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

async fn flow(http: &reqwest::Client, t: &Target) -> Result<(), String> {
    let (verifier, challenge) = pkce();
    let r = http
        .get(&t.authorize)
        .query(&[
            ("response_type", "code"),
            ("client_id", &t.client_id),
            ("redirect_uri", REDIRECT),
            ("scope", "openid profile"),
            ("state", "s"),
            ("nonce", "n"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ])
        .header("cookie", &t.cookie)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let loc = r
        .headers()
        .get("location")
        .and_then(|h| h.to_str().ok())
        .ok_or_else(|| format!("authorize answered {}", r.status()))?
        .to_string();
    let code = url::Url::parse(&loc)
        .map_err(|e| e.to_string())?
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .ok_or_else(|| format!("no code in {loc}"))?;
    let r = http
        .post(&t.token)
        .basic_auth(&t.client_id, Some(&t.secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
        ])
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = r.status();
    let body = r.text().await.map_err(|e| e.to_string())?;
    if !status.is_success() || !body.contains("\"id_token\"") {
        return Err(format!("token answered {status}: {body}"));
    }
    Ok(())
}

/// CPU time (user + system) used so far by process `pid`, from
/// /proc/PID/stat (clock ticks of 10 ms).
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) end with ')'.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after ')'.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// CPU time of these processes, and of the children of each (the
/// PostgreSQL server's backends).
fn cpu_of(pids: &[u32]) -> Duration {
    let mut all: Vec<u32> = pids.to_vec();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for e in entries.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, r)| r.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            if ppid.is_some_and(|p| pids.contains(&p)) && !all.contains(&pid) {
                all.push(pid);
            }
        }
    }
    all.into_iter().map(cpu_time).sum()
}

/// Most flows per second with `in_flight` flows at a time, the errors, and
/// the CPU time per completed flow of the provider and of this load
/// generator.
async fn max_throughput(
    t: &Target,
    in_flight: usize,
    secs: u64,
) -> (f64, usize, Duration, Duration) {
    let cpu_before = cpu_of(&t.pids);
    let own_before = cpu_time(std::process::id());
    let http = client();
    let end = Instant::now() + Duration::from_secs(secs);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..in_flight {
        let (http, t) = (http.clone(), t.clone());
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut err) = (0usize, 0usize);
            while Instant::now() < end {
                match flow(&http, &t).await {
                    Ok(()) => ok += 1,
                    Err(e) => {
                        if err == 0 {
                            eprintln!("{}: {e}", t.name);
                        }
                        err += 1
                    }
                }
            }
            (ok, err)
        }));
    }
    let (mut ok, mut err) = (0, 0);
    for h in tasks {
        let (o, e) = h.await.expect("task");
        ok += o;
        err += e;
    }
    let cpu = cpu_of(&t.pids).saturating_sub(cpu_before);
    let own = cpu_time(std::process::id()).saturating_sub(own_before);
    (
        ok as f64 / start.elapsed().as_secs_f64(),
        err,
        cpu / ok.max(1) as u32,
        own / ok.max(1) as u32,
    )
}

async fn steady(t: &Target, rate: u64, secs: u64) -> (Duration, Duration, usize, usize) {
    let http = client();
    let interval = Duration::from_nanos(1_000_000_000 / rate);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..rate * secs {
        let due = start + interval * i as u32;
        tokio::time::sleep_until(due.into()).await;
        let (http, t) = (http.clone(), t.clone());
        tasks.push(tokio::spawn(async move {
            let r = flow(&http, &t).await;
            (due.elapsed(), r.is_ok())
        }));
    }
    let mut lat = Vec::new();
    let mut errors = 0;
    for h in tasks {
        let (d, ok) = h.await.expect("task");
        if ok {
            lat.push(d);
        } else {
            errors += 1;
        }
    }
    lat.sort();
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    (pct(0.50), pct(0.99), lat.len(), errors)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(64)
        .build()
        .expect("http client")
}

fn wait_http(url: &str) {
    let ok = clavis_testkit::wait_until(Duration::from_secs(30), || http_ok(url));
    assert!(ok, "{url} did not answer");
}

/// Readiness probe: a plain HTTP/1.1 GET answering 200.
fn http_ok(url: &str) -> bool {
    url::Url::parse(url)
        .ok()
        .and_then(|u| clavis_testkit::http_status(u.port().unwrap_or(80), u.path()))
        == Some(200)
}

/// `[metrics]` as shipped (on, here on a free port), or off with
/// `BENCH_METRICS=off`: the two runs give what the metrics cost.
fn metrics_section() -> String {
    if std::env::var("BENCH_METRICS").is_ok_and(|m| m == "off") {
        "[metrics]\nenabled = false\n".into()
    } else {
        format!(
            "[metrics]\nlisten = \"127.0.0.1:{}\"\n",
            clavis_testkit::free_port()
        )
    }
}

/// With `BENCH_TRACES=on`: the OTLP receiver (counting spans) and its
/// port.
fn traces_receiver() -> Option<(Proc, u16)> {
    use std::io::BufRead;
    if !std::env::var("BENCH_TRACES").is_ok_and(|t| t == "on") {
        return None;
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut child = Command::new(root.join("tests/otlp/.venv/bin/python"))
        .arg(root.join("tests/otlp/receiver.py"))
        .arg("--count")
        .stdout(Stdio::piped())
        .spawn()
        .expect("the OTLP receiver (scripts/test-services install makes its venv)");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("its port");
    let port = line
        .trim()
        .strip_prefix("listening ")
        .and_then(|p| p.parse().ok())
        .expect("listening PORT");
    Some((Proc(child), port))
}

/// How many spans the receiver on `port` counted.
fn spans_received(port: u16) -> u64 {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return 0;
    };
    let _ = write!(s, "GET /count HTTP/1.0\r\n\r\n");
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    buf.rsplit("\r\n\r\n")
        .next()
        .and_then(|b| b.trim().parse().ok())
        .unwrap_or(0)
}

/// Where the bench's Clavis keeps its data: `BENCH_DB=postgres` (a fresh
/// database on the server of `CLAVIS_TEST_PG_URL`, as the tests use:
/// `scripts/test-services start`), else SQLite; and how many nodes serve
/// it (`BENCH_NODES=2`: two `clavis serve` on PostgreSQL behind a real
/// haproxy, which the flows go through).
struct Setup {
    postgres: bool,
    nodes: usize,
}

impl Setup {
    fn from_env() -> Setup {
        let postgres = std::env::var("BENCH_DB").is_ok_and(|d| d == "postgres");
        let nodes = std::env::var("BENCH_NODES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(1usize)
            .max(1);
        assert!(
            postgres || nodes == 1,
            "BENCH_NODES=2 needs BENCH_DB=postgres (several nodes share one PostgreSQL)"
        );
        Setup { postgres, nodes }
    }

    /// What the providers' names say about it.
    fn label(&self) -> String {
        match (self.postgres, self.nodes) {
            (false, _) => String::new(),
            (true, 1) => ", PostgreSQL".into(),
            (true, n) => format!(", {n} nodes, PostgreSQL, haproxy"),
        }
    }
}

/// The PostgreSQL server's main process (its backends are its children).
fn postmaster_pid() -> u32 {
    let dir = std::env::var("CLAVIS_TEST_PG_DIR")
        .expect("CLAVIS_TEST_PG_DIR (scripts/test-services start)");
    std::fs::read_to_string(std::path::Path::new(&dir).join("data/postmaster.pid"))
        .ok()
        .and_then(|s| s.lines().next().and_then(|l| l.trim().parse().ok()))
        .expect("postmaster.pid")
}

/// What runs the bench's Clavis: its nodes, and haproxy in front of two.
struct Served {
    _nodes: Vec<Proc>,
    _haproxy: Option<clavis_testkit::haproxy::Haproxy>,
}

/// Clavis, answering a DPI-like client and PSC (FI tiers) from one session.
async fn clavis_target(
    dir: &std::path::Path,
    setup: &Setup,
    traces: Option<u16>,
) -> (Served, Target, Target) {
    let ports: Vec<u16> = (0..setup.nodes)
        .map(|_| clavis_testkit::free_port())
        .collect();
    let front = if setup.nodes > 1 {
        clavis_testkit::free_port()
    } else {
        ports[0]
    };
    std::fs::create_dir_all(dir.join("state")).expect("state dir");
    let (db, database) = if setup.postgres {
        let t = clavis_testkit::db::TestDb::new(clavis_testkit::db::Backend::Postgres).await;
        let section = format!("[database]\nurl = \"{}\"\n", t.url);
        (t.db, section)
    } else {
        let path = dir.join("state").join("clavis.db");
        let db = clavis_store::Db::open(&path.display().to_string(), 4).expect("db");
        clavis_store::migrate::run_pending(&db)
            .await
            .expect("migrate");
        (db, String::new())
    };
    // One configuration per node, the same but for the port; one state
    // folder (the nodes share the master key, as a cluster must). PSC
    // itself is never reached: FI tiers answers from the session and the
    // stored link.
    let configs: Vec<std::path::PathBuf> = ports
        .iter()
        .map(|port| {
            let config = dir.join(format!("clavis-{port}.toml"));
            std::fs::write(
                &config,
                format!(
                    "state_dir = \"{}\"\n[server]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"http://localhost:{front}\"\n[log]\nlevel = \"warn\"\n\
                     [psc]\nenabled = true\nissuer = \"http://127.0.0.1:9/auth/realms/esante-wallet\"\nclient_id = \"bench\"\ntid = \"chu-bench\"\n{metrics}{database}",
                    dir.join("state").display(),
                    metrics = metrics_section(),
                ) + &traces
                    .map(|p| {
                format!(
                    "[traces]\nenabled = true\nendpoint = \"http://127.0.0.1:{p}/v1/traces\"\nsample_ratio = {}\n",
                    std::env::var("BENCH_TRACE_RATIO").unwrap_or_else(|_| "1.0".into())
                )
            })
                    .unwrap_or_default(),
            )
            .expect("config");
            config
        })
        .collect();
    let oid = clavis_testkit::people::insert_person(
        &db,
        "Lemoine",
        "Claire",
        clavis_core::LifecycleStatus::Active,
    )
    .await;
    let now = clavis_core::Clock::now(&clavis_core::SystemClock);
    let mut conn = db.conn().await.expect("conn");
    // Her RPPS, and her link to PSC verified now.
    let mut row = clavis_store::models::IdentityRow::find(&mut conn, oid)
        .await
        .expect("read")
        .expect("person");
    row.rpps = Some("10003489282".into());
    clavis_store::models::IdentityRow::update_all(&mut conn, vec![row])
        .await
        .expect("rpps");
    clavis_store::models::PscLinkRow {
        oid,
        national_id: "810003489282".into(),
        psc_sub: "f:bench:810003489282".into(),
        acr: Some("eidas1".into()),
        auth_mode: Some("CARD".into()),
        id_token_sha256: "0".repeat(64),
        linked_at: now.timestamp(),
        expires_at: now.timestamp() + 86_400,
        revoked_at: None,
        revoked_reason: None,
        revoked_by: None,
    }
    .save(&mut conn)
    .await
    .expect("link");
    let r = conn
        .transaction(async |tx| {
            clavis_sso::create(
                tx,
                &clavis_sso::SsoConfig::default(),
                now,
                clavis_sso::NewSession {
                    workstation_id: None,
                    oid,
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
        .await;
    let (token, _) = r.expect("session");
    let (c, secret) = clavis_oidc::clients::register(
        &mut conn,
        now,
        clavis_oidc::clients::NewClient {
            name: "bench".into(),
            redirect_uris: vec![REDIRECT.into()],
            id_token_alg: std::env::var("BENCH_ALG").ok(),
            ..Default::default()
        },
        &clavis_oidc::clients::RegistrationRules {
            acr_order: &clavis_core::AcrOrder::default(),
            allow_local_backchannel: false,
        },
        &clavis_core::Actor::Cli("it".into()),
    )
    .await
    .expect("client");
    let (psc, psc_secret) = clavis_oidc::clients::register(
        &mut conn,
        now,
        clavis_oidc::clients::NewClient {
            name: "Pro Santé Connect".into(),
            redirect_uris: vec![REDIRECT.into()],
            id_token_alg: std::env::var("BENCH_ALG").ok(),
            psc: true,
            ..Default::default()
        },
        &clavis_oidc::clients::RegistrationRules {
            acr_order: &clavis_core::AcrOrder::default(),
            allow_local_backchannel: false,
        },
        &clavis_core::Actor::Cli("it".into()),
    )
    .await
    .expect("psc client");
    drop(conn);
    let mut nodes = Vec::new();
    let bin = std::env::var_os("BENCH_BIN").unwrap_or(env!("CARGO_BIN_EXE_clavis").into());
    // Said, since scripts/bench-directory takes the same variable.
    eprintln!("serving {}", bin.to_string_lossy());
    for (config, port) in configs.iter().zip(&ports) {
        nodes.push(Proc(
            Command::new(&bin)
                .args(["--config", &config.display().to_string(), "serve"])
                .env("MALLOC_ARENA_MAX", "2")
                .env("CLAVIS_PSC_CLIENT_SECRET", "never-used")
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("clavis serve"),
        ));
        // The first node creates the master key; the next ones read it.
        wait_http(&format!("http://127.0.0.1:{port}/readyz"));
    }
    let mut pids: Vec<u32> = nodes.iter().map(|p| p.0.id()).collect();
    if setup.postgres {
        pids.push(postmaster_pid());
    }
    let haproxy = (setup.nodes > 1).then(|| clavis_testkit::haproxy::start(dir, front, &ports));
    let base = format!("http://127.0.0.1:{front}");
    let dpi = Target {
        name: format!("clavis{}", setup.label()),
        pids,
        authorize: format!("{base}/oidc/authorize"),
        token: format!("{base}/oidc/token"),
        cookie: format!("{}={}", clavis_sso::COOKIE_NAME, token.expose()),
        client_id: c.client_id.into_string(),
        secret: secret.expect("secret").expose().clone(),
    };
    let fi_tiers = Target {
        name: format!("clavis FI tiers (PSC){}", setup.label()),
        client_id: psc.client_id.into_string(),
        secret: psc_secret.expect("secret").expose().clone(),
        ..dpi.clone()
    };
    (
        Served {
            _nodes: nodes,
            _haproxy: haproxy,
        },
        dpi,
        fi_tiers,
    )
}

/// node oidc-provider, with one sign-in done so that a session exists.
async fn node_target() -> (Proc, Target) {
    let port = clavis_testkit::free_port();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/e2e/node-op.mjs");
    let proc = Proc(
        Command::new("node")
            .arg(script)
            .env("PORT", port.to_string())
            .env("CLIENT_ID", "bench")
            .env("CLIENT_SECRET", "bench-secret-bench-secret-bench-secret")
            .env("REDIRECT_URI", REDIRECT)
            .env("NODE_ENV", "production")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node (install with scripts/test-services install)"),
    );
    let pids = vec![proc.0.id()];
    let base = format!("http://localhost:{port}");
    wait_http(&format!(
        "http://127.0.0.1:{port}/.well-known/openid-configuration"
    ));
    // Sign in once, following redirects by hand and keeping cookies.
    let http = client();
    let mut jar: std::collections::BTreeMap<String, String> = Default::default();
    let (_, challenge) = pkce();
    let mut url = url::Url::parse_with_params(
        &format!("{base}/auth"),
        &[
            ("response_type", "code"),
            ("client_id", "bench"),
            ("redirect_uri", REDIRECT),
            ("scope", "openid profile"),
            ("state", "s"),
            ("nonce", "n"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ],
    )
    .expect("url")
    .to_string();
    for _ in 0..10 {
        if url.starts_with(REDIRECT) {
            break;
        }
        let cookie: Vec<String> = jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let r = http
            .get(url.replace("localhost", "127.0.0.1"))
            .header("cookie", cookie.join("; "))
            .send()
            .await
            .expect("node op answers");
        for sc in r.headers().get_all("set-cookie") {
            if let Some((kv, _)) = sc.to_str().unwrap_or("").split_once(';')
                && let Some((k, v)) = kv.split_once('=')
            {
                jar.insert(k.trim().into(), v.trim().into());
            }
        }
        let loc = r
            .headers()
            .get("location")
            .and_then(|h| h.to_str().ok())
            .unwrap_or_else(|| panic!("node op: no redirect ({})", r.status()))
            .to_string();
        url = if loc.starts_with('/') {
            format!("{base}{loc}")
        } else {
            loc
        };
    }
    assert!(
        url.starts_with(REDIRECT) && url.contains("code="),
        "node op sign-in ended at {url}"
    );
    let cookie: Vec<String> = jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let base = format!("http://127.0.0.1:{port}");
    (
        proc,
        Target {
            name: "node oidc-provider".into(),
            pids,
            authorize: format!("{base}/auth"),
            token: format!("{base}/token"),
            cookie: cookie.join("; "),
            client_id: "bench".into(),
            secret: "bench-secret-bench-secret-bench-secret".into(),
        },
    )
}

fn main() {
    // `cargo bench` passes --bench; nothing else to parse.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let secs: u64 = std::env::var("BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    rt.block_on(async {
        let dir = tempfile::tempdir().expect("dir");
        let receiver = traces_receiver();
        let setup = Setup::from_env();
        let (served, clavis, fi_tiers) =
            clavis_target(dir.path(), &setup, receiver.as_ref().map(|r| r.1)).await;
        // BENCH_ONLY=clavis skips node oidc-provider (quicker runs while tuning).
        let only_clavis = std::env::var("BENCH_ONLY").is_ok_and(|o| o == "clavis");
        let node = if only_clavis {
            None
        } else {
            Some(node_target().await)
        };
        let in_flight: usize = std::env::var("BENCH_IN_FLIGHT")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(16);
        println!(
            "provider              | max flows/s ({in_flight} in flight) | CPU per flow: provider | load generator | at 500 flows/s: p50 | p99 | errors"
        );
        for t in [&clavis, &fi_tiers]
            .into_iter()
            .chain(node.as_ref().map(|(_, t)| t))
        {
            // Warm up (connections, caches).
            let _ = max_throughput(t, 4, 2).await;
            let (fps, err1, cpu, own) = max_throughput(t, in_flight, secs).await;
            let (p50, p99, n, err2) = steady(t, 500, secs).await;
            println!(
                "{:<21} | {:>26.0} | {:>19.0} µs | {:>11.0} µs | {:>6.1} ms | {:>6.1} ms | {} ({} flows at 500/s)",
                t.name,
                fps,
                cpu.as_secs_f64() * 1e6,
                own.as_secs_f64() * 1e6,
                p50.as_secs_f64() * 1000.0,
                p99.as_secs_f64() * 1000.0,
                err1 + err2,
                n
            );
        }
        drop(served);
        drop(node);
        if let Some((_, port)) = &receiver {
            println!("spans received over OTLP: {}", spans_received(*port));
        }
    });
}
