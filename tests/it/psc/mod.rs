//! Pro Santé Connect, both ways, through the real HTTP application and a
//! PSC stand-in: node `oidc-provider` configured the way PSC is
//! (`tests/e2e/psc-op.mjs`: Keycloak paths under
//! `/auth/realms/esante-wallet`, discovery at the wallet path, `scope_all`,
//! `eidas1`, 120-s access tokens, `SubjectNameID`, `otherIds`, signed
//! userinfo on demand), started per test. The browser is played here: a
//! cookie-keeping HTTP client at the stand-in, the in-process application
//! for Clavis.
//!
//! - `link.rs`: the link (e-CPS at PSC), then PSC answered at once with
//!   `tid`, `oid`, the mapped `amr`; mismatches, declines, expiry,
//!   departures, unlinking.
//! - `refusals.rs`: bad answers from PSC, each refused with its reason,
//!   nothing stored.
//! - `login.rs`: signing in to Clavis with PSC.

mod cli;
mod directory;
mod link;
mod login;
mod refusals;
mod variants;

use crate::support::http::{AppService, basic, form, json_of, location, query_of};
use crate::support::{TestApp, app::ORIGIN};
use actix_web::dev::ServiceResponse;
use actix_web::test::{TestRequest, call_service, read_body};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clavis_federation::{ClientAuth, Psc, PscConfig};
use clavis_oidc::clients::NewClient;
use clavis_testkit::db::Backend;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Clavis's client id at the stand-in.
const PSC_CLIENT: &str = "clavis-chu-test";
const PSC_SECRET: &str = "secret-de-test-psc";
/// The establishment's tenant id in these tests.
const TID: &str = "chu-test-0001";
/// Where the PSC broker (a client of Clavis marked `psc`) gets its codes.
const BROKER_CB: &str = "https://psc.test/broker/endpoint";
/// The PKCE verifier of the broker's requests.
const VERIFIER: &str = "Zx9_broker-verifier-for-the-psc-tests-0123456789";

/// A professional at the stand-in.
pub struct Account {
    pub id: &'static str,
    pub national_id: &'static str,
    pub family_name: &'static str,
}

/// The nurse of the test application (RPPS 10003489282, used name Martin).
const CLAIRE: Account = Account {
    id: "claire",
    national_id: "810003489282",
    family_name: "MARTIN",
};
/// Someone else (a valid RPPS that is not the nurse's).
const OTHER: Account = Account {
    id: "other",
    national_id: "810001045367",
    family_name: "MARTIN",
};

/// The PSC stand-in, killed when dropped.
pub struct StandIn {
    child: Child,
    pub issuer: String,
    _accounts: tempfile::NamedTempFile,
}

impl Drop for StandIn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl StandIn {
    /// Starts the stand-in with `env` (besides the client and accounts)
    /// and waits for its `ready` line.
    pub fn start(env: &[(&str, &str)]) -> StandIn {
        let accounts = tempfile::NamedTempFile::new().expect("accounts file");
        let list: Vec<Value> = [CLAIRE, OTHER]
            .iter()
            .map(|a| {
                json!({"id": a.id, "SubjectNameID": a.national_id, "family_name": a.family_name,
                       "given_name": "CLAIRE", "authMode": "EDIT"})
            })
            .chain([
                json!({"id": "claire-rpps-only", "SubjectNameID": CLAIRE.national_id, "family_name": "MARTIN",
                       "given_name": "CLAIRE", "authMode": "CARD", "omit_SubjectNameID": true, "omit_preferred_username": true,
                       "otherIds": [{"identifiant": "10003489282", "origine": "RPPS", "qualite": 1}]}),
                json!({"id": "claire-other-name", "SubjectNameID": CLAIRE.national_id, "family_name": "DURAND",
                       "given_name": "CLAIRE", "authMode": "EDIT"}),
                json!({"id": "edit-only", "SubjectNameID": "ANS20231122132732", "family_name": "TEST",
                       "given_name": "EDIT", "authMode": "EDIT"}),
            ])
            .collect();
        std::fs::write(accounts.path(), serde_json::to_vec(&list).expect("json")).expect("write");
        // A free port may be taken by another test's process before node
        // binds it: then node says so on stderr and exits, and another
        // port is tried.
        let mut failures = Vec::new();
        for _ in 0..5 {
            match Self::spawn(env, accounts.path()) {
                Ok((child, issuer)) => {
                    return StandIn {
                        child,
                        issuer,
                        _accounts: accounts,
                    };
                }
                Err(e) => failures.push(e),
            }
        }
        panic!("the PSC stand-in did not start: {failures:#?}");
    }

