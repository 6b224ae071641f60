//! `login_failures`: failed-login counters per client address, for the
//! progressive delay.

use crate::schema::login_failures::{self, dsl};
use crate::{DbConn, StoreError, with_conn};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

/// A counter (`ip:…`).
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = login_failures)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct LoginFailureRow {
    pub key: String,
    pub failures: i32,
    pub last_failure_at: i64,
}

/// The counters for these keys, as a query both the async and the inline
/// connections run.
#[diesel::dsl::auto_type(no_type_alias)]
fn with_keys<'a>(keys: &'a [String]) -> _ {
    dsl::login_failures.filter(dsl::key.eq_any(keys))
}

impl LoginFailureRow {
    /// The counter for `key`.
    pub async fn find(conn: &mut DbConn, key: &str) -> Result<Option<Self>, StoreError> {
        Ok(with_conn!(conn, c => dsl::login_failures
            .find(key)
            .select(LoginFailureRow::as_select())
            .first(c)
            .await
            .optional())?)
    }

    /// The counters for these keys.
    pub async fn find_many(conn: &mut DbConn, keys: &[String]) -> Result<Vec<Self>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        Ok(with_conn!(conn, c => with_keys(keys)
            .select(LoginFailureRow::as_select())
            .load(c)
            .await)?)
    }

    /// [`LoginFailureRow::find_many`] for the login's reads before its
    /// transaction: on SQLite it runs inline on the calling thread (see
    /// [`crate::db::InlineReaders`]), on PostgreSQL on a pooled connection.
    pub async fn read_many(db: &crate::Db, keys: &[String]) -> Result<Vec<Self>, StoreError> {
        match db.inline() {
            Some(inline) => inline.read(|c| {
                diesel::RunQueryDsl::load(with_keys(keys).select(LoginFailureRow::as_select()), c)
            }),
            None => Self::find_many(&mut db.conn().await?, keys).await,
        }
    }

    /// Clears these counters.
    pub async fn clear_many(conn: &mut DbConn, keys: &[String]) -> Result<(), StoreError> {
        with_conn!(conn, c => diesel::delete(dsl::login_failures.filter(dsl::key.eq_any(keys))).execute(c).await)?;
        Ok(())
    }

    /// Counts one more failure on `key` at `now`, in one statement (a
    /// concurrent failure is never lost, on either backend).
    pub async fn count_one(conn: &mut DbConn, key: &str, now: i64) -> Result<(), StoreError> {
        let first = LoginFailureRow {
            key: key.to_string(),
            failures: 1,
            last_failure_at: now,
        };
        with_conn!(conn, c => diesel::insert_into(login_failures::table)
            .values(&first)
            .on_conflict(dsl::key)
            .do_update()
            .set((dsl::failures.eq(dsl::failures + 1), dsl::last_failure_at.eq(now)))
            .execute(c)
            .await)?;
        Ok(())
    }

    /// Clears the counter (after a success).
    pub async fn clear(conn: &mut DbConn, key: &str) -> Result<(), StoreError> {
        with_conn!(conn, c => diesel::delete(dsl::login_failures.find(key)).execute(c).await)?;
        Ok(())
    }
}
