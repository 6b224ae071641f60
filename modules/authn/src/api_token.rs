//! Admin API tokens: how callers of the admin API authenticate. Random
//! 256-bit secrets shown once; only their SHA-256 is stored. A token is
//! looked up by its hash and compared in constant time; every failure gives
//! the same answer. Creation and revocation are audited in the same
//! transaction. The CLI issues them (`clavis api-token …`); the web crate's
//! admin API checks them.

use chrono::{DateTime, Utc};
use clavis_audit::AuditEvent;
use clavis_core::{
    Actor, AuditAction, Secret,
    secret::{hash_matches, random_token, sha256_hex},
};
use clavis_store::models::ApiToken;
use clavis_store::{DbConn, StoreError};
use serde_json::json;

/// Every token starts with this, so leaked tokens are easy to grep for.
pub const TOKEN_PREFIX: &str = "clv_";

/// Errors issuing tokens.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// A token with this name exists.
    #[error("an API token named {0:?} already exists")]
    NameTaken(String),
    /// The name is not usable.
    #[error("token name {0:?} must be 1-64 letters, digits, '-', '_' or '.'")]
    BadName(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<clavis_audit::AuditError> for TokenError {
    fn from(e: clavis_audit::AuditError) -> Self {
        match e {
            clavis_audit::AuditError::Store(s) => TokenError::Store(s),
        }
    }
}

/// Creates a token named `name`; returns the secret (shown once).
pub async fn create(
    conn: &mut DbConn,
    name: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Secret<String>, TokenError> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(TokenError::BadName(name.to_string()));
    }
    let token = format!("{TOKEN_PREFIX}{}", random_token());
    conn.transaction(async |tx: &mut DbConn| -> Result<(), TokenError> {
        if ApiToken::find_by_name(tx, name).await?.is_some() {
            return Err(TokenError::NameTaken(name.to_string()));
        }
        ApiToken {
            id: clavis_core::ids::new_record_id(),
            name: name.to_string(),
            token_hash: sha256_hex(&token),
            created_at: now.timestamp(),
            last_used_at: None,
            revoked_at: None,
        }
        .insert(tx)
        .await?;
        AuditEvent::new(
            actor,
            AuditAction::ApiTokenCreated,
            Some(name.to_string()),
            json!({}),
        )
        .record(tx, now)
        .await?;
        Ok(())
    })
    .await?;
    Ok(Secret::new(token))
}

/// Revokes a token; returns whether one was live.
pub async fn revoke(
    conn: &mut DbConn,
    name: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<bool, TokenError> {
    conn.transaction(async |tx: &mut DbConn| -> Result<bool, TokenError> {
        let done = ApiToken::revoke(tx, name, now.timestamp()).await?;
        if done {
            AuditEvent::new(
                actor,
                AuditAction::ApiTokenRevoked,
                Some(name.to_string()),
                json!({}),
            )
            .record(tx, now)
            .await?;
        }
        Ok(done)
    })
    .await
}

/// The name of the live token `presented`, if it is one (and marks it
/// used).
pub async fn authenticate(
    conn: &mut DbConn,
    presented: &str,
    now: DateTime<Utc>,
) -> Result<Option<String>, StoreError> {
    if !presented.starts_with(TOKEN_PREFIX) || presented.len() > 128 {
        return Ok(None);
    }
    let Some(tok) = ApiToken::find_live_by_hash(conn, &sha256_hex(presented)).await? else {
        return Ok(None);
    };
    if !hash_matches(&tok.token_hash, presented) {
        return Ok(None);
    }
    ApiToken::mark_used(conn, &tok.id, now.timestamp()).await?;
    Ok(Some(tok.name))
}
