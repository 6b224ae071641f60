//! The append-only, hash-chained audit log.
//!
//! Every security-relevant action (identity created or changed, account
//! disabled, case resolved, token issued, sync run) becomes an event with
//! actor, action, target, the before/after values that changed, the source
//! and sync run it came from. Each event stores the hash of the previous one
//! and its own hash over (previous hash, its content), so editing, deleting
//! or reordering any stored event breaks the chain at that point, and
//! [`verify`] names the first broken link. The database also refuses UPDATE
//! and DELETE on the table (triggers), so tampering needs deliberate effort.
//!
//! Appends happen inside the caller's transaction: an action and its audit
//! event are committed together or not at all.

mod counters;
pub mod trace;

use chrono::{DateTime, Utc};
use clavis_core::{Actor, AuditAction};
use clavis_store::models::AuditEventRow;
use clavis_store::{DbConn, StoreError};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Errors of the audit log.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An event to append.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEvent {
    /// Who acted: `sync:rh`, `cli:root`, `api:monitoring`…
    pub actor: Actor,
    /// What happened, stored dotted: `identity.created`, `account.disabled`…
    pub action: AuditAction,
    /// On what: an oid, a login, a case id…
    pub target: Option<String>,
    /// Changed fields as `{field: {"before": …, "after": …}}`, plus details.
    pub changes: Value,
    /// The directory source involved, if any.
    pub source: Option<String>,
    /// The sync run involved, if any.
    pub sync_run_id: Option<String>,
    /// The client address, for actions coming over HTTP.
    pub client_addr: Option<String>,
}

impl AuditEvent {
    /// An event with no source, run or address.
    pub fn new(
        actor: impl Into<Actor>,
        action: AuditAction,
        target: Option<String>,
        changes: Value,
    ) -> Self {
        Self {
            actor: actor.into(),
            action,
            target,
            changes,
            source: None,
            sync_run_id: None,
            client_addr: None,
        }
    }
}

impl AuditEvent {
    /// The client address the action came from.
    pub fn from_addr(mut self, addr: Option<String>) -> Self {
        self.client_addr = addr;
        self
    }

    /// Appends this one event at `now`, inside the caller's transaction
    /// (see [`append`]).
    pub async fn record(self, conn: &mut DbConn, now: DateTime<Utc>) -> Result<(), AuditError> {
        append(conn, now, vec![self]).await
    }
}

/// The hash of the event before the first one.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The content that is hashed: everything but the hash itself, in a fixed
/// order, length-prefixed so that no two events can serialise alike: the
/// link ([`link_bytes`]), then the event's own fields ([`own_bytes`]).
fn event_hash(row: &AuditEventRow) -> String {
    let mut h = Sha256::new();
    h.update(link_bytes(&row.prev_hash, row.seq));
    h.update(own_bytes(row));
    hex::encode(h.finalize())
}

/// A field as hashed: its length in bytes (8 bytes, big-endian), then its
/// UTF-8 bytes.
fn push_field(out: &mut Vec<u8>, field: &str) {
    out.extend_from_slice(&(field.len() as u64).to_be_bytes());
    out.extend_from_slice(field.as_bytes());
}

/// What an absent field is hashed as: the one character U+0000 (which
/// PostgreSQL's text cannot hold, and Clavis never writes).
const ABSENT: &str = "\u{0}";

/// The start of what an event's hash covers: the hash of the event before
/// it, then its sequence number in decimal. On PostgreSQL the server hashes
/// these itself when it chains a lone event after the head it locks
/// ([`AuditEventRow::append_one`]); the SQL there writes the same bytes.
fn link_bytes(prev_hash: &str, seq: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(96);
    push_field(&mut out, prev_hash);
    push_field(&mut out, &seq.to_string());
    out
}

/// The rest: the event's own fields, absent ones as [`ABSENT`], and its
/// request id only when there is one (events from before the column, and
/// those written outside a request, hash as they always did).
fn own_bytes(row: &AuditEventRow) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + row.changes.len());
    for f in [
        &row.id,
        &row.occurred_at.to_string(),
        &row.actor,
        &row.action,
        row.target.as_deref().unwrap_or(ABSENT),
        &row.changes,
        row.source.as_deref().unwrap_or(ABSENT),
        row.sync_run_id.as_deref().unwrap_or(ABSENT),
        row.client_addr.as_deref().unwrap_or(ABSENT),
    ] {
        push_field(&mut out, f);
    }
    if let Some(r) = &row.request_id {
        push_field(&mut out, r);
    }
    out
}

