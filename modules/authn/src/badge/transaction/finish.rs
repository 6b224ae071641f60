//! The page's last request of a badge transaction: the PIN that turns an
//! identified badge into an SSO session, or the PIN the badge office sets
//! right after an enrolment.

use super::{BadgeService, RelayError};
use crate::badge::pin::{self, PinRefusal};
use chrono::{DateTime, Utc};
use clavis_audit::AuditEvent;
use clavis_core::{
    Actor, AuditAction, BadgeTxPurpose, BadgeTxStatus, Oid, SessionEndReason, secret::Secret,
};
use clavis_store::models::{Account, BadgeRow, BadgeTxRow};
use clavis_store::{Db, DbConn};
use serde_json::json;
use tracing::Instrument;

/// A badge login that opened its session.
#[derive(Debug)]
pub struct BadgeLogin {
    /// The session's cookie token (shown once).
    pub token: Secret<String>,
    /// The session.
    pub session: clavis_sso::Session,
    /// Someone else replaced the holder's PIN since their last login: the
    /// page tells them before going on.
    pub pin_replaced: Option<pin::PinReplaced>,
}

impl BadgeService {
    /// The PIN after a badge was identified, in three steps that keep every
    /// lockout rule inside the transactions that act on it:
    /// 1. the attempt is counted before it is checked: the transaction goes
    ///    `identified` → `checking` (one PIN check at a time per badge
    ///    transaction) and the holder's PIN row is leased and its count
    ///    raised ([`pin::reserve`]: refused while locked or while another
    ///    check of their PIN is in flight, from any workstation or node);
    /// 2. argon2 runs outside any transaction;
    /// 3. a wrong PIN keeps its count and may lock ([`pin::settle_wrong`]);
    ///    the transaction goes back to `identified` for another try (refused
    ///    at step 1 while locked). A right PIN, in one unit: the transaction is
    ///    spent, the lock checked again and the count undone
    ///    ([`pin::settle_right`]), every session open at that workstation
    ///    ends (fast user switching), the new session opens (acr, amr,
    ///    workstation), `login.succeeded` is audited, and the session the
    ///    browser came with (`previous_token`) ends as `replaced`.
    #[allow(clippy::too_many_arguments)]
    pub async fn finish_login(
        &self,
        db: &Db,
        sso: &clavis_sso::SsoConfig,
        now: DateTime<Utc>,
        tx_id: &str,
        token: &str,
        browser: &str,
        pin: &pin::Pin,
        client_ip: Option<String>,
        user_agent: Option<String>,
        previous_token: Option<&str>,
    ) -> Result<BadgeLogin, RelayError> {
        let mut conn = db.conn().await?;
        let tx = self.status(&mut conn, now, tx_id, token, browser).await?;
        // One trace from the tap to the session.
        let span = clavis_audit::trace::continued(
            tracing::info_span!(target: "clavis::trace", "login.badge.finish"),
            tx.trace_parent.as_deref(),
        );
        self.finish_read(
            conn,
            sso,
            now,
            tx,
            pin,
            client_ip,
            user_agent,
            previous_token,
        )
        .instrument(span)
        .await
    }

