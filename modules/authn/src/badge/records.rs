//! Badges in the store: recording a personalised badge, recognising a
//! badge that passed [`BadgeCheck`](crate::badge::BadgeCheck), revocation,
//! and suspension when the holder departs (see
//! [`AuthnLifecycle`](crate::AuthnLifecycle)). The badge PIN is in
//! [`crate::badge::pin`]. Every decision is audited; none logs a PIN or a
//! reference.

use crate::badge::check::BadgeRead;
use crate::badge::personalise::Personalised;
use crate::badge::pin::{PinHashError, PinPolicyError, PinRefusal};
use chrono::{DateTime, Utc};
use clavis_audit::AuditEvent;
use clavis_core::{
    Actor, AuditAction, BadgeId, BadgeKind, BadgeStatus, LifecycleStatus, Oid, SessionEndReason,
    secret::sha256_hex,
};
use clavis_store::models::{Account, BadgeRow, IdentityRow};
use clavis_store::{DbConn, StoreError};
use serde_json::json;

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
    /// Every directory account of the holder is disabled (AD).
    #[error("account_disabled: every directory account of the holder is disabled")]
    AccountDisabled,
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
    /// The badge office refuses the operator's request.
    #[error(transparent)]
    Office(#[from] crate::badge::office::OfficeRefusal),
}

impl From<clavis_audit::AuditError> for BadgeError {
    fn from(e: clavis_audit::AuditError) -> Self {
        match e {
            clavis_audit::AuditError::Store(s) => BadgeError::Store(s),
        }
    }
}

impl From<clavis_sso::SsoError> for BadgeError {
    fn from(e: clavis_sso::SsoError) -> Self {
        match e {
            clavis_sso::SsoError::Store(s) => BadgeError::Store(s),
        }
    }
}

/// Records a personalised badge for `oid` (a temporary one with its end of
/// validity). Audited `badge.issued`.
pub async fn record(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    oid: Oid,
    card: &Personalised,
    expires_at: Option<DateTime<Utc>>,
    actor: &Actor,
) -> Result<BadgeRow, BadgeError> {
    let row = BadgeRow {
        id: BadgeId::from(clavis_core::ids::new_record_id()),
        oid,
        uid: card.uid.to_string(),
        reference_hash: sha256_hex(&card.reference),
        key_version: i32::from(card.key_version),
        kind: if expires_at.is_some() {
            BadgeKind::Temporary
        } else {
            BadgeKind::Permanent
        },
        status: BadgeStatus::Active,
        status_reason: None,
        expires_at: expires_at.map(|e| e.timestamp()),
        created_at: now.timestamp(),
        created_by: actor.clone(),
        last_used_at: None,
    };
    conn.transaction(async |conn| -> Result<(), BadgeError> {
        row.insert(conn).await?;
        AuditEvent::new(
                actor,
                AuditAction::BadgeIssued,
                Some(oid.to_string()),
                json!({"badge_id": row.id, "uid": row.uid, "kind": row.kind, "expires_at": expires_at, "key_version": row.key_version}),
            )
.record(conn, now)
        .await?;
        Ok(())
    })
    .await?;
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
        Some(b) if b.status == BadgeStatus::Revoked => Err(BadgeRefusal::Revoked),
        Some(b) if b.status != BadgeStatus::Active => Err(BadgeRefusal::Suspended),
        Some(b) if b.expires_at.is_some_and(|e| e <= now.timestamp()) => Err(BadgeRefusal::Expired),
        Some(b) => match IdentityRow::status_of(conn, b.oid).await? {
            Some(LifecycleStatus::Active) if Account::all_disabled_for(conn, b.oid).await? => {
                Err(BadgeRefusal::AccountDisabled)
            }
            Some(LifecycleStatus::Active) => Ok(()),
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
                    Actor::Anonymous,
                    AuditAction::BadgeRefused,
                    found.as_ref().map(|b| b.oid.to_string()),
                    json!({"reason": reason.to_string(), "uid": read.uid.to_string(), "badge_id": found.as_ref().map(|b| b.id.clone())}),
                )],
            )
            .await?;
            Err(reason.into())
        }
        (Ok(()), None) => Err(BadgeRefusal::Unknown.into()),
    }
}

/// Revokes a badge (lost, stolen, replaced) and ends the sessions it
/// opened (their applications told by back-channel logout), in one
/// transaction. Audited `badge.revoked`.
pub async fn revoke(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    badge_id: &BadgeId,
    reason: &str,
    actor: &Actor,
) -> Result<(), BadgeError> {
    conn.transaction(async |conn| -> Result<(), BadgeError> {
        let mut changed = false;
        for from in [BadgeStatus::Active, BadgeStatus::Suspended] {
            changed |=
                BadgeRow::set_status(conn, badge_id, from, BadgeStatus::Revoked, reason).await?;
        }
        if !changed {
            return Err(BadgeError::NotFound);
        }
        // A stolen badge's sessions end with it.
        clavis_sso::end_all_by_authenticator(
            conn,
            now,
            badge_id.as_str(),
            SessionEndReason::Revoked,
            actor,
        )
        .await?;
        AuditEvent::new(
            actor,
            AuditAction::BadgeRevoked,
            Some(badge_id.to_string()),
            json!({"reason": reason}),
        )
        .record(conn, now)
        .await?;
        Ok(())
    })
    .await
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
    async fn a_departure_suspends_the_holders_badges_in_the_same_transaction() {
        use clavis_directory::lifecycle::{LifecycleEvent, LifecycleKind, LifecycleSubscriber};
        let t = TestDb::new(Backend::Sqlite).await;
        let oid = clavis_testkit::people::insert_person(
            &t.db,
            "Lemoine",
            "Claire",
            LifecycleStatus::Active,
        )
        .await;
        let mut conn = t.db.conn().await.expect("conn");
        let t0 = at("2026-11-22T08:00:00Z");
        let perm = card([4, 1, 1, 1, 1, 1, 1], "aa");
        record(
            &mut conn,
            t0,
            oid,
            &perm,
            None,
            &clavis_core::Actor::Cli("it".into()),
        )
        .await
        .expect("record");
        let departed = LifecycleEvent {
            oid,
            kind: LifecycleKind::Departed,
            reason: "leaver_flag".into(),
            sync_run_id: None,
            at: t0,
        };
        conn.transaction(async |conn| {
            crate::AuthnLifecycle
                .on_event(conn, &departed)
                .await
                .map_err(|e| BadgeError::Store(StoreError::Unavailable(e.to_string())))
        })
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
        let oid = clavis_testkit::people::insert_person(
            &t.db,
            "Lemoine",
            "Claire",
            LifecycleStatus::Active,
        )
        .await;
        let mut conn = t.db.conn().await.expect("conn");
        let t0 = at("2026-11-22T08:00:00Z");
        let perm = card([4, 1, 1, 1, 1, 1, 1], "aa");
        let row = record(
            &mut conn,
            t0,
            oid,
            &perm,
            None,
            &clavis_core::Actor::Cli("it".into()),
        )
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
            oid,
            &temp,
            Some(at("2026-11-22T20:00:00Z")),
            &clavis_core::Actor::Cli("it".into()),
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
        revoke(
            &mut conn,
            t0,
            &row.id,
            "lost",
            &clavis_core::Actor::Cli("it".into()),
        )
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
