//! Signing in to Clavis with Pro Santé Connect, for the professional who
//! forgot the badge: PSC authenticates them (e-CPS or CPS), and the
//! national id it returns must be that of exactly one active identity
//! whose link stands — a link the person made earlier from a badge or key
//! session, that checked HR's RPPS and name against PSC's answer. HR's
//! RPPS alone is never enough: HR may hold a wrong one. The session
//! carries PSC's `acr` (at most `psc.max_session_acr`) and the method
//! `psc` (its `amr` says it came from PSC); such a session is never
//! asserted back to PSC, never runs the badge office, and manages no
//! authenticator unless the hospital allows it.

use crate::rp::{Purpose, Verified};
use crate::{Psc, PscError};
use chrono::{DateTime, Utc};
use clavis_audit::AuditEvent;
use clavis_core::{Actor, AuditAction, LifecycleStatus, LoginMethod, Oid, Secret};
use clavis_sso::{NewSession, Session, SsoConfig};
use clavis_store::models::psc::{LinkState, state};
use clavis_store::models::{Account, IdentityRow, PscLinkRow};
use clavis_store::{Db, DbConn};
use serde_json::json;

/// The `amr` of a session opened through PSC.
pub const PSC_AMR: &str = "psc";

/// What a sign-in with PSC came to.
#[derive(Debug)]
pub enum LoginOutcome {
    /// A session was opened: its cookie token and view.
    SignedIn {
        token: Secret<String>,
        session: Box<Session>,
    },
    /// No session: why (`not_linked`, `link_not_valid`,
    /// `ambiguous_national_id`, `identity_not_active`, `account_disabled`).
    /// Audited.
    Refused(&'static str),
}

/// The request's browser, for the session record.
#[derive(Debug, Clone, Default)]
pub struct Browser<'a> {
    pub client_ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    /// The session cookie the browser came with (replaced by the new one).
    pub replaces: Option<&'a str>,
}