    /// One try at starting the stand-in on a free port: the process and
    /// its issuer, or what it said before exiting.
    fn spawn(env: &[(&str, &str)], accounts: &std::path::Path) -> Result<(Child, String), String> {
        let port = clavis_testkit::free_port();
        let script = format!("{}/tests/e2e/psc-op.mjs", env!("CARGO_MANIFEST_DIR"));
        let mut cmd = Command::new("node");
        cmd.arg(script)
            .env("PORT", port.to_string())
            .env("CLIENT_ID", PSC_CLIENT)
            .env("CLIENT_SECRET", PSC_SECRET)
            .env("REDIRECT_URIS", format!("{ORIGIN}/psc/callback"))
            .env(
                "POST_LOGOUT_REDIRECT_URIS",
                format!("{ORIGIN}/psc/logged-out"),
            )
            .env("ACCOUNTS", accounts)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .spawn()
            .expect("node runs (scripts/test installs it and the e2e packages)");
        let stdout = child.stdout.take().expect("stdout");
        // The `ready` line, read on a thread so that a stand-in that never
        // starts fails the test at the deadline instead of hanging it.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the PSC stand-in is ready within 30 s");
        match line.trim().strip_prefix("ready ") {
            Some(issuer) => {
                // Its later notices are drained, so that a full pipe never
                // stops it.
                if let Some(mut e) = child.stderr.take() {
                    std::thread::spawn(move || std::io::copy(&mut e, &mut std::io::sink()));
                }
                Ok((child, issuer.to_string()))
            }
            None => {
                let _ = child.kill();
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut e, &mut err);
                }
                let _ = child.wait();
                Err(format!("port {port}: first line {line:?}; stderr: {err}"))
            }
        }
    }

    fn base(&self) -> String {
        self.issuer.replace("/auth/realms/esante-wallet", "")
    }

    /// Makes the next token and/or userinfo answer misbehave.
    pub async fn misbehave(&self, behaviour: Value) {
        let r = test_http()
            .post(format!("{}/test/behaviour", self.base()))
            .json(&behaviour)
            .send()
            .await
            .expect("stand-in");
        assert!(r.status().is_success(), "behaviour {behaviour} refused");
    }

    /// The logouts the stand-in was asked for.
    pub async fn logouts(&self) -> Value {
        test_http()
            .get(format!("{}/test/logouts", self.base()))
            .send()
            .await
            .expect("stand-in")
            .json()
            .await
            .expect("json")
    }

    /// What Clavis sent the stand-in (`authorize`, `token` lists).
    pub async fn requests(&self) -> Value {
        test_http()
            .get(format!("{}/test/requests", self.base()))
            .send()
            .await
            .expect("stand-in")
            .json()
            .await
            .expect("json")
    }
}

/// The test's own HTTP client to the stand-in (which may serve https with
/// a throwaway certificate).
fn test_http() -> reqwest::Client {
    reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .expect("client")
}

/// The person's browser at PSC: keeps cookies, follows nothing by itself.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .danger_accept_invalid_certs(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// The `[psc]` section the tests use against `stand_in`.
fn psc_config(stand_in: &StandIn) -> PscConfig {
    PscConfig {
        enabled: true,
        issuer: stand_in.issuer.clone(),
        client_id: PSC_CLIENT.into(),
        tid: TID.into(),
        sign_in_with_psc: true,
        ..PscConfig::default()
    }
}

/// The current instant as RFC 3339, for a test application whose clock
/// must agree with the stand-in's (ID tokens are checked against it).
fn now_rfc3339() -> &'static str {
    use clavis_core::Clock;
    Box::leak(clavis_core::SystemClock.now().to_rfc3339().into_boxed_str())
}

/// A test application with PSC on (`cfg`, client `auth`), the nurse and
/// her badge session, and the PSC broker registered as a client marked
/// `psc`.
async fn app_with(backend: Backend, cfg: PscConfig, auth: ClientAuth) -> TestApp {
    app_with_tls(backend, cfg, auth, clavis_federation::Tls::default()).await
}

