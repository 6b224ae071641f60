//! Where entries come from: the [`DirectorySource`] trait and its LDAP and
//! CSV implementations.
//!
//! A source is opened for one run ([`DirectorySource::open`] connects and
//! binds, so an unreachable server or a refused bind fails before anything
//! is written), then yields pages of raw entries until the end or an error.
//! Pages are produced by a background task into a small bounded channel, so
//! fetching the next page overlaps writing the previous one while memory
//! stays bounded.

pub mod csv;
pub mod ldap;

use crate::config::{SourceConfig, SourceKind};
use crate::mapping::RawEntry;
use async_trait::async_trait;
use tokio::sync::mpsc;

/// Why a source could not be read. Any of these fails the run as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// The server could not be reached (or TLS failed).
    #[error("source {source_name}: cannot reach {url}: {detail}")]
    Unreachable {
        source_name: String,
        url: String,
        detail: String,
    },
    /// The server refused the bind.
    #[error("source {source_name}: bind as {bind_dn:?} refused: {detail}")]
    BindRefused {
        source_name: String,
        bind_dn: String,
        detail: String,
    },
    /// The search failed or the connection dropped mid-run.
    #[error("source {source_name}: search failed: {detail}")]
    SearchFailed { source_name: String, detail: String },
    /// The export file could not be read.
    #[error("source {source_name}: cannot read {path}: {detail}")]
    File {
        source_name: String,
        path: String,
        detail: String,
    },
    /// The configuration is incomplete (should have been caught by check-config).
    #[error("source {source_name}: {detail}")]
    Config { source_name: String, detail: String },
}

/// What a run asks of a source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchRequest {
    /// Only entries changed since this marker (incremental run); `None` for
    /// a full run.
    pub changed_since: Option<String>,
    /// Entries per page handed to the engine.
    pub page_size: usize,
}

/// A page of entries, plus the highest change marker seen in it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Page {
    /// Entries.
    pub entries: Vec<RawEntry>,
    /// Highest change marker in the page (`modifyTimestamp`/`uSNChanged`).
    pub max_marker: Option<String>,
    /// A position that replaces the cursor outright (a syncrepl cookie).
    pub new_cursor: Option<String>,
}

/// Pages of one run. `None` = the end; an `Err` ends the run.
#[derive(Debug)]
pub struct PageStream {
    rx: mpsc::Receiver<Result<Page, SourceError>>,
}

impl PageStream {
    /// The next page.
    pub async fn next(&mut self) -> Option<Result<Page, SourceError>> {
        self.rx.recv().await
    }

    /// A stream fed by a producer task through a bounded channel.
    pub fn channel() -> (mpsc::Sender<Result<Page, SourceError>>, PageStream) {
        let (tx, rx) = mpsc::channel(1);
        (tx, PageStream { rx })
    }
}

/// A directory source. Real implementations: [`ldap::LdapSource`],
/// [`csv::CsvSource`].
#[async_trait]
pub trait DirectorySource: Send + Sync + std::fmt::Debug {
    /// Connects (and binds) then starts producing pages.
    async fn open(&self, request: FetchRequest) -> Result<PageStream, SourceError>;
}

/// The real source for a configured entry.
pub fn for_config(config: &SourceConfig) -> Box<dyn DirectorySource> {
    match config.kind {
        SourceKind::Ldap => Box::new(ldap::LdapSource::new(config.clone())),
        SourceKind::Csv => Box::new(csv::CsvSource::new(config.clone())),
    }
}

/// Keeps the larger of two change markers. `uSNChanged` compares as a
/// number, GeneralizedTime as text (same width and zone).
pub fn max_marker(a: Option<String>, b: Option<&str>) -> Option<String> {
    match (a, b) {
        (None, None) => None,
        (Some(a), None) => Some(a),
        (None, Some(b)) => Some(b.to_string()),
        (Some(a), Some(b)) => {
            let bigger = match (a.parse::<u64>(), b.parse::<u64>()) {
                (Ok(x), Ok(y)) => y > x,
                _ => b > a.as_str(),
            };
            Some(if bigger { b.to_string() } else { a })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_compare_numerically_or_as_timestamps() {
        assert_eq!(
            max_marker(Some("99".into()), Some("100")),
            Some("100".into())
        );
        assert_eq!(
            max_marker(Some("20260101120000Z".into()), Some("20251231235959Z")),
            Some("20260101120000Z".into())
        );
        assert_eq!(max_marker(None, Some("5")), Some("5".into()));
    }
}
