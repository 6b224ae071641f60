//! The session behind a cookie token, checked on every request; the live list.
//!
//! One rule decides a session's fate at an instant ([`verdict`]), and both
//! checks apply it: [`check`] inside a transaction, and [`check_fast`] (the
//! one every HTTP request uses), which reads without a transaction and
//! falls back to [`check`] whenever the rule asks for a write. So an idle
//! timeout of any length is enforced the same way on both paths.

use crate::end::end;
use crate::{Session, SsoError, token_hash};
use chrono::{DateTime, Utc};
use clavis_core::{Actor, Oid, SessionEndReason};
use clavis_store::DbConn;
use clavis_store::models::SsoSessionRow;

/// What the session rules say of a live session at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// Live, nothing to write.
    Live,
    /// Live; its last use is to be recorded (idle tracking).
    LiveTouch,
    /// Over: to be ended with this reason.
    Over(SessionEndReason),
}

/// The longest a recorded last use may lag behind the real one, for an
/// idle timeout of `idle_timeout_secs`: a tenth of it, between 1 s and
/// 60 s. Recording costs a write, so it is not done on every request; the
/// lag bounds how early a session in use can be ended for idleness (10 %
/// of the timeout at most), whatever the timeout.
fn touch_every_secs(idle_timeout_secs: i64) -> i64 {
    (idle_timeout_secs / 10).clamp(1, 60)
}

/// The one rule both checks apply. A session ends at its absolute expiry
/// (`t >= expires_at`: a 4 h session is over at 4 h 00 min 00 s) or once
/// unused for its idle timeout (`t - last_seen_at >= idle_timeout_secs`,
/// when that is not 0).
fn verdict(row: &SsoSessionRow, t: i64) -> Verdict {
    if t >= row.expires_at {
        return Verdict::Over(SessionEndReason::Expired);
    }
    if row.idle_timeout_secs <= 0 {
        return Verdict::Live;
    }
    let unused_for = t - row.last_seen_at;
    if unused_for >= row.idle_timeout_secs {
        Verdict::Over(SessionEndReason::Idle)
    } else if unused_for >= touch_every_secs(row.idle_timeout_secs) {
        Verdict::LiveTouch
    } else {
        Verdict::Live
    }
}

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
    match verdict(&row, t) {
        Verdict::Over(reason) => {
            end(conn, now, &row.id, reason, &Actor::Clavis).await?;
            Ok(None)
        }
        Verdict::LiveTouch => {
            SsoSessionRow::touch(conn, &row.id, t).await?;
            Ok(Some(Session::from_row(&row)))
        }
        Verdict::Live => Ok(Some(Session::from_row(&row))),
    }
}

/// [`check`] for every request: the lookup runs without a transaction
/// (inline on SQLite, see `clavis_store::db::InlineReaders`), and
/// [`check`] runs in a transaction only when [`verdict`] asks for a write
/// (expired, idle, last use to record).
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
    if verdict(&row, now.timestamp()) == Verdict::Live {
        return Ok(Some(Session::from_row(&row)));
    }
    // Ending a session writes the session, its grants, its applications'
    // dues and the audit: all or nothing.
    let mut conn = db.conn().await?;
    conn.transaction(async |tx| check(tx, now, token).await)
        .await
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

#[cfg(test)]
mod tests {
    use super::*;

    fn row(idle_timeout_secs: i64) -> SsoSessionRow {
        SsoSessionRow {
            id: "s".to_string().into(),
            token_hash: String::new(),
            oid: Oid::new_random(),
            auth_time: 1000,
            expires_at: 1000 + 14400,
            idle_timeout_secs,
            last_seen_at: 1000,
            acr: "eidas2".into(),
            amr: Default::default(),
            authenticator_id: None,
            client_ip: None,
            user_agent: None,
            ended_at: None,
            end_reason: None,
            workstation_id: None,
            method: None,
        }
    }

    #[test]
    fn a_session_is_over_at_its_expiry_to_the_second() {
        let r = row(0);
        assert_eq!(verdict(&r, 1000 + 14399), Verdict::Live);
        assert_eq!(
            verdict(&r, 1000 + 14400),
            Verdict::Over(SessionEndReason::Expired)
        );
    }

    #[test]
    fn a_short_idle_timeout_is_decided_like_a_long_one() {
        let r = row(30);
        assert_eq!(verdict(&r, 1002), Verdict::Live);
        assert_eq!(verdict(&r, 1003), Verdict::LiveTouch, "a tenth of 30 s");
        assert_eq!(verdict(&r, 1029), Verdict::LiveTouch);
        assert_eq!(verdict(&r, 1030), Verdict::Over(SessionEndReason::Idle));
        let r = row(900);
        assert_eq!(verdict(&r, 1059), Verdict::Live);
        assert_eq!(verdict(&r, 1060), Verdict::LiveTouch, "at most a minute");
        assert_eq!(verdict(&r, 1900), Verdict::Over(SessionEndReason::Idle));
        assert_eq!(touch_every_secs(1), 1);
    }
}
