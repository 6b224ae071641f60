//! One-time enrolment links: how a person enrols a first key. The IT desk
//! (CLI or admin API) issues a link for an identity; it works once, for a
//! few hours, and only while the identity may enrol. Only the token's
//! SHA-256 is stored.

use super::Fido2;
use crate::error::AuthnError;
use chrono::{DateTime, Duration, Utc};
use clavis_audit::AuditEvent;
use clavis_core::{
    Actor, AuditAction, Oid, Secret,
    secret::{random_token, sha256_hex},
};
use clavis_store::DbConn;
use clavis_store::models::EnrolmentLinkRow;
use serde_json::json;

/// An enrolment link as issued.
#[derive(Debug)]
pub struct EnrolmentLink {
    /// The one-time URL.
    pub url: Secret<String>,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

/// The link behind `token`, if unused and not expired.
pub(super) async fn valid_link(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    token: &str,
) -> Result<EnrolmentLinkRow, AuthnError> {
    let link = EnrolmentLinkRow::find(conn, &sha256_hex(token))
        .await?
        .ok_or(AuthnError::InvalidLink)?;
    if link.used_at.is_some() || link.expires_at <= now.timestamp() {
        return Err(AuthnError::InvalidLink);
    }
    Ok(link)
}

/// Whether an enrolment link can still be used (for the enrolment page).
pub async fn check_enrolment_link(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    token: &str,
) -> Result<Oid, AuthnError> {
    let link = valid_link(conn, now, token).await?;
    Fido2::ensure_can_enrol(conn, link.oid).await?;
    Ok(link.oid)
}

/// Issues a one-time enrolment link for `oid`, valid `valid_hours`.
pub async fn issue_enrolment_link(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    public_url: &str,
    oid: Oid,
    valid_hours: i64,
    actor: &Actor,
) -> Result<EnrolmentLink, AuthnError> {
    if !(1..=24 * 14).contains(&valid_hours) {
        return Err(AuthnError::Config(
            "valid hours must be between 1 and 336".into(),
        ));
    }
    Fido2::ensure_can_enrol(conn, oid).await?;
    let token = random_token();
    let expires_at = now + Duration::hours(valid_hours);
    conn.transaction(async |tx| {
        EnrolmentLinkRow {
            token_hash: sha256_hex(&token),
            oid,
            created_by: actor.clone(),
            created_at: now.timestamp(),
            expires_at: expires_at.timestamp(),
            used_at: None,
        }
        .insert(tx)
        .await?;
        AuditEvent::new(
            actor,
            AuditAction::EnrolmentLinkIssued,
            Some(oid.to_string()),
            json!({"expires_at": expires_at}),
        )
        .record(tx, now)
        .await?;
        Ok::<_, AuthnError>(())
    })
    .await?;
    Ok(EnrolmentLink {
        url: Secret::new(format!(
            "{}/enrol/{token}",
            public_url.trim_end_matches('/')
        )),
        expires_at,
    })
}
