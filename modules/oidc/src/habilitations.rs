//! Habilitations — a person's roles in an application, sent to it in the
//! `roles` claim — and their yearly review, which HospiConnect asks
//! hospitals for.
//!
//! Granting and withdrawing are audited (`habilitation.granted`,
//! `habilitation.revoked`). A review campaign takes a snapshot of the
//! habilitations of one application, or of one service's people (their
//! current assignment); reviewers keep or remove each one. A removal
//! withdraws the habilitation at once (audited with the campaign); keeping
//! one records when it was last confirmed, which the compliance dashboard
//! counts. Each item is decided once, whoever decides first; a closed
//! campaign takes no more decisions.

use chrono::{DateTime, Utc};
use clavis_audit::AuditEvent;
use clavis_core::{Actor, AuditAction, ClientId, Oid};
use clavis_store::models::review::{ReviewCampaignRow, ReviewItemRow};
use clavis_store::models::{HabilitationFilter, HabilitationRow};
use clavis_store::{DbConn, StoreError};
use serde_json::json;

/// Why a habilitation change or a review decision was not made.
#[derive(Debug, thiserror::Error)]
pub enum HabilitationError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No such campaign.
    #[error("no review campaign {0}")]
    CampaignNotFound(String),
    /// The campaign is closed.
    #[error("the review campaign {0} is closed")]
    CampaignClosed(String),
    /// The habilitation is not in the campaign, or was already decided.
    #[error("this habilitation is not awaiting a decision in this campaign")]
    NotAwaiting,
    /// A request that cannot be.
    #[error("{0}")]
    Invalid(String),
}

impl From<clavis_audit::AuditError> for HabilitationError {
    fn from(e: clavis_audit::AuditError) -> Self {
        match e {
            clavis_audit::AuditError::Store(s) => HabilitationError::Store(s),
        }
    }
}

/// The days a habilitation is in force: from `from`, until `until`
/// (included); either open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Validity {
    pub from: Option<chrono::NaiveDate>,
    pub until: Option<chrono::NaiveDate>,
}

impl Validity {
    fn check(&self) -> Result<(), HabilitationError> {
        // Stored as text and compared as text: four-digit years only.
        use chrono::Datelike;
        for (what, d) in [("valid_from", self.from), ("valid_until", self.until)] {
            if d.is_some_and(|d| !(1000..=9999).contains(&d.year())) {
                return Err(HabilitationError::Invalid(format!(
                    "{what}: a year of four digits"
                )));
            }
        }
        if let (Some(f), Some(u)) = (self.from, self.until)
            && u < f
        {
            return Err(HabilitationError::Invalid(format!(
                "valid_until {u} is before valid_from {f}"
            )));
        }
        Ok(())
    }
}

/// Grants `role` in `client` to `oid`, in force from the start, without
/// end, unless it is held already (then left as it is, its days too);
/// whether it is new. Audited when it is.
pub async fn grant(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    oid: Oid,
    client: &ClientId,
    role: &str,
    actor: &Actor,
) -> Result<bool, HabilitationError> {
    if HabilitationRow::find(conn, oid, client, role.trim())
        .await?
        .is_some()
    {
        return Ok(false);
    }
    grant_for(conn, now, oid, client, role, Validity::default(), actor).await
}

