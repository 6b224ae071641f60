//! Migrations on both backends, and the two schemas kept alike.

use clavis_store::migrate::{self, Direction};
use clavis_store::with_conn;
use clavis_testkit::db::{Backend, TestDb};
use diesel::sql_types::{Integer, Text};
use diesel::{QueryResult, QueryableByName};
use diesel_async::RunQueryDsl;
use std::collections::{BTreeMap, BTreeSet};

/// What a test can see of a schema after the migrations, in words common
/// to both backends: table → its columns (type, nullability), primary key,
/// unique column sets and indexes.
type Schema = BTreeMap<String, Table>;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Table {
    /// Column → (type in the common vocabulary, NOT NULL).
    columns: BTreeMap<String, (&'static str, bool)>,
    /// The primary key's columns, in key order.
    primary_key: Vec<String>,
    /// Column lists a unique index enforces, however it was declared
    /// (`UNIQUE` on a column or table, or `CREATE UNIQUE INDEX`; SQLite can
    /// only add uniqueness later by the latter, PostgreSQL by either).
    unique: BTreeSet<Vec<String>>,
    /// Indexes created by name (`CREATE [UNIQUE] INDEX`), not the ones a
    /// backend makes itself for a key or a `UNIQUE` constraint (whose names
    /// differ: `sqlite_autoindex_…` against `…_key`/`…_pkey`).
    indexes: BTreeMap<String, Index>,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Index {
    columns: Vec<String>,
    unique: bool,
    partial: bool,
}

/// SQLite's affinity of a declared type (https://sqlite.org/datatype3.html
/// §3.1): what SQLite actually does with a value, whatever the name says.
fn sqlite_affinity(declared: &str) -> &'static str {
    let d = declared.to_ascii_uppercase();
    if d.contains("INT") {
        "INTEGER"
    } else if d.contains("CHAR") || d.contains("CLOB") || d.contains("TEXT") {
        "TEXT"
    } else if d.contains("BLOB") || d.is_empty() {
        "BLOB"
    } else if d.contains("REAL") || d.contains("FLOA") || d.contains("DOUB") {
        "REAL"
    } else {
        "NUMERIC"
    }
}

/// A SQLite declared type in the common vocabulary. The declared name is
/// what diesel's schema and our models go by (`INTEGER` is an `i32`,
/// `BIGINT` an `i64`, though SQLite stores both as 64-bit integers), so it
/// is compared by name; its affinity must also be the one the vocabulary
/// expects, so that a name SQLite reads otherwise (`STRING` has NUMERIC
/// affinity and turns `'0123'` into 123) cannot pass for text.
fn sqlite_type(table: &str, column: &str, declared: &str) -> &'static str {
    let base = declared
        .split('(')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_uppercase();
    let (ty, affinity) = match base.as_str() {
        "TEXT" | "VARCHAR" | "CHARACTER VARYING" | "CHAR" | "CHARACTER" => ("text", "TEXT"),
        "SMALLINT" | "INT2" => ("smallint", "INTEGER"),
        "INTEGER" | "INT" | "INT4" => ("int", "INTEGER"),
        "BIGINT" | "INT8" => ("bigint", "INTEGER"),
        "BOOLEAN" | "BOOL" => ("bool", "NUMERIC"),
        "DOUBLE" | "DOUBLE PRECISION" => ("double", "REAL"),
        "BLOB" => ("bytes", "BLOB"),
        _ => panic!(
            "{table}.{column}: SQLite type {declared:?} is not in the test's vocabulary; \
             check its affinity and what PostgreSQL type it stands for, then add it"
        ),
    };
    assert_eq!(
        sqlite_affinity(declared),
        affinity,
        "{table}.{column}: {declared:?} does not have the affinity of {ty}"
    );
    ty
}

/// A PostgreSQL type (`udt_name`) in the common vocabulary.
fn postgres_type(table: &str, column: &str, udt: &str) -> &'static str {
    match udt {
        "text" | "varchar" | "bpchar" => "text",
        "int2" => "smallint",
        "int4" => "int",
        "int8" => "bigint",
        "bool" => "bool",
        "float8" => "double",
        "bytea" => "bytes",
        _ => panic!(
            "{table}.{column}: PostgreSQL type {udt:?} is not in the test's vocabulary; \
             add it with its SQLite counterpart"
        ),
    }
}

#[derive(QueryableByName)]
struct ColumnRow {
    #[diesel(sql_type = Text)]
    t: String,
    #[diesel(sql_type = Text)]
    c: String,
    #[diesel(sql_type = Text)]
    ty: String,
    #[diesel(sql_type = Integer)]
    not_null: i32,
    /// Position in the primary key (1-based), 0 if not in it (SQLite only).
    #[diesel(sql_type = Integer)]
    pk: i32,
}

#[derive(QueryableByName)]
struct IndexRow {
    #[diesel(sql_type = Text)]
    t: String,
    #[diesel(sql_type = Text)]
    idx: String,
    #[diesel(sql_type = Integer)]
    is_unique: i32,
    /// `pk` (the primary key's), `u` (a `UNIQUE` constraint's), `c`
    /// (created by name): SQLite's `pragma_index_list` words.
    #[diesel(sql_type = Text)]
    origin: String,
    #[diesel(sql_type = Integer)]
    is_partial: i32,
    #[diesel(sql_type = Integer)]
    ord: i32,
    #[diesel(sql_type = Text)]
    col: String,
}

const SQLITE_COLUMNS: &str = "SELECT m.name AS t, p.name AS c, p.type AS ty, \
     p.\"notnull\" AS not_null, p.pk AS pk \
     FROM sqlite_master m JOIN pragma_table_info(m.name) p \
     WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' \
     AND m.name != '__diesel_schema_migrations'";

const SQLITE_INDEXES: &str = "SELECT m.name AS t, il.name AS idx, il.\"unique\" AS is_unique, \
     il.origin AS origin, il.partial AS is_partial, ii.seqno AS ord, \
     COALESCE(ii.name, '<expression>') AS col \
     FROM sqlite_master m JOIN pragma_index_list(m.name) il \
     JOIN pragma_index_info(il.name) ii \
     WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' \
     AND m.name != '__diesel_schema_migrations'";

