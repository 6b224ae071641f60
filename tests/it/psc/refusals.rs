//! Bad answers from PSC: each refused with its precise reason in the
//! audit (`psc.response_refused`), a clear page for the person, and
//! nothing stored.

use super::*;
use crate::support::on_both_backends;

on_both_backends!(
    each_bad_id_token_is_refused_with_its_reason_and_nothing_is_stored,
    a_key_rotated_at_psc_is_fetched_again_and_accepted,
    a_userinfo_about_someone_else_is_refused,
    a_national_id_of_the_wrong_shape_is_refused,
    a_replayed_or_forged_state_and_another_browser_are_refused,
);

/// Links from `/me` after making PSC misbehave with `behaviour`; asserts
/// the refusal page and audit reason `reason`, and that nothing was stored.
async fn refused_with<A: AppService>(
    svc: &A,
    t: &TestApp,
    psc: &StandIn,
    behaviour: Value,
    reason: &str,
) {
    psc.misbehave(behaviour.clone()).await;
    let r = link_as(svc, &t.session().cookie, "/me", Some(CLAIRE.id)).await;
    assert_eq!(r.status(), 400, "{behaviour}");
    let html = text(r).await;
    assert!(
        html.contains(&format!("data-reason=\"{reason}\"")),
        "{behaviour}: {html}"
    );
    assert!(html.contains("Rien n'a été enregistré"), "{html}");
    assert!(link_of(t).await.is_none(), "{behaviour}: nothing stored");
    let refusals = audited(t, "psc.response_refused").await;
    let last = refusals.last().expect("audited");
    assert_eq!(last["changes"]["reason"], reason, "{behaviour}");
    assert_eq!(last["actor"], format!("identity:{}", t.nurse().oid));
    psc.misbehave(json!({})).await;
}

async fn each_bad_id_token_is_refused_with_its_reason_and_nothing_is_stored(backend: Backend) {
    let psc = StandIn::start(&[]);
    let t = app(backend, &psc).await;
    let svc = t.service().await;
    for (behaviour, reason) in [
        ("wrong_iss", "wrong_issuer"),
        ("wrong_aud", "wrong_audience"),
        ("wrong_nonce", "wrong_nonce"),
        ("expired", "expired"),
        ("unsigned", "unsigned"),
        ("bad_signature", "bad_signature"),
    ] {
        refused_with(&svc, &t, &psc, json!({"id_token": behaviour}), reason).await;
    }
    // And after all that, a good answer links.
    let r = link_as(&svc, &t.session().cookie, "/me", Some(CLAIRE.id)).await;
    assert_eq!(location(&r), "/me");
    assert!(link_of(&t).await.is_some());
}

async fn a_key_rotated_at_psc_is_fetched_again_and_accepted(backend: Backend) {
    let psc = StandIn::start(&[]);
    let t = app(backend, &psc).await;
    let svc = t.service().await;
    // A first trip loads PSC's JWKS.
    psc.misbehave(json!({"id_token": "wrong_nonce"})).await;
    link_as(&svc, &t.session().cookie, "/me", Some(CLAIRE.id)).await;
    // PSC signs with a key that was not in the JWKS Clavis holds.
    psc.misbehave(json!({"id_token": "unknown_kid"})).await;
    let r = link_as(&svc, &t.session().cookie, "/me", Some(CLAIRE.id)).await;
    assert_eq!(location(&r), "/me", "{}", text(r).await);
    assert!(link_of(&t).await.is_some());
}

async fn a_userinfo_about_someone_else_is_refused(backend: Backend) {
    let psc = StandIn::start(&[]);
    let t = app(backend, &psc).await;
    let svc = t.service().await;
    refused_with(
        &svc,
        &t,
        &psc,
        json!({"userinfo": "other_sub"}),
        "userinfo_subject_mismatch",
    )
    .await;
}

async fn a_national_id_of_the_wrong_shape_is_refused(backend: Backend) {
    let psc = StandIn::start(&[]);
    let t = app(backend, &psc).await;
    let svc = t.service().await;
    refused_with(
        &svc,
        &t,
        &psc,
        json!({"id_token": "national_id", "value": "810003489281"}),
        "national_id_shape",
    )
    .await;
}

async fn a_replayed_or_forged_state_and_another_browser_are_refused(backend: Backend) {
    let psc = StandIn::start(&[]);
    let t = app(backend, &psc).await;
    let svc = t.service().await;
    let cookie = &t.session().cookie;
    let (trip, back) = trip_to_psc(&svc, cookie, "/me", Some(CLAIRE.id)).await;
    // Another browser (no trip cookie) brings the answer: refused, and the
    // trip is spent.
    let r = get(&svc, &back, cookie).await;
    assert_eq!(r.status(), 400);
    assert!(text(r).await.contains("data-reason=\"browser_mismatch\""));
    // The right browser, too late: the state was spent.
    let r = get(&svc, &back, &with_trip(cookie, &trip)).await;
    assert!(text(r).await.contains("data-reason=\"unknown_state\""));
    // A state never issued.
    let r = get(
        &svc,
        "/psc/callback?state=forged&code=x",
        &with_trip(cookie, &trip),
    )
    .await;
    assert!(text(r).await.contains("data-reason=\"unknown_state\""));
    assert!(link_of(&t).await.is_none());
    let reasons: Vec<Value> = audited(&t, "psc.response_refused")
        .await
        .iter()
        .map(|e| e["changes"]["reason"].clone())
        .collect();
    assert_eq!(
        reasons,
        [
            json!("browser_mismatch"),
            json!("unknown_state"),
            json!("unknown_state")
        ]
    );
}
