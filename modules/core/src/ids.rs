//! Newtype identifiers.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

/// The immutable identifier of an identity (a person): a random UUID (v4,
/// or v8 with a prefix shared by those created together: [`OidBatch`]),
/// never reused, never changed, also asserted to Pro Santé Connect as `oid`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(
    feature = "diesel",
    derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow)
)]
#[cfg_attr(feature = "diesel", diesel(sql_type = diesel::sql_types::Text))]
#[serde(transparent)]
pub struct Oid(Uuid);

impl Oid {
    /// A fresh random oid.
    pub fn new_random() -> Self {
        Self(Uuid::new_v4())
    }

    /// The underlying UUID.
    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

/// Oids for identities created together, in one transaction (a page of a
/// directory sync). Those of one batch share their first 48 bits, drawn
/// at random once for the batch; the other 74 free bits of each are its
/// own, random. Every index keyed by oid (identities, source records,
/// accounts, assignments, lifecycle and audit events) then takes a batch's
/// new rows in a few neighbouring pages, where random oids put each in a
/// page of its own: 500 people created in one page of a sync dirtied about
/// 500 pages of each such index, all written again at commit. On 100,000
/// people, SQLite's first HR sync went from 22 to 10 s (docs/operations.md,
/// "The directory at scale").
///
/// An RFC 9562 UUIDv8 (its custom layout), with no time in it, unlike a
/// UUIDv7: an oid is every application's `sub` and goes to Pro Santé
/// Connect, and should not tell when someone was registered. What two oids
/// of one batch do tell whoever sees both is that they were created
/// together: knowing when one was, one knows when the others were. So a
/// batch is only for many people at once ([`OidBatch::MIN_PEOPLE`]: a first
/// import, a site joining), where it is the time of the import that is
/// learnt, not anyone's arrival; the few people a daily sync creates get
/// oids of their own (v4).
#[derive(Debug)]
pub struct OidBatch {
    prefix: [u8; 6],
}

impl OidBatch {
    /// How many people a transaction must be creating, at least, for them
    /// to share a batch (below, each gets [`Oid::new_random`]).
    pub const MIN_PEOPLE: usize = 64;

    /// A batch with a prefix of its own.
    pub fn new() -> Self {
        Self {
            prefix: rand::random(),
        }
    }

    /// A new oid of this batch.
    pub fn next_oid(&self) -> Oid {
        let mut bytes: [u8; 16] = rand::random();
        bytes[..6].copy_from_slice(&self.prefix);
        Oid(uuid::Builder::from_custom_bytes(bytes).into_uuid())
    }
}

impl Default for OidBatch {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl fmt::Debug for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Oid({})", self.0.hyphenated())
    }
}

impl FromStr for Oid {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s.trim()).map(Self)
    }
}

impl crate::text::FromColumnText for Oid {
    fn from_column_text(s: String) -> Result<Self, crate::text::UnknownValue> {
        s.parse()
            .map_err(|e: uuid::Error| crate::text::UnknownValue {
                what: "oid",
                detail: format!("{s:?}: {e}"),
            })
    }
}

// An oid is stored as its hyphenated text on both backends.
crate::__display_text_column!(Oid);

crate::text_id! {
    /// The id of an SSO session (a random UUID; the browser holds a
    /// separate secret token, never this id).
    pub struct SessionId;
}

crate::text_id! {
    /// An OpenID client's `client_id`, as the DSI registered it (`dpi`).
    pub struct ClientId;
}

crate::text_id! {
    /// The id of a badge record (not the card's UID).
    pub struct BadgeId;
}

crate::text_id! {
    /// The id of a registered workstation (its agent signs in with it).
    pub struct WorkstationId;
}

/// A new random id for other records (runs, cases, events), as text.
pub fn new_record_id() -> String {
    Uuid::new_v4().hyphenated().to_string()
}

/// A new id for records written by the thousand a minute (an OpenID
/// authorization's grant, a sync's assignments and lifecycle events), as
/// text: time-ordered (UUIDv7: the time in
/// milliseconds, then random bits), so that an index of them grows at its
/// end as a sequence does, instead of splitting pages at random places
/// (each split a page written more, and on SQLite a rebalance that
/// renumbers pages). The time it was made can be read from it: never for
/// an id that must reveal nothing, never a secret.
pub fn new_ordered_record_id() -> String {
    Uuid::now_v7().hyphenated().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ordered ids sort in the order they were made, as text (what an
    /// index compares), and are still unique.
    #[test]
    fn ordered_record_ids_sort_as_they_were_made() {
        let ids: Vec<String> = (0..2_000).map(|_| new_ordered_record_id()).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(sorted, ids);
        sorted.dedup();
        assert_eq!(sorted.len(), ids.len());
        assert!(
            ids.iter()
                .all(|i| Uuid::parse_str(i).is_ok_and(|u| u.get_version_num() == 7))
        );
    }

    /// A batch's oids share their first 48 bits and nothing else in
    /// common but the UUIDv8 marks; another batch's start elsewhere.
    #[test]
    fn oids_of_a_batch_share_a_random_prefix_and_no_more() {
        let (a, b) = (OidBatch::new(), OidBatch::new());
        let xs: Vec<Oid> = (0..500).map(|_| a.next_oid()).collect();
        let first = xs[0].as_uuid().into_bytes();
        for o in &xs {
            let u = o.as_uuid();
            assert_eq!(u.get_version_num(), 8, "{o}");
            assert_eq!(u.get_variant(), uuid::Variant::RFC4122, "{o}");
            assert_eq!(u.as_bytes()[..6], first[..6], "{o}");
            assert_eq!(o.to_string()[..13], xs[0].to_string()[..13]);
            let back: Oid = o.to_string().parse().expect("parses");
            assert_eq!(&back, o);
        }
        let mut unique = xs.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), xs.len());
        // The 74 free bits vary: every one of them takes both values.
        let (mut ones, mut zeros) = ([0u8; 16], [0u8; 16]);
        for o in &xs {
            for (i, byte) in o.as_uuid().as_bytes().iter().enumerate() {
                ones[i] |= byte;
                zeros[i] |= !byte;
            }
        }
        let fixed: [u8; 16] = [
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xf0, 0, 0xc0, 0, 0, 0, 0, 0, 0, 0,
        ];
        for i in 0..16 {
            assert_eq!(ones[i] & zeros[i], !fixed[i], "byte {i}: free bits");
        }
        assert_ne!(
            b.next_oid().as_uuid().as_bytes()[..6],
            first[..6],
            "another batch starts elsewhere (the same 48 random bits twice: 1 in 2^48)"
        );
    }

    #[test]
    fn oid_round_trips_through_text() {
        let oid = Oid::new_random();
        let back: Oid = oid.to_string().parse().expect("valid uuid");
        assert_eq!(oid, back);
        assert!("not-a-uuid".parse::<Oid>().is_err());
    }
}
