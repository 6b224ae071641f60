//! Clavis terminating TLS itself (`server.tls_cert_file`,
//! `server.tls_key_file`): HTTPS answers with a certificate of the test's
//! own CA; TLS 1.1 is refused (1.2 accepted, by the same client, so the
//! refusal is the server's); a new certificate is served after SIGHUP and
//! after the files merely change, without a restart; a bad new one keeps
//! the old one in service; a bad one at start stops the start, naming the
//! file.

use super::{Clavis, eventually};
use crate::support::binary::clavis;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// A throwaway certificate authority.
struct Ca {
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    pem: String,
}

impl Ca {
    fn new() -> Ca {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Clavis test CA");
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("CA certificate");
        Ca {
            pem: cert.pem(),
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    /// A new server certificate for localhost and 127.0.0.1, with a key of
    /// its own: (certificate PEM, key PEM, certificate DER).
    fn server(&self) -> (String, String, Vec<u8>) {
        let params = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
            .expect("params");
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &self.issuer).expect("certificate");
        (cert.pem(), key.serialize_pem(), cert.der().to_vec())
    }
}

/// Writes a server certificate and its key where Clavis reads them; the
/// certificate's DER.
fn install(ca: &Ca, dir: &Path) -> Vec<u8> {
    let (cert, key, der) = ca.server();
    std::fs::write(dir.join("cert.pem"), cert).expect("cert");
    std::fs::write(dir.join("key.pem"), key).expect("key");
    der
}

/// The certificate Clavis serves on a new connection (DER), if an HTTPS
/// `GET /readyz` trusting only `ca` answers 200.
async fn served(ca: &Ca, port: u16) -> Option<Vec<u8>> {
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca.pem.as_bytes()).expect("ca"))
        .tls_built_in_root_certs(false)
        .tls_info(true)
        .resolve("localhost", ([127, 0, 0, 1], port).into())
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let r = client
        .get(format!("https://localhost:{port}/readyz"))
        .send()
        .await
        .ok()?;
    if r.status().as_u16() != 200 {
        return None;
    }
    r.extensions()
        .get::<reqwest::tls::TlsInfo>()?
        .peer_certificate()
        .map(<[u8]>::to_vec)
}

