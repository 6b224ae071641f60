//! Token revocation (RFC 7009): always a success for an authenticated
//! client (whether the token existed is not said); revoking a refresh
//! token ends its whole grant, revoking an access token ends that token.
//! Audited.

use crate::clients::Presented;
use crate::{OidcError, Provider, TokenError};
use chrono::{DateTime, Utc};
use clavis_audit::AuditEvent;
use clavis_core::{Actor, AuditAction, TokenKind, secret};
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
        let (mut conn, client, token) = self.token_request(db, now, presented, form).await?;
        let hash = secret::sha256_hex(token);
        let Some(row) = OidcTokenRow::find(&mut conn, &hash)
            .await?
            .filter(|r| r.client_id == client.client_id)
        else {
            return Ok(());
        };
        let t = now.timestamp();
        conn.transaction(async |tx: &mut DbConn| -> Result<(), OidcError> {
            if row.kind == TokenKind::Refresh {
                OidcGrantRow::revoke(tx, &row.grant_id, "revoked_by_client", t).await?;
            } else {
                OidcTokenRow::expire(tx, &hash, t).await?;
            }
            AuditEvent::new(
                Actor::Client(client.client_id.clone()),
                AuditAction::OidcTokenRevoked,
                Some(row.grant_id.clone()),
                json!({"kind": row.kind, "oid": row.oid}),
            )
            .record(tx, now)
            .await?;
            Ok(())
        })
        .await
        .map_err(TokenError::internal)
    }
}
