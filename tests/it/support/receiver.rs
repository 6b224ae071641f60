//! A stand-in for an application's back-channel logout endpoint: a
//! loopback HTTP listener that keeps each request's body and answers with
//! a status of the test's choosing.

use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Reads one request from `s`: its body, once `Content-Length` bytes of it
/// have come (`None` when the peer closed first).
async fn read_body(s: &mut tokio::net::TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).to_string();
        let Some((head, body)) = text.split_once("\r\n\r\n") else {
            continue;
        };
        let len: usize = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().parse().unwrap_or(0))
            })
            .unwrap_or(0);
        if body.len() >= len {
            return Some(body.to_string());
        }
    }
}

/// What a [`receiver`] got: every body, in order.
#[derive(Clone, Default)]
pub struct Received {
    bodies: Arc<Mutex<Vec<String>>>,
    arrived: Arc<tokio::sync::Notify>,
}

impl Received {
    /// The bodies received so far.
    pub fn bodies(&self) -> Vec<String> {
        self.bodies.lock().expect("lock").clone()
    }

    /// The first body, once it has come.
    pub async fn first(&self) -> String {
        loop {
            let arrived = self.arrived.notified();
            if let Some(b) = self.bodies().first() {
                return b.clone();
            }
            arrived.await;
        }
    }
}

/// A listener answering `status` to every request until the test ends:
/// (its URI, what it received).
pub async fn receiver(status: u16) -> (String, Received) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let received = Received::default();
    let kept = received.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let kept = kept.clone();
            tokio::spawn(async move {
                if let Some(body) = read_body(&mut s).await {
                    kept.bodies.lock().expect("lock").push(body);
                    kept.arrived.notify_waiters();
                    let _ = s
                        .write_all(
                            format!(
                                "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                            )
                            .as_bytes(),
                        )
                        .await;
                }
            });
        }
    });
    (
        format!("http://127.0.0.1:{}/backchannel", addr.port()),
        received,
    )
}

/// The `logout_token` of a back-channel request body, its claims decoded
/// (not verified).
pub fn logout_claims_unverified(body: &str) -> serde_json::Value {
    use base64::Engine;
    url::form_urlencoded::parse(body.as_bytes())
        .find(|(k, _)| k == "logout_token")
        .and_then(|(_, t)| {
            t.split('.').nth(1).and_then(|p| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(p)
                    .ok()
            })
        })
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(serde_json::Value::Null)
}
