//! Badge key rotation: after the DSI moves to a new key version, each
//! badge is re-keyed on its next tap, even when the card is pulled away in
//! the middle of re-keying; once the old version is retired, only
//! re-keyed badges work.

use super::{
    BadgeService, CLAIRE_PIN, PAUL_PIN, actions, badges_of, blank, enrol_with, finish, service_at,
    service_with, set_pin, tap, tap_at, ward,
};
use crate::support::TestApp;
use crate::support::http::AppService;
use crate::support::on_both_backends;
use clavis_desfire::emulator::CardEmulator;
use clavis_testkit::db::Backend;
use serde_json::json;
use std::sync::Arc;

on_both_backends!(
    a_key_rotation_re_keys_a_badge_on_its_next_tap_and_the_old_version_can_be_retired,
    a_badge_pulled_away_mid_re_keying_still_signs_in_and_the_next_tap_finishes,
);

/// A badge of `given` enrolled at key version 1 through `app1`.
async fn enrolled_at_v1(
    app1: &impl AppService,
    t: &TestApp,
    v1: &Arc<BadgeService>,
    given: &str,
    uid: [u8; 7],
    pin: &str,
) -> CardEmulator {
    let oid = t.person(given);
    let mut card = blank(uid);
    let done = enrol_with(app1, t, v1, oid, None, &mut card).await;
    assert_eq!(done, json!({"done": true}));
    set_pin(t, v1, oid, pin).await;
    assert_eq!(card.key_version(v1.keys().aid, 1), Some(1));
    card
}

/// Asserts that the three keys of the card's application are at version 2.
fn assert_re_keyed(card: &CardEmulator, aid: clavis_desfire::Aid) {
    for key in 0..3 {
        assert_eq!(card.key_version(aid, key), Some(2), "key {key} re-keyed");
    }
}

async fn a_key_rotation_re_keys_a_badge_on_its_next_tap_and_the_old_version_can_be_retired(
    backend: Backend,
) {
    let t = ward(backend).await;
    let v1 = service_at(1, 1);
    let app1 = service_with(&t, v1.clone()).await;
    let mut card =
        enrolled_at_v1(&app1, &t, &v1, "Claire", [4, 1, 1, 1, 1, 1, 1], CLAIRE_PIN).await;
    let aid = v1.keys().aid;
    // The DSI rotates to version 2 (version 1 still accepted).
    let app2 = service_with(&t, service_at(1, 2)).await;
    // Claire's next tap re-keys her badge, and she signs in as usual.
    let (l, end) = tap(&app2, &mut card).await;
    assert_eq!(end, json!({"done": true}));
    assert_eq!(finish(&app2, &l, CLAIRE_PIN).await.0, 200);
    assert_re_keyed(&card, aid);
    assert_eq!(badges_of(&t, t.person("Claire")).await[0].key_version, 2);
    let log = actions(&t.t.db).await;
    assert_eq!(log.iter().filter(|(a, _)| a == "badge.rekeyed").count(), 1);
    // Version 1 retired: her badge still works; a version-1 login service
    // no longer can read it.
    let app3 = service_with(&t, service_at(2, 2)).await;
    let (_, end) = tap(&app3, &mut card).await;
    assert_eq!(end, json!({"done": true}));
    let (_, end) = tap(&app1, &mut card).await;
    assert_eq!(end, json!({"failed": true}));
}

async fn a_badge_pulled_away_mid_re_keying_still_signs_in_and_the_next_tap_finishes(
    backend: Backend,
) {
    let t = ward(backend).await;
    let v1 = service_at(1, 1);
    let app1 = service_with(&t, v1.clone()).await;
    let mut card = enrolled_at_v1(&app1, &t, &v1, "Paul", [4, 2, 2, 2, 2, 2, 2], PAUL_PIN).await;
    let aid = v1.keys().aid;
    let app2 = service_with(&t, service_at(1, 2)).await;
    // Paul pulls his badge right after key 1 changed: 3 APDUs refused at
    // the version-2 identification key, 7 for the version-1 check, then
    // select, authenticate (2) and ChangeKey key 1.
    let n = 3 + 7 + 3 + 1;
    let (l, end) = tap_at(&app2, "ws-ward-3", &mut card, Some(n)).await;
    assert_eq!(end, json!({"done": true}));
    assert_eq!(card.key_version(aid, 1), Some(2));
    assert_eq!(card.key_version(aid, 2), Some(1), "cut before key 2");
    // His login still goes on.
    assert_eq!(finish(&app2, &l, PAUL_PIN).await.0, 200);
    let log = actions(&t.t.db).await;
    assert!(
        log.iter()
            .any(|(a, d)| a == "badge.rekey_failed"
                && d["reason"] == "card removed during re-keying")
    );
    // The next tap finishes the job.
    let (_, end) = tap(&app2, &mut card).await;
    assert_eq!(end, json!({"done": true}));
    assert_re_keyed(&card, aid);
    assert_eq!(badges_of(&t, t.person("Paul")).await[0].key_version, 2);
    let log = actions(&t.t.db).await;
    assert_eq!(log.iter().filter(|(a, _)| a == "badge.rekeyed").count(), 1);
}