const POSTGRES_COLUMNS: &str = "SELECT table_name::text AS t, column_name::text AS c, \
     udt_name::text AS ty, (is_nullable = 'NO')::int4 AS not_null, 0 AS pk \
     FROM information_schema.columns \
     WHERE table_schema = 'public' AND table_name != '__diesel_schema_migrations'";

const POSTGRES_INDEXES: &str = "SELECT t.relname::text AS t, i.relname::text AS idx, \
     ix.indisunique::int4 AS is_unique, \
     CASE WHEN ix.indisprimary THEN 'pk' WHEN con.oid IS NOT NULL THEN 'u' ELSE 'c' END AS origin, \
     (ix.indpred IS NOT NULL)::int4 AS is_partial, (k.ord - 1)::int4 AS ord, \
     COALESCE(a.attname::text, '<expression>') AS col \
     FROM pg_index ix \
     JOIN pg_class i ON i.oid = ix.indexrelid \
     JOIN pg_class t ON t.oid = ix.indrelid \
     JOIN pg_namespace n ON n.oid = t.relnamespace \
     CROSS JOIN LATERAL unnest(ix.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) \
     LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum AND k.attnum <> 0 \
     LEFT JOIN pg_constraint con ON con.conindid = ix.indexrelid AND con.contype = 'u' \
     WHERE n.nspname = 'public' AND t.relname != '__diesel_schema_migrations'";

async fn schema(t: &TestDb) -> Schema {
    let mut conn = t.db.conn().await.expect("conn");
    let backend = t.db.backend();
    let (columns, indexes): (QueryResult<Vec<ColumnRow>>, QueryResult<Vec<IndexRow>>) =
        match backend {
            clavis_store::Backend::Sqlite => (
                with_conn!(&mut conn, c => diesel::sql_query(SQLITE_COLUMNS).load(c).await),
                with_conn!(&mut conn, c => diesel::sql_query(SQLITE_INDEXES).load(c).await),
            ),
            clavis_store::Backend::Postgres => (
                with_conn!(&mut conn, c => diesel::sql_query(POSTGRES_COLUMNS).load(c).await),
                with_conn!(&mut conn, c => diesel::sql_query(POSTGRES_INDEXES).load(c).await),
            ),
        };
    let (columns, indexes) = (
        columns.expect("columns query"),
        indexes.expect("indexes query"),
    );
    let mut out = Schema::new();
    let mut sqlite_pk: BTreeMap<String, Vec<(i32, String)>> = BTreeMap::new();
    for r in columns {
        let ty = match backend {
            clavis_store::Backend::Sqlite => sqlite_type(&r.t, &r.c, &r.ty),
            clavis_store::Backend::Postgres => postgres_type(&r.t, &r.c, &r.ty),
        };
        if r.pk > 0 {
            sqlite_pk
                .entry(r.t.clone())
                .or_default()
                .push((r.pk, r.c.clone()));
        }
        out.entry(r.t)
            .or_default()
            .columns
            .insert(r.c, (ty, r.not_null != 0));
    }
    // SQLite names the key's columns in table_info (an INTEGER PRIMARY KEY
    // has no index); PostgreSQL through the key's index.
    for (t, mut cols) in sqlite_pk {
        cols.sort();
        out.entry(t).or_default().primary_key = cols.into_iter().map(|(_, c)| c).collect();
    }
    // (table, index) → the index's first row and its (position, column)s.
    type IndexColumns = (IndexRow, Vec<(i32, String)>);
    let mut by_index: BTreeMap<(String, String), IndexColumns> = BTreeMap::new();
    for r in indexes {
        let key = (r.t.clone(), r.idx.clone());
        let col = (r.ord, r.col.clone());
        by_index
            .entry(key)
            .or_insert_with(|| (r, Vec::new()))
            .1
            .push(col);
    }
    for ((t, idx), (r, mut cols)) in by_index {
        cols.sort();
        let columns: Vec<String> = cols.into_iter().map(|(_, c)| c).collect();
        let table = out.entry(t).or_default();
        let (unique, partial) = (r.is_unique != 0, r.is_partial != 0);
        match r.origin.as_str() {
            "pk" => {
                if backend == clavis_store::Backend::Postgres {
                    table.primary_key = columns;
                }
                continue;
            }
            "c" => {
                table.indexes.insert(
                    idx,
                    Index {
                        columns: columns.clone(),
                        unique,
                        partial,
                    },
                );
            }
            _ => {}
        }
        if unique && !partial {
            table.unique.insert(columns);
        }
    }
    out
}

/// Each difference between the two schemas, in words.
fn differences(sqlite: &Schema, pg: &Schema) -> Vec<String> {
    let mut out = Vec::new();
    let tables: BTreeSet<&String> = sqlite.keys().chain(pg.keys()).collect();
    for t in tables {
        let (Some(s), Some(p)) = (sqlite.get(t), pg.get(t)) else {
            out.push(format!(
                "table {t}: only on {}",
                if sqlite.contains_key(t) {
                    "SQLite"
                } else {
                    "PostgreSQL"
                }
            ));
            continue;
        };
        let columns: BTreeSet<&String> = s.columns.keys().chain(p.columns.keys()).collect();
        for c in columns {
            let show = |v: Option<&(&str, bool)>| match v {
                None => "absent".to_string(),
                Some((ty, not_null)) => {
                    format!("{ty} {}", if *not_null { "NOT NULL" } else { "NULL" })
                }
            };
            let (a, b) = (s.columns.get(c), p.columns.get(c));
            if a != b {
                out.push(format!(
                    "{t}.{c}: SQLite {}, PostgreSQL {}",
                    show(a),
                    show(b)
                ));
            }
        }
        if s.primary_key != p.primary_key {
            out.push(format!(
                "{t}: primary key SQLite {:?}, PostgreSQL {:?}",
                s.primary_key, p.primary_key
            ));
        }
        for u in s.unique.symmetric_difference(&p.unique) {
            let on = if s.unique.contains(u) {
                "SQLite"
            } else {
                "PostgreSQL"
            };
            out.push(format!("{t}: unique {u:?} only on {on}"));
        }
        let indexes: BTreeSet<&String> = s.indexes.keys().chain(p.indexes.keys()).collect();
        for i in indexes {
            let (a, b) = (s.indexes.get(i), p.indexes.get(i));
            if a != b {
                out.push(format!("{t}: index {i}: SQLite {a:?}, PostgreSQL {b:?}"));
            }
        }
    }
    out
}

