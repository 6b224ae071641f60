//! Connection pools and the backend switch.

use diesel::SqliteConnection;
use diesel_async::pooled_connection::deadpool::{Object, Pool, PoolError};
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig};
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection, TransactionManager};
use futures_util::FutureExt;
use std::fmt;

/// SQLite through diesel-async's sync-connection wrapper, each statement
/// offloaded to tokio's blocking pool (or run in place inside
/// [`DbConn::atomically`]).
pub type AsyncSqliteConnection = SyncConnectionWrapper<SqliteConnection, Offload>;

thread_local! {
    /// Set while [`DbConn::atomically`] runs a body on this thread: SQLite
    /// statements then run in place instead of hopping to the blocking pool.
    static RUN_IN_PLACE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Where a SQLite statement runs: on tokio's blocking pool (one hand-off
/// there and back per statement), or in place on the current thread when
/// that thread has already left the async workers (see
/// [`DbConn::atomically`]).
#[derive(Debug)]
pub struct Offload(tokio::runtime::Handle);

impl diesel_async::sync_connection_wrapper::SpawnBlocking for Offload {
    fn spawn_blocking<'a, R>(
        &mut self,
        task: impl FnOnce() -> R + Send + 'static,
    ) -> futures_util::future::BoxFuture<
        'a,
        Result<R, Box<dyn std::error::Error + Send + Sync + 'static>>,
    >
    where
        R: Send + 'static,
    {
        if RUN_IN_PLACE.get() {
            return futures_util::future::ready(Ok(task())).boxed();
        }
        let task = Offloaded(Some(self.0.spawn_blocking(task)));
        task.boxed()
    }

    fn get_runtime() -> Self {
        Offload(tokio::runtime::Handle::current())
    }
}

/// A statement running on the blocking pool. Dropped before it ends (the
/// caller was cancelled), it waits for the statement, so the connection
/// goes back to the pool idle rather than mid-statement.
struct Offloaded<R>(Option<tokio::task::JoinHandle<R>>);

impl<R> std::future::Future for Offloaded<R> {
    type Output = Result<R, Box<dyn std::error::Error + Send + Sync + 'static>>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let Some(handle) = self.0.as_mut() else {
            return std::task::Poll::Ready(Err("statement already finished".into()));
        };
        match std::pin::Pin::new(handle).poll(cx) {
            std::task::Poll::Ready(r) => {
                self.0 = None;
                std::task::Poll::Ready(r.map_err(Box::from))
            }
            std::task::Poll::Pending => std::task::Poll::Pending,
        }
    }
}

impl<R> Drop for Offloaded<R> {
    fn drop(&mut self) {
        if let Some(handle) = self.0.take()
            && !handle.is_finished()
            && let Ok(rt) = tokio::runtime::Handle::try_current()
            && rt.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread
        {
            tokio::task::block_in_place(|| {
                let _ = rt.block_on(handle);
            });
        }
    }
}

