//! `identities`: the reconciled golden record of each person.

use crate::JsonList;
use crate::db::insert_rows;
use crate::schema::identities::{self, dsl};
use crate::schema::identity_match_keys;
use crate::{DbConn, StoreError, with_conn};
use clavis_core::LifecycleStatus;
use clavis_core::Oid;
use clavis_core::names::match_key;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

/// One identity as stored. Lists (`birth_given_names`, `professions`) are
/// JSON arrays; the directory crate gives the typed view.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = identities)]
#[diesel(treat_none_as_null = true, treat_none_as_default_value = false)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct IdentityRow {
    pub oid: Oid,
    pub status: LifecycleStatus,
    pub birth_family_name: String,
    pub used_family_name: Option<String>,
    pub birth_given_names: JsonList<String>,
    pub birth_date: Option<String>,
    pub birth_place: Option<String>,
    pub birth_country: Option<String>,
    pub sex: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub rpps: Option<String>,
    pub adeli: Option<String>,
    pub contract_type: Option<String>,
    pub arrival_date: Option<String>,
    pub departure_date: Option<String>,
    pub professions: JsonList<String>,
    pub search_text: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub status_changed_at: i64,
}

/// The traits matching compares, and nothing else: what a sync loads for
/// the identities sharing a matching key with a page's records.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = identities)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct MatchTraits {
    pub oid: Oid,
    pub status: LifecycleStatus,
    pub birth_family_name: String,
    pub used_family_name: Option<String>,
    /// JSON array.
    pub birth_given_names: JsonList<String>,
    pub birth_date: Option<String>,
    pub birth_place: Option<String>,
    pub rpps: Option<String>,
}

/// The keys matching looks an identity up by
/// ([`clavis_core::names::match_key`]): one with its birth family name, one
/// with its used family name if it has another; none without a birth date
/// (matching on traits needs one).
pub fn match_keys(
    birth_date: Option<&str>,
    birth_given_names: &[String],
    birth_family_name: &str,
    used_family_name: Option<&str>,
) -> Vec<String> {
    let Some(date) = birth_date else {
        return Vec::new();
    };
    let given = birth_given_names.first().map(String::as_str);
    let mut keys = vec![match_key(date, given, birth_family_name)];
    if let Some(used) = used_family_name.map(|u| match_key(date, given, u))
        && used != keys[0]
    {
        keys.push(used);
    }
    keys
}

/// One matching key of one identity (`identity_match_keys`).
#[derive(Debug, Clone, PartialEq, Eq, Insertable, Queryable, Selectable)]
#[diesel(table_name = identity_match_keys)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct MatchKeyRow {
    pub match_key: String,
    pub oid: Oid,
}

impl MatchKeyRow {
    /// The keys of `row`.
    pub fn of(row: &IdentityRow) -> impl Iterator<Item = MatchKeyRow> + use<> {
        let oid = row.oid;
        match_keys(
            row.birth_date.as_deref(),
            &row.birth_given_names,
            &row.birth_family_name,
            row.used_family_name.as_deref(),
        )
        .into_iter()
        .map(move |match_key| MatchKeyRow { match_key, oid })
    }

    /// The keys of `oid`, in key order.
    pub async fn of_identity(conn: &mut DbConn, oid: Oid) -> Result<Vec<String>, StoreError> {
        Ok(with_conn!(conn, c => identity_match_keys::table
            .filter(identity_match_keys::oid.eq(oid))
            .order(identity_match_keys::match_key.asc())
            .select(identity_match_keys::match_key)
            .load(c)
            .await)?)
    }

    /// Inserts these keys (a statement for many, [`insert_rows!`]).
    pub async fn insert(conn: &mut DbConn, keys: Vec<MatchKeyRow>) -> Result<(), StoreError> {
        insert_rows!(conn, keys, MatchKeyRow => identity_match_keys { match_key, oid })
    }

