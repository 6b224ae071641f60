//! Feeds untrusted attribute values to the LDAP side of a directory sync:
//! a search result entry as the server would send it (DN, attribute types,
//! values that may be any bytes), turned into a raw entry by the LDAP
//! source (`source::ldap::to_raw`, through ldap3's own decoding) and then
//! mapped to a source record.
//!
//! Input: the first byte picks the source (HR with every field mapped, or
//! Active Directory); the rest is lines, the first the DN and each other
//! `type:value` (a line without `:` is a type with no value; consecutive
//! lines of one type are one multi-valued attribute). Any panic is a bug,
//! and so is a record that breaks what reconciliation relies on (see
//! `common.rs`).
//!
//! The entries are well-formed BER structures: on a malformed one ldap3
//! panics and `to_raw` contains it (libFuzzer's panic hook would report
//! even that contained panic, so that path is left to the unit tests).
//!
//! Two callers: `fuzz_targets/ldap_mapping.rs`, the libFuzzer target (`cargo fuzz
//! run ldap_mapping` from the fuzz directory, or `scripts/fuzz`), and the
//! suite's `tests/it/fuzz_replay.rs`, which replays the committed seeds
//! and mutations of them on every test run (docs/operations.md,
//! "Fuzzing").

use clavis_directory::SourceKind;
use clavis_directory::source::ldap::to_raw;
use ldap3::ResultEntry;
use ldap3::asn1::{ASNTag, OctetString, Sequence, Set, Tag, TagClass};

fn octets(bytes: &[u8]) -> Tag {
    Tag::OctetString(OctetString {
        inner: bytes.to_vec(),
        ..Default::default()
    })
}

/// `SearchResultEntry ::= [APPLICATION 4] SEQUENCE { objectName, attributes
/// SEQUENCE OF SEQUENCE { type, vals SET OF value } }` (RFC 4511 §4.5.2).
fn result_entry(dn: &[u8], attrs: &[(&[u8], Vec<&[u8]>)]) -> ResultEntry {
    let attrs = attrs
        .iter()
        .map(|(ty, vals)| {
            Tag::Sequence(Sequence {
                inner: vec![
                    // Attribute types are ASCII on the wire; ldap3 needs UTF-8.
                    octets(String::from_utf8_lossy(ty).as_bytes()),
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
            octets(String::from_utf8_lossy(dn).as_bytes()),
            Tag::Sequence(Sequence {
                inner: attrs,
                ..Default::default()
            }),
        ],
    });
    ResultEntry::new(entry.into_structure())
}

/// Checks one input; panics on a bug.
pub fn check(input: &[u8]) {
    let Some((&settings, rest)) = input.split_first() else {
        return;
    };
    let mut lines = rest.split(|&b| b == b'\n');
    let dn = lines.next().unwrap_or_default();
    let mut attrs: Vec<(&[u8], Vec<&[u8]>)> = Vec::new();
    for line in lines {
        let (ty, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => (&line[..i], Some(&line[i + 1..])),
            None => (line, None),
        };
        match attrs.last_mut() {
            Some((last, vals)) if *last == ty => vals.extend(value),
            _ => attrs.push((ty, value.into_iter().collect())),
        }
    }
    let raw = to_raw(result_entry(dn, &attrs)).expect("a well-formed entry converts");
    assert_eq!(raw.entry_ref, String::from_utf8_lossy(dn));
    assert!(
        raw.attrs.keys().all(|k| *k == k.to_ascii_lowercase()),
        "attribute names are lower-cased"
    );
    let source = if settings & 1 == 0 {
        super::common::hr(SourceKind::Ldap)
    } else {
        super::common::ad(SourceKind::Ldap)
    };
    let _ = super::common::map_and_check(&source, &raw);
}
