//! What every response and page of the HTTP application carries: the
//! security headers (Content-Security-Policy with nothing inline, no
//! framing, HSTS only behind an `https://` public URL), pages free of
//! inline script and style, and where `/` takes a person.

use crate::support::TestApp;
use crate::support::http::location;
use actix_web::dev::ServiceResponse;
use actix_web::test::{TestRequest, call_service, init_service, read_body};
use clavis_core::Clock;
use clavis_testkit::db::Backend;
use std::sync::Arc;

fn header<B>(r: &ServiceResponse<B>, name: &str) -> Option<String> {
    r.headers()
        .get(name)
        .map(|v| v.to_str().expect("ascii header").to_string())
}

/// Asserts the headers every response carries, HSTS aside.
fn assert_security_headers<B>(r: &ServiceResponse<B>, what: &str) {
    let csp = header(r, "content-security-policy").unwrap_or_else(|| panic!("{what}: no CSP"));
    for wanted in [
        "default-src 'none'",
        "script-src 'self';",
        "style-src 'self';",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ] {
        assert!(csp.contains(wanted), "{what}: CSP lacks {wanted}: {csp}");
    }
    assert!(!csp.contains("unsafe-inline"), "{what}: {csp}");
    assert_eq!(
        header(r, "x-frame-options").as_deref(),
        Some("DENY"),
        "{what}"
    );
    assert_eq!(
        header(r, "x-content-type-options").as_deref(),
        Some("nosniff"),
        "{what}"
    );
    assert_eq!(
        header(r, "referrer-policy").as_deref(),
        Some("no-referrer"),
        "{what}"
    );
}

