//! `accounts`: login names bound to an identity.

use crate::schema::accounts::{self, dsl};
use crate::{DbConn, StoreError, with_conn};
use clavis_core::Oid;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

/// A login (sAMAccountName or UPN, lower-cased) bound to one identity.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = accounts)]
#[diesel(treat_none_as_null = true, treat_none_as_default_value = false)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct Account {
    pub login: String,
    pub oid: Oid,
    /// The source that declared it.
    pub source: String,
    pub enabled: bool,
    /// Why it is disabled (`departed`, `ad_disabled`, `removed_from_source`…).
    pub disabled_reason: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Account {
    /// Whether the identity has directory accounts and none of them is
    /// enabled (AD disabled them all): such a person may not sign in.
    /// Someone with no directory account at all is not barred by this.
    pub async fn all_disabled_for(conn: &mut DbConn, oid: Oid) -> Result<bool, StoreError> {
        let enabled: Vec<bool> = with_conn!(conn, c => dsl::accounts
            .filter(dsl::oid.eq(oid))
            .select(dsl::enabled)
            .load(c)
            .await)?;
        Ok(!enabled.is_empty() && enabled.iter().all(|e| !e))
    }

    /// Finds an account by login (case-insensitive: logins are stored lower-cased).
    pub async fn find(conn: &mut DbConn, login: &str) -> Result<Option<Self>, StoreError> {
        let login = login.to_lowercase();
        Ok(with_conn!(conn, c => dsl::accounts
            .find(&login)
            .select(Account::as_select())
            .first(c)
            .await
            .optional())?)
    }

    /// The accounts of an identity.
    pub async fn for_identity(conn: &mut DbConn, oid: Oid) -> Result<Vec<Self>, StoreError> {
        Ok(with_conn!(conn, c => dsl::accounts
            .filter(dsl::oid.eq(oid))
            .order(dsl::login.asc())
            .select(Account::as_select())
            .load(c)
            .await)?)
    }

    /// The accounts of many identities.
    pub async fn for_identities(conn: &mut DbConn, oids: &[Oid]) -> Result<Vec<Self>, StoreError> {
        if oids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(with_conn!(conn, c => dsl::accounts
            .filter(dsl::oid.eq_any(oids))
            .order(dsl::login.asc())
            .select(Account::as_select())
            .load(c)
            .await)?)
    }

    /// The accounts with any of these logins (lower-cased).
    pub async fn find_many(conn: &mut DbConn, logins: &[String]) -> Result<Vec<Self>, StoreError> {
        if logins.is_empty() {
            return Ok(Vec::new());
        }
        Ok(with_conn!(conn, c => dsl::accounts
            .filter(dsl::login.eq_any(logins))
            .select(Account::as_select())
            .load(c)
            .await)?)
    }

    /// Inserts or replaces these accounts (a statement for many,
    /// [`insert_rows!`](crate::db::insert_rows)).
    pub async fn upsert_all(conn: &mut DbConn, rows: Vec<Account>) -> Result<(), StoreError> {
        crate::db::insert_rows!(conn, rows, Account => accounts {
            login, oid, source, enabled, disabled_reason, created_at, updated_at,
        } on conflict (login) set oid, source, enabled, disabled_reason, created_at, updated_at,)
    }

    /// Disables every enabled account of an identity; returns their logins.
    pub async fn disable_all_for(
        conn: &mut DbConn,
        oid: Oid,
        reason: &str,
        now: i64,
    ) -> Result<Vec<String>, StoreError> {
        let logins: Vec<String> = with_conn!(conn, c => diesel::update(
                dsl::accounts.filter(dsl::oid.eq(oid)).filter(dsl::enabled.eq(true)),
            )
            .set((
                dsl::enabled.eq(false),
                dsl::disabled_reason.eq(reason),
                dsl::updated_at.eq(now),
            ))
            .returning(dsl::login)
            .get_results(c)
            .await)?;
        Ok(logins)
    }
}
