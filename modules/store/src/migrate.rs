//! Embedded migrations for both backends.
//!
//! `clavis migrate` and `clavis serve` call [`run_pending`]. PostgreSQL
//! migrations run through diesel-async's blocking wrapper, so no libpq is
//! linked.

use crate::db::{Db, StoreError};
use diesel::Connection;
use diesel::SqliteConnection;
use diesel_async::AsyncPgConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

/// SQLite migrations (`migrations/sqlite`).
pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");
/// PostgreSQL migrations (`migrations/postgres`).
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

/// What to do with the migrations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Apply every pending migration.
    Up,
    /// Revert every applied migration (tests only: it drops all data).
    DownAll,
}

fn run_on<C>(
    conn: &mut C,
    migrations: EmbeddedMigrations,
    direction: Direction,
) -> Result<Vec<String>, StoreError>
where
    C: MigrationHarness<C::Backend> + Connection,
{
    let done = match direction {
        Direction::Up => conn.run_pending_migrations(migrations),
        Direction::DownAll => conn.revert_all_migrations(migrations),
    }
    .map_err(|e| StoreError::Migration(e.to_string()))?;
    Ok(done.into_iter().map(|v| v.to_string()).collect())
}

/// Applies (or reverts) migrations on the database behind `db`; returns the
/// versions that ran.
pub async fn run(db: &Db, direction: Direction) -> Result<Vec<String>, StoreError> {
    let url = db.url().to_string();
    let is_pg = matches!(db, Db::Pg(..));
    tokio::task::spawn_blocking(move || {
        if is_pg {
            let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::establish(&url)
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            run_on(&mut conn, POSTGRES_MIGRATIONS, direction)
        } else {
            if let Some(parent) = std::path::Path::new(&url).parent()
                && !parent.as_os_str().is_empty()
            {
                std::fs::create_dir_all(parent).map_err(|e| {
                    StoreError::Unavailable(format!("cannot create {}: {e}", parent.display()))
                })?;
            }
            let mut conn = SqliteConnection::establish(&url)
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            run_on(&mut conn, SQLITE_MIGRATIONS, direction)
        }
    })
    .await
    .map_err(|e| StoreError::Migration(format!("migration task failed: {e}")))?
}

/// Applies every pending migration.
pub async fn run_pending(db: &Db) -> Result<Vec<String>, StoreError> {
    run(db, Direction::Up).await
}
