//! `psc_links` and `psc_requests`: Pro Santé Connect, the link of a local
//! identity to its national identity, and the trips to PSC under way.

use crate::models::IdentityRow;
use crate::schema::{psc_links, psc_logins, psc_requests};
use crate::{DbConn, StoreError, with_conn};
use clavis_core::{Actor, LifecycleStatus, Oid, PscUnlinkReason, SessionId};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

/// The link of one identity to its national identity, verified through
/// PSC (e-CPS or CPS), with its evidence.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = psc_links)]
#[diesel(treat_none_as_null = true, treat_none_as_default_value = false)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct PscLinkRow {
    pub oid: Oid,
    /// The national id PSC returned (`8` + RPPS).
    pub national_id: String,
    /// PSC's `sub` for the person.
    pub psc_sub: String,
    /// PSC's `acr` at the verification.
    pub acr: Option<String>,
    /// PSC's `authMode` (`CARD`, `EDIT`…).
    pub auth_mode: Option<String>,
    /// SHA-256 (hex) of the ID token PSC signed.
    pub id_token_sha256: String,
    pub linked_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    pub revoked_reason: Option<PscUnlinkReason>,
    pub revoked_by: Option<Actor>,
}

impl PscLinkRow {
    /// Stores the link of `self.oid`, replacing any earlier one (the
    /// audit keeps the earlier evidence).
    pub async fn save(&self, conn: &mut DbConn) -> Result<(), StoreError> {
        with_conn!(conn, c => diesel::insert_into(psc_links::table)
            .values(self)
            .on_conflict(psc_links::oid)
            .do_update()
            .set(self)
            .execute(c)
            .await)?;
        Ok(())
    }

    /// The identity `oid` and its link if any, in one query (what an
    /// assertion to PSC decides on).
    pub async fn with_identity(
        conn: &mut DbConn,
        oid: Oid,
    ) -> Result<Option<(IdentityRow, Option<Self>)>, StoreError> {
        use crate::schema::identities;
        Ok(with_conn!(conn, c => identities::table
            .left_join(psc_links::table)
            .filter(identities::oid.eq(oid))
            .select((IdentityRow::as_select(), Option::<PscLinkRow>::as_select()))
            .first(c)
            .await
            .optional())?)
    }

    /// [`Self::with_identity`] through the database's inline readers when
    /// it has them (SQLite: no pooled connection, no thread hop), as the
    /// authorization endpoint reads.
    pub async fn read_with_identity(
        db: &crate::Db,
        oid: Oid,
    ) -> Result<Option<(IdentityRow, Option<Self>)>, StoreError> {
        use crate::schema::identities;
        match db.inline() {
            Some(inline) => inline.read(|c| {
                diesel::RunQueryDsl::first(
                    identities::table
                        .left_join(psc_links::table)
                        .filter(identities::oid.eq(oid))
                        .select((IdentityRow::as_select(), Option::<PscLinkRow>::as_select())),
                    c,
                )
                .optional()
            }),
            None => Self::with_identity(&mut db.conn().await?, oid).await,
        }
    }

    /// The link of `oid`, whatever its state.
    pub async fn find(conn: &mut DbConn, oid: Oid) -> Result<Option<Self>, StoreError> {
        Ok(with_conn!(conn, c => psc_links::table
            .find(oid)
            .select(PscLinkRow::as_select())
            .first(c)
            .await
            .optional())?)
    }

    /// Revokes the link of `oid` if it stands; returns the link as it was
    /// (so the caller audits what ended), `None` when there was none.
    pub async fn revoke(
        conn: &mut DbConn,
        oid: Oid,
        now: i64,
        reason: PscUnlinkReason,
        by: &Actor,
    ) -> Result<Option<Self>, StoreError> {
        let Some(before) = Self::find(conn, oid).await? else {
            return Ok(None);
        };
        let n = with_conn!(conn, c => diesel::update(
                psc_links::table
                    .filter(psc_links::oid.eq(oid))
                    .filter(psc_links::revoked_at.is_null()),
            )
            .set((
                psc_links::revoked_at.eq(Some(now)),
                psc_links::revoked_reason.eq(Some(reason)),
                psc_links::revoked_by.eq(Some(by)),
            ))
            .execute(c)
            .await)?;
        Ok((n == 1).then_some(before))
    }