/// Grants `role` in `client` to `oid` for the days of `validity`; whether
/// it is new. A habilitation already held takes the new dates. Audited
/// (`habilitation.granted`, with the dates) when something changed.
pub async fn grant_for(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    oid: Oid,
    client: &ClientId,
    role: &str,
    validity: Validity,
    actor: &Actor,
) -> Result<bool, HabilitationError> {
    validity.check()?;
    let role = role.trim();
    if role.is_empty() || role.chars().any(char::is_control) || role.chars().count() > 100 {
        return Err(HabilitationError::Invalid(
            "role: a name of at most 100 characters".into(),
        ));
    }
    let from = validity.from.map(|d| d.to_string());
    let until = validity.until.map(|d| d.to_string());
    conn.transaction(async |tx: &mut DbConn| {
        let held = HabilitationRow::find(tx, oid, client, role).await?;
        let new = match &held {
            None => {
                HabilitationRow {
                    oid,
                    client_id: client.clone(),
                    role: role.to_string(),
                    granted_by: actor.clone(),
                    granted_at: now.timestamp(),
                    reviewed_at: None,
                    valid_from: from.clone(),
                    valid_until: until.clone(),
                }
                .grant(tx)
                .await?
            }
            Some(h) if h.valid_from == from && h.valid_until == until => return Ok(false),
            Some(_) => {
                HabilitationRow::set_validity(
                    tx,
                    oid,
                    client,
                    role,
                    from.as_deref(),
                    until.as_deref(),
                )
                .await?;
                false
            }
        };
        let mut changes = json!({"client_id": client, "role": role,
                                 "valid_from": from, "valid_until": until});
        if let Some(h) = &held {
            changes["previous"] = json!({"valid_from": h.valid_from, "valid_until": h.valid_until});
        }
        AuditEvent::new(
            actor.clone(),
            AuditAction::HabilitationGranted,
            Some(oid.to_string()),
            changes,
        )
        .record(tx, now)
        .await?;
        Ok(new)
    })
    .await
}

/// Withdraws `role` in `client` from `oid`; whether it was held. Audited
/// when it was, with `why` (e.g. the review campaign).
pub async fn revoke(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    oid: Oid,
    client: &ClientId,
    role: &str,
    actor: &Actor,
    why: serde_json::Value,
) -> Result<bool, HabilitationError> {
    conn.transaction(async |tx: &mut DbConn| {
        let held = HabilitationRow::revoke(tx, oid, client, role).await?;
        if held {
            let mut changes = json!({"client_id": client, "role": role});
            if let (Some(c), Some(w)) = (changes.as_object_mut(), why.as_object()) {
                c.extend(w.clone());
            }
            AuditEvent::new(
                actor.clone(),
                AuditAction::HabilitationRevoked,
                Some(oid.to_string()),
                changes,
            )
            .record(tx, now)
            .await?;
        }
        Ok(held)
    })
    .await
}

/// What a campaign covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReviewScope {
    /// Every habilitation in one application.
    Application(ClientId),
    /// Every habilitation of the people of one service.
    Service(String),
}

/// The most habilitations one campaign takes.
pub const CAMPAIGN_MAX_ITEMS: i64 = 100_000;

/// Opens a campaign over `scope`: a snapshot of its habilitations now.
/// Audited `review.opened`. Returns the campaign's id.
pub async fn open_campaign(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    title: &str,
    scope: ReviewScope,
    actor: &Actor,
) -> Result<String, HabilitationError> {
    let title = title.trim();
    if title.is_empty() || title.chars().count() > 200 || title.chars().any(char::is_control) {
        return Err(HabilitationError::Invalid(
            "title: 1 to 200 characters, no control characters".into(),
        ));
    }
    let (filter, client_id, service) = match &scope {
        ReviewScope::Application(c) => (
            HabilitationFilter {
                client_id: Some(c.clone()),
                ..HabilitationFilter::default()
            },
            Some(c.clone()),
            None,
        ),
        ReviewScope::Service(s) if !s.trim().is_empty() => (
            HabilitationFilter {
                service: Some(s.trim().to_string()),
                ..HabilitationFilter::default()
            },
            None,
            Some(s.trim().to_string()),
        ),
        ReviewScope::Service(_) => {
            return Err(HabilitationError::Invalid("service: required".into()));
        }
    };
    let id = clavis_core::ids::new_record_id();
    conn.transaction(async |tx: &mut DbConn| {
        let habilitations = HabilitationRow::list(tx, &filter, CAMPAIGN_MAX_ITEMS).await?;
        if habilitations.is_empty() {
            return Err(HabilitationError::Invalid(
                "no habilitation in this scope: nothing to review".into(),
            ));
        }
        ReviewCampaignRow {
            id: id.clone(),
            title: title.to_string(),
            client_id,
            service,
            created_by: actor.clone(),
            created_at: now.timestamp(),
            closed_at: None,
            closed_by: None,
        }
        .insert(tx)
        .await?;
        let n = habilitations.len();
        ReviewItemRow::insert_all(
            tx,
            habilitations
                .into_iter()
                .map(|h| ReviewItemRow {
                    campaign_id: id.clone(),
                    oid: h.oid,
                    client_id: h.client_id,
                    role: h.role,
                    decision: None,
                    decided_by: None,
                    decided_at: None,
                })
                .collect(),
        )
        .await?;
        AuditEvent::new(
            actor.clone(),
            AuditAction::ReviewOpened,
            Some(id.clone()),
            json!({"title": title, "scope": format!("{scope:?}"), "items": n}),
        )
        .record(tx, now)
        .await?;
        Ok(id.clone())
    })
    .await
}

