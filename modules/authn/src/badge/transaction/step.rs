//! One agent step of a badge transaction: the card's answer is checked
//! against the transaction (its workstation, the step number), the
//! protocol replayed with it, and what the replay leads to — the next
//! APDU, the badge identified (or refused, or re-keyed first), the card
//! personalised, the exchange stopped — recorded in one unit, only if
//! nobody recorded this step first.

use super::replay::{Replayed, Stop};
use super::{AgentReply, BadgeService, RelayError};
use crate::badge::check::BadgeRead;
use crate::badge::personalise::Personalised;
use crate::badge::records::{self, BadgeError, BadgeRefusal};
use crate::badge::rekey::RekeyFailure;
use chrono::{DateTime, Utc};
use clavis_audit::AuditEvent;
use clavis_core::{Actor, AuditAction, BadgeTxPurpose, BadgeTxStatus, Oid, WorkstationId};
use clavis_store::models::{BadgeRow, BadgeTxRow, WorkstationRow};
use clavis_store::{Db, DbConn, StoreError};
use serde_json::json;
use tracing::Instrument;

/// Longest card answer accepted (a DESFire frame is at most 256 bytes).
const MAX_ANSWER: usize = 512;

impl BadgeService {
    /// One agent step: `answer` is the card's answer to the APDU of step
    /// `step - 1` (`None` with `step` 0 to get the first APDU).
    #[allow(clippy::too_many_arguments)]
    pub async fn step(
        &self,
        db: &Db,
        now: DateTime<Utc>,
        ws: &WorkstationRow,
        tx_id: &str,
        token: Option<&str>,
        step: i32,
        answer: Option<&[u8]>,
    ) -> Result<AgentReply, RelayError> {
        let mut conn = db.conn().await?;
        let tx = Self::agent_tx(&mut conn, now, ws, tx_id, token).await?;
        // The step belongs to the trace the transaction's start began.
        let span = clavis_audit::trace::continued(
            tracing::info_span!(target: "clavis::trace", "badge.step", badge.step = step),
            tx.trace_parent.as_deref(),
        );
        self.step_on(&mut conn, now, ws, tx, step, answer)
            .instrument(span)
            .await
    }

    /// [`Self::step`] once its transaction is read.
    async fn step_on(
        &self,
        conn: &mut DbConn,
        now: DateTime<Utc>,
        ws: &WorkstationRow,
        tx: BadgeTxRow,
        step: i32,
        answer: Option<&[u8]>,
    ) -> Result<AgentReply, RelayError> {
        if tx.status != BadgeTxStatus::Open
            || tx.workstation_id.as_ref().is_some_and(|w| *w != ws.id)
        {
            return Err(RelayError::Unknown);
        }
        if step != tx.steps {
            return Err(RelayError::OutOfOrder);
        }
        let answers = answers_with(&tx, answer)?;
        let outcome = self.replay(&tx, &answers);
        let mut record = StepRecord::new(now, ws, &tx, &answers);
        conn.unit(async |conn| {
            let reply = match outcome {
                Ok(Replayed::Send(apdu)) => record.next_apdu(apdu),
                Ok(Replayed::Checked(read, iv, lv)) => {
                    record.badge_checked(conn, self, &read, iv, lv).await?
                }
                Ok(Replayed::Rekeyed) => {
                    record.badge_rekeyed(conn, self.config.key_version).await?
                }
                Ok(Replayed::RekeyStopped(why)) => record.rekey_stopped(conn, &why).await?,
                Ok(Replayed::Personalised(card)) => record.card_personalised(conn, &card).await?,
                Err(stop) => record.exchange_stopped(conn, &stop).await?,
            };
            if !record.next.record_step(conn, tx.steps).await? {
                return Err(RelayError::OutOfOrder);
            }
            Ok(reply)
        })
        .await
    }
}

/// The card's answers recorded in `tx`, and `answer` after them (none
/// only before the first APDU).
fn answers_with(tx: &BadgeTxRow, answer: Option<&[u8]>) -> Result<Vec<Vec<u8>>, RelayError> {
    let mut answers: Vec<Vec<u8>> = tx
        .transcript
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| hex::decode(s).unwrap_or_default())
        .collect();
    match answer {
        None if tx.steps == 0 => {}
        None => return Err(RelayError::BadRequest("missing card answer".into())),
        Some(a) if a.len() > MAX_ANSWER => {
            return Err(RelayError::BadRequest("card answer too long".into()));
        }
        Some(a) => answers.push(a.to_vec()),
    }
    Ok(answers)
}

/// One step being taken: the transaction as it was, and as the step
/// records it (`next`). Each outcome of the replay has its method, which
/// sets what `next` records and answers the agent.
struct StepRecord<'a> {
    now: DateTime<Utc>,
    ws_id: &'a WorkstationId,
    was: &'a BadgeTxRow,
    answers: &'a [Vec<u8>],
    next: BadgeTxRow,
}

impl<'a> StepRecord<'a> {
    fn new(
        now: DateTime<Utc>,
        ws: &'a WorkstationRow,
        was: &'a BadgeTxRow,
        answers: &'a [Vec<u8>],
    ) -> Self {
        let mut next = was.clone();
        next.workstation_id = Some(ws.id.clone());
        next.steps = answers.len() as i32;
        next.transcript = answers
            .iter()
            .map(hex::encode)
            .collect::<Vec<_>>()
            .join(",");
        StepRecord {
            now,
            ws_id: &ws.id,
            was,
            answers,
            next,
        }
    }

