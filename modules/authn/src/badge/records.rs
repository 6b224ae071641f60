//! Badges and badge PINs in the store: recording a personalised badge,
//! recognising a badge that passed [`BadgeCheck`](crate::badge::BadgeCheck), the PIN
//! with its lockout, revocation, and suspension when the holder departs.
//! Every decision is audited; none logs a PIN or a reference.

use crate::badge::check::BadgeRead;
use crate::badge::personalise::Personalised;
use crate::badge::pin::{PinHashError, PinHasher, PinPolicyError, check_policy};
use chrono::{DateTime, Utc};
use clavis_audit::AuditEvent;
use clavis_store::models::{BadgePinRow, BadgeRow, IdentityRow};
use clavis_store::{DbConn, StoreError};
use serde_json::json;
use sha2::{Digest, Sha256};

/// Badge rules (`[authn.badge]`).
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

/// Why a badge that proved itself cryptographically is still refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadgeRefusal {
    /// No badge with this reference.
    #[error("unknown badge")]
    Unknown,
    /// The card's UID is not the one recorded with the reference.
    #[error("badge UID does not match the record")]
    UidMismatch,
    /// Revoked (lost, replaced…).
    #[error("badge revoked")]
    Revoked,
    /// Suspended (holder departed or suspended).
    #[error("badge suspended")]
    Suspended,
    /// A temporary badge past its day.
    #[error("temporary badge expired")]
    Expired,
    /// The holder cannot sign in.
    #[error("holder not active")]
    HolderInactive,
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
}

