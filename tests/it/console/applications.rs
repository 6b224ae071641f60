//! Applications from the console: registered with the same rules as the
//! CLI (exact redirect URIs, https), the secret shown once, rotated and
//! removed after a fresh login, all audited with the operator.

use super::{csrf_of, hospital, post_form as post};
use crate::support::audit::{events_after, last_seq};
use crate::support::on_both_backends;
use actix_web::test::{TestRequest, call_service, read_body};
use clavis_core::ClientId;
use clavis_store::models::OidcClientRow;
use clavis_testkit::db::Backend;

on_both_backends!(
    an_application_is_registered_its_secret_shown_once_rotated_and_removed,
    an_applications_settings_change_under_the_registration_rules,
    a_signing_key_is_rotated_from_the_console_after_a_fresh_login,
);

fn shown(page: &str, id: &str) -> Option<String> {
    let marker = format!("id=\"{id}\" readonly value=\"");
    page.split(&marker)
        .nth(1)
        .and_then(|s| s.split('"').next())
        .map(str::to_string)
}

fn client_id_of(page: &str) -> String {
    page.split("<code id=\"client-id\">")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .expect("client id")
        .to_string()
}

async fn secret_hash(t: &crate::support::TestApp, id: &str) -> Option<String> {
    let mut conn = t.t.db.conn().await.expect("conn");
    OidcClientRow::find_active(&mut conn, &ClientId::from(id))
        .await
        .expect("find")
        .and_then(|r| r.secret_hash)
}

fn sha256_hex(s: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(s.as_bytes()))
}

