//! Brute-force delays for FIDO2 login, per client address: after
//! `free_failures` refused logins from one address, further attempts from
//! it must wait, twice as long each time up to `max_delay_secs`. A success
//! from that address clears its counter (in the login's transaction).
//!
//! Only the address is counted, never the identity behind a key: a FIDO2
//! assertion cannot be guessed, so failures against someone's key are no
//! step towards their account, and an identity counter would let anyone
//! who knows a credential id (`/login/begin` hands them out) lock its
//! holder out. Nothing is counted for a request that did not spend a live
//! ceremony of ours (unknown, expired, replayed): it cost us no challenge.
//! The address is the real client's (`server.trusted_proxies`): behind the
//! reverse proxy every client would otherwise share its address.

use crate::config::AuthnConfig;
use crate::error::AuthnError;
use chrono::{DateTime, Utc};
use clavis_store::DbConn;
use clavis_store::models::LoginFailureRow;

/// The counter a login attempt from `client_ip` is held to (none when the
/// address is unknown).
pub(super) fn failure_keys(client_ip: Option<&str>) -> Vec<String> {
    client_ip.map(|ip| format!("ip:{ip}")).into_iter().collect()
}

/// Refuses with [`AuthnError::TooManyAttempts`] while the client
/// address's counter imposes a wait.
pub(super) fn throttle(
    cfg: &AuthnConfig,
    now: DateTime<Utc>,
    failures: &[LoginFailureRow],
) -> Result<(), AuthnError> {
    let until = failures
        .iter()
        .map(|f| (delay_after(cfg, f.failures), f.last_failure_at))
        .filter(|(wait, _)| *wait > 0)
        .map(|(wait, at)| at + wait)
        .max();
    match until {
        Some(until) if now.timestamp() < until => Err(AuthnError::TooManyAttempts {
            retry_after_secs: until - now.timestamp(),
        }),
        _ => Ok(()),
    }
}

/// The wait imposed after `failures` consecutive failures: none for the
/// first `free_failures`, then doubling from 1 s up to `max_delay_secs`.
pub fn delay_after(cfg: &AuthnConfig, failures: i32) -> i64 {
    let over = failures - cfg.free_failures as i32;
    if over < 0 {
        return 0;
    }
    let secs = 1i64.checked_shl(over.min(20) as u32).unwrap_or(i64::MAX);
    secs.min(cfg.max_delay_secs)
}

/// Counts one more failure on `key`, atomically (see
/// [`LoginFailureRow::count_one`]).
pub(super) async fn record_failure(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    key: &str,
) -> Result<(), AuthnError> {
    LoginFailureRow::count_one(conn, key, now.timestamp()).await?;
    Ok(())
}
