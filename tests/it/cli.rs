//! The `clavis` binary as an operator uses it.

use crate::fixtures::Hr;
use clavis_testkit::db::{Backend, TestDb};
use clavis_testkit::slapd::{SERVICE_DN, SERVICE_PW, Slapd};
use std::path::Path;
use std::process::{Command, Output};

fn clavis(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_clavis"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env("CLAVIS_LANG", "en")
        .output()
        .expect("the clavis binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn config_for(dir: &Path, db_url: &str, slapd: &Slapd) -> std::path::PathBuf {
    let pw = dir.join("ldap-pw");
    std::fs::write(&pw, SERVICE_PW).expect("pw");
    let text = format!(
        r#"state_dir = "{state}"
[server]
listen = "127.0.0.1:0"
[database]
url = "{db_url}"
[directory]
missing_runs_before_departure = 2
[[directory.sources]]
name = "rh"
kind = "ldap"
role = "hr"
url = "{url}"
bind_dn = "{SERVICE_DN}"
bind_password_file = "{pw}"
base_dn = "ou=hr,{suffix}"
filter = "(objectClass=inetOrgPerson)"
page_size = 10
[directory.sources.attributes]
external_id = "employeeNumber"
birth_family_name = "birthName"
used_family_name = "sn"
birth_given_names = "givenName"
birth_date = "birthDate"
birth_place = "birthPlace"
rpps = "rppsNumber"
"#,
        state = dir.join("state").display(),
        url = slapd.url,
        pw = pw.display(),
        suffix = clavis_testkit::slapd::SUFFIX,
    );
    let p = dir.join("clavis.toml");
    std::fs::write(&p, text).expect("config");
    p
}

#[test]
fn print_default_config_is_the_packaged_example_and_it_checks_clean() {
    let out = Command::new(env!("CARGO_BIN_EXE_clavis"))
        .arg("print-default-config")
        .output()
        .expect("runs");
    let packaged = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/packaging/clavis.toml"
    ))
    .expect("packaged");
    assert_eq!(stdout(&out), packaged);
    let check = Command::new(env!("CARGO_BIN_EXE_clavis"))
        .args([
            "check-config",
            concat!(env!("CARGO_MANIFEST_DIR"), "/packaging/clavis.toml"),
        ])
        .output()
        .expect("runs");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
}

/// `clavis client add` meets the rule of the admin API (one function):
/// a back-channel logout URI on this machine is refused, naming the field
/// and the setting, unless `oidc.backchannel.allow_local_targets`.
#[test]
fn client_add_refuses_a_loopback_backchannel_uri_unless_the_configuration_allows_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("clavis.toml");
    let base = format!("state_dir = \"{}\"\n", dir.path().join("state").display());
    std::fs::write(&config, &base).expect("config");
    let add = || {
        clavis(
            &config,
            &[
                "client",
                "add",
                "--name",
                "Outil local",
                "--redirect-uri",
                "https://outil.chu.test/cb",
                "--backchannel-logout-uri",
                "http://127.0.0.1:9000/bc",
            ],
        )
    };
    let refused = add();
    let err = String::from_utf8_lossy(&refused.stderr).into_owned();
    assert!(!refused.status.success(), "{}", stdout(&refused));
    assert!(err.contains("backchannel_logout_uri"), "{err}");
    assert!(
        err.contains("oidc.backchannel.allow_local_targets"),
        "{err}"
    );
    std::fs::write(
        &config,
        format!("{base}[oidc.backchannel]\nallow_local_targets = true\n"),
    )
    .expect("config");
    let allowed = add();
    assert!(
        allowed.status.success(),
        "{}",
        String::from_utf8_lossy(&allowed.stderr)
    );
    assert!(stdout(&allowed).contains("http://127.0.0.1:9000/bc"));
}

