//! [`JsonList`]: a list stored as a JSON array in a text column (the same
//! on SQLite and PostgreSQL). Reading a column that is not such an array
//! is `StoreError::Corrupt`, never an empty list.

use diesel::backend::Backend;
use diesel::deserialize::FromSqlRow;
use diesel::deserialize::{self, FromSql};
use diesel::expression::AsExpression;
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::Text;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::io::Write;
use std::ops::Deref;

/// A list column: given names, professions, redirect URIs, amr values,
/// the applications a session reached.
#[derive(Debug, Clone, PartialEq, Eq, Default, AsExpression, FromSqlRow)]
#[diesel(sql_type = Text)]
pub struct JsonList<T>(pub Vec<T>);

impl<T> JsonList<T> {
    /// The list.
    pub fn into_vec(self) -> Vec<T> {
        self.0
    }
}

impl<T> Deref for JsonList<T> {
    type Target = Vec<T>;
    fn deref(&self) -> &Vec<T> {
        &self.0
    }
}

impl<T> From<Vec<T>> for JsonList<T> {
    fn from(v: Vec<T>) -> Self {
        Self(v)
    }
}

impl<T: Serialize> JsonList<T> {
    fn to_json(&self) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
        Ok(serde_json::to_string(&self.0)?)
    }
}

impl<T: Serialize + std::fmt::Debug> ToSql<Text, diesel::sqlite::Sqlite> for JsonList<T> {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, diesel::sqlite::Sqlite>) -> serialize::Result {
        out.set_value(self.to_json()?);
        Ok(IsNull::No)
    }
}

impl<T: Serialize + std::fmt::Debug> ToSql<Text, diesel::pg::Pg> for JsonList<T> {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, diesel::pg::Pg>) -> serialize::Result {
        out.write_all(self.to_json()?.as_bytes())?;
        Ok(IsNull::No)
    }
}

impl<T, DB> FromSql<Text, DB> for JsonList<T>
where
    T: DeserializeOwned,
    DB: Backend,
    String: FromSql<Text, DB>,
{
    fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
        let text = <String as FromSql<Text, DB>>::from_sql(bytes)?;
        serde_json::from_str(&text).map(JsonList).map_err(|e| {
            clavis_core::UnknownValue {
                what: "JSON list",
                detail: format!("{e} in {:?}", text.chars().take(80).collect::<String>()),
            }
            .into()
        })
    }
}
