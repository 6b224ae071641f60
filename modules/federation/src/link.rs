//! The link of a local identity to its national identity.
//!
//! Stored only when PSC, after an e-CPS or CPS authentication, names the
//! identity's own national id (`8` + the RPPS HR gives, or `0` + its
//! ADELI number) and a family name that agrees with the identity's (birth
//! or used name, compared as the directory compares names). Anything else
//! stores nothing, is audited with both ids, and opens a reconciliation
//! case for an operator: HR may hold a wrong RPPS, and nothing is guessed.
//! A link expires (`psc.link_validity_days`), is revoked by a departure or
//! a suspension in the directory's transaction, and stops standing as
//! soon as HR gives the identity another RPPS.

use crate::rp::{Purpose, Verified};
use crate::{Psc, PscError};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use clavis_audit::AuditEvent;
use clavis_core::names::normalize_name;
use clavis_core::{Actor, AuditAction, CaseStatus, LifecycleStatus, Oid, PscUnlinkReason};
use clavis_directory::lifecycle::{
    LifecycleEvent, LifecycleKind, LifecycleSubscriber, SubscriberError,
};
use clavis_store::models::psc::expected_ids;
pub use clavis_store::models::psc::{LinkState, stands, state};
use clavis_store::models::{IdentityRow, PscLinkRow, ReconciliationCase};
use clavis_store::{Db, DbConn};
use serde_json::json;

/// The source name of reconciliation cases PSC opens.
pub const CASE_SOURCE: &str = clavis_directory::service::PSC_CASE_SOURCE;

/// What became of a verified answer for a link.
#[derive(Debug, Clone, PartialEq)]
pub enum LinkOutcome {
    /// Stored (first time, or renewed).
    Linked { link: PscLinkRow, renewed: bool },
    /// Not stored: why (`national_id_mismatch`, `family_name_mismatch`,
    /// `no_national_id_in_hr`, `identity_not_active`), and the case opened
    /// for an operator.
    Refused {
        reason: &'static str,
        case_id: Option<String>,
    },
}

fn names_agree(identity: &IdentityRow, psc_family: Option<&str>) -> bool {
    let Some(psc) = psc_family.map(normalize_name).filter(|n| !n.is_empty()) else {
        return false;
    };
    [
        Some(identity.birth_family_name.as_str()),
        identity.used_family_name.as_deref(),
    ]
    .into_iter()
    .flatten()
    .any(|n| normalize_name(n) == psc)
}

impl Psc {
    /// Links the identity of a verified trip (purpose [`Purpose::Link`]):
    /// stores the link when PSC named the identity, otherwise opens a
    /// case; audited either way, in one transaction.
    /// `current_session` is the browser's live session now: it must still
    /// be the one that asked (on a shared workstation, the next person's
    /// e-CPS must not be checked against the previous person's identity).
    pub async fn link(
        &self,
        db: &Db,
        now: DateTime<Utc>,
        v: &Verified,
        current_session: Option<&clavis_core::SessionId>,
        client_addr: Option<&str>,
    ) -> Result<LinkOutcome, PscError> {
        let oid = match (v.trip.purpose, v.trip.oid) {
            (Purpose::Link, Some(oid)) => oid,
            _ => {
                return Err(PscError::Config(
                    "this trip to PSC was not for a link".into(),
                ));
            }
        };
        let validity = self.cfg.link_validity_days * 86_400;
        let mut conn = db.conn().await?;
        conn.transaction(async |tx: &mut DbConn| {
            let t = now.timestamp();
            let identity = IdentityRow::find(tx, oid)
                .await?
                .ok_or_else(|| PscError::Config(format!("identity {oid} not found")))?;
            let expected = expected_ids(&identity);
            let same_session = v.trip.session_id.is_some() && v.trip.session_id.as_ref() == current_session;
            let reason = if !same_session {
                Some("session_changed")
            } else if identity.status != LifecycleStatus::Active {
                Some("identity_not_active")
            } else if expected.is_empty() {
                Some("no_national_id_in_hr")
            } else if !expected.contains(&v.national_id.to_string()) {
                Some("national_id_mismatch")
            } else if !names_agree(&identity, v.family_name.as_deref()) {
                Some("family_name_mismatch")
            } else {
                None
            };
            if let Some(reason) = reason {
                let case_id = if matches!(reason, "identity_not_active" | "session_changed") {
                    None
                } else {
                    Some(open_case(tx, now, &identity, v, reason).await?)
                };
                AuditEvent::new(
                    Actor::Identity(oid),
                    AuditAction::PscLinkRefused,
                    Some(oid.to_string()),
                    json!({"reason": reason, "national_id_psc": v.national_id.as_str(),
                           "national_ids_hr": expected, "family_name_psc": v.family_name,
                           "family_name_hr": identity.used_family_name.as_deref().unwrap_or(&identity.birth_family_name),
                           "psc_sub": v.psc_sub, "case_id": case_id}),
                )
                .from_addr(client_addr.map(str::to_string))
                .record(tx, now)
                .await?;
                return Ok(LinkOutcome::Refused { reason, case_id });
            }
            let before = PscLinkRow::find(tx, oid).await?;
            let renewed = before.is_some_and(|b| b.revoked_at.is_none());
            let link = PscLinkRow {
                oid,
                national_id: v.national_id.to_string(),
                psc_sub: v.psc_sub.clone(),
                acr: v.acr.clone(),
                auth_mode: v.auth_mode.clone(),
                id_token_sha256: v.id_token_sha256.clone(),
                linked_at: t,
                expires_at: t + validity,
                revoked_at: None,
                revoked_reason: None,
                revoked_by: None,
            };
            link.save(tx).await?;
            // An ADELI match verifies the ADELI number, not the RPPS.
            if v.national_id.rpps().is_some() {
                IdentityRow::mark_rpps_verified(tx, oid, t).await?;
            }
            AuditEvent::new(
                Actor::Identity(oid),
                AuditAction::PscLinked,
                Some(oid.to_string()),
                json!({"national_id": link.national_id, "psc_sub": link.psc_sub, "acr": link.acr,
                       "auth_mode": link.auth_mode, "id_token_sha256": link.id_token_sha256,
                       "expires_at": DateTime::<Utc>::from_timestamp(link.expires_at, 0),
                       "renewed": renewed}),
            )
            .from_addr(client_addr.map(str::to_string))
            .record(tx, now)
            .await?;
            Ok(LinkOutcome::Linked { link, renewed })
        })
        .await
    }
}

