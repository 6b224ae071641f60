//! The DSI's console (`/console`), through the HTTP application on both
//! backends: the route × role matrix, the rules on acting on people, and
//! what its pages show.

mod api;
mod applications;
mod authenticators;
mod cases;
mod compliance;
mod compliance_report;
mod dashboard;
mod habilitations;
mod matrix;
mod operators;
mod pages;
mod suspension;
mod syncs;
mod verification;

use crate::support::TestApp;
use clavis_core::roles::OperatorRole;
use clavis_core::{Actor, Oid};
use clavis_store::models::IdentityRoleRow;
use clavis_testkit::db::Backend;

/// The operators of the tests, one per role, by given name.
pub const OPERATORS: [(&str, OperatorRole); 5] = [
    ("Alice", OperatorRole::Admin),
    ("Ines", OperatorRole::IdentityOffice),
    ("Bruno", OperatorRole::BadgeOffice),
    ("Hugo", OperatorRole::Helpdesk),
    ("Aude", OperatorRole::Auditor),
];

/// HR's export the console's synchronisations read: two new people.
pub const HR_CSV: &str = "Matricule;Nom de naissance;Prénoms;Date de naissance\n\
E500;Garnier;Lucie;1992-06-01\n\
E501;Masson;Théo;1993-07-02\n";

/// A directory configuration with one CSV source, `rh`, reading [`HR_CSV`]
/// (a file under the target directory, written once).
pub fn hr_source() -> clavis_directory::DirectoryConfig {
    let csv = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-hr.csv");
    if std::fs::read_to_string(&csv).ok().as_deref() != Some(HR_CSV) {
        // Tests run in parallel: written aside, then renamed into place.
        let aside = csv.with_extension(format!("{}.tmp", clavis_core::ids::new_record_id()));
        std::fs::write(&aside, HR_CSV).expect("csv");
        std::fs::rename(&aside, &csv).expect("csv in place");
    }
    toml::from_str(&format!(
        r#"
[[sources]]
name = "rh"
kind = "csv"
role = "hr"
path = "{}"
[sources.attributes]
external_id = "Matricule"
birth_family_name = "Nom de naissance"
birth_given_names = "Prénoms"
birth_date = "Date de naissance"
"#,
        csv.display()
    ))
    .expect("directory config")
}

/// Claire's RPPS.
pub const CLAIRE_RPPS: &str = "10100779536";

/// A person outside HR carrying Claire's RPPS under another name: a
/// manual entry that opens a case (`rpps_known_traits_differ`). Returns the
/// case's id.
pub async fn case_against_claire(t: &TestApp, family: &str) -> String {
    use clavis_directory::manual::{self, ManualOutcome, ManualTerms, NewManualIdentity};
    let today = clavis_core::Clock::now(&t.clock)
        .with_timezone(&chrono::Local)
        .date_naive();
    let outcome = manual::add_identity(
        &t.t.db,
        &t.state.directory,
        &t.state.subscribers,
        clavis_core::Clock::now(&t.clock),
        NewManualIdentity {
            birth_family_name: family.into(),
            used_family_name: None,
            birth_given_names: vec!["Paul".into()],
            birth_date: chrono::NaiveDate::from_ymd_opt(1985, 3, 2).expect("date"),
            birth_place: None,
            rpps: Some(clavis_core::Rpps::parse(CLAIRE_RPPS).expect("rpps")),
            terms: Some(ManualTerms {
                sponsor: "Dr Morel".into(),
                reason: "consultant".into(),
                until: today + chrono::Days::new(30),
            }),
        },
        &Actor::Cli("it".into()),
    )
    .await
    .expect("added");
    match outcome {
        ManualOutcome::CaseOpened { case_id, .. } => case_id,
        other => panic!("expected a case, got {other:?}"),
    }
}

/// The content hash of the entry a case is about (what its page shows
/// and its form sends back as `seen`).
pub async fn seen_of(t: &TestApp, case_id: &str) -> String {
    let mut conn = t.t.db.conn().await.expect("conn");
    let case = clavis_store::models::ReconciliationCase::find(&mut conn, case_id)
        .await
        .expect("find")
        .expect("case");
    clavis_store::models::SourceRecordRow::find(&mut conn, &case.source, &case.external_id)
        .await
        .expect("find")
        .expect("record")
        .content_hash
}

