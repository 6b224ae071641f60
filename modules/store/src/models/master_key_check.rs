//! `master_key_check`: the master key's fingerprint, recorded once by the
//! first process that uses the key with this database, compared by every
//! later one.

use crate::schema::master_key_check::{self, dsl};
use crate::{DbConn, StoreError, with_conn};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

/// The one row.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = master_key_check)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct MasterKeyCheck {
    pub id: i32,
    /// Hex of an HMAC under the master key (not the key).
    pub fingerprint: String,
    pub recorded_at: i64,
}

impl MasterKeyCheck {
    /// The recorded fingerprint, if any.
    pub async fn find(conn: &mut DbConn) -> Result<Option<Self>, StoreError> {
        Ok(with_conn!(conn, c => dsl::master_key_check
            .find(1)
            .select(MasterKeyCheck::as_select())
            .first(c)
            .await
            .optional())?)
    }

    /// Records `fingerprint` unless one is recorded already (by a process
    /// that got there first): then nothing changes. Read it back with
    /// [`MasterKeyCheck::find`].
    pub async fn record(conn: &mut DbConn, fingerprint: &str, now: i64) -> Result<(), StoreError> {
        let row = MasterKeyCheck {
            id: 1,
            fingerprint: fingerprint.to_string(),
            recorded_at: now,
        };
        with_conn!(conn, c => diesel::insert_into(dsl::master_key_check)
            .values(&row)
            .on_conflict_do_nothing()
            .execute(c)
            .await)?;
        Ok(())
    }
}
