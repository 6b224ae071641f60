//! The queries behind the compliance indicators (`clavis_directory::
//! compliance`): who holds what, asked of the whole directory at once (a
//! few aggregate or set queries, not one per person).

use crate::schema::{
    accounts, authenticators, badges, habilitations, identities, psc_links, sso_sessions,
};
use crate::{DbConn, StoreError, with_conn};
use clavis_core::{AuthenticatorStatus, BadgeStatus, LifecycleStatus, LoginMethod, Oid};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

/// What the indicators need of one identity.
#[derive(Debug, Clone, PartialEq, Queryable)]
pub struct ScopeRow {
    pub oid: Oid,
    pub status: LifecycleStatus,
    /// JSON list of profession codes.
    pub professions: String,
    pub rpps: Option<String>,
    pub rpps_verified_at: Option<i64>,
    pub arrival_date: Option<String>,
    pub departure_date: Option<String>,
    pub status_changed_at: i64,
}

/// The identities in `statuses`, with what the indicators read.
pub async fn people(
    conn: &mut DbConn,
    statuses: &[LifecycleStatus],
) -> Result<Vec<ScopeRow>, StoreError> {
    use identities::dsl as i;
    Ok(with_conn!(conn, c => i::identities
        .filter(i::status.eq_any(statuses))
        .select((
            i::oid,
            i::status,
            i::professions,
            i::rpps,
            i::rpps_verified_at,
            i::arrival_date,
            i::departure_date,
            i::status_changed_at,
        ))
        .load(c)
        .await)?)
}

/// Everyone holding an authenticator that works at `now`: an active
/// security key, or an active badge (a temporary one not yet expired).
pub async fn usable_authenticator_holders(
    conn: &mut DbConn,
    now: i64,
) -> Result<Vec<Oid>, StoreError> {
    use authenticators::dsl as a;
    use badges::dsl as b;
    let mut keys: Vec<Oid> = with_conn!(conn, c => a::authenticators
        .filter(a::status.eq(AuthenticatorStatus::Active))
        .select(a::oid)
        .distinct()
        .load(c)
        .await)?;
    let cards: Vec<Oid> = with_conn!(conn, c => b::badges
        .filter(b::status.eq(BadgeStatus::Active))
        .filter(b::expires_at.is_null().or(b::expires_at.gt(now)))
        .select(b::oid)
        .distinct()
        .load(c)
        .await)?;
    keys.extend(cards);
    keys.sort_unstable();
    keys.dedup();
    Ok(keys)
}

/// When each person's first authenticator (key or badge) was made
/// (Unix seconds), for those who have one.
pub async fn first_authenticator_at(conn: &mut DbConn) -> Result<Vec<(Oid, i64)>, StoreError> {
    use authenticators::dsl as a;
    use badges::dsl as b;
    let keys: Vec<(Oid, Option<i64>)> = with_conn!(conn, c => a::authenticators
        .group_by(a::oid)
        .select((a::oid, diesel::dsl::min(a::created_at)))
        .load(c)
        .await)?;
    let cards: Vec<(Oid, Option<i64>)> = with_conn!(conn, c => b::badges
        .group_by(b::oid)
        .select((b::oid, diesel::dsl::min(b::created_at)))
        .load(c)
        .await)?;
    let mut first: std::collections::HashMap<Oid, i64> = std::collections::HashMap::new();
    for (oid, at) in keys.into_iter().chain(cards) {
        if let Some(at) = at {
            first
                .entry(oid)
                .and_modify(|x| *x = (*x).min(at))
                .or_insert(at);
        }
    }
    Ok(first.into_iter().collect())
}

/// What a departed person may still hold: for each kind, who holds it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StillActive {
    /// An enabled directory account.
    pub accounts: Vec<Oid>,
    /// A live SSO session.
    pub sessions: Vec<Oid>,
    /// An active security key.
    pub keys: Vec<Oid>,
    /// An active badge.
    pub badges: Vec<Oid>,
    /// A link to Pro Santé Connect neither revoked nor expired.
    pub psc_links: Vec<Oid>,
    /// A habilitation in an application.
    pub habilitations: Vec<Oid>,
}