    /// [`Self::finish_login`] once its transaction is read.
    #[allow(clippy::too_many_arguments)]
    async fn finish_read(
        &self,
        mut conn: DbConn,
        sso: &clavis_sso::SsoConfig,
        now: DateTime<Utc>,
        tx: BadgeTxRow,
        pin: &pin::Pin,
        client_ip: Option<String>,
        user_agent: Option<String>,
        previous_token: Option<&str>,
    ) -> Result<BadgeLogin, RelayError> {
        if tx.purpose != BadgeTxPurpose::Login {
            return Err(RelayError::Unknown);
        }
        match tx.status {
            BadgeTxStatus::Identified => {}
            BadgeTxStatus::Checking => return Err(PinRefusal::Busy.into()),
            _ => return Err(RelayError::Unknown),
        }
        let (Some(oid), Some(badge_id), Some(ws)) =
            (tx.oid, tx.badge_id.clone(), tx.workstation_id.clone())
        else {
            return Err(RelayError::Unknown);
        };
        let reserved = self.reserve(&mut conn, now, &tx.id, oid).await?;
        let good = match reserved.verify(&self.hasher, pin).await {
            Ok(good) => good,
            Err(e) => {
                self.unreserve(&mut conn, now, &tx.id, &reserved, BadgeTxStatus::Identified)
                    .await;
                return Err(e.into());
            }
        };
        if !good {
            let refusal = conn
                .transaction(async |conn| -> Result<PinRefusal, RelayError> {
                    let refusal = pin::settle_wrong(
                        conn,
                        &self.policy,
                        now,
                        &reserved,
                        &Actor::Anonymous,
                        client_ip.clone(),
                    )
                    .await?;
                    // Another try on the same transaction; while locked,
                    // the reservation refuses it.
                    BadgeTxRow::set_status(
                        conn,
                        &tx.id,
                        BadgeTxStatus::Checking,
                        BadgeTxStatus::Identified,
                    )
                    .await?;
                    Ok(refusal)
                })
                .await?;
            return Err(refusal.into());
        }
        // A temporary badge opens no session that outlives it.
        let badge_ends = BadgeRow::find(&mut conn, &badge_id)
            .await?
            .and_then(|b| b.expires_at)
            .and_then(|t| DateTime::from_timestamp(t, 0));
        let new = clavis_sso::NewSession {
            oid,
            acr: self.config.acr.clone(),
            amr: self.config.amr.clone(),
            authenticator_id: Some(badge_id.to_string()),
            client_ip: client_ip.clone(),
            user_agent,
            workstation_id: Some(ws.clone()),
            ends_by: badge_ends,
            method: clavis_core::LoginMethod::Badge,
        };
        let (token, row, created) = clavis_sso::prepare(sso, now, new);
        // Why a right PIN opened nothing, for the audit log.
        let refused_because = std::sync::OnceLock::<&'static str>::new();
        let opened = conn
            .unit(async |conn| {
                if !BadgeTxRow::set_status(conn, &tx.id, BadgeTxStatus::Checking, BadgeTxStatus::Used)
                    .await?
                {
                    return Err(RelayError::Unknown);
                }
                // The badge may have been revoked (or run out), or AD may
                // have disabled every account of the holder, between the tap
                // and the PIN. The conditional use holds the badge's row
                // until this unit commits, so a concurrent revocation either
                // refuses this login or ends its session.
                if !BadgeRow::use_if_active(conn, &badge_id, now.timestamp()).await? {
                    let _ = refused_because.set("badge_not_active");
                    return Err(RelayError::BadgeRefused);
                }
                if Account::all_disabled_for(conn, oid).await? {
                    let _ = refused_because.set("account_disabled");
                    return Err(RelayError::BadgeRefused);
                }
                let replaced = pin::settle_right(conn, now, &reserved).await?;
                clavis_sso::end_all_at_workstation(
                    conn,
                    now,
                    &ws,
                    SessionEndReason::Switched,
                    &Actor::Identity(oid),
                )
                .await?;
                row.insert(conn).await?;
                let ok = AuditEvent::new(
                    Actor::Identity(oid),
                    AuditAction::LoginSucceeded,
                    Some(oid.to_string()),
                    json!({"method": "badge", "badge_id": badge_id, "workstation_id": ws, "acr": self.config.acr, "amr": self.config.amr}),
                )
                .from_addr(client_ip.clone());
                clavis_audit::append(conn, now, vec![ok, created.clone()]).await?;
                if let Some(previous) = previous_token {
                    clavis_sso::replace(conn, now, previous, &row.id).await?;
                }
                Ok::<_, RelayError>(replaced)
            })
            .await;
        let pin_replaced = match opened {
            Ok(replaced) => replaced,
            Err(e) => {
                // A right PIN whose session did not open: the count is undone;
                // a refused badge ends the transaction, anything else lets the
                // holder try again.
                let next = match e {
                    RelayError::BadgeRefused => BadgeTxStatus::Failed,
                    _ => BadgeTxStatus::Identified,
                };
                self.unreserve(&mut conn, now, &tx.id, &reserved, next)
                    .await;
                if let Some(reason) = refused_because.get().copied() {
                    let refusal = AuditEvent::new(
                        Actor::Anonymous,
                        AuditAction::LoginFailed,
                        Some(oid.to_string()),
                        json!({"method": "badge", "reason": reason, "badge_id": badge_id, "workstation_id": ws}),
                    )
                    .from_addr(client_ip.clone());
                    clavis_audit::append_now(&mut conn, now, vec![refusal]).await?;
                }
                return Err(e);
            }
        };
        Ok(BadgeLogin {
            token,
            session: clavis_sso::session_of(&row),
            pin_replaced,
        })
    }