/// Runs `fut` to completion on this thread. Used for a body whose every
/// statement runs in place (so it is ready at once); anything it still
/// waits for (a statement on another thread) wakes this thread.
fn run_here<F: std::future::Future>(fut: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::task::Waker::from(std::sync::Arc::new(Unpark(std::thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        if let std::task::Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park_timeout(std::time::Duration::from_millis(1));
    }
}

/// How long a write transaction waits for its turn before giving up (as
/// SQLite's own busy timeout).
const WRITE_TURN_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

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
    /// The units' connection, while nobody is using it.
    unit_conn: std::sync::Mutex<Option<AsyncSqliteConnection>>,
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

/// Opens a SQLite connection set up as the pool's are.
fn open_sqlite(path: &str, auto_checkpoint: bool) -> Result<SqliteConnection, StoreError> {
    use diesel::Connection;
    use diesel::connection::SimpleConnection;
    let mut c =
        SqliteConnection::establish(path).map_err(|e| StoreError::Unavailable(e.to_string()))?;
    c.batch_execute(SQLITE_SETUP)?;
    if !auto_checkpoint {
        c.batch_execute("PRAGMA wal_autocheckpoint = 0;")?;
    }
    Ok(c)
}

impl WriteTurn {
    fn for_database(path: &str, auto_checkpoint: bool) -> Self {
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
    fn take_unit_conn(&self, _held: &TurnHeld) -> Option<AsyncSqliteConnection> {
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

    /// Gives the units' connection back, unless a transaction was left open
    /// on it (a unit that panicked): that connection is closed, which rolls
    /// the transaction back, and the next unit opens a new one.
    fn put_unit_conn(&self, mut conn: AsyncSqliteConnection) {
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

    fn try_take(self: &std::sync::Arc<Self>) -> Option<TurnHeld> {
        use std::sync::atomic::Ordering;
        self.taken
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
            .then(|| TurnHeld(self.clone()))
    }

    /// Waits for the turn without blocking the thread.
    async fn take(self: &std::sync::Arc<Self>) -> TurnHeld {
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

/// A pooled SQLite connection, and its turn at writing.
///
/// SQLite has one writer at a time. Rather than let transactions of this
/// process collide in SQLite (whose busy handler sleeps whole milliseconds
/// and, on a deferred transaction, can fail outright), they take turns
/// ([`WriteTurn`]): [`DbConn::begin`] waits for the turn without blocking a
/// thread, and holds it until the transaction ends. Other processes (the
/// CLI) still meet SQLite's busy timeout.
pub struct SqliteConn {
    conn: Object<AsyncSqliteConnection>,
    turn: std::sync::Arc<WriteTurn>,
    held: Option<TurnHeld>,
    depth: u32,
    /// The turn's own connection, used instead of `conn` while an in-place
    /// unit runs (see [`WriteTurn`]).
    unit: Option<AsyncSqliteConnection>,
}

impl SqliteConn {
    /// The connection statements run on.
    pub fn conn(&mut self) -> &mut AsyncSqliteConnection {
        match &mut self.unit {
            Some(c) => c,
            None => &mut self.conn,
        }
    }
}

/// Marks the current thread as running statements in place, until dropped.
struct InPlace;

impl InPlace {
    fn enter() -> Self {
        RUN_IN_PLACE.set(true);
        InPlace
    }
}

impl Drop for InPlace {
    fn drop(&mut self) {
        RUN_IN_PLACE.set(false);
    }
}

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A query failed.
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    /// No connection could be had from the pool.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The database URL is not one Clavis understands (only its scheme is
    /// kept: the rest may hold a password).
    #[error(
        "unsupported database url scheme {0:?}: expected postgres://…, sqlite://PATH or a file path"
    )]
    BadUrl(String),
    /// A migration failed.
    #[error("database migration failed: {0}")]
    Migration(String),
    /// A stored value could not be read back (corrupt row).
    #[error("stored {what} is invalid: {detail}")]
    Corrupt {
        /// What was being read.
        what: &'static str,
        /// Why it is invalid.
        detail: String,
    },
}

impl From<PoolError> for StoreError {
    fn from(e: PoolError) -> Self {
        StoreError::Unavailable(e.to_string())
    }
}

/// Which database engine a pool talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite file.
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

/// A connection pool for the configured backend. Cheap to clone.
#[derive(Clone)]
pub enum Db {
    /// SQLite pool, and the connections for inline reads.
    Sqlite(
        Pool<AsyncSqliteConnection>,
        String,
        std::sync::Arc<InlineReaders>,
        std::sync::Arc<WriteTurn>,
    ),
    /// PostgreSQL pool.
    Pg(Pool<AsyncPgConnection>, String),
}

impl fmt::Debug for Db {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may hold a password: show the backend only.
        write!(f, "Db({:?})", self.backend())
    }
}

/// How a URL names a database.
enum Target {
    Sqlite(String),
    Postgres(String),
}

fn parse_url(url: &str) -> Result<Target, StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Target::Postgres(url.to_string()))
    } else if let Some(path) = url.strip_prefix("sqlite://") {
        Ok(Target::Sqlite(path.to_string()))
    } else if let Some((scheme, _)) = url.split_once("://") {
        Err(StoreError::BadUrl(format!("{scheme}://")))
    } else if url.is_empty() {
        Err(StoreError::BadUrl(String::new()))
    } else {
        Ok(Target::Sqlite(url.to_string()))
    }
}

