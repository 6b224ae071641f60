//! Group commit: in-place units that follow one another at the write turn
//! share one SQLite transaction and one commit.
//!
//! A commit is where an OpenID flow spent most of its database time:
//! writing each page the unit dirtied to the WAL (two `pwrite`s a page,
//! about fifteen pages a unit), most of them the same pages as the unit
//! before (the audit journal's last leaf and indexes, its head, the last
//! leaf of each table a flow appends to). When a unit ends while other
//! units wait for the turn, it leaves the transaction open for them
//! instead of committing: the next ones run inside it (a unit's own
//! `transaction` is a savepoint of it, rolled back alone when it fails; a
//! unit's statements outside any transaction of its own go straight into
//! the group's, as they went in autocommit before), and the last one
//! commits for all. Every unit of a group waits for that commit before it
//! returns: nobody is ever told "done" about a write that is not committed,
//! and if the commit fails every unit of the group gets the error (even one
//! whose body had failed: the failure it recorded was not kept either),
//! none of their writes is kept.
//!
//! A body must hand back the store's errors (`?`), never swallow one and
//! return `Ok`: an error after which SQLite rolled the whole transaction
//! back (disk full, I/O error) would otherwise leave the group open
//! without a transaction. A unit whose task is dropped while it waits for
//! its group's commit (the client went away) has its writes committed
//! with the group, as a request whose client leaves after the server
//! committed.
//!
//! When a group ends:
//! - a unit ends and no other unit waits for the turn (a lone unit commits
//!   at once, as before: no unit waits for a commit that could be done
//!   now);
//! - the group holds [`MAX_UNITS`] units, or has been open [`MAX_OPEN`];
//! - a unit's body failed (its own savepoint was rolled back; the group
//!   commits then, so that an error SQLite answered by rolling back the
//!   whole transaction never has a next unit write outside it);
//! - the turn is taken by anything else than a unit (a transaction on a
//!   pooled connection, a checkpoint): it commits the group first, since
//!   SQLite's write lock is the group's until then;
//! - the last unit waiting to join gave up (its task was dropped): a task
//!   takes the turn and commits.

use super::offload::{in_place, run_here};
use super::{AsyncSqliteConnection, WriteTurn, write_turn::TurnHeld};
use crate::StoreError;
use diesel_async::{AsyncConnection, TransactionManager};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The most units one commit is for.
pub(crate) const MAX_UNITS: usize = 16;

/// How long a group may stay open: the unit that ends past it commits, so
/// that the first unit of a group never waits much longer than its own
/// work for its commit.
pub(crate) const MAX_OPEN: Duration = Duration::from_millis(4);

type Manager = <AsyncSqliteConnection as AsyncConnection>::TransactionManager;

/// Units sharing one open transaction on the write turn's connection.
#[derive(Debug)]
pub(crate) struct Group {
    units: AtomicUsize,
    opened: Instant,
    /// The commit's outcome, once there is one.
    outcome: tokio::sync::watch::Sender<Option<Result<(), String>>>,
}

impl Group {
    fn new() -> Self {
        Group {
            units: AtomicUsize::new(1),
            opened: Instant::now(),
            outcome: tokio::sync::watch::Sender::new(None),
        }
    }

    fn full(&self) -> bool {
        self.units.load(Ordering::Relaxed) >= MAX_UNITS || self.opened.elapsed() >= MAX_OPEN
    }

    /// Waits for the group's commit.
    async fn committed(&self) -> Result<(), StoreError> {
        let mut outcome = self.outcome.subscribe();
        let seen = outcome
            .wait_for(Option::is_some)
            .await
            .map_err(|_| StoreError::Unavailable("group commit abandoned".into()))?;
        match seen.as_ref() {
            Some(Ok(())) => Ok(()),
            Some(Err(e)) => Err(StoreError::Unavailable(format!(
                "the transaction this write shared with others failed to commit: {e}"
            ))),
            None => Err(StoreError::Unavailable("group commit abandoned".into())),
        }
    }
}