/// Opens (or finds) the case of a refused link: the identity, what PSC
/// said, what HR says.
async fn open_case(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    identity: &IdentityRow,
    v: &Verified,
    reason: &'static str,
) -> Result<String, PscError> {
    let external_id = format!("{}:{}", identity.oid, v.national_id);
    if let Some(c) = ReconciliationCase::open_for(conn, CASE_SOURCE, &external_id).await? {
        return Ok(c.id);
    }
    let why = match reason {
        "no_national_id_in_hr" => {
            "HR gives this person no RPPS: enter it in HR (checked against the Annuaire santé), then the person links again"
        }
        "family_name_mismatch" => {
            "PSC's family name differs from HR's: check both, fix HR if needed, then the person links again"
        }
        _ => {
            "PSC names another national id than HR's RPPS: check the RPPS in HR, then the person links again"
        }
    };
    let case = ReconciliationCase {
        id: clavis_core::ids::new_record_id(),
        source: CASE_SOURCE.into(),
        external_id,
        entry_ref: format!("psc:{}", v.psc_sub),
        reason: reason.into(),
        candidates: json!([{"oid": identity.oid, "why": why,
                            "national_id_psc": v.national_id.as_str(),
                            "national_ids_hr": expected_ids(identity),
                            "family_name_psc": v.family_name, "given_name_psc": v.given_name}])
        .to_string(),
        status: CaseStatus::Open,
        resolution: None,
        resolved_by: None,
        opened_at: now.timestamp(),
        resolved_at: None,
        sync_run_id: None,
    };
    case.insert(conn).await?;
    AuditEvent::new(
        Actor::Clavis,
        AuditAction::CaseOpened,
        Some(case.id.clone()),
        json!({"source": CASE_SOURCE, "reason": reason, "oid": identity.oid}),
    )
    .record(conn, now)
    .await?;
    Ok(case.id)
}

/// Removes the link of `oid` (by the person, an operator, a lifecycle
/// event), inside the caller's transaction; audited with `note` (an
/// operator's reason). An operator's withdrawal (a doubt about who linked)
/// also ends the person's sessions opened through Pro Santé Connect, in
/// the same transaction. Returns whether a standing link was removed.
pub async fn unlink_in(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    oid: Oid,
    reason: PscUnlinkReason,
    actor: &Actor,
    note: Option<&str>,
) -> Result<bool, PscError> {
    let Some(before) = PscLinkRow::revoke(conn, oid, now.timestamp(), reason, actor).await? else {
        return Ok(false);
    };
    AuditEvent::new(
        actor.clone(),
        AuditAction::PscUnlinked,
        Some(oid.to_string()),
        json!({"reason": reason, "note": note, "national_id": before.national_id,
               "psc_sub": before.psc_sub, "linked_at": DateTime::<Utc>::from_timestamp(before.linked_at, 0)}),
    )
    .record(conn, now)
    .await?;
    if reason == PscUnlinkReason::ByOperator {
        let live = clavis_store::models::SsoSessionRow::list_live(
            conn,
            Some(oid),
            now.timestamp(),
            10_000,
        )
        .await?;
        for s in live
            .iter()
            .filter(|s| s.method == Some(clavis_core::LoginMethod::Psc))
        {
            clavis_sso::end(
                conn,
                now,
                &s.id,
                clavis_core::SessionEndReason::Revoked,
                actor,
            )
            .await?;
        }
    }
    Ok(true)
}

/// [`unlink_in`] in its own transaction.
pub async fn unlink(
    db: &Db,
    now: DateTime<Utc>,
    oid: Oid,
    reason: PscUnlinkReason,
    actor: &Actor,
    note: Option<&str>,
) -> Result<bool, PscError> {
    let mut conn = db.conn().await?;
    conn.transaction(async |tx: &mut DbConn| unlink_in(tx, now, oid, reason, actor, note).await)
        .await
}

/// A departure or a suspension revokes the person's link, in the
/// directory's transaction.
#[derive(Debug, Default)]
pub struct PscLifecycle;

#[async_trait]
impl LifecycleSubscriber for PscLifecycle {
    fn name(&self) -> &'static str {
        "psc"
    }

    async fn on_event(
        &self,
        conn: &mut DbConn,
        event: &LifecycleEvent,
    ) -> Result<(), SubscriberError> {
        let reason = match event.kind {
            LifecycleKind::Departed => PscUnlinkReason::Departed,
            LifecycleKind::Suspended => PscUnlinkReason::Suspended,
            _ => return Ok(()),
        };
        unlink_in(conn, event.at, event.oid, reason, &Actor::Lifecycle, None)
            .await
            .map(|_| ())
            .map_err(|e| SubscriberError {
                subscriber: "psc",
                detail: e.to_string(),
            })
    }
}
