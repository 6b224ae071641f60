//! LDAP source: OpenLDAP, an SI-RH's directory, or Active Directory.
//!
//! Paged results (RFC 2696) so that server size limits (AD: 1000 per page)
//! never truncate a run; incremental runs filter on the change marker
//! (`modifyTimestamp>=…` or `uSNChanged>=…`); TLS through rustls (ring) with
//! the system roots or a configured CA file.

use super::{DirectorySource, FetchRequest, Page, PageStream, SourceError, max_marker};
use crate::config::{CursorAttribute, SourceConfig};
use crate::mapping::RawEntry;
use async_trait::async_trait;
use ldap3::adapters::{EntriesOnly, PagedResults};
use ldap3::{LdapConnAsync, LdapConnSettings, Scope, SearchEntry};
use rustls_pki_types::pem::PemObject;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// An LDAP directory source.
#[derive(Debug)]
pub struct LdapSource {
    config: SourceConfig,
}

impl LdapSource {
    /// A source for this configuration.
    pub fn new(config: SourceConfig) -> Self {
        Self { config }
    }

    fn err_config(&self, detail: impl Into<String>) -> SourceError {
        SourceError::Config {
            source_name: self.config.name.clone(),
            detail: detail.into(),
        }
    }

    fn bind_password(&self) -> Result<Option<String>, SourceError> {
        if let Some(path) = &self.config.bind_password_file {
            let pw = std::fs::read_to_string(path).map_err(|e| {
                self.err_config(format!(
                    "cannot read bind_password_file {}: {e}",
                    path.display()
                ))
            })?;
            return Ok(Some(pw.trim_end_matches(['\n', '\r']).to_string()));
        }
        if let Some(var) = &self.config.bind_password_env {
            let pw = std::env::var(var).map_err(|_| {
                self.err_config(format!(
                    "environment variable {var} (bind_password_env) is not set"
                ))
            })?;
            return Ok(Some(pw));
        }
        Ok(None)
    }

    fn tls_config(&self) -> Result<Arc<rustls::ClientConfig>, SourceError> {
        let mut roots = rustls::RootCertStore::empty();
        if let Some(ca) = &self.config.ca_file {
            let pem = std::fs::read(ca).map_err(|e| {
                self.err_config(format!("cannot read ca_file {}: {e}", ca.display()))
            })?;
            let mut found = 0;
            for cert in rustls_pki_types::CertificateDer::pem_slice_iter(&pem) {
                let cert =
                    cert.map_err(|e| self.err_config(format!("ca_file {}: {e}", ca.display())))?;
                roots
                    .add(cert)
                    .map_err(|e| self.err_config(format!("ca_file {}: {e}", ca.display())))?;
                found += 1;
            }
            if found == 0 {
                return Err(
                    self.err_config(format!("ca_file {} holds no certificate", ca.display()))
                );
            }
        } else {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let cfg = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| self.err_config(format!("TLS setup: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Arc::new(cfg))
    }

    /// The search filter for this run.
    pub fn filter_for(&self, request: &FetchRequest) -> String {
        let base = &self.config.filter;
        match (&request.changed_since, self.config.cursor()) {
            (Some(since), CursorAttribute::ModifyTimestamp) => {
                format!("(&{base}(modifyTimestamp>={}))", escape_filter_value(since))
            }
            (Some(since), CursorAttribute::UsnChanged) => {
                // Strictly greater: the marker itself was already applied.
                let next = since.parse::<u64>().map(|n| n + 1).unwrap_or(0);
                format!("(&{base}(uSNChanged>={next}))")
            }
            _ => base.clone(),
        }
    }
}

/// Escapes a value for an LDAP filter (RFC 4515).
fn escape_filter_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '*' => out.push_str("\\2a"),
            '(' => out.push_str("\\28"),
            ')' => out.push_str("\\29"),
            '\\' => out.push_str("\\5c"),
            '\0' => out.push_str("\\00"),
            c => out.push(c),
        }
    }
    out
}

