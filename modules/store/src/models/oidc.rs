//! `oidc_clients`, `oidc_keys`, `oidc_grants`, `oidc_tokens`: the OpenID
//! provider's relying parties, signing keys, and what it issued. Secrets
//! (client secrets, codes, tokens) are stored as SHA-256 only; private keys
//! are stored encrypted under the master key (see `clavis_oidc::keys`).

use crate::JsonList;
use crate::schema::{oidc_clients, oidc_grants, oidc_keys, oidc_tokens, oidc_used_assertions};
use crate::{DbConn, StoreError, with_conn};
use clavis_core::{Actor, ClientId, Oid, SessionId, TokenKind};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

/// One registered relying party.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = oidc_clients)]
#[diesel(treat_none_as_null = true, treat_none_as_default_value = false)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct OidcClientRow {
    pub client_id: ClientId,
    pub name: String,
    /// SHA-256 (hex) of the secret; `None` for public and `private_key_jwt`
    /// clients.
    pub secret_hash: Option<String>,
    /// `client_secret_basic`, `client_secret_post`, `private_key_jwt`, `none`.
    pub auth_method: String,
    /// The client's public keys (JWKS JSON), for `private_key_jwt`.
    pub jwks: Option<String>,
    /// JSON array, matched exactly.
    pub redirect_uris: JsonList<String>,
    /// JSON array, matched exactly.
    pub post_logout_redirect_uris: JsonList<String>,
    pub backchannel_logout_uri: Option<String>,
    pub require_pkce: bool,
    pub require_acr: Option<String>,
    /// `RS256` or `ES256`.
    pub id_token_alg: String,
    /// JSON array of the scopes this client may receive.
    pub scopes: JsonList<String>,
    pub created_at: i64,
    pub created_by: Actor,
    pub secret_rotated_at: Option<i64>,
    pub removed_at: Option<i64>,
    /// This client is Pro Santé Connect itself: it gets the FI tiers
    /// claims (`tid`, `oid`, mapped `amr`) and only for linked people.
    pub psc: bool,
}

/// The client `client_id` if it has not been removed, as a query both the
/// async and the inline connections run.
#[diesel::dsl::auto_type(no_type_alias)]
fn active_by_id<'a>(client_id: &'a ClientId) -> _ {
    oidc_clients::dsl::oidc_clients
        .filter(oidc_clients::dsl::client_id.eq(client_id))
        .filter(oidc_clients::dsl::removed_at.is_null())
}

impl OidcClientRow {
    /// Inserts a client.
    pub async fn insert(&self, conn: &mut DbConn) -> Result<(), StoreError> {
        with_conn!(conn, c => diesel::insert_into(oidc_clients::table).values(self).execute(c).await)?;
        Ok(())
    }

    /// Saves every column of an existing client.
    pub async fn update(&self, conn: &mut DbConn) -> Result<(), StoreError> {
        with_conn!(conn, c => diesel::update(oidc_clients::table.find(&self.client_id)).set(self).execute(c).await)?;
        Ok(())
    }

    /// A client that has not been removed.
    pub async fn find_active(
        conn: &mut DbConn,
        client_id: &ClientId,
    ) -> Result<Option<Self>, StoreError> {
        Ok(with_conn!(conn, c => active_by_id(client_id)
            .select(OidcClientRow::as_select())
            .first(c)
            .await
            .optional())?)
    }

    /// [`OidcClientRow::find_active`] for the per-request hot path (every
    /// authorization request), without a transaction: on SQLite it runs
    /// inline on the calling thread (see [`crate::Db::inline`]), on
    /// PostgreSQL on a pooled connection.
    pub async fn read_active(
        db: &crate::Db,
        client_id: &ClientId,
    ) -> Result<Option<Self>, StoreError> {
        match db.inline() {
            Some(inline) => inline.read(|c| {
                diesel::RunQueryDsl::first(
                    active_by_id(client_id).select(OidcClientRow::as_select()),
                    c,
                )
                .optional()
            }),
            None => Self::find_active(&mut db.conn().await?, client_id).await,
        }
    }

