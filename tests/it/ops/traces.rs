//! OpenTelemetry traces, received over OTLP/HTTP by a receiver that
//! decodes them with the OpenTelemetry project's own protocol definitions
//! (`tests/otlp/receiver.py`, the `opentelemetry-proto` package): a login
//! (its start and its answer), an OpenID flow (the authorisation that
//! issues the code, the token exchange, the signature) and a sync run are
//! each one trace; each request's root span is named after its route and
//! carries the request id of its `X-Request-Id` and of its audit events.
//! A collector that is down costs spans, not service.

use super::{Clavis, begin_login, code_flow, eventually, http_client, refused_finish, request_id};
use crate::support::binary::{Proc, clavis};
use crate::support::on_both_backends;
use clavis_testkit::db::{Backend, TestDb};
use serde_json::Value;
use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

on_both_backends!(a_login_an_openid_flow_and_a_sync_run_are_each_one_trace);

/// The receiver's Python, in the virtual environment
/// `scripts/test-services install` makes.
fn python() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/otlp/.venv/bin/python")
}

/// A running OTLP receiver on a loopback port, stopped when dropped.
struct Receiver {
    _proc: Proc,
    port: u16,
}

fn receiver() -> Receiver {
    let mut child = Command::new(python())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/otlp/receiver.py"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the OTLP receiver starts (scripts/test-services install makes its venv)");
    let stdout = child.stdout.take().expect("stdout");
    let proc = Proc(child);
    // Its first line names its port; wait for it, 30 s at most.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the receiver says its port");
    let port = line
        .trim()
        .strip_prefix("listening ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    Receiver { _proc: proc, port }
}

/// Every span the receiver got so far.
async fn spans(http: &reqwest::Client, port: u16) -> Vec<Value> {
    let r = http
        .get(format!("http://127.0.0.1:{port}/spans"))
        .send()
        .await
        .expect("the receiver answers");
    r.json().await.expect("JSON")
}

/// The spans named `name`.
fn named<'a>(spans: &'a [Value], name: &str) -> Vec<&'a Value> {
    spans.iter().filter(|s| s["name"] == name).collect()
}

/// The root span of the request whose `X-Request-Id` is `id`.
fn request_span<'a>(spans: &'a [Value], id: &str) -> Option<&'a Value> {
    spans
        .iter()
        .find(|s| s["attributes"]["request.id"] == id && s["parent_span_id"] == "")
}

/// The spans of trace `trace`.
fn of_trace<'a>(spans: &'a [Value], trace: &Value) -> Vec<&'a Value> {
    spans.iter().filter(|s| s["trace_id"] == *trace).collect()
}

/// Waits (30 s at most) until the receiver holds spans for which `ready`
/// is true, and hands them over.
async fn received(
    http: &reqwest::Client,
    port: u16,
    what: &str,
    ready: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let got = eventually(Duration::from_secs(30), || async {
        ready(&spans(http, port).await)
    })
    .await;
    let all = spans(http, port).await;
    assert!(got, "{what} never arrived; received:\n{all:#?}");
    all
}

