//! Badge PINs: the policy a new PIN must meet, how PINs are stored, and
//! the check at login with its lockout (set by the holder or the badge
//! office, lifted by an operator).
//!
//! A PIN is 4 to 8 digits (configurable) and not a trivial one: not one
//! digit repeated (`0000`), not a run up or down (`1234`, `9876`, `8901`),
//! not a pair repeated (`1212`). It is stored as argon2id with a random
//! salt **and a secret pepper** derived from the appliance's master key:
//! a PIN space of 10⁴–10⁸ is small enough that a stolen database alone
//! could be brute-forced whatever the hash cost; with the pepper it cannot
//! be, without the master key too. The online guard is the lockout (5
//! failures by default), not the hash cost, so the cost is chosen to stay
//! well under the time a nurse notices: see [`PinHasher::standard`] and
//! docs/badge.md for the measured figure.

use crate::badge::records::BadgeError;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use chrono::{DateTime, Utc};
use clavis_audit::AuditEvent;
use clavis_core::{Actor, AuditAction, Oid, Secret};
use clavis_store::DbConn;
use clavis_store::models::BadgePinRow;
use serde_json::json;
use std::fmt;

/// Why a new PIN is refused (the message is shown to the holder, in French
/// by the page).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PinPolicyError {
    /// Not only digits.
    #[error("the PIN must contain digits only")]
    NotDigits,
    /// Too short or too long.
    #[error("the PIN must have {min} to {max} digits")]
    Length { min: usize, max: usize },
    /// `0000`, `1234`, `9876`, `1212`…
    #[error("the PIN is too easy to guess")]
    Trivial,
}

/// A badge PIN as typed by its holder: never printed, never logged.
pub type Pin = Secret<String>;

/// Checks a new PIN against the policy.
pub fn check_policy(pin: &str, min: usize, max: usize) -> Result<(), PinPolicyError> {
    if !pin.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PinPolicyError::NotDigits);
    }
    if pin.len() < min || pin.len() > max {
        return Err(PinPolicyError::Length { min, max });
    }
    let d: Vec<i8> = pin.bytes().map(|b| (b - b'0') as i8).collect();
    let same = d.iter().all(|x| *x == d[0]);
    let run = |step: i8| {
        d.windows(2)
            .all(|w| (w[1] - w[0]).rem_euclid(10) == step.rem_euclid(10))
    };
    let pairs = d.len().is_multiple_of(2) && d.len() >= 4 && d.chunks(2).all(|c| c == &d[..2]);
    if same || run(1) || run(-1) || pairs {
        return Err(PinPolicyError::Trivial);
    }
    Ok(())
}

/// Hashes and checks PINs (argon2id, salt, pepper).
#[derive(Clone)]
pub struct PinHasher {
    pepper: Vec<u8>,
    params: Params,
}

impl fmt::Debug for PinHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PinHasher")
            .field("m_cost_kib", &self.params.m_cost())
            .field("t_cost", &self.params.t_cost())
            .field("pepper", &"[redacted]")
            .finish()
    }
}

/// Errors of PIN storage.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PinHashError {
    /// The parameters or the stored hash are unusable.
    #[error("PIN hashing failed: {0}")]
    Hash(String),
}

impl PinHasher {
    /// The parameters Clavis uses: argon2id, 19 MiB, 2 passes, 1 lane
    /// (OWASP's first recommended set), with `pepper`.
    pub fn standard(pepper: &[u8]) -> Result<Self, PinHashError> {
        Self::with_params(pepper, 19 * 1024, 2, 1)
    }

    /// Other parameters (tests, benchmarks).
    pub fn with_params(
        pepper: &[u8],
        m_cost_kib: u32,
        t_cost: u32,
        lanes: u32,
    ) -> Result<Self, PinHashError> {
        let params = Params::new(m_cost_kib, t_cost, lanes, None)
            .map_err(|e| PinHashError::Hash(e.to_string()))?;
        Ok(PinHasher {
            pepper: pepper.to_vec(),
            params,
        })
    }

