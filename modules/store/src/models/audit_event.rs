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

/// What the audit journal is searched by (the console, the admin API):
/// each field given narrows the search; newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// The actor, exactly (`identity:<oid>`, `cli:root`, `api:<name>`).
    pub actor: Option<String>,
    /// The target, exactly (an oid, a client id, a badge id).
    pub target: Option<String>,
    /// The action: exactly (`login.failed`), or every action of a family
    /// when it ends with a dot (`login.`).
    pub action: Option<String>,
    /// From this instant (Unix microseconds, included).
    pub from_us: Option<i64>,
    /// Until this instant (Unix microseconds, excluded).
    pub to_us: Option<i64>,
    /// Only events before this one, newest first: its `(occurred_at, seq)`
    /// (the next page starts before the last event of the previous one).
    pub before: Option<(i64, i64)>,
    /// Only events up to this one in the chain (what existed when an
    /// export began).
    pub max_seq: Option<i64>,
}

/// Below this many events, one cached statement each costs less than
/// preparing a multi-row one.
const FEW: usize = 16;

impl AuditEventRow {
    /// Reserves `count` sequence numbers at the head of the chain and returns
    /// (first reserved seq, hash of the event before it). Must run inside
    /// a transaction, followed by [`Self::append_reserved`] (or
    /// [`Self::set_head`] once the events are in): on SQLite the head only
    /// moves then.
    ///
    /// On PostgreSQL the UPDATE takes the head row's lock, so concurrent
    /// appenders queue up instead of forking the chain. On SQLite every
    /// transaction holds the database's write lock from its start
    /// (`BEGIN IMMEDIATE`, see `DbConn::begin`): nobody else writes until
    /// it ends, and reading the head is enough. A `SELECT` and the
    /// `REPLACE` of [`Self::set_head`] are prepared once per connection,
    /// where diesel prepares an `UPDATE` again at every use (two per
    /// audited action).
    pub async fn reserve(conn: &mut DbConn, count: i64) -> Result<(i64, String), StoreError> {
        match conn {
            DbConn::Sqlite(s) => {
                let (seq, hash): (i64, String) = hdsl::audit_head
                    .find(1)
                    .select((hdsl::seq, hdsl::hash))
                    .first(s.conn())
                    .await?;
                Ok((seq + 1, hash))
            }
            DbConn::Pg(c) => {
                let (seq, hash): (i64, String) = diesel::update(hdsl::audit_head.find(1))
                    .set(hdsl::seq.eq(hdsl::seq + count))
                    .returning((hdsl::seq, hdsl::hash))
                    .get_result(&mut **c)
                    .await?;
                Ok((seq - count + 1, hash))
            }
        }
    }

    /// Moves the head to the last appended event (`seq`, `hash`), after
    /// [`Self::reserve`].
    pub async fn set_head(conn: &mut DbConn, seq: i64, hash: &str) -> Result<(), StoreError> {
        match conn {
            DbConn::Sqlite(s) => {
                diesel::replace_into(hdsl::audit_head)
                    .values((hdsl::id.eq(1), hdsl::seq.eq(seq), hdsl::hash.eq(hash)))
                    .execute(s.conn())
                    .await?;
            }
            DbConn::Pg(c) => {
                diesel::update(hdsl::audit_head.find(1))
                    .set(hdsl::hash.eq(hash))
                    .execute(&mut **c)
                    .await?;
            }
        }
        Ok(())
    }

    /// Inserts events (already chained). A few (a login's) go one
    /// statement each, prepared once per connection; many (a sync page's)
    /// on PostgreSQL one statement whose thirteen parameters are the
    /// columns, each an array (`unnest`), on SQLite a statement per few
    /// hundred rows. Row by row, 500 events are 6,500 parameters, each
    /// bound on both sides of the connection: the server spent a fifth
    /// more CPU on them than on the same rows as arrays.
    pub async fn insert_all(conn: &mut DbConn, rows: Vec<AuditEventRow>) -> Result<(), StoreError> {
        if rows.len() < FEW {
            return crate::execute_each!(conn, rows, |r| diesel::insert_into(audit_events::table)
                .values(r));
        }
        crate::db::insert_rows!(conn, rows, AuditEventRow => audit_events {
            seq, id, occurred_at, actor, action, target, changes, source, sync_run_id,
            client_addr, prev_hash, hash, request_id,
        })
    }

