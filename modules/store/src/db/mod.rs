//! Connection pools and the backend switch.
//!
//! [`Db`] is a pool on either backend, chosen by the URL; [`DbConn`] is one
//! connection taken from it, on which [`with_conn!`](crate::with_conn) runs
//! the same query code compiled for both backends. Transactions are in
//! [`tx`]; what is particular to SQLite (the write turn, statements run in
//! place, the WAL, inline reads) is in [`sqlite`].

pub(crate) mod rows;
pub mod sqlite;
mod tx;

pub(crate) use rows::insert_rows;

pub use sqlite::wal::Checkpointed;
pub use sqlite::{AsyncSqliteConnection, InlineReaders, Offload, SqliteConn, TurnHeld, WriteTurn};

use diesel_async::pooled_connection::deadpool::{Object, Pool, PoolError};
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig};
use diesel_async::{AsyncPgConnection, SimpleAsyncConnection};
use futures_util::FutureExt;
use sqlite::open_sqlite;
use std::fmt;
use std::time::Duration;

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A query failed.
    #[error("database query failed: {0}")]
    Query(#[source] diesel::result::Error),
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

impl From<diesel::result::Error> for StoreError {
    /// A column that held a value outside its type's vocabulary (see
    /// `clavis_core::text`) is corrupt data, said as such; every other
    /// failure is the query's.
    fn from(e: diesel::result::Error) -> Self {
        if let diesel::result::Error::DeserializationError(inner) = &e
            && let Some(bad) = inner.downcast_ref::<clavis_core::UnknownValue>()
        {
            return StoreError::Corrupt {
                what: bad.what,
                detail: bad.detail.clone(),
            };
        }
        StoreError::Query(e)
    }
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

/// The SQLite file `url` names (as [`Db::open`] reads it), or `None` for
/// PostgreSQL or a URL Clavis does not understand.
pub fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    match parse_url(url) {
        Ok(Target::Sqlite(path)) => Some(path.into()),
        _ => None,
    }
}

impl Db {
    /// Opens a pool of at most `max_size` connections on `url`
    /// (`postgres://…`, `sqlite://PATH` or a plain file path for SQLite).
    /// Does not connect yet: see [`Db::check`].
    pub fn open(url: &str, max_size: usize) -> Result<Self, StoreError> {
        Self::open_with(url, max_size, true, PING_IDLE_AFTER)
    }

    /// [`Db::open`], a PostgreSQL connection last handed out `ping_after`
    /// or more ago being checked with a query before it is handed out
    /// again (for tests: zero checks every one, without waiting).
    #[doc(hidden)]
    pub fn open_pinging_after(
        url: &str,
        max_size: usize,
        ping_after: Duration,
    ) -> Result<Self, StoreError> {
        Self::open_with(url, max_size, true, ping_after)
    }

    /// [`Db::open`] for a long-running server: on SQLite, commits never
    /// checkpoint the WAL themselves (a checkpoint's fsync inside a write
    /// would stall every transaction waiting for its turn); the server
    /// calls [`Db::checkpoint`] periodically instead.
    pub fn open_for_server(url: &str, max_size: usize) -> Result<Self, StoreError> {
        Self::open_with(url, max_size, false, PING_IDLE_AFTER)
    }

    fn open_with(
        url: &str,
        max_size: usize,
        auto_checkpoint: bool,
        ping_after: Duration,
    ) -> Result<Self, StoreError> {
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
                // Every checkout still drops a connection the server closed
                // (diesel-async's `is_broken`: its socket ended, or a
                // transaction was left open or broken). A `SELECT 1` on each
                // checkout besides, diesel-async's default, was 4.5 round
                // trips of the server's per OpenID flow; only a connection
                // not handed out for a while is checked now (see
                // `needs_ping`), after `is_broken` (deadpool's
                // `post_recycle`: a connection left in a transaction waiting
                // for a lock is dropped, not queued behind it). One whose
                // backend ended a moment ago, before this node read the
                // close, can still be handed out and fail its first query:
                // the price of not asking at each checkout.
                let mut config = ManagerConfig::<AsyncPgConnection>::default();
                config.recycling_method = diesel_async::pooled_connection::RecyclingMethod::Fast;
                let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(
                    url.clone(),
                    config,
                );
                let ping = deadpool::managed::Hook::async_fn(
                    move |conn: &mut AsyncPgConnection, metrics| {
                        let idle = metrics.last_used();
                        async move {
                            if !needs_ping(idle, ping_after) {
                                return Ok(());
                            }
                            let answered =
                                tokio::time::timeout(PING_TIMEOUT, conn.batch_execute("SELECT 1"))
                                    .await;
                            let why = match answered {
                                Ok(Ok(())) => return Ok(()),
                                Ok(Err(e)) => e.to_string(),
                                Err(_) => format!("no answer within {} s", PING_TIMEOUT.as_secs()),
                            };
                            // deadpool drops the connection and takes or
                            // opens another without saying why: said here.
                            tracing::warn!(
                                idle_secs = idle.as_secs(),
                                "PostgreSQL connection dropped from the pool: {why}"
                            );
                            Err(deadpool::managed::HookError::message(why))
                        }
                        .boxed()
                    },
                );
                let pool = Pool::builder(manager)
                    .max_size(max_size.max(1))
                    .post_recycle(ping)
                    .build()
                    .map_err(|e| StoreError::Unavailable(e.to_string()))?;
                Ok(Db::Pg(pool, url))
            }
        }
    }

    /// The pool's connections now, for the metrics.
    pub fn pool_status(&self) -> PoolStatus {
        let s = match self {
            Db::Sqlite(p, ..) => p.status(),
            Db::Pg(p, _) => p.status(),
        };
        PoolStatus {
            max: s.max_size,
            open: s.size,
            idle: s.available,
            waiting: s.waiting,
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
                reading: false,
            })),
            Db::Pg(p, _) => DbConn::Pg(p.get().await?),
        })
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

    /// The database server's clock (unix milliseconds), on PostgreSQL,
    /// where other nodes share it; `None` on SQLite, which runs on this
    /// machine's clock. Every node compares the times it writes (session
    /// ends, leases, codes) with times other nodes wrote: their clocks must
    /// agree, and this is what they are compared with.
    pub async fn server_clock_ms(&self) -> Result<Option<i64>, StoreError> {
        #[derive(diesel::QueryableByName)]
        struct Now {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            ms: i64,
        }
        match self {
            Db::Sqlite(..) => Ok(None),
            Db::Pg(p, _) => {
                use diesel_async::RunQueryDsl;
                let mut c = p.get().await?;
                let now: Now = diesel::sql_query(
                    "SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT) AS ms",
                )
                .get_result(&mut c)
                .await?;
                Ok(Some(now.ms))
            }
        }
    }
}

