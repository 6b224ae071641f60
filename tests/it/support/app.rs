//! [`TestApp`]: the real HTTP application (`clavis_web::build_app`) on a
//! fresh, migrated database of either backend, with the people, sessions
//! and applications a test asks for, at a fixed instant.
//!
//! ```ignore
//! let app = TestApp::on(backend)
//!     .with_nurse()
//!     .with_session()
//!     .with_client(NewClient::default())
//!     .start()
//!     .await;
//! let svc = app.service().await;
//! ```

use super::http::AppService;
use clavis_core::{Clock, FixedClock};
use clavis_oidc::clients::NewClient;
use clavis_store::models::WorkstationRow;
use clavis_testkit::db::{Backend, TestDb};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use url::Url;

/// The public URL every test application runs at.
pub const ORIGIN: &str = "http://localhost:8080";

/// The instant test applications start at.
pub const T0: &str = "2026-11-22T08:00:00Z";

/// The application state every HTTP test uses: a provider whose keys are
/// under the test master key, default FIDO2 and SSO settings, the badge
/// service, the SSO and authenticator lifecycle subscribers.
pub async fn state(db: &clavis_store::Db, clock: Arc<dyn Clock>) -> clavis_web::AppState {
    state_with(db, clock, clavis_oidc::OidcConfig::default()).await
}

/// [`state`] with these `[oidc]` settings.
pub async fn state_with(
    db: &clavis_store::Db,
    clock: Arc<dyn Clock>,
    oidc_cfg: clavis_oidc::OidcConfig,
) -> clavis_web::AppState {
    let oidc = clavis_oidc::Provider::start(
        db,
        oidc_cfg,
        ORIGIN,
        clavis_core::master_key::MasterKey::from_bytes(&[42u8; 32]),
        clavis_authn::AuthnConfig::default().acr_order,
        clock.now().timestamp(),
    )
    .await
    .expect("provider");
    let fido2 = clavis_authn::Fido2::new(
        clavis_authn::AuthnConfig::default(),
        &Url::parse(ORIGIN).expect("url"),
        None,
    )
    .expect("relying party");
    clavis_web::AppState {
        db: db.clone(),
        directory: Arc::new(clavis_directory::DirectoryConfig::default()),
        clock,
        subscribers: vec![
            Arc::new(clavis_sso::SsoLifecycle),
            Arc::new(clavis_authn::AuthnLifecycle),
            Arc::new(clavis_federation::link::PscLifecycle),
        ],
        fido2: Arc::new(fido2),
        sso: clavis_sso::SsoConfig::default(),
        secure_cookies: true,
        public_url: ORIGIN.into(),
        oidc: Arc::new(oidc),
        badge: Some(badge_service()),
        trusted_proxies: Vec::new(),
        start_limits: Arc::new(clavis_web::limits::StartLimits::default()),
        psc: None,
    }
}

/// The badge service the test state uses (keys derived from the test
/// master key, factory transport key).
fn badge_service() -> Arc<clavis_authn::badge::BadgeService> {
    let master = clavis_core::master_key::MasterKey::from_bytes(&[42u8; 32]);
    Arc::new(
        clavis_authn::badge::BadgeService::new(
            clavis_authn::BadgeConfig::default(),
            |l| master.derive(l),
            clavis_desfire::AesKey::ZERO,
        )
        .expect("badge service"),
    )
}

/// The credential of every workstation of [`TestAppBuilder::with_workstation`].
pub const WORKSTATION_SECRET: &str = "0123456789abcdef0123456789abcdef";

/// What a test application is to hold when it starts.
#[derive(Debug)]
pub struct TestAppBuilder {
    backend: Backend,
    at: &'static str,
    nurse: bool,
    session: bool,
    client: Option<NewClient>,
    people: Vec<(&'static str, &'static str)>,
    workstations: Vec<&'static str>,
    admin_token: bool,
    sso: Option<clavis_sso::SsoConfig>,
    oidc: Option<clavis_oidc::OidcConfig>,
}

/// The nurse of [`TestAppBuilder::with_nurse`]: Claire Lemoine (used name
/// Martin), RPPS 10003489282, login `clemoine`, profession 60.
#[derive(Debug, Clone)]
pub struct Nurse {
    pub oid: clavis_core::Oid,
}

