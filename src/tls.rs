//! TLS terminated by Clavis itself, when `server.tls_cert_file` and
//! `server.tls_key_file` are set (otherwise a reverse proxy terminates it,
//! docs/install.md).
//!
//! - TLS 1.2 and 1.3 only: rustls (ring) has nothing older to offer.
//! - The certificate chain and its key are read at start: a file that
//!   cannot be read or parsed, or a key that is not the certificate's, stops
//!   the start with a message naming the file and its key.
//! - They are read again on SIGHUP (`systemctl reload clavis`) and when
//!   either file changes (checked every second, so a renewal tool that
//!   replaces them needs no signal), without closing the listener: the
//!   listener's rustls configuration asks [`CertStore`] for the certificate
//!   at every handshake, and a reload swaps what it holds. Connections
//!   already open keep the certificate they started with. A new pair that
//!   does not load is logged as an error and the pair in use stays.

use anyhow::{Context, Result, anyhow, bail};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

/// How often the files are looked at for a change.
const POLL: Duration = Duration::from_secs(1);

/// The certificate in use and where it comes from; the listener's
/// certificate resolver.
pub struct CertStore {
    cert_file: PathBuf,
    key_file: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
}

// The key stays out of logs: only the file names are shown.
impl std::fmt::Debug for CertStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertStore")
            .field("cert_file", &self.cert_file)
            .field("key_file", &self.key_file)
            .finish_non_exhaustive()
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

impl CertStore {
    /// Reads the pair now; an error names the file (and its key) at fault.
    pub fn open(cert_file: &Path, key_file: &Path) -> Result<Self> {
        let pair = load(cert_file, key_file)?;
        Ok(Self {
            cert_file: cert_file.to_path_buf(),
            key_file: key_file.to_path_buf(),
            current: RwLock::new(Arc::new(pair)),
        })
    }

    /// The certificate and key served to new connections.
    pub fn current(&self) -> Arc<CertifiedKey> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Reads the files again: on success new connections get the new pair;
    /// otherwise the error is logged and the pair in use stays. `why` says
    /// what asked (for the log). Returns whether the new pair is in use.
    pub fn reload(&self, why: &str) -> bool {
        match load(&self.cert_file, &self.key_file) {
            Ok(pair) => {
                *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(pair);
                tracing::info!(tls.cert_file = %self.cert_file.display(), reason = why, "TLS certificate reloaded");
                true
            }
            Err(e) => {
                tracing::error!(
                    reason = why,
                    error = format!("{e:#}"),
                    "TLS certificate not reloaded: the previous one stays in use"
                );
                false
            }
        }
    }

    /// What the two files look like now (to notice a change).
    fn stamp(&self) -> (Option<FileStamp>, Option<FileStamp>) {
        (
            FileStamp::of(&self.cert_file),
            FileStamp::of(&self.key_file),
        )
    }
}

/// A file's modification time, length and inode: any replacement (written
/// in place, renamed over, a symbolic link pointed elsewhere) changes one.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileStamp(Option<SystemTime>, u64, u64);

impl FileStamp {
    fn of(path: &Path) -> Option<Self> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path).ok()?;
        Some(Self(m.modified().ok(), m.len(), m.ino()))
    }
}

/// The rustls configuration of the listener: TLS 1.3 and 1.2, no client
/// certificate, the certificate from `store` at each handshake (actix adds
/// the ALPN protocols).
pub fn server_config(store: Arc<CertStore>) -> rustls::ServerConfig {
    rustls::ServerConfig::builder_with_protocol_versions(&[
        &rustls::version::TLS13,
        &rustls::version::TLS12,
    ])
    .with_no_client_auth()
    .with_cert_resolver(store)
}

/// Reloads `store` on SIGHUP and when its files change, for as long as the
/// server runs. Without TLS (`None`), SIGHUP is still taken (it would
/// otherwise end the process) and only logged.
pub fn reload_on_signal_or_change(store: Option<Arc<CertStore>>) {
    let hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup());
    let mut hangup = match hangup {
        Ok(h) => h,
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP: TLS reloads on file change only");
            return;
        }
    };
    actix_web::rt::spawn(async move {
        let Some(store) = store else {
            while hangup.recv().await.is_some() {
                tracing::info!("SIGHUP: nothing to reload (no server.tls_cert_file)");
            }
            return;
        };
        let mut tick = tokio::time::interval(POLL);
        let mut seen = store.stamp();
        // A change is acted on once the files stopped changing for one
        // poll: a renewal that writes the certificate, then the key, is
        // read once, whole.
        let mut changed = false;
        loop {
            tokio::select! {
                got = hangup.recv() => {
                    if got.is_none() {
                        return;
                    }
                    store.reload("SIGHUP");
                    seen = store.stamp();
                    changed = false;
                }
                _ = tick.tick() => {
                    let now = store.stamp();
                    if now != seen {
                        seen = now;
                        changed = true;
                    } else if changed {
                        changed = false;
                        store.reload("file changed");
                    }
                }
            }
        }
    });
}

