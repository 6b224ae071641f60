//! The page's last request of a badge transaction: the PIN that turns an
//! identified badge into an SSO session, or the PIN the badge office sets
//! right after an enrolment.

use super::{BadgeService, RelayError};
use crate::badge::pin::{self, PinRefusal};
use crate::badge::records::BadgeError;
use chrono::{DateTime, Utc};
use clavis_audit::AuditEvent;
use clavis_core::secret::Secret;
use clavis_store::models::{BadgeRow, BadgeTxRow};
use clavis_store::{Db, DbConn};
use serde_json::json;

impl BadgeService {
    /// The PIN after a badge was identified: checks it (lockout), then in
    /// one unit spends the transaction, ends every session open at that
    /// workstation (fast user switching), opens the new session (acr, amr,
    /// workstation) and audits `login.succeeded`.
    #[allow(clippy::too_many_arguments)]
    pub async fn finish_login(
        &self,
        db: &Db,
        sso: &clavis_sso::SsoConfig,
        now: DateTime<Utc>,
        tx_id: &str,
        token: &str,
        browser: &str,
        pin: &str,
        client_ip: Option<String>,
        user_agent: Option<String>,
    ) -> Result<(Secret<String>, clavis_sso::Session), RelayError> {
        let mut conn = db.conn().await?;
        let tx = self.status(&mut conn, now, tx_id, token, browser).await?;
        if tx.purpose != "login" || tx.status != "identified" {
            return Err(RelayError::Unknown);
        }
        let (Some(oid), Some(badge_id), Some(ws)) = (
            tx.oid.clone(),
            tx.badge_id.clone(),
            tx.workstation_id.clone(),
        ) else {
            return Err(RelayError::Unknown);
        };
        if pin.len() > 64 {
            return Err(PinRefusal::Wrong { left: 0 }.into());
        }
        match pin::check_pin(&mut conn, &self.hasher, &self.policy, now, &oid, pin).await {
            Ok(()) => {}
            Err(BadgeError::Pin(p)) => return Err(p.into()),
            Err(e) => return Err(e.into()),
        }
        let new = clavis_sso::NewSession {
            oid: oid.clone(),
            acr: self.config.acr.clone(),
            amr: self.config.amr.clone(),
            authenticator_id: Some(badge_id.clone()),
            client_ip: client_ip.clone(),
            user_agent,
            workstation_id: Some(ws.clone()),
        };
        let (token, row, created) = clavis_sso::prepare(sso, now, new);
        conn.unit(async |conn| {
            if !BadgeTxRow::set_status(conn, &tx.id, "identified", "used").await? {
                return Err(RelayError::Unknown);
            }
            // The badge may have been revoked between the tap and the PIN.
            match BadgeRow::find(conn, &badge_id).await? {
                Some(b) if b.status == "active" => {}
                _ => return Err(RelayError::BadgeRefused),
            }
            clavis_sso::end_all_at_workstation(conn, now, &ws, "switched", &format!("identity:{oid}"))
                .await?;
            row.insert(conn).await?;
            BadgeRow::touch(conn, &badge_id, now.timestamp()).await?;
            let mut ok = AuditEvent::new(
                format!("identity:{oid}"),
                "login.succeeded",
                Some(oid.clone()),
                json!({"method": "badge", "badge_id": badge_id, "workstation_id": ws, "acr": self.config.acr, "amr": self.config.amr}),
            );
            ok.client_addr = client_ip.clone();
            clavis_audit::append(conn, now, vec![ok, created.clone()]).await?;
            Ok::<_, RelayError>(())
        })
        .await?;
        Ok((token, clavis_sso::session_of(&row)))
    }

    /// Sets the holder's PIN right after their badge was personalised (the
    /// enrolment transaction's token and browser binding prove it is that
    /// desk). Audited `badge.pin_set`.
    #[allow(clippy::too_many_arguments)]
    pub async fn set_pin_after_enrolment(
        &self,
        conn: &mut DbConn,
        now: DateTime<Utc>,
        tx_id: &str,
        token: &str,
        browser: &str,
        pin: &str,
        actor: &str,
    ) -> Result<String, RelayError> {
        let tx = self.status(conn, now, tx_id, token, browser).await?;
        let (true, Some(oid)) = (tx.purpose == "enrol" && tx.status == "done", tx.oid.clone())
        else {
            return Err(RelayError::Unknown);
        };
        pin::set_pin(conn, &self.hasher, &self.policy, now, &oid, pin, actor).await?;
        Ok(oid)
    }
}
