//! `clavis backup` and `clavis restore`: the embedded SQLite database
//! copied while the service runs, and put back with the service stopped.
//! PostgreSQL is backed up with `pg_dump` (docs/operations.md).
//!
//! The master key is not in a copy (a copy that held it would open
//! everything it seals): it is backed up on its own, and a restore checks
//! that the key here is the one the copy was sealed under.

use super::{Ctx, t};
use crate::config::Config;
use anyhow::{Context, Result, bail};
use clap::Args;
use clavis_core::{AuditAction, Clock};
use clavis_store::backup::{CopyFacts, check_copy, snapshot};
use serde_json::json;
use std::path::{Path, PathBuf};

/// `clavis backup --to FILE [--json]`
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The copy to write (must not exist yet).
    #[arg(long)]
    to: PathBuf,
    #[arg(long)]
    json: bool,
}

/// `clavis restore --from FILE`
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// A copy written by `clavis backup`.
    #[arg(long)]
    from: PathBuf,
    #[arg(long)]
    json: bool,
}

/// The SQLite file of this configuration, or `None` on PostgreSQL.
pub fn sqlite_path(cfg: &Config) -> Option<PathBuf> {
    clavis_store::sqlite_file(&cfg.database_url())
}

/// The lock `serve` holds shared while it runs on `db` and `restore` takes
/// alone: a restore never replaces a database in use.
pub fn lock_file(db: &Path) -> Result<std::fs::File> {
    let mut name = db.as_os_str().to_owned();
    name.push(".lock");
    let path = PathBuf::from(name);
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| path.display().to_string())
}

/// Holds the database's lock shared for the rest of this process (`serve`
/// and every command that opens the database): `clavis restore`, which
/// takes it alone, never swaps the file from under them. Nothing on
/// PostgreSQL.
pub fn hold_shared(cfg: &Config) -> Result<()> {
    static HELD: std::sync::Mutex<Option<std::fs::File>> = std::sync::Mutex::new(None);
    let Some(db) = sqlite_path(cfg) else {
        return Ok(());
    };
    let mut held = HELD.lock().unwrap_or_else(|p| p.into_inner());
    if held.is_some() {
        return Ok(());
    }
    if let Some(dir) = db.parent() {
        std::fs::create_dir_all(dir).with_context(|| dir.display().to_string())?;
    }
    let f = lock_file(&db)?;
    if f.try_lock_shared().is_err() {
        bail!(
            "{}",
            t(
                "une restauration de la base est en cours (clavis restore) : attendez qu'elle finisse",
                "a restore of the database is under way (clavis restore): wait for it to finish"
            )
        );
    }
    *held = Some(f);
    Ok(())
}

fn pg_dump_advice() -> anyhow::Error {
    anyhow::anyhow!(
        "{}",
        t(
            "la base est PostgreSQL : sauvegardez-la avec pg_dump --format=custom et restaurez-la avec \
             pg_restore (docs/operations.md, « Sauvegarde et restauration »)",
            "the database is PostgreSQL: back it up with pg_dump --format=custom and restore it with \
             pg_restore (docs/operations.md, \"Backup and restore\")"
        )
    )
}

fn print_facts(what: &str, path: &Path, facts: &CopyFacts, json: bool) -> Result<()> {
    if json {
        println!(
            "{}",
            json!({"file": path, "schema_version": facts.schema_version, "identities": facts.identities,
                   "sessions": facts.sessions, "audit_events": facts.audit_events,
                   "last_event_at": facts.last_event_at.and_then(chrono::DateTime::from_timestamp_micros)})
        );
    } else {
        println!("{what} {}", path.display());
        println!(
            "  {} {} · {} {} · {} {}",
            facts.identities,
            t("identités", "identities"),
            facts.sessions,
            t("sessions", "sessions"),
            facts.audit_events,
            t("événements d'audit", "audit events"),
        );
    }
    Ok(())
}

