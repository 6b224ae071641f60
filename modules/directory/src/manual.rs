//! Identities created by hand (`clavis identity add`): the minimum a fresh
//! install without an LDAP or CSV source needs for its first people.
//!
//! A manual identity goes the way a source's does: what the operator typed
//! is stored as a source record of the built-in source `manual` (kept as
//! the identity's provenance), matched by [`reconcile::decide`] under the
//! same rules as a sync, then the identity is computed from it by
//! [`apply::refresh_identity`] — golden record, status, lifecycle event
//! (`arrived`, subscribers told), audit (`identity.created`, by the
//! operator) — in one transaction.
//!
//! Nothing is merged on a guess: when the person matches an existing
//! identity (same names and birth date), nothing is written and the error
//! names who; when they resemble one, or carry an RPPS someone holds, the
//! record is kept unlinked and a reconciliation case opened, as a sync
//! would: the identity office decides (no double is made).
//!
//! People outside HR (consultants, vacataires not in the SI-RH, vendor
//! staff) come with [`ManualTerms`]: a sponsor, a reason and an end date,
//! kept in `manual_terms` and audited; the end date is their departure
//! date, so the lifecycle ends them after it like any departure.
//!
//! The `manual` source ranks after every configured one: when HR later
//! lists the same person, its record links to the identity (same traits)
//! and owns the fields from then on.

use crate::apply::{self, Ctx};
use crate::config::{AttributeMap, DirectoryConfig, SourceConfig, SourceKind, SourceRole};
use crate::error::DirectoryError;
use crate::lifecycle::Subscribers;
use crate::mapping::{MappedRecord, SourceFields};
use crate::reconcile::{self, Decision, MatchIndex};
use chrono::{DateTime, NaiveDate, Utc};
use clavis_audit::AuditEvent;
use clavis_core::{Actor, AuditAction, CaseStatus, Oid, Rpps};
use clavis_store::models::{ManualTermsRow, ReconciliationCase, SourceRecordRow};
use clavis_store::{Db, DbConn, StoreError};
use serde_json::json;
use sha2::{Digest, Sha256};

/// The built-in source of manual identities.
pub const MANUAL_SOURCE: &str = "manual";

/// Its configuration: an HR-role source ranking after every configured one
/// ([`DirectoryConfig::precedence`] puts unknown names last), so it owns
/// nothing another source provides. [`DirectoryConfig::source`] answers it
/// for its name.
pub(crate) static BUILT_IN: std::sync::LazyLock<SourceConfig> = std::sync::LazyLock::new(|| {
    SourceConfig::new(
        MANUAL_SOURCE,
        SourceKind::Csv,
        SourceRole::Hr,
        AttributeMap::default(),
    )
});

/// What an operator gives to create a person.
#[derive(Debug, Clone, PartialEq)]
pub struct NewManualIdentity {
    /// Birth family name (nom de naissance).
    pub birth_family_name: String,
    /// Used family name (nom d'usage), if different.
    pub used_family_name: Option<String>,
    /// Every birth given name, in order (at least one).
    pub birth_given_names: Vec<String>,
    /// Birth date.
    pub birth_date: NaiveDate,
    /// Birth place (INSEE code), if known.
    pub birth_place: Option<String>,
    /// RPPS, if the person has one.
    pub rpps: Option<Rpps>,
    /// For a person outside HR: who answers for them, why, and until when
    /// (`None`: someone HR will list later, or a first administrator).
    pub terms: Option<ManualTerms>,
}

/// The terms of a person outside HR (consultant, vacataire not in the
/// SI-RH, vendor staff).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManualTerms {
    /// Who answers for them (a head of department, a manager).
    pub sponsor: String,
    /// Why they are in the directory without HR.
    pub reason: String,
    /// Their last day: their departure date, after which the lifecycle
    /// ends them like any departure.
    pub until: NaiveDate,
}

/// The longest sponsor or reason.
const TERMS_MAX_CHARS: usize = 500;

