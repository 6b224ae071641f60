//! `identity_roles`: Clavis's own roles (e.g. `admin`) held by identities.

use crate::schema::identity_roles::{self, dsl};
use crate::{DbConn, StoreError, with_conn};
use clavis_core::{Actor, Oid};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

/// A role held by an identity.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = identity_roles)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct IdentityRoleRow {
    pub oid: Oid,
    pub role: String,
    pub granted_by: Actor,
    pub granted_at: i64,
}

impl IdentityRoleRow {
    /// Grants (idempotent).
    pub async fn grant(&self, conn: &mut DbConn) -> Result<(), StoreError> {
        with_conn!(conn, c => diesel::insert_into(identity_roles::table)
            .values(self)
            .on_conflict((dsl::oid, dsl::role))
            .do_nothing()
            .execute(c)
            .await)?;
        Ok(())
    }

    /// Whether anyone holds `role` (a fresh install has no `admin`).
    pub async fn anyone_holds(conn: &mut DbConn, role: &str) -> Result<bool, StoreError> {
        let n: i64 = with_conn!(conn, c => dsl::identity_roles
            .filter(dsl::role.eq(role))
            .count()
            .get_result(c)
            .await)?;
        Ok(n > 0)
    }

    /// Withdraws; whether it was held.
    pub async fn revoke(conn: &mut DbConn, oid: Oid, role: &str) -> Result<bool, StoreError> {
        let n = with_conn!(conn, c => diesel::delete(
                dsl::identity_roles
                    .filter(dsl::oid.eq(oid))
                    .filter(dsl::role.eq(role)),
            )
            .execute(c)
            .await)?;
        Ok(n == 1)
    }

    /// Every grant, by role then identity.
    pub async fn all(conn: &mut DbConn) -> Result<Vec<Self>, StoreError> {
        Ok(with_conn!(conn, c => dsl::identity_roles
            .order((dsl::role.asc(), dsl::oid.asc()))
            .select(IdentityRoleRow::as_select())
            .load(c)
            .await)?)
    }

    /// The roles of an identity.
    pub async fn for_identity(conn: &mut DbConn, oid: Oid) -> Result<Vec<String>, StoreError> {
        Ok(with_conn!(conn, c => dsl::identity_roles
            .filter(dsl::oid.eq(oid))
            .select(dsl::role)
            .load(c)
            .await)?)
    }
}