tokio::task_local! {
    /// The id of the HTTP request being served (set around each request by
    /// the web layer): recorded with every event appended while serving it.
    pub static REQUEST_ID: String;
}

/// Appends events at `now`, chained after the current head. Call inside the
/// transaction of the action being audited; called outside any, it opens
/// its own (reserving the head and moving it must be one transaction, or
/// another writer, on this node or another, chains after a stale head).
pub async fn append(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    events: Vec<AuditEvent>,
) -> Result<(), AuditError> {
    if events.is_empty() {
        return Ok(());
    }
    if !conn.in_transaction() {
        return conn
            .transaction(async |tx: &mut DbConn| chain(tx, now, events).await)
            .await;
    }
    chain(conn, now, events).await
}

/// [`append`], inside a transaction.
async fn chain(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    mut events: Vec<AuditEvent>,
) -> Result<(), AuditError> {
    let request_id = REQUEST_ID.try_with(Clone::clone).ok();
    let occurred_at = now.timestamp_micros();
    let row = |e: AuditEvent, seq: i64, prev_hash: String| {
        tracing::debug!(audit.action = %e.action, audit.actor = %e.actor, "audit event");
        counters::count(&e);
        AuditEventRow {
            request_id: request_id.clone(),
            seq,
            id: clavis_core::ids::new_record_id(),
            occurred_at,
            actor: e.actor.to_string(),
            action: e.action.as_str().to_owned(),
            target: e.target,
            changes: e.changes.to_string(),
            source: e.source,
            sync_run_id: e.sync_run_id,
            client_addr: e.client_addr,
            prev_hash,
            hash: String::new(),
        }
    };
    // A lone event on PostgreSQL (most actions: a login, a code, tokens):
    // the server reserves, chains and writes it, and moves the head, in one
    // statement. The head's row lock, which every audited transaction of
    // the cluster takes in turn, is then held for that one round trip and
    // the commit's.
    debug_assert!(conn.in_transaction(), "the head is taken in a transaction");
    if let DbConn::Pg(c) = conn
        && events.len() == 1
        && let Some(e) = events.pop()
    {
        let row = row(e, 0, String::new());
        let own = own_bytes(&row);
        AuditEventRow::append_one(c, row, own).await?;
        return Ok(());
    }
    let (first_seq, mut prev) = AuditEventRow::reserve(conn, events.len() as i64).await?;
    let mut rows = Vec::with_capacity(events.len());
    for (i, e) in events.into_iter().enumerate() {
        let mut row = row(e, first_seq + i as i64, prev);
        row.hash = event_hash(&row);
        prev = row.hash.clone();
        rows.push(row);
    }
    let last_seq = rows.last().map_or(first_seq - 1, |r| r.seq);
    AuditEventRow::append_reserved(conn, rows, last_seq, &prev).await?;
    Ok(())
}

/// Appends events in their own transaction.
pub async fn append_now(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    events: Vec<AuditEvent>,
) -> Result<(), AuditError> {
    conn.transaction(async |tx: &mut DbConn| append(tx, now, events).await)
        .await
}

/// The first place the chain is broken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BrokenLink {
    /// Sequence number of the first event that does not verify.
    pub seq: i64,
    /// Why: `hash_mismatch`, `prev_hash_mismatch`, `missing_event`, `head_mismatch`.
    pub reason: String,
}

/// The result of walking the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Events checked.
    pub checked: i64,
    /// The first broken link, if any.
    pub first_broken: Option<BrokenLink>,
}

/// Walks the whole chain from the first event and reports the first broken
/// link: an event whose content no longer matches its hash, whose previous
/// hash is not its predecessor's, a gap in the sequence, or a head that does
/// not point at the last event (truncation).
pub async fn verify(conn: &mut DbConn) -> Result<VerifyReport, AuditError> {
    Ok(verify_from(conn, None).await?.0)
}

