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

on_both_backends!(
    a_review_campaign_removes_what_reviewers_removed_and_keeps_the_rest,
    habilitations_are_granted_for_their_days_and_withdrawn,
);

async fn roles(t: &crate::support::TestApp, oid: Oid) -> Vec<String> {
    let mut conn = t.t.db.conn().await.expect("conn");
    let today = t
        .clock
        .now()
        .with_timezone(&chrono::Local)
        .date_naive()
        .to_string();
    HabilitationRow::roles(&mut conn, oid, &ClientId::from("dpi"), &today)
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

async fn habilitations_are_granted_for_their_days_and_withdrawn(backend: Backend) {
    let t = hospital(backend).await;
    let app = t.service().await;
    let alice = t.person("Alice");
    let claire = t.person("Claire");
    let cookie = t.open_session(alice).await.cookie;
    let csrf = csrf_of(&cookie);
    let mut conn = t.t.db.conn().await.expect("conn");
    let (dpi, _) = clavis_oidc::clients::register(
        &mut conn,
        t.clock.now(),
        clavis_oidc::clients::NewClient {
            name: "DPI".into(),
            redirect_uris: vec!["https://dpi.chu.test/cb".into()],
            ..Default::default()
        },
        &t.state.oidc.registration_rules(),
        &clavis_core::Actor::Cli("it".into()),
    )
    .await
    .expect("client");
    drop(conn);
    let client = dpi.client_id.to_string();
    let today = t.clock.now().with_timezone(&chrono::Local).date_naive();
    let day = |d: i64| (today + chrono::Duration::days(d)).to_string();

    // A replacement from tomorrow for a week, by her RPPS-less oid.
    let before = last_seq(&t.t.db).await;
    let (status, to, body) = post(
        &app,
        "/console/habilitations/grant",
        &cookie,
        &[
            ("csrf", &csrf),
            ("person", &claire.to_string()),
            ("client", &client),
            ("role", "ide-remplacement"),
            ("valid_from", &day(1)),
            ("valid_until", &day(7)),
        ],
    )
    .await;
    assert_eq!(status, 303, "{body}");
    assert_eq!(to, format!("/console/habilitations?client={client}"));
    let events = events_after(&t.t.db, before).await;
    let granted = events
        .iter()
        .find(|e| e["action"] == "habilitation.granted")
        .expect("audited");
    assert_eq!(granted["actor"], format!("identity:{alice}"));
    assert_eq!(granted["changes"]["valid_from"], day(1));
    assert_eq!(granted["changes"]["valid_until"], day(7));

    // The role is sent on its days only.
    let roles_on = |d: i64| {
        let db = t.t.db.clone();
        let client = dpi.client_id.clone();
        let at = t.clock.now() + chrono::Duration::days(d);
        async move {
            let mut conn = db.conn().await.expect("conn");
            let identity = clavis_store::models::IdentityRow::find(&mut conn, claire)
                .await
                .expect("find")
                .expect("claire");
            let claims = clavis_oidc::claims::for_identity(
                &mut conn,
                &identity,
                &client,
                &["openid", "roles"],
                &clavis_oidc::ClaimNames::default(),
                at,
            )
            .await
            .expect("claims");
            claims["roles"].clone()
        }
    };
    assert_eq!(roles_on(0).await, serde_json::json!([]), "not yet");
    assert_eq!(roles_on(1).await, serde_json::json!(["ide-remplacement"]));
    assert_eq!(
        roles_on(7).await,
        serde_json::json!(["ide-remplacement"]),
        "its last day"
    );
    assert_eq!(roles_on(8).await, serde_json::json!([]), "over");
    let (_, page) = get(&app, "/console/habilitations", &cookie).await;
    assert!(page.contains(&format!("{} → {}", day(1), day(7))), "{page}");
    assert!(page.contains("hors période"), "not in force today: {page}");

    // Dates the wrong way round, or one's own habilitation: refused.
    let (status, _, _) = post(
        &app,
        "/console/habilitations/grant",
        &cookie,
        &[
            ("csrf", &csrf),
            ("person", &claire.to_string()),
            ("client", &client),
            ("role", "ide"),
            ("valid_from", &day(7)),
            ("valid_until", &day(1)),
        ],
    )
    .await;
    assert_eq!(status, 400);
    let (status, _, _) = post(
        &app,
        "/console/habilitations/grant",
        &cookie,
        &[
            ("csrf", &csrf),
            ("person", &alice.to_string()),
            ("client", &client),
            ("role", "admin-dpi"),
        ],
    )
    .await;
    assert_eq!(status, 403);

    // Withdrawn.
    let (status, _, body) = post(
        &app,
        "/console/habilitations/revoke",
        &cookie,
        &[
            ("csrf", &csrf),
            ("oid", &claire.to_string()),
            ("client", &client),
            ("role", "ide-remplacement"),
        ],
    )
    .await;
    assert_eq!(status, 303, "{body}");
    assert_eq!(roles_on(3).await, serde_json::json!([]));
    let (status, _, _) = post(
        &app,
        "/console/habilitations/revoke",
        &cookie,
        &[
            ("csrf", &csrf),
            ("oid", &claire.to_string()),
            ("client", &client),
            ("role", "ide-remplacement"),
        ],
    )
    .await;
    assert_eq!(status, 404, "withdrawn once");
}