/// The SSO session of [`TestAppBuilder::with_session`] (badge + PIN,
/// `eidas2`), as a `Cookie` header value.
#[derive(Debug, Clone)]
pub struct OpenSession {
    pub cookie: String,
    pub id: clavis_core::SessionId,
}

/// The application of [`TestAppBuilder::with_client`] (a confidential
/// client by default, redirecting to `https://dpi.chu.test/callback`); the
/// nurse holds the role `ide` in it.
#[derive(Debug, Clone)]
pub struct Client {
    pub id: String,
    /// Empty for a public client.
    pub secret: String,
}

/// A running test application.
#[derive(Debug)]
pub struct TestApp {
    /// The database (kept alive as long as the application).
    pub t: TestDb,
    /// The clock every part of the application reads; move it on with
    /// [`FixedClock::set`].
    pub clock: FixedClock,
    /// The application state, as `clavis serve` builds it.
    pub state: clavis_web::AppState,
    nurse: Option<Nurse>,
    session: Option<OpenSession>,
    client: Option<Client>,
    /// (given name, oid) of [`TestAppBuilder::with_person`].
    people: Vec<(&'static str, clavis_core::Oid)>,
    workstations: Vec<WorkstationRow>,
    admin_token: Option<String>,
}

/// The redirect URI test clients register by default.
pub const CALLBACK: &str = "https://dpi.chu.test/callback";

impl TestApp {
    /// A test application on `backend`, to be started with
    /// [`TestAppBuilder::start`].
    pub fn on(backend: Backend) -> TestAppBuilder {
        TestAppBuilder {
            backend,
            at: T0,
            nurse: false,
            session: false,
            client: None,
            people: Vec::new(),
            workstations: Vec::new(),
            admin_token: false,
            sso: None,
            oidc: None,
        }
    }

    /// The HTTP application over [`Self::state`], as `clavis serve` runs
    /// it, for `actix_web::test::call_service`.
    pub async fn service(&self) -> impl AppService {
        actix_web::test::init_service(clavis_web::build_app(self.state.clone())).await
    }

    /// The oid of the person of [`TestAppBuilder::with_person`] with this
    /// given name.
    pub fn person(&self, given: &str) -> clavis_core::Oid {
        self.people
            .iter()
            .find(|(g, _)| *g == given)
            .map(|(_, oid)| *oid)
            .unwrap_or_else(|| panic!("the test application was built with_person(_, {given:?})"))
    }

    /// The workstation of [`TestAppBuilder::with_workstation`] named `name`
    /// (its credential is [`WORKSTATION_SECRET`]).
    pub fn workstation(&self, name: &str) -> &WorkstationRow {
        self.workstations
            .iter()
            .find(|w| w.name == name)
            .unwrap_or_else(|| panic!("the test application was built with_workstation({name:?})"))
    }

    /// The `Authorization` header of the admin API token
    /// ([`TestAppBuilder::with_admin_token`]).
    pub fn admin_auth(&self) -> (&'static str, String) {
        let token = self
            .admin_token
            .as_ref()
            .expect("the test application was built with_admin_token()");
        ("authorization", format!("Bearer {token}"))
    }

    /// The nurse ([`TestAppBuilder::with_nurse`]).
    pub fn nurse(&self) -> &Nurse {
        self.nurse
            .as_ref()
            .expect("the test application was built with_nurse()")
    }

    /// A new SSO session of `oid` (badge + PIN, `eidas2`), opened now under
    /// the application's session settings, as a login would open it.
    pub async fn open_session(&self, oid: clavis_core::Oid) -> OpenSession {
        open_session(&self.t.db, &self.state, &self.clock, oid).await
    }

    /// What the directory does when HR says `kind` of `oid` (a departure,
    /// a suspension): the lifecycle event applied, now, by every
    /// subscriber of the application, in one transaction.
    pub async fn apply_lifecycle(
        &self,
        oid: clavis_core::Oid,
        kind: clavis_directory::lifecycle::LifecycleKind,
    ) {
        let event = clavis_directory::lifecycle::LifecycleEvent {
            oid,
            kind,
            reason: "leaver_flag".into(),
            sync_run_id: None,
            at: clavis_core::Clock::now(&self.clock),
        };
        let mut conn = self.t.db.conn().await.expect("conn");
        conn.transaction(async |tx| {
            for s in &self.state.subscribers {
                s.on_event(tx, &event).await.expect("subscriber");
            }
            Ok::<_, clavis_store::StoreError>(())
        })
        .await
        .expect("commit");
    }