/// Settings applied to every SQLite connection: WAL so readers never wait
/// for the sync writer, a busy timeout instead of immediate "database is
/// locked", foreign keys on, a 32 MiB page cache (the default 2 MiB
/// makes index updates on 100k identities read pages again and again), and
/// a WAL file cut back to 2 GiB when it starts over (after a large sync;
/// above what steady load makes it reach, so a busy server never pays for
/// cutting and growing it again).
const SQLITE_SETUP: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
     PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; PRAGMA cache_size = -32768; \
     PRAGMA temp_store = MEMORY; PRAGMA journal_size_limit = 2147483648;";

/// What a WAL checkpoint did (SQLite's `wal_checkpoint` answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpointed {
    /// Frames in the WAL.
    pub wal_frames: i64,
    /// Of which copied back into the database file.
    pub copied: i64,
}

fn wal_checkpoint_passive(c: &mut SqliteConnection) -> Result<Checkpointed, StoreError> {
    use diesel::{QueryableByName, RunQueryDsl, sql_query};
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        log: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        checkpointed: i64,
    }
    let r: Row = sql_query("PRAGMA wal_checkpoint(PASSIVE)").get_result(c)?;
    Ok(Checkpointed {
        wal_frames: r.log,
        copied: r.checkpointed,
    })
}

impl Db {
    /// Opens a pool of at most `max_size` connections on `url`
    /// (`postgres://…`, `sqlite://PATH` or a plain file path for SQLite).
    /// Does not connect yet: see [`Db::check`].
    pub fn open(url: &str, max_size: usize) -> Result<Self, StoreError> {
        Self::open_with(url, max_size, true)
    }

    /// [`Db::open`] for a long-running server: on SQLite, commits never
    /// checkpoint the WAL themselves (a checkpoint's fsync inside a write
    /// would stall every transaction waiting for its turn); the server
    /// calls [`Db::checkpoint`] periodically instead.
    pub fn open_for_server(url: &str, max_size: usize) -> Result<Self, StoreError> {
        Self::open_with(url, max_size, false)
    }

    fn open_with(url: &str, max_size: usize, auto_checkpoint: bool) -> Result<Self, StoreError> {
        match parse_url(url)? {
            Target::Sqlite(path) => {
                let mut config = ManagerConfig::<AsyncSqliteConnection>::default();
                // A local file does not go stale like a network connection:
                // skip the ping query on every checkout.
                config.recycling_method = diesel_async::pooled_connection::RecyclingMethod::Fast;
                config.custom_setup = Box::new(move |url| {
                    let url = url.to_string();
                    async move {
                        let conn =
                            tokio::task::spawn_blocking(move || open_sqlite(&url, auto_checkpoint))
                                .await
                                .map_err(|e| diesel::ConnectionError::BadConnection(e.to_string()))?
                                .map_err(|e| {
                                    diesel::ConnectionError::BadConnection(e.to_string())
                                })?;
                        Ok(AsyncSqliteConnection::new(conn))
                    }
                    .boxed()
                });
                let manager = AsyncDieselConnectionManager::new_with_config(path.clone(), config);
                // Last in, first out: the connection used last is taken
                // again. In WAL mode a connection drops its whole page cache
                // when another one wrote since its last transaction; handing
                // out the hot connection first keeps its cache (and the
                // writer's) warm instead of cycling through every one.
                let pool = Pool::builder(manager)
                    .max_size(max_size.max(1))
                    .queue_mode(deadpool::managed::QueueMode::Lifo)
                    .build()
                    .map_err(|e| StoreError::Unavailable(e.to_string()))?;
                let inline = std::sync::Arc::new(InlineReaders {
                    path: path.clone(),
                    idle: std::sync::Mutex::new(Vec::new()),
                });
                let turn = WriteTurn::for_database(&path, auto_checkpoint);
                Ok(Db::Sqlite(pool, path, inline, std::sync::Arc::new(turn)))
            }
            Target::Postgres(url) => {
                let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new(url.clone());
                let pool = Pool::builder(manager)
                    .max_size(max_size.max(1))
                    .build()
                    .map_err(|e| StoreError::Unavailable(e.to_string()))?;
                Ok(Db::Pg(pool, url))
            }
        }
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        match self {
            Db::Sqlite(..) => Backend::Sqlite,
            Db::Pg(..) => Backend::Postgres,
        }
    }