/// A reviewer's decision on one habilitation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewDecision {
    /// Still needed: confirmed.
    Keep,
    /// No longer needed: withdrawn at once.
    Remove,
}

impl ReviewDecision {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewDecision::Keep => "kept",
            ReviewDecision::Remove => "removed",
        }
    }
}

/// Records `actor`'s decision on one item of an open campaign, and applies
/// it, in one transaction: a removal withdraws the habilitation, a keep
/// records its confirmation. Audited `review.decided`.
#[allow(clippy::too_many_arguments)]
pub async fn decide(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    campaign: &str,
    oid: Oid,
    client: &ClientId,
    role: &str,
    decision: ReviewDecision,
    actor: &Actor,
) -> Result<(), HabilitationError> {
    conn.transaction(async |tx: &mut DbConn| {
        let c = ReviewCampaignRow::find(tx, campaign)
            .await?
            .ok_or_else(|| HabilitationError::CampaignNotFound(campaign.to_string()))?;
        if c.closed_at.is_some() {
            return Err(HabilitationError::CampaignClosed(campaign.to_string()));
        }
        let ts = now.timestamp();
        if !ReviewItemRow::decide(tx, campaign, oid, client, role, decision.as_str(), actor, ts)
            .await?
        {
            return Err(HabilitationError::NotAwaiting);
        }
        match decision {
            ReviewDecision::Keep => {
                HabilitationRow::mark_reviewed(tx, oid, client, role, ts).await?;
            }
            ReviewDecision::Remove => {
                revoke(
                    tx,
                    now,
                    oid,
                    client,
                    role,
                    actor,
                    json!({"review_campaign": campaign}),
                )
                .await?;
            }
        }
        AuditEvent::new(
            actor.clone(),
            AuditAction::ReviewDecided,
            Some(oid.to_string()),
            json!({"campaign": campaign, "client_id": client, "role": role, "decision": decision.as_str()}),
        )
        .record(tx, now)
        .await?;
        Ok(())
    })
    .await
}

/// A campaign's progress.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    pub total: usize,
    pub kept: usize,
    pub removed: usize,
}

impl Progress {
    /// Items still awaiting a decision.
    pub fn pending(&self) -> usize {
        self.total - self.kept - self.removed
    }
}

/// The progress of `items`.
pub fn progress(items: &[ReviewItemRow]) -> Progress {
    Progress {
        total: items.len(),
        kept: items
            .iter()
            .filter(|i| i.decision.as_deref() == Some("kept"))
            .count(),
        removed: items
            .iter()
            .filter(|i| i.decision.as_deref() == Some("removed"))
            .count(),
    }
}

/// Closes a campaign (what is undecided stays as it is). Audited
/// `review.closed` with its progress.
pub async fn close_campaign(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    campaign: &str,
    actor: &Actor,
) -> Result<(), HabilitationError> {
    conn.transaction(async |tx: &mut DbConn| {
        if ReviewCampaignRow::find(tx, campaign).await?.is_none() {
            return Err(HabilitationError::CampaignNotFound(campaign.to_string()));
        }
        if !ReviewCampaignRow::close(tx, campaign, now.timestamp(), actor).await? {
            return Err(HabilitationError::CampaignClosed(campaign.to_string()));
        }
        let p = progress(&ReviewItemRow::for_campaign(tx, campaign).await?);
        AuditEvent::new(
            actor.clone(),
            AuditAction::ReviewClosed,
            Some(campaign.to_string()),
            json!({"total": p.total, "kept": p.kept, "removed": p.removed, "undecided": p.pending()}),
        )
        .record(tx, now)
        .await?;
        Ok(())
    })
    .await
}
