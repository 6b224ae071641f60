//! What is particular to SQLite: how its connections are opened and set
//! up, and the pooled connection with its turn at writing.
//!
//! - [`write_turn`]: one writer at a time per database, in turns taken by
//!   this process's transactions, without blocking a thread.
//! - [`offload`]: where a statement runs (tokio's blocking pool, or in
//!   place on the calling thread inside a unit).
//! - [`wal`]: checkpoints that keep the WAL from growing under steady load.
//! - [`inline`]: read-only connections for the per-request hot path.

pub(crate) mod group;
pub(crate) mod inline;
pub(crate) mod offload;
pub mod wal;
pub(crate) mod write_turn;

pub use inline::InlineReaders;
pub use offload::Offload;
pub use write_turn::{TurnHeld, WriteTurn};

use super::StoreError;
use diesel::SqliteConnection;
use diesel_async::pooled_connection::deadpool::Object;
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use std::fmt;

/// SQLite through diesel-async's sync-connection wrapper, each statement
/// offloaded to tokio's blocking pool (or run in place inside
/// [`DbConn::atomically`]).
pub type AsyncSqliteConnection = SyncConnectionWrapper<SqliteConnection, Offload>;

/// Settings applied to every SQLite connection: first a busy timeout
/// instead of immediate "database is locked" (first, because switching a
/// new database to WAL takes the write lock: a process starting beside
/// another must wait its turn there too), then WAL so readers never wait
/// for the sync writer, foreign keys on, a 32 MiB page cache (the default 2 MiB
/// makes index updates on 100k identities read pages again and again), and
/// a WAL file cut back to 2 GiB when it starts over (after a large sync;
/// above what steady load makes it reach, so a busy server never pays for
/// cutting and growing it again).
pub(crate) const SQLITE_SETUP: &str = "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; \
     PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA cache_size = -32768; \
     PRAGMA temp_store = MEMORY; PRAGMA journal_size_limit = 2147483648;";

/// When a commit of a command (not the server, which checkpoints on its
/// own schedule) checkpoints the WAL: once it holds 16,384 pages (64 MiB),
/// not SQLite's 1,000. A sync page of 500 people dirties thousands of
/// index pages (random oids); at 1,000 every commit checkpointed, writing
/// and syncing to the database file the pages the next commit dirties
/// again. 64 MiB of WAL is a few pages of a sync, and nothing for a disk.
const AUTO_CHECKPOINT: &str = "PRAGMA wal_autocheckpoint = 16384;";

/// Opens a SQLite connection set up as the pool's are.
pub(crate) fn open_sqlite(
    path: &str,
    auto_checkpoint: bool,
) -> Result<SqliteConnection, StoreError> {
    use diesel::Connection;
    use diesel::connection::SimpleConnection;
    let mut c =
        SqliteConnection::establish(path).map_err(|e| StoreError::Unavailable(e.to_string()))?;
    c.batch_execute(SQLITE_SETUP)?;
    if auto_checkpoint {
        c.batch_execute(AUTO_CHECKPOINT)?;
    } else {
        c.batch_execute("PRAGMA wal_autocheckpoint = 0;")?;
    }
    Ok(c)
}

/// Settings of the connection migrations run on: the busy timeout before
/// anything else (a minute: another process may be migrating the same new
/// database, and waiting for it is the point), then WAL. Foreign keys stay
/// off, as SQLite's table rebuilds in migrations need.
const SQLITE_MIGRATION_SETUP: &str = "PRAGMA busy_timeout = 60000; PRAGMA journal_mode = WAL;";

/// Opens the SQLite connection migrations run on (see
/// [`crate::migrate`]).
pub(crate) fn open_sqlite_for_migration(path: &str) -> Result<SqliteConnection, StoreError> {
    use diesel::Connection;
    use diesel::connection::SimpleConnection;
    let mut c =
        SqliteConnection::establish(path).map_err(|e| StoreError::Unavailable(e.to_string()))?;
    // Switching a new database to WAL needs it to itself for a moment, and
    // under load SQLite was seen to answer "database is locked" to it while
    // another process starting on the same new file held it (the suite's
    // processes-starting-at-once test, once): try again, for as long as
    // the busy timeout.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        match c.batch_execute(SQLITE_MIGRATION_SETUP) {
            Ok(()) => return Ok(c),
            Err(e)
                if e.to_string().contains("database is locked")
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => return Err(e.into()),
        }
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
    pub(crate) conn: Object<AsyncSqliteConnection>,
    pub(crate) turn: std::sync::Arc<WriteTurn>,
    pub(crate) held: Option<TurnHeld>,
    pub(crate) depth: u32,
    /// The turn's own connection, used instead of `conn` while an in-place
    /// unit runs (see [`WriteTurn`]).
    pub(crate) unit: Option<AsyncSqliteConnection>,
    /// Inside [`crate::DbConn::reading`]: no transaction may begin.
    pub(crate) reading: bool,
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

impl fmt::Debug for SqliteConn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SqliteConn")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