    /// The nurse's session ([`TestAppBuilder::with_session`]).
    pub fn session(&self) -> &OpenSession {
        self.session
            .as_ref()
            .expect("the test application was built with_session()")
    }

    /// The application ([`TestAppBuilder::with_client`]).
    pub fn client(&self) -> &Client {
        self.client
            .as_ref()
            .expect("the test application was built with_client()")
    }
}

impl TestAppBuilder {
    /// Starting at `instant` (RFC 3339) instead of [`T0`].
    pub fn at(mut self, instant: &'static str) -> Self {
        self.at = instant;
        self
    }

    /// With an active person of these names (no account, no RPPS), found
    /// again by [`TestApp::person`].
    pub fn with_person(mut self, family: &'static str, given: &'static str) -> Self {
        self.people.push((family, given));
        self
    }

    /// With a registered workstation named `name` (id `ws-<name>`,
    /// credential [`WORKSTATION_SECRET`]), found again by
    /// [`TestApp::workstation`].
    pub fn with_workstation(mut self, name: &'static str) -> Self {
        self.workstations.push(name);
        self
    }

    /// With these session settings (lifetime, idle timeout) instead of the
    /// defaults; sessions opened by the test application follow them.
    pub fn with_sso(mut self, sso: clavis_sso::SsoConfig) -> Self {
        self.sso = Some(sso);
        self
    }

    /// With these `[oidc]` settings instead of the defaults (registrations
    /// by [`Self::with_client`] follow them too).
    pub fn with_oidc(mut self, oidc: clavis_oidc::OidcConfig) -> Self {
        self.oidc = Some(oidc);
        self
    }

    /// With an admin API token (named `dsi`), sent by [`TestApp::admin_auth`].
    pub fn with_admin_token(mut self) -> Self {
        self.admin_token = true;
        self
    }

    /// With a nurse (see [`Nurse`]), active, with an AD account.
    pub fn with_nurse(mut self) -> Self {
        self.nurse = true;
        self
    }

    /// With an open SSO session of the nurse (after [`Self::with_nurse`]).
    pub fn with_session(mut self) -> Self {
        assert!(
            self.nurse,
            "with_session() opens the nurse's session: call with_nurse() first"
        );
        self.session = true;
        self
    }

    /// With an application registered from `client` (name, redirect and
    /// post-logout URIs defaulted when empty) in which the nurse, if any,
    /// holds the role `ide`.
    pub fn with_client(mut self, client: NewClient) -> Self {
        self.client = Some(client);
        self
    }

