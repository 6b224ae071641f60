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
use ldap3::controls::{EntryState, RawControl, RefreshMode, SyncDone, SyncRequest, SyncState};
use ldap3::{LdapConnAsync, LdapConnSettings, Scope, SearchEntry};

const SYNC_STATE_OID: &str = "1.3.6.1.4.1.4203.1.9.1.2";
const SYNC_DONE_OID: &str = "1.3.6.1.4.1.4203.1.9.1.3";
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
        let plain = url.starts_with("ldap://") && !self.config.starttls;
        let loopback = url.starts_with("ldap://127.")
            || url.starts_with("ldap://localhost")
            || url.starts_with("ldap://[::1]");
        if self.config.bind_dn.is_some() && plain && !loopback {
            tracing::warn!(sync.source = %name, "binding over plain ldap:// without StartTLS: the bind password crosses the network in clear; set starttls = true or use ldaps://");
        }
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
            CursorAttribute::Syncrepl | CursorAttribute::None => None,
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
        if let Some(a) = self.config.account_control_attribute() {
            attrs.push(a.to_string());
        }
        attrs.sort();
        attrs.dedup();
        let search = Search {
            base_dn,
            filter,
            attrs,
            ldap_page: self.config.page_size.clamp(1, 1000),
            page_size: request.page_size.max(1),
            cursor_key: cursor_attr.map(|c| c.to_ascii_lowercase()),
            syncrepl: self.config.cursor() == CursorAttribute::Syncrepl,
            since: request.changed_since.clone(),
            timeout,
        };
        let (tx, stream) = PageStream::channel();
        tokio::spawn(async move {
            if let Err(detail) = search.run(&mut ldap, &tx).await {
                let _ = tx
                    .send(Err(SourceError::SearchFailed {
                        source_name: name,
                        detail,
                    }))
                    .await;
            }
            let _ = ldap.unbind().await;
        });
        Ok(stream)
    }
}

/// One run's search, executed by the producer task.
struct Search {
    base_dn: String,
    filter: String,
    attrs: Vec<String>,
    ldap_page: i32,
    page_size: usize,
    cursor_key: Option<String>,
    syncrepl: bool,
    since: Option<String>,
    /// Applied to every operation: a server that accepts the connection
    /// then stalls fails the run instead of hanging it.
    timeout: Duration,
}

type Tx = tokio::sync::mpsc::Sender<Result<Page, SourceError>>;

/// Turns a raw result entry into a [`RawEntry`]; ldap3 panics on malformed
/// entries, so that is contained and reported instead. Public for the
/// `ldap_mapping` fuzz target (`modules/directory/fuzz`), which feeds it
/// entries built from untrusted bytes.
pub fn to_raw(re: ldap3::ResultEntry) -> Result<RawEntry, String> {
    let entry =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| SearchEntry::construct(re)))
            .map_err(|_| "malformed entry from server".to_string())?;
    // Attribute types are case-insensitive (RFC 4512 §2.5): two spellings
    // of one type are one attribute, their values kept in the order sent.
    let mut attrs: HashMap<String, Vec<String>> = HashMap::new();
    let mut types: Vec<_> = entry.attrs.into_iter().collect();
    types.sort_by(|a, b| a.0.cmp(&b.0));
    for (k, v) in types {
        attrs.entry(k.to_ascii_lowercase()).or_default().extend(v);
    }
    Ok(RawEntry {
        entry_ref: entry.dn,
        attrs,
    })
}

/// The content-synchronisation cookie in a search's final result.
fn sync_done_cookie(res: &ldap3::LdapResult) -> Option<String> {
    let ctrl = res.ctrls.iter().find(|c| c.1.ctype == SYNC_DONE_OID)?;
    let done =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| ctrl.1.parse::<SyncDone>()))
            .ok()?;
    done.cookie.map(hex::encode)
}

/// Whether an entry of a sync search carries content (added or modified),
/// rather than a bare "present" or "deleted" notice.
fn carries_content(re: &ldap3::ResultEntry) -> bool {
    let Some(ctrl) = re.1.iter().find(|c| c.1.ctype == SYNC_STATE_OID) else {
        return true;
    };
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| ctrl.1.parse::<SyncState>())) {
        Ok(s) => matches!(s.state, EntryState::Add | EntryState::Modify),
        Err(_) => false,
    }
}

impl Search {
    async fn run(&self, ldap: &mut ldap3::Ldap, tx: &Tx) -> Result<(), String> {
        if !self.syncrepl {
            return self.paged(ldap, tx, None).await;
        }
        match &self.since {
            // Incremental: what changed since the cookie.
            Some(cookie) => self.sync_changes(ldap, tx, cookie).await,
            // Full: take the server's position first (a sync search that
            // matches nothing), then read everything with paging. Changes in
            // between are read again next time, which is harmless.
            None => {
                ldap.with_controls(RawControl::from(SyncRequest {
                    mode: RefreshMode::RefreshOnly,
                    cookie: None,
                    reload_hint: false,
                }));
                let nothing = format!("(&{}(!(objectClass=*)))", self.filter);
                ldap.with_timeout(self.timeout);
                let mut s = ldap
                    .streaming_search(&self.base_dn, Scope::Subtree, &nothing, vec!["1.1"])
                    .await
                    .map_err(|e| e.to_string())?;
                while s.next().await.map_err(|e| e.to_string())?.is_some() {}
                let res = s.finish().await;
                let cookie = sync_done_cookie(&res);
                res.success().map_err(|e| e.to_string())?;
                self.paged(ldap, tx, cookie).await
            }
        }
    }

