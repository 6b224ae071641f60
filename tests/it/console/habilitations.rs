//! The yearly review of habilitations from the console: a campaign over an
//! application, reviewers keep or remove each habilitation, what they
//! removed is withdrawn at once (and no longer sent to the application),
//! nobody reviews their own, a closed campaign takes no more decisions,
//! and the compliance dashboard counts what was confirmed.

use super::{csrf_of, get_page as get, hospital, post_form as post};
use crate::support::audit::{events_after, last_seq};
use crate::support::on_both_backends;
use clavis_core::{ClientId, Clock, Oid};
use clavis_store::models::HabilitationRow;
use clavis_testkit::db::Backend;

on_both_backends!(a_review_campaign_removes_what_reviewers_removed_and_keeps_the_rest);

async fn roles(t: &crate::support::TestApp, oid: Oid) -> Vec<String> {
    let mut conn = t.t.db.conn().await.expect("conn");
    HabilitationRow::roles(&mut conn, oid, &ClientId::from("dpi"))
        .await
        .expect("roles")
}

async fn a_review_campaign_removes_what_reviewers_removed_and_keeps_the_rest(backend: Backend) {
    let t = hospital(backend).await;
    let app = t.service().await;
    let alice = t.person("Alice");
    let (claire, noe, helene) = (t.person("Claire"), t.person("Noé"), t.person("Hélène"));
    let mut conn = t.t.db.conn().await.expect("conn");
    let now = t.clock.now();
    let it = clavis_core::Actor::Cli("it".into());
    for (oid, role) in [
        (claire, "ide"),
        (noe, "ide"),
        (helene, "med"),
        (alice, "admin-dpi"),
    ] {
        clavis_oidc::habilitations::grant(&mut conn, now, oid, &ClientId::from("dpi"), role, &it)
            .await
            .expect("grant");
    }
    clavis_oidc::habilitations::grant(&mut conn, now, claire, &ClientId::from("labo"), "bio", &it)
        .await
        .expect("grant");
    let cookie = t.open_session(alice).await.cookie;
    let csrf = csrf_of(&cookie);

    // A campaign over the DPI: its four habilitations, not the lab's.
    let (status, to, body) = post(
        &app,
        "/console/habilitations/campaigns",
        &cookie,
        &[
            ("csrf", &csrf),
            ("title", "Revue annuelle DPI 2026"),
            ("scope", "application"),
            ("client", "dpi"),
        ],
    )
    .await;
    assert_eq!(status, 303, "{body}");
    let campaign = to.rsplit('/').next().expect("id").to_string();
    let (status, page) = get(&app, &to, &cookie).await;
    assert_eq!(status, 200);
    assert_eq!(page.matches("<tr data-item=").count(), 4, "{page}");
    assert!(page.contains("0 sur 4 décidées"), "{page}");
    assert!(!page.contains("/labo/"), "the lab is not in it");
    // Alice's own habilitation offers no decision to her.
    assert_eq!(
        page.matches("name=\"decision\" value=\"remove\"").count(),
        3,
        "{page}"
    );

    let decide = |oid: Oid, role: &'static str, decision: &'static str| {
        let (cookie, csrf, campaign, app) = (cookie.clone(), csrf.clone(), campaign.clone(), &app);
        async move {
            post(
                app,
                &format!("/console/habilitations/campaigns/{campaign}/decide"),
                &cookie,
                &[
                    ("csrf", &csrf),
                    ("oid", &oid.to_string()),
                    ("client", "dpi"),
                    ("role", role),
                    ("decision", decision),
                ],
            )
            .await
        }
    };
    let before = last_seq(&t.t.db).await;
    assert_eq!(decide(claire, "ide", "keep").await.0, 303);
    assert_eq!(decide(noe, "ide", "remove").await.0, 303);
    // Decided once.
    assert_eq!(decide(noe, "ide", "keep").await.0, 409);
    // Not one's own.
    assert_eq!(decide(alice, "admin-dpi", "keep").await.0, 403);
    assert_eq!(roles(&t, claire).await, vec!["ide".to_string()]);
    assert!(roles(&t, noe).await.is_empty(), "removed at once");
    assert_eq!(
        roles(&t, helene).await,
        vec!["med".to_string()],
        "undecided stays"
    );
    let events = events_after(&t.t.db, before).await;
    let revoked: Vec<_> = events
        .iter()
        .filter(|e| e["action"] == "habilitation.revoked")
        .collect();
    assert_eq!(revoked.len(), 1, "{events:?}");
    assert_eq!(revoked[0]["target"], noe.to_string());
    assert_eq!(revoked[0]["changes"]["review_campaign"], campaign.as_str());
    assert_eq!(revoked[0]["actor"], format!("identity:{alice}"));
    assert_eq!(
        events
            .iter()
            .filter(|e| e["action"] == "review.decided")
            .count(),
        2,
        "{events:?}"
    );
    let (_, page) = get(
        &app,
        &format!("/console/habilitations/campaigns/{campaign}"),
        &cookie,
    )
    .await;
    assert!(page.contains("2 sur 4 décidées, 1 retirées"), "{page}");

    // The compliance dashboard counts the confirmed one (of four left).
    let r = clavis_directory::compliance::report(
        &mut conn,
        &t.state.directory.compliance,
        t.clock.now(),
    )
    .await
    .expect("report");
    assert_eq!(
        (
            r.habilitations_reviewed.numerator,
            r.habilitations_reviewed.denominator
        ),
        (1, 4)
    );

    // Closed: no more decisions.
    let (status, _, _) = post(
        &app,
        &format!("/console/habilitations/campaigns/{campaign}/close"),
        &cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(status, 303);
    assert_eq!(decide(helene, "med", "remove").await.0, 409);
    assert_eq!(roles(&t, helene).await, vec!["med".to_string()]);
    // The identity office reads the habilitations, and decides nothing.
    let ines = t.open_session(t.person("Ines")).await.cookie;
    let (status, page) = get(&app, "/console/habilitations", &ines).await;
    assert_eq!(status, 200);
    assert!(page.contains("Revue annuelle DPI 2026"));
    assert!(!page.contains("action=\"/console/habilitations/campaigns\""));
}