    fn argon(&self) -> Result<Argon2<'_>, PinHashError> {
        Argon2::new_with_secret(
            &self.pepper,
            Algorithm::Argon2id,
            Version::V0x13,
            self.params.clone(),
        )
        .map_err(|e| PinHashError::Hash(e.to_string()))
    }

    /// The stored form of a PIN (PHC string; never log it).
    pub fn hash(&self, pin: &str) -> Result<String, PinHashError> {
        let salt = SaltString::generate(&mut OsRng);
        Ok(self
            .argon()?
            .hash_password(pin.as_bytes(), &salt)
            .map_err(|e| PinHashError::Hash(e.to_string()))?
            .to_string())
    }

    /// Whether `pin` matches `stored` (constant-time comparison inside).
    pub fn verify(&self, stored: &str, pin: &str) -> Result<bool, PinHashError> {
        let parsed = PasswordHash::new(stored).map_err(|e| PinHashError::Hash(e.to_string()))?;
        Ok(self
            .argon()?
            .verify_password(pin.as_bytes(), &parsed)
            .is_ok())
    }
}

/// The PIN rules of badge login (from `[authn.badge]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadgePolicy {
    /// Wrong PINs in a row before badge login locks. Default 5.
    pub max_pin_failures: i32,
    /// How long the lock lasts unless an operator lifts it. Default 900.
    pub lockout_secs: i64,
    /// PIN length bounds. Default 4 and 8.
    pub pin_min: usize,
    /// See `pin_min`.
    pub pin_max: usize,
}

impl Default for BadgePolicy {
    fn default() -> Self {
        BadgePolicy {
            max_pin_failures: 5,
            lockout_secs: 900,
            pin_min: 4,
            pin_max: 8,
        }
    }
}

/// Why a PIN was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PinRefusal {
    /// Wrong PIN; `left` attempts before the lock.
    #[error("wrong PIN ({left} attempt(s) left)")]
    Wrong { left: i32 },
    /// Locked until then.
    #[error("badge login locked until {until}")]
    Locked { until: DateTime<Utc> },
    /// No PIN was ever set.
    #[error("no PIN set")]
    NoPin,
    /// Another check of the same person's PIN is in flight.
    #[error("a PIN check is already in progress")]
    Busy,
}

/// Sets the badge PIN of `oid` (policy checked; failures and lock
/// cleared). Audited `badge.pin_set`. A PIN that replaces another, set by
/// anyone but its holder, is remembered (`replaced_by`) until the holder's
/// next badge login tells them.
pub async fn set_pin(
    conn: &mut DbConn,
    hasher: &PinHasher,
    policy: &BadgePolicy,
    now: DateTime<Utc>,
    oid: Oid,
    pin: &Pin,
    actor: &Actor,
) -> Result<(), BadgeError> {
    check_policy(pin.expose(), policy.pin_min, policy.pin_max)?;
    let row = BadgePinRow {
        oid,
        pin_hash: hasher.hash(pin.expose())?,
        failures: 0,
        locked_until: None,
        updated_at: now.timestamp(),
        checking_until: None,
        checking_by: None,
        replaced_by: None,
        replaced_at: None,
    };
    conn.transaction(async |conn| -> Result<(), BadgeError> {
        let replaced = BadgePinRow::find(conn, oid).await?.is_some();
        let mut row = row;
        if replaced && actor.oid() != Some(oid) {
            row.replaced_by = Some(actor.clone());
            row.replaced_at = Some(now.timestamp());
        }
        row.upsert(conn).await?;
        AuditEvent::new(
            actor,
            AuditAction::BadgePinSet,
            Some(oid.to_string()),
            json!({"replaced": replaced}),
        )
        .record(conn, now)
        .await?;
        Ok(())
    })
    .await
}

/// How long a PIN check in flight holds the holder's PIN row: longer than
/// any argon2 verification, short enough that a check cut off by a crash
/// does not hold the holder back for long.
pub const CHECK_LEASE_SECS: i64 = 30;