    /// The URL (or SQLite path) this pool connects to. May hold a password:
    /// never log it.
    pub fn url(&self) -> &str {
        match self {
            Db::Sqlite(_, u, _, _) | Db::Pg(_, u) => u,
        }
    }

    /// Takes a connection from the pool.
    pub async fn conn(&self) -> Result<DbConn, StoreError> {
        Ok(match self {
            Db::Sqlite(p, _, _, turn) => DbConn::Sqlite(Box::new(SqliteConn {
                conn: p.get().await?,
                turn: turn.clone(),
                held: None,
                depth: 0,
                unit: None,
            })),
            Db::Pg(p, _) => DbConn::Pg(p.get().await?),
        })
    }

    /// Copies committed pages from the WAL back into the SQLite file
    /// without blocking writers or readers (`PASSIVE`, on a connection of
    /// its own); nothing to do on PostgreSQL (`None`).
    ///
    /// SQLite starts the WAL over only when a writer finds every frame
    /// already copied back. Under light load that happens by itself; under
    /// steady heavy load some frames are always newer than the last
    /// checkpoint, and the WAL would grow for as long as the load lasts (a
    /// gigabyte in ten seconds of OpenID flows). So when the WAL holds
    /// `restart_above` frames or more once the bulk is copied, the few
    /// frames written meanwhile are copied while holding the write turn: no
    /// writer of this process adds frames in between, the WAL is left fully
    /// copied back, and the next write starts it over. Writers wait for that
    /// pass (milliseconds: it syncs the WAL and the database file).
    pub async fn checkpoint(&self, restart_above: i64) -> Result<Option<Checkpointed>, StoreError> {
        let Db::Sqlite(_, path, _, turn) = self else {
            return Ok(None);
        };
        let path = path.clone();
        let pass = move |conn: Option<SqliteConnection>| {
            let mut c = match conn {
                Some(c) => c,
                None => {
                    use diesel::Connection;
                    use diesel::connection::SimpleConnection;
                    let mut c = SqliteConnection::establish(&path)
                        .map_err(|e| StoreError::Unavailable(e.to_string()))?;
                    c.batch_execute("PRAGMA busy_timeout = 1000;")?;
                    c
                }
            };
            let r = wal_checkpoint_passive(&mut c)?;
            Ok::<_, StoreError>((c, r))
        };
        let blocking = |e: tokio::task::JoinError| StoreError::Unavailable(e.to_string());
        let (mut conn, mut last) = tokio::task::spawn_blocking({
            let pass = pass.clone();
            move || pass(None)
        })
        .await
        .map_err(blocking)??;
        if last.wal_frames < restart_above {
            return Ok(Some(last));
        }
        // Again while writers added many frames during the last pass: what
        // is left for the turn's pass must be short.
        for _ in 0..4 {
            let before = last.wal_frames;
            let pass = pass.clone();
            (conn, last) = tokio::task::spawn_blocking(move || pass(Some(conn)))
                .await
                .map_err(blocking)??;
            if last.wal_frames < before + 256 {
                break;
            }
        }
        let held = turn.take().await;
        let (_, last) = tokio::task::spawn_blocking(move || pass(Some(conn)))
            .await
            .map_err(blocking)??;
        drop(held);
        tracing::debug!(
            wal_frames = last.wal_frames,
            "WAL copied back under the write turn: the next write starts it over"
        );
        Ok(Some(last))
    }

    /// The inline readers, on SQLite.
    pub fn inline(&self) -> Option<&InlineReaders> {
        match self {
            Db::Sqlite(_, _, i, _) => Some(i),
            Db::Pg(..) => None,
        }
    }

    /// Connects and runs a trivial query: is the database reachable?
    pub async fn check(&self) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        crate::with_conn!(&mut conn, c => c.batch_execute("SELECT 1").await)?;
        Ok(())
    }
}

