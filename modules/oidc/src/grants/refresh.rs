//! The `refresh_token` grant (RFC 6749 §6), with rotation: each refresh
//! token is exchanged once for a new pair, for the scopes granted or
//! fewer. A rotated refresh token that comes back means someone holds a
//! copy (OAuth 2.0 Security BCP §4.14): the whole grant is revoked.

use crate::issue::Issued;
use crate::protocol::Params;
use crate::{Provider, TokenError};
use chrono::{DateTime, Utc};
use clavis_audit::AuditEvent;
use clavis_core::{Actor, AuditAction, TokenKind, secret};
use clavis_store::DbConn;
use clavis_store::models::{OidcClientRow, OidcGrantRow, OidcTokenRow};
use serde_json::json;

/// What presenting a refresh token did.
enum Rotation {
    /// New tokens, the presented one used up.
    Issued(Box<Issued>),
    /// It had been used before: the grant is now revoked.
    Reused,
}

impl Provider {
    /// Exchanges the `refresh_token` of `p`, inside the token endpoint's
    /// unit.
    pub(crate) async fn refresh_grant(
        &self,
        conn: &mut DbConn,
        now: DateTime<Utc>,
        client: &OidcClientRow,
        p: &Params<'_>,
    ) -> Result<Issued, TokenError> {
        let presented = p
            .get("refresh_token")
            .ok_or_else(|| TokenError::new("invalid_request", "refresh_token is required"))?;
        let t = now.timestamp();
        let hash = secret::sha256_hex(presented);
        let token = OidcTokenRow::find(conn, &hash)
            .await?
            .filter(|r| r.kind == TokenKind::Refresh && r.client_id == client.client_id)
            .ok_or_else(|| TokenError::invalid_grant("unknown refresh token"))?;
        let grant = OidcGrantRow::find(conn, &token.grant_id)
            .await?
            .ok_or_else(|| TokenError::invalid_grant("unknown refresh token"))?;
        // What the application may still ask for: an operator who narrowed
        // its scopes since narrows what its refresh tokens bring.
        let original: Vec<&str> = token
            .scope
            .split(' ')
            .filter(|s| client.scopes.0.iter().any(|c| c == s))
            .collect();
        let scopes = narrowed(&original, p.get("scope"))?;
        let rotation = conn
            .transaction(async |tx| -> Result<Rotation, TokenError> {
                if !OidcTokenRow::mark_used(tx, &hash, t).await? {
                    // Kept: the revocation is committed, the answer an error.
                    OidcGrantRow::revoke(tx, &grant.id, "refresh_reused", t).await?;
                    AuditEvent::new(
                        Actor::Client(client.client_id.clone()),
                        AuditAction::OidcRefreshReused,
                        Some(grant.id.clone()),
                        json!({"oid": grant.oid}),
                    )
                    .record(tx, now)
                    .await?;
                    return Ok(Rotation::Reused);
                }
                if token.expires_at <= t {
                    return Err(TokenError::invalid_grant("refresh token expired"));
                }
                if grant.revoked_at.is_some() {
                    return Err(TokenError::invalid_grant("authorization revoked"));
                }
                let issued = self
                    .issue(tx, now, client, &grant, &scopes, token.expires_at, None)
                    .await?;
                Ok(Rotation::Issued(Box::new(issued)))
            })
            .await?;
        match rotation {
            Rotation::Issued(issued) => Ok(*issued),
            Rotation::Reused => {
                tracing::warn!(oidc.grant_id = %grant.id, "refresh token reused: grant revoked");
                Err(TokenError::invalid_grant("refresh token already used"))
            }
        }
    }
}

/// The scopes of a refresh: those `asked` (space-separated), all of which
/// must have been granted (`original`), or the original ones.
fn narrowed<'a>(original: &[&'a str], asked: Option<&'a str>) -> Result<Vec<&'a str>, TokenError> {
    let Some(asked) = asked else {
        return Ok(original.to_vec());
    };
    let asked: Vec<&str> = asked.split(' ').filter(|x| !x.is_empty()).collect();
    if let Some(extra) = asked.iter().find(|a| !original.contains(a)) {
        return Err(TokenError::new(
            "invalid_scope",
            format!("scope {extra} was not granted"),
        ));
    }
    Ok(asked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refresh_may_narrow_the_scopes_never_widen_them() {
        let original = ["openid", "profile", "email"];
        assert_eq!(narrowed(&original, None).expect("all"), original.to_vec());
        assert_eq!(
            narrowed(&original, Some("openid  email")).expect("fewer"),
            vec!["openid", "email"]
        );
        let e = narrowed(&original, Some("openid roles")).expect_err("wider");
        assert_eq!(
            (e.error, e.description.as_str()),
            ("invalid_scope", "scope roles was not granted")
        );
    }
}
