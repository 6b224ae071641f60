//! `habilitations`: a person's roles in one application (OIDC client),
//! sent to that client in the `roles` claim.

use crate::schema::habilitations::{self, dsl};
use crate::{DbConn, StoreError, with_conn};
use clavis_core::{Actor, ClientId, Oid};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

/// One role of one person in one application.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = habilitations)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct HabilitationRow {
    pub oid: Oid,
    pub client_id: ClientId,
    pub role: String,
    pub granted_by: Actor,
    pub granted_at: i64,
}

impl HabilitationRow {
    /// Grants a role (no-op when already granted); returns whether it was new.
    pub async fn grant(&self, conn: &mut DbConn) -> Result<bool, StoreError> {
        let n = with_conn!(conn, c => diesel::insert_into(habilitations::table)
            .values(self)
            .on_conflict_do_nothing()
            .execute(c)
            .await)?;
        Ok(n == 1)
    }

    /// Withdraws a role; returns whether it was held.
    pub async fn revoke(
        conn: &mut DbConn,
        oid: Oid,
        client_id: &ClientId,
        role: &str,
    ) -> Result<bool, StoreError> {
        let n = with_conn!(conn, c => diesel::delete(
                dsl::habilitations
                    .filter(dsl::oid.eq(oid))
                    .filter(dsl::client_id.eq(client_id))
                    .filter(dsl::role.eq(role)),
            )
            .execute(c)
            .await)?;
        Ok(n == 1)
    }

    /// The roles of a person in one application, sorted.
    pub async fn roles(
        conn: &mut DbConn,
        oid: Oid,
        client_id: &ClientId,
    ) -> Result<Vec<String>, StoreError> {
        Ok(with_conn!(conn, c => dsl::habilitations
            .filter(dsl::oid.eq(oid))
            .filter(dsl::client_id.eq(client_id))
            .order(dsl::role.asc())
            .select(dsl::role)
            .load(c)
            .await)?)
    }
}