    /// The card's answer leads to another APDU.
    fn next_apdu(&self, apdu: Vec<u8>) -> AgentReply {
        AgentReply::Send {
            apdu,
            step: self.next.steps,
        }
    }

    /// The badge proved itself with key versions (`iv`, `lv`): the records
    /// identify or refuse it, and a badge with older keys (on the card or
    /// recorded) is re-keyed now, on this tap.
    async fn badge_checked(
        &mut self,
        conn: &mut DbConn,
        svc: &BadgeService,
        read: &BadgeRead,
        iv: u8,
        lv: u8,
    ) -> Result<AgentReply, RelayError> {
        let badge = match records::identify(conn, self.now, read).await {
            Ok(badge) => badge,
            Err(BadgeError::Refused(why)) => return Ok(self.badge_refused(&why)),
            Err(e) => return Err(e.into()),
        };
        self.next.oid = Some(badge.oid);
        self.next.badge_id = Some(badge.id.clone());
        self.next.badge_key_version = Some(badge.key_version);
        // The first re-keying APDU comes from the replay that now knows
        // the recorded version.
        if svc.rekey_plan(read, iv, lv, badge.key_version).is_some()
            && let Ok(Replayed::Send(apdu)) = svc.replay(&self.next, self.answers)
        {
            return Ok(self.next_apdu(apdu));
        }
        Ok(self.identified())
    }

    /// The badge may be used: the page asks for the PIN.
    fn identified(&mut self) -> AgentReply {
        self.next.status = BadgeTxStatus::Identified;
        AgentReply::Done
    }

    /// The records refuse the badge (unknown, revoked, expired…; audited
    /// by [`records::identify`]).
    fn badge_refused(&mut self, why: &BadgeRefusal) -> AgentReply {
        self.next.status = BadgeTxStatus::Failed;
        self.next.failure = Some(why.to_string());
        AgentReply::Failed
    }

    /// Re-keying is done: the badge carries the keys of `key_version`.
    /// Audited `badge.rekeyed`.
    async fn badge_rekeyed(
        &mut self,
        conn: &mut DbConn,
        key_version: u8,
    ) -> Result<AgentReply, RelayError> {
        let badge_id = self.next.badge_id.clone().unwrap_or_default();
        let to = i32::from(key_version);
        BadgeRow::set_key_version(conn, &badge_id, to).await?;
        let changes = json!({"badge_id": badge_id, "from": self.next.badge_key_version, "to": to, "workstation_id": self.ws_id});
        self.audit(conn, AuditAction::BadgeRekeyed, self.next.oid, changes)
            .await?;
        Ok(self.identified())
    }

    /// Re-keying stopped, but the badge proved itself: the login goes on
    /// with the keys it has, and the next tap tries again. Audited
    /// `badge.rekey_failed`.
    async fn rekey_stopped(
        &mut self,
        conn: &mut DbConn,
        why: &RekeyFailure,
    ) -> Result<AgentReply, RelayError> {
        let changes = json!({"badge_id": self.next.badge_id, "reason": why.to_string(), "workstation_id": self.ws_id});
        self.audit(conn, AuditAction::BadgeRekeyFailed, self.next.oid, changes)
            .await?;
        Ok(self.identified())
    }

    /// Enrolment: the card is personalised; it is recorded as the badge
    /// of the transaction's target (temporary until its end, if one was
    /// given).
    async fn card_personalised(
        &mut self,
        conn: &mut DbConn,
        card: &Personalised,
    ) -> Result<AgentReply, RelayError> {
        let Some(oid) = self.was.target_oid else {
            return Err(StoreError::Corrupt {
                what: "badge transaction",
                detail: format!("enrolment {} has no target identity", self.was.id),
            }
            .into());
        };
        let until = self
            .was
            .temporary_until
            .and_then(|t| DateTime::from_timestamp(t, 0));
        let row = records::record(conn, self.now, oid, card, until, &self.was.created_by).await?;
        self.next.status = BadgeTxStatus::Done;
        self.next.oid = Some(oid);
        self.next.badge_id = Some(row.id);
        Ok(AgentReply::Done)
    }

    /// The check or the personalisation failed (card removed, not our
    /// card, wrong key, protocol error). Audited `badge.check_failed` or
    /// `badge.enrolment_failed`.
    async fn exchange_stopped(
        &mut self,
        conn: &mut DbConn,
        stop: &Stop,
    ) -> Result<AgentReply, RelayError> {
        self.next.status = BadgeTxStatus::Failed;
        self.next.failure = Some(stop.to_string());
        let action = if self.was.purpose == BadgeTxPurpose::Enrol {
            AuditAction::BadgeEnrolmentFailed
        } else {
            AuditAction::BadgeCheckFailed
        };
        let changes = json!({"transaction": self.was.id, "reason": stop.code(), "detail": stop.to_string(), "step": self.next.steps, "workstation_id": self.ws_id});
        self.audit(conn, action, self.was.target_oid, changes)
            .await?;
        Ok(AgentReply::Failed)
    }

    /// Audits `action` as done by this workstation.
    async fn audit(
        &self,
        conn: &mut DbConn,
        action: AuditAction,
        subject: Option<Oid>,
        changes: serde_json::Value,
    ) -> Result<(), RelayError> {
        let event = AuditEvent::new(
            Actor::Workstation(self.ws_id.clone()),
            action,
            subject.map(|o| o.to_string()),
            changes,
        );
        event.record(conn, self.now).await?;
        Ok(())
    }
}