    /// Writes the keys of these identities, forgetting the ones they had.
    async fn replace(conn: &mut DbConn, rows: &[IdentityRow]) -> Result<(), StoreError> {
        let oids: Vec<Oid> = rows.iter().map(|r| r.oid).collect();
        for chunk in oids.chunks(5_000) {
            with_conn!(conn, c => diesel::delete(
                identity_match_keys::table.filter(identity_match_keys::oid.eq_any(chunk)),
            )
            .execute(c)
            .await)?;
        }
        Self::insert(conn, rows.iter().flat_map(MatchKeyRow::of).collect()).await
    }
}

/// Writes identities with [`insert_rows!`] (a statement for many): inserts
/// them, or with columns to `set`, upserts them on their oid.
macro_rules! write_identities {
    ($conn:expr, $rows:expr $(, $($set:tt)+)?) => {
        insert_rows!($conn, $rows, IdentityRow => identities {
            oid, status, birth_family_name, used_family_name, birth_given_names, birth_date,
            birth_place, birth_country, sex, email, phone, rpps, adeli, contract_type,
            arrival_date, departure_date, professions, search_text, created_at, updated_at,
            status_changed_at,
        } $(on conflict (oid) set $($set)+)?)
    };
}

/// Appends to the call of `write_identities!` it is given, as the last of its
/// `set` columns, every column of `identities` that is neither indexed nor
/// a matching trait: what [`IdentityRow::update_changed`] writes alone, and
/// [`IdentityRow::update_all`] with the rest.
macro_rules! with_unindexed {
    ($m:ident!($($args:tt)*)) => {
        $m!($($args)* birth_place, birth_country, sex, email, phone, adeli, contract_type,
            arrival_date, departure_date, professions, search_text, created_at, updated_at,
            status_changed_at,)
    };
}

/// Whether `after` has the values `before` had in every indexed column and
/// in every trait its matching keys are made of: then
/// [`IdentityRow::update_changed`] leaves those columns and the keys alone.
fn same_index_entries(before: &IdentityRow, after: &IdentityRow) -> bool {
    before.oid == after.oid
        && before.status == after.status
        && before.rpps == after.rpps
        && before.birth_date == after.birth_date
        && before.birth_family_name == after.birth_family_name
        && before.used_family_name == after.used_family_name
        && before.birth_given_names == after.birth_given_names
}

/// Filters for listing identities.
#[derive(Debug, Clone, Default)]
pub struct IdentityFilter {
    /// Only this status.
    pub status: Option<LifecycleStatus>,
    /// Every word must appear in the normalised search text.
    pub search_words: Vec<String>,
    /// Page size.
    pub limit: i64,
    /// Rows to skip.
    pub offset: i64,
}

/// The `LIKE` pattern of each of a filter's search words.
fn like_patterns(filter: &IdentityFilter) -> Vec<String> {
    filter
        .search_words
        .iter()
        .map(|w| format!("%{}%", escape_like(w)))
        .collect()
}

/// The status of an identity, as a query both the async and the inline
/// connections run.
#[diesel::dsl::auto_type(no_type_alias)]
fn status_by_oid(oid: Oid) -> _ {
    dsl::identities.find(oid).select(dsl::status)
}

impl IdentityRow {
    /// Locks the rows of `oids` until the transaction ends, so that whoever
    /// recomputes these people (a sync batch, an operator's suspension)
    /// reads what the other committed. PostgreSQL only: SQLite's write
    /// transactions hold the database's write turn already.
    pub async fn lock_many(conn: &mut DbConn, oids: &[Oid]) -> Result<(), StoreError> {
        use diesel::QueryDsl;
        if let DbConn::Pg(c) = conn {
            let c: &mut diesel_async::AsyncPgConnection = c;
            let mut sorted = oids.to_vec();
            sorted.sort_unstable();
            sorted.dedup();
            for chunk in sorted.chunks(5_000) {
                let _: Vec<Oid> = dsl::identities
                    .filter(dsl::oid.eq_any(chunk))
                    .order(dsl::oid.asc())
                    .select(dsl::oid)
                    .for_update()
                    .load(c)
                    .await
                    .map_err(StoreError::from)?;
            }
        }
        Ok(())
    }