/// Runs `clavis backup`.
pub async fn backup(ctx: &Ctx, args: BackupArgs) -> Result<()> {
    if sqlite_path(&ctx.cfg).is_none() {
        return Err(pg_dump_advice());
    }
    if args.to.exists() {
        bail!(
            "{}: {}",
            args.to.display(),
            t(
                "existe déjà ; rien n'a été écrit",
                "exists already; nothing was written"
            )
        );
    }
    let db = ctx.db().await?;
    snapshot(&db, &args.to)
        .await
        .with_context(|| args.to.display().to_string())?;
    let facts = check_copy(&args.to)?;
    // Audited once the copy is whole (in the database, not in the copy).
    let mut conn = db.conn().await?;
    clavis_audit::AuditEvent::new(
        &ctx.operator,
        AuditAction::BackupTaken,
        None,
        json!({"to": args.to, "schema_version": facts.schema_version, "identities": facts.identities,
               "audit_events": facts.audit_events}),
    )
    .record(&mut conn, ctx.now())
    .await?;
    drop(conn);
    print_facts(
        t("copie écrite :", "copy written:"),
        &args.to,
        &facts,
        args.json,
    )?;
    if !args.json {
        eprintln!(
            "{} {}",
            t(
                "La clé maître n'est pas dans la copie : sauvegardez-la à part, elle seule ouvre les clés de signature et les codes PIN :",
                "The master key is not in the copy: back it up on its own, only it opens the signing keys and the PINs:"
            ),
            crate::master_key::location(&ctx.cfg.master_key_file()).display()
        );
    }
    Ok(())
}

/// `db` with `suffix` appended to its name.
fn side(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Moves an SQLite database and its WAL and shared-memory files together
/// (they are one database).
fn move_db(from: &Path, to: &Path) -> Result<()> {
    std::fs::rename(from, to).with_context(|| from.display().to_string())?;
    for suffix in ["-wal", "-shm"] {
        let f = side(from, suffix);
        if f.exists() {
            std::fs::rename(&f, side(to, suffix)).with_context(|| f.display().to_string())?;
        }
    }
    Ok(())
}

/// Removes an SQLite database and its side files.
fn remove_db(db: &Path) -> std::io::Result<()> {
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(side(db, suffix));
    }
    std::fs::remove_file(db)
}

/// Readable by its owner only.
fn restrict(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| path.display().to_string())?;
    }
    Ok(())
}

/// The staged copy made ready: migrated, checked against the master key
/// here (a copy without a fingerprint against its signing keys), the
/// restore audited in it, its WAL folded in and closed.
async fn prepare(
    ctx: &Ctx,
    staged: &Path,
    master: &clavis_core::master_key::MasterKey,
    args: &RestoreArgs,
    facts: &CopyFacts,
    kept: Option<&Path>,
) -> Result<()> {
    let db = clavis_store::Db::open(&format!("sqlite://{}", staged.display()), 1)?;
    clavis_store::migrate::run_pending(&db)
        .await
        .context("database migration")?;
    crate::master_key::check(
        &db,
        master,
        &crate::master_key::location(&ctx.cfg.master_key_file()),
        ctx.now().timestamp(),
    )
    .await?;
    let mut conn = db.conn().await?;
    clavis_audit::AuditEvent::new(
        &ctx.operator,
        AuditAction::BackupRestored,
        None,
        json!({"from": args.from, "schema_version": facts.schema_version, "identities": facts.identities,
               "sessions": facts.sessions, "audit_events": facts.audit_events, "replaced_kept_as": kept}),
    )
    .record(&mut conn, ctx.now())
    .await?;
    drop(conn);
    db.checkpoint(0).await?;
    drop(db);
    Ok(())
}

