//! `sso_sessions`: server-side SSO sessions. The cookie holds a random
//! token; only its SHA-256 (`token_hash`) is stored.

use crate::JsonList;
use crate::schema::sso_sessions::{self, dsl};
use crate::{DbConn, StoreError, with_conn};
use clavis_core::{LoginMethod, Oid, SessionEndReason, SessionId, WorkstationId};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

/// One SSO session.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = sso_sessions)]
#[diesel(treat_none_as_null = true, treat_none_as_default_value = false)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct SsoSessionRow {
    /// Public id (shown to operators, used for revocation and `sid`).
    pub id: SessionId,
    /// SHA-256 of the cookie token.
    pub token_hash: String,
    pub oid: Oid,
    /// When the user authenticated (unix seconds).
    pub auth_time: i64,
    /// Absolute end (auth_time + lifetime).
    pub expires_at: i64,
    /// 0 = no idle timeout.
    pub idle_timeout_secs: i64,
    pub last_seen_at: i64,
    pub acr: String,
    /// JSON array.
    pub amr: JsonList<String>,
    pub authenticator_id: Option<String>,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    pub ended_at: Option<i64>,
    pub end_reason: Option<SessionEndReason>,
    /// The registered workstation a badge login happened at.
    pub workstation_id: Option<WorkstationId>,
    /// How the session was opened (`None` for sessions opened before it
    /// was recorded).
    pub method: Option<LoginMethod>,
}

/// The live (not ended) session with this token hash, as a query both
/// the async and the inline connections run.
#[diesel::dsl::auto_type(no_type_alias)]
fn live_by_hash<'a>(hash: &'a str) -> _ {
    dsl::sso_sessions
        .filter(dsl::token_hash.eq(hash))
        .filter(dsl::ended_at.is_null())
}

impl SsoSessionRow {
    /// Inserts a session.
    pub async fn insert(&self, conn: &mut DbConn) -> Result<(), StoreError> {
        with_conn!(conn, c => diesel::insert_into(sso_sessions::table).values(self).execute(c).await)?;
        Ok(())
    }

    /// The live (not ended) session with this token hash.
    pub async fn find_live_by_hash(
        conn: &mut DbConn,
        hash: &str,
    ) -> Result<Option<Self>, StoreError> {
        Ok(with_conn!(conn, c => live_by_hash(hash)
            .select(SsoSessionRow::as_select())
            .first(c)
            .await
            .optional())?)
    }

    /// [`SsoSessionRow::find_live_by_hash`] for the per-request hot path,
    /// without a transaction: on SQLite it runs inline on the calling
    /// thread (see [`crate::db::InlineReaders`]), on PostgreSQL on a pooled
    /// connection.
    pub async fn find_live(db: &crate::Db, hash: &str) -> Result<Option<Self>, StoreError> {
        match db.inline() {
            Some(inline) => inline.read(|c| {
                diesel::RunQueryDsl::first(live_by_hash(hash).select(SsoSessionRow::as_select()), c)
                    .optional()
            }),
            None => Self::find_live_by_hash(&mut db.conn().await?, hash).await,
        }
    }

    /// A session by id.
    pub async fn find(conn: &mut DbConn, id: &SessionId) -> Result<Option<Self>, StoreError> {
        Ok(with_conn!(conn, c => dsl::sso_sessions
            .find(id)
            .select(SsoSessionRow::as_select())
            .first(c)
            .await
            .optional())?)
    }

    /// How many sessions are live now (not ended, not past their absolute
    /// expiry), for the metrics.
    pub async fn count_live(conn: &mut DbConn, now: i64) -> Result<i64, StoreError> {
        Ok(with_conn!(conn, c => dsl::sso_sessions
            .filter(dsl::ended_at.is_null())
            .filter(dsl::expires_at.gt(now))
            .count()
            .get_result(c)
            .await)?)
    }

