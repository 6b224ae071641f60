//! `source_records`: what each source says about each person, raw.

use crate::schema::source_records::{self, dsl};
use crate::{DbConn, StoreError, with_conn};
use clavis_core::Oid;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

/// One record of one source, keyed by (source, external id).
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = source_records)]
#[diesel(treat_none_as_null = true, treat_none_as_default_value = false)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct SourceRecordRow {
    pub source: String,
    pub external_id: String,
    /// The identity it is linked to; `None` while unmatched or in a case.
    pub oid: Option<Oid>,
    /// Where it came from: an LDAP DN or `file:line`.
    pub entry_ref: String,
    pub join_key: Option<String>,
    /// The mapped attributes, as JSON.
    pub attributes: String,
    /// SHA-256 of `attributes`: an unchanged entry is skipped cheaply.
    pub content_hash: String,
    /// Listed by the source in its last full run.
    pub present: bool,
    /// Consecutive full runs that did not list it.
    pub missing_runs: i32,
    pub first_seen_at: i64,
    pub last_seen_at: i64,
    pub last_run_id: String,
}

impl SourceRecordRow {
    /// The records of `source` with these external ids.
    pub async fn find_many(
        conn: &mut DbConn,
        source: &str,
        ids: &[String],
    ) -> Result<Vec<Self>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(with_conn!(conn, c => dsl::source_records
            .filter(dsl::source.eq(source))
            .filter(dsl::external_id.eq_any(ids))
            .select(SourceRecordRow::as_select())
            .load(c)
            .await)?)
    }

    /// One record.
    pub async fn find(
        conn: &mut DbConn,
        source: &str,
        external_id: &str,
    ) -> Result<Option<Self>, StoreError> {
        Ok(with_conn!(conn, c => dsl::source_records
            .find((source, external_id))
            .select(SourceRecordRow::as_select())
            .first(c)
            .await
            .optional())?)
    }

    /// Linked records (any source) with this external id.
    pub async fn linked_with_external_id(
        conn: &mut DbConn,
        external_id: &str,
    ) -> Result<Vec<Self>, StoreError> {
        Ok(with_conn!(conn, c => dsl::source_records
            .filter(dsl::external_id.eq(external_id))
            .filter(dsl::oid.is_not_null())
            .select(SourceRecordRow::as_select())
            .load(c)
            .await)?)
    }

    /// Every record linked to an identity.
    pub async fn for_identity(conn: &mut DbConn, oid: Oid) -> Result<Vec<Self>, StoreError> {
        Ok(with_conn!(conn, c => dsl::source_records
            .filter(dsl::oid.eq(oid))
            .order((dsl::source.asc(), dsl::external_id.asc()))
            .select(SourceRecordRow::as_select())
            .load(c)
            .await)?)
    }

    /// Every record linked to any of these identities.
    pub async fn for_identities(conn: &mut DbConn, oids: &[Oid]) -> Result<Vec<Self>, StoreError> {
        if oids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(with_conn!(conn, c => dsl::source_records
            .filter(dsl::oid.eq_any(oids))
            .order((dsl::source.asc(), dsl::external_id.asc()))
            .select(SourceRecordRow::as_select())
            .load(c)
            .await)?)
    }

    /// (external id, present) of every record of `source`.
    pub async fn ids_of_source(
        conn: &mut DbConn,
        source: &str,
    ) -> Result<Vec<(String, bool)>, StoreError> {
        Ok(with_conn!(conn, c => dsl::source_records
            .filter(dsl::source.eq(source))
            .select((dsl::external_id, dsl::present))
            .load(c)
            .await)?)
    }

    /// Marks records as seen by run `run_id` at `now` (unchanged entries).
    pub async fn touch(
        conn: &mut DbConn,
        source: &str,
        ids: &[String],
        run_id: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        with_conn!(conn, c => diesel::update(
                dsl::source_records
                    .filter(dsl::source.eq(source))
                    .filter(dsl::external_id.eq_any(ids)),
            )
            .set((
                dsl::last_run_id.eq(run_id),
                dsl::last_seen_at.eq(now),
                dsl::present.eq(true),
                dsl::missing_runs.eq(0),
            ))
            .execute(c)
            .await)?;
        Ok(())
    }

    /// Records of other sources sharing any of these join keys.
    pub async fn with_join_keys(
        conn: &mut DbConn,
        source: &str,
        keys: &[String],
    ) -> Result<Vec<Self>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        Ok(with_conn!(conn, c => dsl::source_records
            .filter(dsl::join_key.eq_any(keys))
            .filter(dsl::source.ne(source))
            .select(SourceRecordRow::as_select())
            .load(c)
            .await)?)
    }

    /// Inserts or replaces these records (a statement for many,
    /// [`insert_rows!`](crate::db::insert_rows)).
    pub async fn upsert_all(
        conn: &mut DbConn,
        rows: Vec<SourceRecordRow>,
    ) -> Result<(), StoreError> {
        crate::db::insert_rows!(conn, rows, SourceRecordRow => source_records {
            source, external_id, oid, entry_ref, join_key, attributes, content_hash, present,
            missing_runs, first_seen_at, last_seen_at, last_run_id,
        } on conflict (source, external_id) set oid, entry_ref, join_key, attributes,
            content_hash, present, missing_runs, first_seen_at, last_seen_at, last_run_id,)
    }

    /// Inserts or replaces this record.
    pub async fn upsert(&self, conn: &mut DbConn) -> Result<(), StoreError> {
        with_conn!(conn, c => diesel::insert_into(source_records::table)
            .values(self)
            .on_conflict((dsl::source, dsl::external_id))
            .do_update()
            .set(self)
            .execute(c)
            .await)?;
        Ok(())
    }
}
