//! Admin API tokens: how callers of the admin API authenticate. Random
//! 256-bit secrets shown once; only their SHA-256 is stored. A token is
//! looked up by its hash and compared in constant time; every failure gives
//! the same answer. Creation and revocation are audited in the same
//! transaction. The CLI issues them (`clavis api-token …`); the web crate's
//! admin API checks them.

use chrono::{DateTime, Utc};
use clavis_audit::AuditEvent;
use clavis_core::roles::{Access, Area};
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
    /// A scope that is not `<area>:read|write`.
    #[error(
        "scope {0:?} must be <area>:read or <area>:write (areas: dashboard, identities, cases, syncs, authenticators, sessions, applications, habilitations, audit, compliance, operators)"
    )]
    BadScope(String),
    /// An expiry in the past.
    #[error("the expiry must be in the future")]
    BadExpiry,
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

/// What a token may reach: an area of the admin API (the console's), to
/// read or also to act.
pub type TokenScope = (Area, Access);

/// The scopes as stored (`["identities:read", …]`).
pub fn scopes_text(scopes: &[TokenScope]) -> String {
    serde_json::Value::from(
        scopes
            .iter()
            .map(|(a, x)| format!("{a}:{x}"))
            .collect::<Vec<_>>(),
    )
    .to_string()
}

/// Reads one scope (`identities:read`).
pub fn parse_scope(text: &str) -> Result<TokenScope, TokenError> {
    let (area, access) = text
        .split_once(':')
        .ok_or_else(|| TokenError::BadScope(text.to_string()))?;
    Ok((
        area.parse()
            .map_err(|_| TokenError::BadScope(text.to_string()))?,
        access
            .parse()
            .map_err(|_| TokenError::BadScope(text.to_string()))?,
    ))
}

/// A token that authenticated: its name and what it may reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    /// Its name (the audit's actor `api:<name>`).
    pub name: String,
    /// `None`: a token from before scopes, which reaches the whole API.
    pub scopes: Option<Vec<TokenScope>>,
}

impl Authenticated {
    /// Whether it may reach `area` with `access` (acting implies reading).
    pub fn may(&self, area: Area, access: Access) -> bool {
        match &self.scopes {
            None => true,
            Some(scopes) => scopes
                .iter()
                .any(|(a, x)| *a == area && (*x == access || *x == Access::Write)),
        }
    }
}

/// Creates a token named `name` reaching the whole API and never
/// expiring (as tokens did before scopes); see [`create_scoped`].
pub async fn create(
    conn: &mut DbConn,
    name: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Secret<String>, TokenError> {
    create_scoped(conn, name, None, None, actor, now).await
}

/// Creates a token named `name` limited to `scopes` (`None`: the whole
/// API) until `expires_at` (`None`: never); returns the secret (shown
/// once).
pub async fn create_scoped(
    conn: &mut DbConn,
    name: &str,
    scopes: Option<&[TokenScope]>,
    expires_at: Option<DateTime<Utc>>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Secret<String>, TokenError> {
    if scopes.is_some_and(|s| s.is_empty()) {
        return Err(TokenError::BadScope("(none)".into()));
    }
    if expires_at.is_some_and(|e| e <= now) {
        return Err(TokenError::BadExpiry);
    }
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
            scopes: scopes.map(scopes_text),
            expires_at: expires_at.map(|e| e.timestamp()),
        }
        .insert(tx)
        .await?;
        AuditEvent::new(
            actor,
            AuditAction::ApiTokenCreated,
            Some(name.to_string()),
            json!({
                "scopes": scopes.map(|s| s.iter().map(|(a, x)| format!("{a}:{x}")).collect::<Vec<_>>()),
                "expires_at": expires_at,
            }),
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

/// The live, unexpired token `presented`, if it is one (and marks it
/// used).
pub async fn authenticate(
    conn: &mut DbConn,
    presented: &str,
    now: DateTime<Utc>,
) -> Result<Option<Authenticated>, StoreError> {
    if !presented.starts_with(TOKEN_PREFIX) || presented.len() > 128 {
        return Ok(None);
    }
    let Some(tok) = ApiToken::find_live_by_hash(conn, &sha256_hex(presented)).await? else {
        return Ok(None);
    };
    if !hash_matches(&tok.token_hash, presented) {
        return Ok(None);
    }
    if tok.expires_at.is_some_and(|e| e <= now.timestamp()) {
        return Ok(None);
    }
    // A stored scope that does not read back is no scope at all: the
    // token reaches nothing (never more than it was given).
    let scopes = tok.scopes.as_deref().map(|text| {
        serde_json::from_str::<Vec<String>>(text)
            .unwrap_or_default()
            .iter()
            .filter_map(|s| parse_scope(s).ok())
            .collect()
    });
    ApiToken::mark_used(conn, &tok.id, now.timestamp()).await?;
    Ok(Some(Authenticated {
        name: tok.name,
        scopes,
    }))
}
