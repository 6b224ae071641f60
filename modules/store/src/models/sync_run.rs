//! `sync_runs` and `sync_cursors`: the history and position of each source.

use crate::schema::sync_cursors::{self, dsl as cdsl};
use crate::schema::sync_leases::{self, dsl as ldsl};
use crate::schema::sync_runs::{self, dsl};
use crate::{DbConn, StoreError, with_conn};
use clavis_core::{SyncMode, SyncRunStatus};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

/// One run of one source.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = sync_runs)]
#[diesel(treat_none_as_null = true, treat_none_as_default_value = false)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct SyncRunRow {
    pub id: String,
    pub source: String,
    /// `full` or `incremental`.
    pub mode: SyncMode,
    /// `running`, `succeeded`, `failed`.
    pub status: SyncRunStatus,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub seen: i32,
    pub created: i32,
    pub updated: i32,
    pub unchanged: i32,
    pub departed: i32,
    pub cases_opened: i32,
    pub rejected: i32,
    pub unmatched: i32,
    /// JSON array of rejections `{entry, field, message}`.
    pub rejections: String,
    pub error: Option<String>,
}

impl SyncRunRow {
    /// Inserts or replaces this run.
    pub async fn save(&self, conn: &mut DbConn) -> Result<(), StoreError> {
        with_conn!(conn, c => diesel::insert_into(sync_runs::table)
            .values(self)
            .on_conflict(dsl::id)
            .do_update()
            .set(self)
            .execute(c)
            .await)?;
        Ok(())
    }

    /// Runs, newest first.
    pub async fn list(
        conn: &mut DbConn,
        source: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Self>, StoreError> {
        Ok(with_conn!(conn, c => {
            let mut q = dsl::sync_runs.select(SyncRunRow::as_select()).into_boxed();
            if let Some(s) = source {
                q = q.filter(dsl::source.eq(s.to_string()));
            }
            q.order((dsl::started_at.desc(), dsl::id.desc())).limit(limit).load(c).await
        })?)
    }

    /// A run by id.
    pub async fn find(conn: &mut DbConn, id: &str) -> Result<Option<Self>, StoreError> {
        Ok(with_conn!(conn, c => dsl::sync_runs
            .find(id)
            .select(SyncRunRow::as_select())
            .first(c)
            .await
            .optional())?)
    }
}

/// Where a source's incremental sync resumes.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = sync_cursors)]
#[diesel(treat_none_as_null = true, treat_none_as_default_value = false)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct SyncCursor {
    pub source: String,
    /// Highest change marker seen (`modifyTimestamp` or `uSNChanged`).
    pub cursor_value: Option<String>,
    pub last_full_at: Option<i64>,
    pub full_runs: i32,
    pub updated_at: i64,
}

impl SyncCursor {
    /// The cursor of a source.
    pub async fn find(conn: &mut DbConn, source: &str) -> Result<Option<Self>, StoreError> {
        Ok(with_conn!(conn, c => cdsl::sync_cursors
            .find(source)
            .select(SyncCursor::as_select())
            .first(c)
            .await
            .optional())?)
    }

    /// Inserts or replaces the cursor.
    pub async fn save(&self, conn: &mut DbConn) -> Result<(), StoreError> {
        with_conn!(conn, c => diesel::insert_into(sync_cursors::table)
            .values(self)
            .on_conflict(cdsl::source)
            .do_update()
            .set(self)
            .execute(c)
            .await)?;
        Ok(())
    }
}

/// At most one run per source at a time, across processes and nodes: a run
/// holds the source's lease, renews it as it goes, and releases it at the
/// end. A crashed run's lease simply expires.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = sync_leases)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct SyncLease {
    pub source: String,
    /// The run holding it.
    pub owner: String,
    pub expires_at: i64,
}

impl SyncLease {
    /// Takes the lease of `source` for `owner` until `expires_at`, unless
    /// another live run holds it. Returns whether it was taken.
    pub async fn acquire(
        conn: &mut DbConn,
        source: &str,
        owner: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        with_conn!(conn, c => diesel::delete(
                ldsl::sync_leases.filter(ldsl::source.eq(source)).filter(ldsl::expires_at.le(now)),
            )
            .execute(c)
            .await)?;
        let lease = SyncLease {
            source: source.to_string(),
            owner: owner.to_string(),
            expires_at,
        };
        let n = with_conn!(conn, c => diesel::insert_into(sync_leases::table)
            .values(&lease)
            .on_conflict_do_nothing()
            .execute(c)
            .await)?;
        Ok(n == 1)
    }

    /// Extends a held lease; returns whether `owner` still holds it. As a
    /// write, it also makes the current transaction take SQLite's write lock
    /// first, so a batch never fails upgrading a stale read snapshot.
    pub async fn renew(
        conn: &mut DbConn,
        source: &str,
        owner: &str,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        let n = with_conn!(conn, c => diesel::update(
                ldsl::sync_leases.filter(ldsl::source.eq(source)).filter(ldsl::owner.eq(owner)),
            )
            .set(ldsl::expires_at.eq(expires_at))
            .execute(c)
            .await)?;
        Ok(n == 1)
    }

    /// Releases a lease held by `owner`.
    pub async fn release(conn: &mut DbConn, source: &str, owner: &str) -> Result<(), StoreError> {
        with_conn!(conn, c => diesel::delete(
                ldsl::sync_leases.filter(ldsl::source.eq(source)).filter(ldsl::owner.eq(owner)),
            )
            .execute(c)
            .await)?;
        Ok(())
    }
}