async fn up_down_up(backend: Backend) -> Schema {
    let t = TestDb::new(backend).await;
    let before = schema(&t).await;
    let identities = before.get("identities").expect("identities table");
    assert_eq!(identities.columns.get("oid"), Some(&("text", true)));
    assert_eq!(identities.primary_key, vec!["oid".to_string()]);
    assert!(
        before["api_tokens"]
            .unique
            .contains(&vec!["token_hash".to_string()])
    );
    assert!(before["identities"].indexes.contains_key("identities_rpps"));
    let reverted = migrate::run(&t.db, Direction::DownAll).await.expect("down");
    assert!(!reverted.is_empty());
    assert!(schema(&t).await.is_empty(), "down drops every table");
    migrate::run(&t.db, Direction::Up).await.expect("up again");
    let after = schema(&t).await;
    assert_eq!(
        before, after,
        "{backend:?}: up, down, up changed the schema"
    );
    after
}

/// Every migration runs up, down and up again on both backends, and the two
/// schemas then agree on tables, columns, column types (in a vocabulary
/// common to both), nullability, primary keys, unique column sets and
/// named indexes (columns, uniqueness, partial or not). Defaults, checks
/// and triggers are not compared (the audit triggers are tested by
/// behaviour below).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_run_up_down_up_and_both_backends_have_the_same_schema() {
    let sqlite = up_down_up(Backend::Sqlite).await;
    let pg = up_down_up(Backend::Postgres).await;
    let diffs = differences(&sqlite, &pg);
    assert!(
        diffs.is_empty(),
        "SQLite and PostgreSQL schemas differ:\n{}",
        diffs.join("\n")
    );
}

/// A text column an index holds on PostgreSQL, with its collation.
#[derive(QueryableByName, Debug)]
struct IndexedText {
    #[diesel(sql_type = Text)]
    t: String,
    #[diesel(sql_type = Text)]
    c: String,
    #[diesel(sql_type = Text)]
    collation: String,
}

/// Names people read, ordered by the database's collation on purpose.
const READ_BY_PEOPLE: &[(&str, &str)] = &[("api_tokens", "name"), ("workstations", "name")];

/// On PostgreSQL every text column an index, a primary key or a unique
/// constraint holds compares bytes (collation "C", migration
/// 2026-12-13-000001) whatever the database's locale, except the names
/// people read. A database created in a French locale otherwise compares
/// every identifier through the locale's collation, a third more of the
/// server's time for a directory sync. A migration adding an indexed
/// identifier without `COLLATE "C"` fails here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn indexed_identifiers_compare_bytes_on_postgresql() {
    let t = TestDb::new(Backend::Postgres).await;
    let mut conn = t.db.conn().await.expect("conn");
    let rows: Vec<IndexedText> = with_conn!(&mut conn, c => diesel::sql_query(
        "SELECT DISTINCT t.relname::text AS t, a.attname::text AS c, l.collname::text AS collation
         FROM pg_index x
         JOIN pg_class t ON t.oid = x.indrelid
         JOIN pg_namespace n ON n.oid = t.relnamespace
         JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = ANY (x.indkey)
         JOIN pg_collation l ON l.oid = a.attcollation
         WHERE n.nspname = current_schema() AND a.atttypid = 'text'::regtype
           AND t.relname NOT LIKE '\\_\\_diesel%'
         ORDER BY 1, 2",
    )
    .load(c)
    .await)
    .expect("indexed text columns");
    assert!(
        rows.iter()
            .any(|r| (r.t.as_str(), r.c.as_str()) == ("identities", "oid")),
        "the query sees the indexed columns: {rows:?}"
    );
    let wrong: Vec<String> = rows
        .iter()
        .filter(|r| {
            let read = READ_BY_PEOPLE.contains(&(r.t.as_str(), r.c.as_str()));
            (r.collation == "C") == read
        })
        .map(|r| format!("{}.{} ({})", r.t, r.c, r.collation))
        .collect();
    assert!(
        wrong.is_empty(),
        "indexed text columns whose collation is not the expected one (\"C\" for identifiers, the database's for names people read): {wrong:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_table_refuses_edits_on_both_backends() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let t = TestDb::new(backend).await;
        let mut conn = t.db.conn().await.expect("conn");
        clavis_audit::append_now(
            &mut conn,
            crate::fixtures::t0(),
            vec![clavis_audit::AuditEvent::new(
                clavis_core::Actor::Cli("it".into()),
                clavis_core::AuditAction::SyncFinished,
                None,
                serde_json::json!({}),
            )],
        )
        .await
        .expect("append");
        let r = with_conn!(&mut conn, c => diesel::sql_query("UPDATE audit_events SET actor = 'mallory'").execute(c).await);
        assert!(r.is_err(), "{backend:?}: update must be refused");
        let r = with_conn!(&mut conn, c => diesel::sql_query("DELETE FROM audit_events").execute(c).await);
        assert!(r.is_err(), "{backend:?}: delete must be refused");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_assertion_is_recorded_once_until_it_expires_on_both_backends() {
    use clavis_store::models::UsedAssertions;
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let t = TestDb::new(backend).await;
        let mut conn = t.db.conn().await.expect("conn");
        let first = UsedAssertions::record(&mut conn, &"dpi".into(), "j1", 1_000, 900).await;
        assert!(first.expect("record"), "{backend:?}: first use");
        let again = UsedAssertions::record(&mut conn, &"dpi".into(), "j1", 1_000, 950).await;
        assert!(!again.expect("record"), "{backend:?}: replay seen");
        let other = UsedAssertions::record(&mut conn, &"dui".into(), "j1", 1_000, 950).await;
        assert!(other.expect("record"), "{backend:?}: jti is per client");
        // Once expired it is taken over (its exp would refuse it anyway),
        // then remembered until its new end.
        let later = UsedAssertions::record(&mut conn, &"dpi".into(), "j1", 2_000, 1_000).await;
        assert!(
            later.expect("record"),
            "{backend:?}: an expired entry is taken over"
        );
        let replay = UsedAssertions::record(&mut conn, &"dpi".into(), "j1", 2_000, 1_500).await;
        assert!(!replay.expect("record"), "{backend:?}: until its new end");
    }
}

