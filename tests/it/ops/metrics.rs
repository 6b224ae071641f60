//! `/metrics` scraped by a real Prometheus: Clavis serves it on its own
//! listener (`metrics.listen`) and not on the public one; a refused FIDO2
//! login shows up in Prometheus as `clavis_logins_total{method="fido2",
//! result="failed"}`, an OpenID code flow as a token issued to its client,
//! the requests as latency histograms by route pattern, and the database
//! gauges (live sessions, audit head age) are there. SIGHUP (nothing to
//! reload without TLS) leaves the server running.
//! Prometheus is asked through its HTTP API (`/api/v1/query`) until the
//! numbers appear, within a deadline.

use super::{Clavis, STARTUP, begin_login, code_flow, eventually, refused_finish};
use crate::support::binary::Proc;
use crate::support::on_both_backends;
use clavis_testkit::db::{Backend, TestDb};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

on_both_backends!(
    prometheus_scrapes_logins_tokens_latency_and_sessions_from_the_metrics_listener_only
);

/// A running Prometheus scraping `target` every second, stopped when
/// dropped; its files (configuration, storage) in `dir`.
struct Prometheus {
    _proc: Proc,
    port: u16,
}

fn prometheus(dir: &Path, target: u16) -> Prometheus {
    let port = clavis_testkit::free_port();
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
             scrape_configs:\n  - job_name: clavis\n    static_configs:\n      - targets: ['127.0.0.1:{target}']\n"
        ),
    )
    .expect("prometheus.yml");
    let proc = Proc(
        Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("prometheus.log")).expect("log"))
            .spawn()
            .expect("prometheus starts (scripts/test-services install puts it there)"),
    );
    Prometheus { _proc: proc, port }
}

/// What the metrics listener on `port` answers at `/metrics`.
async fn scrape(http: &reqwest::Client, port: u16) -> String {
    http.get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .expect("metrics answer")
        .text()
        .await
        .expect("text")
}

/// The value of the single series `query` gives now, if there is one.
async fn query(http: &reqwest::Client, prometheus: u16, query: &str) -> Option<f64> {
    let r = http
        .get(format!("http://127.0.0.1:{prometheus}/api/v1/query"))
        .query(&[("query", query)])
        .send()
        .await
        .ok()?;
    let v: Value = r.json().await.ok()?;
    let result = v["data"]["result"].as_array()?;
    if result.len() != 1 {
        return None;
    }
    result[0]["value"][1].as_str()?.parse().ok()
}