/// Read-only SQLite connections used inline, on the calling thread.
///
/// A SQLite query takes microseconds, but diesel-async runs each one on the
/// blocking pool, and the two thread hand-offs cost several times the query.
/// For the per-request hot path (the session check), a small indexed read
/// runs here directly instead. They are `query_only`, autocommit (no
/// snapshot kept), and wait at most 1 s for a lock.
pub struct InlineReaders {
    path: String,
    idle: std::sync::Mutex<Vec<SqliteConnection>>,
}

impl fmt::Debug for InlineReaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InlineReaders")
    }
}

impl InlineReaders {
    /// Runs `read` on an idle inline connection (opened on demand).
    pub fn read<R>(
        &self,
        read: impl FnOnce(&mut SqliteConnection) -> diesel::QueryResult<R>,
    ) -> Result<R, StoreError> {
        use diesel::Connection;
        use diesel::connection::SimpleConnection;
        let pooled = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut conn = match pooled {
            Some(c) => c,
            None => {
                let mut c = SqliteConnection::establish(&self.path)
                    .map_err(|e| StoreError::Unavailable(e.to_string()))?;
                c.batch_execute("PRAGMA busy_timeout = 1000; PRAGMA query_only = ON; PRAGMA cache_size = -8192;")?;
                c
            }
        };
        let r = read(&mut conn);
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < 8 {
            idle.push(conn);
        }
        Ok(r?)
    }
}

/// One pooled connection, to either backend.
// One connection per task, taken once and borrowed after: boxing the larger
// variant would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum DbConn {
    /// SQLite connection (and its write turn).
    Sqlite(Box<SqliteConn>),
    /// PostgreSQL connection.
    Pg(Object<AsyncPgConnection>),
}

impl fmt::Debug for SqliteConn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SqliteConn")
    }
}

impl fmt::Debug for DbConn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbConn::Sqlite(_) => f.write_str("DbConn(Sqlite)"),
            DbConn::Pg(_) => f.write_str("DbConn(Postgres)"),
        }
    }
}

/// Runs the same query code against whichever backend `conn` is, binding the
/// concrete connection to `c`. The body is compiled once per backend, so a
/// query that one backend cannot run is a compile error, not a runtime one.
#[macro_export]
macro_rules! with_conn {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            $crate::DbConn::Sqlite(__sqlite) => {
                let $c: &mut $crate::db::AsyncSqliteConnection = __sqlite.conn();
                $body
            }
            $crate::DbConn::Pg($c) => {
                let $c: &mut ::diesel_async::AsyncPgConnection = &mut **$c;
                $body
            }
        }
    };
}

/// Runs one statement per element of `rows` (a `Vec`, moved in), built by
/// the same query expression for both backends. On SQLite the whole loop
/// runs in one trip to the blocking pool instead of one trip per row, which
/// is what makes large syncs fast; on PostgreSQL the statements are sent in
/// turn. Runs inside the caller's transaction on either backend.
#[macro_export]
macro_rules! execute_each {
    ($conn:expr, $rows:expr, |$row:ident| $query:expr) => {{
        let rows = $rows;
        if rows.is_empty() {
            Ok::<(), $crate::StoreError>(())
        } else {
            match $conn {
                $crate::DbConn::Sqlite(c) => {
                    let c: &mut $crate::db::AsyncSqliteConnection = c.conn();
                    c.spawn_blocking(move |inner| {
                        for $row in rows.iter() {
                            ::diesel::RunQueryDsl::execute($query, inner)?;
                        }
                        Ok(())
                    })
                    .await
                    .map_err($crate::StoreError::from)
                }
                $crate::DbConn::Pg(c) => {
                    let c: &mut ::diesel_async::AsyncPgConnection = &mut **c;
                    for $row in rows.iter() {
                        ::diesel_async::RunQueryDsl::execute($query, c).await?;
                    }
                    Ok(())
                }
            }
        }
    }};
}

async fn begin_on<C: AsyncConnection>(c: &mut C) -> diesel::QueryResult<()> {
    C::TransactionManager::begin_transaction(c).await
}

async fn commit_on<C: AsyncConnection>(c: &mut C) -> diesel::QueryResult<()> {
    C::TransactionManager::commit_transaction(c).await
}

