//! Clavis behind a real nginx running the shipped example
//! (`docs/nginx/clavis-proxy.conf`, included as it is), with
//! `server.trusted_proxies = ["127.0.0.1"]`: the client's address is what
//! nginx appends to `X-Forwarded-For`, so two workstations behind the same
//! proxy are throttled apart (`server.login_starts_per_minute`), whatever
//! address they claim themselves; a peer that is not a trusted proxy is
//! itself the client, whatever header it sends. Throttling and the audit
//! log agree.
//!
//! The clients are told apart by their source address on loopback
//! (127.0.0.2, 127.0.0.3…: Linux routes all of 127.0.0.1 there), as two
//! workstations would be by theirs.

use super::{Clavis, STARTUP, begin_login, eventually, is_root, refused_finish};
use crate::support::binary::Proc;
use crate::support::on_both_backends;
use clavis_testkit::db::{Backend, TestDb};
use serde_json::{Value, json};
use std::net::IpAddr;
use std::path::Path;
use std::process::{Command, Stdio};

on_both_backends!(
    clients_behind_nginx_are_throttled_apart_and_a_forged_forwarded_for_counts_for_nothing
);

/// The example shipped in docs/, as the tests include it.
const SNIPPET: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/nginx/clavis-proxy.conf");

/// A running nginx, stopped when dropped.
struct Nginx {
    _proc: Proc,
    port: u16,
}

/// Starts nginx in `dir` (its prefix: configuration, pid, logs and
/// temporary files) on a free loopback port, passing to Clavis on
/// `upstream` through the shipped snippet.
fn nginx(dir: &Path, upstream: u16) -> Nginx {
    let port = clavis_testkit::free_port();
    // Run as root (CI), nginx's workers become `nobody`: they must reach
    // their temporary folders. As anyone else, everything runs as them.
    let user = if is_root(dir) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        "user nobody nogroup;"
    } else {
        ""
    };
    for temp in ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"] {
        let path = dir.join(temp);
        std::fs::create_dir_all(&path).expect("temp dir");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    }
    let d = dir.display();
    let conf = format!(
        "daemon off;\n{user}\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log info;\n\
         events {{ worker_connections 64; }}\n\
         http {{\n\
           access_log {d}/access.log;\n\
           client_body_temp_path {d}/client_body;\n\
           proxy_temp_path {d}/proxy;\n\
           fastcgi_temp_path {d}/fastcgi;\n\
           uwsgi_temp_path {d}/uwsgi;\n\
           scgi_temp_path {d}/scgi;\n\
           upstream clavis {{ server 127.0.0.1:{upstream}; keepalive 4; }}\n\
           server {{\n\
             listen 127.0.0.1:{port};\n\
             server_name localhost;\n\
             include {SNIPPET};\n\
           }}\n\
         }}\n"
    );
    let conf_path = dir.join("nginx.conf");
    std::fs::write(&conf_path, conf).expect("nginx.conf");
    let proc = Proc(
        Command::new("/usr/sbin/nginx")
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(&conf_path)
            .arg("-e")
            .arg(dir.join("error.log"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("nginx.stderr")).expect("stderr"))
            .spawn()
            .expect("nginx starts (scripts/test-services install puts it there)"),
    );
    Nginx { _proc: proc, port }
}

/// An HTTP client whose connections come from `source`.
fn client_from(source: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(source.parse::<IpAddr>().expect("address"))
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .expect("client")
}

/// `POST /login/begin` at `base`, claiming `forwarded` as
/// `X-Forwarded-For`: the status, and the ceremony when one started.
async fn begin(
    client: &reqwest::Client,
    base: &str,
    forwarded: Option<&str>,
) -> (u16, Option<String>) {
    match forwarded {
        Some(f) => begin_login(client, base, &[("X-Forwarded-For", f)]).await,
        None => begin_login(client, base, &[]).await,
    }
}