impl Psc {
    /// Opens a session for the person PSC authenticated (a verified trip
    /// of purpose [`Purpose::Login`]), in one transaction with its audit.
    pub async fn sign_in(
        &self,
        db: &Db,
        sso: &SsoConfig,
        now: DateTime<Utc>,
        v: &Verified,
        browser: Browser<'_>,
    ) -> Result<LoginOutcome, PscError> {
        if v.trip.purpose != Purpose::Login {
            return Err(PscError::Config(
                "this trip to PSC was not for a sign-in".into(),
            ));
        }
        let mut conn = db.conn().await?;
        conn.transaction(async |tx: &mut DbConn| {
            let t = now.timestamp();
            let links = PscLinkRow::standing_for_national_id(tx, v.national_id.as_str()).await?;
            let mut candidates = Vec::new();
            let mut linked = Vec::new();
            for l in &links {
                if let Some(i) = IdentityRow::find(tx, l.oid).await? {
                    if state(l, &i, t) == LinkState::Valid {
                        linked.push(i.clone());
                    }
                    candidates.push(i);
                }
            }
            let active: Vec<&IdentityRow> = linked.iter().collect();
            let refused = match (candidates.len(), active.as_slice()) {
                (0, _) => {
                    // No link: say so, unless HR's people of that RPPS
                    // have all left (then that is the reason).
                    let hr = match v.national_id.rpps() {
                        Some(r) => IdentityRow::with_rpps(tx, r.as_str()).await?,
                        None => Vec::new(),
                    };
                    let gone =
                        !hr.is_empty() && hr.iter().all(|i| i.status != LifecycleStatus::Active);
                    Some(if gone {
                        ("identity_not_active", hr.first().map(|i| i.oid))
                    } else {
                        ("not_linked", None)
                    })
                }
                (_, [one]) => {
                    let enabled = Account::for_identity(tx, one.oid)
                        .await?
                        .iter()
                        .any(|a| a.enabled);
                    let has_accounts = !Account::for_identity(tx, one.oid).await?.is_empty();
                    (has_accounts && !enabled).then_some(("account_disabled", Some(one.oid)))
                }
                (_, []) => {
                    let oid = candidates.first().map(|i| i.oid);
                    let inactive = candidates
                        .iter()
                        .all(|i| i.status != LifecycleStatus::Active);
                    Some((
                        if inactive {
                            "identity_not_active"
                        } else {
                            "link_not_valid"
                        },
                        oid,
                    ))
                }
                _ => Some(("ambiguous_national_id", None)),
            };
            if let Some((reason, oid)) = refused {
                audit_failure(tx, now, v, reason, oid, browser.client_ip).await?;
                return Ok(LoginOutcome::Refused(reason));
            }
            let oid: Oid = active[0].oid;
            let mut amr = vec![PSC_AMR.to_string()];
            if let Some(m) = &v.auth_mode {
                amr.push(format!("psc_{}", m.to_ascii_lowercase()));
            }
            let acr = session_acr(v.acr.as_deref(), &self.cfg.max_session_acr);
            let new = NewSession {
                oid,
                acr: acr.clone(),
                amr: amr.clone(),
                authenticator_id: None,
                client_ip: browser.client_ip.map(str::to_string),
                user_agent: browser.user_agent.map(str::to_string),
                workstation_id: None,
                ends_by: None,
                method: LoginMethod::Psc,
            };
            let (token, session) = clavis_sso::create(tx, sso, now, new).await?;
            // PSC's ID token, the hint of the logout at PSC when this
            // session ends by the person's hand.
            clavis_store::models::PscLoginRow {
                session_id: session.id.clone(),
                id_token: v.id_token.expose().clone(),
                expires_at: session.expires_at.timestamp(),
            }
            .insert(tx)
            .await?;
            if let Some(previous) = browser.replaces {
                clavis_sso::replace(tx, now, previous, &session.id).await?;
            }
            AuditEvent::new(
                Actor::Identity(oid),
                AuditAction::LoginSucceeded,
                Some(session.id.to_string()),
                json!({"method": "psc", "national_id": v.national_id.as_str(), "psc_sub": v.psc_sub,
                       "acr": acr, "amr": amr, "auth_mode": v.auth_mode}),
            )
            .from_addr(browser.client_ip.map(str::to_string))
            .record(tx, now)
            .await?;
            Ok(LoginOutcome::SignedIn {
                token,
                session: Box::new(session),
            })
        })
        .await
    }
}

/// The assurance of a session opened through PSC: PSC's `acr`, at most
/// `cap` (a CPS card's `eidas3` does not make a forgotten-badge session
/// stronger than the hospital's own logins); the weakest level when PSC
/// gave none or one outside the eIDAS order.
fn session_acr(psc: Option<&str>, cap: &str) -> String {
    let order = clavis_core::AcrOrder::default();
    let weakest = order.levels().first().cloned().unwrap_or_default();
    match psc.filter(|a| order.knows(a)) {
        Some(a) if order.satisfies(cap, a) => a.to_string(),
        Some(_) => cap.to_string(),
        None => weakest,
    }
}

async fn audit_failure(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    v: &Verified,
    reason: &str,
    oid: Option<Oid>,
    client_ip: Option<&str>,
) -> Result<(), PscError> {
    AuditEvent::new(
        oid.map_or(Actor::Anonymous, Actor::Identity),
        AuditAction::LoginFailed,
        oid.map(|o| o.to_string()),
        json!({"method": "psc", "reason": reason, "national_id": v.national_id.as_str(), "psc_sub": v.psc_sub}),
    )
    .from_addr(client_ip.map(str::to_string))
    .record(conn, now)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::session_acr;

    #[test]
    fn psc_s_acr_is_capped_and_an_unknown_one_is_the_weakest() {
        assert_eq!(session_acr(Some("eidas1"), "eidas2"), "eidas1");
        assert_eq!(session_acr(Some("eidas3"), "eidas2"), "eidas2");
        assert_eq!(session_acr(Some("eidas2"), "eidas2"), "eidas2");
        assert_eq!(session_acr(Some("0"), "eidas2"), "eidas1");
        assert_eq!(session_acr(None, "eidas3"), "eidas1");
    }
}
