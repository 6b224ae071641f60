//! `enrolment_links`: one-time links to enrol a first key. Only the SHA-256
//! of the link token is stored.

use crate::schema::enrolment_links::{self, dsl};
use crate::{DbConn, StoreError, with_conn};
use clavis_core::{Actor, Oid};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

/// One enrolment link.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = enrolment_links)]
#[diesel(treat_none_as_null = true, treat_none_as_default_value = false)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct EnrolmentLinkRow {
    pub token_hash: String,
    pub oid: Oid,
    pub created_by: Actor,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

impl EnrolmentLinkRow {
    /// Inserts one.
    pub async fn insert(&self, conn: &mut DbConn) -> Result<(), StoreError> {
        with_conn!(conn, c => diesel::insert_into(enrolment_links::table).values(self).execute(c).await)?;
        Ok(())
    }

    /// The link with this token hash.
    pub async fn find(conn: &mut DbConn, hash: &str) -> Result<Option<Self>, StoreError> {
        Ok(with_conn!(conn, c => dsl::enrolment_links
            .find(hash)
            .select(EnrolmentLinkRow::as_select())
            .first(c)
            .await
            .optional())?)
    }

    /// Marks the link used if it was not; returns whether this call used it
    /// (so two concurrent uses cannot both succeed).
    pub async fn mark_used(conn: &mut DbConn, hash: &str, now: i64) -> Result<bool, StoreError> {
        let n = with_conn!(conn, c => diesel::update(
                dsl::enrolment_links.filter(dsl::token_hash.eq(hash)).filter(dsl::used_at.is_null()),
            )
            .set(dsl::used_at.eq(Some(now)))
            .execute(c)
            .await)?;
        Ok(n == 1)
    }
}