/// What a pool holds at one instant ([`Db::pool_status`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStatus {
    /// The most connections it may open (`database.max_connections`).
    pub max: usize,
    /// Connections open now.
    pub open: usize,
    /// Open connections nobody is using.
    pub idle: usize,
    /// Tasks waiting for a connection.
    pub waiting: usize,
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

/// How long after it was last handed out (or opened) a PostgreSQL
/// connection is checked with a query when next handed out: one closed by
/// the server is dropped anyway (its socket ended); one a firewall forgot
/// in silence, or a server that stopped answering, is found by the check
/// rather than by the request that would have used it.
pub const PING_IDLE_AFTER: Duration = Duration::from_secs(10);

/// How long that check may take: a connection dropped in silence (no
/// reset, no close) would otherwise hold the request until TCP gives up,
/// minutes later; it is dropped instead, and another one taken or opened.
pub const PING_TIMEOUT: Duration = Duration::from_secs(5);

/// Whether a connection last handed out (or opened) `idle` ago is checked
/// before it is handed out again.
fn needs_ping(idle: Duration, after: Duration) -> bool {
    idle >= after
}

/// Rows per statement of [`execute_batched!`](crate::execute_batched): the
/// widest table written in batches (`identities`, 22 columns) stays well
/// under SQLite's 32,766 bound parameters and PostgreSQL's 65,535.
pub const ROWS_PER_STATEMENT: usize = 500;

