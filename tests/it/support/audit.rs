//! The audit log as the tests read it: its events as JSON objects, for
//! assertions and for snapshots of their shapes.

use serde_json::{Value, json};

/// The sequence number of the last audit event (0 when there is none).
pub async fn last_seq(db: &clavis_store::Db) -> i64 {
    events_after(db, 0)
        .await
        .last()
        .and_then(|e| e["seq"].as_i64())
        .unwrap_or(0)
}

/// The audit events after `seq`, oldest first, each as its stored fields
/// (`changes` parsed).
pub async fn events_after(db: &clavis_store::Db, seq: i64) -> Vec<Value> {
    let mut conn = db.conn().await.expect("conn");
    clavis_store::models::AuditEventRow::page(&mut conn, seq, 100_000)
        .await
        .expect("audit")
        .into_iter()
        .map(|e| {
            json!({
                "seq": e.seq,
                "id": e.id,
                "occurred_at": e.occurred_at,
                "actor": e.actor,
                "action": e.action,
                "target": e.target,
                "changes": serde_json::from_str::<Value>(&e.changes).expect("changes are JSON"),
                "source": e.source,
                "sync_run_id": e.sync_run_id,
                "client_addr": e.client_addr,
                "prev_hash": e.prev_hash,
                "hash": e.hash,
            })
        })
        .collect()
}

/// `events` with each of `names`' values (an oid, a session id…) replaced
/// by its name wherever it appears, so that a snapshot shows which
/// identity or session an event is about without the random id.
pub fn named(events: Vec<Value>, names: &[(impl AsRef<str>, &str)]) -> Value {
    let mut text = serde_json::to_string(&events).expect("json");
    for (value, name) in names {
        text = text.replace(value.as_ref(), name);
    }
    serde_json::from_str(&text).expect("json")
}
