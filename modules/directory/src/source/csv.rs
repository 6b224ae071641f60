//! CSV source: the `;`-separated HR export many SI-RH produce.
//!
//! A header row names the columns; the attribute mapping names columns
//! case-insensitively. UTF-8 (with or without BOM) or Latin-1/Windows-1252,
//! detected or configured. Every run of a CSV source is a full run. A line
//! with the wrong number of cells is rejected by the engine with its line
//! number, like any malformed entry.

use super::{DirectorySource, FetchRequest, Page, PageStream, SourceError};
use crate::config::{CsvEncoding, SourceConfig};
use crate::mapping::RawEntry;
use async_trait::async_trait;
use std::collections::HashMap;

/// A CSV export source.
#[derive(Debug)]
pub struct CsvSource {
    config: SourceConfig,
}

impl CsvSource {
    /// A source for this configuration.
    pub fn new(config: SourceConfig) -> Self {
        Self { config }
    }
}

/// Decodes the file's bytes per the configured encoding.
pub fn decode(bytes: &[u8], encoding: CsvEncoding) -> String {
    let utf8 = |b: &[u8]| {
        let b = b.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(b);
        String::from_utf8(b.to_vec())
    };
    match encoding {
        CsvEncoding::Utf8 => match utf8(bytes) {
            Ok(s) => s,
            Err(_) => String::from_utf8_lossy(bytes).into_owned(),
        },
        CsvEncoding::Latin1 => encoding_rs::WINDOWS_1252.decode(bytes).0.into_owned(),
        CsvEncoding::Auto => match utf8(bytes) {
            Ok(s) => s,
            Err(_) => encoding_rs::WINDOWS_1252.decode(bytes).0.into_owned(),
        },
    }
}

/// Parses a whole export into entries (`file:line` refs). Lines whose cell
/// count differs from the header come back as entries carrying a
/// `__malformed` attribute, so the engine rejects them with their line.
pub fn parse(text: &str, delimiter: u8, file_label: &str) -> Result<Vec<RawEntry>, String> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(true)
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| format!("cannot read the header row: {e}"))?
        .iter()
        .map(|h| h.trim().to_lowercase())
        .collect();
    if headers.iter().all(|h| h.is_empty()) {
        return Err("the header row is empty".into());
    }
    let mut out = Vec::new();
    for rec in reader.records() {
        let (line, entry) = match rec {
            Ok(rec) => {
                let line = rec.position().map(|p| p.line()).unwrap_or(0);
                let mut attrs: HashMap<String, Vec<String>> = HashMap::new();
                if rec.len() != headers.len() {
                    attrs.insert(
                        "__malformed".into(),
                        vec![format!(
                            "{} cells where the header has {}",
                            rec.len(),
                            headers.len()
                        )],
                    );
                } else {
                    for (h, v) in headers.iter().zip(rec.iter()) {
                        attrs.entry(h.clone()).or_default().push(v.to_string());
                    }
                }
                (line, attrs)
            }
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                let mut attrs = HashMap::new();
                attrs.insert("__malformed".into(), vec![e.to_string()]);
                (line, attrs)
            }
        };
        out.push(RawEntry {
            entry_ref: format!("{file_label}:{line}"),
            attrs: entry,
        });
    }
    Ok(out)
}

#[async_trait]
impl DirectorySource for CsvSource {
    async fn open(&self, request: FetchRequest) -> Result<PageStream, SourceError> {
        let name = self.config.name.clone();
        let path = self
            .config
            .path
            .clone()
            .ok_or_else(|| SourceError::Config {
                source_name: name.clone(),
                detail: "path is not set".into(),
            })?;
        let file_err = |detail: String| SourceError::File {
            source_name: name.clone(),
            path: path.display().to_string(),
            detail,
        };
        let bytes = tokio::fs::read(&path)
            .await
            .map_err(|e| file_err(e.to_string()))?;
        let text = decode(&bytes, self.config.encoding);
        let label = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        let delimiter = self
            .config
            .delimiter
            .as_bytes()
            .first()
            .copied()
            .unwrap_or(b';');
        let entries = parse(&text, delimiter, &label).map_err(file_err)?;
        let (tx, stream) = PageStream::channel();
        let page_size = request.page_size.max(1);
        tokio::spawn(async move {
            let mut it = entries.into_iter().peekable();
            while it.peek().is_some() {
                let page = Page {
                    entries: it.by_ref().take(page_size).collect(),
                    max_marker: None,
                    new_cursor: None,
                };
                if tx.send(Ok(page)).await.is_err() {
                    return;
                }
            }
        });
        Ok(stream)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn latin1_exports_are_decoded_and_lines_are_numbered() {
        let bytes = b"Matricule;Nom;Pr\xe9noms\nA1;H\xe9l\xe8ne;Zo\xe9\nA2;Short\n";
        let text = decode(bytes, CsvEncoding::Auto);
        let entries = parse(&text, b';', "rh.csv").expect("parses");
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].entry_ref, "rh.csv:2");
        assert_eq!(entries[0].attrs["nom"], vec!["Hélène"]);
        assert_eq!(entries[0].attrs["prénoms"], vec!["Zoé"]);
        assert_eq!(entries[1].entry_ref, "rh.csv:3");
        assert!(entries[1].attrs.contains_key("__malformed"));
    }

    #[test]
    fn utf8_with_bom_is_read_as_utf8() {
        let text = decode("\u{feff}a;b\n1;é\n".as_bytes(), CsvEncoding::Auto);
        let entries = parse(&text, b';', "f").expect("parses");
        assert_eq!(entries[0].attrs["b"], vec!["é"]);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let text = decode(&bytes, CsvEncoding::Auto);
            let _ = parse(&text, b';', "fuzz.csv");
        }
    }
}