/// [`app_with`] with these TLS settings towards PSC.
async fn app_with_tls(
    backend: Backend,
    cfg: PscConfig,
    auth: ClientAuth,
    tls: clavis_federation::Tls,
) -> TestApp {
    let mut app = TestApp::on(backend)
        .at(now_rfc3339())
        .with_nurse()
        .with_session()
        .with_client(NewClient {
            name: "Pro Santé Connect".into(),
            redirect_uris: vec![BROKER_CB.into()],
            psc: true,
            ..NewClient::default()
        })
        .start()
        .await;
    let psc = Psc::new(cfg.clone(), ORIGIN, auth, tls).expect("psc client");
    app.state.psc = Some(Arc::new(psc));
    let oidc = Arc::get_mut(&mut app.state.oidc).expect("the provider is not shared yet");
    oidc.fi_tiers = Some(clavis_oidc::fi_tiers::FiTiers {
        tid: cfg.tid.clone(),
        amr: cfg.amr.clone(),
    });
    app
}

/// [`app_with`] with a client secret.
async fn app(backend: Backend, stand_in: &StandIn) -> TestApp {
    app_with(
        backend,
        psc_config(stand_in),
        ClientAuth::Secret(clavis_core::Secret::new(PSC_SECRET.into())),
    )
    .await
}

fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// PSC's broker sending a person to Clavis (`/oidc/authorize`).
fn broker_authorize(app: &TestApp) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("client_id", &app.client().id)
        .append_pair("redirect_uri", BROKER_CB)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid")
        .append_pair("state", "broker-state")
        .append_pair("nonce", "broker-nonce")
        .append_pair("code_challenge", &challenge(VERIFIER))
        .append_pair("code_challenge_method", "S256");
    format!("/oidc/authorize?{}", q.finish())
}

/// GET `path` on Clavis with `cookies`.
async fn get<A: AppService>(app: &A, path: &str, cookies: &str) -> ServiceResponse<A::Body> {
    call_service(
        app,
        TestRequest::get()
            .uri(path)
            .insert_header(("cookie", cookies.to_string()))
            .to_request(),
    )
    .await
}

/// POST a form to `path` on Clavis with `cookies`.
async fn post<A: AppService>(
    app: &A,
    path: &str,
    cookies: &str,
    pairs: &[(&str, &str)],
) -> ServiceResponse<A::Body> {
    call_service(
        app,
        TestRequest::post()
            .uri(path)
            .insert_header(("cookie", cookies.to_string()))
            .insert_header(("content-type", "application/x-www-form-urlencoded"))
            .set_payload(form(pairs))
            .to_request(),
    )
    .await
}

async fn text<B: actix_web::body::MessageBody>(r: ServiceResponse<B>) -> String {
    String::from_utf8(read_body(r).await.to_vec()).expect("utf8")
}

/// The value of the cookie `name` a response sets.
fn set_cookie<B>(r: &ServiceResponse<B>, name: &str) -> Option<String> {
    r.response()
        .cookies()
        .find(|c| c.name() == name)
        .map(|c| c.value().to_string())
}

/// The CSRF token of the session `cookie` (as its pages carry it).
fn csrf(cookie: &str) -> String {
    let token = cookie
        .split(';')
        .find_map(|c| c.trim().strip_prefix("__Host-clavis_sso="))
        .expect("a session cookie");
    clavis_web::sso_web::csrf_for(token)
}

/// The browser at PSC: follows the stand-in's redirects to its e-CPS page,
/// signs in as `account` (or cancels), and follows on until PSC sends the
/// browser back to Clavis; returns that path (with its query).
async fn at_psc(authorize_url: &str, account: Option<&str>) -> String {
    let browser = browser();
    let mut url = authorize_url.to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(Instant::now() < deadline, "stuck at PSC: {url}");
        if let Some(path) = url.strip_prefix(ORIGIN) {
            return path.to_string();
        }
        let r = browser.get(&url).send().await.expect("stand-in");
        if r.status().is_redirection() {
            let to = r.headers()["location"]
                .to_str()
                .expect("location")
                .to_string();
            url = r.url().join(&to).expect("url").to_string();
            continue;
        }
        assert_eq!(r.status(), 200, "at {url}");
        let page_url = r.url().clone();
        let body = r.text().await.expect("page");
        assert!(body.contains("Pro Santé Connect"), "the e-CPS page: {body}");
        let action = match account {
            Some(_) => "login",
            None => "abort",
        };
        let post = page_url
            .join(&format!("{}/{action}", page_url.path()))
            .expect("url");
        let r = browser
            .post(post)
            .form(&[("account", account.unwrap_or(""))])
            .send()
            .await
            .expect("stand-in");
        assert!(r.status().is_redirection(), "e-CPS login: {}", r.status());
        let to = r.headers()["location"]
            .to_str()
            .expect("location")
            .to_string();
        url = r.url().join(&to).expect("url").to_string();
    }
}

