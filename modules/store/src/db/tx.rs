//! Transactions on a [`DbConn`]: [`DbConn::transaction`] (commit on `Ok`,
//! roll back whole on `Err`), and in-place units ([`DbConn::atomically`],
//! [`DbConn::unit`]) that run a short transaction's every SQLite statement
//! on the calling thread while the database's write turn is held.

use super::sqlite::offload::{RUN_IN_PLACE, in_place, run_here};
use super::sqlite::write_turn::WRITE_TURN_WAIT;
use super::{DbConn, StoreError};
use crate::with_conn;
use diesel_async::AsyncConnection;
use diesel_async::TransactionManager;
use tracing::Instrument;

async fn begin_on<C: AsyncConnection>(c: &mut C) -> diesel::QueryResult<()> {
    C::TransactionManager::begin_transaction(c).await
}

/// A transaction on SQLite: `BEGIN IMMEDIATE` at the outermost level (see
/// [`DbConn::begin`]), a savepoint inside one.
pub(crate) async fn begin_sqlite(c: &mut super::AsyncSqliteConnection) -> diesel::QueryResult<()> {
    if depth_on(c) {
        return begin_on(c).await;
    }
    c.spawn_blocking(|inner| {
        diesel::connection::AnsiTransactionManager::begin_transaction_sql(inner, "BEGIN IMMEDIATE")
    })
    .await
}

async fn commit_on<C: AsyncConnection>(c: &mut C) -> diesel::QueryResult<()> {
    C::TransactionManager::commit_transaction(c).await
}

fn depth_on<C: AsyncConnection>(c: &mut C) -> bool {
    matches!(
        C::TransactionManager::transaction_manager_status_mut(c).transaction_depth(),
        Ok(Some(_))
    )
}

async fn rollback_on<C: AsyncConnection>(c: &mut C) -> diesel::QueryResult<()> {
    C::TransactionManager::rollback_transaction(c).await
}

impl DbConn {
    /// Whether a transaction is open on this connection.
    pub fn in_transaction(&mut self) -> bool {
        match self {
            // The units' connection may hold the transaction of a group of
            // units (see `atomically`): what counts is whether this
            // connection's user opened one.
            DbConn::Sqlite(s) => s.depth > 0,
            DbConn::Pg(c) => depth_on(&mut **c),
        }
    }

    /// For the rest of the current transaction, on PostgreSQL, plans every
    /// statement for its own parameters and the tables as they are now
    /// (`SET LOCAL plan_cache_mode = force_custom_plan`); nothing on
    /// SQLite. For bulk work that fills tables from empty (a first sync of
    /// 100,000 people): a cached statement's generic plan, made while a
    /// table was nearly empty and before autovacuum analysed it, keeps
    /// scanning the whole table once it has grown (key lookups by a page's
    /// worth of ids took 100 ms instead of 3). Planning again costs
    /// microseconds per statement, which such work can afford and the
    /// short transactions of logins need not pay.
    ///
    /// It also costs a random page read at 1.1 sequential ones (unless the
    /// server's `random_page_cost` is lower already; a sequential read at
    /// `seq_page_cost`, 1 by default): such work reads and
    /// writes the same tables page after page, which are in memory, and at
    /// the default of 4 the planner scanned a whole table of 30,000 rows
    /// (5 ms) to look up a page's 500 keys in its index (1 ms), 3 s of a
    /// 100k run.
    pub async fn plan_for_current_sizes(&mut self) -> Result<(), StoreError> {
        if let DbConn::Pg(c) = self {
            use diesel_async::SimpleAsyncConnection;
            let c: &mut diesel_async::AsyncPgConnection = c;
            c.batch_execute(
                "SET LOCAL plan_cache_mode = force_custom_plan; \
                 SELECT set_config('random_page_cost', LEAST( \
                   current_setting('random_page_cost')::float8, \
                   1.1 * current_setting('seq_page_cost')::float8)::text, true)",
            )
            .await?;
        }
        Ok(())
    }

