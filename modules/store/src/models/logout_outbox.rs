//! `logout_outbox`: back-channel logout notifications owed to applications
//! when an SSO session ends, written in the transaction that ends it and
//! delivered (with retries) by the provider's worker.

use crate::schema::logout_outbox::{self, dsl};
use crate::{DbConn, StoreError, with_conn};
use clavis_core::{ClientId, Oid, SessionId};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

/// One notification to deliver.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = logout_outbox)]
#[diesel(treat_none_as_null = true, treat_none_as_default_value = false)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct LogoutOutboxRow {
    pub id: String,
    /// The ended SSO session (`sid`).
    pub session_id: SessionId,
    /// The person (`sub`).
    pub oid: Oid,
    pub client_id: ClientId,
    pub attempts: i32,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub delivered_at: Option<i64>,
    pub given_up_at: Option<i64>,
    pub created_at: i64,
    /// The attempt holding it (a random token), until `claimed_until`.
    pub claimed_by: Option<String>,
    pub claimed_until: Option<i64>,
}

impl LogoutOutboxRow {
    /// Queues notifications.
    pub async fn insert_all(conn: &mut DbConn, rows: &[Self]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        crate::execute_each!(conn, rows.to_vec(), |r| diesel::insert_into(
            logout_outbox::table
        )
        .values(r))
    }

    /// Back-channel logouts still owed (neither delivered nor given up):
    /// how many, and since when the oldest waits.
    pub async fn backlog(conn: &mut DbConn) -> Result<(i64, Option<i64>), StoreError> {
        Ok(with_conn!(conn, c => dsl::logout_outbox
            .filter(dsl::delivered_at.is_null())
            .filter(dsl::given_up_at.is_null())
            .select((diesel::dsl::count_star(), diesel::dsl::min(dsl::created_at)))
            .first(c)
            .await)?)
    }

    /// Notifications due at `now` (neither delivered nor given up, nor
    /// held by a live claim), oldest first.
    pub async fn due(conn: &mut DbConn, now: i64, limit: i64) -> Result<Vec<Self>, StoreError> {
        Ok(with_conn!(conn, c => dsl::logout_outbox
            .filter(dsl::delivered_at.is_null())
            .filter(dsl::given_up_at.is_null())
            .filter(dsl::next_attempt_at.le(now))
            .filter(dsl::claimed_until.is_null().or(dsl::claimed_until.le(now)))
            .order((dsl::next_attempt_at.asc(), dsl::id.asc()))
            .limit(limit)
            .select(LogoutOutboxRow::as_select())
            .load(c)
            .await)?)
    }

    /// Every notification of a session (tests, operators).
    pub async fn for_session(
        conn: &mut DbConn,
        session_id: &SessionId,
    ) -> Result<Vec<Self>, StoreError> {
        Ok(with_conn!(conn, c => dsl::logout_outbox
            .filter(dsl::session_id.eq(session_id))
            .order(dsl::client_id.asc())
            .select(LogoutOutboxRow::as_select())
            .load(c)
            .await)?)
    }

    /// Claims the notification `row` (as read) for the attempt `owner`
    /// until `until`, if it is still owed and due at `now`, still at the
    /// attempts counted when it was read, and nobody holds it (or their
    /// claim ran out): one conditional statement, so of several nodes one
    /// gets it. False when another has it, or tried or settled it since.
    pub async fn claim(
        conn: &mut DbConn,
        row: &Self,
        owner: &str,
        now: i64,
        until: i64,
    ) -> Result<bool, StoreError> {
        let n = with_conn!(conn, c => diesel::update(
                dsl::logout_outbox
                    .find(&row.id)
                    .filter(dsl::delivered_at.is_null())
                    .filter(dsl::given_up_at.is_null())
                    .filter(dsl::next_attempt_at.le(now))
                    .filter(dsl::attempts.eq(row.attempts))
                    .filter(dsl::claimed_until.is_null().or(dsl::claimed_until.le(now))),
            )
            .set((dsl::claimed_by.eq(owner), dsl::claimed_until.eq(until)))
            .execute(c)
            .await)?;
        Ok(n == 1)
    }

    /// Saves the outcome of an attempt and releases its claim, if the
    /// attempt `owner` still holds it. False when its claim ran out and
    /// another node took the notification over: then nothing is saved.
    pub async fn record_attempt(&self, conn: &mut DbConn, owner: &str) -> Result<bool, StoreError> {
        let n = with_conn!(conn, c => diesel::update(
                dsl::logout_outbox
                    .find(&self.id)
                    .filter(dsl::claimed_by.eq(owner)),
            )
            .set((
                dsl::attempts.eq(self.attempts),
                dsl::next_attempt_at.eq(self.next_attempt_at),
                dsl::last_error.eq(self.last_error.clone()),
                dsl::delivered_at.eq(self.delivered_at),
                dsl::given_up_at.eq(self.given_up_at),
                dsl::claimed_by.eq(None::<String>),
                dsl::claimed_until.eq(None::<i64>),
            ))
            .execute(c)
            .await)?;
        Ok(n == 1)
    }
}
