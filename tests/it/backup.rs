//! Backup and restore of the embedded SQLite database, with the real
//! binary: a copy taken while `clavis serve` runs and writes go on, put
//! back on a fresh machine (the master key carried on its own), where the
//! same session cookie, the same signing keys and an audit chain that
//! verifies are found. A restore never replaces a database in use, nor
//! takes a copy sealed under another master key.

use crate::restart::{get, serve};
use crate::support::binary::{clavis, open_session};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A configuration in `dir` for a server on `port`: (its file, its database
/// URL).
fn machine(dir: &Path, port: u16) -> (PathBuf, String) {
    let db_url = format!("sqlite://{}", dir.join("state/clavis.db").display());
    let config = dir.join("clavis.toml");
    std::fs::write(
        &config,
        format!(
            "state_dir = \"{state}\"\n[server]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"http://localhost:{port}\"\n",
            state = dir.join("state").display(),
        ),
    )
    .expect("config");
    (config, db_url)
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_under_load_restores_on_a_fresh_machine() {
    // Machine A serves; Claire is signed in.
    let a = tempfile::tempdir().expect("dir");
    let port_a = clavis_testkit::free_port();
    let (config_a, url_a) = machine(a.path(), port_a);
    let server_a = serve(&config_a, port_a);
    let db_a = clavis_store::Db::open(&url_a, 4).expect("A's database");
    let claire = clavis_testkit::people::insert_person(
        &db_a,
        "Lemoine",
        "Claire",
        clavis_core::LifecycleStatus::Active,
    )
    .await;
    let cookie = open_session(&db_a, claire).await;
    let jwks_a = get(port_a, "/oidc/jwks", None).expect("jwks").1;
    // Writes go on while the copy is taken.
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (db, stop) = (db_a.clone(), stop.clone());
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                open_session(&db, claire).await;
                n += 1;
            }
            n
        })
    };
    let copy = a.path().join("clavis-backup.db");
    let out = clavis(
        &config_a,
        &["backup", "--to", copy.to_str().expect("utf-8"), "--json"],
    );
    stop.store(true, Ordering::Relaxed);
    let written = load.await.expect("load");
    let facts: serde_json::Value = serde_json::from_str(&ok(&out)).expect("json");
    assert!(written > 0, "sessions were written during the backup");
    assert!(
        facts["sessions"].as_i64().expect("sessions") >= 1,
        "{facts}"
    );
    assert_eq!(facts["identities"], 1, "{facts}");
    // Readable by its owner only; the backup audited in A once whole.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&copy).expect("copy").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let mut conn = db_a.conn().await.expect("conn");
    let taken = clavis_store::models::AuditEventRow::page(&mut conn, 0, 100_000)
        .await
        .expect("audit")
        .into_iter()
        .filter(|e| e.action == "backup.taken")
        .count();
    assert_eq!(taken, 1);
    drop(conn);
    // A second backup to the same file is refused and changes nothing.
    let size = std::fs::metadata(&copy).expect("copy").len();
    let out = clavis(
        &config_a,
        &["backup", "--to", copy.to_str().expect("utf-8")],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("exists already"));
    assert_eq!(std::fs::metadata(&copy).expect("copy").len(), size);
    drop(server_a);

    // Machine B, fresh: with another master key the copy is refused.
    let b = tempfile::tempdir().expect("dir");
    let port_b = clavis_testkit::free_port();
    let (config_b, _) = machine(b.path(), port_b);
    std::fs::create_dir_all(b.path().join("state")).expect("state");
    let key_b = b.path().join("state/master.key");
    std::fs::write(&key_b, format!("{}\n", "cd".repeat(32))).expect("key");
    let out = clavis(
        &config_b,
        &["restore", "--from", copy.to_str().expect("utf-8")],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("another master key"), "{err}");
    assert!(
        !b.path().join("state/clavis.db").exists(),
        "nothing restored"
    );
    // With A's key, carried on its own: restored.
    std::fs::copy(a.path().join("state/master.key"), &key_b).expect("key");
    ok(&clavis(
        &config_b,
        &["restore", "--from", copy.to_str().expect("utf-8")],
    ));
    let server_b = serve(&config_b, port_b);
    let (status, body) = get(port_b, "/me", Some(&cookie)).expect("answer");
    assert_eq!(status, 200, "the same session: {body}");
    assert!(body.contains("Claire Lemoine"), "{body}");
    assert_eq!(
        get(port_b, "/oidc/jwks", None).expect("jwks").1,
        jwks_a,
        "the same signing keys"
    );
    // Not while B serves.
    let out = clavis(
        &config_b,
        &["restore", "--from", copy.to_str().expect("utf-8")],
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("stop it first"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(server_b);
    // The audit chain verifies, the restore at its end.
    ok(&clavis(&config_b, &["audit", "verify"]));
    let db_b = clavis_store::Db::open(
        &format!("sqlite://{}", b.path().join("state/clavis.db").display()),
        2,
    )
    .expect("B's database");
    let mut conn = db_b.conn().await.expect("conn");
    let events = clavis_store::models::AuditEventRow::page(&mut conn, 0, 10_000)
        .await
        .expect("audit");
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert!(actions.contains(&"backup.restored"), "{actions:?}");
}