/// A PIN attempt counted and in flight: the holder's PIN row is leased to
/// it (its random `owner` token) until [`settle_right`], [`settle_wrong`]
/// or [`release`]; only the owner settles.
pub struct Reserved {
    oid: Oid,
    owner: String,
    stored: String,
    /// Wrong PINs in a row, this attempt counted.
    failures: i32,
    /// The lock this attempt set, being the last one allowed.
    locked_until: Option<i64>,
}

impl fmt::Debug for Reserved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reserved")
            .field("oid", &self.oid)
            .field("failures", &self.failures)
            .finish_non_exhaustive()
    }
}

impl Reserved {
    /// Whether `pin` is the holder's: argon2 (tens of milliseconds, 19 MiB)
    /// on the blocking pool, never on the thread answering requests, and
    /// outside any transaction.
    #[tracing::instrument(target = "clavis::trace", name = "badge.pin.verify", skip_all)]
    pub async fn verify(&self, hasher: &PinHasher, pin: &Pin) -> Result<bool, BadgeError> {
        if pin.expose().len() > 64 {
            return Ok(false);
        }
        let (hasher, stored, pin) = (hasher.clone(), self.stored.clone(), pin.clone());
        let checked = tokio::task::spawn_blocking(move || hasher.verify(&stored, pin.expose()))
            .await
            .map_err(|e| PinHashError::Hash(format!("PIN check interrupted: {e}")))?;
        Ok(checked?)
    }
}

/// Counts a PIN attempt of `oid` before it is checked, in a transaction of
/// its own (a savepoint inside the caller's): refused at once while the
/// holder is locked out, while `max_pin_failures` wrong PINs are counted,
/// or while another check of their PIN is in flight (whatever the
/// transaction, workstation or node it came from). The attempt that is the
/// last one allowed locks at once, so a check cut off before it settles
/// leaves the holder locked, never counting past the limit; a right PIN
/// undoes its count and lock ([`settle_right`]). A cut-off check's lease
/// runs out after [`CHECK_LEASE_SECS`].
pub async fn reserve(
    conn: &mut DbConn,
    policy: &BadgePolicy,
    now: DateTime<Utc>,
    oid: Oid,
) -> Result<Reserved, BadgeError> {
    let t = now.timestamp();
    let owner = clavis_core::secret::random_token();
    conn.transaction(async |conn| -> Result<Reserved, BadgeError> {
        if let Some(row) = BadgePinRow::reserve_check(
            conn,
            oid,
            t,
            t + CHECK_LEASE_SECS,
            &owner,
            policy.max_pin_failures,
            t + policy.lockout_secs,
        )
        .await?
        {
            return Ok(Reserved {
                oid,
                owner: owner.clone(),
                stored: row.pin_hash,
                failures: row.failures,
                locked_until: row.locked_until,
            });
        }
        // Refused: say why.
        let Some(row) = BadgePinRow::find(conn, oid).await? else {
            return Err(PinRefusal::NoPin.into());
        };
        match row.locked_until.filter(|u| *u > t) {
            Some(until) => Err(PinRefusal::Locked {
                until: DateTime::from_timestamp(until, 0).unwrap_or_default(),
            }
            .into()),
            None if row.failures >= policy.max_pin_failures => {
                Err(PinRefusal::Locked { until: now }.into())
            }
            None => Err(PinRefusal::Busy.into()),
        }
    })
    .await
}

/// Someone other than the holder set their PIN: who and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinReplaced {
    /// Who set it (an operator, the command line).
    pub by: Actor,
    /// When.
    pub at: DateTime<Utc>,
}

/// The PIN was right: inside the caller's transaction (the one that opens
/// the session), ends this check's lease with the count and its own lock
/// undone; refused ([`PinRefusal::Busy`]) when the lease was lost, and
/// [`PinRefusal::Locked`] when a lock holds that this check did not set.
/// Returns, once, that someone else set the PIN since the holder's last
/// login (the notice is cleared with this transaction).
pub async fn settle_right(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    reserved: &Reserved,
) -> Result<Option<PinReplaced>, BadgeError> {
    let t = now.timestamp();
    let Some(row) = BadgePinRow::find(conn, reserved.oid).await? else {
        return Err(PinRefusal::NoPin.into());
    };
    if let Some(until) = row
        .locked_until
        .filter(|u| *u > t && Some(*u) != reserved.locked_until)
    {
        return Err(PinRefusal::Locked {
            until: DateTime::from_timestamp(until, 0).unwrap_or_default(),
        }
        .into());
    }
    if !BadgePinRow::settle(conn, reserved.oid, &reserved.owner, 0, None, t).await? {
        return Err(PinRefusal::Busy.into());
    }
    take(conn, row).await
}