/// The transaction depth diesel sees on `conn` (`Some(1)`: the group's
/// own transaction, nothing of a unit's left open).
fn depth(conn: &mut AsyncSqliteConnection) -> Option<u32> {
    match Manager::transaction_manager_status_mut(conn).transaction_depth() {
        Ok(d) => d.map(|d| d.get()),
        Err(_) => Some(u32::MAX),
    }
}

impl WriteTurn {
    /// For the holder of the turn starting a unit: the units' connection
    /// with a group open on it (the one already open, joined, or a new
    /// one). `None` when there is no units' connection (it could not be
    /// opened) or the new group's `BEGIN` failed: the unit then runs alone,
    /// on its pooled connection, as a transaction of its own.
    pub(crate) fn join(&self, held: &TurnHeld) -> Option<(AsyncSqliteConnection, Arc<Group>)> {
        let mut conn = self.take_unit_conn(held)?;
        let open = self.group.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(group) = open {
            if depth(&mut conn) == Some(1) {
                group.units.fetch_add(1, Ordering::Relaxed);
                return Some((conn, group));
            }
            // The group's connection is not this one (a unit panicked with
            // it, and it was closed): that group's writes are gone.
            self.end(
                &group,
                Err("the group's connection was closed before its commit".into()),
            );
        }
        // IMMEDIATE, as every SQLite transaction (see `DbConn::begin`): the
        // group holds SQLite's write lock from its start. The turn is held:
        // nobody else opens a group meanwhile.
        let begun = in_place(|| run_here(crate::db::tx::begin_sqlite(&mut conn)));
        if let Err(e) = begun {
            tracing::warn!(error = %e, "could not begin a group of units: this unit runs alone");
            self.put_unit_conn(conn);
            return None;
        }
        let group = Arc::new(Group::new());
        *self.group.lock().unwrap_or_else(|p| p.into_inner()) = Some(group.clone());
        Some((conn, group))
    }

    /// For the holder of the turn, after a unit's body ran on `conn` in
    /// `group` (`body_ok`: it returned `Ok`): commits the group now, or
    /// leaves it open for the units waiting for the turn and waits for its
    /// commit. Either way, the outcome of the commit this unit's writes
    /// were part of.
    pub(crate) async fn leave(
        self: &Arc<Self>,
        held: TurnHeld,
        mut conn: AsyncSqliteConnection,
        group: Arc<Group>,
        body_ok: bool,
    ) -> Result<(), StoreError> {
        if depth(&mut conn) != Some(1) {
            // The body left a transaction of its own open (or ended the
            // group's): what the group wrote cannot be committed as its
            // units expect. Closing the connection rolls all of it back.
            tracing::error!(
                "an in-place unit left a transaction open: its group is rolled back and its connection closed"
            );
            drop(conn);
            self.end(
                &group,
                Err("a unit of the group left a transaction open".into()),
            );
            drop(held);
            return Err(StoreError::Unavailable(
                "a unit left a transaction open: rolled back".into(),
            ));
        }
        if body_ok && !group.full() && self.units_waiting.load(Ordering::SeqCst) > 0 {
            self.park_unit_conn(conn);
            drop(held);
            return group.committed().await;
        }
        let committed = self.commit(&mut conn, &group);
        self.put_unit_conn(conn);
        drop(held);
        committed
    }

    /// For the holder of the turn: commits the open group, if any (before
    /// anything but a unit uses the turn).
    pub(crate) fn settle(&self, _held: &TurnHeld) {
        let Some(group) = self.group.lock().unwrap_or_else(|p| p.into_inner()).clone() else {
            return;
        };
        let parked = self
            .unit_conn
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        match parked {
            Some(mut conn) => {
                // Its units learn the outcome; nothing to tell here.
                let _ = self.commit(&mut conn, &group);
                self.put_unit_conn(conn);
            }
            None => self.end(&group, Err("the group's connection was lost".into())),
        }
    }

