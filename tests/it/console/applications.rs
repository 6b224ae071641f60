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

on_both_backends!(an_application_is_registered_its_secret_shown_once_rotated_and_removed);

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