    /// Clients not removed, by name.
    pub async fn list_active(conn: &mut DbConn) -> Result<Vec<Self>, StoreError> {
        use oidc_clients::dsl;
        Ok(with_conn!(conn, c => dsl::oidc_clients
            .filter(dsl::removed_at.is_null())
            .order((dsl::name.asc(), dsl::client_id.asc()))
            .select(OidcClientRow::as_select())
            .load(c)
            .await)?)
    }
}

/// One signing key.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = oidc_keys)]
#[diesel(treat_none_as_null = true, treat_none_as_default_value = false)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct OidcKeyRow {
    pub kid: String,
    /// `RS256` or `ES256`.
    pub alg: String,
    /// PKCS#8, encrypted under the master key (base64 of nonce ‖ sealed).
    pub private_key: String,
    /// The public JWK (JSON).
    pub public_jwk: String,
    pub created_at: i64,
    /// Set when a newer key of the same algorithm took over; the key stays
    /// published until the tokens it signed have expired.
    pub retired_at: Option<i64>,
}

impl OidcKeyRow {
    /// Inserts a key.
    pub async fn insert(&self, conn: &mut DbConn) -> Result<(), StoreError> {
        with_conn!(conn, c => diesel::insert_into(oidc_keys::table).values(self).execute(c).await)?;
        Ok(())
    }

    /// Keys still published: current ones and those retired after
    /// `retired_after` (unix seconds). Oldest first.
    pub async fn published(conn: &mut DbConn, retired_after: i64) -> Result<Vec<Self>, StoreError> {
        use oidc_keys::dsl;
        Ok(with_conn!(conn, c => dsl::oidc_keys
            .filter(dsl::retired_at.is_null().or(dsl::retired_at.gt(retired_after)))
            .order((dsl::created_at.asc(), dsl::kid.asc()))
            .select(OidcKeyRow::as_select())
            .load(c)
            .await)?)
    }

    /// Retires the current key(s) of `alg`; returns how many.
    pub async fn retire_current(
        conn: &mut DbConn,
        alg: &str,
        now: i64,
    ) -> Result<usize, StoreError> {
        use oidc_keys::dsl;
        Ok(with_conn!(conn, c => diesel::update(
                dsl::oidc_keys.filter(dsl::alg.eq(alg)).filter(dsl::retired_at.is_null()),
            )
            .set(dsl::retired_at.eq(Some(now)))
            .execute(c)
            .await)?)
    }
}

/// One authorization, stored when its code is exchanged (the code carries
/// it until then: `clavis_oidc`'s `codes`); the tokens issued from it
/// share its id.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = oidc_grants)]
#[diesel(treat_none_as_null = true, treat_none_as_default_value = false)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct OidcGrantRow {
    pub id: String,
    /// SHA-256 of the authorization code.
    pub code_hash: String,
    pub client_id: ClientId,
    pub oid: Oid,
    /// The SSO session it came from (`sid`).
    pub session_id: SessionId,
    pub redirect_uri: String,
    /// Space-separated granted scopes.
    pub scope: String,
    pub nonce: Option<String>,
    /// PKCE S256 challenge.
    pub code_challenge: Option<String>,
    pub auth_time: i64,
    pub acr: String,
    /// JSON array.
    pub amr: JsonList<String>,
    pub code_expires_at: i64,
    pub code_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub revoked_reason: Option<String>,
    pub created_at: i64,
    /// The authorisation request's trace (W3C `traceparent`), carried on
    /// by the token exchange; only when traces are sent.
    pub trace_parent: Option<String>,
}