/// What in an HTML page would need `'unsafe-inline'`.
fn inline_code(html: &str) -> Vec<String> {
    let lower = html.to_ascii_lowercase();
    let mut problems = Vec::new();
    for (i, _) in lower.match_indices("<script") {
        let tag = &lower[i..i + lower[i..].find('>').unwrap_or(lower.len() - i)];
        if !tag.contains(" src=") {
            problems.push(format!("inline script: {tag}"));
        }
    }
    for bad in ["<style", " style=", "javascript:"] {
        if lower.contains(bad) {
            problems.push(bad.to_string());
        }
    }
    for (i, _) in lower.match_indices(" on") {
        let word: String = lower[i + 1..]
            .chars()
            .take_while(char::is_ascii_alphabetic)
            .collect();
        if word.len() > 2 && lower[i + 1 + word.len()..].starts_with('=') {
            problems.push(format!("event handler {word}="));
        }
    }
    problems
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_json_static_and_errors_carry_the_security_headers() {
    let app = TestApp::on(Backend::Sqlite).start().await;
    let svc = app.service().await;
    for path in [
        "/login",
        "/.well-known/openid-configuration",
        "/healthz",
        "/static/clavis.css",
        "/static/badge.js",
        "/no-such-page",
    ] {
        let r = call_service(&svc, TestRequest::get().uri(path).to_request()).await;
        assert_security_headers(&r, path);
        assert_eq!(
            header(&r, "strict-transport-security"),
            None,
            "{path}: no HSTS over http://"
        );
    }
    // The badge page may reach the agent the configuration names, and
    // nothing else but Clavis.
    let r = call_service(&svc, TestRequest::get().uri("/login").to_request()).await;
    let csp = header(&r, "content-security-policy").expect("csp");
    assert!(
        csp.contains("connect-src 'self' http://127.0.0.1:4655;"),
        "{csp}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hsts_only_when_the_public_url_is_https() {
    let app = TestApp::on(Backend::Sqlite).start().await;
    let mut state = app.state.clone();
    state.public_url = "https://clavis.chu.test".into();
    let svc = init_service(clavis_web::build_app(state)).await;
    for path in ["/login", "/.well-known/openid-configuration"] {
        let r = call_service(&svc, TestRequest::get().uri(path).to_request()).await;
        assert_security_headers(&r, path);
        assert_eq!(
            header(&r, "strict-transport-security").as_deref(),
            Some("max-age=31536000"),
            "{path}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_policy_follows_the_configured_agent_url() {
    let app = TestApp::on(Backend::Sqlite).start().await;
    let mut state = app.state.clone();
    let master = clavis_core::master_key::MasterKey::from_bytes(&[42u8; 32]);
    let config = clavis_authn::BadgeConfig {
        agent_url: "http://127.0.0.1:4711/".into(),
        ..clavis_authn::BadgeConfig::default()
    };
    state.badge = Some(Arc::new(
        clavis_authn::badge::BadgeService::new(
            config,
            |l| master.derive(l),
            clavis_desfire::AesKey::ZERO,
        )
        .expect("badge service"),
    ));
    let svc = init_service(clavis_web::build_app(state)).await;
    let r = call_service(&svc, TestRequest::get().uri("/login").to_request()).await;
    let csp = header(&r, "content-security-policy").expect("csp");
    assert!(
        csp.contains("connect-src 'self' http://127.0.0.1:4711;"),
        "{csp}"
    );
    assert!(!csp.contains("4655"), "{csp}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn served_pages_hold_no_inline_script_or_style() {
    let app = TestApp::on(Backend::Sqlite)
        .with_nurse()
        .with_session()
        .start()
        .await;
    let svc = app.service().await;
    let cookie = app.session().cookie.clone();
    for (path, with_session) in [
        ("/login", false),
        ("/login?lang=en", false),
        ("/", false),
        ("/me", true),
        ("/badge-office", true),
    ] {
        let mut req = TestRequest::get().uri(path);
        if with_session {
            req = req.insert_header(("cookie", cookie.clone()));
        }
        let r = call_service(&svc, req.to_request()).await;
        assert_security_headers(&r, path);
        let body = String::from_utf8_lossy(&read_body(r).await).into_owned();
        assert!(
            body.contains("/static/clavis.css") || !body.contains("<html"),
            "{path}: {body}"
        );
        let problems = inline_code(&body);
        assert!(problems.is_empty(), "{path}: {problems:?}\n{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn root_leads_to_me_to_login_or_to_the_first_start_page() {
    let app = TestApp::on(Backend::Sqlite)
        .with_nurse()
        .with_session()
        .start()
        .await;
    let svc = app.service().await;

    // A fresh install: nobody is administrator yet.
    let r = call_service(&svc, TestRequest::get().uri("/").to_request()).await;
    assert_eq!(r.status(), 200);
    let body = String::from_utf8_lossy(&read_body(r).await).into_owned();
    assert!(body.contains("pas encore d&#39;administrateur"), "{body}");
    assert!(body.contains("clavis admin bootstrap"), "{body}");
    assert!(body.contains("clavis identity add"), "{body}");
    let r = call_service(
        &svc,
        TestRequest::get()
            .uri("/")
            .insert_header(("accept-language", "en"))
            .to_request(),
    )
    .await;
    let body = String::from_utf8_lossy(&read_body(r).await).into_owned();
    assert!(body.contains("Clavis has no administrator yet"), "{body}");

    // Signed in: to the person's own page.
    let r = call_service(
        &svc,
        TestRequest::get()
            .uri("/")
            .insert_header(("cookie", app.session().cookie.clone()))
            .to_request(),
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/me");

    // Once someone is administrator: to the login page.
    let mut conn = app.t.db.conn().await.expect("conn");
    clavis_directory::roles::grant_role(
        &mut conn,
        app.clock.now(),
        app.nurse().oid,
        clavis_directory::roles::ADMIN,
        &clavis_core::Actor::Cli("test".into()),
    )
    .await
    .expect("grant");
    let r = call_service(&svc, TestRequest::get().uri("/").to_request()).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/login");
    // An expired or unknown cookie counts as signed out.
    let r = call_service(
        &svc,
        TestRequest::get()
            .uri("/")
            .insert_header(("cookie", format!("{}=bogus", clavis_sso::COOKIE_NAME)))
            .to_request(),
    )
    .await;
    assert_eq!(location(&r), "/login");
}

crate::support::on_both_backends!(readyz_compares_the_clock_with_the_database_servers);

/// `/readyz` is ready; on PostgreSQL (shared by the nodes) it measured this
/// machine's clock against the database server's, and they agree.
async fn readyz_compares_the_clock_with_the_database_servers(backend: Backend) {
    let t = TestApp::on(backend).start().await;
    let app = t.service().await;
    let r = call_service(&app, TestRequest::get().uri("/readyz").to_request()).await;
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = serde_json::from_slice(&read_body(r).await).expect("json");
    assert_eq!(body["status"], "ready", "{body}");
    match backend {
        Backend::Postgres => {
            let skew = body["clock_skew_ms"].as_i64().expect("measured");
            assert!(clavis_web::health::clock_agrees(skew), "{body}");
        }
        Backend::Sqlite => assert!(body.get("clock_skew_ms").is_none(), "one machine: {body}"),
    }
}
