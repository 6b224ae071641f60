//! `audit_events` and `audit_head`: rows of the hash-chained audit log.
//! The chaining logic lives in the `clavis_audit` crate.

use crate::schema::audit_events::{self, dsl};
use crate::schema::audit_head::dsl as hdsl;
use crate::{DbConn, StoreError, with_conn};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

/// One stored audit event.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_events)]
#[diesel(treat_none_as_null = true, treat_none_as_default_value = false)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct AuditEventRow {
    pub seq: i64,
    pub id: String,
    /// Unix microseconds.
    pub occurred_at: i64,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    /// JSON object of changed fields `{field: {before, after}}` and details.
    pub changes: String,
    pub source: Option<String>,
    pub sync_run_id: Option<String>,
    pub client_addr: Option<String>,
    pub prev_hash: String,
    pub hash: String,
    /// The HTTP request it came in (its `X-Request-Id`), if it did.
    pub request_id: Option<String>,
}

/// Below this many events, one cached statement each costs less than
/// preparing a multi-row one.
const FEW: usize = 16;

impl AuditEventRow {
    /// Reserves `count` sequence numbers at the head of the chain and returns
    /// (first reserved seq, hash of the event before it). The UPDATE takes
    /// the head row's lock, so concurrent appenders queue up instead of
    /// forking the chain. Must run inside a transaction.
    pub async fn reserve(conn: &mut DbConn, count: i64) -> Result<(i64, String), StoreError> {
        let (seq, hash): (i64, String) = with_conn!(conn, c => diesel::update(hdsl::audit_head.find(1))
            .set(hdsl::seq.eq(hdsl::seq + count))
            .returning((hdsl::seq, hdsl::hash))
            .get_result(c)
            .await)?;
        Ok((seq - count + 1, hash))
    }

    /// Sets the head hash after appending.
    pub async fn set_head_hash(conn: &mut DbConn, hash: &str) -> Result<(), StoreError> {
        with_conn!(conn, c => diesel::update(hdsl::audit_head.find(1))
            .set(hdsl::hash.eq(hash))
            .execute(c)
            .await)?;
        Ok(())
    }

    /// Inserts events (already chained). A few (a login's) go one
    /// statement each, prepared once per connection; many (a sync page's)
    /// a statement per few hundred, prepared each time.
    pub async fn insert_all(conn: &mut DbConn, rows: Vec<AuditEventRow>) -> Result<(), StoreError> {
        if rows.len() < FEW {
            return crate::execute_each!(conn, rows, |r| diesel::insert_into(audit_events::table)
                .values(r));
        }
        crate::execute_batched!(conn, rows, |chunk| diesel::insert_into(audit_events::table)
            .values(chunk))
    }

    /// Events in chain order from `after_seq` (exclusive), at most `limit`.
    pub async fn page(
        conn: &mut DbConn,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<Self>, StoreError> {
        Ok(with_conn!(conn, c => dsl::audit_events
            .filter(dsl::seq.gt(after_seq))
            .order(dsl::seq.asc())
            .limit(limit)
            .select(AuditEventRow::as_select())
            .load(c)
            .await)?)
    }

    /// Events about one target, oldest first.
    pub async fn for_target(
        conn: &mut DbConn,
        target: &str,
        limit: i64,
    ) -> Result<Vec<Self>, StoreError> {
        Ok(with_conn!(conn, c => dsl::audit_events
            .filter(dsl::target.eq(target))
            .order(dsl::seq.asc())
            .limit(limit)
            .select(AuditEventRow::as_select())
            .load(c)
            .await)?)
    }

    /// When the last event was written (Unix microseconds), if any: the
    /// age of the chain's head, for the metrics.
    pub async fn last_occurred_at(conn: &mut DbConn) -> Result<Option<i64>, StoreError> {
        Ok(with_conn!(conn, c => dsl::audit_events
            .order(dsl::seq.desc())
            .select(dsl::occurred_at)
            .first(c)
            .await
            .optional())?)
    }

    /// The head of the chain: (last seq, its hash).
    pub async fn head(conn: &mut DbConn) -> Result<(i64, String), StoreError> {
        Ok(with_conn!(conn, c => hdsl::audit_head
            .find(1)
            .select((hdsl::seq, hdsl::hash))
            .first(c)
            .await)?)
    }
}
