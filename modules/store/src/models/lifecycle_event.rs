//! `lifecycle_events`: arrivals, moves, departures, as they were applied.

use crate::schema::lifecycle_events::{self, dsl};
use crate::{DbConn, StoreError, with_conn};
use clavis_core::Oid;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

/// One lifecycle event, recorded in the transaction that applied it.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = lifecycle_events)]
#[diesel(treat_none_as_null = true, treat_none_as_default_value = false)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct LifecycleEventRow {
    pub id: String,
    pub oid: Oid,
    /// `arrived`, `activated`, `moved`, `suspended`, `reinstated`, `departed`, `rehired`.
    pub kind: String,
    /// Why (`end_date_reached`, `leaver_flag`, `missing_from_source`…).
    pub reason: String,
    pub occurred_at: i64,
    pub sync_run_id: Option<String>,
}

impl LifecycleEventRow {
    /// Records events.
    pub async fn insert_all(
        conn: &mut DbConn,
        rows: Vec<LifecycleEventRow>,
    ) -> Result<(), StoreError> {
        crate::db::insert_rows!(conn, rows, LifecycleEventRow => lifecycle_events {
            id, oid, kind, reason, occurred_at, sync_run_id,
        })
    }

    /// Events of an identity, oldest first.
    pub async fn for_identity(conn: &mut DbConn, oid: Oid) -> Result<Vec<Self>, StoreError> {
        Ok(with_conn!(conn, c => dsl::lifecycle_events
            .filter(dsl::oid.eq(oid))
            .order((dsl::occurred_at.asc(), dsl::id.asc()))
            .select(LifecycleEventRow::as_select())
            .load(c)
            .await)?)
    }
}
