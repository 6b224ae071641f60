//! Pro Santé Connect for operators: `clavis check-config` on `[psc]`,
//! `clavis psc status` against the stand-in, `clavis psc links` and
//! `clavis psc unlink`, and the admin API's read and revoke.

use super::*;
use crate::support::on_both_backends;
use clavis_core::{Clock, PscUnlinkReason};
use std::path::Path;
use std::process::Output;

on_both_backends!(operators_read_and_revoke_a_link_through_the_admin_api);

fn clavis(config: &Path, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_clavis"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env("CLAVIS_LANG", "en")
        .env_remove("CLAVIS_PSC_CLIENT_SECRET")
        .env_remove("CREDENTIALS_DIRECTORY")
        .output()
        .expect("the clavis binary runs")
}

fn out(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A configuration with PSC on against `issuer` (SQLite in `dir`).
fn config(dir: &Path, psc: &str) -> std::path::PathBuf {
    let secret = dir.join("psc-secret");
    std::fs::write(&secret, format!("{PSC_SECRET}\n")).expect("secret");
    let p = dir.join("clavis.toml");
    std::fs::write(
        &p,
        format!(
            "state_dir = \"{state}\"\n[server]\npublic_url = \"{ORIGIN}\"\n[psc]\n{psc}\nclient_secret_file = \"{secret}\"\n",
            state = dir.join("state").display(),
            secret = secret.display(),
        ),
    )
    .expect("config");
    p
}

#[test]
fn check_config_names_each_psc_problem_by_its_key() {
    let dir = tempfile::tempdir().expect("dir");
    let p = dir.path().join("clavis.toml");
    std::fs::write(
        &p,
        "[psc]\nenabled = true\nissuer = \"http://psc.example.org/realms/x\"\nlink_validity_days = 1000\nclient_secret_file = \"relative/secret\"\n",
    )
    .expect("config");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_clavis"))
        .args(["check-config"])
        .arg(&p)
        .env("CLAVIS_LANG", "en")
        .output()
        .expect("runs");
    assert!(!o.status.success());
    let text = out(&o);
    for key in [
        "psc.issuer",
        "psc.client_id",
        "psc.tid",
        "psc.link_validity_days",
        "psc.client_secret_file",
        "server.public_url",
    ] {
        assert!(text.contains(key), "{key} named: {text}");
    }
}

#[test]
fn psc_status_checks_psc_and_the_registration_then_links_are_listed_and_removed() {
    let psc = StandIn::start(&[("WALLET_DISCOVERY_ONLY", "1")]);
    let dir = tempfile::tempdir().expect("dir");
    let cfg = config(
        dir.path(),
        &format!(
            "enabled = true\nissuer = \"{}\"\nclient_id = \"{PSC_CLIENT}\"\ntid = \"{TID}\"",
            psc.issuer
        ),
    );
    assert!(clavis(&cfg, &["migrate"]).status.success());
    // PSC answers, but no application is marked as PSC yet.
    let o = clavis(&cfg, &["psc", "status", "--json"]);
    assert!(!o.status.success(), "{}", out(&o));
    assert!(
        out(&o).contains("no application is marked as Pro Santé Connect"),
        "{}",
        out(&o)
    );
    let o = clavis(
        &cfg,
        &[
            "client",
            "add",
            "--name",
            "Pro Santé Connect",
            "--redirect-uri",
            BROKER_CB,
            "--psc",
        ],
    );
    assert!(o.status.success(), "{}", out(&o));
    let o = clavis(&cfg, &["psc", "status", "--json"]);
    assert!(o.status.success(), "{}", out(&o));
    let v: Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["jwks_keys"], 3, "RS256, ES256 and PS256 keys: {v}");
    assert_eq!(v["redirect_uri"], format!("{ORIGIN}/psc/callback"));
    assert_eq!(v["client_auth"], "client_secret_basic");
    assert_eq!(v["fi_tiers"]["tid"], TID);
    assert_eq!(v["fi_tiers"]["amr"]["badge"], json!(["sc", "pin", "mfa"]));
    assert!(
        v["metadata"]["token_endpoint"]
            .as_str()
            .is_some_and(|t| t.ends_with("/protocol/openid-connect/token"))
    );
    // A link, stored as a verified answer would store it.
    let db_url = format!("sqlite://{}", dir.path().join("state/clavis.db").display());
    let o = clavis(
        &cfg,
        &[
            "identity",
            "add",
            "--birth-name",
            "LEMOINE",
            "--given-names",
            "Claire",
            "--birth-date",
            "1985-03-02",
        ],
    );
    assert!(o.status.success(), "{}", out(&o));
    let oid: clavis_core::Oid = String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .find_map(|w| w.parse().ok())
        .expect("the new oid is printed");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let now = clavis_core::SystemClock.now().timestamp();
    rt.block_on(async {
        let db = clavis_store::Db::open(&db_url, 1).expect("db");
        let mut conn = db.conn().await.expect("conn");
        a_link(oid, now, 10).save(&mut conn).await.expect("link");
    });
    let o = clavis(&cfg, &["psc", "links", "--json"]);
    let v: Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v[0]["national_id"], CLAIRE.national_id);
    let o = clavis(
        &cfg,
        &["psc", "links", "--expiring-within-days", "5", "--json"],
    );
    assert_eq!(
        serde_json::from_slice::<Value>(&o.stdout).expect("json"),
        json!([])
    );
    let o = clavis(
        &cfg,
        &["psc", "links", "--expiring-within-days", "30", "--json"],
    );
    assert_eq!(
        serde_json::from_slice::<Value>(&o.stdout).expect("json")[0]["oid"],
        oid.to_string()
    );
    let o = clavis(
        &cfg,
        &[
            "psc",
            "unlink",
            &oid.to_string(),
            "--reason",
            "RPPS under review",
        ],
    );
    assert!(o.status.success(), "{}", out(&o));
    let o = clavis(
        &cfg,
        &["psc", "links", "--identity", &oid.to_string(), "--json"],
    );
    let v: Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v[0]["revoked_reason"], "by_operator");
    assert!(
        v[0]["revoked_by"]
            .as_str()
            .is_some_and(|a| a.starts_with("cli:")),
        "{v}"
    );
    let o = clavis(
        &cfg,
        &["psc", "unlink", &oid.to_string(), "--reason", "again"],
    );
    assert!(!o.status.success());
    assert!(out(&o).contains("no standing link"), "{}", out(&o));
    let audited = rt.block_on(async {
        let db = clavis_store::Db::open(&db_url, 1).expect("db");
        crate::support::audit::events_after(&db, 0).await
    });
    let unlinked: Vec<&Value> = audited
        .iter()
        .filter(|e| e["action"] == "psc.unlinked")
        .collect();
    assert_eq!(unlinked.len(), 1);
    assert_eq!(unlinked[0]["changes"]["note"], "RPPS under review");
}

