//! Limits on what anyone may start without signing in. A badge login
//! (`POST /login/badge/start`) stores a row (the badge transaction) until
//! it finishes or expires, so an anonymous client could otherwise fill the
//! database; a FIDO2 login (`POST /login/begin`) stores nothing (its
//! server half is sealed into the token the browser gives back), so only
//! the first limit holds it.
//!
//! - Per client address (the real one, `server.trusted_proxies`; an IPv6
//!   client counted by its /64): at most
//!   `server.login_starts_per_minute` starts, smoothed (GCRA, the
//!   `governor` crate: a well-kept keyed limiter, rather than counters of
//!   our own), answered `429` with `Retry-After` beyond. Kept in memory on
//!   each node; addresses not seen for a while are forgotten
//!   ([`StartLimits::forget_idle`], on the upkeep schedule).
//! - Overall, for what stores a row: at most
//!   `server.max_logins_in_progress` unfinished ceremonies (registrations)
//!   and badge transactions in the database, answered `503` beyond (a
//!   distributed flood fills no disk, and cannot keep anyone from signing
//!   in with a key). Expired ones are not counted, and are swept on the
//!   upkeep schedule (every minute, one node of a cluster).

use crate::AppState;
use crate::error::ApiError;
use actix_web::HttpRequest;
use clavis_store::models::{BadgeTxRow, CeremonyRow};
use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::net::IpAddr;
use std::num::NonZeroU32;

/// Default starts per client address per minute: a login page left open
/// starts a badge transaction every agent wait (about 25 s), a person
/// retrying a key a few more.
pub const DEFAULT_STARTS_PER_MINUTE: u32 = 60;

/// Default cap on unfinished login ceremonies and badge transactions.
pub const DEFAULT_MAX_IN_PROGRESS: i64 = 20_000;

/// What one client is counted as: its IPv4 address, or its IPv6 /64 (one
/// host commonly holds a whole /64).
fn limit_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => {
            let mut seg = v6.segments();
            seg[4..].fill(0);
            IpAddr::V6(seg.into())
        }
        v4 => v4,
    }
}

/// The limits of one node.
pub struct StartLimits {
    per_address: Option<DefaultKeyedRateLimiter<IpAddr>>,
    max_in_progress: i64,
}

impl std::fmt::Debug for StartLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StartLimits")
            .field("per_address", &self.per_address.is_some())
            .field("max_in_progress", &self.max_in_progress)
            .finish()
    }
}

impl Default for StartLimits {
    fn default() -> Self {
        Self::new(DEFAULT_STARTS_PER_MINUTE, DEFAULT_MAX_IN_PROGRESS)
    }
}

impl StartLimits {
    /// `per_minute` starts per client address (0: no limit), at most
    /// `max_in_progress` unfinished (0: no cap).
    pub fn new(per_minute: u32, max_in_progress: i64) -> Self {
        Self {
            per_address: NonZeroU32::new(per_minute)
                .map(|n| RateLimiter::keyed(Quota::per_minute(n))),
            max_in_progress,
        }
    }

    /// Admits one more login start from `req`'s client, or refuses it:
    /// `429` (this address, with the wait) or `503` (too many in progress
    /// overall). Call before the row is stored.
    pub async fn admit(&self, state: &AppState, req: &HttpRequest) -> Result<(), ApiError> {
        self.admit_address(req)?;
        if self.max_in_progress > 0 {
            let now = state.clock.now().timestamp();
            let mut conn = state.db.conn().await?;
            let open = CeremonyRow::count_live(&mut conn, now).await?
                + BadgeTxRow::count_live(&mut conn, now).await?;
            if open >= self.max_in_progress {
                tracing::warn!(open, "too many logins in progress");
                return Err(ApiError::Busy);
            }
        }
        Ok(())
    }

    /// Admits one more start that stores nothing (a FIDO2 login, sealed
    /// into its own token) from `req`'s client: only the address's
    /// allowance counts (`429` beyond), never the cap on stored ones, so
    /// that a flood of those cannot keep anyone from signing in with a key.
    pub fn admit_address(&self, req: &HttpRequest) -> Result<(), ApiError> {
        if let (Some(limiter), Some(ip)) = (
            &self.per_address,
            crate::request::client_ip(req)
                .and_then(|a| a.parse::<IpAddr>().ok())
                .map(limit_key),
        ) && let Err(not_until) = limiter.check_key(&ip)
        {
            let wait = not_until.wait_time_from(limiter.clock().now());
            tracing::warn!(client.addr = %ip, "login starts throttled");
            return Err(ApiError::TooManyStarts(wait.as_secs().max(1) as i64));
        }
        Ok(())
    }

    /// Forgets addresses whose allowance is whole again (memory stays
    /// bounded by the addresses of the last minute).
    pub fn forget_idle(&self) {
        if let Some(l) = &self.per_address {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }

    /// The addresses currently remembered.
    pub fn remembered(&self) -> usize {
        self.per_address.as_ref().map_or(0, |l| l.len())
    }
}

#[cfg(test)]
mod tests {
    use super::limit_key;

    #[test]
    fn an_ipv6_client_is_counted_by_its_slash_64() {
        let a = limit_key("2001:db8:1:2:aaaa::1".parse().expect("ip"));
        let b = limit_key("2001:db8:1:2:bbbb::9".parse().expect("ip"));
        let other = limit_key("2001:db8:1:3::1".parse().expect("ip"));
        assert_eq!(a, b);
        assert_ne!(a, other);
        let v4 = "192.0.2.7".parse().expect("ip");
        assert_eq!(limit_key(v4), v4);
    }
}