    /// Finds an identity by oid.
    pub async fn find(conn: &mut DbConn, oid: Oid) -> Result<Option<Self>, StoreError> {
        Ok(with_conn!(conn, c => dsl::identities
            .find(oid)
            .select(IdentityRow::as_select())
            .first(c)
            .await
            .optional())?)
    }

    /// The status of an identity.
    pub async fn status_of(
        conn: &mut DbConn,
        oid: Oid,
    ) -> Result<Option<LifecycleStatus>, StoreError> {
        Ok(with_conn!(conn, c => status_by_oid(oid).first(c).await.optional())?)
    }

    /// [`IdentityRow::status_of`] for the login's check before its
    /// transaction: on SQLite it runs inline on the calling thread (see
    /// [`crate::db::InlineReaders`]), on PostgreSQL on a pooled connection.
    pub async fn read_status(
        db: &crate::Db,
        oid: Oid,
    ) -> Result<Option<LifecycleStatus>, StoreError> {
        match db.inline() {
            Some(inline) => {
                inline.read(|c| diesel::RunQueryDsl::first(status_by_oid(oid), c).optional())
            }
            None => Self::status_of(&mut db.conn().await?, oid).await,
        }
    }

    /// Finds identities by oid, in any order.
    pub async fn find_many(conn: &mut DbConn, oids: &[Oid]) -> Result<Vec<Self>, StoreError> {
        if oids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(with_conn!(conn, c => dsl::identities
            .filter(dsl::oid.eq_any(oids))
            .select(IdentityRow::as_select())
            .load(c)
            .await)?)
    }

    /// Identities holding this RPPS.
    pub async fn with_rpps(conn: &mut DbConn, rpps: &str) -> Result<Vec<Self>, StoreError> {
        Ok(with_conn!(conn, c => dsl::identities
            .filter(dsl::rpps.eq(rpps))
            .select(IdentityRow::as_select())
            .load(c)
            .await)?)
    }

    /// Identities whose scheduled dates call for a status change on `today`
    /// (`YYYY-MM-DD`): pending ones whose arrival date is reached, and
    /// non-departed ones whose departure date (last day worked) is past.
    pub async fn due_for_transition(
        conn: &mut DbConn,
        today: &str,
    ) -> Result<Vec<Self>, StoreError> {
        Ok(with_conn!(conn, c => dsl::identities
            .filter(
                dsl::status.eq(LifecycleStatus::Pending).and(dsl::arrival_date.le(today))
                    .or(dsl::status.ne(LifecycleStatus::Departed).and(dsl::departure_date.lt(today))),
            )
            .select(IdentityRow::as_select())
            .load(c)
            .await)?)
    }

    /// Lists identities, sorted by family then given names.
    pub async fn list(conn: &mut DbConn, filter: &IdentityFilter) -> Result<Vec<Self>, StoreError> {
        let rows = Self::page(conn, filter, false).await?;
        Ok(rows.into_iter().map(|(r, _)| r).collect())
    }

    /// One page of the identities matching `filter`, as [`list`](Self::list)
    /// gives it, and how many match in all, as [`count`](Self::count) says:
    /// for a search, in one pass over the table (`COUNT(*) OVER ()`,
    /// counted before the page is cut) where the two would scan it twice.
    /// Counts apart for a page past the end (no row to carry the total),
    /// and without a search: there the window would hold every identity
    /// before the page is cut, where a narrow count and a top-N sort do not.
    pub async fn list_counted(
        conn: &mut DbConn,
        filter: &IdentityFilter,
    ) -> Result<(Vec<Self>, i64), StoreError> {
        let counted = !filter.search_words.is_empty();
        let rows = Self::page(conn, filter, counted).await?;
        let total = match <[_]>::first(&rows) {
            Some((_, total)) if counted => *total,
            None if counted && filter.offset == 0 => 0,
            _ => Self::count(conn, filter).await?,
        };
        Ok((rows.into_iter().map(|(r, _)| r).collect(), total))
    }

