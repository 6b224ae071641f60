//! `manual_terms`: the sponsor, reason and end date of a manual identity
//! (a person outside HR), keyed by the `manual` source record the identity
//! office typed.

use crate::schema::manual_terms::{self, dsl};
use crate::schema::source_records::dsl as sdsl;
use crate::{DbConn, StoreError, with_conn};
use clavis_core::{Actor, Oid};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

/// The terms of one manual identity.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = manual_terms)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct ManualTermsRow {
    /// The `manual` source record's external id.
    pub external_id: String,
    /// Who answers for the person (a head of department, a manager).
    pub sponsor: String,
    /// Why they are in the directory without HR.
    pub reason: String,
    /// Their last day (`YYYY-MM-DD`): their departure date.
    pub until_date: String,
    pub created_by: Actor,
    pub created_at: i64,
}

impl ManualTermsRow {
    /// Records the terms.
    pub async fn insert(&self, conn: &mut DbConn) -> Result<(), StoreError> {
        with_conn!(conn, c => diesel::insert_into(manual_terms::table)
            .values(self)
            .execute(c)
            .await)?;
        Ok(())
    }

    /// The terms of the manual records of `oid` (one, unless several were
    /// linked to the same person).
    pub async fn for_identity(conn: &mut DbConn, oid: Oid) -> Result<Vec<Self>, StoreError> {
        let ids: Vec<String> = with_conn!(conn, c => sdsl::source_records
            .filter(sdsl::source.eq("manual"))
            .filter(sdsl::oid.eq(oid.to_string()))
            .select(sdsl::external_id)
            .load(c)
            .await)?;
        Self::find_many(conn, &ids).await
    }

    /// The terms of these records.
    pub async fn find_many(conn: &mut DbConn, ids: &[String]) -> Result<Vec<Self>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(with_conn!(conn, c => dsl::manual_terms
            .filter(dsl::external_id.eq_any(ids))
            .select(ManualTermsRow::as_select())
            .load(c)
            .await)?)
    }

    /// Every manual identity's terms with the identity they belong to
    /// (`None` while a case holds the record), soonest end first.
    pub async fn list(
        conn: &mut DbConn,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<(Self, Option<Oid>)>, StoreError> {
        let terms: Vec<Self> = with_conn!(conn, c => dsl::manual_terms
            .order((dsl::until_date.asc(), dsl::external_id.asc()))
            .limit(limit)
            .offset(offset)
            .select(ManualTermsRow::as_select())
            .load(c)
            .await)?;
        let ids: Vec<String> = terms.iter().map(|t| t.external_id.clone()).collect();
        let owners: Vec<(String, Option<Oid>)> = with_conn!(conn, c => sdsl::source_records
            .filter(sdsl::source.eq("manual"))
            .filter(sdsl::external_id.eq_any(&ids))
            .select((sdsl::external_id, sdsl::oid))
            .load(c)
            .await)?;
        let owners: std::collections::HashMap<String, Option<Oid>> = owners.into_iter().collect();
        Ok(terms
            .into_iter()
            .map(|t| {
                let oid = owners.get(&t.external_id).copied().flatten();
                (t, oid)
            })
            .collect())
    }

    /// How many manual identities there are.
    pub async fn count(conn: &mut DbConn) -> Result<i64, StoreError> {
        Ok(with_conn!(conn, c => dsl::manual_terms.count().get_result(c).await)?)
    }
}