/// Errors of the badge service.
#[derive(Debug, thiserror::Error)]
pub enum BadgeError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The badge is refused.
    #[error(transparent)]
    Refused(#[from] BadgeRefusal),
    /// The PIN is refused.
    #[error(transparent)]
    Pin(#[from] PinRefusal),
    /// A new PIN breaks the policy.
    #[error(transparent)]
    PinPolicy(#[from] PinPolicyError),
    /// PIN hashing failed.
    #[error(transparent)]
    Hash(#[from] PinHashError),
    /// No badge with this id.
    #[error("no such badge")]
    NotFound,
}

impl From<clavis_audit::AuditError> for BadgeError {
    fn from(e: clavis_audit::AuditError) -> Self {
        match e {
            clavis_audit::AuditError::Store(s) => BadgeError::Store(s),
        }
    }
}

fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// Records a personalised badge for `oid` (a temporary one with its end of
/// validity). Audited `badge.issued`.
pub async fn record(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    oid: &str,
    card: &Personalised,
    expires_at: Option<DateTime<Utc>>,
    actor: &str,
) -> Result<BadgeRow, BadgeError> {
    let row = BadgeRow {
        id: clavis_core::ids::new_record_id(),
        oid: oid.to_string(),
        uid: card.uid.to_string(),
        reference_hash: sha256_hex(&card.reference),
        key_version: i32::from(card.key_version),
        kind: if expires_at.is_some() {
            "temporary"
        } else {
            "permanent"
        }
        .into(),
        status: "active".into(),
        status_reason: None,
        expires_at: expires_at.map(|e| e.timestamp()),
        created_at: now.timestamp(),
        created_by: actor.to_string(),
        last_used_at: None,
    };
    conn.begin().await?;
    let r: Result<(), BadgeError> = async {
        row.insert(conn).await?;
        clavis_audit::append(
            conn,
            now,
            vec![AuditEvent::new(
                actor,
                "badge.issued",
                Some(oid.to_string()),
                json!({"badge_id": row.id, "uid": row.uid, "kind": row.kind, "expires_at": expires_at, "key_version": row.key_version}),
            )],
        )
        .await?;
        Ok(())
    }
    .await;
    conn.finish(r).await?;
    Ok(row)
}

/// The badge behind a successful [`BadgeCheck`](crate::badge::BadgeCheck), if it may
/// be used now. Refusals are audited (`badge.refused`).
pub async fn identify(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    read: &BadgeRead,
) -> Result<BadgeRow, BadgeError> {
    let found = BadgeRow::find_by_reference(conn, &sha256_hex(&read.reference)).await?;
    let verdict = match &found {
        None => Err(BadgeRefusal::Unknown),
        Some(b) if b.uid != read.uid.to_string() => Err(BadgeRefusal::UidMismatch),
        Some(b) if b.status == "revoked" => Err(BadgeRefusal::Revoked),
        Some(b) if b.status != "active" => Err(BadgeRefusal::Suspended),
        Some(b) if b.expires_at.is_some_and(|e| e <= now.timestamp()) => Err(BadgeRefusal::Expired),
        Some(b) => match IdentityRow::status_of(conn, &b.oid).await?.as_deref() {
            Some("active") => Ok(()),
            _ => Err(BadgeRefusal::HolderInactive),
        },
    };
    match (verdict, found) {
        (Ok(()), Some(b)) => Ok(b),
        (Err(reason), found) => {
            clavis_audit::append_now(
                conn,
                now,
                vec![AuditEvent::new(
                    "anonymous",
                    "badge.refused",
                    found.as_ref().map(|b| b.oid.clone()),
                    json!({"reason": reason.to_string(), "uid": read.uid.to_string(), "badge_id": found.as_ref().map(|b| b.id.clone())}),
                )],
            )
            .await?;
            Err(reason.into())
        }
        (Ok(()), None) => Err(BadgeRefusal::Unknown.into()),
    }
}

/// Sets the badge PIN of `oid` (policy checked; failures and lock
/// cleared). Audited `badge.pin_set`.
pub async fn set_pin(
    conn: &mut DbConn,
    hasher: &PinHasher,
    policy: &BadgePolicy,
    now: DateTime<Utc>,
    oid: &str,
    pin: &str,
    actor: &str,
) -> Result<(), BadgeError> {
    check_policy(pin, policy.pin_min, policy.pin_max)?;
    let row = BadgePinRow {
        oid: oid.to_string(),
        pin_hash: hasher.hash(pin)?,
        failures: 0,
        locked_until: None,
        updated_at: now.timestamp(),
    };
    conn.begin().await?;
    let r: Result<(), BadgeError> = async {
        row.upsert(conn).await?;
        clavis_audit::append(
            conn,
            now,
            vec![AuditEvent::new(
                actor,
                "badge.pin_set",
                Some(oid.to_string()),
                json!({}),
            )],
        )
        .await?;
        Ok(())
    }
    .await;
    conn.finish(r).await
}

/// Checks the PIN of `oid`. A locked identity is refused without looking
/// at the PIN; `max_pin_failures` wrong PINs in a row lock badge login for
/// `lockout_secs`. The hash is checked outside the transaction (15 ms of
/// argon2 must not hold the write turn); the counter is updated from a
/// fresh read inside it. Audited (`badge.pin_failed`, `badge.pin_locked`).
pub async fn check_pin(
    conn: &mut DbConn,
    hasher: &PinHasher,
    policy: &BadgePolicy,
    now: DateTime<Utc>,
    oid: &str,
    pin: &str,
) -> Result<(), BadgeError> {
    let t = now.timestamp();
    let Some(row) = BadgePinRow::find(conn, oid).await? else {
        return Err(PinRefusal::NoPin.into());
    };
    if let Some(until) = row.locked_until.filter(|u| *u > t) {
        return Err(PinRefusal::Locked {
            until: DateTime::from_timestamp(until, 0).unwrap_or_default(),
        }
        .into());
    }
    let good = hasher.verify(&row.pin_hash, pin)?;
    conn.begin().await?;
    let r: Result<Result<(), PinRefusal>, BadgeError> = async {
        let Some(mut row) = BadgePinRow::find(conn, oid).await? else {
            return Ok(Err(PinRefusal::NoPin));
        };
        row.updated_at = t;
        if good {
            if row.failures != 0 || row.locked_until.is_some() {
                row.failures = 0;
                row.locked_until = None;
                row.save_counter(conn).await?;
            }
            return Ok(Ok(()));
        }
        // A lock that ran out starts a fresh count.
        if row.locked_until.is_some_and(|u| u <= t) {
            row.failures = 0;
            row.locked_until = None;
        }
        row.failures += 1;
        let locked = row.failures >= policy.max_pin_failures;
        if locked {
            row.locked_until = Some(t + policy.lockout_secs);
        }
        row.save_counter(conn).await?;
        clavis_audit::append(
            conn,
            now,
            vec![AuditEvent::new(
                "anonymous",
                if locked {
                    "badge.pin_locked"
                } else {
                    "badge.pin_failed"
                },
                Some(oid.to_string()),
                json!({"failures": row.failures, "locked_until": row.locked_until}),
            )],
        )
        .await?;
        Ok(Err(if locked {
            PinRefusal::Locked {
                until: DateTime::from_timestamp(t + policy.lockout_secs, 0).unwrap_or_default(),
            }
        } else {
            PinRefusal::Wrong {
                left: policy.max_pin_failures - row.failures,
            }
        }))
    }
    .await;
    conn.finish(r).await??;
    Ok(())
}

/// Lifts a PIN lock (operator). Audited `badge.pin_unlocked`.
pub async fn unlock(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    oid: &str,
    actor: &str,
) -> Result<bool, BadgeError> {
    let Some(mut row) = BadgePinRow::find(conn, oid).await? else {
        return Ok(false);
    };
    row.failures = 0;
    row.locked_until = None;
    row.updated_at = now.timestamp();
    conn.begin().await?;
    let r: Result<(), BadgeError> = async {
        row.save_counter(conn).await?;
        clavis_audit::append(
            conn,
            now,
            vec![AuditEvent::new(
                actor,
                "badge.pin_unlocked",
                Some(oid.to_string()),
                json!({}),
            )],
        )
        .await?;
        Ok(())
    }
    .await;
    conn.finish(r).await?;
    Ok(true)
}

/// Revokes a badge (lost, stolen, replaced). Audited `badge.revoked`.
pub async fn revoke(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    badge_id: &str,
    reason: &str,
    actor: &str,
) -> Result<(), BadgeError> {
    conn.begin().await?;
    let r: Result<(), BadgeError> = async {
        let mut changed = false;
        for from in ["active", "suspended"] {
            changed |= BadgeRow::set_status(conn, badge_id, from, "revoked", reason).await?;
        }
        if !changed {
            return Err(BadgeError::NotFound);
        }
        clavis_audit::append(
            conn,
            now,
            vec![AuditEvent::new(
                actor,
                "badge.revoked",
                Some(badge_id.to_string()),
                json!({"reason": reason}),
            )],
        )
        .await?;
        Ok(())
    }
    .await;
    conn.finish(r).await
}

/// A badge as operators see it (CLI `--json`, admin API). Never the
/// reference.
pub fn view(b: &BadgeRow) -> serde_json::Value {
    json!({
        "id": b.id, "oid": b.oid, "uid": b.uid, "kind": b.kind, "status": b.status,
        "status_reason": b.status_reason, "key_version": b.key_version,
        "expires_at": b.expires_at, "created_at": b.created_at, "last_used_at": b.last_used_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clavis_desfire::CardUid;
    use clavis_testkit::db::{Backend, TestDb};

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("instant")
    }

    fn card(uid: [u8; 7], reference: &str) -> Personalised {
        Personalised {
            uid: CardUid::new(&uid).expect("uid"),
            reference: reference.into(),
            key_version: 1,
        }
    }

    fn read_of(p: &Personalised) -> BadgeRead {
        BadgeRead {
            uid: p.uid,
            reference: p.reference.clone(),
        }
    }

    #[tokio::test]
    async fn five_wrong_pins_lock_badge_login_until_the_cool_down_or_an_operator() {
        let t = TestDb::new(Backend::Sqlite).await;
        let oid = clavis_testkit::people::insert_person(&t.db, "Lemoine", "Claire", "active").await;
        let mut conn = t.db.conn().await.expect("conn");
        let h = PinHasher::with_params(b"pepper", 256, 1, 1).expect("hasher");
        let p = BadgePolicy::default();
        let t0 = at("2026-11-22T08:00:00Z");
        assert!(matches!(
            set_pin(&mut conn, &h, &p, t0, &oid, "1234", "it").await,
            Err(BadgeError::PinPolicy(PinPolicyError::Trivial))
        ));
        set_pin(&mut conn, &h, &p, t0, &oid, "4829", "it")
            .await
            .expect("pin");
        check_pin(&mut conn, &h, &p, t0, &oid, "4829")
            .await
            .expect("right PIN");
        for left in (1..5).rev() {
            let e = check_pin(&mut conn, &h, &p, t0, &oid, "0000")
                .await
                .expect_err("wrong");
            assert!(
                matches!(e, BadgeError::Pin(PinRefusal::Wrong { left: l }) if l == left),
                "{e}"
            );
        }
        let e = check_pin(&mut conn, &h, &p, t0, &oid, "0000")
            .await
            .expect_err("fifth");
        assert!(
            matches!(e, BadgeError::Pin(PinRefusal::Locked { .. })),
            "{e}"
        );
        // Locked: even the right PIN is refused, until the cool-down ends.
        let e = check_pin(&mut conn, &h, &p, t0, &oid, "4829")
            .await
            .expect_err("locked");
        assert!(matches!(e, BadgeError::Pin(PinRefusal::Locked { .. })));
        check_pin(
            &mut conn,
            &h,
            &p,
            t0 + chrono::Duration::seconds(901),
            &oid,
            "4829",
        )
        .await
        .expect("after the cool-down");
        // Lock again, then an operator lifts it.
        for _ in 0..5 {
            let _ = check_pin(&mut conn, &h, &p, t0, &oid, "0000").await;
        }
        assert!(unlock(&mut conn, t0, &oid, "it").await.expect("unlock"));
        check_pin(&mut conn, &h, &p, t0, &oid, "4829")
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

    #[tokio::test]
    async fn a_departure_suspends_the_holders_badges_in_the_same_transaction() {
        use clavis_directory::lifecycle::{LifecycleEvent, LifecycleKind, LifecycleSubscriber};
        let t = TestDb::new(Backend::Sqlite).await;
        let oid = clavis_testkit::people::insert_person(&t.db, "Lemoine", "Claire", "active").await;
        let mut conn = t.db.conn().await.expect("conn");
        let t0 = at("2026-11-22T08:00:00Z");
        let perm = card([4, 1, 1, 1, 1, 1, 1], "aa");
        record(&mut conn, t0, &oid, &perm, None, "it")
            .await
            .expect("record");
        conn.begin().await.expect("begin");
        let r = crate::AuthnLifecycle
            .on_event(
                &mut conn,
                &LifecycleEvent {
                    oid: oid.parse().expect("oid"),
                    kind: LifecycleKind::Departed,
                    reason: "leaver_flag".into(),
                    sync_run_id: None,
                    at: t0,
                },
            )
            .await;
        conn.finish(r.map_err(|e| BadgeError::Store(StoreError::Unavailable(e.to_string()))))
            .await
            .expect("event");
        assert!(matches!(
            identify(&mut conn, t0, &read_of(&perm)).await,
            Err(BadgeError::Refused(BadgeRefusal::Suspended))
        ));
    }

    #[tokio::test]
    async fn only_an_active_unexpired_badge_with_its_recorded_uid_is_recognised() {
        let t = TestDb::new(Backend::Sqlite).await;
        let oid = clavis_testkit::people::insert_person(&t.db, "Lemoine", "Claire", "active").await;
        let mut conn = t.db.conn().await.expect("conn");
        let t0 = at("2026-11-22T08:00:00Z");
        let perm = card([4, 1, 1, 1, 1, 1, 1], "aa");
        let row = record(&mut conn, t0, &oid, &perm, None, "it")
            .await
            .expect("record");
        assert_eq!(
            identify(&mut conn, t0, &read_of(&perm))
                .await
                .expect("ok")
                .id,
            row.id
        );
        // The same reference on another UID is refused.
        let mut other = read_of(&perm);
        other.uid = CardUid::new(&[4, 2, 2, 2, 2, 2, 2]).expect("uid");
        assert!(matches!(
            identify(&mut conn, t0, &other).await,
            Err(BadgeError::Refused(BadgeRefusal::UidMismatch))
        ));
        // A temporary badge for the day expires.
        let temp = card([4, 3, 3, 3, 3, 3, 3], "bb");
        record(
            &mut conn,
            t0,
            &oid,
            &temp,
            Some(at("2026-11-22T20:00:00Z")),
            "it",
        )
        .await
        .expect("temp");
        identify(&mut conn, t0, &read_of(&temp))
            .await
            .expect("valid today");
        assert!(matches!(
            identify(&mut conn, at("2026-11-22T20:00:01Z"), &read_of(&temp)).await,
            Err(BadgeError::Refused(BadgeRefusal::Expired))
        ));
        // Revoked.
        revoke(&mut conn, t0, &row.id, "lost", "it")
            .await
            .expect("revoke");
        assert!(matches!(
            identify(&mut conn, t0, &read_of(&perm)).await,
            Err(BadgeError::Refused(BadgeRefusal::Revoked))
        ));
        // Unknown.
        assert!(matches!(
            identify(&mut conn, t0, &read_of(&card([4, 9, 9, 9, 9, 9, 9], "cc"))).await,
            Err(BadgeError::Refused(BadgeRefusal::Unknown))
        ));
        let audit = clavis_store::models::AuditEventRow::page(&mut conn, 0, 100)
            .await
            .expect("audit");
        assert!(audit.iter().filter(|a| a.action == "badge.refused").count() >= 4);
    }
}
