//! Feeds untrusted bytes to the CSV source as it reads an HR export:
//! decoding (UTF-8 with or without BOM, Latin-1, or detected), parsing with
//! the configured delimiter, then the attribute mapping of every line.
//!
//! The first input byte picks the encoding, the delimiter and the source
//! (HR with every field mapped, or AD); the rest is the file. Any panic is
//! a bug, and so is a line that goes missing, a malformed line that is not
//! rejected, or a mapped record that breaks what reconciliation relies on
//! (see `common.rs`).
//!
//! Two callers: `fuzz_targets/csv_source.rs`, the libFuzzer target (`cargo fuzz
//! run csv_source` from the fuzz directory, or `scripts/fuzz`), and the
//! suite's `tests/it/fuzz_replay.rs`, which replays the committed seeds
//! and mutations of them on every test run (docs/operations.md,
//! "Fuzzing").

use clavis_directory::SourceKind;
use clavis_directory::config::CsvEncoding;
use clavis_directory::source::csv::{decode, parse};

/// Checks one input; panics on a bug.
pub fn check(input: &[u8]) {
    let Some((&settings, file)) = input.split_first() else {
        return;
    };
    let encoding = match settings % 3 {
        0 => CsvEncoding::Auto,
        1 => CsvEncoding::Utf8,
        _ => CsvEncoding::Latin1,
    };
    let delimiter = [b';', b',', b'\t', b'|'][usize::from(settings / 3) % 4];
    let source = if settings & 0x80 == 0 {
        super::common::hr(SourceKind::Csv)
    } else {
        super::common::ad(SourceKind::Csv)
    };
    let text = decode(file, encoding);
    let Ok(entries) = parse(&text, delimiter, "fuzz.csv") else {
        return;
    };
    // Every record after the header is an entry (one line may hold several
    // physical lines inside quotes, never the reverse).
    let lines = text.split(['\n', '\r']).count();
    assert!(
        entries.len() <= lines,
        "{} entries from {lines} lines",
        entries.len()
    );
    for raw in &entries {
        let line = raw
            .entry_ref
            .strip_prefix("fuzz.csv:")
            .expect("entries are named file:line");
        assert!(line.parse::<u64>().is_ok(), "bad line number {line}");
        let mapped = super::common::map_and_check(&source, raw);
        if raw.attrs.contains_key("__malformed") {
            let r = mapped.expect_err("a malformed line is rejected");
            assert_eq!(r.field, "(line)");
        }
    }
}