/// Walks the chain from `start` — the sequence number and hash of an event
/// an earlier walk found intact — or from the first event (`None`), up to
/// the head as it is when the walk begins (events appended meanwhile are
/// the next walk's). Answers the report and the last event found intact
/// (its sequence number and hash; `start` when there was nothing to walk).
pub async fn verify_from(
    conn: &mut DbConn,
    start: Option<(i64, String)>,
) -> Result<(VerifyReport, Option<(i64, String)>), AuditError> {
    let (head_seq, head_hash) = AuditEventRow::head(conn).await?;
    let (mut expected_seq, mut prev_hash) = match &start {
        Some((seq, hash)) => (seq + 1, hash.clone()),
        None => (1, GENESIS_HASH.to_string()),
    };
    let mut checked = 0i64;
    let mut last = start.clone();
    let report = |checked, seq, reason: &str| VerifyReport {
        checked,
        first_broken: Some(BrokenLink {
            seq,
            reason: reason.to_string(),
        }),
    };
    if head_seq < expected_seq - 1 {
        // The head is behind what was found intact: events were removed.
        return Ok((report(0, head_seq + 1, "head_mismatch"), last));
    }
    'walk: while expected_seq <= head_seq {
        let want = (head_seq - expected_seq + 1).min(1000);
        let page = AuditEventRow::page(conn, expected_seq - 1, want).await?;
        if page.is_empty() {
            break;
        }
        for row in page {
            if row.seq > head_seq {
                break 'walk;
            }
            if row.seq != expected_seq {
                return Ok((report(checked, expected_seq, "missing_event"), last));
            }
            if row.prev_hash != prev_hash {
                return Ok((report(checked, expected_seq, "prev_hash_mismatch"), last));
            }
            if event_hash(&row) != row.hash {
                return Ok((report(checked, expected_seq, "hash_mismatch"), last));
            }
            prev_hash = row.hash;
            last = Some((row.seq, prev_hash.clone()));
            expected_seq += 1;
            checked += 1;
        }
    }
    // The head names the last event walked, and no event is missing at the
    // end (truncation).
    if expected_seq - 1 != head_seq || (head_seq > 0 && head_hash != prev_hash) {
        return Ok((report(checked, expected_seq, "head_mismatch"), last));
    }
    // Nor is any stored beyond the head (one snapshot: appends move both).
    let (head_now, max_seq) = AuditEventRow::head_and_max(conn).await?;
    if max_seq.is_some_and(|m| m > head_now) {
        return Ok((report(checked, head_now + 1, "beyond_head"), last));
    }
    Ok((
        VerifyReport {
            checked,
            first_broken: None,
        },
        last,
    ))
}

/// A walk recorded as running, and where it starts.
#[derive(Debug, Clone)]
pub struct Walk {
    /// Its row in `audit_verifications`.
    pub row: clavis_store::models::AuditVerificationRow,
    start: Option<(i64, String)>,
}

/// Records a walk of the chain as running — all of it (`whole`, or when no
/// walk found it intact yet), or on from the furthest point a walk found
/// intact — on behalf of `by`. [`finish_walk`] walks it.
pub async fn start_walk(
    conn: &mut DbConn,
    clock: &dyn clavis_core::Clock,
    by: &Actor,
    whole: bool,
) -> Result<Walk, AuditError> {
    use clavis_store::models::AuditVerificationRow;
    let start = if whole {
        None
    } else {
        AuditVerificationRow::last_intact(conn)
            .await?
            .and_then(|v| v.verified_seq.zip(v.verified_hash))
    };
    let row = AuditVerificationRow {
        id: clavis_core::ids::new_record_id(),
        started_at: clock.now().timestamp(),
        started_by: by.clone(),
        from_seq: start.as_ref().map(|(s, _)| s + 1).unwrap_or(0),
        finished_at: None,
        checked: 0,
        verified_seq: None,
        verified_hash: None,
        broken_seq: None,
        broken_reason: None,
    };
    row.insert(conn).await?;
    Ok(Walk { row, start })
}

/// Walks what `walk` covers and records what it found; a walk that could
/// not be made is recorded finished with nothing verified.
pub async fn finish_walk(
    conn: &mut DbConn,
    clock: &dyn clavis_core::Clock,
    walk: Walk,
) -> Result<clavis_store::models::AuditVerificationRow, AuditError> {
    let Walk { mut row, start } = walk;
    let walked = verify_from(conn, start).await;
    row.finished_at = Some(clock.now().timestamp().max(row.started_at));
    let (report, last) = match walked {
        Ok(r) => r,
        Err(e) => {
            row.update(conn).await?;
            return Err(e);
        }
    };
    row.checked = report.checked;
    (row.verified_seq, row.verified_hash) = match last {
        Some((s, h)) => (Some(s), Some(h)),
        None => (Some(0), Some(GENESIS_HASH.to_string())),
    };
    if let Some(b) = report.first_broken {
        row.broken_seq = Some(b.seq);
        row.broken_reason = Some(b.reason);
        tracing::error!(audit.broken_seq = b.seq, audit.reason = %row.broken_reason.as_deref().unwrap_or(""), "the audit chain is broken");
    }
    row.update(conn).await?;
    Ok(row)
}

