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
//! identity (same names and birth date), or resembles one, or carries an
//! RPPS someone holds, nothing is written and the error names who.
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
use clavis_core::{Actor, Oid, Rpps};
use clavis_store::models::SourceRecordRow;
use clavis_store::{Db, DbConn, StoreError};
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
}

/// Why a manual identity was not created.
#[derive(Debug, thiserror::Error)]
pub enum ManualError {
    /// A required trait is missing.
    #[error("missing {0}")]
    Missing(&'static str),
    /// The person is already in the directory.
    #[error("this person already exists: identity {0}")]
    AlreadyExists(Oid),
    /// The person resembles existing identities; an operator must look.
    #[error("this person resembles existing identities ({reason}): {}", list(.candidates))]
    Ambiguous {
        /// The matching rule's reason (`several_candidates`, …).
        reason: &'static str,
        /// The identities it resembles, and why.
        candidates: Vec<(Oid, String)>,
    },
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

fn list(candidates: &[(Oid, String)]) -> String {
    candidates
        .iter()
        .map(|(oid, why)| format!("{oid} ({why})"))
        .collect::<Vec<_>>()
        .join(", ")
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
/// unless it matches or resembles an existing one. Returns its oid.
#[tracing::instrument(skip_all, fields(actor = %actor))]
pub async fn add_identity(
    db: &Db,
    cfg: &DirectoryConfig,
    subscribers: &Subscribers,
    now: DateTime<Utc>,
    new: NewManualIdentity,
    actor: &Actor,
) -> Result<Oid, ManualError> {
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
            ..SourceFields::default()
        },
    };
    let mut conn = db.conn().await?;
    conn.transaction(async |conn: &mut DbConn| -> Result<Oid, ManualError> {
        let idx = MatchIndex::load(conn, MANUAL_SOURCE, &[&record]).await?;
        match reconcile::decide(conn, source, &record, &idx).await? {
            Decision::Create => {}
            Decision::Link { oid, .. } => return Err(ManualError::AlreadyExists(oid)),
            // Identical traits and already a manual record: added by hand
            // before.
            Decision::Case {
                reason: "already_listed_by_source",
                candidates,
            } if candidates.len() == 1 => {
                return Err(ManualError::AlreadyExists(candidates[0].0));
            }
            Decision::Case { reason, candidates } => {
                return Err(ManualError::Ambiguous { reason, candidates });
            }
            Decision::Unmatched => {
                return Err(
                    DirectoryError::Corrupt("the manual source creates identities".into()).into(),
                );
            }
        }
        let attributes = serde_json::to_string(&record.fields).map_err(|e| {
            DirectoryError::Corrupt(format!("cannot serialise a manual identity: {e}"))
        })?;
        let ts = now.timestamp();
        SourceRecordRow {
            source: MANUAL_SOURCE.into(),
            external_id: record.external_id.clone(),
            oid: Some(oid),
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
        clavis_audit::append(conn, now, ctx.audit)
            .await
            .map_err(DirectoryError::from)?;
        Ok(oid)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use clavis_store::models::{AuditEventRow, IdentityRow};
    use clavis_testkit::db::{Backend, TestDb};

    fn marie() -> NewManualIdentity {
        NewManualIdentity {
            birth_family_name: "Dupont".into(),
            used_family_name: None,
            birth_given_names: vec!["Marie".into(), "Anne".into()],
            birth_date: NaiveDate::from_ymd_opt(1980, 5, 17).expect("date"),
            birth_place: None,
            rpps: None,
        }
    }

    #[tokio::test]
    async fn a_manual_identity_is_created_audited_and_never_twice() {
        let t = TestDb::new(Backend::Sqlite).await;
        let cfg = DirectoryConfig::default();
        let now = DateTime::from_timestamp(1_800_000_000, 0).expect("now");
        let actor = Actor::Cli("alice".into());
        let oid = add_identity(&t.db, &cfg, &Vec::new(), now, marie(), &actor)
            .await
            .expect("created");
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
        let oid = add_identity(&t.db, &cfg, &Vec::new(), now, marie(), &actor)
            .await
            .expect("created");
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
