//! A session survives a restart of `clavis serve`: sessions live in the
//! database, never in the process. The real binary runs on a temporary
//! SQLite database; the session is opened through the library on the same
//! file (as a login would write it), checked over HTTP, the process is
//! killed, started again, and the same cookie still opens `/me`.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running `clavis serve`, killed when dropped.
pub(crate) struct Server(Child);

impl Server {
    /// Kills it at once (SIGKILL: no chance to finish anything).
    pub(crate) fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `clavis serve` with `config`, once it answers `/readyz` (20 s at most).
pub(crate) fn serve(config: &Path, port: u16) -> Server {
    let server = Server(
        Command::new(env!("CARGO_BIN_EXE_clavis"))
            .arg("--config")
            .arg(config)
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("serve starts"),
    );
    let up = clavis_testkit::wait_until(Duration::from_secs(20), || {
        get(port, "/readyz", None).is_some_and(|(s, _)| s == 200)
    });
    assert!(up, "clavis serve did not become ready");
    server
}

/// GET `path` on the server at `port` with an optional `Cookie` header:
/// the status and the body, or `None` when nothing answers (also used by
/// `notify.rs`).
pub(crate) fn get(port: u16, path: &str, cookie: Option<&str>) -> Option<(u16, String)> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let cookie = cookie
        .map(|c| format!("Cookie: {c}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\n{cookie}Connection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let status = buf.split_whitespace().nth(1)?.parse().ok()?;
    let body = buf.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
    Some((status, body))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_survives_a_restart_of_clavis_serve() {
    let dir = tempfile::tempdir().expect("dir");
    let port = clavis_testkit::free_port();
    let db_url = format!("sqlite://{}", dir.path().join("clavis.db").display());
    let config = dir.path().join("clavis.toml");
    std::fs::write(
        &config,
        format!(
            "state_dir = \"{state}\"\n[server]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"http://localhost:{port}\"\n[database]\nurl = \"{db_url}\"\n",
            state = dir.path().join("state").display(),
        ),
    )
    .expect("config");
    let first = serve(&config, port);
    // Claire signs in: her session written to the server's database.
    let db = clavis_store::Db::open(&db_url, 2).expect("the server's database");
    let oid = clavis_testkit::people::insert_person(
        &db,
        "Lemoine",
        "Claire",
        clavis_core::LifecycleStatus::Active,
    )
    .await;
    let cookie = crate::support::binary::open_session(&db, oid).await;
    let (status, body) = get(port, "/me", Some(&cookie)).expect("answer");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("Claire Lemoine"), "{body}");
    // Stopped hard (no chance to save anything on the way out)…
    drop(first);
    assert!(
        clavis_testkit::wait_until(Duration::from_secs(10), || get(port, "/readyz", None)
            .is_none()),
        "the first process is gone"
    );
    // …and started again: the same cookie is still signed in.
    let _second = serve(&config, port);
    let (status, body) = get(port, "/me", Some(&cookie)).expect("answer");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("Claire Lemoine"), "{body}");
    // A made-up cookie is not (the check above is not vacuous).
    let forged = format!("{}={}", clavis_sso::COOKIE_NAME, "x".repeat(43));
    assert_eq!(get(port, "/me", Some(&forged)).map(|(s, _)| s), Some(303));
}