/// Several `clavis` processes started at once on one new SQLite database
/// (a service starting while an operator runs a command, two units
/// starting together) all wait their turn: each migrates or finds nothing
/// pending, none fails on "database is locked" or on a table another one
/// just created. Three rounds of four, each on a fresh database.
#[test]
fn processes_starting_at_once_on_a_new_sqlite_database_all_succeed() {
    for round in 0..3 {
        let dir = tempfile::tempdir().expect("dir");
        let cfg = dir.path().join("clavis.toml");
        std::fs::write(
            &cfg,
            format!("state_dir = \"{}\"\n", dir.path().join("state").display()),
        )
        .expect("config");
        let spawn = |args: &[&str]| {
            std::process::Command::new(env!("CARGO_BIN_EXE_clavis"))
                .arg("--config")
                .arg(&cfg)
                .args(args)
                .env("CLAVIS_LANG", "en")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("the clavis binary starts")
        };
        let children = vec![
            spawn(&["migrate"]),
            spawn(&["identity", "list", "--json"]),
            spawn(&["migrate"]),
            spawn(&["identity", "list", "--json"]),
        ];
        for child in children {
            let out = child.wait_with_output().expect("waits");
            assert!(
                out.status.success(),
                "round {round}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let db = dir.path().join("state/clavis.db");
        assert!(db.exists(), "round {round}: the database was created");
    }
}

crate::support::on_both_backends!(
    audit_events_appended_at_once_outside_transactions_keep_one_chain,
    identities_from_before_matching_keys_get_them_when_the_migration_runs,
    an_identity_written_again_keeps_its_matching_keys_true,
    a_batch_of_audit_events_is_stored_as_given,
    an_audit_append_that_fails_midway_keeps_nothing_of_it,
    lone_audit_events_chain_alike_whatever_they_hold,
    more_rows_than_a_statement_takes_are_written_and_upserted_whole,
);

/// More rows than one statement takes (10,000 as arrays on PostgreSQL, 500
/// on SQLite) are all written, then upserted: every column set takes the
/// proposed value, absent values stay absent, the rows split between
/// statements are not lost or written twice, and of two rows with one key
/// in a call the last is kept (PostgreSQL would refuse both).
async fn more_rows_than_a_statement_takes_are_written_and_upserted_whole(backend: Backend) {
    use clavis_store::models::Account;
    let t = TestDb::new(backend).await;
    let oids: Vec<clavis_core::Oid> = (0..3).map(|_| clavis_core::Oid::new_random()).collect();
    let account = |i: usize, enabled: bool, at: i64| Account {
        login: format!("u{i:05}"),
        oid: oids[(i + at as usize) % 3],
        source: format!("ad{at}"),
        enabled,
        disabled_reason: (!enabled && i.is_multiple_of(2)).then(|| format!("raison {i}")),
        created_at: at,
        updated_at: at,
    };
    let n = 10_007;
    let mut conn = t.db.conn().await.expect("conn");
    let first: Vec<Account> = (0..n).map(|i| account(i, true, 1)).collect();
    let mut again: Vec<Account> = (0..n).map(|i| account(i, i.is_multiple_of(4), 2)).collect();
    let mut with_twice = again.clone();
    with_twice.insert(1, account(0, true, 4));
    with_twice.push(account(0, false, 3));
    again[0] = account(0, false, 3);
    for rows in [first, with_twice] {
        conn.transaction(async |tx: &mut clavis_store::DbConn| Account::upsert_all(tx, rows).await)
            .await
            .expect("upsert");
    }
    let logins: Vec<String> = again.iter().map(|a| a.login.clone()).collect();
    let mut stored = Account::find_many(&mut conn, &logins).await.expect("read");
    stored.sort_by(|a, b| a.login.cmp(&b.login));
    assert_eq!(stored.len(), n);
    assert_eq!(stored, again);
}

/// A batch of events (a sync page's, written as one statement of arrays on
/// PostgreSQL) is stored as given, absent fields as absent, and chains.
async fn a_batch_of_audit_events_is_stored_as_given(backend: Backend) {
    use clavis_store::models::AuditEventRow;
    let t = TestDb::new(backend).await;
    let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).expect("now");
    let events: Vec<clavis_audit::AuditEvent> = (0..40)
        .map(|i| {
            let mut e = clavis_audit::AuditEvent::new(
                clavis_core::Actor::Cli(format!("op-{i}")),
                clavis_core::AuditAction::IdentityCreated,
                (i % 2 == 0).then(|| format!("cible-{i}")),
                serde_json::json!({"n": i, "nom": "Hélène d'Arc"}),
            );
            e.source = (i % 3 == 0).then(|| "rh".to_string());
            e.sync_run_id = (i % 5 == 0).then(|| format!("run-{i}"));
            e.client_addr = (i % 7 == 0).then(|| "10.0.0.7".to_string());
            e
        })
        .collect();
    let mut conn = t.db.conn().await.expect("conn");
    conn.transaction(async |tx: &mut clavis_store::DbConn| {
        clavis_audit::append(tx, now, events.clone()).await
    })
    .await
    .expect("append");
    let stored = AuditEventRow::page(&mut conn, 0, 100).await.expect("read");
    assert_eq!(stored.len(), 40);
    for (i, (row, e)) in stored.iter().zip(&events).enumerate() {
        assert_eq!(row.seq, i as i64 + 1);
        assert_eq!(row.occurred_at, now.timestamp_micros());
        assert_eq!(row.actor, e.actor.to_string());
        assert_eq!(row.action, e.action.as_str());
        assert_eq!(row.target, e.target);
        assert_eq!(row.changes, e.changes.to_string());
        assert_eq!(row.source, e.source);
        assert_eq!(row.sync_run_id, e.sync_run_id);
        assert_eq!(row.client_addr, e.client_addr);
        assert_eq!(row.request_id, None);
    }
    let report = clavis_audit::verify(&mut conn).await.expect("verify");
    assert_eq!((report.checked, report.first_broken), (40, None));
}

/// The matching keys of identity `oid`, as stored.
async fn keys(conn: &mut clavis_store::DbConn, oid: clavis_core::Oid) -> Vec<String> {
    clavis_store::models::identity::MatchKeyRow::of_identity(conn, oid)
        .await
        .expect("keys")
}

/// Identities written before matching keys existed get them when the
/// migration that made them runs, and any identity found without keys
/// later gets them when the migrations next run, computed as every write
/// computes them;
/// an identity without a birth date has none (matching on traits needs
/// one).
async fn identities_from_before_matching_keys_get_them_when_the_migration_runs(backend: Backend) {
    use clavis_core::LifecycleStatus::Active;
    let t = TestDb::new(backend).await;
    let helene =
        clavis_testkit::people::insert_person(&t.db, "Dupont-Moréau", "Hélène", Active).await;
    let undated = clavis_testkit::people::insert_person(&t.db, "Roux", "Hugo", Active).await;
    let mut conn = t.db.conn().await.expect("conn");
    // Written now: the keys came with the row.
    assert_eq!(
        keys(&mut conn, helene).await,
        vec!["1990-01-01|helene|dupontmoreau"]
    );
    // The database as it was before the migration, with a married name.
    for sql in [
        "DROP TABLE identity_match_keys",
        "DELETE FROM __diesel_schema_migrations WHERE version = '20261212000001'",
        "UPDATE identities SET used_family_name = 'Martin'",
        "UPDATE identities SET birth_date = NULL WHERE birth_family_name = 'Roux'",
    ] {
        with_conn!(&mut conn, c => diesel::sql_query(sql).execute(c).await).expect(sql);
    }
    drop(conn);
    let ran = migrate::run(&t.db, Direction::Up).await.expect("migrate");
    assert_eq!(ran, vec!["20261212000001".to_string()]);
    // Read through new connections, as a node started after the upgrade
    // does: the table made again has its columns in the database's
    // collation (the later migration that collates identifiers is not run
    // again here), and PostgreSQL refuses a statement prepared before on a
    // result whose collation changed.
    let db = clavis_store::Db::open(&t.url, 4).expect("open pool");
    let mut conn = db.conn().await.expect("conn");
    assert_eq!(
        keys(&mut conn, helene).await,
        vec!["1990-01-01|helene|dupontmoreau", "1990-01-01|helene|martin"]
    );
    assert!(keys(&mut conn, undated).await.is_empty());
    // An identity written since without its keys (a binary that did not
    // know them): the next run of the migrations gives it them back.
    with_conn!(&mut conn, c => diesel::sql_query("DELETE FROM identity_match_keys")
        .execute(c)
        .await)
    .expect("delete");
    drop(conn);
    assert!(
        migrate::run(&db, Direction::Up)
            .await
            .expect("migrate")
            .is_empty()
    );
    let mut conn = db.conn().await.expect("conn");
    assert_eq!(
        keys(&mut conn, helene).await,
        vec!["1990-01-01|helene|dupontmoreau", "1990-01-01|helene|martin"]
    );
}

/// Writing an identity again (as a sync does: before and after) keeps its
/// matching keys true whether only unindexed columns changed (written
/// without the indexed ones, keys untouched) or its names did.
async fn an_identity_written_again_keeps_its_matching_keys_true(backend: Backend) {
    use clavis_core::LifecycleStatus::Active;
    use clavis_store::models::IdentityRow;
    let t = TestDb::new(backend).await;
    let oid = clavis_testkit::people::insert_person(&t.db, "Martin", "Claire", Active).await;
    let mut conn = t.db.conn().await.expect("conn");
    let before = IdentityRow::find(&mut conn, oid)
        .await
        .expect("find")
        .expect("row");
    // Only the e-mail: the keys stay.
    let mut after = before.clone();
    after.email = Some("claire.martin@chu-test.fr".into());
    IdentityRow::update_changed(&mut conn, vec![(before.clone(), after.clone())])
        .await
        .expect("update");
    assert_eq!(
        IdentityRow::find(&mut conn, oid).await.expect("find"),
        Some(after.clone())
    );
    assert_eq!(keys(&mut conn, oid).await, vec!["1990-01-01|claire|martin"]);
    // A married name and a suspension: written, keys and all.
    let mut married = after.clone();
    married.used_family_name = Some("Durand".into());
    married.status = clavis_core::LifecycleStatus::Suspended;
    IdentityRow::update_changed(&mut conn, vec![(after, married.clone())])
        .await
        .expect("update");
    assert_eq!(
        IdentityRow::find(&mut conn, oid).await.expect("find"),
        Some(married.clone())
    );
    assert_eq!(
        keys(&mut conn, oid).await,
        vec!["1990-01-01|claire|durand", "1990-01-01|claire|martin"]
    );
    // Born another day, as HR corrected it: the old keys are gone.
    let mut corrected = married.clone();
    corrected.birth_date = Some("1990-01-02".into());
    IdentityRow::update_changed(&mut conn, vec![(married, corrected)])
        .await
        .expect("update");
    assert_eq!(
        keys(&mut conn, oid).await,
        vec!["1990-01-02|claire|durand", "1990-01-02|claire|martin"]
    );
}

/// Events recorded at once from several connections (two nodes, or two
/// tasks), each without a transaction of its own: each append reserves the
/// head and moves it in one transaction (for a lone event on PostgreSQL,
/// one statement), so the chain never forks.
async fn audit_events_appended_at_once_outside_transactions_keep_one_chain(backend: Backend) {
    let t = TestDb::new(backend).await;
    let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).expect("now");
    let mut writers = Vec::new();
    for w in 0..4 {
        let db = t.db.clone();
        writers.push(tokio::spawn(async move {
            let mut conn = db.conn().await.expect("conn");
            assert!(!conn.in_transaction());
            for i in 0..25 {
                let event = |n: usize| {
                    clavis_audit::AuditEvent::new(
                        clavis_core::Actor::Cli(format!("writer-{w}")),
                        clavis_core::AuditAction::ApiTokenCreated,
                        Some(format!("{w}-{i}-{n}")),
                        serde_json::json!({}),
                    )
                };
                // Mostly one event (on PostgreSQL chained by the server),
                // every fifth time two (chained here).
                let events = if i % 5 == 4 {
                    vec![event(0), event(1)]
                } else {
                    vec![event(0)]
                };
                clavis_audit::append(&mut conn, now, events)
                    .await
                    .expect("recorded");
            }
        }));
    }
    for w in writers {
        w.await.expect("writer");
    }
    let mut conn = t.db.conn().await.expect("conn");
    let report = clavis_audit::verify(&mut conn).await.expect("verify");
    assert_eq!(report.first_broken, None, "{report:?}");
    assert_eq!(report.checked, 4 * 30);
}

