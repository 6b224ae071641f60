//! The userinfo endpoint (OpenID Connect Core §5.3): what the scopes of a
//! live access token say about its person, while the grant stands, its
//! client is still registered and the person can still sign in. Errors
//! follow RFC 6750.

use crate::Provider;
use chrono::{DateTime, Utc};
use clavis_core::secret;
use clavis_core::{LifecycleStatus, TokenKind};
use clavis_store::Db;
use clavis_store::models::{IdentityRow, OidcClientRow, OidcGrantRow, OidcTokenRow};
use serde_json::Value;

/// A userinfo error (RFC 6750): `invalid_token` and 401, or 500.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BearerError {
    /// HTTP status.
    pub status: u16,
    /// `invalid_token`, `invalid_request` or `server_error`.
    pub error: &'static str,
}

impl BearerError {
    /// The token is unknown, expired, revoked, or its person gone.
    const INVALID: BearerError = BearerError {
        status: 401,
        error: "invalid_token",
    };

    /// A failure of ours (logged here, once).
    fn internal(e: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %e, "userinfo failed");
        BearerError {
            status: 500,
            error: "server_error",
        }
    }
}

impl Provider {
    /// Userinfo for a bearer access token.
    pub async fn userinfo(
        &self,
        db: &Db,
        now: DateTime<Utc>,
        access_token: &str,
    ) -> Result<Value, BearerError> {
        let internal = |e: clavis_store::StoreError| BearerError::internal(&e);
        let mut conn = db.conn().await.map_err(internal)?;
        let t = now.timestamp();
        let token = OidcTokenRow::find(&mut conn, &secret::sha256_hex(access_token))
            .await
            .map_err(internal)?
            .filter(|r| r.kind == TokenKind::Access && r.expires_at > t)
            .ok_or(BearerError::INVALID)?;
        let grant = OidcGrantRow::find(&mut conn, &token.grant_id)
            .await
            .map_err(internal)?
            .filter(|g| g.revoked_at.is_none())
            .ok_or(BearerError::INVALID)?;
        // Removing a client revokes its grants; this holds for grants of
        // clients removed before that rule, or by hand.
        OidcClientRow::find_active(&mut conn, &token.client_id)
            .await
            .map_err(internal)?
            .ok_or(BearerError::INVALID)?;
        let identity = IdentityRow::find(&mut conn, grant.oid)
            .await
            .map_err(internal)?
            .filter(|i| i.status == LifecycleStatus::Active)
            .ok_or(BearerError::INVALID)?;
        let scopes: Vec<&str> = token.scope.split(' ').collect();
        let claims = crate::claims::for_identity(
            &mut conn,
            &identity,
            &token.client_id,
            &scopes,
            &self.cfg.claim_names,
            now,
        )
        .await
        .map_err(internal)?;
        Ok(Value::Object(claims))
    }
}
