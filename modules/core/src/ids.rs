//! Newtype identifiers.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

/// The immutable identifier of an identity (a person): a random UUID v4,
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
/// authorization's grant), as text: time-ordered (UUIDv7: the time in
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

    #[test]
    fn oid_round_trips_through_text() {
        let oid = Oid::new_random();
        let back: Oid = oid.to_string().parse().expect("valid uuid");
        assert_eq!(oid, back);
        assert!("not-a-uuid".parse::<Oid>().is_err());
    }
}