/// Events appended one at a time (on PostgreSQL the server chains each:
/// it hashes the link, the previous hash and the sequence number, before
/// the bytes Clavis hashed of the rest) and a few together (chained here)
/// are stored as given and verify as one chain, whatever their text holds:
/// accents, quotes, emoji, an empty target beside an absent one, a long
/// change, with and without a request id.
async fn lone_audit_events_chain_alike_whatever_they_hold(backend: Backend) {
    use clavis_store::models::AuditEventRow;
    let t = TestDb::new(backend).await;
    let now = chrono::DateTime::from_timestamp(1_800_000_000, 123_456_000).expect("now");
    let long = "é".repeat(40_000);
    let texts = [
        "Hélène d'Arc \"la Pucelle\" \\ \t\n",
        "🩺 病院 ß",
        "",
        "\u{1}\u{7f}",
        long.as_str(),
    ];
    let event = |i: usize| {
        let text = texts[i % texts.len()];
        let mut e = clavis_audit::AuditEvent::new(
            clavis_core::Actor::Cli(format!("op-{text}")),
            clavis_core::AuditAction::IdentityUpdated,
            (!i.is_multiple_of(3)).then(|| text.to_string()),
            serde_json::json!({"i": i, "texte": text}),
        );
        e.source = i.is_multiple_of(2).then(|| text.to_string());
        e.sync_run_id = (i % 4 == 1).then(|| format!("run-{text}"));
        e.client_addr = (i % 5 == 2).then(|| "2001:db8::7".to_string());
        e
    };
    let mut conn = t.db.conn().await.expect("conn");
    let mut sent = Vec::new();
    for i in 0..12 {
        let request = (i % 2 == 1).then(|| format!("req-{i}-é"));
        let events = if i == 6 {
            vec![event(i), event(i + 100)]
        } else {
            vec![event(i)]
        };
        sent.extend(events.iter().cloned().map(|e| (e, request.clone())));
        let append = clavis_audit::append_now(&mut conn, now, events);
        match request {
            Some(r) => clavis_audit::REQUEST_ID.scope(r, append).await,
            None => append.await,
        }
        .expect("append");
    }
    let stored = AuditEventRow::page(&mut conn, 0, 100).await.expect("read");
    assert_eq!(stored.len(), sent.len(), "{backend:?}");
    for (i, (row, (e, request))) in stored.iter().zip(&sent).enumerate() {
        let at = format!("{backend:?}, event {i}");
        assert_eq!(row.seq, i as i64 + 1, "{at}");
        assert_eq!(row.occurred_at, now.timestamp_micros(), "{at}");
        assert_eq!(row.actor, e.actor.to_string(), "{at}");
        assert_eq!(row.action, e.action.as_str(), "{at}");
        assert_eq!(row.target, e.target, "{at}");
        assert_eq!(row.changes, e.changes.to_string(), "{at}");
        assert_eq!(row.source, e.source, "{at}");
        assert_eq!(row.sync_run_id, e.sync_run_id, "{at}");
        assert_eq!(row.client_addr, e.client_addr, "{at}");
        assert_eq!(&row.request_id, request, "{at}");
    }
    assert_eq!(
        AuditEventRow::head(&mut conn).await.expect("head"),
        (stored.len() as i64, stored[stored.len() - 1].hash.clone()),
        "{backend:?}: the head is the last event"
    );
    // Each stored hash is the one Clavis computes again over the row.
    let report = clavis_audit::verify(&mut conn).await.expect("verify");
    assert_eq!(
        (report.checked, report.first_broken),
        (sent.len() as i64, None),
        "{backend:?}"
    );
    // The statement was prepared once on this connection and used again
    // (a statement prepared at each use costs a round trip more, under the
    // head's lock).
    if matches!(backend, Backend::Postgres) {
        let prepared = setting(
            &mut conn,
            "SELECT count(*)::text AS value FROM pg_prepared_statements \
             WHERE statement LIKE 'WITH h AS (SELECT seq + 1 AS seq, hash FROM audit_head%'",
        )
        .await;
        assert_eq!(prepared, "1");
    }
}

