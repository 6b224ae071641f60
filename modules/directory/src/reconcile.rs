//! The reconciliation decision: which identity, if any, a source record
//! that is not linked yet belongs to. Matching goes by the configured join
//! key across sources, then by identity traits (names, birth date and
//! place, RPPS); it never merges on a guess: anything short of one clear
//! match opens a reconciliation case for an operator.
//!
//! [`MatchIndex`] loads, in a few queries for a whole page of records, what
//! [`decide`] needs to know, and is kept up to date as the page links and
//! creates identities. Runs inside the caller's transaction.

use crate::config::SourceConfig;
use crate::error::DirectoryError;
use crate::golden::to_json_list;
use crate::mapping::{MappedRecord, SourceFields};
use clavis_core::names::normalize_name;
use clavis_core::{LifecycleStatus, Oid};
use clavis_store::DbConn;
use clavis_store::models::identity::{MatchTraits, match_keys};
use clavis_store::models::{IdentityRow, SourceRecordRow};
use std::collections::{BTreeSet, HashMap};

/// How a record was matched, or why not.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Link to this identity; `how` says by what rule.
    Link { oid: Oid, how: &'static str },
    /// A new person.
    Create,
    /// Doubt: an operator decides.
    Case {
        reason: &'static str,
        candidates: Vec<(Oid, String)>,
    },
    /// No match and the source does not create identities.
    Unmatched,
}

fn first_given(f: &SourceFields) -> Option<String> {
    f.birth_given_names.first().map(|g| normalize_name(g))
}

/// An identity that could match a record of the page on traits (it shares
/// one of its matching keys), with the names matching compares normalised
/// once (not once per record of the page).
#[derive(Debug)]
struct Born {
    traits: MatchTraits,
    first_given: Option<String>,
    birth_family_name: String,
    used_family_name: Option<String>,
}

impl From<MatchTraits> for Born {
    fn from(traits: MatchTraits) -> Self {
        Born {
            first_given: traits.birth_given_names.first().map(|g| normalize_name(g)),
            birth_family_name: normalize_name(&traits.birth_family_name),
            used_family_name: traits.used_family_name.as_deref().map(normalize_name),
            traits,
        }
    }
}

/// What matching needs to know about the identities a page of records could
/// match, loaded in a few queries for the whole page and kept up to date as
/// the page creates and links identities.
#[derive(Debug, Default)]
pub struct MatchIndex {
    /// Join key → (identity, source) of linked records with it.
    linked_by_key: HashMap<String, Vec<(Oid, String)>>,
    /// The identities reachable by join key, to check their traits.
    keyed: HashMap<Oid, MatchTraits>,
    /// Join key → unlinked records of other sources waiting for a match.
    waiting_by_key: HashMap<String, Vec<SourceRecordRow>>,
    /// Birth date → identities born that day that could match a record of
    /// the page on traits.
    born: HashMap<String, Vec<Born>>,
    /// RPPS → identities holding it.
    rpps: HashMap<String, Vec<Oid>>,
    /// Identity → (source, external id) of records linked in this page.
    linked_now: HashMap<Oid, Vec<(String, String)>>,
}

impl MatchIndex {
    /// Loads what `records` of `source` could match.
    pub async fn load(
        conn: &mut DbConn,
        source: &str,
        records: &[&MappedRecord],
    ) -> Result<Self, DirectoryError> {
        let mut idx = MatchIndex::default();
        let keys: Vec<String> = records.iter().filter_map(|r| r.join_key.clone()).collect();
        for r in SourceRecordRow::with_join_keys(conn, source, &keys).await? {
            let Some(key) = r.join_key.clone() else {
                continue;
            };
            match r.oid {
                Some(oid) => idx
                    .linked_by_key
                    .entry(key)
                    .or_default()
                    .push((oid, r.source.clone())),
                None => idx.waiting_by_key.entry(key).or_default().push(r),
            }
        }
        let keyed: Vec<Oid> = idx
            .linked_by_key
            .values()
            .flatten()
            .map(|(o, _)| *o)
            .collect();
        for i in IdentityRow::traits_of(conn, &keyed).await? {
            idx.keyed.insert(i.oid, i);
        }
        // Only the identities sharing a birth date, a first given name and
        // a family name with a record can match it on traits (`decide`).
        let mut keys: Vec<String> = Vec::new();
        for r in records {
            let f = &r.fields;
            if let (Some(bd), Some(bfn)) = (f.birth_date, &f.birth_family_name) {
                keys.extend(match_keys(
                    Some(&bd.to_string()),
                    &f.birth_given_names,
                    bfn,
                    f.used_family_name.as_deref(),
                ));
            }
        }
        keys.sort_unstable();
        keys.dedup();
        for i in IdentityRow::with_match_keys(conn, &keys).await? {
            if let Some(d) = i.birth_date.clone() {
                idx.born.entry(d).or_default().push(Born::from(i));
            }
        }
        let rpps: Vec<String> = records
            .iter()
            .filter_map(|r| r.fields.rpps.as_ref().map(|x| x.as_str().to_string()))
            .collect();
        for i in IdentityRow::with_rpps_any(conn, &rpps).await? {
            if let Some(r) = i.rpps.clone() {
                idx.rpps.entry(r).or_default().push(i.oid);
            }
        }
        Ok(idx)
    }

