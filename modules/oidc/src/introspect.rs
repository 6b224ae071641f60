//! Token introspection (RFC 7662): a client may introspect its own live
//! tokens; anything else (another client's token, an expired or used one,
//! one whose grant was revoked) is `{"active": false}`. A removed client
//! cannot authenticate here (`clients::authenticate` finds only registered
//! clients), and a token is only ever introspected by its own client, so
//! a removed client's tokens are never reported active.

use crate::clients::Presented;
use crate::{Provider, TokenError};
use chrono::{DateTime, Utc};
use clavis_core::TokenKind;
use clavis_core::secret;
use clavis_store::Db;
use clavis_store::models::{OidcGrantRow, OidcTokenRow};
use serde_json::{Value, json};

impl Provider {
    /// Token introspection (RFC 7662): a client may introspect its own
    /// tokens; anything else is `{"active": false}`.
    pub async fn introspect(
        &self,
        db: &Db,
        now: DateTime<Utc>,
        presented: &Presented,
        form: &[(String, String)],
    ) -> Result<Value, TokenError> {
        let (mut conn, client, token) = self.token_request(db, now, presented, form).await?;
        let t = now.timestamp();
        let Some(row) = OidcTokenRow::find(&mut conn, &secret::sha256_hex(token))
            .await?
            .filter(|r| r.client_id == client.client_id && r.expires_at > t && r.used_at.is_none())
        else {
            return Ok(json!({"active": false}));
        };
        let grant = OidcGrantRow::find(&mut conn, &row.grant_id).await?;
        let Some(grant) = grant.filter(|g| g.revoked_at.is_none()) else {
            return Ok(json!({"active": false}));
        };
        Ok(json!({
            "active": true,
            "scope": row.scope,
            "client_id": row.client_id,
            "sub": row.oid,
            "exp": row.expires_at,
            "iat": row.created_at,
            "iss": self.issuer,
            "aud": row.client_id,
            "sid": grant.session_id,
            "token_type": if row.kind == TokenKind::Access { "Bearer" } else { "refresh_token" },
        }))
    }
}