    /// Creates the database and what was asked for, at [`T0`] (or
    /// [`Self::at`]).
    pub async fn start(self) -> TestApp {
        let t = TestDb::new(self.backend).await;
        let clock = FixedClock::at(self.at.parse().expect("instant"));
        let mut state = match self.oidc {
            Some(oidc) => state_with(&t.db, Arc::new(clock.clone()), oidc).await,
            None => state(&t.db, Arc::new(clock.clone())).await,
        };
        if let Some(sso) = self.sso {
            state.sso = sso;
        }
        let nurse = match self.nurse {
            true => Some(insert_nurse(&t.db).await),
            false => None,
        };
        let session = match (&nurse, self.session) {
            (Some(n), true) => Some(open_session(&t.db, &state, &clock, n.oid).await),
            _ => None,
        };
        let client = match self.client {
            Some(c) => Some(register_client(&t.db, &state, &clock, c, nurse.as_ref()).await),
            None => None,
        };
        let mut people = Vec::new();
        for (family, given) in self.people {
            let oid = clavis_testkit::people::insert_person(
                &t.db,
                family,
                given,
                clavis_core::LifecycleStatus::Active,
            )
            .await;
            people.push((given, oid));
        }
        let mut workstations = Vec::new();
        for name in self.workstations {
            workstations.push(insert_workstation(&t.db, name).await);
        }
        let admin_token = match self.admin_token {
            true => {
                let mut conn = t.db.conn().await.expect("conn");
                let token = clavis_web::tokens::create(
                    &mut conn,
                    "dsi",
                    &clavis_core::Actor::Cli("it".into()),
                    clock.now(),
                )
                .await
                .expect("token");
                Some(token.expose().clone())
            }
            false => None,
        };
        TestApp {
            t,
            clock,
            state,
            nurse,
            session,
            client,
            people,
            workstations,
            admin_token,
        }
    }
}

async fn insert_workstation(db: &clavis_store::Db, name: &str) -> WorkstationRow {
    let row = WorkstationRow {
        id: format!("ws-{name}").into(),
        name: name.into(),
        location: None,
        secret_hash: hex::encode(Sha256::digest(WORKSTATION_SECRET.as_bytes())),
        created_at: 0,
        created_by: clavis_core::Actor::Cli("it".into()),
        last_seen_at: None,
        revoked_at: None,
    };
    let mut conn = db.conn().await.expect("conn");
    row.insert(&mut conn).await.expect("workstation");
    row
}

async fn insert_nurse(db: &clavis_store::Db) -> Nurse {
    let oid = clavis_testkit::people::insert_person(
        db,
        "Lemoine",
        "Claire",
        clavis_core::LifecycleStatus::Active,
    )
    .await;
    let mut conn = db.conn().await.expect("conn");
    let mut row = clavis_store::models::IdentityRow::find(&mut conn, oid)
        .await
        .expect("find")
        .expect("row");
    row.rpps = Some("10003489282".into());
    row.email = Some("claire.lemoine@chu.test".into());
    row.professions = vec!["60".to_string()].into();
    row.used_family_name = Some("Martin".into());
    clavis_store::models::IdentityRow::update_all(&mut conn, vec![row])
        .await
        .expect("update");
    clavis_store::models::Account::upsert_all(
        &mut conn,
        vec![clavis_store::models::Account {
            login: "clemoine".into(),
            oid,
            source: "ad".into(),
            enabled: true,
            disabled_reason: None,
            created_at: 0,
            updated_at: 0,
        }],
    )
    .await
    .expect("account");
    Nurse { oid }
}

async fn open_session(
    db: &clavis_store::Db,
    state: &clavis_web::AppState,
    clock: &FixedClock,
    oid: clavis_core::Oid,
) -> OpenSession {
    let mut conn = db.conn().await.expect("conn");
    let (token, session) = conn
        .transaction(async |tx| {
            clavis_sso::create(
                tx,
                &state.sso,
                clock.now(),
                clavis_sso::NewSession {
                    workstation_id: None,
                    oid,
                    acr: "eidas2".into(),
                    amr: vec!["hwk".into(), "pin".into(), "mfa".into()],
                    authenticator_id: None,
                    client_ip: None,
                    user_agent: None,
                    ends_by: None,
                    method: clavis_core::LoginMethod::Badge,
                },
            )
            .await
        })
        .await
        .expect("session");
    OpenSession {
        cookie: format!("{}={}", clavis_sso::COOKIE_NAME, token.expose()),
        id: session.id,
    }
}

async fn register_client(
    db: &clavis_store::Db,
    state: &clavis_web::AppState,
    clock: &FixedClock,
    mut new: NewClient,
    nurse: Option<&Nurse>,
) -> Client {
    if new.name.is_empty() {
        new.name = "DPI".into();
    }
    if new.redirect_uris.is_empty() {
        new.redirect_uris = vec![CALLBACK.into()];
    }
    if new.post_logout_redirect_uris.is_empty() {
        new.post_logout_redirect_uris = vec!["https://dpi.chu.test/bye".into()];
    }
    let mut conn = db.conn().await.expect("conn");
    let (c, secret) = clavis_oidc::clients::register(
        &mut conn,
        clock.now(),
        new,
        &state.oidc.registration_rules(),
        &clavis_core::Actor::Cli("it".into()),
    )
    .await
    .expect("client");
    if let Some(n) = nurse {
        clavis_store::models::HabilitationRow {
            oid: n.oid,
            client_id: c.client_id.clone(),
            role: "ide".into(),
            granted_by: clavis_core::Actor::Cli("it".into()),
            granted_at: 0,
            reviewed_at: None,
            valid_from: None,
            valid_until: None,
        }
        .grant(&mut conn)
        .await
        .expect("role");
    }
    Client {
        id: c.client_id.into_string(),
        secret: secret.map(|s| s.expose().clone()).unwrap_or_default(),
    }
}