/// Departed people who still hold anything that lets them in, by kind.
/// `today` (`YYYY-MM-DD`, local) tells which habilitations are over.
pub async fn departed_still_active(
    conn: &mut DbConn,
    now: i64,
    today: &str,
) -> Result<StillActive, StoreError> {
    use identities::dsl as i;
    let departed = || {
        i::identities
            .filter(i::status.eq(LifecycleStatus::Departed))
            .select(i::oid)
    };
    let accounts: Vec<Oid> = {
        use accounts::dsl as x;
        with_conn!(conn, c => x::accounts
            .filter(x::enabled.eq(true))
            .filter(x::oid.eq_any(departed()))
            .select(x::oid)
            .distinct()
            .load(c)
            .await)?
    };
    let sessions: Vec<Oid> = {
        use sso_sessions::dsl as x;
        with_conn!(conn, c => x::sso_sessions
            .filter(x::ended_at.is_null())
            .filter(x::expires_at.gt(now))
            .filter(x::oid.eq_any(departed()))
            .select(x::oid)
            .distinct()
            .load(c)
            .await)?
    };
    let keys: Vec<Oid> = {
        use authenticators::dsl as x;
        with_conn!(conn, c => x::authenticators
            .filter(x::status.eq(AuthenticatorStatus::Active))
            .filter(x::oid.eq_any(departed()))
            .select(x::oid)
            .distinct()
            .load(c)
            .await)?
    };
    let badges: Vec<Oid> = {
        use badges::dsl as x;
        with_conn!(conn, c => x::badges
            .filter(x::status.eq(BadgeStatus::Active))
            .filter(x::oid.eq_any(departed()))
            .select(x::oid)
            .distinct()
            .load(c)
            .await)?
    };
    let psc_links: Vec<Oid> = {
        use psc_links::dsl as x;
        with_conn!(conn, c => x::psc_links
            .filter(x::revoked_at.is_null())
            .filter(x::expires_at.gt(now))
            .filter(x::oid.eq_any(departed()))
            .select(x::oid)
            .distinct()
            .load(c)
            .await)?
    };
    // A habilitation past its last day opens nothing.
    let habilitations: Vec<Oid> = {
        use habilitations::dsl as x;
        with_conn!(conn, c => x::habilitations
            .filter(x::oid.eq_any(departed()))
            .filter(x::valid_until.is_null().or(x::valid_until.ge(today)))
            .select(x::oid)
            .distinct()
            .load(c)
            .await)?
    };
    Ok(StillActive {
        accounts,
        sessions,
        keys,
        badges,
        psc_links,
        habilitations,
    })
}

/// Sessions opened since `since` (Unix seconds), counted by how, with
/// which acr and amr (JSON list), most frequent first.
pub async fn logins_since(
    conn: &mut DbConn,
    since: i64,
) -> Result<Vec<(Option<LoginMethod>, String, String, i64)>, StoreError> {
    use sso_sessions::dsl as s;
    let mut rows: Vec<(Option<LoginMethod>, String, String, i64)> = with_conn!(conn, c => s::sso_sessions
        .filter(s::auth_time.ge(since))
        .group_by((s::method, s::acr, s::amr))
        .select((s::method, s::acr, s::amr, diesel::dsl::count_star()))
        .load(c)
        .await)?;
    rows.sort_by_key(|r| std::cmp::Reverse(r.3));
    Ok(rows)
}

/// One day's figure of one indicator (`compliance_snapshots`).
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = crate::schema::compliance_snapshots)]
#[diesel(treat_none_as_null = true, treat_none_as_default_value = false)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct SnapshotRow {
    /// The local day, `YYYY-MM-DD`.
    pub taken_on: String,
    pub indicator: String,
    pub numerator: i64,
    /// Out of (a share), or nothing (a count, a delay).
    pub denominator: Option<i64>,
    pub taken_at: i64,
}

impl SnapshotRow {
    /// Records one day's figures: the day's latest figure of each
    /// indicator replaces an earlier one (two nodes writing the same day
    /// keep one row each).
    pub async fn upsert_day(conn: &mut DbConn, rows: &[SnapshotRow]) -> Result<(), StoreError> {
        use crate::schema::compliance_snapshots::dsl as s;
        // One row at a time (a handful a day): SQLite takes no batch with
        // ON CONFLICT; in one transaction (one commit, not one per row).
        conn.transaction(async |tx: &mut DbConn| {
            for row in rows {
                with_conn!(tx, c => diesel::insert_into(s::compliance_snapshots)
                    .values(row)
                    .on_conflict((s::taken_on, s::indicator))
                    .do_update()
                    .set((
                        s::numerator.eq(row.numerator),
                        s::denominator.eq(row.denominator),
                        s::taken_at.eq(row.taken_at),
                    ))
                    .execute(c)
                    .await)?;
            }
            Ok::<_, StoreError>(())
        })
        .await
    }

    /// Whether `day` has been recorded.
    pub async fn has_day(conn: &mut DbConn, day: &str) -> Result<bool, StoreError> {
        use crate::schema::compliance_snapshots::dsl as s;
        let n: i64 = with_conn!(conn, c => s::compliance_snapshots
            .filter(s::taken_on.eq(day))
            .count()
            .get_result(c)
            .await)?;
        Ok(n > 0)
    }

    /// Every figure recorded from `day` on (`YYYY-MM-DD`), oldest first.
    pub async fn since(conn: &mut DbConn, day: &str) -> Result<Vec<Self>, StoreError> {
        use crate::schema::compliance_snapshots::dsl as s;
        Ok(with_conn!(conn, c => s::compliance_snapshots
            .filter(s::taken_on.ge(day))
            .order((s::taken_on.asc(), s::indicator.asc()))
            .select(SnapshotRow::as_select())
            .load(c)
            .await)?)
    }
}
