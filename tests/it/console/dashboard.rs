//! The tableau de bord's figures on a seeded hospital, on both backends:
//! logins per hour by method over the last 24 hours (the chart and its
//! table), failures and lockouts of the last 24 hours, temporary badges
//! ending within a week, signing keys due for rotation, health.

use super::{get_page as get, hospital};
use crate::support::on_both_backends;
use clavis_core::{Actor, AuditAction, BadgeKind, BadgeStatus, Clock, LoginMethod, Oid};
use clavis_store::models::{BadgeRow, OidcKeyRow};
use clavis_testkit::db::Backend;

on_both_backends!(the_dashboard_counts_the_last_24_hours);

async fn session_at(t: &crate::support::TestApp, oid: Oid, hours_ago: i64, method: LoginMethod) {
    let mut conn = t.t.db.conn().await.expect("conn");
    clavis_sso::create(
        &mut conn,
        &t.state.sso,
        Clock::now(&t.clock) - chrono::Duration::hours(hours_ago),
        clavis_sso::NewSession {
            oid,
            acr: "eidas2".into(),
            amr: vec!["hwk".into(), "mfa".into()],
            authenticator_id: None,
            client_ip: None,
            user_agent: None,
            workstation_id: None,
            ends_by: None,
            method,
        },
    )
    .await
    .expect("session");
}

async fn event_at(t: &crate::support::TestApp, action: AuditAction, hours_ago: i64) {
    let mut conn = t.t.db.conn().await.expect("conn");
    clavis_audit::AuditEvent::new(Actor::Lifecycle, action, None, serde_json::json!({}))
        .record(
            &mut conn,
            Clock::now(&t.clock) - chrono::Duration::hours(hours_ago),
        )
        .await
        .expect("event");
}

/// The figure shown in the element with this id.
fn figure(page: &str, id: &str) -> String {
    let marker = format!("id=\"{id}\">");
    page.split(&marker)
        .nth(1)
        .and_then(|s| s.split('<').next())
        .unwrap_or_else(|| panic!("no {id} in {page}"))
        .to_string()
}

async fn the_dashboard_counts_the_last_24_hours(backend: Backend) {
    let t = hospital(backend).await;
    let claire = t.person("Claire");
    // Two hours ago: two badge logins and a key; thirty hours ago (out of
    // the chart): a badge login.
    session_at(&t, claire, 2, LoginMethod::Badge).await;
    session_at(&t, t.person("Noé"), 2, LoginMethod::Badge).await;
    session_at(&t, t.person("Hélène"), 2, LoginMethod::Fido2).await;
    session_at(&t, claire, 30, LoginMethod::Badge).await;
    // Failures: three failed logins in the day, one the day before; a PIN
    // locked.
    for hours_ago in [1, 3, 20, 26] {
        event_at(&t, AuditAction::LoginFailed, hours_ago).await;
    }
    event_at(&t, AuditAction::BadgePinLocked, 5).await;
    // Temporary badges: one ends in 3 days, one in 10, one ended.
    let now = Clock::now(&t.clock).timestamp();
    let mut conn = t.t.db.conn().await.expect("conn");
    for (id, ends_in_days) in [("t-3", 3), ("t-10", 10), ("t-gone", -1)] {
        BadgeRow {
            id: id.into(),
            oid: claire,
            uid: format!("04{:012X}", ends_in_days + 100),
            reference_hash: format!("{id}-ref"),
            key_version: 1,
            kind: BadgeKind::Temporary,
            status: BadgeStatus::Active,
            status_reason: None,
            expires_at: Some(now + ends_in_days * 86_400),
            created_at: now,
            created_by: Actor::Cli("it".into()),
            last_used_at: None,
        }
        .insert(&mut conn)
        .await
        .expect("badge");
    }
    // A signing key in service for 400 days.
    OidcKeyRow {
        kid: "old-key".into(),
        alg: "ES256".into(),
        private_key: "unused".into(),
        public_jwk: "{}".into(),
        created_at: now - 400 * 86_400,
        retired_at: None,
    }
    .insert(&mut conn)
    .await
    .expect("key");
    drop(conn);

    let app = t.service().await;
    // The helpdesk sees the dashboard, without the journal's links.
    let hugo = t.open_session(t.person("Hugo")).await.cookie;
    let (status, page) = get(&app, "/console", &hugo).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(figure(&page, "failed-logins"), "3");
    assert_eq!(figure(&page, "pin-lockouts"), "1");
    assert_eq!(figure(&page, "refused-badges"), "0");
    assert!(
        !page.contains("/console/audit?action="),
        "no journal for the helpdesk"
    );
    assert_eq!(figure(&page, "expiring-badges"), "1");
    assert_eq!(figure(&page, "keys-to-rotate"), "1");
    assert!(page.contains("<code>old-key</code>"), "{page}");
    // The chart: a bar per method two hours ago, the figures under it.
    assert!(page.contains("id=\"logins-chart\""), "{page}");
    let two_hours_ago = (Clock::now(&t.clock) - chrono::Duration::hours(2))
        .with_timezone(&chrono::Local)
        .format("%Hh")
        .to_string();
    assert!(
        page.contains(&format!(
            "<tr><th scope=\"row\">{two_hours_ago}</th><td>2</td><td>1</td><td>0</td><td>0</td></tr>"
        )),
        "{page}"
    );
    let table = page
        .split("<table id=\"logins-per-hour\">")
        .nth(1)
        .and_then(|s| s.split("</table>").next())
        .expect("the figures");
    assert_eq!(table.matches("<tr><th scope=\"row\">").count(), 24);
    // Every login of the 24 hours counted once: the three above and the
    // helpdesk agent's own session, this hour.
    let total: i64 = table
        .split("<td>")
        .skip(1)
        .filter_map(|c| c.split('<').next()?.parse::<i64>().ok())
        .sum();
    assert_eq!(total, 4, "{table}");
    // Two rectangles two hours ago (badge, key), with their tooltips.
    assert!(
        page.contains(&format!(
            "<title>{two_hours_ago} · badge + code PIN: 2</title>"
        )),
        "{page}"
    );
    assert!(page.contains(&format!("<title>{two_hours_ago} · clé FIDO2: 1</title>")));
    assert!(page.contains("id=\"health\""), "{page}");

    // An auditor gets the failures' searches in the journal.
    let aude = t.open_session(t.person("Aude")).await.cookie;
    let (_, page) = get(&app, "/console", &aude).await;
    assert!(
        page.contains("/console/audit?action=login.failed&#38;from="),
        "{page}"
    );
}