async fn rollback_on<C: AsyncConnection>(c: &mut C) -> diesel::QueryResult<()> {
    C::TransactionManager::rollback_transaction(c).await
}

impl DbConn {
    /// The backend of this connection.
    pub fn backend(&self) -> Backend {
        match self {
            DbConn::Sqlite(_) => Backend::Sqlite,
            DbConn::Pg(_) => Backend::Postgres,
        }
    }

    /// Starts a transaction (or a savepoint inside one). On SQLite, first
    /// waits (at most 10 s) for this database's write turn, held until the
    /// transaction ends (see [`SqliteConn`]).
    pub async fn begin(&mut self) -> Result<(), StoreError> {
        if let DbConn::Sqlite(s) = self {
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
        let r = with_conn!(self, c => begin_on(c).await);
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
    pub async fn finish<T, E: From<StoreError>>(&mut self, result: Result<T, E>) -> Result<T, E> {
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
        self.begin().await?;
        let result = body(self).await;
        self.finish(result).await
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
    /// microseconds rather than a dozen thread hand-offs. Under a
    /// multi-threaded runtime the worker first hands its other tasks over
    /// (`block_in_place`); on a current-thread runtime (each actix worker)
    /// the body simply runs on the worker, as CPU work would. On
    /// PostgreSQL `body` just runs. `body` must use only this connection
    /// (never another from the pool). On SQLite the statements run on the
    /// write turn's own connection rather than the pooled one (see
    /// [`WriteTurn`]), unless this connection already has a transaction
    /// open.
    pub async fn atomically<R>(&mut self, body: impl AsyncFnOnce(&mut DbConn) -> R) -> R {
        let DbConn::Sqlite(s) = self else {
            return body(self).await;
        };
        if RUN_IN_PLACE.get() {
            // Nested: already in place, with the turn.
            return body(self).await;
        }
        // Inside an open transaction of this connection the turn is held
        // (and the transaction is on this connection: stay on it).
        let turn = match s.held {
            Some(_) => None,
            None => {
                let turn = s.turn.take().await;
                s.unit = s.turn.take_unit_conn(&turn);
                Some(turn)
            }
        };
        let multi = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        let r = if multi {
            tokio::task::block_in_place(|| {
                let _in_place = InPlace::enter();
                run_here(body(self))
            })
        } else {
            let _in_place = InPlace::enter();
            run_here(body(self))
        };
        if let DbConn::Sqlite(s) = self
            && let Some(unit) = s.unit.take()
        {
            s.turn.put_unit_conn(unit);
        }
        drop(turn);
        r
    }

    /// Rolls back the current transaction on purpose (dry runs).
    pub async fn rollback(&mut self) -> Result<(), StoreError> {
        let r = with_conn!(self, c => rollback_on(c).await);
        self.end_turn();
        r?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_choose_the_backend() {
        assert!(matches!(
            parse_url("postgres://u@h/db"),
            Ok(Target::Postgres(_))
        ));
        assert!(matches!(
            parse_url("postgresql://u@h/db"),
            Ok(Target::Postgres(_))
        ));
        assert!(matches!(parse_url("sqlite://./x.db"), Ok(Target::Sqlite(p)) if p == "./x.db"));
        assert!(matches!(
            parse_url("/var/lib/clavis/clavis.db"),
            Ok(Target::Sqlite(_))
        ));
        assert!(matches!(
            parse_url("mysql://h/db"),
            Err(StoreError::BadUrl(_))
        ));
        assert!(matches!(parse_url(""), Err(StoreError::BadUrl(_))));
    }

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

    async fn exec(conn: &mut DbConn, sql: &str) -> Result<(), StoreError> {
        crate::with_conn!(conn, c => c.batch_execute(sql).await)?;
        Ok(())
    }

    async fn count(conn: &mut DbConn) -> i64 {
        use diesel::{QueryableByName, sql_query};
        use diesel_async::RunQueryDsl;
        #[derive(QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let n: N = crate::with_conn!(conn, c => sql_query("SELECT count(*) AS n FROM t").get_result(c).await)
            .expect("count");
        n.n
    }

    /// A transaction keeps all of its writes when its body succeeds and
    /// none of them when it fails, in place or not, and an inner one that
    /// fails takes back only its own writes.
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
    }

    /// Under a writer that never pauses, a checkpoint asked to start the
    /// WAL over leaves it fully copied back, and the next writes start it
    /// over (without that pass the WAL grows for as long as writes go on).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_wal_starts_over_under_a_writer_that_never_pauses() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        let dir = tempfile::tempdir().expect("tempdir");
        let db =
            Db::open_for_server(dir.path().join("c.db").to_str().expect("utf-8"), 4).expect("open");
        exec(
            &mut db.conn().await.expect("conn"),
            "CREATE TABLE t (x TEXT NOT NULL)",
        )
        .await
        .expect("table");
        let stop = Arc::new(AtomicBool::new(false));
        let units = Arc::new(AtomicUsize::new(0));
        let writer = tokio::spawn({
            let (db, stop, units) = (db.clone(), stop.clone(), units.clone());
            async move {
                while !stop.load(Ordering::SeqCst) {
                    let mut conn = db.conn().await.expect("conn");
                    conn.atomically(async |c: &mut DbConn| {
                        c.begin().await?;
                        let r = exec(c, "INSERT INTO t VALUES (hex(randomblob(600)))").await;
                        c.finish(r).await
                    })
                    .await
                    .expect("unit");
                    units.fetch_add(1, Ordering::SeqCst);
                    tokio::task::yield_now().await;
                }
            }
        });
        let wait_units = async |n: usize| {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            let target = units.load(Ordering::SeqCst) + n;
            while units.load(Ordering::SeqCst) < target {
                assert!(std::time::Instant::now() < deadline, "the writer stalled");
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
        };
        for _ in 0..5 {
            wait_units(300).await;
            let forced = db.checkpoint(0).await.expect("checkpoint").expect("sqlite");
            assert!(forced.wal_frames >= 300, "{forced:?}");
            assert_eq!(forced.copied, forced.wal_frames, "left fully copied back");
            wait_units(3).await;
            // Copies nothing under the turn: only reports the WAL.
            let after = db
                .checkpoint(i64::MAX)
                .await
                .expect("checkpoint")
                .expect("sqlite");
            assert!(
                after.wal_frames < forced.wal_frames,
                "the WAL did not start over: {forced:?} then {after:?}"
            );
        }
        stop.store(true, Ordering::SeqCst);
        writer.await.expect("writer");
        let mut conn = db.conn().await.expect("conn");
        assert_eq!(
            count(&mut conn).await as usize,
            units.load(Ordering::SeqCst)
        );
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
        conn.atomically(async |c: &mut DbConn| {
            c.begin().await.expect("begin");
            exec(c, "INSERT INTO t VALUES ('left open')")
                .await
                .expect("insert");
        })
        .await;
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

    /// The bundled SQLite is built as `.cargo/config.toml` asks: without
    /// these options the server still works, only slower under load (a
    /// statement with `LIMIT ?` compiled again on every run, a process-wide
    /// mutex taken on every allocation), so nothing else would notice.
    #[test]
    fn sqlite_is_built_with_the_server_options() {
        use diesel::{Connection, QueryableByName, RunQueryDsl, sql_query};
        #[derive(QueryableByName)]
        struct Opt {
            #[diesel(sql_type = diesel::sql_types::Text)]
            compile_options: String,
        }
        let mut c = SqliteConnection::establish(":memory:").expect("in-memory database");
        let opts: Vec<String> = sql_query("SELECT compile_options FROM pragma_compile_options")
            .load::<Opt>(&mut c)
            .expect("compile options")
            .into_iter()
            .map(|o| o.compile_options)
            .collect();
        for wanted in ["ENABLE_QPSG", "DEFAULT_MEMSTATUS=0"] {
            assert!(
                opts.iter().any(|o| o == wanted),
                "{wanted} missing: {opts:?}"
            );
        }
        assert!(
            !opts.iter().any(|o| o == "ENABLE_MEMORY_MANAGEMENT"),
            "{opts:?}"
        );
    }

    #[test]
    fn debug_never_prints_the_url() {
        let db = Db::open("postgres://clavis:s3cret@127.0.0.1/clavis", 1).expect("lazy pool");
        let shown = format!("{db:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
    }
}