    /// Writes `rows`, the events just reserved ([`Self::reserve`]), and
    /// moves the head to the last of them (`last_seq`, `hash`).
    ///
    /// On PostgreSQL the head's row stays locked from the reservation to
    /// the commit, and every audited transaction of the cluster waits for
    /// it in turn: a few events and the head's update go together
    /// (pipelined on the connection: sent at once, in order, the events
    /// then the head, their answers awaited together), one round trip under
    /// the lock instead of one per statement. The statements stay those of
    /// the sequential path, so their plans stay cached. Should one fail,
    /// the transaction is aborted and rolled back whole; the answers of the
    /// others are still read, and the connection serves the rollback. Many
    /// events (a sync's page) go as arrays, then the head.
    pub async fn append_reserved(
        conn: &mut DbConn,
        rows: Vec<AuditEventRow>,
        last_seq: i64,
        hash: &str,
    ) -> Result<(), StoreError> {
        debug_assert!(
            conn.in_transaction(),
            "the head is reserved in a transaction"
        );
        if let DbConn::Pg(c) = conn
            && rows.len() < FEW
        {
            let pg: &diesel_async::AsyncPgConnection = c;
            let written = futures_util::future::try_join_all(rows.into_iter().map(|row| {
                diesel::insert_into(audit_events::table)
                    .values(row)
                    .execute(&mut { pg })
            }));
            let moved = diesel::update(hdsl::audit_head.find(1))
                .set(hdsl::hash.eq(hash))
                .execute(&mut { pg });
            futures_util::try_join!(written, moved)?;
            return Ok(());
        }
        Self::insert_all(conn, rows).await?;
        Self::set_head(conn, last_seq, hash).await
    }