impl OidcGrantRow {
    /// Stores the grant of a code being exchanged; false when a grant of
    /// the same id or code is stored already: that code was exchanged
    /// before (a replay).
    pub async fn insert_exchanged(&self, conn: &mut DbConn) -> Result<bool, StoreError> {
        let n = with_conn!(conn, c => diesel::insert_into(oidc_grants::table)
            .values(self)
            .on_conflict_do_nothing()
            .execute(c)
            .await)?;
        Ok(n == 1)
    }

    /// The applications these SSO sessions signed in to: for each session,
    /// the clients it has a grant with, and its person.
    pub async fn clients_of_sessions(
        conn: &mut DbConn,
        session_ids: &[SessionId],
    ) -> Result<Vec<(SessionId, Oid, ClientId)>, StoreError> {
        use oidc_grants::dsl;
        if session_ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(with_conn!(conn, c => dsl::oidc_grants
            .filter(dsl::session_id.eq_any(session_ids))
            .select((dsl::session_id, dsl::oid, dsl::client_id))
            .distinct()
            .order((dsl::session_id, dsl::client_id))
            .load(c)
            .await)?)
    }

    /// The grant stored with this code's hash: a code exchanged before
    /// codes were sealed, or a sealed one exchanged already.
    pub async fn find_by_code(
        conn: &mut DbConn,
        code_hash: &str,
    ) -> Result<Option<Self>, StoreError> {
        use oidc_grants::dsl;
        Ok(with_conn!(conn, c => dsl::oidc_grants
            .filter(dsl::code_hash.eq(code_hash))
            .select(OidcGrantRow::as_select())
            .first(c)
            .await
            .optional())?)
    }

    /// A grant by id.
    pub async fn find(conn: &mut DbConn, id: &str) -> Result<Option<Self>, StoreError> {
        use oidc_grants::dsl;
        Ok(with_conn!(conn, c => dsl::oidc_grants
            .find(id)
            .select(OidcGrantRow::as_select())
            .first(c)
            .await
            .optional())?)
    }

    /// Revokes a grant (every token issued from it stops working).
    pub async fn revoke(
        conn: &mut DbConn,
        id: &str,
        reason: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        use oidc_grants::dsl;
        let n = with_conn!(conn, c => diesel::update(
                dsl::oidc_grants.filter(dsl::id.eq(id)).filter(dsl::revoked_at.is_null()),
            )
            .set((dsl::revoked_at.eq(Some(now)), dsl::revoked_reason.eq(Some(reason))))
            .execute(c)
            .await)?;
        Ok(n == 1)
    }

    /// Revokes every grant of a client (it was removed); returns how many.
    pub async fn revoke_for_client(
        conn: &mut DbConn,
        client_id: &ClientId,
        reason: &str,
        now: i64,
    ) -> Result<usize, StoreError> {
        use oidc_grants::dsl;
        Ok(with_conn!(conn, c => diesel::update(
                dsl::oidc_grants
                    .filter(dsl::client_id.eq(client_id))
                    .filter(dsl::revoked_at.is_null()),
            )
            .set((dsl::revoked_at.eq(Some(now)), dsl::revoked_reason.eq(Some(reason))))
            .execute(c)
            .await)?)
    }

    /// Revokes every grant of these SSO sessions (they ended).
    pub async fn revoke_for_sessions(
        conn: &mut DbConn,
        session_ids: &[SessionId],
        reason: &str,
        now: i64,
    ) -> Result<usize, StoreError> {
        use oidc_grants::dsl;
        if session_ids.is_empty() {
            return Ok(0);
        }
        Ok(with_conn!(conn, c => diesel::update(
                dsl::oidc_grants
                    .filter(dsl::session_id.eq_any(session_ids))
                    .filter(dsl::revoked_at.is_null()),
            )
            .set((dsl::revoked_at.eq(Some(now)), dsl::revoked_reason.eq(Some(reason))))
            .execute(c)
            .await)?)
    }
}