impl ManualTerms {
    fn check(&self, today: NaiveDate) -> Result<(), ManualError> {
        for (field, value) in [("sponsor", &self.sponsor), ("reason", &self.reason)] {
            let v = value.trim();
            if v.is_empty() {
                return Err(ManualError::Missing(field));
            }
            if v.chars().count() > TERMS_MAX_CHARS || v.chars().any(char::is_control) {
                return Err(ManualError::Invalid {
                    field,
                    why: format!("at most {TERMS_MAX_CHARS} characters, no control characters"),
                });
            }
        }
        if self.until < today {
            return Err(ManualError::Invalid {
                field: "until",
                why: format!("{} is already past", self.until),
            });
        }
        if self.until > today + chrono::Days::new(MAX_TERM_DAYS) {
            return Err(ManualError::Invalid {
                field: "until",
                why: format!("at most {MAX_TERM_DAYS} days from today (renew it then)"),
            });
        }
        Ok(())
    }
}

/// The longest term of a manual identity: a year and a day (renewed, if
/// the person stays, by the identity office).
pub const MAX_TERM_DAYS: u64 = 366;

/// What creating a manual identity did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManualOutcome {
    /// The identity was created.
    Created(Oid),
    /// The person resembles existing identities: nothing created, a
    /// reconciliation case opened for the identity office (resolving it
    /// "new" creates the identity with its terms).
    CaseOpened {
        /// The case.
        case_id: String,
        /// The matching rule's reason.
        reason: &'static str,
        /// The identities they resemble, and why.
        candidates: Vec<(Oid, String)>,
    },
}

