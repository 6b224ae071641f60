//! A real haproxy (Debian package) on a loopback port, balancing round robin
//! over `clavis serve` nodes and checking each with `GET /readyz`: the
//! two-node test (`tests/it/cluster.rs`) and the OpenID bench on two nodes
//! (`benches/oidc_flows.rs`). Stopped when dropped.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running haproxy.
#[derive(Debug)]
pub struct Haproxy(Child);

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// haproxy on 127.0.0.1:`port` in front of the nodes listening on
/// 127.0.0.1:`nodes`, its configuration written in `dir`; returns once
/// `/readyz` answers 200 through it (panics after 10 s).
pub fn start(dir: &Path, port: u16, nodes: &[u16]) -> Haproxy {
    let cfg = dir.join("haproxy.cfg");
    let servers: String = nodes
        .iter()
        .enumerate()
        .map(|(i, p)| format!("  server n{i} 127.0.0.1:{p} check inter 300ms fall 2 rise 1\n"))
        .collect();
    std::fs::write(
        &cfg,
        format!(
            "global\n  maxconn 512\n\
             defaults\n  mode http\n  timeout connect 2s\n  timeout client 30s\n  timeout server 30s\n  retries 3\n  option redispatch\n  option forwardfor\n\
             frontend clavis\n  bind 127.0.0.1:{port}\n  default_backend nodes\n\
             backend nodes\n  balance roundrobin\n  option httpchk GET /readyz\n{servers}"
        ),
    )
    .expect("haproxy config");
    let p = Haproxy(
        Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("haproxy (scripts/test-services install) starts"),
    );
    assert!(
        crate::wait_until(Duration::from_secs(10), || {
            crate::http_status(port, "/readyz") == Some(200)
        }),
        "haproxy did not answer"
    );
    p
}