    /// Commits `group` on `conn` (rolled back whole when the commit
    /// fails), and tells its units.
    fn commit(&self, conn: &mut AsyncSqliteConnection, group: &Group) -> Result<(), StoreError> {
        let committed = in_place(|| {
            run_here(async {
                match Manager::commit_transaction(conn).await {
                    Ok(()) => Ok(()),
                    Err(e) => {
                        if depth(conn).is_some() {
                            let _ = Manager::rollback_transaction(conn).await;
                        }
                        Err(StoreError::Query(e))
                    }
                }
            })
        });
        self.commits.fetch_add(1, Ordering::Relaxed);
        metrics::histogram!("clavis_db_group_commit_units")
            .record(group.units.load(Ordering::Relaxed) as f64);
        self.end(
            group,
            committed.as_ref().map(|_| ()).map_err(|e| e.to_string()),
        );
        committed
    }

    /// Closes `group` with `outcome` and wakes its units.
    fn end(&self, group: &Group, outcome: Result<(), String>) {
        {
            let mut slot = self.group.lock().unwrap_or_else(|p| p.into_inner());
            if slot.as_deref().is_some_and(|g| std::ptr::eq(g, group)) {
                *slot = None;
            }
        }
        if let Err(e) = &outcome {
            tracing::error!(error = %e, "a group commit failed: none of its units' writes is kept");
        }
        group.outcome.send_replace(Some(outcome));
    }

    /// A unit's body panicked: its group ends in failure (the unit closed
    /// the units' connection first, which rolled all of it back).
    pub(crate) fn abandon(&self, group: &Group) {
        self.end(group, Err("a unit of the group panicked".into()));
    }

