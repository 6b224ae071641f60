//! The session behind a cookie token, checked on every request; the live list.

use crate::end::end;
use crate::{Session, SsoError, token_hash};
use chrono::{DateTime, Utc};
use clavis_core::{Actor, Oid, SessionEndReason};
use clavis_store::DbConn;
use clavis_store::models::SsoSessionRow;

/// The live session behind a cookie token, or `None` (unknown, ended,
/// expired — an expired one is ended and audited on the way).
pub async fn check(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    token: &str,
) -> Result<Option<Session>, SsoError> {
    if token.is_empty() || token.len() > 128 {
        return Ok(None);
    }
    let Some(row) = SsoSessionRow::find_live_by_hash(conn, &token_hash(token)).await? else {
        return Ok(None);
    };
    let t = now.timestamp();
    let reason = if t >= row.expires_at {
        Some(SessionEndReason::Expired)
    } else if row.idle_timeout_secs > 0 && t - row.last_seen_at >= row.idle_timeout_secs {
        Some(SessionEndReason::Idle)
    } else {
        None
    };
    if let Some(reason) = reason {
        end(conn, now, &row.id, reason, &Actor::Clavis).await?;
        return Ok(None);
    }
    // Idle tracking costs a write: only when enabled, at most once a minute.
    if row.idle_timeout_secs > 0 && t - row.last_seen_at >= 60 {
        SsoSessionRow::touch(conn, &row.id, t).await?;
    }
    Ok(Some(Session::from_row(&row)))
}

/// [`check`] for every request: the lookup runs without a transaction
/// (inline on SQLite, see `clavis_store::db::InlineReaders`), and a
/// transaction is opened only when the session must be written (expired,
/// idle tracking).
pub async fn check_fast(
    db: &clavis_store::Db,
    now: DateTime<Utc>,
    token: &str,
) -> Result<Option<Session>, SsoError> {
    if token.is_empty() || token.len() > 128 {
        return Ok(None);
    }
    let Some(row) = SsoSessionRow::find_live(db, &token_hash(token)).await? else {
        return Ok(None);
    };
    let t = now.timestamp();
    let must_write =
        t >= row.expires_at || (row.idle_timeout_secs > 0 && t - row.last_seen_at >= 60);
    if !must_write {
        return Ok(Some(Session::from_row(&row)));
    }
    let mut conn = db.conn().await?;
    check(&mut conn, now, token).await
}

/// Live sessions (of one identity, or all), newest first.
pub async fn list(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    oid: Option<Oid>,
) -> Result<Vec<Session>, SsoError> {
    Ok(SsoSessionRow::list_live(conn, oid, now.timestamp(), 10_000)
        .await?
        .iter()
        .map(Session::from_row)
        .collect())
}
