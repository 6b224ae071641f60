//! Embedded migrations for both backends.
//!
//! `clavis migrate` and `clavis serve` call [`run_pending`]. PostgreSQL
//! migrations run through diesel-async's blocking wrapper, so no libpq is
//! linked.

use crate::db::sqlite::open_sqlite_for_migration;
use crate::db::{Db, StoreError};
use diesel::{Connection, RunQueryDsl};
use diesel_async::AsyncPgConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

/// SQLite migrations (`migrations/sqlite`).
pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");
/// PostgreSQL migrations (`migrations/postgres`).
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

/// The PostgreSQL advisory lock migrations hold (an arbitrary constant:
/// "clavis" in ASCII).
const MIGRATION_LOCK: i64 = 0x636c_6176_6973;

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

fn note_filled(identities: usize) {
    if identities > 0 {
        tracing::info!(
            identities,
            "matching keys given to identities that had none"
        );
    }
}

/// Identities [`fill_match_keys!`] reads at a time.
const FILL_BATCH: i64 = 1_000;

/// Gives every identity with a birth date and no matching key its keys,
/// computed as every write computes them
/// ([`MatchKeyRow::of`](crate::models::identity::MatchKeyRow::of)): SQL
/// cannot normalise names as Clavis does. Those are the identities written
/// before the keys existed (migration `2026-12-12-000001`), or since by a
/// binary that did not know them (an older node left running through an
/// upgrade, which docs/operations.md forbids): without keys, matching
/// would never see them. Runs after the migrations, in their transaction,
/// every time they run; on a database where every identity has its keys,
/// one anti-join finds nothing. Evaluates to the number of identities
/// filled. A macro because the two backends' blocking connections share
/// no trait diesel's queries can be written against here.
macro_rules! fill_match_keys {
    ($conn:expr) => {{
        use crate::models::IdentityRow;
        use crate::models::identity::MatchKeyRow;
        use crate::schema::identities::dsl;
        use crate::schema::identity_match_keys;
        use diesel::prelude::*;
        let conn = $conn;
        let mut filled = 0usize;
        loop {
            // Each identity read gets at least one key (it has a birth
            // date): the next read finds the rest.
            let rows: Vec<IdentityRow> = dsl::identities
                .filter(dsl::birth_date.is_not_null())
                .filter(diesel::dsl::not(diesel::dsl::exists(
                    identity_match_keys::table.filter(identity_match_keys::oid.eq(dsl::oid)),
                )))
                .select(IdentityRow::as_select())
                .limit(FILL_BATCH)
                .load(conn)?;
            if rows.is_empty() {
                break;
            }
            filled += rows.len();
            let keys: Vec<MatchKeyRow> = rows.iter().flat_map(MatchKeyRow::of).collect();
            for chunk in keys.chunks(crate::db::ROWS_PER_STATEMENT) {
                diesel::insert_into(identity_match_keys::table)
                    .values(chunk)
                    .execute(conn)?;
            }
        }
        filled
    }};
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
            // Two nodes starting at once: the second waits on this lock
            // (held until the transaction ends), then finds nothing pending.
            conn.transaction(|c| {
                diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
                    .bind::<diesel::sql_types::BigInt, _>(MIGRATION_LOCK)
                    .execute(c)?;
                let done = run_on(c, POSTGRES_MIGRATIONS, direction)?;
                if direction == Direction::Up {
                    note_filled(fill_match_keys!(c));
                }
                Ok(done)
            })
        } else {
            if let Some(parent) = std::path::Path::new(&url).parent()
                && !parent.as_os_str().is_empty()
            {
                std::fs::create_dir_all(parent).map_err(|e| {
                    StoreError::Unavailable(format!("cannot create {}: {e}", parent.display()))
                })?;
            }
            let mut conn = open_sqlite_for_migration(&url)?;
            // One immediate transaction for the whole run: a second process
            // on the same database waits (busy timeout) for the write lock,
            // then finds nothing pending, instead of failing on "database is
            // locked" or applying a migration twice.
            conn.immediate_transaction(|c| {
                let done = run_on(c, SQLITE_MIGRATIONS, direction)?;
                if direction == Direction::Up {
                    note_filled(fill_match_keys!(c));
                }
                Ok(done)
            })
        }
    })
    .await
    .map_err(|e| StoreError::Migration(format!("migration task failed: {e}")))?
}

/// Applies every pending migration.
pub async fn run_pending(db: &Db) -> Result<Vec<String>, StoreError> {
    run(db, Direction::Up).await
}