/// [`start_walk`] then [`finish_walk`].
pub async fn verify_recorded(
    conn: &mut DbConn,
    clock: &dyn clavis_core::Clock,
    by: &Actor,
    whole: bool,
) -> Result<clavis_store::models::AuditVerificationRow, AuditError> {
    let walk = start_walk(conn, clock, by, whole).await?;
    finish_walk(conn, clock, walk).await
}

/// Builds the `changes` object for one field.
pub fn change(before: impl Serialize, after: impl Serialize) -> Value {
    serde_json::json!({ "before": before, "after": after })
}

#[cfg(test)]
mod tests {
    use clavis_core::{Actor, AuditAction};

    /// With a request id, the id is part of what the hash covers (without
    /// one, an event hashes as events always did: the chains written before
    /// still verify, which the suite's chains check).
    #[test]
    fn the_request_id_is_hashed_only_when_there_is_one() {
        let row = clavis_store::models::AuditEventRow {
            seq: 1,
            id: "e1".into(),
            occurred_at: 1,
            actor: "cli:root".into(),
            action: "api_token.created".into(),
            target: None,
            changes: "{}".into(),
            source: None,
            sync_run_id: None,
            client_addr: None,
            prev_hash: super::GENESIS_HASH.into(),
            hash: String::new(),
            request_id: None,
        };
        let before = super::event_hash(&row);
        let mut with = row.clone();
        with.request_id = Some("req-1".into());
        let mut other = row.clone();
        other.request_id = Some("req-2".into());
        assert_ne!(super::event_hash(&with), before);
        assert_ne!(super::event_hash(&with), super::event_hash(&other));
    }

    /// The bytes a hash covers are a stored contract: every chain written
    /// since the first release verifies against them, and PostgreSQL
    /// hashes a lone event's link itself. Two events hashed here by hand
    /// (Python's hashlib over the format the module describes), without and
    /// with a request id.
    #[test]
    fn an_event_hashes_as_the_format_says() {
        let row = clavis_store::models::AuditEventRow {
            seq: 7,
            id: "e1".into(),
            occurred_at: 1_800_000_000_000_000,
            actor: "cli:root".into(),
            action: "api_token.created".into(),
            target: None,
            changes: r#"{"nom":"Hélène"}"#.into(),
            source: Some("rh".into()),
            sync_run_id: None,
            client_addr: Some("10.0.0.7".into()),
            prev_hash: super::GENESIS_HASH.into(),
            hash: String::new(),
            request_id: None,
        };
        assert_eq!(
            super::event_hash(&row),
            "07806d957ac17306757161dc2a45ee1f6a9fc46dbd36b368e670f1ddde1e6a0f"
        );
        let with = clavis_store::models::AuditEventRow {
            request_id: Some("req-1".into()),
            ..row
        };
        assert_eq!(
            super::event_hash(&with),
            "5183a79b2b5523fde034eeb4a650b83fdf7b89708b082af702c45a70269d6219"
        );
    }

    /// Operators read the list of actions and actors in
    /// `docs/operations.md`; a new variant without its line fails here.
    #[test]
    fn the_operations_guide_lists_every_action_and_every_kind_of_actor() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/operations.md");
        let doc = std::fs::read_to_string(path).expect("docs/operations.md");
        for a in AuditAction::ALL {
            assert!(
                doc.contains(&format!("| `{a}` |")),
                "{a} missing from docs/operations.md"
            );
        }
        let oid = clavis_core::Oid::new_random();
        let actors = [
            Actor::Identity(oid),
            Actor::Workstation("w".into()),
            Actor::Client("c".into()),
            Actor::Api("a".into()),
            Actor::Cli("u".into()),
            Actor::Sync("s".into()),
            Actor::Lifecycle,
            Actor::Clavis,
            Actor::Anonymous,
        ];
        for actor in actors {
            let text = actor.to_string();
            let kind = text.split(':').next().expect("split yields one part");
            assert!(
                doc.contains(&format!("| `{kind}` |")) || doc.contains(&format!("| `{kind}:<")),
                "{kind} missing from docs/operations.md"
            );
        }
    }
}
