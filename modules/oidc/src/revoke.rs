//! Token revocation (RFC 7009): always a success for an authenticated
//! client (whether the token existed is not said); revoking a refresh
//! token ends its whole grant, revoking an access token ends that token.
//! Audited.

use crate::clients::Presented;
use crate::protocol::Params;
use crate::{OidcError, Provider, TokenError};
use chrono::{DateTime, Utc};
use clavis_audit::AuditEvent;
use clavis_core::secret;
use clavis_store::models::{OidcGrantRow, OidcTokenRow};
use clavis_store::{Db, DbConn};
use serde_json::json;

impl Provider {
    /// Token revocation (RFC 7009). Always succeeds for an authenticated
    /// client; revoking a refresh token ends its whole grant.
    pub async fn revoke(
        &self,
        db: &Db,
        now: DateTime<Utc>,
        presented: &Presented,
        form: &[(String, String)],
    ) -> Result<(), TokenError> {
        let p = Params::single(form).map_err(|m| TokenError::new("invalid_request", m))?;
        let mut conn = db.conn().await?;
        let client = self.authenticate_client(&mut conn, now, presented).await?;
        let token = p
            .get("token")
            .ok_or_else(|| TokenError::new("invalid_request", "token is required"))?;
        let hash = secret::sha256_hex(token);
        let Some(row) = OidcTokenRow::find(&mut conn, &hash)
            .await?
            .filter(|r| r.client_id == client.client_id)
        else {
            return Ok(());
        };
        let t = now.timestamp();
        conn.transaction(async |tx: &mut DbConn| -> Result<(), OidcError> {
            if row.kind == "refresh" {
                OidcGrantRow::revoke(tx, &row.grant_id, "revoked_by_client", t).await?;
            } else {
                OidcTokenRow::expire(tx, &hash, t).await?;
            }
            clavis_audit::append(
                tx,
                now,
                vec![AuditEvent::new(
                    format!("client:{}", client.client_id),
                    "oidc.token.revoked",
                    Some(row.grant_id.clone()),
                    json!({"kind": row.kind, "oid": row.oid}),
                )],
            )
            .await?;
            Ok(())
        })
        .await
        .map_err(TokenError::internal)
    }
}