#[test]
fn check_config_lists_every_problem_with_key_and_line() {
    let dir = tempfile::tempdir().expect("dir");
    let p = dir.path().join("bad.toml");
    std::fs::write(
        &p,
        "[server]\nlisten = \"everywhere\"\n[database]\nurl = \"mysql://x\"\n[[directory.sources]]\nname = \"rh\"\nkind = \"csv\"\nrole = \"hr\"\n[directory.sources.attributes]\nexternal_id = \"m\"\nbirth_family_name = \"n\"\nbirth_given_names = \"p\"\nbirth_date = \"d\"\n",
    )
    .expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_clavis"))
        .arg("check-config")
        .arg(&p)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("server.listen (line 2)"), "{err}");
    assert!(err.contains("database.url (line 4)"), "{err}");
    assert!(err.contains("directory.sources[0].path"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_identity_and_audit_commands_work_end_to_end() {
    let t = TestDb::new(Backend::Sqlite).await;
    let slapd = Slapd::start();
    let mut a = Hr::new("E001", "Lefèvre", "Zoé, Anne", "1990-04-03");
    a.rpps = Some("10100779536".into());
    let mut bad = Hr::new("E002", "Mercier", "Paul", "1991-01-01");
    bad.rpps = Some("12345678901".into());
    slapd.add(&(a.ldif() + &bad.ldif()));
    let dir = tempfile::tempdir().expect("dir");
    let cfg = config_for(dir.path(), &t.url, &slapd);

    let out = clavis(&cfg, &["sync", "--json"]);
    assert!(
        out.status.success(),
        "rejections do not fail the run: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(report["created"], 1);
    assert_eq!(report["rejected"], 1);
    assert_eq!(report["rejections"][0]["entry"], bad.dn());
    assert_eq!(report["rejections"][0]["field"], "rpps");

    let out = clavis(
        &cfg,
        &["identity", "list", "--search", "lefevre zoe", "--json"],
    );
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(list["total"], 1, "{list}");
    let i = &list["items"][0];
    for key in [
        "oid",
        "status",
        "birth_family_name",
        "used_family_name",
        "birth_given_names",
        "birth_date",
        "birth_place",
        "rpps",
        "national_id",
        "logins",
        "contract_type",
        "arrival_date",
        "departure_date",
        "sources",
    ] {
        assert!(i.get(key).is_some(), "identity JSON lacks {key}: {i}");
    }
    assert_eq!(i["birth_given_names"], serde_json::json!(["Zoé", "Anne"]));
    assert_eq!(i["birth_date"], "1990-04-03");
    assert_eq!(i["national_id"], "810100779536");
    assert_eq!(i["sources"][0]["source"], "rh");

    let out = clavis(&cfg, &["identity", "show", "10100779536", "--json"]);
    assert!(out.status.success());
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(shown["oid"], i["oid"]);
    let out = clavis(&cfg, &["identity", "show", "nobody"]);
    assert!(!out.status.success());

    let out = clavis(&cfg, &["audit", "verify"]);
    assert!(out.status.success(), "{}", stdout(&out));

    // An attacker with database access edits an event: verify names it.
    let mut conn = t.db.conn().await.expect("conn");
    {
        use clavis_store::with_conn;
        use diesel_async::RunQueryDsl;
        with_conn!(&mut conn, c => diesel::sql_query("DROP TRIGGER audit_events_no_update").execute(c).await).expect("drop trigger");
        with_conn!(&mut conn, c => diesel::sql_query("UPDATE audit_events SET actor = 'mallory' WHERE seq = 2").execute(c).await).expect("tamper");
    }
    let out = clavis(&cfg, &["audit", "verify", "--json"]);
    assert_eq!(out.status.code(), Some(3));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["first_broken"]["seq"], 2);
    assert_eq!(v["first_broken"]["reason"], "hash_mismatch");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_needs_a_token_and_serves_identities() {
    let t = TestDb::new(Backend::Sqlite).await;
    let slapd = Slapd::start();
    slapd.add(&Hr::new("E001", "Roy", "Ana", "1990-04-03").ldif());
    let dir = tempfile::tempdir().expect("dir");
    let cfg = config_for(dir.path(), &t.url, &slapd);
    assert!(clavis(&cfg, &["sync"]).status.success());
    let out = clavis(&cfg, &["api-token", "create", "--name", "supervision"]);
    assert!(out.status.success());
    let token = stdout(&out).trim().to_string();
    assert!(token.starts_with("clv_"));
    let dup = clavis(&cfg, &["api-token", "create", "--name", "supervision"]);
    assert!(!dup.status.success(), "names are unique");

    let state = crate::support::state(&t.db, std::sync::Arc::new(clavis_core::SystemClock)).await;
    let app = actix_web::test::init_service(clavis_web::build_app(state)).await;
    use actix_web::test::{TestRequest, call_service, read_body_json};
    let r = call_service(
        &app,
        TestRequest::get().uri("/admin/api/identities").to_request(),
    )
    .await;
    assert_eq!(r.status(), 401);
    let r = call_service(
        &app,
        TestRequest::get()
            .uri("/admin/api/identities")
            .insert_header(("Authorization", "Bearer clv_forged"))
            .to_request(),
    )
    .await;
    assert_eq!(r.status(), 401);
    let body: serde_json::Value = read_body_json(r).await;
    assert_eq!(body["error"]["code"], "unauthorized");
    // The token is checked before anything of the request is read: a
    // forged token with a malformed query or body learns nothing of what
    // the API expects (401, not a 400 naming the fields).
    for req in [
        TestRequest::get().uri("/admin/api/identities?limit=many"),
        TestRequest::post()
            .uri("/admin/api/clients")
            .set_json(serde_json::json!({"unknown_field": true})),
    ] {
        let r = call_service(
            &app,
            req.insert_header(("Authorization", "Bearer clv_forged"))
                .to_request(),
        )
        .await;
        assert_eq!(r.status(), 401);
        assert_eq!(
            r.headers()
                .get("X-Content-Type-Options")
                .map(|v| v.as_bytes()),
            Some(&b"nosniff"[..])
        );
        let body: serde_json::Value = read_body_json(r).await;
        assert_eq!(body["error"]["code"], "unauthorized", "{body}");
    }
    let auth = ("Authorization", format!("Bearer {token}"));
    let r = call_service(
        &app,
        TestRequest::get()
            .uri("/admin/api/identities?search=roy")
            .insert_header(auth.clone())
            .to_request(),
    )
    .await;
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = read_body_json(r).await;
    let oid = body["items"][0]["oid"].as_str().expect("oid").to_string();
    let r = call_service(
        &app,
        TestRequest::get()
            .uri(&format!("/admin/api/identities/{oid}"))
            .insert_header(auth.clone())
            .to_request(),
    )
    .await;
    assert_eq!(r.status(), 200);
    let r = call_service(
        &app,
        TestRequest::get()
            .uri("/admin/api/sync-runs")
            .insert_header(auth.clone())
            .to_request(),
    )
    .await;
    let body: serde_json::Value = read_body_json(r).await;
    assert_eq!(body["items"][0]["status"], "succeeded");
    let r = call_service(
        &app,
        TestRequest::get()
            .uri("/admin/api/cases")
            .insert_header(auth.clone())
            .to_request(),
    )
    .await;
    assert_eq!(r.status(), 200);
    let r = call_service(
        &app,
        TestRequest::post()
            .uri(&format!("/admin/api/identities/{oid}/enrolment-link"))
            .insert_header(auth.clone())
            .set_json(serde_json::json!({"valid_hours": 2}))
            .to_request(),
    )
    .await;
    assert_eq!(r.status(), 201);
    let link: serde_json::Value = read_body_json(r).await;
    assert!(
        link["url"].as_str().is_some_and(|u| u.contains("/enrol/")),
        "{link}"
    );
    let r = call_service(&app, TestRequest::get().uri("/readyz").to_request()).await;
    assert_eq!(r.status(), 200);

    assert!(
        clavis(&cfg, &["api-token", "revoke", "--name", "supervision"])
            .status
            .success()
    );
    let r = call_service(
        &app,
        TestRequest::get()
            .uri("/admin/api/cases")
            .insert_header(auth)
            .to_request(),
    )
    .await;
    assert_eq!(r.status(), 401, "a revoked token is refused");
}

/// A configuration with only a state directory (SQLite inside it).
fn minimal_config(dir: &Path) -> std::path::PathBuf {
    let p = dir.join("clavis.toml");
    std::fs::write(
        &p,
        format!("state_dir = \"{}\"\n", dir.join("state").display()),
    )
    .expect("config");
    p
}

/// `clavis …` with standard input, in English unless `lang` says
/// otherwise, with the systemd credentials directory `credentials` (or
/// none).
fn clavis_with(
    config: &Path,
    args: &[&str],
    stdin: &str,
    lang: &str,
    credentials: Option<&Path>,
) -> Output {
    use std::io::Write;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_clavis"));
    cmd.arg("--config")
        .arg(config)
        .args(args)
        .env("CLAVIS_LANG", lang)
        .env_remove("CREDENTIALS_DIRECTORY")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    if let Some(c) = credentials {
        cmd.env("CREDENTIALS_DIRECTORY", c);
    }
    let mut child = cmd.spawn().expect("the clavis binary runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("waits")
}

#[test]
fn a_command_without_the_master_key_refuses_and_creates_none() {
    let dir = tempfile::tempdir().expect("dir");
    let cfg = minimal_config(dir.path());
    let key = dir.path().join("state/master.key");
    let out = clavis_with(
        &cfg,
        &["badge", "set-pin", "clemoine", "--stdin"],
        "4821\n",
        "fr",
        None,
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("clé maître introuvable"), "{err}");
    assert!(err.contains(&key.display().to_string()), "{err}");
    assert!(err.contains("CREDENTIALS_DIRECTORY"), "{err}");
    assert!(err.contains("clavis serve"), "{err}");
    assert!(!key.exists(), "the command created a master key");

    let out = clavis_with(&cfg, &["keys", "rotate"], "", "en", None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("master key not found"), "{err}");
    assert!(!key.exists(), "the command created a master key");
}

#[test]
fn a_command_reads_the_services_credential_and_refuses_another_key() {
    let dir = tempfile::tempdir().expect("dir");
    let cfg = minimal_config(dir.path());
    // The service's key, as a systemd credential only (nothing in the state
    // directory): the command reads it and goes on to the identity.
    let service_creds = dir.path().join("creds-service");
    std::fs::create_dir_all(&service_creds).expect("dir");
    std::fs::write(
        service_creds.join("clavis-master-key"),
        format!("{}\n", "ab".repeat(32)),
    )
    .expect("key");
    let out = clavis_with(&cfg, &["keys", "rotate"], "", "en", Some(&service_creds));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = clavis_with(
        &cfg,
        &["badge", "set-pin", "clemoine", "--stdin"],
        "4821\n",
        "en",
        Some(&service_creds),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("no identity matches"), "{err}");
    assert!(!dir.path().join("state/master.key").exists());

    // Another key than the one that sealed the database is refused.
    let other_creds = dir.path().join("creds-other");
    std::fs::create_dir_all(&other_creds).expect("dir");
    std::fs::write(other_creds.join("clavis-master-key"), "cd".repeat(32)).expect("key");
    let out = clavis_with(
        &cfg,
        &["badge", "set-pin", "clemoine", "--stdin"],
        "4821\n",
        "en",
        Some(&other_creds),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("not this database's"), "{err}");
}

/// `clavis admin init` prepares an installation without the service: it
/// creates the master key once (0600) and the signing keys, checks an
/// existing key on later runs, and never replaces one: another key, or a
/// key lost over sealed data, is refused and nothing is created.
#[test]
fn admin_init_creates_the_master_key_once_then_only_checks_it() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("dir");
    let cfg = minimal_config(dir.path());
    let key = dir.path().join("state/master.key");
    let first = clavis_with(&cfg, &["admin", "init", "--json"], "", "en", None);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let first: serde_json::Value = serde_json::from_slice(&first.stdout).expect("json");
    assert_eq!(first["master_key_created"], true);
    assert_eq!(first["signing_keys"].as_array().map(Vec::len), Some(2));
    let mode = std::fs::metadata(&key).expect("key").permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let written = std::fs::read_to_string(&key).expect("key");

    let again = clavis_with(&cfg, &["admin", "init", "--json"], "", "en", None);
    assert!(again.status.success());
    let again: serde_json::Value = serde_json::from_slice(&again.stdout).expect("json");
    assert_eq!(again["master_key_created"], false);
    assert_eq!(
        again["master_key_fingerprint"],
        first["master_key_fingerprint"]
    );
    assert_eq!(again["signing_keys"], first["signing_keys"]);

    // A key others can read is refused, and left as it is.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let loose = clavis_with(&cfg, &["admin", "init"], "", "en", None);
    assert!(!loose.status.success());
    let err = String::from_utf8_lossy(&loose.stderr);
    assert!(err.contains("can be read by others"), "{err}");
    assert!(err.contains("chmod 600"), "{err}");

    // Another key in its place is refused, and left as it is.
    std::fs::write(&key, format!("{}\n", "cd".repeat(32))).expect("key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let other = clavis_with(&cfg, &["admin", "init"], "", "en", None);
    assert!(!other.status.success());
    let err = String::from_utf8_lossy(&other.stderr);
    assert!(err.contains("not this database's"), "{err}");
    assert_eq!(
        std::fs::read_to_string(&key).expect("key"),
        format!("{}\n", "cd".repeat(32))
    );

    // The key lost over sealed data: no new one.
    std::fs::remove_file(&key).expect("remove");
    let lost = clavis_with(&cfg, &["admin", "init"], "", "en", None);
    assert!(!lost.status.success());
    let err = String::from_utf8_lossy(&lost.stderr);
    assert!(err.contains("master key not found"), "{err}");
    assert!(!key.exists(), "init made another key over sealed data");

    // Put back, it opens everything again.
    std::fs::write(&key, &written).expect("key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let back = clavis_with(&cfg, &["admin", "init", "--json"], "", "en", None);
    assert!(back.status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_list_json_carries_the_total_and_the_next_offset() {
    let t = TestDb::new(Backend::Sqlite).await;
    let slapd = Slapd::start();
    slapd.add(
        &(Hr::new("E001", "Adam", "Léa", "1990-01-01").ldif()
            + &Hr::new("E002", "Bernard", "Marc", "1991-02-02").ldif()
            + &Hr::new("E003", "Caron", "Inès", "1992-03-03").ldif()),
    );
    let dir = tempfile::tempdir().expect("dir");
    let cfg = config_for(dir.path(), &t.url, &slapd);
    assert!(clavis(&cfg, &["sync"]).status.success());

    let page = |args: &[&str]| -> serde_json::Value {
        let mut all = vec!["identity", "list", "--json"];
        all.extend_from_slice(args);
        let out = clavis(&cfg, &all);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("json")
    };
    let first = page(&["--limit", "2"]);
    assert_eq!(first["total"], 3, "{first}");
    assert_eq!(first["next_offset"], 2, "{first}");
    assert_eq!(first["items"].as_array().map(Vec::len), Some(2), "{first}");
    assert_eq!(first["items"][0]["birth_family_name"], "Adam");
    let last = page(&["--limit", "2", "--offset", "2"]);
    assert_eq!(last["total"], 3, "{last}");
    assert_eq!(last["next_offset"], serde_json::Value::Null, "{last}");
    assert_eq!(last["items"][0]["birth_family_name"], "Caron");
    // The total counts what the search matches, not the whole directory.
    let found = page(&["--search", "bernard"]);
    assert_eq!(found["total"], 1, "{found}");
    assert_eq!(found["next_offset"], serde_json::Value::Null, "{found}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_add_creates_an_audited_identity_and_refuses_the_same_person_twice() {
    let dir = tempfile::tempdir().expect("dir");
    let cfg = minimal_config(dir.path());
    let add = |args: &[&str], lang: &str| {
        let mut all = vec![
            "identity",
            "add",
            "--birth-date",
            "1980-05-17",
            "--given-names",
            "Marie, Anne",
        ];
        all.extend_from_slice(args);
        clavis_with(&cfg, &all, "", lang, None)
    };
    let out = add(&["--birth-name", "Dupont", "--rpps", "10100779536"], "en");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let oid = stdout(&out).trim().to_string();
    assert_eq!(oid.len(), 36, "the oid alone on standard output: {oid:?}");

    let out = clavis(&cfg, &["identity", "show", &oid, "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(shown["birth_family_name"], "Dupont");
    assert_eq!(
        shown["birth_given_names"],
        serde_json::json!(["Marie", "Anne"])
    );
    assert_eq!(shown["status"], "active");
    assert_eq!(shown["rpps"], "10100779536");
    assert_eq!(shown["sources"][0]["source"], "manual");

    // Audited like any other creation, by the operator.
    let db = clavis_store::Db::open(&dir.path().join("state/clavis.db").display().to_string(), 1)
        .expect("db");
    let mut conn = db.conn().await.expect("conn");
    let events = clavis_store::models::AuditEventRow::for_target(&mut conn, &oid, 10)
        .await
        .expect("audit");
    assert!(
        events
            .iter()
            .any(|e| e.action == "identity.created" && e.actor.starts_with("cli:")),
        "{events:?}"
    );
    drop(conn);

    // The same person again (case aside): refused, named, nothing created.
    let out = add(&["--birth-name", "DUPONT"], "fr");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cette personne existe déjà"), "{err}");
    assert!(err.contains(&oid), "{err}");
    // Another person with her RPPS: not created (no guess); a case is
    // opened for the identity office instead.
    let out = add(&["--birth-name", "Martin", "--rpps", "10100779536"], "en");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("resembles existing identities"), "{err}");
    assert!(err.contains(&oid), "{err}");
    assert!(err.contains("a reconciliation case is open"), "{err}");
    let out = clavis(&cfg, &["cases", "list", "--json"]);
    let cases: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(cases["total"], 1, "{cases}");
    assert_eq!(cases["items"][0]["source"], "manual");
    assert_eq!(cases["items"][0]["candidates"][0]["oid"], oid.as_str());

    // A consultant outside HR: an end date, a sponsor, a reason; the end
    // date is their departure date. The three go together.
    let today = clavis_core::Clock::now(&clavis_core::SystemClock)
        .with_timezone(&chrono::Local)
        .date_naive();
    let until = (today + chrono::Days::new(30)).to_string();
    let out = add(&["--birth-name", "Lenoir", "--until", &until], "en");
    assert!(!out.status.success(), "--until alone is refused");
    let out = add(
        &[
            "--birth-name",
            "Lenoir",
            "--until",
            &until,
            "--sponsor",
            "Dr Morel (cardiologie)",
            "--reason",
            "consultant de l'éditeur du DPI",
        ],
        "en",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let consultant = stdout(&out).trim().to_string();
    let out = clavis(&cfg, &["identity", "show", &consultant, "--json"]);
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(shown["departure_date"], until.as_str(), "{shown}");
    let past = (today - chrono::Days::new(1)).to_string();
    let out = add(
        &[
            "--birth-name",
            "Lebrun",
            "--until",
            &past,
            "--sponsor",
            "x",
            "--reason",
            "y",
        ],
        "en",
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already past"));

    let out = clavis(&cfg, &["identity", "list", "--json"]);
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(list["total"], 2, "Marie and the consultant: {list}");

    // She can now be made the first administrator.
    let out = clavis(&cfg, &["admin", "bootstrap", "--identity", &oid]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The helpdesk's command when someone loses their security key: list their
/// keys, revoke one with a reason (audited), the key then listed no more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_key_list_and_revoke_for_a_lost_key() {
    let dir = tempfile::tempdir().expect("dir");
    let cfg = minimal_config(dir.path());
    let out = clavis_with(
        &cfg,
        &[
            "identity",
            "add",
            "--birth-name",
            "Dupont",
            "--given-names",
            "Marie",
            "--birth-date",
            "1980-05-17",
        ],
        "",
        "en",
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let oid: clavis_core::Oid = stdout(&out).trim().parse().expect("oid");
    let db = clavis_store::Db::open(&dir.path().join("state/clavis.db").display().to_string(), 1)
        .expect("db");
    clavis_testkit::people::insert_key(&db, oid, "key-1").await;
    let list = |lang: &str| {
        clavis_with(
            &cfg,
            &["security-key", "list", &oid.to_string(), "--json"],
            "",
            lang,
            None,
        )
    };
    let listed: serde_json::Value = serde_json::from_slice(&list("en").stdout).expect("json");
    assert_eq!(listed["total"], 1, "{listed}");
    assert_eq!(listed["items"][0]["label"], "Clé bleue");
    // `clavis security-key revoke OID KEY [ARGS]`, in French: (success, what
    // it printed on stdout and stderr).
    let revoke = |key: &str, more: &[&str]| {
        let oid = oid.to_string();
        let mut args = vec!["security-key", "revoke", oid.as_str(), key];
        args.extend_from_slice(more);
        let out = clavis_with(&cfg, &args, "", "fr", None);
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), said)
    };
    // Unknown key, empty reason: refused in French, nothing changed.
    let (ok, said) = revoke("key-2", &[]);
    assert!(!ok && said.contains("pas de clé active"), "{said}");
    let (ok, said) = revoke("key-1", &["--reason", " "]);
    assert!(!ok && said.contains("--reason"), "{said}");
    let listed: serde_json::Value = serde_json::from_slice(&list("en").stdout).expect("json");
    assert_eq!(listed["total"], 1, "{listed}");
    let (ok, said) = revoke("key-1", &["--reason", "stolen"]);
    assert!(ok && said.contains("révoquée"), "{said}");
    let listed: serde_json::Value = serde_json::from_slice(&list("en").stdout).expect("json");
    assert_eq!(listed["total"], 0, "{listed}");
    let mut conn = db.conn().await.expect("conn");
    let events = clavis_store::models::AuditEventRow::for_target(&mut conn, &oid.to_string(), 10)
        .await
        .expect("audit");
    assert!(
        events.iter().any(|e| e.action == "key.removed"
            && e.actor.starts_with("cli:")
            && e.changes.contains("stolen")),
        "{events:?}"
    );
}
