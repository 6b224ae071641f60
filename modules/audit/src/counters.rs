//! The counters a DSI watches, taken where every security event already
//! passes: each audit event appended counts once, by action, and the
//! actions that mean a login, a lockout, tokens issued, a back-channel
//! logout or a sync run also count under their own names (docs/operations.md,
//! "Metrics"). Through the `metrics` facade: nothing is recorded until the
//! binary installs an exporter, and tests without one pay nothing.
//!
//! Labels take only values from closed sets (actions, methods, results) or
//! from the configuration (OpenID clients, directory sources): never a
//! person, an address or anything a client can choose. An event counts when
//! it is appended, inside its transaction; the rare transaction that then
//! rolls back has counted all the same.

use crate::AuditEvent;
use clavis_core::{Actor, AuditAction};

/// Counts `event` (see the module doc).
pub(crate) fn count(event: &AuditEvent) {
    use AuditAction as A;
    metrics::counter!("clavis_audit_events_total", "action" => event.action.as_str()).increment(1);
    match event.action {
        A::LoginSucceeded | A::LoginFailed => {
            let result = match event.action {
                A::LoginSucceeded => "succeeded",
                _ => "failed",
            };
            metrics::counter!("clavis_logins_total", "method" => login_method(event), "result" => result)
                .increment(1);
        }
        A::BadgePinLocked => {
            metrics::counter!("clavis_lockouts_total", "method" => "badge").increment(1);
        }
        A::OidcTokensIssued | A::PscAsserted => {
            if let Actor::Client(client) = &event.actor {
                metrics::counter!("clavis_oidc_tokens_issued_total", "client_id" => client.as_str().to_owned())
                    .increment(1);
            }
        }
        A::OidcBackchannelDelivered | A::OidcBackchannelFailed | A::OidcBackchannelGivenUp => {
            let result = match event.action {
                A::OidcBackchannelDelivered => "delivered",
                A::OidcBackchannelFailed => "failed",
                _ => "given_up",
            };
            metrics::counter!("clavis_backchannel_logouts_total", "result" => result).increment(1);
        }
        A::SyncFinished | A::SyncFailed => {
            let source = event
                .source
                .clone()
                .or_else(|| event.target.clone())
                .unwrap_or_default();
            let outcome = match event.action {
                A::SyncFinished => "succeeded",
                _ => "failed",
            };
            metrics::counter!("clavis_sync_runs_total", "source" => source.clone(), "outcome" => outcome)
                .increment(1);
            let rejected = event.changes.get("rejected").and_then(|r| r.as_u64());
            metrics::counter!("clavis_sync_rejected_total", "source" => source)
                .increment(rejected.unwrap_or(0));
        }
        _ => {}
    }
}

/// How the person signed in, as the login's event says (`fido2`, `badge`,
/// `psc`); anything else is `other`.
fn login_method(event: &AuditEvent) -> &'static str {
    match event.changes.get("method").and_then(|m| m.as_str()) {
        Some("fido2") => "fido2",
        Some("badge") => "badge",
        Some("psc") => "psc",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    use serde_json::json;

    /// The counters `events` produce, as (name, sorted labels, value).
    fn counted(events: &[AuditEvent]) -> Vec<(String, Vec<String>, u64)> {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        metrics::with_local_recorder(&recorder, || events.iter().for_each(count));
        let mut out: Vec<_> = snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .filter_map(|(key, _, _, value)| match value {
                DebugValue::Counter(n) => {
                    let mut labels: Vec<String> = key
                        .key()
                        .labels()
                        .map(|l| format!("{}={}", l.key(), l.value()))
                        .collect();
                    labels.sort();
                    Some((key.key().name().to_string(), labels, n))
                }
                _ => None,
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn logins_lockouts_tokens_and_syncs_count_under_bounded_labels() {
        let login = |action, method: &str| {
            AuditEvent::new(Actor::Anonymous, action, None, json!({"method": method}))
        };
        let mut sync = AuditEvent::new(
            Actor::Sync("rh".into()),
            AuditAction::SyncFinished,
            Some("rh".into()),
            json!({"rejected": 3}),
        );
        sync.source = Some("rh".into());
        let events = vec![
            login(AuditAction::LoginSucceeded, "fido2"),
            login(AuditAction::LoginFailed, "badge"),
            login(AuditAction::LoginFailed, "badge"),
            // Whatever a client could slip in is not a label value.
            login(AuditAction::LoginFailed, "<script>"),
            AuditEvent::new(
                Actor::Anonymous,
                AuditAction::BadgePinLocked,
                None,
                json!({}),
            ),
            AuditEvent::new(
                Actor::Client("dpi".into()),
                AuditAction::OidcTokensIssued,
                None,
                json!({}),
            ),
            sync,
        ];
        let got = counted(&events);
        let find = |name: &str, labels: &[&str]| {
            got.iter()
                .find(|(n, l, _)| n == name && l == labels)
                .map(|(_, _, v)| *v)
        };
        assert_eq!(
            find("clavis_logins_total", &["method=fido2", "result=succeeded"]),
            Some(1)
        );
        assert_eq!(
            find("clavis_logins_total", &["method=badge", "result=failed"]),
            Some(2)
        );
        assert_eq!(
            find("clavis_logins_total", &["method=other", "result=failed"]),
            Some(1)
        );
        assert_eq!(find("clavis_lockouts_total", &["method=badge"]), Some(1));
        assert_eq!(
            find("clavis_oidc_tokens_issued_total", &["client_id=dpi"]),
            Some(1)
        );
        assert_eq!(
            find(
                "clavis_sync_runs_total",
                &["outcome=succeeded", "source=rh"]
            ),
            Some(1)
        );
        assert_eq!(find("clavis_sync_rejected_total", &["source=rh"]), Some(3));
        assert_eq!(
            find("clavis_audit_events_total", &["action=login.failed"]),
            Some(3)
        );
    }
}