    /// Takes the records of other sources waiting for this join key.
    pub fn take_waiting(&mut self, key: &str) -> Vec<SourceRecordRow> {
        self.waiting_by_key.remove(key).unwrap_or_default()
    }

    /// Remembers that `rec` of `source` is now linked to `oid`; when
    /// `created`, that `oid` is a new identity with the record's traits.
    pub fn note_linked(&mut self, source: &str, rec: &MappedRecord, oid: Oid, created: bool) {
        if let Some(k) = &rec.join_key {
            self.linked_by_key
                .entry(k.clone())
                .or_default()
                .push((oid, source.to_string()));
        }
        self.linked_now
            .entry(oid)
            .or_default()
            .push((source.to_string(), rec.external_id.clone()));
        if !created {
            return;
        }
        let f = &rec.fields;
        if let Some(r) = &f.rpps {
            self.rpps
                .entry(r.as_str().to_string())
                .or_default()
                .push(oid);
        }
        if let (Some(bd), Some(bfn)) = (f.birth_date, &f.birth_family_name) {
            self.born
                .entry(bd.to_string())
                .or_default()
                .push(Born::from(MatchTraits {
                    oid,
                    status: LifecycleStatus::Active,
                    birth_family_name: bfn.clone(),
                    used_family_name: f.used_family_name.clone(),
                    birth_given_names: to_json_list(&f.birth_given_names),
                    birth_date: Some(bd.to_string()),
                    birth_place: f.birth_place.clone(),
                    rpps: f.rpps.as_ref().map(|r| r.as_str().to_string()),
                }));
        }
    }
}

