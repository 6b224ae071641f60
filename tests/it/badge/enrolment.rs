//! Enrolment: a blank card tapped at the badge office becomes a badge of
//! its holder (other applications on the card untouched), once; a
//! temporary badge works until its end.

use super::{
    CLAIRE_PIN, CLAIRE_UID, assert_refusal_audited, badges_of, blank, claires_badge, enrol, finish,
    set_pin, tap, ward,
};
use crate::support::on_both_backends;
use clavis_core::Clock;
use clavis_desfire::AesKey;
use clavis_testkit::db::Backend;
use serde_json::json;

on_both_backends!(
    enrolling_a_blank_card_makes_an_active_badge_and_keeps_the_door_application,
    a_card_already_enrolled_cannot_be_enrolled_again,
    a_temporary_badge_works_until_its_end_and_is_refused_after,
    a_session_opened_with_a_temporary_badge_ends_with_the_badge,
);

async fn enrolling_a_blank_card_makes_an_active_badge_and_keeps_the_door_application(
    backend: Backend,
) {
    let t = ward(backend).await;
    let app = t.service().await;
    let claire = t.person("Claire");
    let mut card = blank(CLAIRE_UID);
    let door = clavis_desfire::Aid::new(0x0F_00_01).expect("aid");
    card.add_application(door, 0x0F, vec![AesKey::new([0x10; 16])])
        .expect("door");
    let done = enrol(&app, &t, claire, None, &mut card).await;
    assert_eq!(done, json!({"done": true}));
    assert!(
        card.has_key(door, 0, &AesKey::new([0x10; 16])),
        "door application untouched"
    );
    let badges = badges_of(&t, claire).await;
    assert_eq!(badges.len(), 1);
    assert_eq!(badges[0].uid, "04010203040506");
    assert_eq!(badges[0].status.as_str(), "active");
}

async fn a_card_already_enrolled_cannot_be_enrolled_again(backend: Backend) {
    let t = ward(backend).await;
    let app = t.service().await;
    let mut card = claires_badge(&app, &t).await;
    let claire = t.person("Claire");
    let again = enrol(&app, &t, claire, None, &mut card).await;
    assert_eq!(again, json!({"failed": true}));
    assert_eq!(badges_of(&t, claire).await.len(), 1);
    assert_refusal_audited(&t.t.db, "badge.enrolment_failed:already_personalised").await;
}

async fn a_temporary_badge_works_until_its_end_and_is_refused_after(backend: Backend) {
    let t = ward(backend).await;
    let app = t.service().await;
    let claire = t.person("Claire");
    set_pin(&t, &super::badge_service(&t), claire, CLAIRE_PIN).await;
    let mut temp = blank([4, 5, 5, 5, 5, 5, 5]);
    let until = t.clock.now() + chrono::Duration::hours(12);
    assert_eq!(
        enrol(&app, &t, claire, Some(until), &mut temp).await,
        json!({"done": true})
    );
    let (l, _) = tap(&app, &mut temp).await;
    assert_eq!(finish(&app, &l, CLAIRE_PIN).await.0, 200);
    t.clock.advance(chrono::Duration::hours(13));
    let (_, end) = tap(&app, &mut temp).await;
    assert_eq!(end, json!({"failed": true}));
    assert_refusal_audited(&t.t.db, "badge.refused:temporary badge expired").await;
}

async fn a_session_opened_with_a_temporary_badge_ends_with_the_badge(backend: Backend) {
    let t = ward(backend).await;
    let app = t.service().await;
    let claire = t.person("Claire");
    set_pin(&t, &super::badge_service(&t), claire, CLAIRE_PIN).await;
    let mut temp = blank([4, 5, 5, 5, 5, 5, 6]);
    // Lent for one more hour: less than a session's four.
    let until = t.clock.now() + chrono::Duration::hours(1);
    enrol(&app, &t, claire, Some(until), &mut temp).await;
    let (l, _) = tap(&app, &mut temp).await;
    let (status, _, cookie) = finish(&app, &l, CLAIRE_PIN).await;
    assert_eq!(status, 200);
    let token = cookie.expect("session cookie");
    let live = async |at| {
        clavis_sso::check_fast(&t.t.db, at, &token)
            .await
            .expect("check")
            .is_some()
    };
    assert!(live(until - chrono::Duration::seconds(1)).await);
    assert!(!live(until).await, "the session ends with the badge");
}
