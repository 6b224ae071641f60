//! WAL checkpoints. The server checkpoints the WAL itself (commits never
//! do, see [`crate::Db::open_for_server`]) and, under steady load, makes
//! the WAL start over so it does not grow for as long as the load lasts.

use crate::{Db, StoreError};
use diesel::SqliteConnection;

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
}

#[cfg(test)]
mod tests {
    use crate::DbConn;
    use crate::db::test_support::{count, exec, server_db};

    /// Under a writer that never pauses, a checkpoint asked to start the
    /// WAL over leaves it fully copied back, and the next writes start it
    /// over (without that pass the WAL grows for as long as writes go on).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_wal_starts_over_under_a_writer_that_never_pauses() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        let dir = tempfile::tempdir().expect("tempdir");
        let db = server_db(dir.path(), "c.db", 4, "CREATE TABLE t (x TEXT NOT NULL)").await;
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
}