/// Reads a PEM certificate chain (the server's certificate first) and its
/// PEM private key (PKCS#8, PKCS#1 RSA or SEC1 EC), and checks that they
/// belong together.
pub fn load(cert_file: &Path, key_file: &Path) -> Result<CertifiedKey> {
    let cert_name = || format!("server.tls_cert_file ({})", cert_file.display());
    let key_name = || format!("server.tls_key_file ({})", key_file.display());
    let pem = std::fs::read(cert_file).with_context(|| format!("{}: cannot read", cert_name()))?;
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow!("{}: not PEM certificates: {e}", cert_name()))?;
    if chain.is_empty() {
        bail!(
            "{}: no certificate (expected PEM \"BEGIN CERTIFICATE\" blocks, the server's own first)",
            cert_name()
        );
    }
    let pem = std::fs::read(key_file).with_context(|| format!("{}: cannot read", key_name()))?;
    // The parser's own error is not shown: it may quote the file's lines.
    let key = PrivateKeyDer::from_pem_slice(&pem).map_err(|_| {
        anyhow!(
            "{}: no private key (expected a PEM PKCS#8, RSA or EC private key)",
            key_name()
        )
    })?;
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()));
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| anyhow!("{}: unusable private key: {e}", key_name()))?;
    let pair = CertifiedKey::new(chain, signing);
    match pair.keys_match() {
        Ok(()) => Ok(pair),
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => bail!(
            "{}: not the key of the certificate in {}",
            key_name(),
            cert_name()
        ),
        // The key cannot tell its public half: nothing to compare.
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => Ok(pair),
        Err(e) => bail!("{}: the certificate cannot be read: {e}", cert_name()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed certificate for localhost and its key, as PEM.
    fn pair() -> (String, String) {
        let c = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("cert");
        (c.cert.pem(), c.signing_key.serialize_pem())
    }

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).expect("write");
        p
    }

    #[test]
    fn a_good_pair_loads_and_each_bad_file_is_named() {
        let dir = tempfile::tempdir().expect("dir");
        let (cert, key) = pair();
        let (_, other_key) = pair();
        let c = write(dir.path(), "cert.pem", &cert);
        let k = write(dir.path(), "key.pem", &key);
        let store = CertStore::open(&c, &k).expect("a good pair");
        let debug = format!("{store:?}");
        assert!(
            debug.contains("key.pem") && !debug.contains("PRIVATE"),
            "{debug}"
        );

        let missing = dir.path().join("none.pem");
        let e = format!("{:#}", load(&missing, &k).expect_err("missing"));
        assert!(
            e.contains("server.tls_cert_file") && e.contains("none.pem"),
            "{e}"
        );
        let garbage = write(dir.path(), "garbage.pem", "not a certificate\n");
        let e = format!("{:#}", load(&garbage, &k).expect_err("garbage"));
        assert!(
            e.contains("server.tls_cert_file") && e.contains("garbage.pem"),
            "{e}"
        );
        let e = format!("{:#}", load(&c, &garbage).expect_err("no key"));
        assert!(
            e.contains("server.tls_key_file") && e.contains("garbage.pem"),
            "{e}"
        );
        let wrong = write(dir.path(), "wrong.pem", &other_key);
        let e = format!("{:#}", load(&c, &wrong).expect_err("mismatch"));
        assert!(
            e.contains("server.tls_key_file") && e.contains("wrong.pem") && e.contains("cert.pem"),
            "{e}"
        );
        // The key's text never shows in an error.
        assert!(!e.contains("PRIVATE KEY"), "{e}");
    }

    #[test]
    fn a_bad_new_pair_keeps_the_old_one_and_a_good_one_replaces_it() {
        let dir = tempfile::tempdir().expect("dir");
        let (cert, key) = pair();
        let c = write(dir.path(), "cert.pem", &cert);
        let k = write(dir.path(), "key.pem", &key);
        let store = CertStore::open(&c, &k).expect("pair");
        let first = store.current().cert[0].clone();
        // A renewal half written: the new certificate, the old key.
        let (cert2, key2) = pair();
        write(dir.path(), "cert.pem", &cert2);
        assert!(!store.reload("test"));
        assert_eq!(store.current().cert[0], first, "the old pair stays");
        write(dir.path(), "key.pem", &key2);
        assert!(store.reload("test"));
        assert_ne!(store.current().cert[0], first, "the new pair is served");
    }
}
