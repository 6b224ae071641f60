//! Rows written by the hundred, one statement for many rows on each
//! backend: [`insert_rows!`](crate::db::insert_rows).

/// Rows per statement of [`insert_rows!`](crate::db::insert_rows) on
/// PostgreSQL: a message stays far below the protocol's 1 GB for rows of
/// the sizes a sync writes (a few hundred bytes to a few kilobytes).
pub(crate) const ROWS_PER_ARRAY_STATEMENT: usize = 10_000;

/// `INSERT INTO "table" ("cols") SELECT * FROM unnest($1, …)`, then `ON
/// CONFLICT ("key") DO UPDATE SET "c" = excluded."c", …` (or `DO NOTHING`
/// when nothing is to be set) when a conflict key is given. Names are
/// quoted, as diesel quotes them: a column named as a keyword (`user`,
/// `end`) is a column.
pub(crate) fn arrays_insert_sql(table: &str, cols: &[&str], key: &[&str], set: &[&str]) -> String {
    use std::fmt::Write;
    let quoted = |names: &[&str]| -> String {
        let names: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
        names.join(", ")
    };
    let mut sql = format!(
        "INSERT INTO \"{table}\" ({}) SELECT * FROM unnest(",
        quoted(cols)
    );
    for i in 1..=cols.len() {
        let sep = if i > 1 { ", " } else { "" };
        let _ = write!(sql, "{sep}${i}");
    }
    sql.push(')');
    if !key.is_empty() {
        let _ = write!(sql, " ON CONFLICT ({}) DO ", quoted(key));
        if set.is_empty() {
            sql.push_str("NOTHING");
        } else {
            let set: Vec<String> = set
                .iter()
                .map(|c| format!("\"{c}\" = excluded.\"{c}\""))
                .collect();
            let _ = write!(sql, "UPDATE SET {}", set.join(", "));
        }
    }
    sql
}

/// Inserts `rows` (a `Vec<Row>`, moved in), or upserts them, in the
/// caller's transaction: on PostgreSQL a statement whose parameters are
/// the columns, one array each (`INSERT … SELECT * FROM unnest($1, …)`,
/// [`ROWS_PER_ARRAY_STATEMENT`] rows at most); on SQLite, which has no
/// arrays, [`execute_batched!`](crate::execute_batched)'s statements of a
/// few hundred rows. Row by row, 500 rows of 22 columns are 11,000
/// parameters, each bound on both sides of the connection and parsed by the
/// server; as arrays they are 22. The server's CPU over a sync fell by a
/// third on HR and a fifth on AD (docs/operations.md, "The directory at
/// scale"), its planning, parsing and binding more than its execution.
///
/// ```text
/// insert_rows!(conn, rows, Row => table { col, … });
/// insert_rows!(conn, rows, Row => table { col, … } on conflict (key, …) set col, …,);
/// ```
///
/// Both backends' statements come from this one list of columns: each a
/// field of `Row` and a column of `table` of the same name. Every field of
/// `Row` must be listed (a missing one does not compile: the row is
/// destructured without `..`), and each array is bound with its column's
/// own SQL type (diesel's `SqlTypeOf`), so a field of another type does
/// not compile either. `set` lists the columns an existing row takes from
/// the proposed one (`excluded`), each name followed by a comma, so that
/// a macro can append a list of its own.
///
/// Rows of one call that share a conflict key are written once, the last
/// of them: SQLite would let the last win, and PostgreSQL refuses a
/// statement that meets the same row twice (which would fail the whole
/// page on PostgreSQL only). More rows than a statement takes are written
/// whole only inside a transaction (checked in debug builds).
macro_rules! insert_rows {
    ($conn:expr, $rows:expr, $Row:path => $table:ident { $($col:ident),+ $(,)? }
     $(on conflict ($($key:ident),+) set $($set:ident,)+)?) => {{
        let conn: &mut $crate::DbConn = $conn;
        let rows: ::std::vec::Vec<$Row> = $rows;
        debug_assert!(
            rows.len() <= $crate::db::ROWS_PER_STATEMENT || conn.in_transaction(),
            "more rows than a statement takes, outside a transaction"
        );
        // The last row of each conflict key.
        $(let rows = {
            let mut seen = ::std::collections::HashSet::new();
            let mut kept: ::std::vec::Vec<$Row> = rows
                .into_iter()
                .rev()
                .filter(|r| seen.insert(($(r.$key.clone(),)+)))
                .collect();
            kept.reverse();
            kept
        };)?
        // Every field listed: destructured without `..` (never run).
        let _every_field = |r: &$Row| {
            let $Row { $($col: _),+ } = r;
        };
        match conn {
            _ if rows.is_empty() => Ok::<(), $crate::StoreError>(()),
            $crate::DbConn::Pg(c) => {
                let c: &mut ::diesel_async::AsyncPgConnection = &mut **c;
                let sql = $crate::db::rows::arrays_insert_sql(
                    stringify!($table),
                    &[$(stringify!($col)),+],
                    &[$($(stringify!($key)),+)?],
                    &[$($(stringify!($set)),+)?],
                );
                let mut rows = rows;
                while !rows.is_empty() {
                    let rest = rows
                        .split_off(rows.len().min($crate::db::rows::ROWS_PER_ARRAY_STATEMENT));
                    $(let mut $col = ::std::vec::Vec::with_capacity(rows.len());)+
                    for r in rows {
                        $($col.push(r.$col);)+
                    }
                    let q = ::diesel::sql_query(sql.as_str());
                    $(let q = q.bind::<
                        ::diesel::sql_types::Array<::diesel::dsl::SqlTypeOf<$table::$col>>,
                        _,
                    >($col);)+
                    ::diesel_async::RunQueryDsl::execute(q, &mut *c).await?;
                    rows = rest;
                }
                Ok(())
            }
            _ => $crate::execute_batched!(conn, rows, |chunk| {
                let q = ::diesel::insert_into($table::table).values(chunk);
                $(let q = q
                    .on_conflict(($($table::$key),+))
                    .do_update()
                    .set(($(::diesel::ExpressionMethods::eq(
                        $table::$set,
                        ::diesel::upsert::excluded($table::$set),
                    ),)+));)?
                q
            }),
        }
    }};
}
pub(crate) use insert_rows;

#[cfg(test)]
mod tests {
    use super::arrays_insert_sql;

    #[test]
    fn the_statement_names_each_column_and_array_once() {
        assert_eq!(
            arrays_insert_sql("t", &["a", "b", "end"], &[], &[]),
            r#"INSERT INTO "t" ("a", "b", "end") SELECT * FROM unnest($1, $2, $3)"#
        );
        assert_eq!(
            arrays_insert_sql("t", &["a", "b", "c", "d"], &["a", "b"], &["c", "d"]),
            concat!(
                r#"INSERT INTO "t" ("a", "b", "c", "d") SELECT * FROM unnest($1, $2, $3, $4) "#,
                r#"ON CONFLICT ("a", "b") DO UPDATE SET "c" = excluded."c", "d" = excluded."d""#
            )
        );
        assert_eq!(
            arrays_insert_sql("t", &["a"], &["a"], &[]),
            r#"INSERT INTO "t" ("a") SELECT * FROM unnest($1) ON CONFLICT ("a") DO NOTHING"#
        );
    }
}
