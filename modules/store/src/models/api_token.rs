//! `api_tokens`: hashes of the admin API tokens.

use crate::schema::api_tokens::{self, dsl};
use crate::{DbConn, StoreError, with_conn};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

/// An admin API token. Only the SHA-256 of the token is stored.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = api_tokens)]
#[diesel(treat_none_as_null = true, treat_none_as_default_value = false)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct ApiToken {
    pub id: String,
    pub name: String,
    pub token_hash: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// JSON list of `<area>:read|write`; `None`: a token from before
    /// scopes (the whole API).
    pub scopes: Option<String>,
    /// When it stops working (Unix seconds); `None`: never.
    pub expires_at: Option<i64>,
}

impl ApiToken {
    /// Stores a new token.
    pub async fn insert(&self, conn: &mut DbConn) -> Result<(), StoreError> {
        with_conn!(conn, c => diesel::insert_into(api_tokens::table).values(self).execute(c).await)?;
        Ok(())
    }

    /// The live (not revoked) token with this hash.
    pub async fn find_live_by_hash(
        conn: &mut DbConn,
        hash: &str,
    ) -> Result<Option<Self>, StoreError> {
        Ok(with_conn!(conn, c => dsl::api_tokens
            .filter(dsl::token_hash.eq(hash))
            .filter(dsl::revoked_at.is_null())
            .select(ApiToken::as_select())
            .first(c)
            .await
            .optional())?)
    }

    /// A token by name.
    pub async fn find_by_name(conn: &mut DbConn, name: &str) -> Result<Option<Self>, StoreError> {
        Ok(with_conn!(conn, c => dsl::api_tokens
            .filter(dsl::name.eq(name))
            .select(ApiToken::as_select())
            .first(c)
            .await
            .optional())?)
    }

    /// All tokens, by name.
    pub async fn list(conn: &mut DbConn) -> Result<Vec<Self>, StoreError> {
        Ok(with_conn!(conn, c => dsl::api_tokens
            .order(dsl::name.asc())
            .select(ApiToken::as_select())
            .load(c)
            .await)?)
    }

    /// Records a use.
    pub async fn mark_used(conn: &mut DbConn, id: &str, now: i64) -> Result<(), StoreError> {
        with_conn!(conn, c => diesel::update(dsl::api_tokens.find(id))
            .set(dsl::last_used_at.eq(Some(now)))
            .execute(c)
            .await)?;
        Ok(())
    }

    /// Revokes a token by name; returns whether one was live.
    pub async fn revoke(conn: &mut DbConn, name: &str, now: i64) -> Result<bool, StoreError> {
        let n = with_conn!(conn, c => diesel::update(
                dsl::api_tokens.filter(dsl::name.eq(name)).filter(dsl::revoked_at.is_null()),
            )
            .set(dsl::revoked_at.eq(Some(now)))
            .execute(c)
            .await)?;
        Ok(n > 0)
    }
}
