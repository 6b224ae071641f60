//! The write turn: SQLite has one writer at a time, and this process's
//! transactions take turns at it instead of colliding in SQLite's busy
//! handler (which sleeps whole milliseconds).

use super::group::Group;
use super::{AsyncSqliteConnection, open_sqlite};
use diesel_async::{AsyncConnection, TransactionManager};
use std::fmt;

/// How long a write transaction waits for its turn before giving up (as
/// SQLite's own busy timeout).
pub(crate) const WRITE_TURN_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The right to write to one SQLite database, taken in turns by the
/// transactions of this process.
///
/// Not a fair (first come, first served) lock on purpose: with a fair lock,
/// a released turn is handed to the longest waiter even when that waiter's
/// thread is busy elsewhere (signing an ID token, say), and every other
/// writer then waits for a turn nobody uses. Here a released turn is free:
/// whoever runs first takes it, and one waiter is woken to try again.
///
/// The turn also keeps the connection in-place units run on
/// ([`DbConn::atomically`]): one connection for all of them, so its page
/// cache stays warm. In WAL mode a connection drops its whole page cache
/// whenever another connection wrote; units spread over the pool's
/// connections read every page again from the WAL (tens of reads per
/// OpenID flow), while the connection that wrote last keeps its cache.
#[derive(Default)]
pub struct WriteTurn {
    taken: std::sync::atomic::AtomicBool,
    released: tokio::sync::Notify,
    /// How to open the units' connection; `None`: units run on the
    /// caller's pooled connection.
    unit_spec: Option<UnitSpec>,
    /// The units' connection, while nobody is using it (with the open
    /// group's transaction on it, if there is one).
    pub(crate) unit_conn: std::sync::Mutex<Option<AsyncSqliteConnection>>,
    /// Units waiting for the turn (who would join an open group).
    pub(crate) units_waiting: std::sync::atomic::AtomicUsize,
    /// The group of units whose transaction is open, if any (see
    /// [`super::group`]).
    pub(crate) group: std::sync::Mutex<Option<std::sync::Arc<Group>>>,
    /// Group commits done (for the tests).
    pub(crate) commits: std::sync::atomic::AtomicUsize,
}

/// How the units' connection is opened (as the pool's).
#[derive(Debug, Clone)]
struct UnitSpec {
    path: String,
    auto_checkpoint: bool,
}

impl fmt::Debug for WriteTurn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteTurn")
            .field("taken", &self.taken)
            .finish_non_exhaustive()
    }
}

impl WriteTurn {
    pub(crate) fn for_database(path: &str, auto_checkpoint: bool) -> Self {
        WriteTurn {
            unit_spec: Some(UnitSpec {
                path: path.to_string(),
                auto_checkpoint,
            }),
            ..WriteTurn::default()
        }
    }

    /// The units' connection, opened if there is none yet (or the last one
    /// was dropped). For the holder of the turn only.
    pub(crate) fn take_unit_conn(&self, _held: &TurnHeld) -> Option<AsyncSqliteConnection> {
        let spec = self.unit_spec.as_ref()?;
        let kept = self
            .unit_conn
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if kept.is_some() {
            return kept;
        }
        match open_sqlite(&spec.path, spec.auto_checkpoint) {
            Ok(c) => Some(AsyncSqliteConnection::new(c)),
            Err(e) => {
                tracing::warn!(error = %e, "could not open the in-place units' connection: using a pooled one");
                None
            }
        }
    }

    /// Keeps the units' connection with its group's transaction open, for
    /// the next unit (see [`super::group`]).
    pub(crate) fn park_unit_conn(&self, conn: AsyncSqliteConnection) {
        *self.unit_conn.lock().unwrap_or_else(|p| p.into_inner()) = Some(conn);
    }

    /// Gives the units' connection back, unless a transaction was left open
    /// on it (a unit that panicked): that connection is closed, which rolls
    /// the transaction back, and the next unit opens a new one.
    pub(crate) fn put_unit_conn(&self, mut conn: AsyncSqliteConnection) {
        let status =
            <<AsyncSqliteConnection as AsyncConnection>::TransactionManager as TransactionManager<
                AsyncSqliteConnection,
            >>::transaction_manager_status_mut(&mut conn)
            .transaction_depth();
        if matches!(status, Ok(None)) {
            *self.unit_conn.lock().unwrap_or_else(|p| p.into_inner()) = Some(conn);
        } else {
            tracing::error!("an in-place unit left a transaction open: its connection is closed");
        }
    }

    pub(crate) fn try_take(self: &std::sync::Arc<Self>) -> Option<TurnHeld> {
        use std::sync::atomic::Ordering;
        self.taken
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
            .then(|| TurnHeld(self.clone()))
    }