async fn a_login_an_openid_flow_and_a_sync_run_are_each_one_trace(backend: Backend) {
    let t = TestDb::new(backend).await;
    let dir = tempfile::tempdir().expect("dir");
    let otlp = receiver();
    let csv = dir.path().join("rh.csv");
    std::fs::write(
        &csv,
        "Matricule;Nom de naissance;Prénoms;Date de naissance\nE001;Roy;Ana;1990-04-03\nE002;Moreau;Luc;1985-11-20\n",
    )
    .expect("csv");
    let traces = format!(
        r#"[metrics]
enabled = false
[traces]
enabled = true
endpoint = "http://127.0.0.1:{port}/v1/traces"
sample_ratio = 1.0
service_name = "clavis-test"
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
        port = otlp.port,
        csv = csv.display(),
    );
    // Batches leave every 100 ms instead of 5 s: the test waits less.
    let server = Clavis::spawn_with(
        dir.path(),
        &t.url,
        "",
        &traces,
        &[("OTEL_BSP_SCHEDULE_DELAY", "100")],
    )
    .ready_http()
    .await;
    let http = http_client();
    let base = server.base();

    // A login: its start, then an answer signed by no known key.
    let r = http
        .post(format!("{base}/login/begin"))
        .json(&serde_json::json!({}))
        .send()
        .await
        .expect("begin");
    let begin_id = request_id(&r);
    let ceremony: Value = r.json().await.expect("json");
    let ceremony = ceremony["ceremony"]
        .as_str()
        .expect("a ceremony")
        .to_string();
    let finish = refused_finish(&http, &base, &ceremony, &[]).await;
    assert_eq!(finish.status().as_u16(), 401);
    let finish_id = request_id(&finish);

    let all = received(&http, otlp.port, "the login's spans", |s| {
        request_span(s, &begin_id).is_some()
            && request_span(s, &finish_id).is_some()
            && !named(s, "login.fido2.verify").is_empty()
    })
    .await;
    let begin = request_span(&all, &begin_id).expect("begin's root");
    assert_eq!(begin["name"], "POST /login/begin");
    assert_eq!(begin["attributes"]["http.response.status_code"], 200);
    assert_eq!(begin["kind"], 2, "a server span: {begin}");
    assert_eq!(begin["resource"]["service.name"], "clavis-test");
    let login = of_trace(&all, &begin["trace_id"]);
    let finished = login
        .iter()
        .find(|s| s["name"] == "login.fido2.finish")
        .unwrap_or_else(|| panic!("the finish is in the start's trace: {login:#?}"));
    // It carries the finish request's id and links to its root span.
    let finish_root = request_span(&all, &finish_id).expect("finish's root");
    assert_eq!(finish_root["attributes"]["http.response.status_code"], 401);
    assert_eq!(finished["attributes"]["request.id"], finish_id.as_str());
    assert_eq!(finished["links"][0]["span_id"], finish_root["span_id"]);
    let verify = login
        .iter()
        .find(|s| s["name"] == "login.fido2.verify")
        .expect("the signature check, in the same trace");
    assert_eq!(verify["parent_span_id"], finished["span_id"]);
    assert!(
        login.iter().any(|s| s["name"] == "login.fido2.begin"),
        "{login:#?}"
    );

    // An unknown client's id, and an unusual method, are not what a span
    // holds: a client does not choose it.
    let junk = format!("junk-client-{}", "x".repeat(2000));
    let unknown = http
        .get(format!("{base}/oidc/authorize"))
        .query(&[("client_id", junk.as_str()), ("response_type", "code")])
        .send()
        .await
        .expect("authorize");
    assert_eq!(unknown.status().as_u16(), 400);
    let unknown_id = request_id(&unknown);
    let odd = http
        .request(
            reqwest::Method::from_bytes(b"BREW").expect("method"),
            format!("{base}/readyz"),
        )
        .send()
        .await
        .expect("an answer");
    let odd_id = request_id(&odd);

    // An OpenID flow: the exchange and the signature continue the trace of
    // the authorisation that issued the code.
    let seq = crate::support::audit::last_seq(&t.db).await;
    let flow = code_flow(dir.path(), &t.db, &base).await;
    assert_eq!(flow.token_status, 200);
    let all = received(&http, otlp.port, "the OpenID flow's spans", |s| {
        request_span(s, &flow.authorize_request_id).is_some()
            && request_span(s, &flow.token_request_id).is_some()
            && !named(s, "oidc.sign").is_empty()
    })
    .await;
    let authorize = request_span(&all, &flow.authorize_request_id).expect("authorize");
    assert_eq!(authorize["name"], "GET /oidc/authorize");
    let trace = of_trace(&all, &authorize["trace_id"]);
    let names: Vec<&str> = trace.iter().filter_map(|s| s["name"].as_str()).collect();
    for want in [
        "oidc.authorize",
        "oidc.code_exchange",
        "oidc.sign",
        "db.transaction",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    let exchange = trace
        .iter()
        .find(|s| s["name"] == "oidc.code_exchange")
        .expect("exchange");
    let issued_in = trace
        .iter()
        .find(|s| s["name"] == "oidc.authorize")
        .expect("authorize span");
    assert_eq!(exchange["parent_span_id"], issued_in["span_id"]);
    assert_eq!(
        exchange["attributes"]["request.id"],
        flow.token_request_id.as_str()
    );
    assert_eq!(
        exchange["attributes"]["oidc.client_id"],
        flow.client_id.as_str()
    );
    let sign = trace
        .iter()
        .find(|s| s["name"] == "oidc.sign")
        .expect("sign");
    assert_eq!(sign["parent_span_id"], exchange["span_id"]);
    // The audit events of the token request carry the same request id.
    let events = crate::support::audit::events_after(&t.db, seq).await;
    let mut conn = t.db.conn().await.expect("conn");
    let rows = clavis_store::models::AuditEventRow::page(&mut conn, seq, 1000)
        .await
        .expect("audit");
    assert!(
        rows.iter()
            .any(|e| e.request_id.as_deref() == Some(flow.token_request_id.as_str())),
        "no audit event of the token request carries its id: {events:#?}"
    );
    // No token, code or secret in any span, and no log line (the refused
    // login's warning names the client's address): spans only.
    let text = serde_json::to_string(&all).expect("json");
    let refused = request_span(&all, &unknown_id).expect("the refused authorisation's root");
    assert_eq!(refused["attributes"]["http.response.status_code"], 400);
    assert!(
        !text.contains("junk-client-"),
        "a client chose what a span holds"
    );
    let odd = request_span(&all, &odd_id).expect("the odd method's root");
    assert_eq!(odd["attributes"]["http.method"], "_OTHER");
    assert!(!text.contains("BREW"), "a client chose a span's name");
    assert!(!text.contains(&flow.code), "the code leaked into a span");
    assert!(!text.contains(&ceremony), "the ceremony leaked into a span");
    assert!(
        !text.contains("127.0.0.1"),
        "an address reached the collector"
    );
    assert!(
        all.iter().all(|s| s["events"] == serde_json::json!([])),
        "log lines reached the collector"
    );

    // A sync run from the command line: one trace, sent before it exits.
    let config = dir.path().join("clavis.toml");
    let out = clavis(&config, &["sync", "--source", "rh"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all = received(&http, otlp.port, "the sync run's spans", |s| {
        !named(s, "directory.sync").is_empty()
    })
    .await;
    let run = named(&all, "directory.sync");
    assert_eq!(run.len(), 1, "{run:#?}");
    let run = run[0];
    assert_eq!(run["parent_span_id"], "", "the run is its trace's root");
    assert_eq!(run["attributes"]["sync.source"], "rh");
    let sync = of_trace(&all, &run["trace_id"]);
    let roots = sync.iter().filter(|s| s["parent_span_id"] == "").count();
    assert_eq!(roots, 1, "{sync:#?}");
    assert!(
        sync.iter().any(|s| s["name"] == "directory.page"),
        "{sync:#?}"
    );
    assert!(
        sync.iter().any(|s| s["name"] == "db.transaction"),
        "{sync:#?}"
    );
}

/// A collector that is down: logins are answered as usual, and Clavis
/// says once that spans are lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_that_is_down_costs_spans_not_service() {
    let dir = tempfile::tempdir().expect("dir");
    let closed = clavis_testkit::free_port();
    let db_url = format!("sqlite://{}", dir.path().join("clavis.db").display());
    let server = Clavis::spawn_with(
        dir.path(),
        &db_url,
        "",
        &format!(
            "[metrics]\nenabled = false\n[traces]\nenabled = true\nendpoint = \"http://127.0.0.1:{closed}/v1/traces\"\nsample_ratio = 1.0\ntimeout_secs = 1\n"
        ),
        &[("OTEL_BSP_SCHEDULE_DELAY", "100")],
    )
    .ready_http()
    .await;
    let http = http_client();
    let base = server.base();
    for _ in 0..5 {
        let (status, ceremony) = begin_login(&http, &base, &[]).await;
        assert_eq!(status, 200);
        assert!(ceremony.is_some());
    }
    let said = eventually(Duration::from_secs(30), || async {
        server
            .logs()
            .contains("the collector did not take the spans")
    })
    .await;
    assert!(said, "{}", server.logs());
}
