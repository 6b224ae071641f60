//! `audit_verifications`: each walk of the audit chain and what it found.

use crate::schema::audit_verifications::{self, dsl};
use crate::{DbConn, StoreError, with_conn};
use clavis_core::Actor;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

/// One verification, finished or running.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = audit_verifications)]
#[diesel(treat_none_as_null = true, treat_none_as_default_value = false)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct AuditVerificationRow {
    pub id: String,
    pub started_at: i64,
    pub started_by: Actor,
    /// 0: the whole chain; otherwise the first event walked.
    pub from_seq: i64,
    pub finished_at: Option<i64>,
    pub checked: i64,
    /// The last event found intact, and its hash.
    pub verified_seq: Option<i64>,
    pub verified_hash: Option<String>,
    pub broken_seq: Option<i64>,
    pub broken_reason: Option<String>,
}

impl AuditVerificationRow {
    /// Records it.
    pub async fn insert(&self, conn: &mut DbConn) -> Result<(), StoreError> {
        with_conn!(conn, c => diesel::insert_into(audit_verifications::table)
            .values(self)
            .execute(c)
            .await)?;
        Ok(())
    }

    /// Records what it found.
    pub async fn update(&self, conn: &mut DbConn) -> Result<(), StoreError> {
        with_conn!(conn, c => diesel::update(audit_verifications::table.find(&self.id))
            .set(self)
            .execute(c)
            .await)?;
        Ok(())
    }

    /// The latest verifications, newest first.
    pub async fn latest(conn: &mut DbConn, limit: i64) -> Result<Vec<Self>, StoreError> {
        Ok(with_conn!(conn, c => dsl::audit_verifications
            .order((dsl::started_at.desc(), dsl::from_seq.desc(), dsl::id.desc()))
            .limit(limit)
            .select(AuditVerificationRow::as_select())
            .load(c)
            .await)?)
    }

    /// What the finished walks say of the chain: broken (the latest walk
    /// that found a break, unless a whole walk that finished after it
    /// found the chain intact), or intact up to the furthest point a walk
    /// found intact. A break sticks: walks on from an intact point never
    /// hide it.
    pub async fn status(conn: &mut DbConn) -> Result<ChainStatus, StoreError> {
        let broken: Option<Self> = with_conn!(conn, c => dsl::audit_verifications
            .filter(dsl::finished_at.is_not_null())
            .select(AuditVerificationRow::as_select())
            .filter(dsl::broken_seq.is_not_null())
            .order((dsl::finished_at.desc(), dsl::id.desc()))
            .first(c)
            .await
            .optional())?;
        let whole: Option<Self> = with_conn!(conn, c => dsl::audit_verifications
            .filter(dsl::finished_at.is_not_null())
            .select(AuditVerificationRow::as_select())
            .filter(dsl::broken_seq.is_null())
            .filter(dsl::verified_seq.is_not_null())
            .filter(dsl::from_seq.eq(0))
            .order((dsl::finished_at.desc(), dsl::id.desc()))
            .first(c)
            .await
            .optional())?;
        if let Some(b) = broken
            && whole
                .as_ref()
                .is_none_or(|w| w.finished_at <= b.finished_at)
        {
            return Ok(ChainStatus::Broken(b));
        }
        let furthest: Option<Self> = with_conn!(conn, c => dsl::audit_verifications
            .filter(dsl::finished_at.is_not_null())
            .select(AuditVerificationRow::as_select())
            .filter(dsl::broken_seq.is_null())
            .filter(dsl::verified_seq.is_not_null())
            .order((dsl::verified_seq.desc(), dsl::finished_at.desc()))
            .first(c)
            .await
            .optional())?;
        Ok(match furthest {
            Some(f) => ChainStatus::Intact(f),
            None => ChainStatus::Unknown,
        })
    }

    /// The furthest point a walk found intact, to walk on from (`None`
    /// while a break stands, or before any walk).
    pub async fn last_intact(conn: &mut DbConn) -> Result<Option<Self>, StoreError> {
        Ok(match Self::status(conn).await? {
            ChainStatus::Intact(v) => Some(v),
            _ => None,
        })
    }

    /// A verification started since `since` and not finished (one runs at
    /// a time).
    pub async fn running_since(conn: &mut DbConn, since: i64) -> Result<bool, StoreError> {
        let n: i64 = with_conn!(conn, c => dsl::audit_verifications
            .filter(dsl::finished_at.is_null())
            .filter(dsl::started_at.ge(since))
            .count()
            .get_result(c)
            .await)?;
        Ok(n > 0)
    }
}

/// What the walks say of the chain.
#[derive(Debug, Clone, PartialEq)]
pub enum ChainStatus {
    /// No walk finished yet.
    Unknown,
    /// Intact up to this walk's `verified_seq`.
    Intact(AuditVerificationRow),
    /// This walk found a break.
    Broken(AuditVerificationRow),
}
