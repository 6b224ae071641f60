//! Cards that must not open a session, each refused and audited with its
//! precise reason: a clone (the UID and our application copied, not the
//! diversified key), a card of another system, a card pulled away
//! mid-authentication, a revoked badge.

use super::{
    CLAIRE_PIN, CLAIRE_UID, assert_audit_keeps_no_pin, assert_refusal_audited, badge_service,
    badges_of, blank, claires_badge, finish, tap, tap_at, ward,
};
use crate::support::on_both_backends;
use clavis_core::Clock;
use clavis_desfire::AesKey;
use clavis_testkit::db::Backend;
use serde_json::json;

on_both_backends!(
    a_clone_without_the_diversified_key_is_refused,
    a_card_of_another_system_is_refused_at_the_identification_key,
    a_card_pulled_away_mid_authentication_is_refused,
    a_badge_whose_holder_has_every_directory_account_disabled_is_refused,
    a_badge_revoked_between_the_tap_and_the_pin_opens_nothing_and_is_audited,
    a_revoked_badge_is_refused,
);

async fn a_clone_without_the_diversified_key_is_refused(backend: Backend) {
    let t = ward(backend).await;
    let app = t.service().await;
    claires_badge(&app, &t).await;
    // Same UID, our application copied, but the attacker only knows the
    // common identification key.
    let svc = badge_service(&t);
    let keys = svc.keys();
    let mut clone = blank(CLAIRE_UID);
    clone
        .add_application(
            keys.aid,
            0x09,
            vec![
                AesKey::new([1; 16]),
                AesKey::new([2; 16]),
                keys.ident_key.clone(),
            ],
        )
        .expect("clone app");
    let (l, end) = tap(&app, &mut clone).await;
    assert_eq!(end, json!({"failed": true}));
    assert_eq!(
        finish(&app, &l, CLAIRE_PIN).await.1["error"]["code"],
        "badge_refused"
    );
    assert_refusal_audited(&t.t.db, "badge.check_failed:login_key_refused").await;
    assert_audit_keeps_no_pin(&t.t.db, &[CLAIRE_PIN]).await;
}

async fn a_card_of_another_system_is_refused_at_the_identification_key(backend: Backend) {
    let t = ward(backend).await;
    let app = t.service().await;
    let other = clavis_authn::badge::BadgeService::new(
        clavis_authn::BadgeConfig::default(),
        |l| {
            let mut k = [7u8; 32];
            k[..l.len().min(32)].copy_from_slice(&l.as_bytes()[..l.len().min(32)]);
            k
        },
        AesKey::ZERO,
    )
    .expect("other system");
    let mut foreign = blank([4, 7, 7, 7, 7, 7, 7]);
    let pk = other.personalisation_keys();
    let (mut p, mut apdu) =
        clavis_authn::badge::Personalisation::start(&pk, || [3u8; 16]).expect("start");
    while let clavis_authn::badge::personalise::Step::Send(next) = p
        .on_response(&foreign.process(apdu.as_bytes()))
        .expect("personalise")
    {
        apdu = next;
    }
    let (_, end) = tap(&app, &mut foreign).await;
    assert_eq!(end, json!({"failed": true}));
    assert_refusal_audited(&t.t.db, "badge.check_failed:identification_refused").await;
}

async fn a_card_pulled_away_mid_authentication_is_refused(backend: Backend) {
    let t = ward(backend).await;
    let app = t.service().await;
    let mut card = claires_badge(&app, &t).await;
    let (_, end) = tap_at(&app, "ws-ward-3", &mut card, Some(2)).await;
    assert_eq!(end, json!({"failed": true}));
    assert_refusal_audited(&t.t.db, "badge.check_failed:card_removed").await;
}

async fn a_revoked_badge_is_refused(backend: Backend) {
    let t = ward(backend).await;
    let app = t.service().await;
    let mut card = claires_badge(&app, &t).await;
    let badges = badges_of(&t, t.person("Claire")).await;
    let mut conn = t.t.db.conn().await.expect("conn");
    clavis_authn::badge::records::revoke(
        &mut conn,
        t.clock.now(),
        &badges[0].id,
        "lost",
        &clavis_core::Actor::Cli("it".into()),
    )
    .await
    .expect("revoke");
    let (_, end) = tap(&app, &mut card).await;
    assert_eq!(end, json!({"failed": true}));
    assert_refusal_audited(&t.t.db, "badge.refused:badge revoked").await;
}

async fn a_badge_whose_holder_has_every_directory_account_disabled_is_refused(backend: Backend) {
    let t = ward(backend).await;
    let app = t.service().await;
    let mut card = claires_badge(&app, &t).await;
    let mut conn = t.t.db.conn().await.expect("conn");
    clavis_store::models::Account::upsert_all(
        &mut conn,
        vec![clavis_store::models::Account {
            login: "clemoine".into(),
            oid: t.person("Claire"),
            source: "ad".into(),
            enabled: false,
            disabled_reason: Some("ad_disabled".into()),
            created_at: 0,
            updated_at: 0,
        }],
    )
    .await
    .expect("account");
    let (_, end) = tap(&app, &mut card).await;
    assert_eq!(end, json!({"failed": true}));
    assert_refusal_audited(
        &t.t.db,
        "badge.refused:account_disabled: every directory account of the holder is disabled",
    )
    .await;
}

async fn a_badge_revoked_between_the_tap_and_the_pin_opens_nothing_and_is_audited(
    backend: Backend,
) {
    let t = ward(backend).await;
    let app = t.service().await;
    let mut card = claires_badge(&app, &t).await;
    let (l, _) = tap(&app, &mut card).await;
    let badges = badges_of(&t, t.person("Claire")).await;
    let mut conn = t.t.db.conn().await.expect("conn");
    clavis_authn::badge::records::revoke(
        &mut conn,
        t.clock.now(),
        &badges[0].id,
        "lost",
        &clavis_core::Actor::Cli("it".into()),
    )
    .await
    .expect("revoke");
    let (status, body, session) = finish(&app, &l, CLAIRE_PIN).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("badge_refused"))
    );
    assert!(session.is_none());
    let failed: Vec<_> = super::actions(&t.t.db)
        .await
        .into_iter()
        .filter(|(a, _)| a == "login.failed")
        .map(|(_, c)| c["reason"].clone())
        .collect();
    assert_eq!(failed, vec![json!("badge_not_active")]);
}
