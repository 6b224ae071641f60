//! Read-only SQLite connections used inline, on the calling thread, for
//! the per-request hot path (the session check).

use crate::StoreError;
use diesel::SqliteConnection;
use std::fmt;

/// Read-only SQLite connections used inline, on the calling thread.
///
/// A SQLite query takes microseconds, but diesel-async runs each one on the
/// blocking pool, and the two thread hand-offs cost several times the query.
/// For the per-request hot path (the session check), a small indexed read
/// runs here directly instead. They are `query_only`, autocommit (no
/// snapshot kept), and wait at most 1 s for a lock.
pub struct InlineReaders {
    pub(crate) path: String,
    pub(crate) idle: std::sync::Mutex<Vec<SqliteConnection>>,
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
