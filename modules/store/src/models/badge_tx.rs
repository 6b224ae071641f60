//! `badge_transactions`: one badge check or personalisation driven through
//! a workstation agent, a step per card answer. Only the answers are kept
//! (`transcript`) with the seed of the random values; the protocol is
//! replayed from them at each step, so any node can take the next one.

use crate::schema::badge_transactions::{self, dsl};
use crate::{DbConn, StoreError, with_conn};
use clavis_core::{Actor, BadgeId, BadgeTxPurpose, BadgeTxStatus, Oid, WorkstationId};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

/// One badge transaction.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = badge_transactions)]
#[diesel(treat_none_as_null = true, treat_none_as_default_value = false)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct BadgeTxRow {
    pub id: String,
    /// SHA-256 (hex) of the transaction token (browser and agent hold it).
    pub token_hash: String,
    /// SHA-256 (hex) of the browser binding cookie.
    pub browser_hash: String,
    /// `login` or `enrol`.
    pub purpose: BadgeTxPurpose,
    /// Enrolment: whose badge it becomes.
    pub target_oid: Option<Oid>,
    /// Enrolment of a temporary badge: its end (unix seconds).
    pub temporary_until: Option<i64>,
    /// The workstation whose agent relays (set by its first step).
    pub workstation_id: Option<WorkstationId>,
    /// Seed of the protocol's random values (hex). Deleted with the row.
    pub seed: String,
    /// The card's answers so far, hex, comma-separated.
    pub transcript: String,
    /// How many answers `transcript` holds.
    pub steps: i32,
    /// `open`, `identified` (login: badge recognised, PIN awaited),
    /// `done`, `failed`, `used`.
    pub status: BadgeTxStatus,
    /// Why it failed (for the audit; the user sees one message).
    pub failure: Option<String>,
    /// Login: the holder recognised.
    pub oid: Option<Oid>,
    /// The badge recognised or recorded.
    pub badge_id: Option<BadgeId>,
    /// Login: the key version recorded for the badge when it was
    /// recognised (re-keying on this tap starts from it).
    pub badge_key_version: Option<i32>,
    pub created_by: Actor,
    pub created_at: i64,
    pub expires_at: i64,
    /// The start's trace (`traceparent`), carried on by the agent's
    /// steps and the finish; only when traces are sent.
    pub trace_parent: Option<String>,
}

impl BadgeTxRow {
    /// Whether the transaction is past its end at `now` (unix seconds):
    /// from `expires_at` on it is refused, whoever presents it. The
    /// queries below say the same in SQL ([`BadgeTxRow::delete_expired`],
    /// [`BadgeTxRow::pending_for`]).
    pub fn is_expired(&self, now: i64) -> bool {
        self.expires_at <= now
    }

    /// Opens a transaction.
    pub async fn insert(&self, conn: &mut DbConn) -> Result<(), StoreError> {
        with_conn!(conn, c => diesel::insert_into(badge_transactions::table).values(self).execute(c).await)?;
        Ok(())
    }

    /// One transaction.
    pub async fn find(conn: &mut DbConn, id: &str) -> Result<Option<Self>, StoreError> {
        Ok(with_conn!(conn, c => dsl::badge_transactions
            .find(id)
            .select(BadgeTxRow::as_select())
            .first(c)
            .await
            .optional())?)
    }

    /// Records one more card answer if nobody recorded it first (the step
    /// count must still be `steps`); returns whether it was recorded.
    pub async fn record_step(
        &self,
        conn: &mut DbConn,
        previous_steps: i32,
    ) -> Result<bool, StoreError> {
        let n = with_conn!(conn, c => diesel::update(
                dsl::badge_transactions
                    .find(&self.id)
                    .filter(dsl::steps.eq(previous_steps))
                    .filter(dsl::status.eq(BadgeTxStatus::Open)),
            )
            .set((
                dsl::transcript.eq(&self.transcript),
                dsl::steps.eq(self.steps),
                dsl::status.eq(&self.status),
                dsl::failure.eq(&self.failure),
                dsl::oid.eq(&self.oid),
                dsl::badge_id.eq(&self.badge_id),
                dsl::badge_key_version.eq(self.badge_key_version),
                dsl::workstation_id.eq(&self.workstation_id),
            ))
            .execute(c)
            .await)?;
        Ok(n == 1)
    }

    /// Moves a transaction from one status to another; returns whether it
    /// was in `from` (so only one caller wins).
    pub async fn set_status(
        conn: &mut DbConn,
        id: &str,
        from: BadgeTxStatus,
        to: BadgeTxStatus,
    ) -> Result<bool, StoreError> {
        let n = with_conn!(conn, c => diesel::update(dsl::badge_transactions.find(id).filter(dsl::status.eq(from)))
            .set(dsl::status.eq(to))
            .execute(c)
            .await)?;
        Ok(n == 1)
    }

    /// How many transactions are still open (not past their end) at `now`.
    pub async fn count_live(conn: &mut DbConn, now: i64) -> Result<i64, StoreError> {
        Ok(with_conn!(conn, c => dsl::badge_transactions
            .filter(dsl::expires_at.gt(now))
            .count()
            .get_result(c)
            .await)?)
    }

    /// Deletes transactions past their end; returns how many.
    pub async fn delete_expired(conn: &mut DbConn, now: i64) -> Result<usize, StoreError> {
        Ok(
            with_conn!(conn, c => diesel::delete(dsl::badge_transactions.filter(dsl::expires_at.le(now)))
            .execute(c)
            .await)?,
        )
    }

    /// The oldest enrolment bound to this workstation still waiting for its
    /// first step.
    pub async fn pending_for(
        conn: &mut DbConn,
        workstation_id: &WorkstationId,
        now: i64,
    ) -> Result<Option<String>, StoreError> {
        Ok(with_conn!(conn, c => dsl::badge_transactions
            .filter(dsl::workstation_id.eq(workstation_id))
            .filter(dsl::browser_hash.eq(""))
            .filter(dsl::status.eq(BadgeTxStatus::Open))
            .filter(dsl::steps.eq(0))
            .filter(dsl::expires_at.gt(now))
            .order(dsl::created_at.asc())
            .select(dsl::id)
            .first(c)
            .await
            .optional())?)
    }
}
