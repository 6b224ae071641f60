//! `authenticators`: FIDO2 credentials (and, later, badges) of identities.

use crate::schema::authenticators::{self, dsl};
use crate::{DbConn, StoreError, with_conn};
use clavis_core::Oid;
use clavis_core::{AuthenticatorKind, AuthenticatorStatus};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

/// One authenticator.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = authenticators)]
#[diesel(treat_none_as_null = true, treat_none_as_default_value = false)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct AuthenticatorRow {
    pub id: String,
    pub oid: Oid,
    /// `fido2` (later `desfire`).
    pub kind: AuthenticatorKind,
    /// Base64url credential id (unique).
    pub credential_id: String,
    /// The serialised credential (public key, counter). Not a secret.
    pub credential: String,
    pub aaguid: Option<String>,
    /// A label the user recognises ("Clé bleue").
    pub label: String,
    /// `active`, `suspended`, `revoked`.
    pub status: AuthenticatorStatus,
    pub status_reason: Option<String>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// The authenticator with this credential id, as a query both the async
/// and the inline connections run.
#[diesel::dsl::auto_type(no_type_alias)]
fn by_credential<'a>(credential_id: &'a str) -> _ {
    dsl::authenticators.filter(dsl::credential_id.eq(credential_id))
}

impl AuthenticatorRow {
    /// Inserts one.
    pub async fn insert(&self, conn: &mut DbConn) -> Result<(), StoreError> {
        with_conn!(conn, c => diesel::insert_into(authenticators::table).values(self).execute(c).await)?;
        Ok(())
    }

    /// Writes every column.
    pub async fn update(&self, conn: &mut DbConn) -> Result<(), StoreError> {
        with_conn!(conn, c => diesel::update(dsl::authenticators.find(&self.id)).set(self).execute(c).await)?;
        Ok(())
    }

    /// Records a login with this authenticator (its updated credential,
    /// e.g. the signature counter), only while it is still active: false
    /// when it was suspended or removed since it was read.
    pub async fn record_use(
        conn: &mut DbConn,
        id: &str,
        credential: &str,
        at: i64,
    ) -> Result<bool, StoreError> {
        let n = with_conn!(conn, c => diesel::update(
                dsl::authenticators.filter(dsl::id.eq(id)).filter(dsl::status.eq(AuthenticatorStatus::Active)),
            )
            .set((dsl::credential.eq(credential), dsl::last_used_at.eq(Some(at))))
            .execute(c)
            .await)?;
        Ok(n == 1)
    }

    /// The authenticators of an identity (all statuses).
    pub async fn for_identity(conn: &mut DbConn, oid: Oid) -> Result<Vec<Self>, StoreError> {
        Ok(with_conn!(conn, c => dsl::authenticators
            .filter(dsl::oid.eq(oid))
            .order(dsl::created_at.asc())
            .select(AuthenticatorRow::as_select())
            .load(c)
            .await)?)
    }

    /// One authenticator by id.
    pub async fn find(conn: &mut DbConn, id: &str) -> Result<Option<Self>, StoreError> {
        Ok(with_conn!(conn, c => dsl::authenticators
            .find(id)
            .select(AuthenticatorRow::as_select())
            .first(c)
            .await
            .optional())?)
    }

    /// Security keys of one model (`aaguid`; `None`: every key), newest
    /// first, at most `limit`, optionally only in `status`.
    pub async fn list_keys(
        conn: &mut DbConn,
        aaguid: Option<&str>,
        status: Option<AuthenticatorStatus>,
        limit: i64,
    ) -> Result<Vec<Self>, StoreError> {
        Ok(with_conn!(conn, c => {
            let mut q = dsl::authenticators
                .filter(dsl::kind.eq(AuthenticatorKind::Fido2))
                .select(AuthenticatorRow::as_select())
                .into_boxed();
            if let Some(a) = aaguid {
                q = q.filter(dsl::aaguid.eq(a.to_string()));
            }
            if let Some(s) = status {
                q = q.filter(dsl::status.eq(s));
            }
            q.order((dsl::created_at.desc(), dsl::id.asc())).limit(limit).load(c).await
        })?)
    }