/// Why a manual identity was not created.
#[derive(Debug, thiserror::Error)]
pub enum ManualError {
    /// A required trait is missing.
    #[error("missing {0}")]
    Missing(&'static str),
    /// A field is not acceptable.
    #[error("{field}: {why}")]
    Invalid {
        /// Which.
        field: &'static str,
        /// Why.
        why: String,
    },
    /// The person is already in the directory.
    #[error("this person already exists: identity {0}")]
    AlreadyExists(Oid),
    /// The configuration already names a source `manual`.
    #[error("a configured source is named \"manual\", the built-in source of manual identities")]
    SourceNameTaken,
    /// Anything else.
    #[error(transparent)]
    Directory(#[from] DirectoryError),
}

impl From<StoreError> for ManualError {
    fn from(e: StoreError) -> Self {
        ManualError::Directory(e.into())
    }
}

/// The built-in `manual` source, unless the configuration names one of its
/// own `manual` (which its validation refuses).
fn manual_source(cfg: &DirectoryConfig) -> Result<&'static SourceConfig, ManualError> {
    if cfg.sources.iter().any(|s| s.name == MANUAL_SOURCE) {
        return Err(ManualError::SourceNameTaken);
    }
    Ok(&BUILT_IN)
}

/// Creates the identity `new` describes, on behalf of `actor` at `now`,
/// unless it is someone already there (refused, named) or resembles
/// someone (a case opened instead: nothing is merged on a guess, and no
/// double is made). The terms of a person outside HR are kept with the
/// record; their end date is the identity's departure date.
#[tracing::instrument(skip_all, fields(actor = %actor))]
pub async fn add_identity(
    db: &Db,
    cfg: &DirectoryConfig,
    subscribers: &Subscribers,
    now: DateTime<Utc>,
    new: NewManualIdentity,
    actor: &Actor,
) -> Result<ManualOutcome, ManualError> {
    if let Some(terms) = &new.terms {
        terms.check(now.with_timezone(&chrono::Local).date_naive())?;
    }
    if new.birth_family_name.trim().is_empty() {
        return Err(ManualError::Missing("birth_family_name"));
    }
    let given: Vec<String> = new
        .birth_given_names
        .iter()
        .map(|g| g.trim().to_string())
        .filter(|g| !g.is_empty())
        .collect();
    if given.is_empty() {
        return Err(ManualError::Missing("birth_given_names"));
    }
    let source = manual_source(cfg)?;
    let oid = Oid::new_random();
    let record = MappedRecord {
        external_id: oid.to_string(),
        entry_ref: format!("{MANUAL_SOURCE}:{actor}"),
        join_key: None,
        fields: SourceFields {
            birth_family_name: Some(new.birth_family_name.trim().to_string()),
            used_family_name: new
                .used_family_name
                .map(|u| u.trim().to_string())
                .filter(|u| !u.is_empty()),
            birth_given_names: given,
            birth_date: Some(new.birth_date),
            birth_place: new.birth_place.filter(|p| !p.trim().is_empty()),
            rpps: new.rpps,
            departure_date: new.terms.as_ref().map(|t| t.until),
            ..SourceFields::default()
        },
    };
    let mut conn = db.conn().await?;
    conn.transaction(async |conn: &mut DbConn| -> Result<ManualOutcome, ManualError> {
        let idx = MatchIndex::load(conn, MANUAL_SOURCE, &[&record]).await?;
        let case = match reconcile::decide(conn, source, &record, &idx).await? {
            Decision::Create => None,
            Decision::Link { oid, .. } => return Err(ManualError::AlreadyExists(oid)),
            // Identical traits and already a manual record: added by hand
            // before.
            Decision::Case {
                reason: "already_listed_by_source",
                candidates,
            } if candidates.len() == 1 => {
                return Err(ManualError::AlreadyExists(candidates[0].0));
            }
            Decision::Case { reason, candidates } => Some((reason, candidates)),
            Decision::Unmatched => {
                return Err(
                    DirectoryError::Corrupt("the manual source creates identities".into()).into(),
                );
            }
        };
        let attributes = serde_json::to_string(&record.fields).map_err(|e| {
            DirectoryError::Corrupt(format!("cannot serialise a manual identity: {e}"))
        })?;
        let ts = now.timestamp();
        if let Some(t) = &new.terms {
            ManualTermsRow {
                external_id: record.external_id.clone(),
                sponsor: t.sponsor.trim().to_string(),
                reason: t.reason.trim().to_string(),
                until_date: t.until.format("%Y-%m-%d").to_string(),
                created_by: actor.clone(),
                created_at: ts,
            }
            .insert(conn)
            .await?;
        }
        SourceRecordRow {
            source: MANUAL_SOURCE.into(),
            external_id: record.external_id.clone(),
            oid: case.is_none().then_some(oid),
            entry_ref: record.entry_ref.clone(),
            join_key: None,
            content_hash: hex::encode(Sha256::digest(attributes.as_bytes())),
            attributes,
            present: true,
            missing_runs: 0,
            first_seen_at: ts,
            last_seen_at: ts,
            last_run_id: String::new(),
        }
        .upsert(conn)
        .await?;
        let terms_audit = new.terms.as_ref().map(|t| {
            json!({"sponsor": t.sponsor.trim(), "reason": t.reason.trim(), "until": t.until})
        });
        if let Some((reason, candidates)) = case {
            let case_id = clavis_core::ids::new_record_id();
            ReconciliationCase {
                id: case_id.clone(),
                source: MANUAL_SOURCE.into(),
                external_id: record.external_id.clone(),
                entry_ref: record.entry_ref.clone(),
                reason: reason.to_string(),
                candidates: json!(candidates
                    .iter()
                    .map(|(oid, why)| json!({"oid": oid, "why": why}))
                    .collect::<Vec<_>>())
                .to_string(),
                status: CaseStatus::Open,
                resolution: None,
                resolved_by: None,
                opened_at: ts,
                resolved_at: None,
                sync_run_id: None,
            }
            .insert(conn)
            .await?;
            AuditEvent::new(
                actor.clone(),
                AuditAction::CaseOpened,
                Some(case_id.clone()),
                json!({"source": MANUAL_SOURCE, "external_id": record.external_id, "reason": reason,
                       "candidates": candidates.iter().map(|(o, _)| o.to_string()).collect::<Vec<_>>(),
                       "terms": terms_audit}),
            )
            .record(conn, now)
            .await
            .map_err(DirectoryError::from)?;
            return Ok(ManualOutcome::CaseOpened {
                case_id,
                reason,
                candidates,
            });
        }
        let mut ctx = Ctx {
            cfg,
            now,
            actor: actor.clone(),
            sync_run_id: None,
            source: Some(MANUAL_SOURCE.into()),
            subscribers,
            audit: Vec::new(),
        };
        apply::refresh_identity(conn, &mut ctx, oid).await?;
        if let Some(terms) = terms_audit {
            ctx.audit(AuditAction::ManualTermsSet, Some(oid.to_string()), terms);
        }
        clavis_audit::append(conn, now, ctx.audit)
            .await
            .map_err(DirectoryError::from)?;
        Ok(ManualOutcome::Created(oid))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use clavis_store::models::{AuditEventRow, IdentityRow};
    use clavis_testkit::db::{Backend, TestDb};

    fn created(r: Result<ManualOutcome, ManualError>) -> Oid {
        match r {
            Ok(ManualOutcome::Created(oid)) => oid,
            other => panic!("expected a creation, got {other:?}"),
        }
    }

    fn marie() -> NewManualIdentity {
        NewManualIdentity {
            birth_family_name: "Dupont".into(),
            used_family_name: None,
            birth_given_names: vec!["Marie".into(), "Anne".into()],
            birth_date: NaiveDate::from_ymd_opt(1980, 5, 17).expect("date"),
            birth_place: None,
            rpps: None,
            terms: None,
        }
    }

    #[tokio::test]
    async fn a_manual_identity_is_created_audited_and_never_twice() {
        let t = TestDb::new(Backend::Sqlite).await;
        let cfg = DirectoryConfig::default();
        let now = DateTime::from_timestamp(1_800_000_000, 0).expect("now");
        let actor = Actor::Cli("alice".into());
        let oid = created(add_identity(&t.db, &cfg, &Vec::new(), now, marie(), &actor).await);
        let mut conn = t.db.conn().await.expect("conn");
        let row = IdentityRow::find(&mut conn, oid)
            .await
            .expect("read")
            .expect("stored");
        assert_eq!(row.birth_family_name, "Dupont");
        assert_eq!(row.status, clavis_core::LifecycleStatus::Active);
        let events = AuditEventRow::for_target(&mut conn, &oid.to_string(), 100)
            .await
            .expect("audit");
        assert!(
            events
                .iter()
                .any(|e| e.action == "identity.created" && e.actor == "cli:alice"),
            "{events:?}"
        );
        // The same person again, accents and case aside: refused, named.
        let mut again = marie();
        again.birth_family_name = "DUPONT".into();
        match add_identity(&t.db, &cfg, &Vec::new(), now, again, &actor).await {
            Err(ManualError::AlreadyExists(o)) => assert_eq!(o, oid),
            other => panic!("expected AlreadyExists, got {other:?}"),
        }
    }

    /// Computed again later (a case linking another record to the person, a
    /// sync touching them), the identity still comes from its manual record.
    #[tokio::test]
    async fn a_manual_identity_computed_again_keeps_its_record() {
        let t = TestDb::new(Backend::Sqlite).await;
        let cfg = DirectoryConfig::default();
        let now = DateTime::from_timestamp(1_800_000_000, 0).expect("now");
        let actor = Actor::Cli("alice".into());
        let oid = created(add_identity(&t.db, &cfg, &Vec::new(), now, marie(), &actor).await);
        let later = now + chrono::Duration::days(3);
        let mut conn = t.db.conn().await.expect("conn");
        let subscribers = Vec::new();
        let mut ctx = Ctx {
            cfg: &cfg,
            now: later,
            actor: Actor::Lifecycle,
            sync_run_id: None,
            source: None,
            subscribers: &subscribers,
            audit: Vec::new(),
        };
        apply::refresh_identity(&mut conn, &mut ctx, oid)
            .await
            .expect("refreshed");
        let row = IdentityRow::find(&mut conn, oid)
            .await
            .expect("read")
            .expect("stored");
        assert_eq!(row.birth_family_name, "Dupont");
        assert_eq!(row.status, clavis_core::LifecycleStatus::Active);
        assert!(
            ctx.audit.is_empty(),
            "nothing changed, nothing audited: {:?}",
            ctx.audit
        );
    }

    #[test]
    fn a_configured_source_cannot_take_the_manual_name() {
        let mut cfg = DirectoryConfig::default();
        cfg.sources.push(SourceConfig::new(
            MANUAL_SOURCE,
            SourceKind::Csv,
            SourceRole::Hr,
            AttributeMap::default(),
        ));
        let problems = cfg.validate();
        assert!(
            problems
                .iter()
                .any(|p| p.path == "directory.sources[0].name" && p.message.contains("built-in")),
            "{problems:?}"
        );
    }
}
