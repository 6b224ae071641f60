//! PSC's metadata and keys, fetched over HTTPS and kept: the metadata for
//! an hour, the JWKS until a token names a key it does not hold (PSC
//! rotates its keys; the ANS's own connector re-fetches on an unknown
//! `kid`, and so does this one — once per unknown key: a key still missing
//! after a fetch is not asked for again for a minute).

use crate::{PscConfig, PscError};
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// What Clavis uses of PSC's metadata.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Metadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    #[serde(default)]
    pub userinfo_endpoint: Option<String>,
    pub jwks_uri: String,
    #[serde(default)]
    pub end_session_endpoint: Option<String>,
}

const METADATA_TTL: Duration = Duration::from_secs(3600);
/// How long PSC's keys are trusted without asking again (a key PSC
/// withdraws stops verifying within this time).
const JWKS_TTL: Duration = Duration::from_secs(3600);
/// How long a key PSC's JWKS did not hold, just fetched, is not fetched
/// for again.
const MISSING_KEY_QUIET: Duration = Duration::from_secs(60);
/// The largest answer read from PSC.
pub(crate) const MAX_BODY: usize = 256 * 1024;

#[derive(Debug, Default)]
struct Cache {
    metadata: Option<(Arc<Metadata>, Instant)>,
    jwks: Option<(Arc<Value>, Instant)>,
    /// A kid still missing from a fresh fetch, and when.
    missing: Option<(String, Instant)>,
}

/// The cached metadata and JWKS of PSC.
#[derive(Debug, Default)]
pub struct Discovery {
    cache: Mutex<Cache>,
}

/// Reads a JSON answer of at most [`MAX_BODY`] bytes.
pub(crate) async fn read_json(what: &str, resp: reqwest::Response) -> Result<Value, PscError> {
    let status = resp.status();
    let bytes = read_body(what, resp).await?;
    if !status.is_success() {
        let detail = String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned();
        return Err(PscError::Unreachable(format!(
            "{what}: HTTP {status}: {detail}"
        )));
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| PscError::Unreachable(format!("{what}: not JSON: {e}")))
}

/// Reads a body of at most [`MAX_BODY`] bytes.
pub(crate) async fn read_body(
    what: &str,
    mut resp: reqwest::Response,
) -> Result<Vec<u8>, PscError> {
    let mut out = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| PscError::Unreachable(format!("{what}: {e}")))?
    {
        if out.len() + chunk.len() > MAX_BODY {
            return Err(PscError::Unreachable(format!(
                "{what}: answer larger than {MAX_BODY} bytes"
            )));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

impl Discovery {
    /// PSC's metadata: from the cache, or fetched from the configured
    /// discovery URL (else the wallet path, then the standard one). Its
    /// `issuer` must be the configured one.
    pub async fn metadata(
        &self,
        http: &reqwest::Client,
        cfg: &PscConfig,
    ) -> Result<Arc<Metadata>, PscError> {
        let mut cache = self.cache.lock().await;
        if let Some((m, at)) = &cache.metadata
            && at.elapsed() < METADATA_TTL
        {
            return Ok(m.clone());
        }
        let mut last = String::new();
        for url in cfg.discovery_urls() {
            let resp = match http.get(&url).send().await {
                Ok(r) => r,
                Err(e) => {
                    last = format!("{url}: {e}");
                    continue;
                }
            };
            let v = match read_json(&url, resp).await {
                Ok(v) => v,
                Err(e) => {
                    // The wallet path failing (404, an error page): try
                    // the standard one.
                    last = e.to_string();
                    continue;
                }
            };
            let m: Metadata = serde_json::from_value(v)
                .map_err(|e| PscError::Unreachable(format!("{url}: metadata: {e}")))?;
            if m.issuer.trim_end_matches('/') != cfg.issuer.trim_end_matches('/') {
                return Err(PscError::Config(format!(
                    "psc.issuer: PSC's metadata at {url} names the issuer {:?}, not {:?}",
                    m.issuer, cfg.issuer
                )));
            }
            let m = Arc::new(m);
            cache.metadata = Some((m.clone(), Instant::now()));
            return Ok(m);
        }
        Err(PscError::Unreachable(format!("PSC metadata: {last}")))
    }

    /// PSC's JWKS: from the cache unless `kid` is given and missing from
    /// it (then fetched again, unless that very kid was missing from a
    /// fetch of the last minute).
    pub async fn jwks(
        &self,
        http: &reqwest::Client,
        metadata: &Metadata,
        kid: Option<&str>,
    ) -> Result<Arc<Value>, PscError> {
        let mut cache = self.cache.lock().await;
        if let Some((keys, at)) = &cache.jwks
            && at.elapsed() < JWKS_TTL
        {
            let has_kid = kid.is_none_or(|k| holds_kid(keys, k));
            let known_missing = cache
                .missing
                .as_ref()
                .is_some_and(|(m, at)| Some(m.as_str()) == kid && at.elapsed() < MISSING_KEY_QUIET);
            if has_kid || known_missing {
                return Ok(keys.clone());
            }
        }
        let resp = http
            .get(&metadata.jwks_uri)
            .send()
            .await
            .map_err(|e| PscError::Unreachable(format!("{}: {e}", metadata.jwks_uri)))?;
        let v = read_json(&metadata.jwks_uri, resp).await?;
        if !v.get("keys").is_some_and(Value::is_array) {
            return Err(PscError::Unreachable(format!(
                "{}: not a JWK Set",
                metadata.jwks_uri
            )));
        }
        let v = Arc::new(v);
        cache.missing = kid
            .filter(|k| !holds_kid(&v, k))
            .map(|k| (k.to_string(), Instant::now()));
        cache.jwks = Some((v.clone(), Instant::now()));
        Ok(v)
    }

    /// Whether the JWKS was loaded (for `clavis psc status`), and how
    /// many keys it holds.
    pub async fn loaded_keys(&self) -> Option<usize> {
        let cache = self.cache.lock().await;
        cache
            .jwks
            .as_ref()
            .map(|(v, _)| v.get("keys").and_then(Value::as_array).map_or(0, Vec::len))
    }
}

fn holds_kid(jwks: &Value, kid: &str) -> bool {
    jwks.get("keys")
        .and_then(Value::as_array)
        .is_some_and(|keys| {
            keys.iter()
                .any(|k| k.get("kid").and_then(Value::as_str) == Some(kid))
        })
}