/// Runs one multi-row statement per [`ROWS_PER_STATEMENT`] rows of `rows`
/// (a `Vec`, moved in), built from a slice `chunk` by the same query
/// expression for both backends: what a sync writes by the thousand costs a
/// statement per few hundred rows, not one per row. On SQLite the
/// statements run in one trip to the blocking pool; on PostgreSQL, inside a
/// transaction, they are pipelined (sent without waiting for each answer:
/// a failure aborts the transaction, so nothing after it is applied), and
/// sent in turn otherwise. Runs inside the caller's transaction on either
/// backend.
#[macro_export]
macro_rules! execute_batched {
    ($conn:expr, $rows:expr, |$chunk:ident| $query:expr) => {{
        let rows = $rows;
        if rows.is_empty() {
            Ok::<(), $crate::StoreError>(())
        } else {
            let conn: &mut $crate::DbConn = $conn;
            let pipelined = conn.in_transaction();
            match conn {
                $crate::DbConn::Sqlite(c) => {
                    let c: &mut $crate::db::AsyncSqliteConnection = c.conn();
                    c.spawn_blocking(move |inner| {
                        for part in rows.chunks($crate::db::ROWS_PER_STATEMENT) {
                            // A whole chunk as an array: a statement of a
                            // fixed number of rows, which diesel prepares
                            // once per connection (a slice's, whose length
                            // varies, it prepares at every use: SQLite
                            // parsed 10,000 placeholders again each time).
                            if let Ok($chunk) =
                                <&[_; $crate::db::ROWS_PER_STATEMENT]>::try_from(part)
                            {
                                ::diesel::RunQueryDsl::execute($query, inner)?;
                            } else {
                                let $chunk = part;
                                ::diesel::RunQueryDsl::execute($query, inner)?;
                            }
                        }
                        Ok(())
                    })
                    .await
                    .map_err($crate::StoreError::from)
                }
                $crate::DbConn::Pg(c) if pipelined => {
                    let c: &::diesel_async::AsyncPgConnection = &**c;
                    let sent: Vec<_> = rows
                        .chunks($crate::db::ROWS_PER_STATEMENT)
                        .map(|$chunk| {
                            let mut shared = c;
                            ::diesel_async::RunQueryDsl::execute($query, &mut shared)
                        })
                        .collect();
                    ::futures_util::future::try_join_all(sent).await?;
                    Ok(())
                }
                $crate::DbConn::Pg(c) => {
                    let c: &mut ::diesel_async::AsyncPgConnection = &mut **c;
                    for $chunk in rows.chunks($crate::db::ROWS_PER_STATEMENT) {
                        ::diesel_async::RunQueryDsl::execute($query, c).await?;
                    }
                    Ok(())
                }
            }
        }
    }};
}

impl DbConn {
    /// The backend of this connection.
    pub fn backend(&self) -> Backend {
        match self {
            DbConn::Sqlite(_) => Backend::Sqlite,
            DbConn::Pg(_) => Backend::Postgres,
        }
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Small helpers the storage layer's own tests share.

    use super::*;

    pub(crate) async fn exec(conn: &mut DbConn, sql: &str) -> Result<(), StoreError> {
        crate::with_conn!(conn, c => c.batch_execute(sql).await)?;
        Ok(())
    }

    /// A server's database (`Db::open_for_server`) named `name` in `dir`,
    /// with `tables` created.
    pub(crate) async fn server_db(
        dir: &std::path::Path,
        name: &str,
        pool: usize,
        tables: &str,
    ) -> Db {
        let db = Db::open_for_server(dir.join(name).to_str().expect("utf-8"), pool).expect("open");
        exec(&mut db.conn().await.expect("conn"), tables)
            .await
            .expect("tables");
        db
    }

    pub(crate) async fn count(conn: &mut DbConn) -> i64 {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_connection_idle_long_enough_is_pinged() {
        let after = PING_IDLE_AFTER;
        assert!(!needs_ping(Duration::ZERO, after));
        assert!(!needs_ping(after - Duration::from_millis(1), after));
        assert!(needs_ping(after, after));
        assert!(needs_ping(after * 30, after));
        // Zero checks every connection.
        assert!(needs_ping(Duration::ZERO, Duration::ZERO));
    }

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

    #[test]
    fn debug_never_prints_the_url() {
        let db = Db::open("postgres://clavis:s3cret@127.0.0.1/clavis", 1).expect("lazy pool");
        let shown = format!("{db:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
    }
}