/// Runs `clavis restore`: the service must be stopped. The copy is checked
/// (whole, a Clavis database, sealed under the master key here), the
/// current database is kept beside it (`….before-restore-<time>`), the
/// copy takes its place, and the restore is audited in it.
pub async fn restore(ctx: &Ctx, args: RestoreArgs) -> Result<()> {
    let Some(db_path) = sqlite_path(&ctx.cfg) else {
        return Err(pg_dump_advice());
    };
    if let Some(dir) = db_path.parent() {
        std::fs::create_dir_all(dir).with_context(|| dir.display().to_string())?;
    }
    let lock = lock_file(&db_path)?;
    if lock.try_lock().is_err() {
        bail!(
            "{}",
            t(
                "le service utilise cette base : arrêtez-le d'abord (systemctl stop clavis) ; rien n'a été changé",
                "the service is using this database: stop it first (systemctl stop clavis); nothing was changed"
            )
        );
    }
    let facts = check_copy(&args.from)?;
    let master = crate::master_key::load_for_command(&ctx.cfg.master_key_file())?;
    if let Some(recorded) = &facts.master_key_fingerprint
        && !clavis_core::secret::constant_time_eq(
            recorded.as_bytes(),
            crate::master_key::fingerprint(&master).as_bytes(),
        )
    {
        bail!(
            "{}: {}",
            args.from.display(),
            t(
                "cette copie a été scellée sous une autre clé maître que celle d'ici ; restaurez d'abord la clé qui allait avec elle. Rien n'a été changé.",
                "this copy was sealed under another master key than the one here; restore the key that went with it first. Nothing was changed."
            )
        );
    }
    // The copy beside the database, owner-only, checked as it will be
    // used (migrated to this version, sealed under the key here, the
    // restore audited in it) before anything is swapped.
    let staged = side(&db_path, ".restoring");
    let _ = remove_db(&staged);
    std::fs::copy(&args.from, &staged).with_context(|| staged.display().to_string())?;
    restrict(&staged)?;
    let stamp = clavis_core::clock::SystemClock
        .now()
        .format("%Y%m%dT%H%M%SZ");
    let kept = db_path
        .exists()
        .then(|| side(&db_path, &format!(".before-restore-{stamp}")));
    if let Err(e) = prepare(ctx, &staged, &master, &args, &facts, kept.as_deref()).await {
        let _ = remove_db(&staged);
        return Err(e.context(t(
            "la copie n'a pas été restaurée ; rien n'a été changé",
            "the copy was not restored; nothing was changed",
        )));
    }
    // The swap: the database (with its WAL) kept aside, the copy in place.
    if let Some(old) = &kept {
        move_db(&db_path, old)?;
    }
    for suffix in ["-wal", "-shm"] {
        let stray = side(&db_path, suffix);
        if stray.exists() {
            // Another process opened the database meanwhile: undo.
            if let Some(old) = &kept {
                move_db(old, &db_path)?;
            }
            bail!(
                "{}: {}",
                stray.display(),
                t(
                    "un autre processus a ouvert la base pendant la restauration ; rien n'a été changé",
                    "another process opened the database during the restore; nothing was changed"
                )
            );
        }
    }
    move_db(&staged, &db_path)?;
    drop(lock);
    print_facts(
        t("restaurée depuis", "restored from"),
        &args.from,
        &facts,
        args.json,
    )?;
    if !args.json
        && let Some(at) = facts
            .last_event_at
            .and_then(chrono::DateTime::from_timestamp_micros)
    {
        eprintln!(
            "{} {}",
            t(
                "Tout ce qui a suivi la copie est perdu, révocations comprises (badges ou clés volés, jetons, comptes désactivés) : refaites celles d'après le",
                "Everything after the copy is lost, revocations included (stolen badges or keys, tokens, disabled accounts): redo those made after"
            ),
            at.format("%Y-%m-%d %H:%M:%S UTC")
        );
    }
    if let Some(old) = kept
        && !args.json
    {
        println!(
            "  {} {}",
            t(
                "l'ancienne base est gardée :",
                "the previous database is kept:"
            ),
            old.display()
        );
    }
    Ok(())
}
