//! `reconciliation_cases`: doubtful matches waiting for an operator.

use crate::schema::reconciliation_cases::{self, dsl};
use crate::{DbConn, StoreError, with_conn};
use clavis_core::{Actor, CaseStatus};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

/// A source record that could not be matched with certainty.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = reconciliation_cases)]
#[diesel(treat_none_as_null = true, treat_none_as_default_value = false)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct ReconciliationCase {
    pub id: String,
    pub source: String,
    pub external_id: String,
    pub entry_ref: String,
    /// Why no automatic decision was made (snake_case code).
    pub reason: String,
    /// JSON array of `{oid, why}`.
    pub candidates: String,
    /// `open` or `resolved`.
    pub status: CaseStatus,
    /// `linked:OID`, `created:OID` once resolved.
    pub resolution: Option<String>,
    pub resolved_by: Option<Actor>,
    pub opened_at: i64,
    pub resolved_at: Option<i64>,
    pub sync_run_id: Option<String>,
}

impl ReconciliationCase {
    /// A case by id.
    pub async fn find(conn: &mut DbConn, id: &str) -> Result<Option<Self>, StoreError> {
        Ok(with_conn!(conn, c => dsl::reconciliation_cases
            .find(id)
            .select(ReconciliationCase::as_select())
            .first(c)
            .await
            .optional())?)
    }

    /// The open case of a source record, if any.
    pub async fn open_for(
        conn: &mut DbConn,
        source: &str,
        external_id: &str,
    ) -> Result<Option<Self>, StoreError> {
        Ok(with_conn!(conn, c => dsl::reconciliation_cases
            .filter(dsl::source.eq(source))
            .filter(dsl::external_id.eq(external_id))
            .filter(dsl::status.eq(CaseStatus::Open))
            .select(ReconciliationCase::as_select())
            .first(c)
            .await
            .optional())?)
    }

    /// The open cases of these records of `source`.
    pub async fn open_for_many(
        conn: &mut DbConn,
        source: &str,
        external_ids: &[String],
    ) -> Result<Vec<Self>, StoreError> {
        if external_ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(with_conn!(conn, c => dsl::reconciliation_cases
            .filter(dsl::source.eq(source))
            .filter(dsl::external_id.eq_any(external_ids))
            .filter(dsl::status.eq(CaseStatus::Open))
            .select(ReconciliationCase::as_select())
            .load(c)
            .await)?)
    }

    /// The cases of these records of `source` whose record an operator
    /// rejected (resolution `rejected:<content hash>`), newest last.
    pub async fn rejected_for_many(
        conn: &mut DbConn,
        source: &str,
        external_ids: &[String],
    ) -> Result<Vec<Self>, StoreError> {
        if external_ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(with_conn!(conn, c => dsl::reconciliation_cases
            .filter(dsl::source.eq(source))
            .filter(dsl::external_id.eq_any(external_ids))
            .filter(dsl::status.eq(CaseStatus::Resolved))
            .filter(dsl::resolution.like("rejected:%"))
            .order((dsl::resolved_at.asc(), dsl::id.asc()))
            .select(ReconciliationCase::as_select())
            .load(c)
            .await)?)
    }

    /// Cases, newest first; only open ones when `open_only`.
    pub async fn list(
        conn: &mut DbConn,
        open_only: bool,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<Self>, StoreError> {
        Ok(with_conn!(conn, c => {
            let mut q = dsl::reconciliation_cases
                .select(ReconciliationCase::as_select())
                .into_boxed();
            if open_only {
                q = q.filter(dsl::status.eq(CaseStatus::Open));
            }
            q.order((dsl::opened_at.desc(), dsl::id.asc()))
                .limit(limit)
                .offset(offset)
                .load(c)
                .await
        })?)
    }

    /// How many cases [`ReconciliationCase::list`] pages through.
    pub async fn count(conn: &mut DbConn, open_only: bool) -> Result<i64, StoreError> {
        Ok(with_conn!(conn, c => {
            let mut q = dsl::reconciliation_cases.count().into_boxed();
            if open_only {
                q = q.filter(dsl::status.eq(CaseStatus::Open));
            }
            q.get_result(c).await
        })?)
    }

    /// Inserts a new case.
    pub async fn insert(&self, conn: &mut DbConn) -> Result<(), StoreError> {
        with_conn!(conn, c => diesel::insert_into(reconciliation_cases::table).values(self).execute(c).await)?;
        Ok(())
    }

    /// Writes every column.
    pub async fn update(&self, conn: &mut DbConn) -> Result<(), StoreError> {
        with_conn!(conn, c => diesel::update(dsl::reconciliation_cases.find(&self.id)).set(self).execute(c).await)?;
        Ok(())
    }
}