    /// The links not revoked that name `national_id`.
    pub async fn standing_for_national_id(
        conn: &mut DbConn,
        national_id: &str,
    ) -> Result<Vec<Self>, StoreError> {
        Ok(with_conn!(conn, c => psc_links::table
            .filter(psc_links::national_id.eq(national_id))
            .filter(psc_links::revoked_at.is_null())
            .select(PscLinkRow::as_select())
            .load(c)
            .await)?)
    }

    /// Links, by identity; only those not revoked whose end comes before
    /// `expiring_before` when given; of one identity when given.
    pub async fn list(
        conn: &mut DbConn,
        oid: Option<Oid>,
        expiring_before: Option<i64>,
    ) -> Result<Vec<Self>, StoreError> {
        // Boxed per backend: the body is expanded once for each.
        Ok(with_conn!(conn, c => {
            let mut q = psc_links::table
                .select(PscLinkRow::as_select())
                .order(psc_links::oid.asc())
                .into_boxed();
            if let Some(oid) = oid {
                q = q.filter(psc_links::oid.eq(oid));
            }
            if let Some(t) = expiring_before {
                q = q
                    .filter(psc_links::revoked_at.is_null())
                    .filter(psc_links::expires_at.le(t));
            }
            q.load(c).await
        })?)
    }
}

/// The national ids HR gives an identity: `8` + RPPS, `0` + ADELI.
pub fn expected_ids(identity: &IdentityRow) -> Vec<String> {
    let mut ids = Vec::new();
    if let Some(r) = identity.rpps.as_deref().filter(|r| !r.is_empty()) {
        ids.push(format!("8{r}"));
    }
    if let Some(a) = identity.adeli.as_deref().filter(|a| !a.is_empty()) {
        ids.push(format!("0{a}"));
    }
    ids
}

/// Where a link stands, for pages and commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkState {
    /// Clavis may assert the person to PSC.
    Valid,
    /// Past its `expires_at`: the person goes through e-CPS again.
    Expired,
    /// Removed (see `revoked_reason`).
    Revoked,
    /// HR now gives the identity another national id.
    NationalIdChanged,
    /// The person may not sign in (departed, suspended, pending).
    IdentityNotActive,
}

/// The state of `link` for `identity` at `now` (unix seconds).
pub fn state(link: &PscLinkRow, identity: &IdentityRow, now: i64) -> LinkState {
    if link.revoked_at.is_some() {
        LinkState::Revoked
    } else if identity.status != LifecycleStatus::Active {
        LinkState::IdentityNotActive
    } else if !expected_ids(identity).contains(&link.national_id) {
        LinkState::NationalIdChanged
    } else if link.expires_at <= now {
        LinkState::Expired
    } else {
        LinkState::Valid
    }
}

/// Whether `link` lets Clavis assert `identity` to PSC at `now`.
pub fn stands(link: Option<&PscLinkRow>, identity: &IdentityRow, now: i64) -> bool {
    link.is_some_and(|l| state(l, identity, now) == LinkState::Valid)
}

/// A trip to PSC under way: what Clavis needs to check PSC's answer.
#[derive(Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = psc_requests)]
#[diesel(treat_none_as_null = true, treat_none_as_default_value = false)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct PscRequestRow {
    /// SHA-256 (hex) of the `state` sent to PSC.
    pub state_hash: String,
    /// `link` or `login`.
    pub purpose: String,
    /// The identity to link (purpose `link`).
    pub oid: Option<Oid>,
    /// The SSO session that asked for the link.
    pub session_id: Option<SessionId>,
    /// SHA-256 (hex) of the browser-binding cookie.
    pub browser_hash: String,
    pub nonce: String,
    /// The PKCE verifier (a secret until the code is spent).
    pub code_verifier: String,
    /// Where to go when done (a path inside Clavis).
    pub return_to: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

