//! The compliance indicators on a seeded directory with known answers, on
//! both backends: the figures of the dashboard and the people behind them.

use super::{get_page as get, hospital, psc_session};
use crate::support::on_both_backends;
use clavis_core::{Actor, Clock, LifecycleStatus, Oid};
use clavis_directory::compliance;
use clavis_store::models::{Account, HabilitationRow, IdentityRow, PscLinkRow, ReconciliationCase};
use clavis_testkit::db::Backend;
use clavis_testkit::people::{insert_key, insert_person};

on_both_backends!(the_indicators_have_the_known_answers_of_a_seeded_directory);

async fn the_indicators_have_the_known_answers_of_a_seeded_directory(backend: Backend) {
    let t = hospital(backend).await;
    let db = &t.t.db;
    let now = t.clock.now();
    let ts = now.timestamp();
    let day = 86_400;
    let mut conn = db.conn().await.expect("conn");
    let today = now.date_naive();

    // Second factors: Alice a key, Claire a badge (made 3 days ago); Hugo
    // only an expired temporary badge, Inès only a revoked key.
    insert_key(db, t.person("Alice"), "k-alice").await;
    badge(
        &mut conn,
        t.person("Claire"),
        "b-claire",
        ts - 3 * day,
        None,
    )
    .await;
    badge(
        &mut conn,
        t.person("Hugo"),
        "b-hugo",
        ts - day,
        Some(ts - 60),
    )
    .await;
    let mut revoked = insert_key(db, t.person("Ines"), "k-ines").await;
    revoked.status = clavis_core::AuthenticatorStatus::Revoked;
    revoked.update(&mut conn).await.expect("revoke");

    // RPPS: Claire's verified last month; Hélène's never verified.
    let claire = t.person("Claire");
    let helene = t.person("Hélène");
    for (oid, verified) in [(claire, Some(ts - 30 * day)), (helene, None)] {
        let mut row = IdentityRow::find(&mut conn, oid)
            .await
            .expect("find")
            .expect("row");
        if oid == helene {
            row.rpps = Some("10003456783".into());
        }
        // Claire arrived 10 days ago.
        if oid == claire {
            row.arrival_date = Some((today - chrono::Days::new(10)).to_string());
        }
        IdentityRow::update_all(&mut conn, vec![row])
            .await
            .expect("update");
        if let Some(at) = verified {
            IdentityRow::mark_rpps_verified(&mut conn, oid, at)
                .await
                .expect("verified");
        }
    }

    // Four departed people: three still hold something, one was closed.
    let mut departed = Vec::new();
    for family in ["Dupuis", "Petit", "Roy", "Ferrand"] {
        departed.push(insert_person(db, family, "Jean", LifecycleStatus::Departed).await);
    }
    Account::upsert_all(
        &mut conn,
        vec![Account {
            login: "jdupuis".into(),
            oid: departed[0],
            source: "ad".into(),
            enabled: true,
            disabled_reason: None,
            created_at: 0,
            updated_at: 0,
        }],
    )
    .await
    .expect("account");
    t.open_session(departed[1]).await;
    insert_key(db, departed[1], "k-petit").await;
    HabilitationRow {
        oid: departed[2],
        client_id: "dpi".into(),
        role: "ide".into(),
        granted_by: Actor::Cli("it".into()),
        granted_at: 0,
        reviewed_at: None,
        valid_from: None,
        valid_until: None,
    }
    .grant(&mut conn)
    .await
    .expect("habilitation");
    PscLinkRow {
        oid: departed[2],
        national_id: "810003456783".into(),
        psc_sub: "sub-roy".into(),
        acr: None,
        auth_mode: None,
        id_token_sha256: "00".into(),
        linked_at: ts - day,
        expires_at: ts + 300 * day,
        revoked_at: None,
        revoked_reason: None,
        revoked_by: None,
    }
    .save(&mut conn)
    .await
    .expect("psc link");
    // Ferrand left at the end of the day before yesterday; closed
    // yesterday at 02:00 (26 hours after).
    let mut f = IdentityRow::find(&mut conn, departed[3])
        .await
        .expect("find")
        .expect("row");
    f.departure_date = Some((today - chrono::Days::new(2)).to_string());
    let end = (today - chrono::Days::new(1))
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc()
        .timestamp();
    f.status_changed_at = end + 2 * 3600;
    IdentityRow::update_all(&mut conn, vec![f])
        .await
        .expect("update");

    // A case open for 40 days, another for 2.
    for (id, age) in [("case-old", 40), ("case-new", 2)] {
        ReconciliationCase {
            id: id.into(),
            source: "rh".into(),
            external_id: id.into(),
            entry_ref: format!("uid={id}"),
            reason: "birth_place_differs".into(),
            candidates: "[]".into(),
            status: clavis_core::CaseStatus::Open,
            resolution: None,
            resolved_by: None,
            opened_at: ts - age * day,
            resolved_at: None,
            sync_run_id: None,
        }
        .insert(&mut conn)
        .await
        .expect("case");
    }
    // Sessions: two with two factors (Petit's above and Claire's), one
    // without.
    t.open_session(claire).await;
    psc_session(&t, t.person("Noé"), "eidas1", &["pwd"]).await;

    let r = compliance::report(&mut conn, &t.state.directory.compliance, now)
        .await
        .expect("report");
    // 8 active people (5 operators, Claire, Noé, Hélène).
    assert_eq!(r.active, 8);
    assert_eq!(
        (r.second_factor.numerator, r.second_factor.denominator),
        (2, 8)
    );
    assert!(!r.second_factor.missing.contains(&claire));
    assert!(
        r.second_factor.missing.contains(&t.person("Hugo")),
        "an expired badge does not count"
    );
    assert!(
        r.second_factor.missing.contains(&t.person("Ines")),
        "a revoked key does not count"
    );
    assert_eq!((r.rpps.numerator, r.rpps.denominator), (2, 8));
    assert_eq!(
        (r.rpps_verified.numerator, r.rpps_verified.denominator),
        (1, 2)
    );
    assert_eq!(r.rpps_verified.missing, vec![helene]);
    let still: Vec<(Oid, Vec<&str>)> = r
        .departed_still_active
        .iter()
        .map(|s| (s.oid, s.holds.clone()))
        .collect();
    assert_eq!(still.len(), 3, "{still:?}");
    let holds = |oid: Oid| {
        still
            .iter()
            .find(|(o, _)| *o == oid)
            .map(|(_, h)| h.clone())
            .unwrap_or_default()
    };
    assert_eq!(holds(departed[0]), vec!["account"]);
    assert_eq!(holds(departed[1]), vec!["session", "key"]);
    assert_eq!(holds(departed[2]), vec!["psc_link", "habilitation"]);
    assert!(holds(departed[3]).is_empty(), "Ferrand was closed");
    let d = r
        .departure_delay
        .clone()
        .expect("a departure of the period");
    assert_eq!((d.count, d.max_secs), (1, 2 * 3600));
    let a = r.arrival_delay.clone().expect("an arrival of the period");
    let arrived = (today - chrono::Days::new(10))
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc()
        .timestamp();
    assert_eq!((a.count, a.median_secs), (1, ts - 3 * day - arrived));
    assert_eq!(r.old_cases.len(), 1);
    assert_eq!(r.old_cases[0].id, "case-old");
    // Logins: every session of the seed (the departed one's too) with mfa
    // but Noé's.
    assert_eq!(r.mfa_logins.denominator - r.mfa_logins.numerator, 1);
    drop(conn);

    // The dashboard shows them, the lists name the people.
    let app = t.service().await;
    let aude = t.open_session(t.person("Aude")).await.cookie;
    let (status, page) = get(&app, "/console/compliance", &aude).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("25.0 % (2 sur 8)"), "{page}");
    assert!(page.contains("50.0 % (1 sur 2)"), "{page}");
    assert!(
        page.contains("id=\"indicator-departed\" class=\"level-bad\""),
        "{page}"
    );
    let (_, list) = get(&app, "/console/compliance/departed", &aude).await;
    for oid in &departed[..3] {
        assert!(list.contains(&format!("data-oid=\"{oid}\"")), "{list}");
    }
    assert!(!list.contains(&format!("data-oid=\"{}\"", departed[3])));
    assert!(
        list.contains("lien Pro Santé Connect valide, habilitation"),
        "{list}"
    );
    let (_, list) = get(&app, "/console/compliance/rpps-verified", &aude).await;
    assert!(list.contains("BÉRARD Hélène"), "{list}");
    let (_, list) = get(&app, "/console/compliance/cases", &aude).await;
    assert!(
        list.contains("data-case=\"case-old\"") && !list.contains("case-new"),
        "{list}"
    );
    let (status, _) = get(&app, "/console/compliance/nothing", &aude).await;
    assert_eq!(status, 404);
    // Not for the helpdesk.
    let hugo = t.open_session(t.person("Hugo")).await.cookie;
    let (status, _) = get(&app, "/console/compliance", &hugo).await;
    assert_eq!(status, 403);
}

/// A badge of `oid` made at `created_at`, temporary until `expires_at`.
async fn badge(
    conn: &mut clavis_store::DbConn,
    oid: Oid,
    id: &str,
    created_at: i64,
    expires_at: Option<i64>,
) {
    clavis_store::models::BadgeRow {
        id: id.into(),
        oid,
        uid: format!("04{:012X}", created_at),
        reference_hash: format!("{id}-reference"),
        key_version: 1,
        kind: if expires_at.is_some() {
            clavis_core::BadgeKind::Temporary
        } else {
            clavis_core::BadgeKind::Permanent
        },
        status: clavis_core::BadgeStatus::Active,
        status_reason: None,
        expires_at,
        created_at,
        created_by: Actor::Cli("it".into()),
        last_used_at: None,
    }
    .insert(conn)
    .await
    .expect("badge");
}