    async fn sync_changes(
        &self,
        ldap: &mut ldap3::Ldap,
        tx: &Tx,
        cookie: &str,
    ) -> Result<(), String> {
        let cookie = hex::decode(cookie)
            .map_err(|_| "stored syncrepl cookie is not hex: run a full sync".to_string())?;
        ldap.with_controls(RawControl::from(SyncRequest {
            mode: RefreshMode::RefreshOnly,
            cookie: Some(cookie),
            reload_hint: false,
        }));
        let mut s = ldap
            .streaming_search(
                &self.base_dn,
                Scope::Subtree,
                &self.filter,
                self.attrs.clone(),
            )
            .await
            .map_err(|e| e.to_string())?;
        let mut page = Page::default();
        while let Some(re) = s.next().await.map_err(|e| e.to_string())? {
            if re.is_intermediate() || !carries_content(&re) {
                continue;
            }
            page.entries.push(to_raw(re)?);
            if page.entries.len() >= self.page_size
                && tx.send(Ok(std::mem::take(&mut page))).await.is_err()
            {
                return Ok(());
            }
        }
        let res = s.finish().await;
        page.new_cursor = sync_done_cookie(&res);
        if res.rc == 4096 {
            return Err("the server no longer knows the syncrepl cookie (e-syncRefreshRequired): run a full sync".into());
        }
        res.success().map_err(|e| e.to_string())?;
        let _ = tx.send(Ok(page)).await;
        Ok(())
    }

    async fn paged(
        &self,
        ldap: &mut ldap3::Ldap,
        tx: &Tx,
        final_cursor: Option<String>,
    ) -> Result<(), String> {
        let adapters: Vec<Box<dyn ldap3::adapters::Adapter<_, _>>> = vec![
            Box::new(EntriesOnly::new()),
            Box::new(PagedResults::new(self.ldap_page)),
        ];
        let mut search = ldap
            .streaming_search_with(
                adapters,
                &self.base_dn,
                Scope::Subtree,
                &self.filter,
                self.attrs.clone(),
            )
            .await
            .map_err(|e| e.to_string())?;
        let mut page = Page::default();
        while let Some(re) = search.next().await.map_err(|e| e.to_string())? {
            let entry = to_raw(re)?;
            if let Some(key) = &self.cursor_key {
                let m = entry
                    .attrs
                    .get(key)
                    .and_then(|v| v.first())
                    .map(String::as_str);
                page.max_marker = max_marker(page.max_marker.take(), m);
            }
            page.entries.push(entry);
            if page.entries.len() >= self.page_size
                && tx.send(Ok(std::mem::take(&mut page))).await.is_err()
            {
                // The run stopped listening: drop the search.
                return Ok(());
            }
        }
        search.finish().await.success().map_err(|e| e.to_string())?;
        page.new_cursor = final_cursor;
        if !page.entries.is_empty() || page.max_marker.is_some() || page.new_cursor.is_some() {
            let _ = tx.send(Ok(page)).await;
        }
        Ok(())
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
    /// `SearchResultEntry` (RFC 4511 §4.5.2) as the server sends it.
    fn result_entry(dn: &str, attrs: &[(&str, &[&str])]) -> ldap3::ResultEntry {
        use ldap3::asn1::{ASNTag, OctetString, Sequence, Set, Tag, TagClass};
        let octets = |s: &str| {
            Tag::OctetString(OctetString {
                inner: s.as_bytes().to_vec(),
                ..Default::default()
            })
        };
        let attrs = attrs
            .iter()
            .map(|(ty, vals)| {
                Tag::Sequence(Sequence {
                    inner: vec![
                        octets(ty),
                        Tag::Set(Set {
                            inner: vals.iter().map(|v| octets(v)).collect(),
                            ..Default::default()
                        }),
                    ],
                    ..Default::default()
                })
            })
            .collect();
        let entry = Tag::Sequence(Sequence {
            class: TagClass::Application,
            id: 4,
            inner: vec![
                octets(dn),
                Tag::Sequence(Sequence {
                    inner: attrs,
                    ..Default::default()
                }),
            ],
        });
        ldap3::ResultEntry::new(entry.into_structure())
    }

    #[test]
    fn two_spellings_of_one_attribute_type_keep_every_value() {
        let raw = to_raw(result_entry(
            "uid=mdupont,ou=people,dc=chu",
            &[
                ("mail", &["a@chu.fr"]),
                ("MAIL", &["b@chu.fr"]),
                ("cn", &["Marie"]),
            ],
        ))
        .expect("entry");
        let mut mail = raw.attrs["mail"].clone();
        mail.sort();
        assert_eq!(mail, ["a@chu.fr", "b@chu.fr"]);
        assert_eq!(raw.attrs["cn"], ["Marie"]);
        assert_eq!(raw.attrs.len(), 2);
    }
}
