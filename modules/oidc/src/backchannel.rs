//! Back-channel logout (OpenID Connect Back-Channel Logout 1.0).
//!
//! When an SSO session ends, for any reason, the session service queues
//! one notification per application the session signed in to
//! (`logout_outbox`, same transaction). [`deliver_due`] — run every few
//! seconds by `clavis serve` on every node — posts a signed logout token to
//! each application that registered a `backchannel_logout_uri`, retries
//! failures with a growing delay, and gives up after
//! `oidc.backchannel.max_attempts`. Every outcome is audited.

use crate::keys::Alg;
use crate::{OidcError, Provider};
use chrono::{DateTime, Utc};
use clavis_audit::AuditEvent;
use clavis_core::{Actor, AuditAction};
use clavis_store::models::{LogoutOutboxRow, OidcClientRow};
use clavis_store::{Db, DbConn};
use serde_json::json;

/// The event member of a logout token.
pub const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// Delay before attempt `n + 1` after `n` failures (seconds).
pub fn retry_delay(failures: i32) -> i64 {
    match failures {
        ..=1 => 10,
        2 => 30,
        3 => 60,
        4 => 300,
        5 => 900,
        6 => 1800,
        _ => 3600,
    }
}

impl Provider {
    /// A signed logout token for `client` about the session of `row`.
    pub fn logout_token(
        &self,
        client: &OidcClientRow,
        row: &LogoutOutboxRow,
        now: DateTime<Utc>,
    ) -> Result<String, OidcError> {
        let t = now.timestamp();
        let claims = json!({
            "iss": self.issuer,
            "aud": client.client_id,
            "iat": t,
            "exp": t + 120,
            "jti": clavis_core::secret::random_b64url(16),
            "sub": row.oid,
            "sid": row.session_id,
            "events": {EVENT: {}},
        });
        let keys = self.keys();
        let alg = Alg::parse(&client.id_token_alg).unwrap_or(Alg::Rs256);
        keys.current(alg)
            .ok_or(OidcError::Signing)?
            .sign("logout+jwt", &claims)
    }
}

/// Delivers the notifications due at `now`; returns how many were
/// delivered.
pub async fn deliver_due(
    provider: &Provider,
    db: &Db,
    http: &reqwest::Client,
    now: DateTime<Utc>,
) -> Result<usize, OidcError> {
    let mut conn = db.conn().await?;
    let due = LogoutOutboxRow::due(&mut conn, now.timestamp(), 100).await?;
    let mut delivered = 0;
    for mut row in due {
        let t = now.timestamp();
        let client = OidcClientRow::find_active(&mut conn, &row.client_id).await?;
        let Some((client, uri)) = client.and_then(|c| {
            let uri = c.backchannel_logout_uri.clone()?;
            Some((c, uri))
        }) else {
            // Nothing to tell an application without a back-channel URI.
            row.given_up_at = Some(t);
            row.last_error = Some("no backchannel_logout_uri".into());
            row.record_attempt(&mut conn).await?;
            continue;
        };
        let token = provider.logout_token(&client, &row, now)?;
        let result = http
            .post(&uri)
            .timeout(std::time::Duration::from_secs(
                provider.cfg.backchannel.timeout_secs,
            ))
            .header("Cache-Control", "no-store")
            .form(&[("logout_token", token.as_str())])
            .send()
            .await;
        row.attempts += 1;
        let error = match result {
            Ok(r) if r.status().is_success() => None,
            Ok(r) => Some(format!("HTTP {}", r.status().as_u16())),
            Err(e) => Some(if e.is_timeout() {
                "timeout".to_string()
            } else if e.is_connect() {
                "connection refused or unreachable".to_string()
            } else {
                "request failed".to_string()
            }),
        };
        let action = match &error {
            None => {
                row.delivered_at = Some(t);
                row.last_error = None;
                delivered += 1;
                AuditAction::OidcBackchannelDelivered
            }
            Some(e) if row.attempts >= provider.cfg.backchannel.max_attempts => {
                row.given_up_at = Some(t);
                row.last_error = Some(e.clone());
                AuditAction::OidcBackchannelGivenUp
            }
            Some(e) => {
                row.next_attempt_at = t + retry_delay(row.attempts);
                row.last_error = Some(e.clone());
                AuditAction::OidcBackchannelFailed
            }
        };
        if let Some(e) = &error {
            tracing::warn!(oidc.client_id = %row.client_id, session.id = %row.session_id, attempts = row.attempts, error = %e, "back-channel logout not delivered");
        }
        conn.transaction(async |tx: &mut DbConn| -> Result<(), OidcError> {
            row.record_attempt(tx).await?;
            AuditEvent::new(
                    Actor::Clavis,
                    action,
                    Some(row.client_id.to_string()),
                    json!({"session_id": row.session_id, "oid": row.oid, "attempts": row.attempts, "error": row.last_error}),
                )
.record(tx, now)
            .await?;
            Ok(())
        })
        .await?;
    }
    Ok(delivered)
}