async fn an_application_is_registered_its_secret_shown_once_rotated_and_removed(backend: Backend) {
    let t = hospital(backend).await;
    let app = t.service().await;
    let alice = t.person("Alice");
    let cookie = t.open_session(alice).await.cookie;
    let csrf = csrf_of(&cookie);

    // A redirect URI that is not https to another host: refused, named.
    let (status, _, body) = post(
        &app,
        "/console/applications",
        &cookie,
        &[
            ("csrf", &csrf),
            ("name", "Outil"),
            ("redirect_uris", "http://outil.example/cb"),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("redirect"), "{body}");

    let before = last_seq(&t.t.db).await;
    let (status, _, page) = post(
        &app,
        "/console/applications",
        &cookie,
        &[
            ("csrf", &csrf),
            ("name", "DPI des urgences"),
            (
                "redirect_uris",
                "https://dpi.chu.test/cb\r\n\r\nhttps://dpi.chu.test/cb2",
            ),
            ("backchannel_logout_uri", "https://dpi.chu.test/bc"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{page}");
    let id = client_id_of(&page);
    let secret = shown(&page, "secret").expect("the secret is shown");
    assert_eq!(secret_hash(&t, &id).await, Some(sha256_hex(&secret)));
    assert!(page.contains("https://dpi.chu.test/cb2"), "{page}");
    let events = events_after(&t.t.db, before).await;
    assert!(
        events.iter().any(
            |e| e["action"] == "oidc.client.added" && e["actor"] == format!("identity:{alice}")
        ),
        "{events:?}"
    );
    // Shown once: the application's page does not show it again.
    let resp = call_service(
        &app,
        TestRequest::get()
            .uri(&format!("/console/applications/{id}"))
            .insert_header(("cookie", cookie.clone()))
            .to_request(),
    )
    .await;
    assert_eq!(resp.status().as_u16(), 200);
    let page = String::from_utf8_lossy(&read_body(resp).await).into_owned();
    assert_eq!(shown(&page, "secret"), None);
    assert!(!page.contains(&secret));

    // Rotated: a new secret, the old one no longer matches.
    let (status, _, page) = post(
        &app,
        &format!("/console/applications/{id}/rotate-secret"),
        &cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(status, 200);
    let rotated = shown(&page, "secret").expect("the new secret");
    assert_ne!(rotated, secret);
    assert_eq!(secret_hash(&t, &id).await, Some(sha256_hex(&rotated)));

    // Removing needs a fresh login.
    t.clock.advance(chrono::Duration::seconds(
        t.state.fido2.config().fresh_login_secs + 1,
    ));
    let (status, to, _) = post(
        &app,
        &format!("/console/applications/{id}/remove"),
        &cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(status, 303);
    assert!(to.starts_with("/login?reauth=1"), "{to}");
    assert!(secret_hash(&t, &id).await.is_some(), "still there");
    let fresh = t.open_session(alice).await.cookie;
    let (status, to, _) = post(
        &app,
        &format!("/console/applications/{id}/remove"),
        &fresh,
        &[("csrf", &csrf_of(&fresh))],
    )
    .await;
    assert_eq!((status, to.as_str()), (303, "/console/applications"));
    let mut conn = t.t.db.conn().await.expect("conn");
    assert!(
        OidcClientRow::find_active(&mut conn, &ClientId::from(id.as_str()))
            .await
            .expect("find")
            .is_none()
    );
}

/// Whether an authorization request of `client` to `redirect_uri` is
/// taken (sent on to the login) rather than refused on the spot.
async fn authorize_accepts(
    app: &impl crate::support::http::AppService,
    client: &str,
    redirect_uri: &str,
) -> bool {
    let q = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", client)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid")
        .append_pair("state", "s")
        .append_pair("nonce", "n")
        .append_pair(
            "code_challenge",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        )
        .append_pair("code_challenge_method", "S256")
        .finish();
    let resp = call_service(
        app,
        TestRequest::get()
            .uri(&format!("/oidc/authorize?{q}"))
            .to_request(),
    )
    .await;
    let to = crate::support::http::location(&resp);
    resp.status().is_redirection() && !to.starts_with(redirect_uri)
}

async fn an_applications_settings_change_under_the_registration_rules(backend: Backend) {
    let t = hospital(backend).await;
    let app = t.service().await;
    let alice = t.person("Alice");
    let cookie = t.open_session(alice).await.cookie;
    let csrf = csrf_of(&cookie);
    let mut conn = t.t.db.conn().await.expect("conn");
    let (client, _) = clavis_oidc::clients::register(
        &mut conn,
        clavis_core::Clock::now(&t.clock),
        clavis_oidc::clients::NewClient {
            name: "DPI".into(),
            redirect_uris: vec!["https://dpi.chu.test/cb".into()],
            backchannel_logout_uri: Some("https://dpi.chu.test/bc".into()),
            ..Default::default()
        },
        &t.state.oidc.registration_rules(),
        &clavis_core::Actor::Cli("it".into()),
    )
    .await
    .expect("registered");
    drop(conn);
    let id = client.client_id.to_string();
    let edit = format!("/console/applications/{id}/edit");
    assert!(authorize_accepts(&app, &id, "https://dpi.chu.test/cb").await);
    assert!(!authorize_accepts(&app, &id, "https://dpi2.chu.test/cb").await);

    // A plain-http redirect, or an unknown scope: refused, nothing changed.
    for (field, value) in [
        ("redirect_uris", "http://dpi2.chu.test/cb"),
        ("scopes", "openid dossier_medical"),
        ("scopes", "profile"),
        ("require_acr", "eidas9"),
    ] {
        let mut fields = vec![
            ("csrf", csrf.as_str()),
            ("name", "DPI"),
            ("redirect_uris", "https://dpi2.chu.test/cb"),
            ("scopes", "openid profile"),
        ];
        fields.retain(|(k, _)| *k != field);
        fields.push((field, value));
        let (status, _, body) = post(&app, &edit, &cookie, &fields).await;
        assert_eq!(status, 400, "{field}={value}: {body}");
    }
    let view = |t: &crate::support::TestApp| {
        let db = t.t.db.clone();
        let id = id.clone();
        async move {
            let mut conn = db.conn().await.expect("conn");
            OidcClientRow::find_active(&mut conn, &ClientId::from(id.as_str()))
                .await
                .expect("find")
                .expect("client")
        }
    };
    assert_eq!(
        view(&t).await.redirect_uris.0,
        vec!["https://dpi.chu.test/cb"]
    );

    let before = last_seq(&t.t.db).await;
    let (status, to, body) = post(
        &app,
        &edit,
        &cookie,
        &[
            ("csrf", &csrf),
            ("name", "DPI urgences"),
            ("redirect_uris", "https://dpi2.chu.test/cb\r\n"),
            ("post_logout_redirect_uris", "https://dpi2.chu.test/bye"),
            ("backchannel_logout_uri", ""),
            ("require_acr", "eidas2"),
            ("scopes", "openid profile"),
        ],
    )
    .await;
    assert_eq!(
        (status, to.as_str()),
        (303, format!("/console/applications/{id}").as_str()),
        "{body}"
    );
    let row = view(&t).await;
    assert_eq!(row.name, "DPI urgences");
    assert_eq!(row.redirect_uris.0, vec!["https://dpi2.chu.test/cb"]);
    assert_eq!(
        row.post_logout_redirect_uris.0,
        vec!["https://dpi2.chu.test/bye"]
    );
    assert_eq!(row.backchannel_logout_uri, None);
    assert_eq!(row.require_acr.as_deref(), Some("eidas2"));
    assert_eq!(row.scopes.0, vec!["openid", "profile"]);
    let events = events_after(&t.t.db, before).await;
    let updated: Vec<_> = events
        .iter()
        .filter(|e| e["action"] == "oidc.client.updated")
        .collect();
    assert_eq!(updated.len(), 1, "{events:?}");
    assert_eq!(updated[0]["actor"], format!("identity:{alice}"));
    assert_eq!(
        updated[0]["changes"]["redirect_uris"]["old"],
        serde_json::json!(["https://dpi.chu.test/cb"])
    );
    assert_eq!(
        updated[0]["changes"]["backchannel_logout_uri"]["new"],
        serde_json::Value::Null
    );
    // Exact matching follows the new list at once.
    assert!(!authorize_accepts(&app, &id, "https://dpi.chu.test/cb").await);
    assert!(authorize_accepts(&app, &id, "https://dpi2.chu.test/cb").await);

    // The admin API: the fields given change, the others stay; unknown
    // fields are refused.
    let put = |body: serde_json::Value| {
        TestRequest::put()
            .uri(&format!("/admin/api/clients/{id}"))
            .insert_header(t.admin_auth())
            .set_json(body)
            .to_request()
    };
    let r = call_service(&app, put(serde_json::json!({"require_acr": null}))).await;
    assert_eq!(r.status().as_u16(), 200);
    let row = view(&t).await;
    assert_eq!(row.require_acr, None);
    assert_eq!(row.name, "DPI urgences", "kept");
    let r = call_service(&app, put(serde_json::json!({"secret": "x"}))).await;
    assert_eq!(r.status().as_u16(), 400);
    let r = call_service(
        &app,
        put(serde_json::json!({"redirect_uris": ["https://dpi.chu.test/*"]})),
    )
    .await;
    assert_eq!(r.status().as_u16(), 400, "no wildcards");

    // Later than fresh_login_secs: sign in again first.
    t.clock.advance(chrono::Duration::seconds(
        t.state.fido2.config().fresh_login_secs + 1,
    ));
    let (status, to, _) = post(
        &app,
        &edit,
        &cookie,
        &[
            ("csrf", &csrf),
            ("name", "Autre"),
            ("redirect_uris", "https://dpi2.chu.test/cb"),
            ("scopes", "openid"),
        ],
    )
    .await;
    assert_eq!(status, 303);
    assert!(to.starts_with("/login?reauth=1"), "{to}");
    assert_eq!(view(&t).await.name, "DPI urgences");
}

async fn a_signing_key_is_rotated_from_the_console_after_a_fresh_login(backend: Backend) {
    let t = hospital(backend).await;
    let app = t.service().await;
    let alice = t.person("Alice");
    let cookie = t.open_session(alice).await.cookie;
    let csrf = csrf_of(&cookie);
    let current = |t: &crate::support::TestApp| {
        let db = t.t.db.clone();
        async move {
            let mut conn = db.conn().await.expect("conn");
            clavis_store::models::OidcKeyRow::published(&mut conn, 0)
                .await
                .expect("keys")
                .into_iter()
                .filter(|k| k.alg == "RS256" && k.retired_at.is_none())
                .map(|k| k.kid)
                .collect::<Vec<_>>()
        }
    };
    let before = current(&t).await;
    assert_eq!(before.len(), 1);
    let (status, page) = super::get_page(&app, "/console/applications", &cookie).await;
    assert_eq!(status, 200);
    assert!(
        page.contains(&format!("<code>{}</code>", before[0])),
        "{page}"
    );
    let (status, _, _) = post(
        &app,
        "/console/applications/keys/rotate",
        &cookie,
        &[("csrf", &csrf), ("alg", "HS256")],
    )
    .await;
    assert_eq!(status, 400, "an algorithm Clavis does not sign with");
    let seq = last_seq(&t.t.db).await;
    let (status, to, body) = post(
        &app,
        "/console/applications/keys/rotate",
        &cookie,
        &[("csrf", &csrf), ("alg", "RS256")],
    )
    .await;
    assert_eq!(
        (status, to.as_str()),
        (303, "/console/applications#keys"),
        "{body}"
    );
    let after = current(&t).await;
    assert_eq!(after.len(), 1);
    assert_ne!(after, before, "a new current key");
    let events = events_after(&t.t.db, seq).await;
    assert!(
        events.iter().any(|e| e["action"] == "oidc.key.rotated"
            && e["actor"] == format!("identity:{alice}")),
        "{events:?}"
    );
    // Later than fresh_login_secs: sign in again first.
    t.clock.advance(chrono::Duration::seconds(
        t.state.fido2.config().fresh_login_secs + 1,
    ));
    let (status, to, _) = post(
        &app,
        "/console/applications/keys/rotate",
        &cookie,
        &[("csrf", &csrf), ("alg", "RS256")],
    )
    .await;
    assert_eq!(status, 303);
    assert!(to.starts_with("/login?reauth=1"), "{to}");
    assert_eq!(current(&t).await, after);
}