    /// On PostgreSQL, appends one event after the head in one statement:
    /// the server locks the head's row, takes the next sequence number,
    /// writes the event with the head's hash as its previous one and its
    /// own hash, and moves the head to it. `row`'s `seq`, `prev_hash` and
    /// `hash` are the server's to set (ignored); `own_bytes` are the bytes
    /// its hash covers after the link (`clavis_audit`'s format): the server
    /// hashes the head's hash and the sequence number, each as its length
    /// (8 bytes, big-endian) and its bytes, then those.
    ///
    /// The head's row stays locked until the commit, and every audited
    /// transaction of the cluster takes it in turn: this holds it for one
    /// round trip (and the commit's) where [`Self::reserve`] then
    /// [`Self::append_reserved`] take two. Must run inside a transaction,
    /// as its last statement if it can (the lock is held until the end).
    pub async fn append_one(
        conn: &mut diesel_async::AsyncPgConnection,
        row: AuditEventRow,
        own_bytes: Vec<u8>,
    ) -> Result<(), StoreError> {
        let moved = AppendOne { row, own_bytes }.execute(conn).await?;
        if moved != 1 {
            return Err(StoreError::Corrupt {
                what: "audit head",
                detail: format!("its row is missing ({moved} rows moved)"),
            });
        }
        Ok(())
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

    /// Events matching `f`, newest first (by time, then chain order), at
    /// most `limit`; the next page starts `before` the last one. The
    /// `(occurred_at, seq)` index serves the order, so a page of a long
    /// range is read without sorting the range.
    pub async fn search(
        conn: &mut DbConn,
        f: &AuditFilter,
        limit: i64,
    ) -> Result<Vec<Self>, StoreError> {
        Ok(with_conn!(conn, c => {
            let mut q = dsl::audit_events
                .select(AuditEventRow::as_select())
                .into_boxed();
            if let Some(a) = &f.actor {
                q = q.filter(dsl::actor.eq(a.clone()));
            }
            if let Some(t) = &f.target {
                q = q.filter(dsl::target.eq(t.clone()));
            }
            match &f.action {
                Some(a) if a.ends_with('.') => {
                    q = q.filter(dsl::action.like(format!("{}%", like_escaped(a))).escape('\\'));
                }
                Some(a) => q = q.filter(dsl::action.eq(a.clone())),
                None => {}
            }
            if let Some(from) = f.from_us {
                q = q.filter(dsl::occurred_at.ge(from));
            }
            if let Some(to) = f.to_us {
                q = q.filter(dsl::occurred_at.lt(to));
            }
            if let Some((at, seq)) = f.before {
                q = q.filter(
                    dsl::occurred_at
                        .lt(at)
                        .or(dsl::occurred_at.eq(at).and(dsl::seq.lt(seq))),
                );
            }
            if let Some(max) = f.max_seq {
                q = q.filter(dsl::seq.le(max));
            }
            q.order((dsl::occurred_at.desc(), dsl::seq.desc()))
                .limit(limit)
                .load(c)
                .await
        })?)
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

    /// How many events of each of `actions` occurred from `from_us` (Unix
    /// microseconds) on, read along the `(occurred_at, seq)` index.
    pub async fn count_since(
        conn: &mut DbConn,
        actions: &[&str],
        from_us: i64,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(with_conn!(conn, c => dsl::audit_events
            .filter(dsl::occurred_at.ge(from_us))
            .filter(dsl::action.eq_any(actions))
            .group_by(dsl::action)
            .select((dsl::action, diesel::dsl::count_star()))
            .load(c)
            .await)?)
    }

    /// The head's sequence number and the largest sequence number stored,
    /// read in one statement (one snapshot): an event beyond the head was
    /// not appended by Clavis.
    pub async fn head_and_max(conn: &mut DbConn) -> Result<(i64, Option<i64>), StoreError> {
        use diesel::sql_types::{BigInt, Nullable};
        #[derive(diesel::QueryableByName)]
        struct HeadMax {
            #[diesel(sql_type = BigInt)]
            head: i64,
            #[diesel(sql_type = Nullable<BigInt>)]
            max_seq: Option<i64>,
        }
        const Q: &str = "SELECT (SELECT seq FROM audit_head WHERE id = 1) AS head, \
                         (SELECT MAX(seq) FROM audit_events) AS max_seq";
        let r: HeadMax = with_conn!(conn, c => diesel::sql_query(Q).get_result(c).await)?;
        Ok((r.head, r.max_seq))
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

/// `s` with the wildcards of `LIKE` escaped (by a backslash).
fn like_escaped(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

/// The statement of [`AuditEventRow::append_one`]. Its text is the same
/// each time (its values are parameters), so it is prepared once per
/// connection, as diesel's own statements are.
struct AppendOne {
    row: AuditEventRow,
    own_bytes: Vec<u8>,
}

impl diesel::query_builder::QueryId for AppendOne {
    type QueryId = AppendOne;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl diesel::query_builder::QueryFragment<diesel::pg::Pg> for AppendOne {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> QueryResult<()> {
        use diesel::sql_types::{BigInt, Binary, Nullable, Text};
        let r = &self.row;
        // `h`: the head, locked, and the next sequence number. `e`: the
        // event, its link hashed by the server (each field's UTF-8 bytes
        // and their count). Then the head moves to it (the row `h` locked:
        // one update of it in the statement). The text must not depend on
        // the values: the statement is cached by this type alone.
        out.push_sql(
            "WITH h AS (SELECT seq + 1 AS seq, hash FROM audit_head WHERE id = 1 FOR UPDATE), \
             e AS (INSERT INTO audit_events (seq, id, occurred_at, actor, action, target, \
             changes, source, sync_run_id, client_addr, request_id, prev_hash, hash) \
             SELECT h.seq, ",
        );
        out.push_bind_param::<Text, _>(&r.id)?;
        out.push_sql(", ");
        out.push_bind_param::<BigInt, _>(&r.occurred_at)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&r.actor)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&r.action)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&r.target)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&r.changes)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&r.source)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&r.sync_run_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&r.client_addr)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&r.request_id)?;
        out.push_sql(
            ", h.hash, encode(sha256(\
             int8send(octet_length(convert_to(h.hash, 'UTF8'))::int8) \
             || convert_to(h.hash, 'UTF8') \
             || int8send(octet_length(convert_to(h.seq::text, 'UTF8'))::int8) \
             || convert_to(h.seq::text, 'UTF8') || ",
        );
        out.push_bind_param::<Binary, _>(&self.own_bytes)?;
        out.push_sql(
            "), 'hex') FROM h RETURNING seq, hash) \
             UPDATE audit_head SET seq = e.seq, hash = e.hash FROM e WHERE audit_head.id = 1",
        );
        Ok(())
    }
}