async fn prometheus_scrapes_logins_tokens_latency_and_sessions_from_the_metrics_listener_only(
    backend: Backend,
) {
    let t = TestDb::new(backend).await;
    let dir = tempfile::tempdir().expect("dir");
    let metrics_port = clavis_testkit::free_port();
    let clavis = Clavis::spawn(
        dir.path(),
        &t.url,
        "",
        &format!("[metrics]\nlisten = \"127.0.0.1:{metrics_port}\""),
    )
    .ready_http()
    .await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let base = clavis.base();

    // The metrics listener answers /metrics; the public one does not.
    let text = scrape(&http, metrics_port).await;
    assert!(text.contains("clavis_sso_sessions_active"), "{text}");
    let public = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("an answer");
    assert_eq!(public.status().as_u16(), 404);

    let prom_dir = dir.path().join("prometheus");
    std::fs::create_dir(&prom_dir).expect("dir");
    let prom = prometheus(&prom_dir, metrics_port);
    let ready = eventually(STARTUP, || {
        let http = http.clone();
        let url = format!("http://127.0.0.1:{}/-/ready", prom.port);
        async move {
            http.get(url)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        }
    })
    .await;
    assert!(
        ready,
        "prometheus did not start:\n{}",
        std::fs::read_to_string(prom_dir.join("prometheus.log")).unwrap_or_default()
    );

    // A refused FIDO2 login: a ceremony, then a signature from no known key.
    let (status, ceremony) = begin_login(&http, &base, &[]).await;
    assert_eq!(status, 200);
    let ceremony = ceremony.expect("a ceremony");
    let refused = refused_finish(&http, &base, &ceremony, &[]).await;
    assert_eq!(refused.status().as_u16(), 401);

    // An OpenID code flow: a client registered by the CLI, a session of
    // Claire's, the code, the tokens.
    let flow = code_flow(dir.path(), &t.db, &base).await;
    assert_eq!(flow.token_status, 200);
    let (client_id, code) = (flow.client_id.as_str(), flow.code.as_str());

    // Prometheus has them, as it has the route's latency and the gauges.
    let tokens = format!(r#"clavis_oidc_tokens_issued_total{{client_id="{client_id}"}}"#);
    // On SQLite, the units' commits (the refused login's, the exchange's;
    // a code writes nothing): each one counted, whether alone or shared.
    let sqlite_only = [("clavis_db_group_commit_units_count >= 2", None)];
    let wanted = [
        (
            r#"clavis_logins_total{method="fido2",result="failed"}"#,
            Some(1.0),
        ),
        (
            r#"clavis_http_request_duration_seconds_count{route="/login/begin",method="POST",status="200"}"#,
            Some(1.0),
        ),
        (
            r#"clavis_http_request_duration_seconds_count{route="/login/finish",method="POST",status="401"}"#,
            Some(1.0),
        ),
        (tokens.as_str(), Some(1.0)),
        (
            r#"clavis_http_request_duration_seconds_count{route="/oidc/token",method="POST",status="200"}"#,
            Some(1.0),
        ),
        ("clavis_sso_sessions_active", Some(1.0)),
        ("clavis_database_up", Some(1.0)),
        // Any age: the refused login was just audited.
        ("clavis_audit_head_age_seconds >= 0", None),
    ];
    let on_backend = match backend {
        Backend::Sqlite => &sqlite_only[..],
        Backend::Postgres => &[],
    };
    for &(q, value) in wanted.iter().chain(on_backend) {
        let seen = eventually(Duration::from_secs(30), || {
            let http = http.clone();
            async move {
                match query(&http, prom.port, q).await {
                    Some(v) => value.is_none_or(|want| v == want),
                    None => false,
                }
            }
        })
        .await;
        assert!(
            seen,
            "{q} never reached {value:?} in Prometheus; last scrape:\n{}",
            query(&http, prom.port, q)
                .await
                .map(|v| v.to_string())
                .unwrap_or_else(|| "no series".into())
        );
    }
    // No raw path, address or person in any label.
    let text = scrape(&http, metrics_port).await;
    assert!(!text.contains("127.0.0.1"), "{text}");
    assert!(!text.contains(&ceremony), "{text}");
    assert!(!text.contains(code), "{text}");

    // SIGHUP without TLS: logged, nothing else.
    let hup = Command::new("kill")
        .args(["-HUP", &clavis.proc.0.id().to_string()])
        .status()
        .expect("kill");
    assert!(hup.success());
    let logged = eventually(Duration::from_secs(10), || async {
        clavis.logs().contains("nothing to reload")
    })
    .await;
    assert!(logged, "{}", clavis.logs());
    let ready = http
        .get(format!("{base}/readyz"))
        .send()
        .await
        .expect("still serving");
    assert_eq!(ready.status().as_u16(), 200);
}

/// A metrics port already taken does not stop Clavis: the error is logged,
/// naming the key, and the public listener serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_metrics_port_is_logged_and_clavis_serves_on() {
    let dir = tempfile::tempdir().expect("dir");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let port = taken.local_addr().expect("addr").port();
    let db_url = format!("sqlite://{}", dir.path().join("clavis.db").display());
    let clavis = Clavis::spawn(
        dir.path(),
        &db_url,
        "",
        &format!("[metrics]\nlisten = \"127.0.0.1:{port}\""),
    )
    .ready_http()
    .await;
    let logged = eventually(Duration::from_secs(10), || async {
        clavis.logs().contains("cannot serve /metrics")
    })
    .await;
    assert!(logged, "{}", clavis.logs());
    assert!(
        clavis
            .logs()
            .contains(&format!("metrics.listen=127.0.0.1:{port}")),
        "{}",
        clavis.logs()
    );
    drop(taken);
}