/// `openssl s_client` offering only `version` (`-tls1_1`, `-tls1_2`), at
/// the lowest security level so that the client itself would agree to
/// TLS 1.1: whether the handshake succeeded, and what openssl said.
fn handshake(port: u16, ca_file: &Path, version: &str) -> (bool, String) {
    let out = Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
        .args([
            "-servername",
            "localhost",
            version,
            "-cipher",
            "DEFAULT:@SECLEVEL=0",
        ])
        .arg("-CAfile")
        .arg(ca_file)
        .arg("-verify_return_error")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("openssl runs (scripts/test-services install puts it there)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clavis_serves_tls_1_2_and_up_and_takes_a_new_certificate_without_restarting() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = Ca::new();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ca.pem).expect("ca");
    let first = install(&ca, dir.path());
    let db_url = format!("sqlite://{}", dir.path().join("clavis.db").display());
    let tls = format!(
        "tls_cert_file = \"{c}\"\ntls_key_file = \"{k}\"",
        c = dir.path().join("cert.pem").display(),
        k = dir.path().join("key.pem").display(),
    );
    let clavis = Clavis::spawn(dir.path(), &db_url, &tls, "[metrics]\nenabled = false");
    let port = clavis.port;
    let mut clavis = clavis
        .ready(|| async { served(&ca, port).await.is_some() })
        .await;
    assert_eq!(served(&ca, port).await, Some(first.clone()));
    // Plain HTTP on the same port is no way in.
    assert_ne!(
        crate::support::binary::http_status(port, "/readyz"),
        Some(200)
    );

    // TLS 1.2 yes; TLS 1.1 no, refused by Clavis (the same client offering
    // 1.2 got through).
    let (ok, text) = handshake(port, &ca_file, "-tls1_2");
    assert!(ok && text.contains("TLSv1.2"), "{text}");
    let (ok, text) = handshake(port, &ca_file, "-tls1_1");
    assert!(!ok, "TLS 1.1 was accepted:\n{text}");
    // openssl did offer TLS 1.1 (it names the session's protocol), and
    // Clavis answered with an alert (rustls: no suite of 1.1 in common).
    assert!(
        text.contains("Protocol  : TLSv1.1") && text.contains("SSL alert number"),
        "TLS 1.1 refused without its being offered, or not by Clavis:\n{text}"
    );

    // A renewed certificate and SIGHUP: served on the next connection.
    let second = install(&ca, dir.path());
    let hup = Command::new("kill")
        .args(["-HUP", &clavis.proc.0.id().to_string()])
        .status()
        .expect("kill");
    assert!(hup.success());
    let renewed = eventually(Duration::from_secs(10), || async {
        served(&ca, port).await.as_ref() == Some(&second)
    })
    .await;
    assert!(
        renewed,
        "the new certificate is not served:\n{}",
        clavis.logs()
    );

    // A broken certificate file: logged, and the previous one stays.
    std::fs::write(dir.path().join("cert.pem"), "not a certificate\n").expect("cert");
    let logged = eventually(Duration::from_secs(10), || async {
        clavis.logs().contains("TLS certificate not reloaded")
    })
    .await;
    assert!(logged, "no error logged:\n{}", clavis.logs());
    assert!(clavis.logs().contains("cert.pem"), "{}", clavis.logs());
    assert_eq!(served(&ca, port).await, Some(second.clone()));

    // Files replaced again, no signal: the change itself is noticed.
    let third = install(&ca, dir.path());
    let renewed = eventually(Duration::from_secs(10), || async {
        served(&ca, port).await.as_ref() == Some(&third)
    })
    .await;
    assert!(
        renewed,
        "the changed files were not read:\n{}",
        clavis.logs()
    );
    // The same process all along.
    assert!(matches!(clavis.proc.0.try_wait(), Ok(None)));
    assert!(!clavis.logs().contains("PRIVATE KEY"), "{}", clavis.logs());
}

#[test]
fn a_bad_certificate_at_start_stops_the_start_and_names_the_file() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = Ca::new();
    install(&ca, dir.path());
    let (_, other_key, _) = ca.server();
    std::fs::write(dir.path().join("other.key"), other_key).expect("key");
    let config = dir.path().join("clavis.toml");
    let start = |cert: &str, key: &str| {
        std::fs::write(
            &config,
            format!(
                "state_dir = \"{s}\"\n[server]\nlisten = \"127.0.0.1:{p}\"\ntls_cert_file = \"{c}\"\ntls_key_file = \"{k}\"\n[metrics]\nenabled = false\n",
                s = dir.path().join("state").display(),
                p = clavis_testkit::free_port(),
                c = dir.path().join(cert).display(),
                k = dir.path().join(key).display(),
            ),
        )
        .expect("config");
        clavis(&config, &["serve"])
    };
    // Missing certificate, a key that is not the certificate's: each
    // stops the start with the key and the file to fix.
    let out = start("missing.pem", "key.pem");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("server.tls_cert_file") && err.contains("missing.pem"),
        "{err}"
    );
    let out = start("cert.pem", "other.key");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("server.tls_key_file") && err.contains("other.key"),
        "{err}"
    );
    assert!(!err.contains("PRIVATE KEY"), "{err}");
    // One without the other is a configuration error, before anything runs.
    std::fs::write(
        &config,
        "[server]\ntls_cert_file = \"/etc/clavis/tls/clavis.crt\"\n",
    )
    .expect("config");
    let out = clavis(&config, &["check-config"]);
    assert_eq!(out.status.code(), Some(2));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("server.tls_key_file"), "{text}");
}
