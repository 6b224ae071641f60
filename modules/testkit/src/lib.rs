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

/// A free TCP port on 127.0.0.1 (bound then released), for a server a
/// test starts a moment later.
///
/// Taken below Linux's ephemeral range (32768–60999), from a counter this
/// process never hands out twice: a port the kernel gives for `bind(0)` is
/// from that range, and in the moment between its release and the
/// server's own bind, an outgoing connection of any test running at the
/// same time could be given it as its local port ("address already in
/// use" in the server, seen once in a browser scenario). Below the range,
/// only a listener can take it, and every listener of the suite takes its
/// port here.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 20_000;
    const COUNT: u32 = 12_000;
    // Each test binary starts elsewhere in the range (from its process
    // id): binaries run one after another, but a server of the last may
    // still be closing.
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let _ = NEXT.compare_exchange(
        u32::MAX,
        std::process::id().wrapping_mul(7919) % COUNT,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    for _ in 0..COUNT {
        let port = (FIRST + NEXT.fetch_add(1, Ordering::SeqCst) % COUNT) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port between {FIRST} and {}", FIRST + COUNT)
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
