//! Backups of the embedded SQLite database: a consistent copy taken while
//! the service runs (`VACUUM INTO`: one read transaction, so the copy is
//! the database as of one instant, writers going on meanwhile), and the
//! checks a copy passes before it is restored. PostgreSQL is backed up with
//! its own tools (`pg_dump`; docs/operations.md).

use crate::{Db, StoreError, with_conn};
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel::{Connection, QueryableByName, RunQueryDsl, SqliteConnection};
use std::path::Path;

/// What a copy holds, read back from it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CopyFacts {
    /// The master key's fingerprint recorded in it (none in a copy taken
    /// before fingerprints were recorded).
    pub master_key_fingerprint: Option<String>,
    /// The last migration applied to it.
    pub schema_version: Option<String>,
    pub identities: i64,
    pub sessions: i64,
    pub audit_events: i64,
    /// When its last audit event was written (unix microseconds): what
    /// happened after is not in it.
    pub last_event_at: Option<i64>,
}

/// Writes a consistent copy of `db` (SQLite) to `to`, which must not exist:
/// the file is created first, readable by its owner only (it holds
/// personal data and sealed secrets), never through a link. Refused on
/// PostgreSQL.
pub async fn snapshot(db: &Db, to: &Path) -> Result<(), StoreError> {
    if db.backend() != crate::Backend::Sqlite {
        return Err(StoreError::Unavailable(
            "a PostgreSQL database is backed up with pg_dump (docs/operations.md)".into(),
        ));
    }
    let mut create = std::fs::OpenOptions::new();
    create.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        create.mode(0o600);
    }
    create
        .open(to)
        .map_err(|e| StoreError::Unavailable(format!("{}: {e}", to.display())))?;
    // An empty file is what VACUUM INTO fills (it refuses any other).
    let to = to.display().to_string();
    let mut conn = db.conn().await?;
    with_conn!(&mut conn, c => diesel_async::RunQueryDsl::execute(
        diesel::sql_query("VACUUM INTO ?").bind::<Text, _>(to),
        c,
    )
    .await)?;
    Ok(())
}

#[derive(QueryableByName)]
struct Line {
    #[diesel(sql_type = Text)]
    integrity_check: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Latest {
    #[diesel(sql_type = Nullable<BigInt>)]
    t: Option<i64>,
}

#[derive(QueryableByName)]
struct Value {
    #[diesel(sql_type = Nullable<Text>)]
    v: Option<String>,
}

/// Checks that the SQLite file at `path` is whole (`PRAGMA
/// integrity_check`) and a Clavis database, and says what it holds. Opens
/// it read-only: the copy is not changed.
pub fn check_copy(path: &Path) -> Result<CopyFacts, StoreError> {
    if !path.is_file() {
        return Err(StoreError::Unavailable(format!(
            "{}: no such file",
            path.display()
        )));
    }
    // As a URI (read-only): the characters a URI gives a meaning to are
    // escaped, so that the file checked is the file named.
    let escaped: String = path
        .display()
        .to_string()
        .chars()
        .map(|c| match c {
            '%' => "%25".to_string(),
            '?' => "%3F".to_string(),
            '#' => "%23".to_string(),
            c => c.to_string(),
        })
        .collect();
    let url = format!("file:{escaped}?mode=ro");
    let mut c = SqliteConnection::establish(&url)
        .map_err(|e| StoreError::Unavailable(format!("{}: {e}", path.display())))?;
    let lines: Vec<Line> = diesel::sql_query("PRAGMA integrity_check").load(&mut c)?;
    let problems: Vec<String> = lines
        .into_iter()
        .map(|l| l.integrity_check)
        .filter(|l| l != "ok")
        .collect();
    if !problems.is_empty() {
        return Err(StoreError::Corrupt {
            what: "database copy",
            detail: format!("{}: {}", path.display(), problems.join("; ")),
        });
    }
    let not_clavis = |e: diesel::result::Error| StoreError::Corrupt {
        what: "database copy",
        detail: format!("{}: not a Clavis database ({e})", path.display()),
    };
    let count = |c: &mut SqliteConnection, table: &str| -> Result<i64, StoreError> {
        let r: Count = diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {table}"))
            .get_result(c)
            .map_err(not_clavis)?;
        Ok(r.n)
    };
    let identities = count(&mut c, "identities")?;
    let sessions = count(&mut c, "sso_sessions")?;
    let audit_events = count(&mut c, "audit_events")?;
    let schema_version =
        diesel::sql_query("SELECT MAX(version) AS v FROM __diesel_schema_migrations")
            .get_result::<Value>(&mut c)
            .map_err(not_clavis)?
            .v;
    // A copy from before the fingerprint's table has none.
    let master_key_fingerprint =
        diesel::sql_query("SELECT fingerprint AS v FROM master_key_check WHERE id = 1")
            .get_result::<Value>(&mut c)
            .ok()
            .and_then(|r| r.v);
    let last_event_at = diesel::sql_query("SELECT MAX(occurred_at) AS t FROM audit_events")
        .get_result::<Latest>(&mut c)
        .map_err(not_clavis)?
        .t;
    Ok(CopyFacts {
        last_event_at,
        master_key_fingerprint,
        schema_version,
        identities,
        sessions,
        audit_events,
    })
}
