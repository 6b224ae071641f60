//! `workstations`: registered workstations whose agent relays badge
//! exchanges. Only the SHA-256 of each credential is stored.

use crate::schema::workstations::{self, dsl};
use crate::{DbConn, StoreError, with_conn};
use clavis_core::{Actor, WorkstationId};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

/// One workstation.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = workstations)]
#[diesel(treat_none_as_null = true, treat_none_as_default_value = false)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct WorkstationRow {
    pub id: WorkstationId,
    /// Operator's name for it (unique).
    pub name: String,
    pub location: Option<String>,
    /// SHA-256 (hex) of the credential.
    pub secret_hash: String,
    pub created_at: i64,
    pub created_by: Actor,
    pub last_seen_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl WorkstationRow {
    /// Registers a workstation.
    pub async fn insert(&self, conn: &mut DbConn) -> Result<(), StoreError> {
        with_conn!(conn, c => diesel::insert_into(workstations::table).values(self).execute(c).await)?;
        Ok(())
    }

    /// One workstation by id.
    pub async fn find(conn: &mut DbConn, id: &WorkstationId) -> Result<Option<Self>, StoreError> {
        Ok(with_conn!(conn, c => dsl::workstations
            .find(id)
            .select(WorkstationRow::as_select())
            .first(c)
            .await
            .optional())?)
    }

    /// One workstation by id or name.
    pub async fn find_by_key(conn: &mut DbConn, key: &str) -> Result<Option<Self>, StoreError> {
        Ok(with_conn!(conn, c => dsl::workstations
            .filter(dsl::id.eq(key).or(dsl::name.eq(key)))
            .select(WorkstationRow::as_select())
            .first(c)
            .await
            .optional())?)
    }

    /// Every workstation, by name.
    pub async fn list(conn: &mut DbConn) -> Result<Vec<Self>, StoreError> {
        Ok(with_conn!(conn, c => dsl::workstations
            .order(dsl::name.asc())
            .select(WorkstationRow::as_select())
            .load(c)
            .await)?)
    }

    /// Revokes; returns whether it was live.
    pub async fn revoke(
        conn: &mut DbConn,
        id: &WorkstationId,
        now: i64,
    ) -> Result<bool, StoreError> {
        let n = with_conn!(conn, c => diesel::update(dsl::workstations.find(id).filter(dsl::revoked_at.is_null()))
            .set(dsl::revoked_at.eq(Some(now)))
            .execute(c)
            .await)?;
        Ok(n == 1)
    }

    /// Replaces the credential hash (and un-revokes).
    pub async fn set_secret(
        conn: &mut DbConn,
        id: &WorkstationId,
        hash: &str,
    ) -> Result<bool, StoreError> {
        let n = with_conn!(conn, c => diesel::update(dsl::workstations.find(id))
            .set((dsl::secret_hash.eq(hash), dsl::revoked_at.eq(None::<i64>)))
            .execute(c)
            .await)?;
        Ok(n == 1)
    }

    /// Records that the agent was heard from (at most once a minute is
    /// enough; the caller decides).
    pub async fn touch(conn: &mut DbConn, id: &WorkstationId, now: i64) -> Result<(), StoreError> {
        with_conn!(conn, c => diesel::update(dsl::workstations.find(id))
            .set(dsl::last_seen_at.eq(Some(now)))
            .execute(c)
            .await)?;
        Ok(())
    }
}