/// An access or refresh token (opaque; only its hash is stored).
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = oidc_tokens)]
#[diesel(treat_none_as_null = true, treat_none_as_default_value = false)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct OidcTokenRow {
    pub token_hash: String,
    pub grant_id: String,
    /// `access` or `refresh`.
    pub kind: TokenKind,
    pub client_id: ClientId,
    pub oid: Oid,
    pub scope: String,
    pub expires_at: i64,
    /// Refresh tokens: when it was exchanged (rotated).
    pub used_at: Option<i64>,
    pub created_at: i64,
}

impl OidcTokenRow {
    /// Inserts tokens.
    pub async fn insert_all(conn: &mut DbConn, rows: &[Self]) -> Result<(), StoreError> {
        crate::execute_each!(conn, rows.to_vec(), |r| diesel::insert_into(
            oidc_tokens::table
        )
        .values(r))
    }

    /// A token by hash.
    pub async fn find(conn: &mut DbConn, hash: &str) -> Result<Option<Self>, StoreError> {
        use oidc_tokens::dsl;
        Ok(with_conn!(conn, c => dsl::oidc_tokens
            .find(hash)
            .select(OidcTokenRow::as_select())
            .first(c)
            .await
            .optional())?)
    }

    /// Ends a token now (revocation of one access token).
    pub async fn expire(conn: &mut DbConn, hash: &str, now: i64) -> Result<(), StoreError> {
        use oidc_tokens::dsl;
        with_conn!(conn, c => diesel::update(dsl::oidc_tokens.find(hash))
            .set(dsl::expires_at.eq(now))
            .execute(c)
            .await)?;
        Ok(())
    }

    /// Marks a refresh token exchanged, once: false when it already was
    /// (reuse of a rotated token).
    pub async fn mark_used(conn: &mut DbConn, hash: &str, now: i64) -> Result<bool, StoreError> {
        use oidc_tokens::dsl;
        let n = with_conn!(conn, c => diesel::update(
                dsl::oidc_tokens.filter(dsl::token_hash.eq(hash)).filter(dsl::used_at.is_null()),
            )
            .set(dsl::used_at.eq(Some(now)))
            .execute(c)
            .await)?;
        Ok(n == 1)
    }
}

/// Client assertions (private_key_jwt) already used.
#[derive(Debug)]
pub struct UsedAssertions;

impl UsedAssertions {
    /// Records that `client_id` used the assertion `jti` (valid until
    /// `expires_at`). `false` when it was used before and is still valid
    /// at `now`: a replay. One expired by `now` is taken over (its row
    /// given the new end); the others expired are the minute's sweep's
    /// ([`Self::delete_expired`]), not each authentication's: a delete
    /// of every expired row at each one made concurrent authentications
    /// wait on each other's row locks.
    pub async fn record(
        conn: &mut DbConn,
        client_id: &ClientId,
        jti: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        use oidc_used_assertions::dsl;
        // `ON CONFLICT … DO UPDATE … WHERE`: the row is updated (and
        // counted) only when the one stored has expired.
        let upsert = || {
            diesel::query_dsl::methods::FilterDsl::filter(
                diesel::insert_into(dsl::oidc_used_assertions)
                    .values((
                        dsl::client_id.eq(client_id),
                        dsl::jti.eq(jti),
                        dsl::expires_at.eq(expires_at),
                    ))
                    .on_conflict((dsl::client_id, dsl::jti))
                    .do_update()
                    .set(dsl::expires_at.eq(expires_at)),
                dsl::expires_at.le(now),
            )
        };
        let recorded = with_conn!(conn, c => upsert().execute(c).await)?;
        Ok(recorded == 1)
    }

    /// Forgets the assertions expired by `now`; returns how many.
    pub async fn delete_expired(conn: &mut DbConn, now: i64) -> Result<usize, StoreError> {
        use oidc_used_assertions::dsl;
        Ok(
            with_conn!(conn, c => diesel::delete(dsl::oidc_used_assertions.filter(dsl::expires_at.le(now)))
            .execute(c)
            .await)?,
        )
    }
}