#[async_trait]
impl DirectorySource for LdapSource {
    async fn open(&self, request: FetchRequest) -> Result<PageStream, SourceError> {
        let name = self.config.name.clone();
        let url = self
            .config
            .url
            .clone()
            .ok_or_else(|| self.err_config("url is not set"))?;
        let base_dn = self
            .config
            .base_dn
            .clone()
            .ok_or_else(|| self.err_config("base_dn is not set"))?;
        let timeout = Duration::from_secs(self.config.timeout_secs.max(1));
        let mut settings = LdapConnSettings::new()
            .set_conn_timeout(timeout)
            .set_starttls(self.config.starttls);
        if url.starts_with("ldaps://") || self.config.starttls {
            settings = settings.set_config(self.tls_config()?);
        }
        let unreachable = |detail: String| SourceError::Unreachable {
            source_name: name.clone(),
            url: url.clone(),
            detail,
        };
        let (conn, mut ldap) = LdapConnAsync::with_settings(settings, &url)
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        ldap3::drive!(conn);
        ldap.with_timeout(timeout);
        if let Some(dn) = &self.config.bind_dn {
            let pw = self.bind_password()?.unwrap_or_default();
            let refused = |detail: String| SourceError::BindRefused {
                source_name: name.clone(),
                bind_dn: dn.clone(),
                detail,
            };
            // An empty password would be an unauthenticated bind that
            // "succeeds" on many servers: refuse it.
            if pw.is_empty() {
                return Err(refused("empty bind password".into()));
            }
            ldap.with_timeout(timeout);
            ldap.simple_bind(dn, &pw)
                .await
                .map_err(|e| unreachable(e.to_string()))?
                .success()
                .map_err(|e| refused(e.to_string()))?;
        }

        let filter = self.filter_for(&request);
        let cursor_attr = match self.config.cursor() {
            CursorAttribute::ModifyTimestamp => Some("modifyTimestamp"),
            CursorAttribute::UsnChanged => Some("uSNChanged"),
            CursorAttribute::None => None,
        };
        let mut attrs: Vec<String> = self
            .config
            .attributes
            .mapped()
            .into_iter()
            .map(|(_, a)| a.to_string())
            .collect();
        if let Some(c) = cursor_attr {
            attrs.push(c.to_string());
        }
        attrs.sort();
        attrs.dedup();
        let ldap_page = self.config.page_size.clamp(1, 1000);
        let page_size = request.page_size.max(1);
        let cursor_key = cursor_attr.map(|c| c.to_ascii_lowercase());
        let (tx, stream) = PageStream::channel();
        let failed = move |detail: String| SourceError::SearchFailed {
            source_name: name.clone(),
            detail,
        };
        tokio::spawn(async move {
            let adapters: Vec<Box<dyn ldap3::adapters::Adapter<_, _>>> = vec![
                Box::new(EntriesOnly::new()),
                Box::new(PagedResults::new(ldap_page)),
            ];
            let mut search = match ldap
                .streaming_search_with(adapters, &base_dn, Scope::Subtree, &filter, attrs)
                .await
            {
                Ok(s) => s,
                Err(e) => {
                    let _ = tx.send(Err(failed(e.to_string()))).await;
                    return;
                }
            };
            let mut page = Page::default();
            loop {
                match search.next().await {
                    Ok(Some(re)) => {
                        // ldap3 panics on malformed entries: contain it and
                        // report the run as failed instead.
                        let entry = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            SearchEntry::construct(re)
                        }));
                        let entry = match entry {
                            Ok(e) => e,
                            Err(_) => {
                                let _ = tx
                                    .send(Err(failed("malformed entry from server".into())))
                                    .await;
                                return;
                            }
                        };
                        let attrs: HashMap<String, Vec<String>> = entry
                            .attrs
                            .into_iter()
                            .map(|(k, v)| (k.to_ascii_lowercase(), v))
                            .collect();
                        if let Some(key) = &cursor_key {
                            let m = attrs.get(key).and_then(|v| v.first()).map(String::as_str);
                            page.max_marker = max_marker(page.max_marker.take(), m);
                        }
                        page.entries.push(RawEntry {
                            entry_ref: entry.dn,
                            attrs,
                        });
                        if page.entries.len() >= page_size
                            && tx.send(Ok(std::mem::take(&mut page))).await.is_err()
                        {
                            // The run stopped listening: drop the search.
                            return;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        let _ = tx.send(Err(failed(e.to_string()))).await;
                        return;
                    }
                }
            }
            let res = search.finish().await;
            if let Err(e) = res.success() {
                let _ = tx.send(Err(failed(e.to_string()))).await;
                return;
            }
            if !page.entries.is_empty() || page.max_marker.is_some() {
                let _ = tx.send(Ok(page)).await;
            }
            let _ = ldap.unbind().await;
        });
        Ok(stream)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incremental_filters_wrap_the_configured_filter() {
        let mut cfg = crate::mapping::tests_support::ldap_source();
        let s = LdapSource::new(cfg.clone());
        let req = FetchRequest {
            changed_since: Some("20261122100000Z".into()),
            page_size: 10,
        };
        assert_eq!(
            s.filter_for(&req),
            "(&(objectClass=inetOrgPerson)(modifyTimestamp>=20261122100000Z))"
        );
        cfg.cursor_attribute = Some(CursorAttribute::UsnChanged);
        let s = LdapSource::new(cfg);
        let req = FetchRequest {
            changed_since: Some("41".into()),
            page_size: 10,
        };
        assert_eq!(
            s.filter_for(&req),
            "(&(objectClass=inetOrgPerson)(uSNChanged>=42))"
        );
        assert_eq!(escape_filter_value("a*(b)\\"), "a\\2a\\28b\\29\\5c");
    }
}