    /// Waits for the turn without blocking the thread, for anything but an
    /// in-place unit (a transaction on a pooled connection, a checkpoint):
    /// a group of units left open is committed first (SQLite's write lock
    /// is the group's until then). A wait (the turn was taken) is measured
    /// for the metrics (`clavis_db_write_wait_seconds`); a free turn costs
    /// nothing more.
    pub(crate) async fn take(self: &std::sync::Arc<Self>) -> TurnHeld {
        let held = self.take_waiting(false).await;
        self.settle(&held);
        held
    }

    /// [`WriteTurn::take`] for an in-place unit, which joins the open group
    /// if there is one: while it waits, a unit ending leaves the group open
    /// for it.
    pub(crate) async fn take_for_unit(self: &std::sync::Arc<Self>) -> TurnHeld {
        self.take_waiting(true).await
    }

    async fn take_waiting(self: &std::sync::Arc<Self>, unit: bool) -> TurnHeld {
        if let Some(held) = self.try_take() {
            return held;
        }
        let waiting_since = std::time::Instant::now();
        let counted = unit.then(|| UnitWaiting::new(self));
        let held = self.wait_for_turn().await;
        if let Some(mut counted) = counted {
            counted.joined();
        }
        metrics::histogram!("clavis_db_write_wait_seconds")
            .record(waiting_since.elapsed().as_secs_f64());
        held
    }

    async fn wait_for_turn(self: &std::sync::Arc<Self>) -> TurnHeld {
        loop {
            if let Some(held) = self.try_take() {
                return held;
            }
            let released = self.released.notified();
            tokio::pin!(released);
            // Registered before trying again: a release between the try
            // and the wait is not missed.
            released.as_mut().enable();
            if let Some(held) = self.try_take() {
                return held;
            }
            released.await;
        }
    }
}

/// A unit counted among those waiting for the turn, until it has the turn
/// or gives up; giving up may leave an open group with nobody to commit it
/// ([`WriteTurn::waiter_gone`]).
struct UnitWaiting {
    turn: std::sync::Arc<WriteTurn>,
    waiting: bool,
}

impl UnitWaiting {
    fn new(turn: &std::sync::Arc<WriteTurn>) -> Self {
        turn.units_waiting
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        UnitWaiting {
            turn: turn.clone(),
            waiting: true,
        }
    }

    fn joined(&mut self) {
        self.turn
            .units_waiting
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        self.waiting = false;
    }
}

impl Drop for UnitWaiting {
    fn drop(&mut self) {
        if self.waiting {
            self.turn
                .units_waiting
                .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            self.turn.waiter_gone();
        }
    }
}

/// A write turn being held; dropping it gives the turn back.
#[derive(Debug)]
pub struct TurnHeld(std::sync::Arc<WriteTurn>);

impl Drop for TurnHeld {
    fn drop(&mut self) {
        self.0
            .taken
            .store(false, std::sync::atomic::Ordering::Release);
        self.0.released.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The turn is exclusive, nobody waits forever (a waiter that gave up
    /// after being woken does not swallow the wake-up of the others), and a
    /// free turn is taken at once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn write_turns_are_exclusive_and_never_lost() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        let turn = Arc::new(WriteTurn::default());
        let inside = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for i in 0..16 {
            let (turn, inside, done) = (turn.clone(), inside.clone(), done.clone());
            tasks.push(tokio::spawn(async move {
                for j in 0..200 {
                    if (i + j) % 7 == 0 {
                        // Some waiters give up (as a timed-out begin does).
                        let _ =
                            tokio::time::timeout(std::time::Duration::from_micros(50), turn.take())
                                .await;
                        continue;
                    }
                    let held = turn.take().await;
                    assert!(!inside.swap(true, Ordering::SeqCst), "two holders at once");
                    tokio::task::yield_now().await;
                    inside.store(false, Ordering::SeqCst);
                    drop(held);
                    done.fetch_add(1, Ordering::SeqCst);
                }
            }));
        }
        let all = futures_util::future::join_all(tasks);
        let results = tokio::time::timeout(std::time::Duration::from_secs(60), all)
            .await
            .expect("a waiter was never woken");
        assert!(results.iter().all(Result::is_ok));
        let expected = (0..16)
            .flat_map(|i| (0..200).map(move |j| (i + j) % 7 != 0))
            .filter(|x| *x)
            .count();
        assert_eq!(done.load(Ordering::SeqCst), expected);
        let held = turn.try_take().expect("a free turn is taken at once");
        assert!(turn.try_take().is_none(), "a held turn is not taken twice");
        drop(held);
        assert!(turn.try_take().is_some());
    }
}