/// A hospital with one operator per role, Claire Lemoine (a nurse, no
/// role), Noé Sansrole (no role either) and Hélène Bérard (an accented
/// name).
pub async fn hospital(backend: Backend) -> TestApp {
    let mut t = TestApp::on(backend)
        .with_person("Martin", "Alice")
        .with_person("Idrissi", "Ines")
        .with_person("Blanc", "Bruno")
        .with_person("Hamon", "Hugo")
        .with_person("Aubert", "Aude")
        .with_person("Lemoine", "Claire")
        .with_person("Sansrole", "Noé")
        .with_person("Bérard", "Hélène")
        .with_admin_token()
        .start()
        .await;
    for (given, role) in OPERATORS {
        grant(&t, t.person(given), role).await;
    }
    t.state.directory = std::sync::Arc::new(hr_source());
    // Claire has an RPPS (a manual entry carrying it opens a case).
    let mut conn = t.t.db.conn().await.expect("conn");
    let mut claire = clavis_store::models::IdentityRow::find(&mut conn, t.person("Claire"))
        .await
        .expect("find")
        .expect("Claire");
    claire.rpps = Some(CLAIRE_RPPS.into());
    clavis_store::models::IdentityRow::update_all(&mut conn, vec![claire])
        .await
        .expect("rpps");
    // Claire has a badge PIN, locked after too many wrong tries.
    clavis_store::models::BadgePinRow {
        oid: t.person("Claire"),
        pin_hash: "$argon2id$placeholder".into(),
        failures: 5,
        locked_until: Some(clavis_core::Clock::now(&t.clock).timestamp() + 3600),
        updated_at: 0,
        checking_until: None,
        checking_by: None,
        replaced_by: None,
        replaced_at: None,
    }
    .upsert(&mut conn)
    .await
    .expect("pin");
    t
}

/// Grants `role` to `oid`.
pub async fn grant(t: &TestApp, oid: Oid, role: OperatorRole) {
    let mut conn = t.t.db.conn().await.expect("conn");
    IdentityRoleRow {
        oid,
        role: role.to_string(),
        granted_by: Actor::Cli("it".into()),
        granted_at: 0,
    }
    .grant(&mut conn)
    .await
    .expect("role");
}

/// POSTs a console form with `cookie`: status, `Location`, body.
pub async fn post_form(
    app: &impl crate::support::http::AppService,
    path: &str,
    cookie: &str,
    fields: &[(&str, &str)],
) -> (u16, String, String) {
    let resp = actix_web::test::call_service(
        app,
        actix_web::test::TestRequest::post()
            .uri(path)
            .insert_header(("cookie", cookie.to_string()))
            .insert_header(("content-type", "application/x-www-form-urlencoded"))
            .set_payload(crate::support::http::form(fields))
            .to_request(),
    )
    .await;
    let status = resp.status().as_u16();
    let to = crate::support::http::location(&resp);
    let body = actix_web::test::read_body(resp).await;
    (status, to, String::from_utf8_lossy(&body).into_owned())
}

/// GETs a console page with `cookie`: status, body.
pub async fn get_page(
    app: &impl crate::support::http::AppService,
    path: &str,
    cookie: &str,
) -> (u16, String) {
    let resp = actix_web::test::call_service(
        app,
        actix_web::test::TestRequest::get()
            .uri(path)
            .insert_header(("cookie", cookie.to_string()))
            .to_request(),
    )
    .await;
    let status = resp.status().as_u16();
    let body = actix_web::test::read_body(resp).await;
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// Whether the SSO session `id` is still open.
pub async fn session_is_live(t: &TestApp, id: &clavis_core::SessionId) -> bool {
    let mut conn = t.t.db.conn().await.expect("conn");
    clavis_store::models::SsoSessionRow::find(&mut conn, id)
        .await
        .expect("find")
        .expect("row")
        .ended_at
        .is_none()
}

/// The CSRF token of the forms of the session whose cookie is `cookie`
/// (`clavis_sso=<token>`).
pub fn csrf_of(cookie: &str) -> String {
    let token = cookie.split_once('=').expect("name=value").1;
    clavis_web::sso_web::csrf_for(token)
}

/// A new SSO session of `oid` opened with the authenticator `authenticator`
/// (its cookie, its id).
pub async fn session_with(
    t: &TestApp,
    oid: Oid,
    authenticator: &str,
) -> (String, clavis_core::SessionId) {
    session_of(
        t,
        clavis_sso::NewSession {
            oid,
            acr: "eidas2".into(),
            amr: vec!["hwk".into(), "mfa".into()],
            authenticator_id: Some(authenticator.to_string()),
            client_ip: None,
            user_agent: None,
            workstation_id: None,
            ends_by: None,
            method: clavis_core::LoginMethod::Badge,
        },
    )
    .await
}

/// A session of `oid` opened through Pro Santé Connect at `acr` with
/// `amr`, now: (its cookie, its id).
pub async fn psc_session(
    t: &TestApp,
    oid: Oid,
    acr: &str,
    amr: &[&str],
) -> (String, clavis_core::SessionId) {
    session_of(
        t,
        clavis_sso::NewSession {
            oid,
            acr: acr.into(),
            amr: amr.iter().map(|a| a.to_string()).collect(),
            authenticator_id: None,
            client_ip: None,
            user_agent: None,
            workstation_id: None,
            ends_by: None,
            method: clavis_core::LoginMethod::Psc,
        },
    )
    .await
}

/// `session`, opened now: (its cookie, its id).
async fn session_of(
    t: &TestApp,
    session: clavis_sso::NewSession,
) -> (String, clavis_core::SessionId) {
    let mut conn = t.t.db.conn().await.expect("conn");
    let (token, s) = clavis_sso::create(
        &mut conn,
        &t.state.sso,
        clavis_core::Clock::now(&t.clock),
        session,
    )
    .await
    .expect("session");
    (
        format!("{}={}", clavis_sso::COOKIE_NAME, token.expose()),
        s.id,
    )
}
