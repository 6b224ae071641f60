//! `identity_suspensions`: suspensions an operator placed on a person, and
//! their lifting. At most one is in force per person (a partial unique
//! index); the history stays.

use crate::schema::identity_suspensions::{self, dsl};
use crate::{DbConn, StoreError, with_conn};
use clavis_core::{Actor, Oid};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use std::collections::HashSet;

/// One suspension, in force while `lifted_at` is empty.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = identity_suspensions)]
#[diesel(treat_none_as_null = true, treat_none_as_default_value = false)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct IdentitySuspensionRow {
    pub id: String,
    pub oid: Oid,
    /// Why it was placed (the operator's words).
    pub reason: String,
    pub placed_by: Actor,
    pub placed_at: i64,
    pub lifted_by: Option<Actor>,
    pub lifted_at: Option<i64>,
    /// Why it was lifted.
    pub lift_reason: Option<String>,
}

impl IdentitySuspensionRow {
    /// Places a suspension on `oid`: `false`, and nothing written, when one
    /// is in force already (also when another transaction placed it at the
    /// same moment: the index decides).
    pub async fn place(
        conn: &mut DbConn,
        oid: Oid,
        reason: &str,
        by: &Actor,
        now: i64,
    ) -> Result<bool, StoreError> {
        let row = IdentitySuspensionRow {
            id: clavis_core::ids::new_record_id(),
            oid,
            reason: reason.to_string(),
            placed_by: by.clone(),
            placed_at: now,
            lifted_by: None,
            lifted_at: None,
            lift_reason: None,
        };
        let n = with_conn!(conn, c => diesel::insert_into(identity_suspensions::table)
            .values(&row)
            .on_conflict_do_nothing()
            .execute(c)
            .await)?;
        Ok(n == 1)
    }

    /// Lifts the suspension in force on `oid`, if any, and returns it.
    pub async fn lift(
        conn: &mut DbConn,
        oid: Oid,
        reason: &str,
        by: &Actor,
        now: i64,
    ) -> Result<Option<Self>, StoreError> {
        Ok(with_conn!(conn, c => diesel::update(
                dsl::identity_suspensions.filter(dsl::oid.eq(oid)).filter(dsl::lifted_at.is_null()),
            )
            .set((
                dsl::lifted_by.eq(Some(by.clone())),
                dsl::lifted_at.eq(Some(now)),
                dsl::lift_reason.eq(Some(reason)),
            ))
            .returning(IdentitySuspensionRow::as_returning())
            .get_result(c)
            .await
            .optional())?)
    }

    /// Which of `oids` are under a suspension in force.
    pub async fn in_force_among(
        conn: &mut DbConn,
        oids: &[Oid],
    ) -> Result<HashSet<Oid>, StoreError> {
        if oids.is_empty() {
            return Ok(HashSet::new());
        }
        let held: Vec<Oid> = with_conn!(conn, c => dsl::identity_suspensions
            .filter(dsl::oid.eq_any(oids))
            .filter(dsl::lifted_at.is_null())
            .select(dsl::oid)
            .load(c)
            .await)?;
        Ok(held.into_iter().collect())
    }

    /// A person's suspensions, newest first.
    pub async fn for_identity(conn: &mut DbConn, oid: Oid) -> Result<Vec<Self>, StoreError> {
        Ok(with_conn!(conn, c => dsl::identity_suspensions
            .filter(dsl::oid.eq(oid))
            .order((dsl::placed_at.desc(), dsl::id.desc()))
            .select(IdentitySuspensionRow::as_select())
            .load(c)
            .await)?)
    }
}