    /// Step 1 of [`Self::finish_login`]: the transaction goes `identified`
    /// → `checking` and the holder's PIN attempt is counted, together or
    /// not at all.
    async fn reserve(
        &self,
        conn: &mut DbConn,
        now: DateTime<Utc>,
        tx_id: &str,
        oid: Oid,
    ) -> Result<pin::Reserved, RelayError> {
        conn.transaction(async |conn| -> Result<pin::Reserved, RelayError> {
            if !BadgeTxRow::set_status(
                conn,
                tx_id,
                BadgeTxStatus::Identified,
                BadgeTxStatus::Checking,
            )
            .await?
            {
                // Another request is checking a PIN on this transaction.
                return Err(PinRefusal::Busy.into());
            }
            Ok(pin::reserve(conn, &self.policy, now, oid).await?)
        })
        .await
    }

    /// Undoes a reservation whose check did not settle, and moves the
    /// transaction on to `next` (best effort; the lease runs out anyway).
    async fn unreserve(
        &self,
        conn: &mut DbConn,
        now: DateTime<Utc>,
        tx_id: &str,
        reserved: &pin::Reserved,
        next: BadgeTxStatus,
    ) {
        pin::release(conn, now, reserved).await;
        if let Err(e) = BadgeTxRow::set_status(conn, tx_id, BadgeTxStatus::Checking, next).await {
            tracing::warn!(badge.transaction = tx_id, error = %e, "badge transaction left checking");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::badge::{AgentReply, Purpose};
    use crate::config::BadgeConfig;
    use clavis_core::LifecycleStatus;
    use clavis_desfire::AesKey;
    use clavis_desfire::emulator::CardEmulator;
    use clavis_store::models::{AuditEventRow, SsoSessionRow, WorkstationRow};
    use clavis_testkit::db::{Backend, TestDb};
    use sha2::{Digest, Sha256};

    /// The service, its keys derived from their labels alone.
    fn service() -> BadgeService {
        let derive = |label: &str| -> [u8; 32] { Sha256::digest(label.as_bytes()).into() };
        BadgeService::new(BadgeConfig::default(), derive, AesKey::ZERO).expect("service")
    }

    /// Relays the transaction's APDUs to `card` until the agent is told
    /// to stop.
    async fn relay(
        svc: &BadgeService,
        db: &Db,
        now: DateTime<Utc>,
        ws: &WorkstationRow,
        opened: &crate::badge::Opened,
        with_token: bool,
        card: &mut CardEmulator,
    ) -> AgentReply {
        let token = with_token.then(|| opened.token.expose().as_str());
        let (mut step, mut answer) = (0, None::<Vec<u8>>);
        loop {
            let reply = svc
                .step(db, now, ws, &opened.id, token, step, answer.as_deref())
                .await
                .expect("step");
            match reply {
                AgentReply::Send { apdu, step: next } => {
                    step = next;
                    answer = Some(card.process(&apdu));
                }
                other => return other,
            }
        }
    }

    #[tokio::test]
    async fn a_badge_login_ends_the_session_the_browser_came_with_as_replaced() {
        let t = TestDb::new(Backend::Sqlite).await;
        let svc = service();
        let sso = clavis_sso::SsoConfig::default();
        let now: DateTime<Utc> = "2026-11-23T08:00:00Z".parse().expect("instant");
        let oid = clavis_testkit::people::insert_person(
            &t.db,
            "Lemoine",
            "Claire",
            LifecycleStatus::Active,
        )
        .await;
        let mut conn = t.db.conn().await.expect("conn");
        let ws = WorkstationRow {
            id: "ws-ward-3".into(),
            name: "ward 3".into(),
            location: None,
            secret_hash: String::new(),
            created_at: 0,
            created_by: clavis_core::Actor::Cli("it".into()),
            last_seen_at: None,
            revoked_at: None,
        };
        ws.insert(&mut conn).await.expect("workstation");
        let mut card = CardEmulator::new([4, 1, 2, 3, 4, 5, 6], AesKey::ZERO, [9; 16]);
        let enrol = Purpose::Enrol { oid, until: None };
        let enrolment = svc
            .open(
                &mut conn,
                now,
                enrol,
                Some(&ws.id),
                &clavis_core::Actor::Cli("it".into()),
            )
            .await
            .expect("open");
        let done = relay(&svc, &t.db, now, &ws, &enrolment, false, &mut card).await;
        assert_eq!(done, AgentReply::Done);
        pin::set_pin(
            &mut conn,
            svc.hasher(),
            svc.policy(),
            now,
            oid,
            &Secret::new("4829".to_string()),
            &clavis_core::Actor::Cli("it".into()),
        )
        .await
        .expect("pin");
        // The browser already carries a session, opened elsewhere.
        let elsewhere = clavis_sso::NewSession {
            oid,
            acr: "eidas1".into(),
            amr: vec!["pwd".into()],
            authenticator_id: None,
            client_ip: None,
            user_agent: None,
            workstation_id: None,
            ends_by: None,
            method: clavis_core::LoginMethod::Fido2,
        };
        let (cookie, previous) = clavis_sso::create(&mut conn, &sso, now, elsewhere)
            .await
            .expect("session");

        let login = svc
            .open(
                &mut conn,
                now,
                Purpose::Login,
                None,
                &clavis_core::Actor::Anonymous,
            )
            .await
            .expect("open");
        card.reset();
        let identified = relay(&svc, &t.db, now, &ws, &login, true, &mut card).await;
        assert_eq!(identified, AgentReply::Done);
        let session = svc
            .finish_login(
                &t.db,
                &sso,
                now,
                &login.id,
                login.token.expose(),
                login.browser.expose(),
                &Secret::new("4829".to_string()),
                None,
                None,
                Some(cookie.expose()),
            )
            .await
            .expect("login")
            .session;

        assert_ne!(session.id, previous.id);
        let ended = SsoSessionRow::find(&mut conn, &previous.id)
            .await
            .expect("find")
            .expect("row");
        assert_eq!(ended.end_reason, Some(SessionEndReason::Replaced));
        let audit = AuditEventRow::page(&mut conn, 0, 100).await.expect("audit");
        let actions: Vec<_> = audit.iter().map(|a| a.action.as_str()).collect();
        let succeeded = actions.iter().position(|a| *a == "login.succeeded");
        let replaced = audit.iter().position(|a| {
            a.action == "session.ended"
                && a.target.as_deref() == Some(previous.id.as_str())
                && a.changes.contains("replaced")
        });
        assert!(
            succeeded.is_some() && replaced > succeeded,
            "login.succeeded, then the previous session ended: {actions:?}"
        );
    }
}
