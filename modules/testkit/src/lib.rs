//! Test-only helpers for Clavis (a dev-dependency, never shipped).
//!
//! - [`db`]: a fresh database per test, on SQLite (temp file) or on the
//!   PostgreSQL server started by `scripts/test` (`CLAVIS_TEST_PG_URL`).
//! - [`haproxy`]: a real load balancer in front of `clavis serve` nodes.
//! - [`slapd`]: a throwaway OpenLDAP server on a free loopback port, with a
//!   small schema carrying HR and Active-Directory-like attributes.
//!
//! Whatever a helper starts, it stops when dropped.

pub mod db;
pub mod haproxy;
pub mod pcscd;
pub mod people;
pub mod slapd;

/// Polls `check` until it returns true or `timeout` passes. Servers are
/// waited for this way, never with a fixed sleep.
pub fn wait_until(timeout: std::time::Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// A free TCP port on 127.0.0.1 (bound then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("the loopback interface can always give a free port")
}

/// The status of `GET path` on 127.0.0.1:`port`, if it answers (a bare
/// HTTP/1.1 request: readiness polls).
pub fn http_status(port: u16, path: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(2)))
        .ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    buf.split_whitespace().nth(1)?.parse().ok()
}