    /// A unit waiting for the turn gave up: if it was the last and a group
    /// is open, nobody is left to join and commit it. A task takes the
    /// turn, which commits the group.
    pub(crate) fn waiter_gone(self: &Arc<Self>) {
        let open = self
            .group
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some();
        if open
            && self.units_waiting.load(Ordering::SeqCst) == 0
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            let turn = self.clone();
            rt.spawn(async move {
                drop(turn.take().await);
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::db::test_support::{exec, server_db};
    use crate::{Db, DbConn, StoreError};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    async fn rows(db: &Db, sql: &str) -> i64 {
        use diesel::{QueryableByName, sql_query};
        use diesel_async::RunQueryDsl;
        #[derive(QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let mut conn = db.conn().await.expect("conn");
        let n: N =
            crate::with_conn!(&mut conn, c => sql_query(sql).get_result(c).await).expect("count");
        n.n
    }

    /// Units running at once on two threads: every unit that returned `Ok`
    /// has its row, every one that failed has none (its savepoint rolled
    /// back while the others of its group kept theirs), and units did
    /// share commits (fewer groups than units).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn units_share_commits_and_each_keeps_exactly_its_own_writes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = server_db(
            dir.path(),
            "g.db",
            8,
            "CREATE TABLE t (task INTEGER NOT NULL, n INTEGER NOT NULL, part TEXT NOT NULL)",
        )
        .await;
        let ok = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for task in 0..8 {
            let (db, ok) = (db.clone(), ok.clone());
            tasks.push(tokio::spawn(async move {
                for n in 0..150 {
                    let mut conn = db.conn().await.expect("conn");
                    let fails = (task + n) % 5 == 0;
                    let r = conn
                        .unit(async |tx: &mut DbConn| {
                            exec(tx, &format!("INSERT INTO t VALUES ({task}, {n}, 'a')")).await?;
                            exec(tx, &format!("INSERT INTO t VALUES ({task}, {n}, 'b')")).await?;
                            if fails {
                                return Err(StoreError::Unavailable("refused on purpose".into()));
                            }
                            Ok(())
                        })
                        .await;
                    assert_eq!(r.is_err(), fails, "task {task} unit {n}: {r:?}");
                    if r.is_ok() {
                        ok.fetch_add(1, Ordering::SeqCst);
                    }
                }
            }));
        }
        for t in tasks {
            t.await.expect("task");
        }
        let kept = rows(&db, "SELECT count(*) AS n FROM t").await;
        assert_eq!(kept as usize, 2 * ok.load(Ordering::SeqCst));
        let refused_kept = rows(&db, "SELECT count(*) AS n FROM t WHERE (task + n) % 5 = 0").await;
        assert_eq!(refused_kept, 0, "a failed unit's writes are gone");
        let halves = rows(
            &db,
            "SELECT count(*) AS n FROM (SELECT task, n FROM t GROUP BY task, n HAVING count(*) <> 2)",
        )
        .await;
        assert_eq!(halves, 0, "no unit kept half of its writes");
        let DbConn::Sqlite(s) = db.conn().await.expect("conn") else {
            unreachable!("a SQLite database")
        };
        let commits = s.turn.commits.load(Ordering::SeqCst);
        assert!(
            commits > 0 && commits < 8 * 150,
            "units shared commits: {commits} commits for 1200 units"
        );
    }

    /// A unit whose body panics loses its writes, and the next unit runs
    /// in a group of its own and is told the truth (its write is kept).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_unit_that_panics_loses_its_writes_and_the_next_one_is_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = server_db(
            dir.path(),
            "p.db",
            4,
            "CREATE TABLE t (task INTEGER NOT NULL, n INTEGER NOT NULL, part TEXT NOT NULL)",
        )
        .await;
        let panicking = db.clone();
        let panicked = tokio::spawn(async move {
            let mut conn = panicking.conn().await.expect("conn");
            conn.unit(async |tx: &mut DbConn| {
                exec(tx, "INSERT INTO t VALUES (1, 1, 'lost')").await?;
                if tx.in_transaction() {
                    panic!("a bug inside a unit");
                }
                Ok::<(), StoreError>(())
            })
            .await
        })
        .await;
        assert!(panicked.is_err(), "the unit panicked");
        let mut conn = db.conn().await.expect("conn");
        conn.unit(async |tx: &mut DbConn| exec(tx, "INSERT INTO t VALUES (2, 2, 'kept')").await)
            .await
            .expect("the next unit is told its write is kept");
        drop(conn);
        assert_eq!(
            rows(&db, "SELECT count(*) AS n FROM t WHERE part = 'kept'").await,
            1
        );
        assert_eq!(
            rows(&db, "SELECT count(*) AS n FROM t WHERE part = 'lost'").await,
            0
        );
    }

    /// A commit that fails fails every unit of its group, and keeps
    /// nothing of any of them: a deferred foreign key broken by one unit
    /// is only found at the commit, which several units share.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_group_commit_fails_every_unit_of_the_group() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = server_db(
            dir.path(),
            "f.db",
            8,
            "CREATE TABLE p (id INTEGER PRIMARY KEY); \
             CREATE TABLE c (task INTEGER NOT NULL, n INTEGER NOT NULL, \
               p INTEGER REFERENCES p(id) DEFERRABLE INITIALLY DEFERRED)",
        )
        .await;
        let ok = Arc::new(AtomicUsize::new(0));
        let failed = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for task in 0..8 {
            let (db, ok, failed) = (db.clone(), ok.clone(), failed.clone());
            tasks.push(tokio::spawn(async move {
                for n in 0..100 {
                    let mut conn = db.conn().await.expect("conn");
                    // One unit in 25 points at a parent that never exists.
                    let parent = if (task * 100 + n) % 25 == 0 {
                        "999999"
                    } else {
                        "NULL"
                    };
                    let r = conn
                        .unit(async |tx: &mut DbConn| {
                            exec(tx, &format!("INSERT INTO c VALUES ({task}, {n}, {parent})")).await
                        })
                        .await;
                    match r {
                        Ok(()) => ok.fetch_add(1, Ordering::SeqCst),
                        Err(_) => failed.fetch_add(1, Ordering::SeqCst),
                    };
                }
            }));
        }
        for t in tasks {
            t.await.expect("task");
        }
        let kept = rows(&db, "SELECT count(*) AS n FROM c").await;
        assert_eq!(
            kept as usize,
            ok.load(Ordering::SeqCst),
            "exactly the units told Ok"
        );
        let broken = rows(&db, "SELECT count(*) AS n FROM c WHERE p IS NOT NULL").await;
        assert_eq!(broken, 0);
        assert!(
            failed.load(Ordering::SeqCst) >= 32,
            "each breaking unit fails"
        );
    }
}