/// Follows the stand-in's redirects from `url` until it sends the browser
/// back to Clavis; that path.
async fn back_from_psc(url: &str) -> String {
    let browser = browser();
    let mut url = url.to_string();
    for _ in 0..10 {
        if let Some(path) = url.strip_prefix(ORIGIN) {
            return path.to_string();
        }
        let r = browser.get(&url).send().await.expect("stand-in");
        assert!(r.status().is_redirection(), "at {url}: {}", r.status());
        let to = r.headers()["location"]
            .to_str()
            .expect("location")
            .to_string();
        url = r.url().join(&to).expect("url").to_string();
    }
    panic!("PSC never sent the browser back: {url}");
}

/// The cookies of the nurse's browser: her session, plus the trip cookie.
fn with_trip(session_cookie: &str, trip: &str) -> String {
    format!("{session_cookie}; __Host-clavis_psc={trip}")
}

/// From Clavis's link button to PSC's answer: starts the trip from the
/// session `cookie`, and signs in at PSC as `account` (or cancels); the
/// trip cookie and the path PSC sends the browser back to.
async fn trip_to_psc<A: AppService>(
    app: &A,
    cookie: &str,
    return_to: &str,
    account: Option<&str>,
) -> (String, String) {
    let start = post(
        app,
        "/psc/link",
        cookie,
        &[("csrf", &csrf(cookie)), ("return_to", return_to)],
    )
    .await;
    assert_eq!(start.status(), 303, "the trip to PSC starts");
    let trip = set_cookie(&start, "__Host-clavis_psc").expect("trip cookie");
    let back = at_psc(&location(&start), account).await;
    assert!(back.starts_with("/psc/callback?"), "{back}");
    (trip, back)
}

/// The whole link, from Clavis's link button to PSC's answer handled:
/// returns Clavis's answer to the callback.
async fn link_as<A: AppService>(
    app: &A,
    cookie: &str,
    return_to: &str,
    account: Option<&str>,
) -> ServiceResponse<A::Body> {
    let (trip, back) = trip_to_psc(app, cookie, return_to, account).await;
    get(app, &back, &with_trip(cookie, &trip)).await
}

/// The broker's code exchange at Clavis; the ID token's claims.
async fn broker_token<A: AppService>(app: &A, t: &TestApp, code: &str) -> Value {
    let r = call_service(
        app,
        TestRequest::post()
            .uri("/oidc/token")
            .insert_header(("authorization", basic(&t.client().id, &t.client().secret)))
            .insert_header(("content-type", "application/x-www-form-urlencoded"))
            .set_payload(form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", BROKER_CB),
                ("code_verifier", VERIFIER),
            ]))
            .to_request(),
    )
    .await;
    assert_eq!(r.status(), 200, "token exchange");
    let body = json_of(r).await;
    let id_token = body["id_token"].as_str().expect("id_token");
    let payload = id_token.split('.').nth(1).expect("payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("b64")).expect("claims")
}

/// The audit events of `action`, oldest first.
async fn audited(t: &TestApp, action: &str) -> Vec<Value> {
    crate::support::audit::events_after(&t.t.db, 0)
        .await
        .into_iter()
        .filter(|e| e["action"] == action)
        .collect()
}

/// A link of `oid` to the nurse's national id, verified at `now` and
/// standing `days` days, as a verified answer stores it.
fn a_link(oid: clavis_core::Oid, now: i64, days: i64) -> clavis_store::models::PscLinkRow {
    clavis_store::models::PscLinkRow {
        oid,
        national_id: CLAIRE.national_id.into(),
        psc_sub: format!("f:1:{}", CLAIRE.national_id),
        acr: Some("eidas1".into()),
        auth_mode: Some("EDIT".into()),
        id_token_sha256: "0".repeat(64),
        linked_at: now,
        expires_at: now + days * 86_400,
        revoked_at: None,
        revoked_reason: None,
        revoked_by: None,
    }
}

/// The stored link of the nurse.
async fn link_of(t: &TestApp) -> Option<clavis_store::models::PscLinkRow> {
    let mut conn = t.t.db.conn().await.expect("conn");
    clavis_store::models::PscLinkRow::find(&mut conn, t.nurse().oid)
        .await
        .expect("read")
}

/// The query of a redirect to the broker.
fn broker_answer<B>(r: &ServiceResponse<B>) -> std::collections::HashMap<String, String> {
    let loc = location(r);
    assert!(
        loc.starts_with(BROKER_CB),
        "an answer to PSC's broker: {loc}"
    );
    query_of(&loc)
}
