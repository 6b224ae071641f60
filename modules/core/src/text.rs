//! Values stored as text: closed vocabularies (`text_enum!`) and string
//! identifiers (`text_id!`).
//!
//! Each type keeps today's stored strings, so the schema does not change.
//! With the `diesel` feature (the store enables it) each one is also a
//! `Text` column on SQLite and PostgreSQL; a stored string that is not one
//! of the type's values is read back as an [`UnknownValue`] error, which the
//! store reports as `StoreError::Corrupt` instead of guessing.
//!
//! The macros are for this crate only: their `diesel` attributes follow
//! this crate's feature, wherever they would be expanded.

use std::fmt;

/// A text that is not a value of the type it is read as (a stored row, or
/// an operator's input).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownValue {
    /// What was being read ("badge status").
    pub what: &'static str,
    /// The offending text and what was expected.
    pub detail: String,
}

impl fmt::Display for UnknownValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {}: {}", self.what, self.detail)
    }
}

impl std::error::Error for UnknownValue {}

/// How a text column becomes the type (implemented by the macros).
#[doc(hidden)]
pub trait FromColumnText: Sized {
    fn from_column_text(s: String) -> Result<Self, UnknownValue>;
}

/// Defines a closed vocabulary stored as text: the enum, `as_str`,
/// `Display`, `FromStr` (the error names every accepted value), serde as
/// the same strings, and (feature `diesel`) a `Text` column.
#[macro_export]
macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident : $what:literal {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[cfg_attr(feature = "diesel", derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow))]
        #[cfg_attr(feature = "diesel", diesel(sql_type = diesel::sql_types::Text))]
        $vis enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored and displayed form.
            pub fn as_str(&self) -> &'static str {
                match self {
                    $( $name::$variant => $text ),+
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::text::UnknownValue;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $( $text => Ok($name::$variant), )+
                    other => Err($crate::text::UnknownValue {
                        what: $what,
                        detail: format!(
                            "{other:?} is not one of {}",
                            [$($text),+].join(", ")
                        ),
                    }),
                }
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <::std::borrow::Cow<'de, str> as ::serde::Deserialize>::deserialize(d)?;
                s.parse().map_err(::serde::de::Error::custom)
            }
        }

        impl $crate::text::FromColumnText for $name {
            fn from_column_text(s: String) -> Result<Self, $crate::text::UnknownValue> {
                s.parse()
            }
        }

        $crate::__text_column!($name);
    };
}

/// Defines a string identifier: a newtype over `String` with `as_str`,
/// `Display`, `From<String>`/`From<&str>`, `Borrow<str>`, serde as the bare
/// string and (feature `diesel`) a `Text` column. Reading one never fails.
#[macro_export]
macro_rules! text_id {
    ($(#[$meta:meta])* $vis:vis struct $name:ident;) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        #[cfg_attr(feature = "diesel", derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow))]
        #[cfg_attr(feature = "diesel", diesel(sql_type = diesel::sql_types::Text))]
        $vis struct $name(String);

        impl $name {
            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The identifier's text, owned.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl ::std::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(s)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }

        impl ::std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                String::deserialize(d).map(Self)
            }
        }

        impl $crate::text::FromColumnText for $name {
            fn from_column_text(s: String) -> Result<Self, $crate::text::UnknownValue> {
                Ok($name(s))
            }
        }

        $crate::__text_column!($name);
    };
}

#[doc(hidden)]
#[cfg(feature = "diesel")]
#[macro_export]
macro_rules! __text_column {
    ($name:ident) => {
        impl<DB> diesel::serialize::ToSql<diesel::sql_types::Text, DB> for $name
        where
            DB: diesel::backend::Backend,
            str: diesel::serialize::ToSql<diesel::sql_types::Text, DB>,
        {
            fn to_sql<'b>(
                &'b self,
                out: &mut diesel::serialize::Output<'b, '_, DB>,
            ) -> diesel::serialize::Result {
                <str as diesel::serialize::ToSql<diesel::sql_types::Text, DB>>::to_sql(self.as_str(), out)
            }
        }

        impl<DB> diesel::deserialize::FromSql<diesel::sql_types::Text, DB> for $name
        where
            DB: diesel::backend::Backend,
            String: diesel::deserialize::FromSql<diesel::sql_types::Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> diesel::deserialize::Result<Self> {
                let text =
                    <String as diesel::deserialize::FromSql<diesel::sql_types::Text, DB>>::from_sql(bytes)?;
                <$name as $crate::text::FromColumnText>::from_column_text(text).map_err(|e| e.into())
            }
        }
    };
}

#[doc(hidden)]
#[cfg(not(feature = "diesel"))]
#[macro_export]
macro_rules! __text_column {
    ($name:ident) => {};
}

/// A `Text` column for a type stored as its `Display` text and read back
/// through [`FromColumnText`] (a value that does not read back is an
/// error, never a default): ids and actors whose text is computed.
#[doc(hidden)]
#[cfg(feature = "diesel")]
#[macro_export]
macro_rules! __display_text_column {
    ($name:ident) => {
        impl diesel::serialize::ToSql<diesel::sql_types::Text, diesel::sqlite::Sqlite> for $name {
            fn to_sql<'b>(
                &'b self,
                out: &mut diesel::serialize::Output<'b, '_, diesel::sqlite::Sqlite>,
            ) -> diesel::serialize::Result {
                out.set_value(self.to_string());
                Ok(diesel::serialize::IsNull::No)
            }
        }

        impl diesel::serialize::ToSql<diesel::sql_types::Text, diesel::pg::Pg> for $name {
            fn to_sql<'b>(
                &'b self,
                out: &mut diesel::serialize::Output<'b, '_, diesel::pg::Pg>,
            ) -> diesel::serialize::Result {
                use std::io::Write;
                write!(out, "{self}")?;
                Ok(diesel::serialize::IsNull::No)
            }
        }

        impl<DB> diesel::deserialize::FromSql<diesel::sql_types::Text, DB> for $name
        where
            DB: diesel::backend::Backend,
            String: diesel::deserialize::FromSql<diesel::sql_types::Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> diesel::deserialize::Result<Self> {
                let text =
                    <String as diesel::deserialize::FromSql<diesel::sql_types::Text, DB>>::from_sql(bytes)?;
                Ok(<$name as $crate::text::FromColumnText>::from_column_text(text)?)
            }
        }
    };
}

#[doc(hidden)]
#[cfg(not(feature = "diesel"))]
#[macro_export]
macro_rules! __display_text_column {
    ($name:ident) => {};
}