/// Decides what to do with a record that is not linked yet. Never merges on
/// a guess: anything short of one clear match opens a case.
pub async fn decide(
    conn: &mut DbConn,
    source: &SourceConfig,
    rec: &MappedRecord,
    idx: &MatchIndex,
) -> Result<Decision, DirectoryError> {
    let f = &rec.fields;
    // An RPPS already held by someone else forbids linking anyone else.
    let rpps_elsewhere = |oid: Oid| -> Option<Decision> {
        let holders = f.rpps.as_ref().and_then(|r| idx.rpps.get(r.as_str()))?;
        let others: Vec<(Oid, String)> = holders
            .iter()
            .filter(|h| **h != oid)
            .map(|h| (*h, "holds this RPPS".to_string()))
            .collect();
        (!others.is_empty()).then_some(Decision::Case {
            reason: "rpps_held_by_another",
            candidates: others
                .into_iter()
                .chain([(oid, "matched otherwise".to_string())])
                .collect(),
        })
    };
    // 2. Configured join key across sources (never the record's own source).
    if let Some(linked) = rec.join_key.as_ref().and_then(|k| idx.linked_by_key.get(k)) {
        let oids: BTreeSet<Oid> = linked
            .iter()
            .filter(|(_, s)| s != &source.name)
            .map(|(o, _)| *o)
            .collect();
        let mut only = oids.iter().copied();
        match (only.next(), only.next()) {
            (None, _) => {}
            (Some(oid), None) => {
                // A join key links, but never over contradicting traits.
                if let Some(i) = idx.keyed.get(&oid) {
                    let mut conflicts = Vec::new();
                    if let (Some(a), Some(b)) = (f.birth_date.map(|d| d.to_string()), &i.birth_date)
                        && &a != b
                    {
                        conflicts.push("birth date");
                    }
                    if let Some(a) = &f.birth_family_name
                        && normalize_name(a) != normalize_name(&i.birth_family_name)
                    {
                        conflicts.push("birth name");
                    }
                    if let (Some(a), Some(b)) = (&f.rpps, &i.rpps)
                        && a.as_str() != b
                    {
                        conflicts.push("RPPS");
                    }
                    if !conflicts.is_empty() {
                        return Ok(Decision::Case {
                            reason: "join_key_traits_conflict",
                            candidates: vec![(
                                oid,
                                format!("same join key, different {}", conflicts.join(", ")),
                            )],
                        });
                    }
                }
                if let Some(case) = rpps_elsewhere(oid) {
                    return Ok(case);
                }
                return Ok(Decision::Link {
                    oid,
                    how: "join_key",
                });
            }
            (Some(_), Some(_)) => {
                return Ok(Decision::Case {
                    reason: "join_key_ambiguous",
                    candidates: oids
                        .into_iter()
                        .map(|o| (o, "same join key".to_string()))
                        .collect(),
                });
            }
        }
    }
    // 3. Identity traits.
    if let (Some(bfn), Some(given), Some(bd)) = (&f.birth_family_name, first_given(f), f.birth_date)
    {
        let bfn = normalize_name(bfn);
        let used = f.used_family_name.as_deref().map(normalize_name);
        let born = idx
            .born
            .get(&bd.to_string())
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let mut exact = Vec::new();
        let mut near = Vec::new();
        for b in born {
            if b.first_given.as_deref() != Some(given.as_str()) {
                continue;
            }
            let c_bfn = &b.birth_family_name;
            let c_used = b.used_family_name.as_deref();
            if *c_bfn == bfn {
                exact.push(&b.traits);
            } else if c_used == Some(bfn.as_str())
                || used.as_deref() == Some(c_bfn.as_str())
                || (used.is_some() && used.as_deref() == c_used)
            {
                near.push((b.traits.oid, "used name matches a birth name".to_string()));
            }
        }
        if exact.len() == 1 && near.is_empty() {
            let c = exact[0];
            if let (Some(a), Some(b)) = (&f.birth_place, &c.birth_place)
                && normalize_name(a) != normalize_name(b)
            {
                return Ok(Decision::Case {
                    reason: "birth_place_differs",
                    candidates: vec![(
                        c.oid,
                        format!("same names and birth date, born in {b} not {a}"),
                    )],
                });
            }
            if let (Some(a), Some(b)) = (&f.rpps, &c.rpps)
                && a.as_str() != b
            {
                return Ok(Decision::Case {
                    reason: "rpps_differs",
                    candidates: vec![(c.oid, format!("same traits, RPPS {b} not {a}"))],
                });
            }
            // The same source already lists this person under another id:
            // two people with identical traits, or a duplicate in HR.
            let listed_now = idx.linked_now.get(&c.oid).is_some_and(|v| {
                v.iter()
                    .any(|(s, e)| s == &source.name && e != &rec.external_id)
            });
            let listed_before = c.status != LifecycleStatus::Departed
                && SourceRecordRow::for_identity(conn, c.oid)
                    .await?
                    .iter()
                    .any(|o| {
                        o.source == source.name && o.present && o.external_id != rec.external_id
                    });
            if listed_now || listed_before {
                return Ok(Decision::Case {
                    reason: "already_listed_by_source",
                    candidates: vec![(
                        c.oid,
                        "identical traits, already listed under another id".into(),
                    )],
                });
            }
            if let Some(case) = rpps_elsewhere(c.oid) {
                return Ok(case);
            }
            return Ok(Decision::Link {
                oid: c.oid,
                how: "identity_traits",
            });
        }
        if !exact.is_empty() || !near.is_empty() {
            let reason = if exact.is_empty() {
                "near_match_used_name"
            } else {
                "several_candidates"
            };
            let mut candidates: Vec<(Oid, String)> = exact
                .iter()
                .map(|c| (c.oid, "same names and birth date".to_string()))
                .collect();
            candidates.extend(near);
            return Ok(Decision::Case { reason, candidates });
        }
    }
    // A known RPPS with different traits (e.g. a rehire whose name changed).
    if let Some(holders) = f.rpps.as_ref().and_then(|r| idx.rpps.get(r.as_str()))
        && !holders.is_empty()
    {
        return Ok(Decision::Case {
            reason: "rpps_known_traits_differ",
            candidates: holders
                .iter()
                .map(|h| (*h, "same RPPS, different identity traits".to_string()))
                .collect(),
        });
    }
    if source.creates_identities() {
        Ok(Decision::Create)
    } else {
        Ok(Decision::Unmatched)
    }
}
