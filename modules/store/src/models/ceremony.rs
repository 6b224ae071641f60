//! `webauthn_ceremonies`: the server half of a WebAuthn registration or
//! login between its two requests, in the database so that any node can
//! finish what another began.

use crate::schema::webauthn_ceremonies::{self, dsl};
use crate::{DbConn, StoreError, with_conn};
use clavis_core::CeremonyKind;
use clavis_core::Oid;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

/// One pending ceremony.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = webauthn_ceremonies)]
#[diesel(treat_none_as_null = true, treat_none_as_default_value = false)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct CeremonyRow {
    pub id: String,
    /// `register` or `login`.
    pub kind: CeremonyKind,
    pub oid: Option<Oid>,
    /// Serialised webauthn-rs state (JSON).
    pub state: String,
    pub expires_at: i64,
}

impl CeremonyRow {
    /// Stores a ceremony. About one call in sixteen (by the id, which is a
    /// random hash) also sweeps expired ones, so abandoned ceremonies never
    /// pile up and most logins skip the extra statement.
    pub async fn insert(&self, conn: &mut DbConn, now: i64) -> Result<(), StoreError> {
        if self.id.ends_with('0') {
            Self::delete_expired(conn, now).await?;
        }
        with_conn!(conn, c => diesel::insert_into(webauthn_ceremonies::table).values(self).execute(c).await)?;
        Ok(())
    }

    /// Whether the sealed login ceremony `id` (a hash) was finished (read
    /// before any work on an answer to it).
    pub async fn is_spent(db: &crate::Db, id: &str) -> Result<bool, StoreError> {
        let query = || {
            dsl::webauthn_ceremonies
                .filter(dsl::id.eq(id))
                .filter(dsl::kind.eq(CeremonyKind::LoginSpent))
                .count()
        };
        if let Some(inline) = db.inline() {
            let n: i64 = inline.read(|c| diesel::RunQueryDsl::get_result(query(), c))?;
            return Ok(n > 0);
        }
        let mut conn = db.conn().await?;
        let n: i64 = with_conn!(&mut conn, c => query().get_result(c).await)?;
        Ok(n > 0)
    }

    /// Records that the sealed login ceremony `id` (a hash) was finished,
    /// until `expires_at`, its end. False when it already was: each is
    /// finished once.
    pub async fn mark_spent(
        conn: &mut DbConn,
        id: &str,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        let row = CeremonyRow {
            id: id.to_string(),
            kind: CeremonyKind::LoginSpent,
            oid: None,
            state: String::new(),
            expires_at,
        };
        let n = with_conn!(conn, c => diesel::insert_into(webauthn_ceremonies::table)
            .values(&row)
            .on_conflict_do_nothing()
            .execute(c)
            .await)?;
        Ok(n == 1)
    }

    /// How many ceremonies are still pending at `now` (finished logins'
    /// records aside).
    pub async fn count_live(conn: &mut DbConn, now: i64) -> Result<i64, StoreError> {
        Ok(with_conn!(conn, c => dsl::webauthn_ceremonies
            .filter(dsl::kind.ne(CeremonyKind::LoginSpent))
            .filter(dsl::expires_at.gt(now))
            .count()
            .get_result(c)
            .await)?)
    }

    /// Deletes the ceremonies past their end; returns how many.
    pub async fn delete_expired(conn: &mut DbConn, now: i64) -> Result<usize, StoreError> {
        Ok(
            with_conn!(conn, c => diesel::delete(dsl::webauthn_ceremonies.filter(dsl::expires_at.le(now)))
            .execute(c)
            .await)?,
        )
    }

    /// Takes (reads and deletes) a ceremony: each can be finished once.
    pub async fn take(conn: &mut DbConn, id: &str) -> Result<Option<Self>, StoreError> {
        let rows: Vec<CeremonyRow> = with_conn!(conn, c => diesel::delete(dsl::webauthn_ceremonies.filter(dsl::id.eq(id)))
            .returning(CeremonyRow::as_returning())
            .get_results(c)
            .await)?;
        Ok(rows.into_iter().next())
    }
}
