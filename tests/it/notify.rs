//! `clavis serve` speaks systemd's notify protocol (sd_notify(3)), as its
//! unit asks (`Type=notify`, `WatchdogSec=`): the real binary is started the
//! way systemd starts it, with `NOTIFY_SOCKET` naming a datagram socket of
//! the test's and `WATCHDOG_USEC` set. It says `READY=1` only once `/readyz`
//! answers, pings `WATCHDOG=1` while it runs, and says `STOPPING=1` as soon
//! as SIGTERM asks it to stop, then exits cleanly.

use super::restart::get;
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::Duration;

/// The next message on `socket`, as text (panics after the socket's read
/// timeout).
fn next(socket: &UnixDatagram) -> String {
    let mut buf = [0u8; 4096];
    let n = socket.recv(&mut buf).expect("a notification in time");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn serve_says_ready_pings_the_watchdog_and_says_stopping() {
    let dir = tempfile::tempdir().expect("dir");
    let port = clavis_testkit::free_port();
    let config = dir.path().join("clavis.toml");
    std::fs::write(
        &config,
        format!(
            "state_dir = \"{state}\"\n[server]\nlisten = \"127.0.0.1:{port}\"\n",
            state = dir.path().join("state").display(),
        ),
    )
    .expect("config");
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).expect("notify socket");
    socket
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let stdout = dir.path().join("stdout.log");
    let mut serve = Command::new(env!("CARGO_BIN_EXE_clavis"))
        .arg("--config")
        .arg(&config)
        .arg("serve")
        .env("NOTIFY_SOCKET", &socket_path)
        // WatchdogSec=200ms: a ping every 100 ms.
        .env("WATCHDOG_USEC", "200000")
        .env_remove("WATCHDOG_PID")
        .env("CLAVIS_LANG", "fr")
        .stdout(std::fs::File::create(&stdout).expect("stdout"))
        .stderr(Stdio::null())
        .spawn()
        .expect("serve starts");

    // The first word is READY=1, with a status line; on a fresh database it
    // names the next step.
    let ready = next(&socket);
    assert!(ready.lines().any(|l| l == "READY=1"), "{ready:?}");
    let status = ready
        .lines()
        .find_map(|l| l.strip_prefix("STATUS="))
        .expect("a status line");
    assert!(status.contains(&format!(":{port}")), "{status}");
    assert!(status.contains("clavis admin bootstrap"), "{status}");
    // Ready means ready: /readyz answers now, without waiting.
    assert_eq!(get(port, "/readyz", None).map(|(s, _)| s), Some(200));

    // Then the watchdog is fed, again and again.
    for _ in 0..3 {
        assert_eq!(next(&socket), "WATCHDOG=1\n");
    }

    // SIGTERM: STOPPING=1 (pings may still come before it), then a clean exit.
    let term = Command::new("kill")
        .args(["-TERM", &serve.id().to_string()])
        .status()
        .expect("kill");
    assert!(term.success());
    let mut after_term = Vec::new();
    loop {
        let message = next(&socket);
        if message == "STOPPING=1\n" {
            break;
        }
        assert_eq!(message, "WATCHDOG=1\n", "before STOPPING=1: {after_term:?}");
        after_term.push(message);
    }
    let exit = serve.wait().expect("serve exits");
    assert!(exit.success(), "{exit:?}");
    let printed = std::fs::read_to_string(&stdout).expect("stdout");
    assert!(
        printed.contains("clavis admin bootstrap --identity OID"),
        "{printed}"
    );
}