/// Two transactions on PostgreSQL append at the same moment, one with the
/// head's lock held until it commits: the other waits for the lock
/// (`pg_stat_activity` shows it), then chains after the head the first
/// committed. Both ways round: a lone event (chained by the server in one
/// statement) waiting behind two events (reserved, chained here), and two
/// events waiting behind a lone one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_waiting_for_the_head_chains_after_what_the_holder_committed() {
    use clavis_store::models::AuditEventRow;
    let t = TestDb::new(Backend::Postgres).await;
    let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).expect("now");
    let events = |who: &str, n: usize| -> Vec<clavis_audit::AuditEvent> {
        (0..n)
            .map(|i| {
                clavis_audit::AuditEvent::new(
                    clavis_core::Actor::Cli(who.to_string()),
                    clavis_core::AuditAction::ApiTokenCreated,
                    Some(format!("{who}-{i}")),
                    serde_json::json!({}),
                )
            })
            .collect()
    };
    let mut watcher = t.db.conn().await.expect("watcher conn");
    for (holding, waiting) in [(2, 1), (1, 2)] {
        let (appended_tx, appended) = tokio::sync::oneshot::channel::<()>();
        let (commit_tx, commit) = tokio::sync::oneshot::channel::<()>();
        let db = t.db.clone();
        let holder_events = events("holder", holding);
        let holder = tokio::spawn(async move {
            let mut conn = db.conn().await.expect("holder conn");
            conn.transaction(async |tx: &mut clavis_store::DbConn| {
                clavis_audit::append(tx, now, holder_events).await?;
                appended_tx.send(()).expect("the test waits");
                commit.await.expect("the test says when");
                Ok::<(), clavis_audit::AuditError>(())
            })
            .await
            .expect("the holder commits");
        });
        appended.await.expect("the holder appended");
        let db = t.db.clone();
        let waiter_events = events("waiter", waiting);
        let waiter = tokio::spawn(async move {
            let mut conn = db.conn().await.expect("waiter conn");
            clavis_audit::append_now(&mut conn, now, waiter_events)
                .await
                .expect("the waiter appends");
        });
        // The waiter is blocked on the head's row, not merely slow.
        until_one_waits_for_a_lock(&mut watcher, &waiter).await;
        commit_tx.send(()).expect("the holder waits");
        holder.await.expect("holder");
        waiter.await.expect("waiter");
    }
    let stored = AuditEventRow::page(&mut watcher, 0, 100)
        .await
        .expect("read");
    let order: Vec<String> = stored
        .iter()
        .map(|r| r.target.clone().unwrap_or_default())
        .collect();
    assert_eq!(
        order,
        [
            "holder-0", "holder-1", "waiter-0", "holder-0", "waiter-0", "waiter-1"
        ],
        "each waiter chained after its holder's events"
    );
    assert_eq!(
        AuditEventRow::head(&mut watcher).await.expect("head"),
        (6, stored[5].hash.clone())
    );
    let report = clavis_audit::verify(&mut watcher).await.expect("verify");
    assert_eq!((report.checked, report.first_broken), (6, None));
}