    /// The page of [`list`](Self::list), each row with the number of rows
    /// matching in all when `counted` (0 otherwise).
    async fn page(
        conn: &mut DbConn,
        filter: &IdentityFilter,
        counted: bool,
    ) -> Result<Vec<(Self, i64)>, StoreError> {
        use diesel::dsl::sql;
        use diesel::sql_types::BigInt;
        let patterns = like_patterns(filter);
        let total = if counted {
            "COUNT(*) OVER ()"
        } else {
            "CAST(0 AS BIGINT)"
        };
        Ok(with_conn!(conn, c => {
            let mut q = dsl::identities
                .select((IdentityRow::as_select(), sql::<BigInt>(total)))
                .into_boxed();
            if let Some(s) = &filter.status {
                q = q.filter(dsl::status.eq(*s));
            }
            for p in &patterns {
                q = q.filter(dsl::search_text.like(p.clone()).escape('\\'));
            }
            q.order((dsl::birth_family_name.asc(), dsl::birth_given_names.asc(), dsl::oid.asc()))
                .limit(filter.limit)
                .offset(filter.offset)
                .load(c)
                .await
        })?)
    }

    /// How many identities match `filter`, whatever its page (`limit` and
    /// `offset` are ignored): the total a paged list reports.
    pub async fn count(conn: &mut DbConn, filter: &IdentityFilter) -> Result<i64, StoreError> {
        let patterns = like_patterns(filter);
        Ok(with_conn!(conn, c => {
            let mut q = dsl::identities.count().into_boxed();
            if let Some(s) = &filter.status {
                q = q.filter(dsl::status.eq(*s));
            }
            for p in &patterns {
                q = q.filter(dsl::search_text.like(p.clone()).escape('\\'));
            }
            q.get_result(c).await
        })?)
    }

    /// Inserts new identities (a statement for many), and their matching
    /// keys.
    pub async fn insert_all(conn: &mut DbConn, rows: Vec<IdentityRow>) -> Result<(), StoreError> {
        let keys: Vec<MatchKeyRow> = rows.iter().flat_map(MatchKeyRow::of).collect();
        write_identities!(conn, rows)?;
        MatchKeyRow::insert(conn, keys).await
    }

