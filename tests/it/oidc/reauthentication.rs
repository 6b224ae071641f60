//! When the authorization endpoint sends a person to log in instead of
//! answering with a code: no session (or `prompt=none` without one), a
//! session weaker than the client requires (step-up), or one older than
//! `max_age` / `prompt=login` allow — once, without a loop.

use super::{authorize_as_nurse, authorize_url, setup, setup_with};
use crate::support::http::{location, query_of};
use crate::support::on_both_backends;
use actix_web::test::{TestRequest, call_service};
use clavis_oidc::clients::NewClient;
use clavis_testkit::db::Backend;

on_both_backends!(
    prompt_none_without_a_session_answers_login_required,
    without_a_session_the_request_goes_to_the_login_page_and_back,
    a_session_weaker_than_the_client_requires_is_sent_to_step_up,
    max_age_sends_an_older_session_back_to_login_with_login_after,
    prompt_login_is_dropped_from_the_way_back_and_the_old_session_still_is_not_enough,
);

async fn prompt_none_without_a_session_answers_login_required(backend: Backend) {
    let ctx = setup(backend).await;
    let app = ctx.service().await;
    let r = call_service(
        &app,
        TestRequest::get()
            .uri(&authorize_url(&ctx, &[("prompt", "none")]))
            .to_request(),
    )
    .await;
    assert_eq!(r.status(), 303);
    let q = query_of(&location(&r));
    assert_eq!(q["error"], "login_required");
    assert_eq!(q["state"], "st-1");
}

async fn without_a_session_the_request_goes_to_the_login_page_and_back(backend: Backend) {
    let ctx = setup(backend).await;
    let app = ctx.service().await;
    let r = call_service(
        &app,
        TestRequest::get()
            .uri(&authorize_url(&ctx, &[]))
            .to_request(),
    )
    .await;
    let loc = location(&r);
    assert!(
        loc.starts_with("/login?return_to=%2Foidc%2Fauthorize%3F"),
        "{loc}"
    );
}

async fn a_session_weaker_than_the_client_requires_is_sent_to_step_up(backend: Backend) {
    let ctx = setup_with(
        backend,
        NewClient {
            public: true,
            require_acr: Some("eidas3".into()),
            ..NewClient::default()
        },
    )
    .await;
    let app = ctx.service().await;
    // eidas2 session, client requires eidas3: re-authenticate, not a code.
    let r = authorize_as_nurse(&app, &ctx, &authorize_url(&ctx, &[])).await;
    let loc = location(&r);
    assert!(loc.starts_with("/login?"), "{loc}");
    assert!(
        loc.contains("acr=eidas3") && loc.contains("reauth=1"),
        "{loc}"
    );
}

async fn max_age_sends_an_older_session_back_to_login_with_login_after(backend: Backend) {
    let ctx = setup(backend).await;
    let app = ctx.service().await;
    ctx.clock.advance(chrono::Duration::seconds(600));
    let r = authorize_as_nurse(&app, &ctx, &authorize_url(&ctx, &[("max_age", "300")])).await;
    let loc = location(&r);
    assert!(loc.starts_with("/login?"), "{loc}");
    let back = query_of(&format!("http://x{loc}"))["return_to"].clone();
    assert!(back.contains("login_after="), "{back}");
}

async fn prompt_login_is_dropped_from_the_way_back_and_the_old_session_still_is_not_enough(
    backend: Backend,
) {
    let ctx = setup(backend).await;
    let app = ctx.service().await;
    ctx.clock.advance(chrono::Duration::seconds(600));
    // prompt=login is dropped from the way back (no loop) but login_after stays.
    let r = authorize_as_nurse(&app, &ctx, &authorize_url(&ctx, &[("prompt", "login")])).await;
    let back = query_of(&format!("http://x{}", location(&r)))["return_to"].clone();
    assert!(
        !back.contains("prompt=login") && back.contains("login_after="),
        "{back}"
    );
    // The old session coming back to that URL is still not enough.
    let r = authorize_as_nurse(&app, &ctx, &back).await;
    assert!(location(&r).starts_with("/login?"));
}
