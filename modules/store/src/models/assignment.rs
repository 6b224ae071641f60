//! `assignments`: where a person works (service, UF, FINESS), with history.

use crate::schema::assignments::{self, dsl};
use crate::{DbConn, StoreError, with_conn};
use clavis_core::Oid;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

/// One assignment. A move closes the current one (`is_current = false`,
/// `ended_at` set) and opens a new one: history is never deleted.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = assignments)]
#[diesel(treat_none_as_null = true, treat_none_as_default_value = false)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct Assignment {
    pub id: String,
    pub oid: Oid,
    pub service: Option<String>,
    pub uf: Option<String>,
    pub finess: Option<String>,
    pub start_date: Option<String>,
    pub end_date: Option<String>,
    pub is_current: bool,
    pub recorded_at: i64,
    pub ended_at: Option<i64>,
}

impl Assignment {
    /// All assignments of an identity, newest first.
    pub async fn for_identity(conn: &mut DbConn, oid: Oid) -> Result<Vec<Self>, StoreError> {
        Ok(with_conn!(conn, c => dsl::assignments
            .filter(dsl::oid.eq(oid))
            .order((dsl::recorded_at.desc(), dsl::id.asc()))
            .select(Assignment::as_select())
            .load(c)
            .await)?)
    }

    /// The current assignments of many identities.
    pub async fn current_for(conn: &mut DbConn, oids: &[Oid]) -> Result<Vec<Self>, StoreError> {
        if oids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(with_conn!(conn, c => dsl::assignments
            .filter(dsl::oid.eq_any(oids))
            .filter(dsl::is_current.eq(true))
            .select(Assignment::as_select())
            .load(c)
            .await)?)
    }

    /// Inserts new assignments (a statement for many,
    /// [`insert_rows!`](crate::db::insert_rows)).
    pub async fn insert_all(conn: &mut DbConn, rows: Vec<Assignment>) -> Result<(), StoreError> {
        crate::db::insert_rows!(conn, rows, Assignment => assignments {
            id, oid, service, uf, finess, start_date, end_date, is_current, recorded_at, ended_at,
        })
    }

    /// Closes the current assignments of these identities at `now`.
    pub async fn close_current_for(
        conn: &mut DbConn,
        oids: &[Oid],
        now: i64,
    ) -> Result<(), StoreError> {
        if oids.is_empty() {
            return Ok(());
        }
        with_conn!(conn, c => diesel::update(
                dsl::assignments.filter(dsl::oid.eq_any(oids)).filter(dsl::is_current.eq(true)),
            )
            .set((dsl::is_current.eq(false), dsl::ended_at.eq(Some(now))))
            .execute(c)
            .await)?;
        Ok(())
    }
}