async fn operators_read_and_revoke_a_link_through_the_admin_api(backend: Backend) {
    let t = TestApp::on(backend)
        .with_nurse()
        .with_admin_token()
        .start()
        .await;
    let oid = t.nurse().oid;
    let now = t.clock.now().timestamp();
    let mut conn = t.t.db.conn().await.expect("conn");
    a_link(oid, now, 1).save(&mut conn).await.expect("link");
    let svc = t.service().await;
    let path = format!("/admin/api/identities/{oid}/psc-link");
    let r = call_service(&svc, TestRequest::get().uri(&path).to_request()).await;
    assert_eq!(r.status(), 401, "no token, no link");
    let r = call_service(
        &svc,
        TestRequest::get()
            .uri(&path)
            .insert_header(t.admin_auth())
            .to_request(),
    )
    .await;
    let v = json_of(r).await;
    assert_eq!(v["national_id"], CLAIRE.national_id);
    assert_eq!(v["state"], "valid");
    let revoke = |body: Value| {
        TestRequest::post()
            .uri(&format!("{path}/revoke"))
            .insert_header(t.admin_auth())
            .set_json(body)
            .to_request()
    };
    assert_eq!(
        call_service(&svc, revoke(json!({"reason": ""})))
            .await
            .status(),
        400
    );
    let r = call_service(&svc, revoke(json!({"reason": "HR check"}))).await;
    assert_eq!(r.status(), 200);
    let link = link_of(&t).await.expect("kept");
    assert_eq!(link.revoked_reason, Some(PscUnlinkReason::ByOperator));
    assert_eq!(link.revoked_by, Some(clavis_core::Actor::Api("dsi".into())));
    assert_eq!(
        call_service(&svc, revoke(json!({"reason": "again"})))
            .await
            .status(),
        404
    );
}