/// Someone else set `oid`'s PIN and the holder has not been told yet: who
/// and when (for `/me`, which shows it until acknowledged).
pub async fn replaced_notice(
    conn: &mut DbConn,
    oid: Oid,
) -> Result<Option<PinReplaced>, BadgeError> {
    Ok(BadgePinRow::find(conn, oid)
        .await?
        .and_then(|r| pending(&r)))
}

/// [`replaced_notice`], taken once: returned and forgotten, so that the
/// holder's next login (of any kind) or their acknowledgement on `/me`
/// tells them, and only one of them does.
pub async fn take_replaced(conn: &mut DbConn, oid: Oid) -> Result<Option<PinReplaced>, BadgeError> {
    match BadgePinRow::find(conn, oid).await? {
        Some(row) => take(conn, row).await,
        None => Ok(None),
    }
}

fn pending(row: &BadgePinRow) -> Option<PinReplaced> {
    match (&row.replaced_by, row.replaced_at) {
        (Some(by), Some(at)) => Some(PinReplaced {
            by: by.clone(),
            at: DateTime::from_timestamp(at, 0).unwrap_or_default(),
        }),
        _ => None,
    }
}

async fn take(conn: &mut DbConn, row: BadgePinRow) -> Result<Option<PinReplaced>, BadgeError> {
    let Some(notice) = pending(&row) else {
        return Ok(None);
    };
    let cleared = BadgePinRow::clear_replaced(conn, row.oid, notice.at.timestamp()).await?;
    Ok(cleared.then_some(notice))
}

/// The PIN was wrong, in a transaction of its own: the count stays, the
/// lock falls once it reaches `max_pin_failures` (lasting `lockout_secs`
/// from now), the lease is released. Audited (`badge.pin_failed`,
/// `badge.pin_locked`) with `actor` (the anonymous holder at a login, the
/// operator at the desk) and the client address. Returns what to tell.
pub async fn settle_wrong(
    conn: &mut DbConn,
    policy: &BadgePolicy,
    now: DateTime<Utc>,
    reserved: &Reserved,
    actor: &Actor,
    client_addr: Option<String>,
) -> Result<PinRefusal, BadgeError> {
    let t = now.timestamp();
    let oid = reserved.oid;
    conn.transaction(async |conn| -> Result<PinRefusal, BadgeError> {
        let locked = reserved.failures >= policy.max_pin_failures;
        let until = locked.then_some(t + policy.lockout_secs);
        // A lease lost (run out, taken over) leaves the row to its new
        // owner: this attempt was counted at reservation all the same.
        BadgePinRow::settle(conn, oid, &reserved.owner, reserved.failures, until, t).await?;
        AuditEvent::new(
            actor,
            if locked {
                AuditAction::BadgePinLocked
            } else {
                AuditAction::BadgePinFailed
            },
            Some(oid.to_string()),
            json!({"failures": reserved.failures, "locked_until": until}),
        )
        .from_addr(client_addr)
        .record(conn, now)
        .await?;
        Ok(match until {
            Some(until) => PinRefusal::Locked {
                until: DateTime::from_timestamp(until, 0).unwrap_or_default(),
            },
            None => PinRefusal::Wrong {
                left: policy.max_pin_failures - reserved.failures,
            },
        })
    })
    .await
}

/// A right PIN whose session could not be opened (the badge was revoked
/// meanwhile, the store failed): undoes the count and this check's lock,
/// and releases the lease, so the holder can try again at once. Best
/// effort: if this fails too, the lease runs out by itself.
pub async fn release(conn: &mut DbConn, now: DateTime<Utc>, reserved: &Reserved) {
    let done = BadgePinRow::settle(
        conn,
        reserved.oid,
        &reserved.owner,
        (reserved.failures - 1).max(0),
        None,
        now.timestamp(),
    )
    .await;
    if let Err(e) = done {
        tracing::warn!(identity.oid = %reserved.oid, error = %e, "badge PIN lease not released");
    }
}

