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
#[diesel(treat_none_as_null = true, treat_none_as_default_value = false)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct HabilitationRow {
    pub oid: Oid,
    pub client_id: ClientId,
    pub role: String,
    pub granted_by: Actor,
    pub granted_at: i64,
    /// When a review last confirmed it (Unix seconds).
    pub reviewed_at: Option<i64>,
    /// Its first day (`YYYY-MM-DD`, local), if not from the start.
    pub valid_from: Option<String>,
    /// Its last day (`YYYY-MM-DD`, local, included), if it ends.
    pub valid_until: Option<String>,
}

/// Which habilitations a list or a review takes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HabilitationFilter {
    /// Of one application.
    pub client_id: Option<ClientId>,
    /// Of one person.
    pub oid: Option<Oid>,
    /// Of the people whose current assignment is this service.
    pub service: Option<String>,
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

    /// One habilitation.
    pub async fn find(
        conn: &mut DbConn,
        oid: Oid,
        client_id: &ClientId,
        role: &str,
    ) -> Result<Option<Self>, StoreError> {
        Ok(with_conn!(conn, c => dsl::habilitations
            .filter(dsl::oid.eq(oid))
            .filter(dsl::client_id.eq(client_id))
            .filter(dsl::role.eq(role))
            .select(HabilitationRow::as_select())
            .first(c)
            .await
            .optional())?)
    }

    /// Changes the validity dates of a habilitation held.
    pub async fn set_validity(
        conn: &mut DbConn,
        oid: Oid,
        client_id: &ClientId,
        role: &str,
        valid_from: Option<&str>,
        valid_until: Option<&str>,
    ) -> Result<(), StoreError> {
        with_conn!(conn, c => diesel::update(
                dsl::habilitations
                    .filter(dsl::oid.eq(oid))
                    .filter(dsl::client_id.eq(client_id))
                    .filter(dsl::role.eq(role)),
            )
            .set((dsl::valid_from.eq(valid_from), dsl::valid_until.eq(valid_until)))
            .execute(c)
            .await)?;
        Ok(())
    }

    /// Whether it is in force on `day` (`YYYY-MM-DD`).
    pub fn in_force_on(&self, day: &str) -> bool {
        self.valid_from.as_deref().is_none_or(|f| f <= day)
            && self.valid_until.as_deref().is_none_or(|u| u >= day)
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

    /// The habilitations `f` takes, by application, person and role, at
    /// most `limit`.
    pub async fn list(
        conn: &mut DbConn,
        f: &HabilitationFilter,
        limit: i64,
    ) -> Result<Vec<Self>, StoreError> {
        use crate::schema::assignments::dsl as a;
        Ok(with_conn!(conn, c => {
            let mut q = dsl::habilitations
                .select(HabilitationRow::as_select())
                .into_boxed();
            if let Some(client) = &f.client_id {
                q = q.filter(dsl::client_id.eq(client.clone()));
            }
            if let Some(oid) = f.oid {
                q = q.filter(dsl::oid.eq(oid));
            }
            if let Some(service) = &f.service {
                q = q.filter(
                    dsl::oid.eq_any(
                        a::assignments
                            .filter(a::is_current.eq(true))
                            .filter(a::service.eq(service.clone()))
                            .select(a::oid),
                    ),
                );
            }
            q.order((dsl::client_id.asc(), dsl::oid.asc(), dsl::role.asc()))
                .limit(limit)
                .load(c)
                .await
        })?)
    }

    /// Records that a review confirmed it at `at`; whether it still exists.
    pub async fn mark_reviewed(
        conn: &mut DbConn,
        oid: Oid,
        client_id: &ClientId,
        role: &str,
        at: i64,
    ) -> Result<bool, StoreError> {
        let n = with_conn!(conn, c => diesel::update(
                dsl::habilitations
                    .filter(dsl::oid.eq(oid))
                    .filter(dsl::client_id.eq(client_id))
                    .filter(dsl::role.eq(role)),
            )
            .set(dsl::reviewed_at.eq(Some(at)))
            .execute(c)
            .await)?;
        Ok(n == 1)
    }

    /// How many habilitations there are, and how many a review confirmed
    /// since `since`.
    pub async fn count_reviewed_since(
        conn: &mut DbConn,
        since: i64,
    ) -> Result<(i64, i64), StoreError> {
        let all: i64 = with_conn!(conn, c => dsl::habilitations.count().get_result(c).await)?;
        let reviewed: i64 = with_conn!(conn, c => dsl::habilitations
            .filter(dsl::reviewed_at.ge(since))
            .count()
            .get_result(c)
            .await)?;
        Ok((all, reviewed))
    }

    /// The roles of a person in one application in force on `day`
    /// (`YYYY-MM-DD`, local), sorted.
    pub async fn roles(
        conn: &mut DbConn,
        oid: Oid,
        client_id: &ClientId,
        day: &str,
    ) -> Result<Vec<String>, StoreError> {
        Ok(with_conn!(conn, c => dsl::habilitations
            .filter(dsl::oid.eq(oid))
            .filter(dsl::client_id.eq(client_id))
            .filter(dsl::valid_from.is_null().or(dsl::valid_from.le(day)))
            .filter(dsl::valid_until.is_null().or(dsl::valid_until.ge(day)))
            .order(dsl::role.asc())
            .select(dsl::role)
            .load(c)
            .await)?)
    }
}