async fn clients_behind_nginx_are_throttled_apart_and_a_forged_forwarded_for_counts_for_nothing(
    backend: Backend,
) {
    let t = TestDb::new(backend).await;
    let dir = tempfile::tempdir().expect("dir");
    let clavis = Clavis::spawn(
        dir.path(),
        &t.url,
        "trusted_proxies = [\"127.0.0.1\"]\nlogin_starts_per_minute = 3",
        "[metrics]\nenabled = false",
    )
    .ready_http()
    .await;
    let nginx_dir = dir.path().join("nginx");
    std::fs::create_dir(&nginx_dir).expect("nginx dir");
    let nginx = nginx(&nginx_dir, clavis.port);
    let proxied = format!("http://127.0.0.1:{}", nginx.port);
    let direct = clavis.base();
    let probe = client_from("127.0.0.1");
    let up = eventually(STARTUP, || {
        let probe = probe.clone();
        let url = format!("{proxied}/readyz");
        async move {
            probe
                .get(url)
                .send()
                .await
                .is_ok_and(|r| r.status().as_u16() == 200)
        }
    })
    .await;
    assert!(
        up,
        "nginx did not pass /readyz to Clavis:\n{}",
        std::fs::read_to_string(nginx_dir.join("error.log")).unwrap_or_default()
    );

    // Workstation A (127.0.0.2) through nginx, claiming another address
    // each time: counted as 127.0.0.2, its three starts used up.
    let a = client_from("127.0.0.2");
    for i in 0..3 {
        let claimed = format!("203.0.113.{i}");
        assert_eq!(
            begin(&a, &proxied, Some(&claimed)).await.0,
            200,
            "start {i}"
        );
    }
    assert_eq!(begin(&a, &proxied, Some("203.0.113.99")).await.0, 429);
    assert_eq!(begin(&a, &proxied, None).await.0, 429);
    // Workstation B (127.0.0.3), same proxy: its own allowance.
    let b = client_from("127.0.0.3");
    assert_eq!(begin(&b, &proxied, None).await.0, 200);
    // Its requests are logged under nginx's id, not one it chose.
    let r = b
        .get(format!("{proxied}/healthz"))
        .header("X-Request-Id", "chosen-by-the-client")
        .send()
        .await
        .expect("an answer");
    let id = r
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(
        id.len() == 32 && id.bytes().all(|c| c.is_ascii_hexdigit()),
        "not nginx's $request_id: {id:?}"
    );

    // A peer that is no trusted proxy (127.0.0.4), straight to Clavis,
    // forging a new address each time: counted as itself all the same.
    let forger = client_from("127.0.0.4");
    for i in 0..3 {
        let forged = format!("198.51.100.{i}");
        assert_eq!(
            begin(&forger, &direct, Some(&forged)).await.0,
            200,
            "start {i}"
        );
    }
    assert_eq!(begin(&forger, &direct, Some("198.51.100.77")).await.0, 429);

    // The audit log holds the same addresses: a refused login through
    // nginx from 127.0.0.5 (claiming 203.0.113.50), and one straight from
    // 127.0.0.6 (forging 203.0.113.51).
    let before = crate::support::audit::last_seq(&t.db).await;
    let c = client_from("127.0.0.5");
    let (status, ceremony) = begin(&c, &proxied, Some("203.0.113.50")).await;
    assert_eq!(status, 200);
    let ceremony = ceremony.expect("a ceremony");
    let claimed = [("X-Forwarded-For", "203.0.113.50")];
    let r = refused_finish(&c, &proxied, &ceremony, &claimed).await;
    assert_eq!(r.status().as_u16(), 401);
    let d = client_from("127.0.0.6");
    let (status, ceremony) = begin(&d, &direct, Some("203.0.113.51")).await;
    assert_eq!(status, 200);
    let ceremony = ceremony.expect("a ceremony");
    let forged = [("X-Forwarded-For", "203.0.113.51")];
    let r = refused_finish(&d, &direct, &ceremony, &forged).await;
    assert_eq!(r.status().as_u16(), 401);
    let refused: Vec<Value> = crate::support::audit::events_after(&t.db, before)
        .await
        .into_iter()
        .filter(|e| e["action"] == "login.failed")
        .map(|e| e["client_addr"].clone())
        .collect();
    assert_eq!(refused, vec![json!("127.0.0.5"), json!("127.0.0.6")]);
    drop(clavis);
}
