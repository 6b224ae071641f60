//! A run's pages, mapped ahead: a task of its own takes the source's pages
//! as they come, maps each entry ([`mapping::map_entry`]) and sets aside
//! rejected and duplicate entries, one page ahead of the page being
//! applied. Mapping the next page then overlaps writing this one, as
//! fetching it already did ([`crate::source`]).

use crate::config::SourceConfig;
use crate::mapping::{self, MappedRecord, Rejection};
use crate::source::{Page, PageStream, SourceError};
use std::collections::HashMap;
use tokio::sync::mpsc;
use tracing::Instrument;

/// One page of the source, mapped.
#[derive(Debug, Default)]
pub(super) struct MappedPage {
    /// Entries the source sent in this page, rejected ones included.
    pub seen: usize,
    /// The entries mapped, in the source's order, each external id once.
    pub records: Vec<MappedRecord>,
    /// The entries refused: unmappable, or an external id read before.
    pub rejections: Vec<Rejection>,
    /// As in [`Page`].
    pub max_marker: Option<String>,
    /// As in [`Page`].
    pub new_cursor: Option<String>,
}

enum Item {
    Page(MappedPage),
    /// The end of the source: each external id read, with the entry it
    /// was first read at.
    End(HashMap<String, String>),
}

/// The mapped pages of one run, in order.
#[derive(Debug)]
pub(super) struct MappedPages {
    rx: mpsc::Receiver<Result<Item, SourceError>>,
    source_name: String,
    read: Option<HashMap<String, String>>,
}

impl std::fmt::Debug for Item {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Item::Page(p) => write!(f, "Page({} records)", p.records.len()),
            Item::End(ids) => write!(f, "End({} ids)", ids.len()),
        }
    }
}

impl MappedPages {
    /// Starts mapping the pages of `stream` with `source`'s attribute map.
    pub(super) fn start(source: &SourceConfig, mut stream: PageStream) -> Self {
        let (tx, rx) = mpsc::channel(1);
        let config = source.clone();
        tokio::spawn(
            async move {
                let mut read = HashMap::new();
                while let Some(page) = stream.next().await {
                    let item = page.map(|p| Item::Page(map_page(&config, p, &mut read)));
                    let failed = item.is_err();
                    // The run stopped reading (it failed): so does this task.
                    if tx.send(item).await.is_err() || failed {
                        return;
                    }
                }
                let _ = tx.send(Ok(Item::End(read))).await;
            }
            .in_current_span(),
        );
        MappedPages {
            rx,
            source_name: source.name.clone(),
            read: None,
        }
    }

    /// The next page; `None` at the end of the source.
    pub(super) async fn next(&mut self) -> Option<Result<MappedPage, SourceError>> {
        match self.rx.recv().await {
            Some(Ok(Item::Page(p))) => Some(Ok(p)),
            Some(Ok(Item::End(read))) => {
                self.read = Some(read);
                None
            }
            Some(Err(e)) => Some(Err(e)),
            // Only if the task ended without its last message (a panic).
            None => Some(Err(SourceError::SearchFailed {
                source_name: self.source_name.clone(),
                detail: "the reading of the source stopped before its end".into(),
            })),
        }
    }

    /// After the last page: each external id read, with the entry it was
    /// first read at.
    pub(super) fn into_read_ids(self) -> HashMap<String, String> {
        self.read.unwrap_or_default()
    }
}

/// Maps the entries of `page`; an external id already in `read` (an
/// earlier entry of this run) is refused as a duplicate.
fn map_page(source: &SourceConfig, page: Page, read: &mut HashMap<String, String>) -> MappedPage {
    let mut out = MappedPage {
        seen: page.entries.len(),
        records: Vec::with_capacity(page.entries.len()),
        max_marker: page.max_marker,
        new_cursor: page.new_cursor,
        ..MappedPage::default()
    };
    for raw in &page.entries {
        match mapping::map_entry(source, raw) {
            Ok(rec) => {
                if let Some(first) = read.get(&rec.external_id) {
                    out.rejections.push(Rejection {
                        entry: rec.entry_ref.clone(),
                        field: "external_id".into(),
                        external_id: Some(rec.external_id.clone()),
                        message: format!(
                            "duplicate external id {:?} (already read at {first})",
                            rec.external_id
                        ),
                    });
                    continue;
                }
                read.insert(rec.external_id.clone(), rec.entry_ref.clone());
                out.records.push(rec);
            }
            Err(rej) => {
                tracing::warn!(sync.source = %source.name, entry = %rej.entry, field = %rej.field, "entry rejected: {}", rej.message);
                out.rejections.push(rej);
            }
        }
    }
    out
}
