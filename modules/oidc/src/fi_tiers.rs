//! Clavis as "FI tiers" of Pro Santé Connect: the client marked `psc` is
//! the national federation's broker. It is answered only for a person
//! whose e-CPS-verified link stands, signed in by a method the `[psc.amr]`
//! table maps; its ID token carries `tid` (the establishment), `oid` (the
//! identity, never reused), the mapped `amr` and the national id. Every
//! assertion and every refusal is audited: the ANS asks FI tiers for the
//! evidence of the `amr` they send.

use chrono::{DateTime, Utc};
use clavis_audit::AuditEvent;
use clavis_core::acr::AmrTable;
use clavis_core::{Actor, AuditAction, LifecycleStatus, Oid};
use clavis_sso::Session;
use clavis_store::models::psc::{LinkState, state};
use clavis_store::models::{IdentityRow, PscLinkRow};
use clavis_store::{Db, DbConn, StoreError};
use serde_json::{Map, Value, json};

/// The authorization parameter a person's "no" to the link adds to the
/// request on its way back: PSC then gets `access_denied`.
pub const DECLINED_PARAM: &str = "psc_declined";

/// What Clavis asserts to PSC (from `[psc]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FiTiers {
    /// The establishment's fixed tenant id.
    pub tid: String,
    /// The `amr` sent per way of signing in.
    pub amr: AmrTable,
}

/// What to do with PSC's authorization request for a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    /// Assert, with these `amr`.
    Assert(Vec<String>),
    /// Take the person through the link (e-CPS at PSC) first.
    Link,
    /// Answer `access_denied`; the reason is audited.
    Deny(&'static str),
}

/// Decides for `session` at `now`: the identity active, the session's way
/// of signing in mapped, the person not declining, and the link standing
/// (else the link first).
pub async fn gate(
    db: &Db,
    fi: Option<&FiTiers>,
    session: &Session,
    declined: bool,
    now: i64,
) -> Result<Gate, StoreError> {
    let Some(fi) = fi else {
        return Ok(Gate::Deny("psc_not_configured"));
    };
    let found = PscLinkRow::read_with_identity(db, session.oid).await?;
    let Some((identity, link)) = found.filter(|(i, _)| i.status == LifecycleStatus::Active) else {
        return Ok(Gate::Deny("identity_not_active"));
    };
    let Some(amr) = session.method.and_then(|m| fi.amr.for_method(m)) else {
        return Ok(Gate::Deny("method_not_accepted"));
    };
    if declined {
        return Ok(Gate::Deny("declined"));
    }
    Ok(match link.map(|l| state(&l, &identity, now)) {
        Some(LinkState::Valid) => Gate::Assert(amr.to_vec()),
        _ => Gate::Link,
    })
}

/// The FI tiers claims of `identity` for PSC at `now`, or `None` when its
/// link no longer stands (revoked or expired between the code and the
/// token): `tid`, `oid` and the national id under `national_id_claim`.
pub async fn claims(
    conn: &mut DbConn,
    fi: &FiTiers,
    identity: &IdentityRow,
    national_id_claim: &str,
    now: i64,
) -> Result<Option<Map<String, Value>>, StoreError> {
    let Some(link) = PscLinkRow::find(conn, identity.oid).await? else {
        return Ok(None);
    };
    if state(&link, identity, now) != LinkState::Valid {
        return Ok(None);
    }
    let mut m = Map::new();
    m.insert("tid".into(), json!(fi.tid));
    m.insert("oid".into(), json!(identity.oid));
    m.insert(national_id_claim.into(), json!(link.national_id));
    Ok(Some(m))
}

/// Audits a refusal to assert a person to PSC.
pub async fn audit_refusal(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    oid: Oid,
    client: &str,
    reason: &str,
) -> Result<(), clavis_audit::AuditError> {
    AuditEvent::new(
        Actor::Identity(oid),
        AuditAction::PscAssertionRefused,
        Some(client.to_string()),
        json!({"oid": oid, "reason": reason}),
    )
    .record(conn, now)
    .await
}