impl std::fmt::Debug for PscRequestRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PscRequestRow")
            .field("purpose", &self.purpose)
            .field("oid", &self.oid)
            .field("session_id", &self.session_id)
            .field("code_verifier", &"[redacted]")
            .field("return_to", &self.return_to)
            .field("expires_at", &self.expires_at)
            .field("used_at", &self.used_at)
            .finish()
    }
}

impl PscRequestRow {
    /// Stores a new trip.
    pub async fn insert(&self, conn: &mut DbConn) -> Result<(), StoreError> {
        with_conn!(conn, c => diesel::insert_into(psc_requests::table).values(self).execute(c).await)?;
        Ok(())
    }

    /// Spends the trip of this state: marks it used if it was not and has
    /// not expired, and returns it; `None` when unknown, spent or expired
    /// (so a replayed `state` gets nothing, even concurrently).
    pub async fn spend(
        conn: &mut DbConn,
        state_hash: &str,
        now: i64,
    ) -> Result<Option<Self>, StoreError> {
        let n = with_conn!(conn, c => diesel::update(
                psc_requests::table
                    .filter(psc_requests::state_hash.eq(state_hash))
                    .filter(psc_requests::used_at.is_null())
                    .filter(psc_requests::expires_at.gt(now)),
            )
            .set(psc_requests::used_at.eq(Some(now)))
            .execute(c)
            .await)?;
        if n != 1 {
            return Ok(None);
        }
        Ok(with_conn!(conn, c => psc_requests::table
            .find(state_hash)
            .select(PscRequestRow::as_select())
            .first(c)
            .await
            .optional())?)
    }

    /// Whether a trip with this state hash was ever started (to tell a
    /// replayed or expired state from a forged one in the audit).
    pub async fn known(conn: &mut DbConn, state_hash: &str) -> Result<bool, StoreError> {
        let n: i64 = with_conn!(conn, c => psc_requests::table
            .filter(psc_requests::state_hash.eq(state_hash))
            .count()
            .get_result(c)
            .await)?;
        Ok(n > 0)
    }

    /// Deletes trips that ended before `before`; returns how many.
    pub async fn delete_expired(conn: &mut DbConn, before: i64) -> Result<usize, StoreError> {
        Ok(with_conn!(conn, c => diesel::delete(
                psc_requests::table.filter(psc_requests::expires_at.le(before)),
            )
            .execute(c)
            .await)?)
    }
}

/// The ID token PSC gave a sign-in with PSC, kept for the logout hint.
#[derive(Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = psc_logins)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct PscLoginRow {
    pub session_id: SessionId,
    pub id_token: String,
    pub expires_at: i64,
}

impl std::fmt::Debug for PscLoginRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PscLoginRow")
            .field("session_id", &self.session_id)
            .field("id_token", &"[redacted]")
            .finish()
    }
}

impl PscLoginRow {
    /// Stores one.
    pub async fn insert(&self, conn: &mut DbConn) -> Result<(), StoreError> {
        with_conn!(conn, c => diesel::insert_into(psc_logins::table).values(self).execute(c).await)?;
        Ok(())
    }

    /// Takes (reads and deletes) the ID token of `session_id`.
    pub async fn take(
        conn: &mut DbConn,
        session_id: &SessionId,
    ) -> Result<Option<String>, StoreError> {
        let found: Option<String> = with_conn!(conn, c => psc_logins::table
            .find(session_id)
            .select(psc_logins::id_token)
            .first(c)
            .await
            .optional())?;
        if found.is_some() {
            with_conn!(conn, c => diesel::delete(psc_logins::table.find(session_id)).execute(c).await)?;
        }
        Ok(found)
    }

    /// Deletes those whose session has ended by `before`; returns how many.
    pub async fn delete_expired(conn: &mut DbConn, before: i64) -> Result<usize, StoreError> {
        Ok(with_conn!(conn, c => diesel::delete(
                psc_logins::table.filter(psc_logins::expires_at.le(before)),
            )
            .execute(c)
            .await)?)
    }
}