/// Events appended together, one of which cannot be written (its sequence
/// number taken), leave nothing of theirs: neither the others (written
/// before or after it; on PostgreSQL a few events and the head are sent
/// together, pipelined) nor the head's move. The connection that failed
/// serves the next append, which chains where the head stayed.
async fn an_audit_append_that_fails_midway_keeps_nothing_of_it(backend: Backend) {
    use clavis_store::models::AuditEventRow;
    let t = TestDb::new(backend).await;
    let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).expect("now");
    let event = |target: &str| {
        clavis_audit::AuditEvent::new(
            clavis_core::Actor::Cli("it".into()),
            clavis_core::AuditAction::ApiTokenCreated,
            Some(target.into()),
            serde_json::json!({}),
        )
    };
    let mut conn = t.db.conn().await.expect("conn");
    clavis_audit::append_now(&mut conn, now, vec![event("a"), event("b")])
        .await
        .expect("first append");
    let before = AuditEventRow::head(&mut conn).await.expect("head");
    assert_eq!(before.0, 2);
    // Sequence number 4 taken outside the chain: of the next three events
    // (3, 4, 5), the second cannot be written.
    with_conn!(&mut conn, c => diesel::sql_query(
        "INSERT INTO audit_events (seq, id, occurred_at, actor, action, target, changes, \
         source, sync_run_id, client_addr, prev_hash, hash, request_id) \
         VALUES (4, 'squatter', 0, 'cli:x', 'x', NULL, '{}', NULL, NULL, NULL, '', '', NULL)",
    )
    .execute(c)
    .await)
    .expect("squatter");
    let three = vec![event("c"), event("d"), event("e")];
    refused_on_a_taken_seq(&mut conn, now, three, &format!("{backend:?}, three")).await;
    let kept: Vec<AuditEventRow> = AuditEventRow::page(&mut conn, 0, 10).await.expect("page");
    let targets: Vec<Option<&str>> = kept.iter().map(|r| r.target.as_deref()).collect();
    assert_eq!(
        targets,
        vec![Some("a"), Some("b"), None],
        "{backend:?}: nothing of the failed append is kept"
    );
    clavis_audit::append_now(&mut conn, now, vec![event("f")])
        .await
        .expect("the same connection appends again");
    // A lone event next (on PostgreSQL chained by the server in one
    // statement) would be 4: it fails whole too, and the head stays on 3.
    assert_eq!(AuditEventRow::head(&mut conn).await.expect("head").0, 3);
    let lone = vec![event("g")];
    refused_on_a_taken_seq(&mut conn, now, lone, &format!("{backend:?}, lone")).await;
    // The three chained events verify; the row put outside the chain is
    // found for what it is.
    let report = clavis_audit::verify(&mut conn).await.expect("verify");
    assert_eq!(report.checked, 3, "{backend:?}: {report:?}");
    let broken = report.first_broken.expect("the squatter is found");
    assert_eq!((broken.seq, broken.reason.as_str()), (4, "beyond_head"));
}

/// Appends `events`, which must fail on the sequence number they would
/// take (taken outside the chain), and checks the head did not move.
async fn refused_on_a_taken_seq(
    conn: &mut clavis_store::DbConn,
    now: chrono::DateTime<chrono::Utc>,
    events: Vec<clavis_audit::AuditEvent>,
    at: &str,
) {
    use clavis_store::models::AuditEventRow;
    let head = AuditEventRow::head(conn).await.expect("head");
    let failed = clavis_audit::append_now(conn, now, events).await;
    let failed = failed.expect_err("the append must fail").to_string();
    assert!(
        failed.to_lowercase().contains("unique"),
        "{at}: it fails on the sequence number taken: {failed}"
    );
    assert_eq!(
        AuditEventRow::head(conn).await.expect("head"),
        head,
        "{at}: the head did not move"
    );
}

