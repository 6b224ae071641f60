//! Who acted: the `actor` of an audit event and the `created_by` of the
//! records that remember their author.
//!
//! Stored as today's strings (`identity:<oid>`, `cli:root`, `sync:rh`…),
//! so the audit chain and the schema are unchanged; reading a string back
//! that names no kind of actor is an [`UnknownValue`], never a guess.

use crate::ids::{ClientId, Oid, WorkstationId};
use crate::text::UnknownValue;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// Who performed an action.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "diesel",
    derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow)
)]
#[cfg_attr(feature = "diesel", diesel(sql_type = diesel::sql_types::Text))]
pub enum Actor {
    /// A person, for themselves or as an operator (`identity:<oid>`).
    Identity(Oid),
    /// A registered workstation's agent (`workstation:<id>`).
    Workstation(WorkstationId),
    /// An OpenID client at the token endpoint (`client:<client_id>`).
    Client(ClientId),
    /// An admin API token, by its name (`api:<name>`).
    Api(String),
    /// The command line, by the system user who ran it (`cli:<user>`).
    Cli(String),
    /// A directory source's sync, by the source's name (`sync:<name>`).
    Sync(String),
    /// The appliance itself: expiry, back-channel delivery (`clavis`).
    Clavis,
    /// The daily job that applies dated arrivals and departures (`lifecycle`).
    Lifecycle,
    /// Someone not (yet) identified: a refused login, a wrong PIN (`anonymous`).
    Anonymous,
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::Identity(oid) => write!(f, "identity:{oid}"),
            Actor::Workstation(id) => write!(f, "workstation:{id}"),
            Actor::Client(id) => write!(f, "client:{id}"),
            Actor::Api(name) => write!(f, "api:{name}"),
            Actor::Cli(user) => write!(f, "cli:{user}"),
            Actor::Sync(source) => write!(f, "sync:{source}"),
            Actor::Clavis => f.write_str("clavis"),
            Actor::Lifecycle => f.write_str("lifecycle"),
            Actor::Anonymous => f.write_str("anonymous"),
        }
    }
}

impl FromStr for Actor {
    type Err = UnknownValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let unknown = || UnknownValue {
            what: "actor",
            detail: format!(
                "{s:?} is not one of clavis, lifecycle, anonymous, identity:<oid>, workstation:<id>, \
                 client:<id>, api:<name>, cli:<user>, sync:<source>"
            ),
        };
        match s {
            "clavis" => return Ok(Actor::Clavis),
            "lifecycle" => return Ok(Actor::Lifecycle),
            "anonymous" => return Ok(Actor::Anonymous),
            _ => {}
        }
        let (kind, rest) = s.split_once(':').ok_or_else(unknown)?;
        if rest.is_empty() {
            return Err(unknown());
        }
        Ok(match kind {
            "identity" => Actor::Identity(rest.parse().map_err(|_| unknown())?),
            "workstation" => Actor::Workstation(WorkstationId::from(rest)),
            "client" => Actor::Client(ClientId::from(rest)),
            "api" => Actor::Api(rest.to_owned()),
            "cli" => Actor::Cli(rest.to_owned()),
            "sync" => Actor::Sync(rest.to_owned()),
            _ => return Err(unknown()),
        })
    }
}

impl Actor {
    /// The person behind the action, when it is one.
    pub fn oid(&self) -> Option<Oid> {
        match self {
            Actor::Identity(oid) => Some(*oid),
            _ => None,
        }
    }
}

impl From<Oid> for Actor {
    fn from(oid: Oid) -> Self {
        Actor::Identity(oid)
    }
}

impl From<&Actor> for Actor {
    fn from(actor: &Actor) -> Self {
        actor.clone()
    }
}

impl Serialize for Actor {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Actor {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str> as Deserialize>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl crate::text::FromColumnText for Actor {
    fn from_column_text(s: String) -> Result<Self, UnknownValue> {
        s.parse()
    }
}

crate::__display_text_column!(Actor);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_actor_round_trips_through_its_stored_text() {
        let oid = Oid::new_random();
        let all = [
            (Actor::Identity(oid), format!("identity:{oid}")),
            (Actor::Workstation("ws-1".into()), "workstation:ws-1".into()),
            (Actor::Client("dpi".into()), "client:dpi".into()),
            (Actor::Api("monitoring".into()), "api:monitoring".into()),
            (Actor::Cli("root".into()), "cli:root".into()),
            (Actor::Sync("rh".into()), "sync:rh".into()),
            (Actor::Clavis, "clavis".into()),
            (Actor::Lifecycle, "lifecycle".into()),
            (Actor::Anonymous, "anonymous".into()),
        ];
        for (actor, text) in all {
            assert_eq!(actor.to_string(), text);
            assert_eq!(text.parse::<Actor>(), Ok(actor));
        }
    }

    #[test]
    fn a_text_naming_no_kind_of_actor_is_refused() {
        for bad in [
            "",
            "root",
            "cli:",
            "admin:x",
            "identity:not-a-uuid",
            "clavis:x",
        ] {
            let err = bad.parse::<Actor>().expect_err(bad);
            assert_eq!(err.what, "actor", "{bad}");
        }
    }
}