/// Checks the PIN of `oid` outside a login (the whole cycle: [`reserve`],
/// verify, [`settle_right`] or [`settle_wrong`]), a wrong one audited with
/// `actor`. A locked identity is refused without looking at the PIN;
/// `max_pin_failures` wrong PINs in a row lock badge login for
/// `lockout_secs`.
/// A pending replaced-PIN notice is spent too: the holder is there.
pub async fn check_pin(
    conn: &mut DbConn,
    hasher: &PinHasher,
    policy: &BadgePolicy,
    now: DateTime<Utc>,
    oid: Oid,
    pin: &Pin,
    actor: &Actor,
) -> Result<(), BadgeError> {
    let reserved = reserve(conn, policy, now, oid).await?;
    let good = match reserved.verify(hasher, pin).await {
        Ok(good) => good,
        Err(e) => {
            release(conn, now, &reserved).await;
            return Err(e);
        }
    };
    if good {
        let settled = conn
            .transaction(async |conn| settle_right(conn, now, &reserved).await)
            .await;
        if settled.is_err() {
            release(conn, now, &reserved).await;
        }
        return settled.map(|_| ());
    }
    Err(settle_wrong(conn, policy, now, &reserved, actor, None)
        .await?
        .into())
}

/// Lifts a PIN lock (operator). Audited `badge.pin_unlocked`.
pub async fn unlock(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    oid: Oid,
    actor: &Actor,
) -> Result<bool, BadgeError> {
    let Some(mut row) = BadgePinRow::find(conn, oid).await? else {
        return Ok(false);
    };
    row.failures = 0;
    row.locked_until = None;
    row.updated_at = now.timestamp();
    conn.transaction(async |conn| -> Result<(), BadgeError> {
        row.save_counter(conn).await?;
        AuditEvent::new(
            actor,
            AuditAction::BadgePinUnlocked,
            Some(oid.to_string()),
            json!({}),
        )
        .record(conn, now)
        .await?;
        Ok(())
    })
    .await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clavis_core::LifecycleStatus;
    use clavis_testkit::db::{Backend, TestDb};

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("instant")
    }

    #[test]
    fn trivial_pins_are_refused_and_ordinary_ones_accepted() {
        for bad in [
            "0000", "1234", "4321", "8901", "0987", "1212", "123456", "99999999",
        ] {
            assert_eq!(
                check_policy(bad, 4, 8),
                Err(PinPolicyError::Trivial),
                "{bad}"
            );
        }
        assert_eq!(check_policy("12a4", 4, 8), Err(PinPolicyError::NotDigits));
        assert_eq!(
            check_policy("", 4, 8),
            Err(PinPolicyError::Length { min: 4, max: 8 })
        );
        assert_eq!(
            check_policy("482", 4, 8),
            Err(PinPolicyError::Length { min: 4, max: 8 })
        );
        assert_eq!(
            check_policy("482915372", 4, 8),
            Err(PinPolicyError::Length { min: 4, max: 8 })
        );
        for good in ["4829", "1357", "20481", "73920165"] {
            assert_eq!(check_policy(good, 4, 8), Ok(()), "{good}");
        }
    }

    #[test]
    fn a_pin_verifies_only_with_its_hash_and_pepper() {
        let h = PinHasher::with_params(b"pepper-a", 256, 1, 1).expect("params");
        let stored = h.hash("4829").expect("hash");
        assert!(stored.starts_with("$argon2id$"));
        assert!(!stored.contains("4829"));
        assert!(h.verify(&stored, "4829").expect("verify"));
        assert!(!h.verify(&stored, "4828").expect("verify"));
        let other = PinHasher::with_params(b"pepper-b", 256, 1, 1).expect("params");
        assert!(
            !other.verify(&stored, "4829").expect("verify"),
            "the pepper is needed"
        );
        assert!(h.verify("garbage", "4829").is_err());
        assert!(!format!("{h:?}").contains("pepper-a"));
    }

    fn pin(digits: &str) -> Pin {
        Pin::new(digits.to_string())
    }

    /// Claire, active, on a fresh database, and a cheap hasher.
    async fn claire(backend: Backend) -> (TestDb, Oid, PinHasher) {
        let t = TestDb::new(backend).await;
        let oid = clavis_testkit::people::insert_person(
            &t.db,
            "Lemoine",
            "Claire",
            LifecycleStatus::Active,
        )
        .await;
        let h = PinHasher::with_params(b"pepper", 256, 1, 1).expect("hasher");
        (t, oid, h)
    }

    #[tokio::test]
    async fn five_wrong_pins_lock_badge_login_until_the_cool_down_or_an_operator() {
        let (t, oid, h) = claire(Backend::Sqlite).await;
        let mut conn = t.db.conn().await.expect("conn");
        let p = BadgePolicy::default();
        let t0 = at("2026-11-22T08:00:00Z");
        assert!(matches!(
            set_pin(
                &mut conn,
                &h,
                &p,
                t0,
                oid,
                &pin("1234"),
                &clavis_core::Actor::Cli("it".into())
            )
            .await,
            Err(BadgeError::PinPolicy(PinPolicyError::Trivial))
        ));
        set_pin(
            &mut conn,
            &h,
            &p,
            t0,
            oid,
            &pin("4829"),
            &clavis_core::Actor::Cli("it".into()),
        )
        .await
        .expect("pin");
        check_pin(&mut conn, &h, &p, t0, oid, &pin("4829"), &Actor::Anonymous)
            .await
            .expect("right PIN");
        for left in (1..5).rev() {
            let e = check_pin(&mut conn, &h, &p, t0, oid, &pin("0000"), &Actor::Anonymous)
                .await
                .expect_err("wrong");
            assert!(
                matches!(e, BadgeError::Pin(PinRefusal::Wrong { left: l }) if l == left),
                "{e}"
            );
        }
        let e = check_pin(&mut conn, &h, &p, t0, oid, &pin("0000"), &Actor::Anonymous)
            .await
            .expect_err("fifth");
        assert!(
            matches!(e, BadgeError::Pin(PinRefusal::Locked { .. })),
            "{e}"
        );
        // Locked: even the right PIN is refused, until the cool-down ends.
        let e = check_pin(&mut conn, &h, &p, t0, oid, &pin("4829"), &Actor::Anonymous)
            .await
            .expect_err("locked");
        assert!(matches!(e, BadgeError::Pin(PinRefusal::Locked { .. })));
        check_pin(
            &mut conn,
            &h,
            &p,
            t0 + chrono::Duration::seconds(901),
            oid,
            &pin("4829"),
            &Actor::Anonymous,
        )
        .await
        .expect("after the cool-down");
        // Lock again, then an operator lifts it.
        for _ in 0..5 {
            let _ = check_pin(&mut conn, &h, &p, t0, oid, &pin("0000"), &Actor::Anonymous).await;
        }
        assert!(
            unlock(&mut conn, t0, oid, &clavis_core::Actor::Cli("it".into()))
                .await
                .expect("unlock")
        );
        check_pin(&mut conn, &h, &p, t0, oid, &pin("4829"), &Actor::Anonymous)
            .await
            .expect("unlocked");
        let audit = clavis_store::models::AuditEventRow::page(&mut conn, 0, 100)
            .await
            .expect("audit");
        assert!(audit.iter().any(|a| a.action == "badge.pin_locked"));
        assert!(audit.iter().any(|a| a.action == "badge.pin_unlocked"));
        assert!(
            !audit.iter().any(|a| a.changes.contains("4829")),
            "no PIN in the audit log"
        );
    }

    /// Four wrong PINs, then the fifth attempt reserved: the last allowed.
    async fn fifth_reserved(backend: Backend) -> (TestDb, Oid, PinHasher, Reserved) {
        let (t, oid, h) = claire(backend).await;
        let mut conn = t.db.conn().await.expect("conn");
        let p = BadgePolicy::default();
        let t0 = at("2026-11-22T08:00:00Z");
        set_pin(&mut conn, &h, &p, t0, oid, &pin("4829"), &Actor::Anonymous)
            .await
            .expect("pin");
        for _ in 0..4 {
            let e = check_pin(&mut conn, &h, &p, t0, oid, &pin("0000"), &Actor::Anonymous)
                .await
                .expect_err("wrong");
            assert!(
                matches!(e, BadgeError::Pin(PinRefusal::Wrong { .. })),
                "{e}"
            );
        }
        let fifth = reserve(&mut conn, &p, t0, oid).await.expect("fifth");
        drop(conn);
        (t, oid, h, fifth)
    }

    async fn a_check_cut_off_at_the_last_attempt_leaves_the_holder_locked(backend: Backend) {
        let (t, oid, _h, _cut_off) = fifth_reserved(backend).await;
        let mut conn = t.db.conn().await.expect("conn");
        let p = BadgePolicy::default();
        // The check never settles (a crash). Once its lease has run out,
        // the next attempt finds the holder locked: no sixth count.
        let later = at("2026-11-22T08:00:31Z");
        let e = reserve(&mut conn, &p, later, oid)
            .await
            .expect_err("locked");
        assert!(
            matches!(e, BadgeError::Pin(PinRefusal::Locked { .. })),
            "{e}"
        );
        let row = BadgePinRow::find(&mut conn, oid)
            .await
            .expect("read")
            .expect("row");
        assert_eq!(row.failures, 5);
    }

    async fn the_right_pin_at_the_last_attempt_lifts_its_own_lock(backend: Backend) {
        let (t, oid, h, fifth) = fifth_reserved(backend).await;
        let mut conn = t.db.conn().await.expect("conn");
        assert!(fifth.verify(&h, &pin("4829")).await.expect("verify"));
        let now = at("2026-11-22T08:00:01Z");
        conn.transaction(async |c| settle_right(c, now, &fifth).await)
            .await
            .expect("the holder's own right PIN");
        let row = BadgePinRow::find(&mut conn, oid)
            .await
            .expect("read")
            .expect("row");
        assert_eq!(
            (row.failures, row.locked_until, row.checking_by),
            (0, None, None)
        );
    }

    async fn only_the_lease_owner_settles(backend: Backend) {
        let (t, oid, h, fifth) = fifth_reserved(backend).await;
        let mut conn = t.db.conn().await.expect("conn");
        let p = BadgePolicy::default();
        // An operator lifts the lock while the check is in flight; then the
        // lease runs out and another check takes it.
        unlock(
            &mut conn,
            at("2026-11-22T08:00:05Z"),
            oid,
            &Actor::Anonymous,
        )
        .await
        .expect("unlock");
        let later = at("2026-11-22T08:00:40Z");
        let other = reserve(&mut conn, &p, later, oid).await.expect("other");
        // The first check's right PIN may not settle the other's lease.
        assert!(fifth.verify(&h, &pin("4829")).await.expect("verify"));
        let e = conn
            .transaction(async |c| settle_right(c, later, &fifth).await)
            .await
            .expect_err("lease lost");
        assert!(matches!(e, BadgeError::Pin(PinRefusal::Busy)), "{e}");
        let row = BadgePinRow::find(&mut conn, oid)
            .await
            .expect("read")
            .expect("row");
        assert!(row.checking_by.is_some(), "the other check still holds it");
        release(&mut conn, later, &other).await;
        let row = BadgePinRow::find(&mut conn, oid)
            .await
            .expect("read")
            .expect("row");
        assert_eq!((row.failures, row.checking_by), (0, None));
    }

    macro_rules! both {
        ($($name:ident),*) => {$(
            mod $name {
                use super::*;
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn on_sqlite() {
                    super::$name(Backend::Sqlite).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn on_postgres() {
                    super::$name(Backend::Postgres).await
                }
            }
        )*};
    }
    both!(
        a_check_cut_off_at_the_last_attempt_leaves_the_holder_locked,
        the_right_pin_at_the_last_attempt_lifts_its_own_lock,
        only_the_lease_owner_settles
    );
}