    /// Writes every column of these identities, which exist (read in the
    /// same transaction). Said as an insert that meets each existing row
    /// (`ON CONFLICT (oid) DO UPDATE`): both backends then take a few
    /// hundred rows per statement, where an `UPDATE` takes one. Columns
    /// this row does not hold (`rpps_verified_at`) are left as they are.
    /// Their matching keys are written again.
    pub async fn update_all(conn: &mut DbConn, rows: Vec<IdentityRow>) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        MatchKeyRow::replace(conn, &rows).await?;
        with_unindexed!(write_identities!(
            conn,
            rows,
            status,
            birth_family_name,
            used_family_name,
            birth_given_names,
            birth_date,
            rpps,
        ))
    }

    /// Writes these identities, each given as it was read in the same
    /// transaction and as it is now, like [`update_all`](Self::update_all).
    /// Those whose indexed values (status, birth date, RPPS) and matching
    /// traits are the same are written without those columns and keep
    /// their keys: SQLite rewrites an index entry for every indexed column
    /// a statement sets, changed or not, and most changes a sync makes (a
    /// login, an e-mail, a service) touch none of them.
    pub async fn update_changed(
        conn: &mut DbConn,
        changes: Vec<(IdentityRow, IdentityRow)>,
    ) -> Result<(), StoreError> {
        let (same, moved): (Vec<_>, Vec<_>) = changes
            .into_iter()
            .partition(|(before, after)| same_index_entries(before, after));
        Self::update_all(conn, moved.into_iter().map(|(_, after)| after).collect()).await?;
        let rows: Vec<IdentityRow> = same.into_iter().map(|(_, after)| after).collect();
        with_unindexed!(write_identities!(conn, rows,))
    }

    /// Records that the RPPS of `oid` was verified at `at` (a Pro Santé
    /// Connect link: RIE EXI 27).
    pub async fn mark_rpps_verified(
        conn: &mut DbConn,
        oid: Oid,
        at: i64,
    ) -> Result<(), StoreError> {
        with_conn!(conn, c => diesel::update(dsl::identities.find(oid))
            .set(dsl::rpps_verified_at.eq(Some(at)))
            .execute(c)
            .await)?;
        Ok(())
    }

    /// Forgets the RPPS verification of these identities (HR changed their
    /// RPPS: the new one was never verified).
    pub async fn clear_rpps_verification(
        conn: &mut DbConn,
        oids: &[Oid],
    ) -> Result<(), StoreError> {
        if oids.is_empty() {
            return Ok(());
        }
        with_conn!(conn, c => diesel::update(dsl::identities.filter(dsl::oid.eq_any(oids)))
            .set(dsl::rpps_verified_at.eq(None::<i64>))
            .execute(c)
            .await)?;
        Ok(())
    }

    /// When the RPPS of `oid` was last verified, if ever.
    pub async fn rpps_verified_at(conn: &mut DbConn, oid: Oid) -> Result<Option<i64>, StoreError> {
        Ok(with_conn!(conn, c => dsl::identities
            .find(oid)
            .select(dsl::rpps_verified_at)
            .first::<Option<i64>>(c)
            .await
            .optional())?
        .flatten())
    }

    /// The matching traits of identities holding any of these matching
    /// keys (see [`match_keys`]): an indexed lookup per key, however many
    /// people share a birth date. Two queries, each a plain index lookup:
    /// as one (`oid IN (SELECT …)`) PostgreSQL's planner may scan the
    /// identities instead.
    pub async fn with_match_keys(
        conn: &mut DbConn,
        keys: &[String],
    ) -> Result<Vec<MatchTraits>, StoreError> {
        let mut oids: Vec<Oid> = Vec::new();
        for chunk in keys.chunks(1_000) {
            oids.extend(with_conn!(conn, c => identity_match_keys::table
                .filter(identity_match_keys::match_key.eq_any(chunk))
                .select(identity_match_keys::oid)
                .load::<Oid>(c)
                .await)?);
        }
        oids.sort_unstable();
        oids.dedup();
        let mut found = Vec::with_capacity(oids.len());
        for chunk in oids.chunks(1_000) {
            found.extend(Self::traits_of(conn, chunk).await?);
        }
        Ok(found)
    }

    /// The matching traits of these identities.
    pub async fn traits_of(
        conn: &mut DbConn,
        oids: &[Oid],
    ) -> Result<Vec<MatchTraits>, StoreError> {
        if oids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(with_conn!(conn, c => dsl::identities
            .filter(dsl::oid.eq_any(oids))
            .select(MatchTraits::as_select())
            .load(c)
            .await)?)
    }

    /// Identities holding any of these RPPS.
    pub async fn with_rpps_any(
        conn: &mut DbConn,
        rpps: &[String],
    ) -> Result<Vec<Self>, StoreError> {
        if rpps.is_empty() {
            return Ok(Vec::new());
        }
        Ok(with_conn!(conn, c => dsl::identities
            .filter(dsl::rpps.eq_any(rpps))
            .select(IdentityRow::as_select())
            .load(c)
            .await)?)
    }
}

/// Escapes `%`, `_` and `\` for a LIKE pattern with `\` as escape.
fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}