    /// On PostgreSQL, gathers the planner's statistics of these tables
    /// now (`ANALYZE`, outside any transaction: it only samples, and
    /// neither blocks nor waits for readers and writers); nothing on
    /// SQLite, whose planner does without. For bulk work that makes
    /// tables grow many times over within minutes, faster than
    /// autovacuum's analyses follow: a plan chosen on statistics of a
    /// table a tenth of its size scans where it should look up.
    pub async fn refresh_statistics(&mut self, tables: &[&'static str]) -> Result<(), StoreError> {
        if let DbConn::Pg(c) = self
            && !tables.is_empty()
        {
            use diesel_async::SimpleAsyncConnection;
            let c: &mut diesel_async::AsyncPgConnection = c;
            c.batch_execute(&format!("ANALYZE {}", tables.join(", ")))
                .await?;
        }
        Ok(())
    }

    /// Like [`refresh_statistics`](Self::refresh_statistics), for the
    /// tables among these that changed more rows since their last analysis
    /// than 50 and a tenth of what they then held (PostgreSQL's own counts,
    /// `n_mod_since_analyze` against `reltuples`; autovacuum's own default
    /// threshold, which it cannot keep up with under bulk work); all of
    /// them where the server keeps no counts (`track_counts = off`). A sync
    /// calls it every few pages: a first run analyses each table as it
    /// grows from empty, a run over tables already full (an AD run after
    /// the HR one) analyses only what it is filling, instead of sampling
    /// every table ten times for nothing (3 s of a 100k AD run). A tenth,
    /// not a doubling: the AD run's records, new to statistics that had
    /// seen only HR's, were estimated at one row, and the planner walked
    /// every AD record already written, for each page, to find a page's
    /// 500 (14 ms a page at 50,000, 2.6 s of the run).
    ///
    /// These analyses sample 3,000 rows a table (a statistics target of
    /// 10, set for their one implicit transaction: the tables' locks, which
    /// block no reader or writer, are held until the last is analysed)
    /// rather than the server's 30,000: what bulk work needs is each
    /// table's size and that its keys are unique, and the samples took
    /// 2.5 s of a first 100k run. Answers the tables analysed, which the
    /// work analyses again at its end with the server's own target
    /// ([`refresh_statistics`](Self::refresh_statistics)), so that the
    /// console's searches do not plan on the light sample.
    pub async fn refresh_grown_statistics(
        &mut self,
        tables: &[&'static str],
    ) -> Result<Vec<&'static str>, StoreError> {
        use diesel::sql_types::{Array, Text};
        #[derive(diesel::QueryableByName)]
        struct Grown {
            #[diesel(sql_type = Text)]
            relname: String,
        }
        if let DbConn::Pg(c) = self
            && !tables.is_empty()
        {
            use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
            let c: &mut diesel_async::AsyncPgConnection = c;
            let grown: Vec<Grown> = diesel::sql_query(
                "SELECT s.relname FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid \
                 WHERE s.relid = ANY($1::text[]::regclass[]) \
                 AND (s.n_mod_since_analyze > 50 + GREATEST(c.reltuples, 0) / 10 \
                      OR current_setting('track_counts') = 'off')",
            )
            .bind::<Array<Text>, _>(tables)
            .load(c)
            .await?;
            // Only our own tables' names come back: the ones asked for.
            let names: Vec<&'static str> = tables
                .iter()
                .copied()
                .filter(|t| grown.iter().any(|g| g.relname == *t))
                .collect();
            if !names.is_empty() {
                c.batch_execute(&format!(
                    "SET LOCAL default_statistics_target = 10; ANALYZE {}",
                    names.join(", ")
                ))
                .await?;
            }
            return Ok(names);
        }
        Ok(Vec::new())
    }

    /// Starts a transaction (or a savepoint inside one). On SQLite, first
    /// waits (at most 10 s) for this database's write turn, held until the
    /// transaction ends (see [`SqliteConn`]), then begins `IMMEDIATE`: with
    /// SQLite's write lock from the start, waiting for it (busy timeout)
    /// when another process writes. A deferred transaction takes its
    /// snapshot at its first read and asks for the lock at its first
    /// write; if another process committed in between, that write fails at
    /// once ("database is locked"), whatever the busy timeout.
    pub(crate) async fn begin(&mut self) -> Result<(), StoreError> {
        if let DbConn::Sqlite(s) = self {
            if s.reading {
                return Err(StoreError::Unavailable(
                    "a transaction inside a read-only section (DbConn::reading)".into(),
                ));
            }
            if s.depth == 0 && s.held.is_none() && !RUN_IN_PLACE.get() {
                let turn = tokio::time::timeout(WRITE_TURN_WAIT, s.turn.take())
                    .await
                    .map_err(|_| {
                        StoreError::Unavailable(
                            "database busy: no turn to write within 10 s".into(),
                        )
                    })?;
                s.held = Some(turn);
            }
            s.depth += 1;
        }
        let r = match self {
            DbConn::Sqlite(s) => begin_sqlite(s.conn()).await,
            DbConn::Pg(c) => begin_on(&mut **c).await,
        };
        if r.is_err() {
            self.end_turn();
        }
        r?;
        Ok(())
    }

    /// One transaction level ended; the outermost gives the turn back.
    fn end_turn(&mut self) {
        if let DbConn::Sqlite(s) = self {
            s.depth = s.depth.saturating_sub(1);
            if s.depth == 0 {
                s.held = None;
            }
        }
    }

    /// Ends the transaction begun by [`DbConn::begin`]: commits when `result`
    /// is `Ok`, rolls back when it is `Err`, and hands `result` back. A
    /// failed commit turns into an error (and the work is rolled back).
    pub(crate) async fn finish<T, E: From<StoreError>>(
        &mut self,
        result: Result<T, E>,
    ) -> Result<T, E> {
        let r = match result {
            Ok(v) => match with_conn!(self, c => commit_on(c).await) {
                Ok(()) => Ok(v),
                Err(e) => {
                    let _ = with_conn!(self, c => rollback_on(c).await);
                    Err(E::from(StoreError::Query(e)))
                }
            },
            Err(e) => {
                if let Err(rollback) = with_conn!(self, c => rollback_on(c).await) {
                    tracing::error!(error = %rollback, "rollback failed");
                }
                Err(e)
            }
        };
        self.end_turn();
        r
    }

    /// Runs `body` in one transaction (a savepoint when one is already
    /// open): commits when it returns `Ok`, rolls the whole of it back when
    /// it returns `Err`, and hands its result back. A failed commit is an
    /// error too (and nothing was written).
    ///
    /// ```ignore
    /// conn.transaction(async |tx| {
    ///     row.insert(tx).await?;
    ///     clavis_audit::append(tx, now, events).await
    /// })
    /// .await?;
    /// ```
    pub async fn transaction<T, E: From<StoreError>>(
        &mut self,
        body: impl AsyncFnOnce(&mut DbConn) -> Result<T, E>,
    ) -> Result<T, E> {
        // A span per transaction (its statements and commit): where a
        // request's database time goes, in the traces.
        let span = tracing::info_span!(target: "clavis::trace", "db.transaction", db.nested = self.in_transaction());
        async {
            self.begin().await?;
            let result = body(self).await;
            self.finish(result).await
        }
        .instrument(span)
        .await
    }

    /// [`DbConn::transaction`] run as one in-place unit
    /// ([`DbConn::atomically`]): on SQLite every statement of `body` runs
    /// on this thread while the write turn is held.
    pub async fn unit<T, E: From<StoreError>>(
        &mut self,
        body: impl AsyncFnOnce(&mut DbConn) -> Result<T, E>,
    ) -> Result<T, E> {
        self.atomically(async |c: &mut DbConn| c.transaction(body).await)
            .await
    }

    /// Runs `body` on this connection as one unit. On SQLite it first takes
    /// the database's write turn, then runs every statement of `body` in
    /// place on this thread instead of one hop to the blocking pool and
    /// back per statement: a short transaction (a login, an authorization
    /// code, a token exchange) holds SQLite's write lock for tens of
    /// microseconds rather than a dozen thread hand-offs (see
    /// [`super::sqlite::offload::in_place`]). On PostgreSQL `body` just
    /// runs. `body` must use only this connection (never another from the
    /// pool).
    ///
    /// On SQLite the statements run on the write turn's own connection
    /// rather than the pooled one (see [`WriteTurn`]), unless this
    /// connection already has a transaction open, and units that follow
    /// one another at the turn share a commit (see
    /// [`super::sqlite::group`]): `body`'s own transactions are then
    /// savepoints of the group's, and `atomically` returns once the
    /// group's commit is done. A failed commit is an error (nothing of
    /// `body` was kept) even when `body` returned `Ok`.
    ///
    /// [`WriteTurn`]: super::WriteTurn
    pub async fn atomically<T, E: From<StoreError>>(
        &mut self,
        body: impl AsyncFnOnce(&mut DbConn) -> Result<T, E>,
    ) -> Result<T, E> {
        let DbConn::Sqlite(s) = self else {
            return body(self).await;
        };
        if RUN_IN_PLACE.get() {
            // Nested: already in place, with the turn.
            return body(self).await;
        }
        if s.held.is_some() || s.depth > 0 {
            // Inside an open transaction of this connection (the turn is
            // held, or skipped in place): the transaction is on this
            // connection, stay on it.
            return in_place(|| run_here(body(self)));
        }
        let turn = s.turn.clone();
        let held = turn.take_for_unit().await;
        let Some((unit, group)) = turn.join(&held) else {
            let r = in_place(|| run_here(body(self)));
            let left_open = self.close_left_open().await;
            drop(held);
            return match left_open {
                Ok(()) => r,
                Err(e) => Err(E::from(e)),
            };
        };
        s.unit = Some(unit);
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            in_place(|| run_here(body(self)))
        }));
        let DbConn::Sqlite(s) = self else {
            unreachable!("still the SQLite connection")
        };
        let r = match ran {
            Ok(r) => r,
            Err(panic) => {
                // The units' connection is closed (its transaction, the
                // group's, rolled back) before the turn is given back, and
                // the group's units learn it failed.
                drop(s.unit.take());
                s.depth = 0;
                turn.abandon(&group);
                drop(held);
                std::panic::resume_unwind(panic);
            }
        };
        let Some(unit) = s.unit.take() else {
            unreachable!("the unit's connection is given back by the unit only")
        };
        // A body that left a transaction of its own open had it rolled
        // back with the group (see `WriteTurn::leave`); none was open when
        // the unit began.
        s.depth = 0;
        match (turn.leave(held, unit, group, r.is_ok()).await, r) {
            (Ok(()), r) => r,
            // Even a failed body's error gives way: what it recorded of its
            // failure (a refused login's count, a replayed code's
            // revocation) was not kept, and its caller must not answer as
            // if it were.
            (Err(e), _) => Err(E::from(e)),
        }
    }

    /// Runs `body` with its SQLite statements in place on this thread, on
    /// this pooled connection, without the write turn: for reads (each in
    /// autocommit; in WAL mode a read never waits for a writer) that would
    /// otherwise hop to the blocking pool and back per statement. `body`
    /// must not write: on SQLite a transaction begun inside it is refused
    /// (it would write outside the turn). On PostgreSQL `body` just runs.
    pub async fn reading<R>(&mut self, body: impl AsyncFnOnce(&mut DbConn) -> R) -> R {
        match self {
            DbConn::Sqlite(s) if !RUN_IN_PLACE.get() => {
                s.reading = true;
                let r = in_place(|| run_here(body(self)));
                if let DbConn::Sqlite(s) = self {
                    s.reading = false;
                }
                r
            }
            _ => body(self).await,
        }
    }

    /// After a unit ran alone on this pooled connection: a transaction its
    /// body left open (a bug) is rolled back whole, and that is an error.
    async fn close_left_open(&mut self) -> Result<(), StoreError> {
        let DbConn::Sqlite(s) = self else {
            return Ok(());
        };
        if s.depth == 0 {
            return Ok(());
        }
        s.depth = 0;
        let c = s.conn();
        while depth_on(c) {
            if rollback_on(c).await.is_err() {
                break;
            }
        }
        tracing::error!("an in-place unit left a transaction open: rolled back");
        Err(StoreError::Unavailable(
            "a unit left a transaction open: rolled back".into(),
        ))
    }

    /// Rolls back the current transaction on purpose.
    pub(crate) async fn rollback(&mut self) -> Result<(), StoreError> {
        let r = with_conn!(self, c => rollback_on(c).await);
        self.end_turn();
        r?;
        Ok(())
    }

    /// Runs `body` in a transaction that is always rolled back, whatever
    /// it returns: a dry run sees every effect of the real work and
    /// leaves nothing. Its result is handed back (a failed rollback is an
    /// error when the body succeeded, and logged when it failed).
    pub async fn rehearse<T, E: From<StoreError>>(
        &mut self,
        body: impl AsyncFnOnce(&mut DbConn) -> Result<T, E>,
    ) -> Result<T, E> {
        self.begin().await?;
        let result = body(self).await;
        let undone = self.rollback().await;
        match (result, undone) {
            (Ok(v), Ok(())) => Ok(v),
            (Ok(_), Err(e)) => Err(E::from(e)),
            (Err(e), undone) => {
                if let Err(rollback) = undone {
                    tracing::error!(error = %rollback, "rollback failed");
                }
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{count, exec};
    use super::super::*;

    /// A transaction keeps all of its writes when its body succeeds and
    /// none of them when it fails, in place or not, an inner one that
    /// fails takes back only its own writes, and a rehearsal keeps none.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_transaction_commits_whole_or_not_at_all() {
        let refusal = || StoreError::Corrupt {
            what: "test",
            detail: "refused on purpose".into(),
        };
        let is_refusal =
            |r: &Result<(), StoreError>| matches!(r, Err(StoreError::Corrupt { what: "test", .. }));
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open(dir.path().join("t.db").to_str().expect("utf-8"), 2).expect("open");
        let mut conn = db.conn().await.expect("conn");
        exec(&mut conn, "CREATE TABLE t (x TEXT NOT NULL)")
            .await
            .expect("table");
        conn.transaction(async |tx| exec(tx, "INSERT INTO t VALUES ('kept')").await)
            .await
            .expect("committed");
        let refused = conn
            .transaction(async |tx| {
                exec(tx, "INSERT INTO t VALUES ('lost 1')").await?;
                exec(tx, "INSERT INTO t VALUES ('lost 2')").await?;
                Err::<(), _>(refusal())
            })
            .await;
        assert!(is_refusal(&refused), "{refused:?}");
        assert_eq!(count(&mut conn).await, 1, "a failed body writes nothing");
        let refused = conn
            .unit(async |tx| {
                exec(tx, "INSERT INTO t VALUES ('lost 3')").await?;
                Err::<(), _>(refusal())
            })
            .await;
        assert!(is_refusal(&refused));
        conn.unit(async |tx| {
            exec(tx, "INSERT INTO t VALUES ('outer')").await?;
            let inner = tx
                .transaction(async |inner| {
                    exec(inner, "INSERT INTO t VALUES ('inner')").await?;
                    Err::<(), _>(refusal())
                })
                .await;
            assert!(is_refusal(&inner));
            Ok::<_, StoreError>(())
        })
        .await
        .expect("outer committed");
        assert_eq!(count(&mut conn).await, 2, "kept + outer, not inner");
        let seen = conn
            .rehearse(async |tx| {
                exec(tx, "INSERT INTO t VALUES ('rehearsed')").await?;
                Ok::<_, StoreError>(count(tx).await)
            })
            .await
            .expect("rehearsed");
        assert_eq!(seen, 3, "a rehearsal sees its own writes");
        assert_eq!(count(&mut conn).await, 2, "and leaves none of them");
    }

    /// A read-only section refuses to begin a transaction (it would write
    /// outside the write turn) and writes nothing; transactions work again
    /// after it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_read_only_section_refuses_a_transaction() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = super::super::test_support::server_db(
            dir.path(),
            "r.db",
            2,
            "CREATE TABLE t (x TEXT NOT NULL)",
        )
        .await;
        let mut conn = db.conn().await.expect("conn");
        let refused = conn
            .reading(async |c: &mut DbConn| {
                c.transaction(async |tx| exec(tx, "INSERT INTO t VALUES ('refused')").await)
                    .await
            })
            .await;
        assert!(refused.is_err(), "{refused:?}");
        assert_eq!(count(&mut conn).await, 0);
        conn.transaction(async |tx| exec(tx, "INSERT INTO t VALUES ('after')").await)
            .await
            .expect("a transaction after the section");
        assert_eq!(count(&mut conn).await, 1);
    }

    /// Units share one connection; one that leaves a transaction open (a
    /// bug: a unit that returned before `finish`) does not hand it to the
    /// next unit: that connection is closed, its writes rolled back.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_unit_never_inherits_an_open_transaction() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db =
            Db::open_for_server(dir.path().join("c.db").to_str().expect("utf-8"), 4).expect("open");
        let mut conn = db.conn().await.expect("conn");
        exec(&mut conn, "CREATE TABLE t (x TEXT NOT NULL)")
            .await
            .expect("table");
        let left_open = conn
            .atomically(async |c: &mut DbConn| {
                c.begin().await?;
                exec(c, "INSERT INTO t VALUES ('left open')").await
            })
            .await;
        assert!(
            left_open.is_err(),
            "a unit that left its transaction open is told it was not kept"
        );
        drop(conn);
        let mut conn = db.conn().await.expect("conn");
        let seen = conn
            .atomically(async |c: &mut DbConn| {
                c.begin().await?;
                let r = exec(c, "INSERT INTO t VALUES ('next')").await;
                c.finish(r).await?;
                Ok::<_, StoreError>(count(c).await)
            })
            .await
            .expect("the next unit runs");
        assert_eq!(seen, 1, "only the next unit's row is there");
        assert_eq!(count(&mut db.conn().await.expect("conn")).await, 1);
    }
}