    /// Sessions opened since `since`, counted per hour (Unix seconds / 3600)
    /// and method (the dashboard's logins per hour): a range of the
    /// `auth_time` index, grouped in the database.
    pub async fn opened_per_hour(
        conn: &mut DbConn,
        since: i64,
    ) -> Result<Vec<(i64, Option<clavis_core::LoginMethod>, i64)>, StoreError> {
        use diesel::sql_types::{BigInt, Nullable, Text};
        #[derive(diesel::QueryableByName)]
        struct PerHour {
            #[diesel(sql_type = BigInt)]
            hour: i64,
            #[diesel(sql_type = Nullable<Text>)]
            method: Option<String>,
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        const GROUPED: &str = "SELECT auth_time / 3600 AS hour, method, COUNT(*) AS n \
             FROM sso_sessions WHERE auth_time >= {since} GROUP BY auth_time / 3600, method";
        let q = GROUPED.replace(
            "{since}",
            match conn {
                DbConn::Sqlite(_) => "?",
                DbConn::Pg(_) => "$1",
            },
        );
        let rows: Vec<PerHour> = with_conn!(conn, c => diesel::sql_query(q.clone())
            .bind::<BigInt, _>(since)
            .load(c)
            .await)?;
        rows.into_iter()
            .map(|r| {
                let method = r.method.map(|m| m.parse()).transpose().map_err(
                    |e: clavis_core::text::UnknownValue| StoreError::Corrupt {
                        what: "session method",
                        detail: e.to_string(),
                    },
                )?;
                Ok((r.hour, method, r.n))
            })
            .collect()
    }

    /// Live sessions opened at one workstation, newest first (along the
    /// `workstation_id` index).
    pub async fn list_live_at_workstation(
        conn: &mut DbConn,
        workstation: &clavis_core::WorkstationId,
        now: i64,
        limit: i64,
    ) -> Result<Vec<Self>, StoreError> {
        Ok(with_conn!(conn, c => dsl::sso_sessions
            .filter(dsl::workstation_id.eq(workstation))
            .filter(dsl::ended_at.is_null())
            .filter(dsl::expires_at.gt(now))
            .order((dsl::auth_time.desc(), dsl::id.asc()))
            .limit(limit)
            .select(SsoSessionRow::as_select())
            .load(c)
            .await)?)
    }

    /// Live sessions, newest first, optionally of one identity.
    pub async fn list_live(
        conn: &mut DbConn,
        oid: Option<Oid>,
        now: i64,
        limit: i64,
    ) -> Result<Vec<Self>, StoreError> {
        Ok(with_conn!(conn, c => {
            let mut q = dsl::sso_sessions
                .filter(dsl::ended_at.is_null())
                .filter(dsl::expires_at.gt(now))
                .select(SsoSessionRow::as_select())
                .into_boxed();
            if let Some(o) = oid {
                q = q.filter(dsl::oid.eq(o.to_string()));
            }
            q.order((dsl::auth_time.desc(), dsl::id.asc())).limit(limit).load(c).await
        })?)
    }

    /// Records activity (for the idle timeout). Never moves it back: a
    /// node whose clock or request is behind another's leaves the later
    /// instant in place.
    pub async fn touch(conn: &mut DbConn, id: &SessionId, now: i64) -> Result<(), StoreError> {
        with_conn!(conn, c => diesel::update(
                dsl::sso_sessions.find(id).filter(dsl::last_seen_at.lt(now)),
            )
            .set(dsl::last_seen_at.eq(now))
            .execute(c)
            .await)?;
        Ok(())
    }

    /// Ids of live sessions past their absolute expiry at `now`.
    pub async fn expired_live(
        conn: &mut DbConn,
        now: i64,
        limit: i64,
    ) -> Result<Vec<SessionId>, StoreError> {
        Ok(with_conn!(conn, c => dsl::sso_sessions
            .filter(dsl::ended_at.is_null())
            .filter(dsl::expires_at.le(now))
            .select(dsl::id)
            .limit(limit)
            .load(c)
            .await)?)
    }

    /// Ends one live session; returns whether it was live.
    pub async fn end(
        conn: &mut DbConn,
        id: &SessionId,
        reason: SessionEndReason,
        now: i64,
    ) -> Result<bool, StoreError> {
        let n = with_conn!(conn, c => diesel::update(
                dsl::sso_sessions.filter(dsl::id.eq(id)).filter(dsl::ended_at.is_null()),
            )
            .set((dsl::ended_at.eq(Some(now)), dsl::end_reason.eq(Some(reason))))
            .execute(c)
            .await)?;
        Ok(n > 0)
    }

    /// Ends every live session of an identity; returns their ids.
    pub async fn end_all_for(
        conn: &mut DbConn,
        oid: Oid,
        reason: SessionEndReason,
        now: i64,
    ) -> Result<Vec<SessionId>, StoreError> {
        Ok(with_conn!(conn, c => diesel::update(
                dsl::sso_sessions.filter(dsl::oid.eq(oid)).filter(dsl::ended_at.is_null()),
            )
            .set((dsl::ended_at.eq(Some(now)), dsl::end_reason.eq(Some(reason))))
            .returning(dsl::id)
            .get_results(c)
            .await)?)
    }

    /// Ends every live session opened with an authenticator (a FIDO2 key's
    /// or a badge's id); returns their ids.
    pub async fn end_all_by_authenticator(
        conn: &mut DbConn,
        authenticator_id: &str,
        reason: SessionEndReason,
        now: i64,
    ) -> Result<Vec<SessionId>, StoreError> {
        Ok(with_conn!(conn, c => diesel::update(
                dsl::sso_sessions
                    .filter(dsl::authenticator_id.eq(authenticator_id))
                    .filter(dsl::ended_at.is_null()),
            )
            .set((dsl::ended_at.eq(Some(now)), dsl::end_reason.eq(Some(reason))))
            .returning(dsl::id)
            .get_results(c)
            .await)?)
    }

    /// Ends every live session opened at a workstation (fast user
    /// switching); returns their ids.
    pub async fn end_all_at_workstation(
        conn: &mut DbConn,
        workstation_id: &WorkstationId,
        reason: SessionEndReason,
        now: i64,
    ) -> Result<Vec<SessionId>, StoreError> {
        Ok(with_conn!(conn, c => diesel::update(
                dsl::sso_sessions
                    .filter(dsl::workstation_id.eq(workstation_id))
                    .filter(dsl::ended_at.is_null()),
            )
            .set((dsl::ended_at.eq(Some(now)), dsl::end_reason.eq(Some(reason))))
            .returning(dsl::id)
            .get_results(c)
            .await)?)
    }
}