/// The backend serving a pooled PostgreSQL connection is ended by the
/// server (an administrator's `pg_terminate_backend`, a restart): that
/// connection is never handed out again, and the next checkout answers
/// from a new backend. The pool checks a connection not handed out for a
/// while with a query (here every one: `open_pinging_after(ZERO)`); one
/// whose socket this node saw closed is dropped before, whatever the time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgresql_connection_the_server_ended_is_not_handed_out() {
    const PID: &str = "SELECT pg_backend_pid()::text AS value";
    let t = TestDb::new(Backend::Postgres).await;
    let db = clavis_store::Db::open_pinging_after(&t.url, 1, std::time::Duration::ZERO)
        .expect("open pool");
    let first = setting(&mut db.conn().await.expect("conn"), PID).await;
    let mut admin = t.db.conn().await.expect("admin conn");
    let ended = setting(
        &mut admin,
        &format!("SELECT pg_terminate_backend({first}, 60000)::text AS value"),
    )
    .await;
    assert_eq!(ended, "true", "the backend {first} ended");
    let mut conn = db
        .conn()
        .await
        .expect("a connection after the end of the first");
    // `setting` fails the test if the connection handed out does not answer.
    let second = setting(&mut conn, PID).await;
    assert_ne!(second, first, "a new backend serves it");
}

/// A sync's statistics refresh on PostgreSQL analyses the tables that
/// changed more than autovacuum's threshold (50 rows and a tenth) since
/// their last analysis, and only those.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_tables_that_grew_are_analysed_again() {
    use clavis_core::LifecycleStatus::Active;
    let t = TestDb::new(Backend::Postgres).await;
    for i in 0..60 {
        clavis_testkit::people::insert_person(&t.db, &format!("Nom{i}"), "Marie", Active).await;
    }
    let mut conn = t.db.conn().await.expect("conn");
    let tuples = async |conn: &mut clavis_store::DbConn, table: &str| -> f32 {
        let sql = format!(
            "SELECT reltuples::text AS value FROM pg_class WHERE oid = '{table}'::regclass"
        );
        setting(conn, &sql).await.parse().expect("reltuples")
    };
    // The inserting connections report their counts when idle; wait for
    // them (at most 10 s) rather than for a fixed time.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let n: i64 = setting(
            &mut conn,
            "SELECT n_mod_since_analyze::text AS value FROM pg_stat_user_tables WHERE relname = 'identities'",
        )
        .await
        .parse()
        .expect("n_mod_since_analyze");
        if n >= 60 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "counts never reported: {n}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        tuples(&mut conn, "identities").await < 1.0,
        "never analysed yet"
    );
    let target_sql = "SELECT current_setting('default_statistics_target') AS value";
    let target = setting(&mut conn, target_sql).await;
    let analysed = conn
        .refresh_grown_statistics(&["identities", "accounts"])
        .await
        .expect("refresh");
    assert_eq!(analysed, ["identities"]);
    assert_eq!(
        tuples(&mut conn, "identities").await,
        60.0,
        "grew: analysed"
    );
    assert!(
        tuples(&mut conn, "accounts").await < 0.0,
        "unchanged: never analysed (-1)"
    );
    // Sampled at a statistics target of 10: 60 distinct names make a
    // histogram of 11 bounds (60 at the server's default of 100), and the
    // connection keeps the server's target for what it runs next, which
    // analyses at full size again (the end of a sync).
    let bounds = "SELECT array_length(histogram_bounds, 1)::text AS value FROM pg_stats \
                  WHERE tablename = 'identities' AND attname = 'birth_family_name'";
    assert_eq!(setting(&mut conn, bounds).await, "11");
    assert_eq!(setting(&mut conn, target_sql).await, target);
    conn.refresh_statistics(&analysed).await.expect("full");
    assert_ne!(setting(&mut conn, bounds).await, "11");
}

#[derive(QueryableByName)]
struct Setting {
    #[diesel(sql_type = Text)]
    value: String,
}

/// Returns once one session of the test's PostgreSQL database waits for
/// a lock (`pg_stat_activity`), which must be `waiter`'s: it has not
/// finished. Fails after 30 s.
pub(crate) async fn until_one_waits_for_a_lock<T>(
    watcher: &mut clavis_store::DbConn,
    waiter: &tokio::task::JoinHandle<T>,
) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let waiting_on_lock = setting(
            watcher,
            "SELECT count(*)::text AS value FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .await;
        if waiting_on_lock == "1" {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the waiter never waited for a lock"
        );
        assert!(!waiter.is_finished(), "the waiter did not wait");
        tokio::task::yield_now().await;
    }
}

/// The one text value `sql` answers.
async fn setting(conn: &mut clavis_store::DbConn, sql: &str) -> String {
    with_conn!(conn, c => diesel::sql_query(sql).get_result::<Setting>(c).await)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .value
}

/// Bulk work on PostgreSQL plans each statement for the tables as they are
/// and costs random reads near sequential ones, for its own transaction
/// only, and never raises a cost the server already set lower.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_planning_settings_last_one_transaction() {
    let t = TestDb::new(Backend::Postgres).await;
    let mut conn = t.db.conn().await.expect("conn");
    let current = "SELECT current_setting('random_page_cost') || ' ' || current_setting('plan_cache_mode') AS value";
    let mode = setting(
        &mut conn,
        "SELECT current_setting('plan_cache_mode') AS value",
    )
    .await;
    for (server, inside) in [("4", "1.1"), ("1", "1")] {
        setting(
            &mut conn,
            &format!("SELECT set_config('random_page_cost', '{server}', false) AS value"),
        )
        .await;
        let seen = conn
            .transaction(async |tx: &mut clavis_store::DbConn| {
                tx.plan_for_current_sizes().await?;
                Ok::<_, clavis_store::StoreError>(setting(tx, current).await)
            })
            .await
            .expect("transaction");
        assert_eq!(
            seen,
            format!("{inside} force_custom_plan"),
            "server at {server}"
        );
        assert_eq!(
            setting(&mut conn, current).await,
            format!("{server} {mode}")
        );
    }
}