    /// How many security keys of each model (AAGUID; `None` when the
    /// attestation gave none) are in `status`, most common first.
    pub async fn count_by_model(
        conn: &mut DbConn,
        status: AuthenticatorStatus,
    ) -> Result<Vec<(Option<String>, i64)>, StoreError> {
        let mut rows: Vec<(Option<String>, i64)> = with_conn!(conn, c => dsl::authenticators
            .filter(dsl::kind.eq(AuthenticatorKind::Fido2))
            .filter(dsl::status.eq(status))
            .group_by(dsl::aaguid)
            .select((dsl::aaguid, diesel::dsl::count_star()))
            .load(c)
            .await)?;
        rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Ok(rows)
    }

    /// The credential ids of every active FIDO2 key (what decoy ids are
    /// made to look like).
    pub async fn active_credential_ids(conn: &mut DbConn) -> Result<Vec<String>, StoreError> {
        Ok(with_conn!(conn, c => dsl::authenticators
            .filter(dsl::status.eq(AuthenticatorStatus::Active))
            .filter(dsl::kind.eq(AuthenticatorKind::Fido2))
            .select(dsl::credential_id)
            .load::<String>(c)
            .await)?)
    }

    /// The authenticator with this credential id.
    pub async fn find_by_credential(
        conn: &mut DbConn,
        credential_id: &str,
    ) -> Result<Option<Self>, StoreError> {
        Ok(with_conn!(conn, c => by_credential(credential_id)
            .select(AuthenticatorRow::as_select())
            .first(c)
            .await
            .optional())?)
    }

    /// [`AuthenticatorRow::find_by_credential`] for the login's reads
    /// before its transaction: on SQLite it runs inline on the calling
    /// thread (see [`crate::db::InlineReaders`]), on PostgreSQL on a pooled
    /// connection.
    pub async fn read_by_credential(
        db: &crate::Db,
        credential_id: &str,
    ) -> Result<Option<Self>, StoreError> {
        match db.inline() {
            Some(inline) => inline.read(|c| {
                diesel::RunQueryDsl::first(
                    by_credential(credential_id).select(AuthenticatorRow::as_select()),
                    c,
                )
                .optional()
            }),
            None => Self::find_by_credential(&mut db.conn().await?, credential_id).await,
        }
    }

    /// Makes active again the authenticators of an identity that were
    /// suspended with `reason` (their holder's suspension, now lifted);
    /// returns their ids. Revoked ones stay revoked.
    pub async fn restore_suspended_for(
        conn: &mut DbConn,
        oid: Oid,
        reason: &str,
    ) -> Result<Vec<String>, StoreError> {
        Ok(with_conn!(conn, c => diesel::update(
                dsl::authenticators
                    .filter(dsl::oid.eq(oid))
                    .filter(dsl::status.eq(AuthenticatorStatus::Suspended))
                    .filter(dsl::status_reason.eq(reason)),
            )
            .set((dsl::status.eq(AuthenticatorStatus::Active), dsl::status_reason.eq(None::<String>)))
            .returning(dsl::id)
            .get_results(c)
            .await)?)
    }

    /// Changes the reason of an identity's suspended authenticators from
    /// `from` to `to` (a departure: what a suspension took stays taken).
    pub async fn retag_suspended_for(
        conn: &mut DbConn,
        oid: Oid,
        from: &str,
        to: &str,
    ) -> Result<usize, StoreError> {
        Ok(with_conn!(conn, c => diesel::update(
                dsl::authenticators
                    .filter(dsl::oid.eq(oid))
                    .filter(dsl::status.eq(AuthenticatorStatus::Suspended))
                    .filter(dsl::status_reason.eq(from)),
            )
            .set(dsl::status_reason.eq(Some(to)))
            .execute(c)
            .await)?)
    }

    /// Suspends every active authenticator of an identity; returns their ids.
    pub async fn suspend_all_for(
        conn: &mut DbConn,
        oid: Oid,
        reason: &str,
    ) -> Result<Vec<String>, StoreError> {
        Ok(with_conn!(conn, c => diesel::update(
                dsl::authenticators.filter(dsl::oid.eq(oid)).filter(dsl::status.eq(AuthenticatorStatus::Active)),
            )
            .set((dsl::status.eq(AuthenticatorStatus::Suspended), dsl::status_reason.eq(Some(reason))))
            .returning(dsl::id)
            .get_results(c)
            .await)?)
    }
}
