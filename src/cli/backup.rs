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
    let url = cfg.database_url();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return None;
    }
    Some(PathBuf::from(url.strip_prefix("sqlite://").unwrap_or(&url)))
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
                   "sessions": facts.sessions, "audit_events": facts.audit_events})
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
    // Audited first, so that the copy holds the record of its own making.
    let mut conn = db.conn().await?;
    clavis_audit::AuditEvent::new(
        &ctx.operator,
        AuditAction::BackupTaken,
        None,
        json!({"to": args.to}),
    )
    .record(&mut conn, ctx.now())
    .await?;
    drop(conn);
    snapshot(&db, &args.to)
        .await
        .with_context(|| args.to.display().to_string())?;
    let facts = check_copy(&args.to)?;
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
    // The copy, whole, beside the database; then the swap.
    let mut staged = db_path.as_os_str().to_owned();
    staged.push(".restoring");
    let staged = PathBuf::from(staged);
    std::fs::copy(&args.from, &staged).with_context(|| staged.display().to_string())?;
    std::fs::File::open(&staged)
        .and_then(|f| f.sync_all())
        .with_context(|| staged.display().to_string())?;
    let stamp = clavis_core::clock::SystemClock
        .now()
        .format("%Y%m%dT%H%M%SZ");
    let mut kept = None;
    if db_path.exists() {
        let mut old = db_path.as_os_str().to_owned();
        old.push(format!(".before-restore-{stamp}"));
        let old = PathBuf::from(old);
        std::fs::rename(&db_path, &old).with_context(|| old.display().to_string())?;
        // Its WAL goes with it: they are one database.
        for suffix in ["-wal", "-shm"] {
            let mut side = db_path.as_os_str().to_owned();
            side.push(suffix);
            let side = PathBuf::from(side);
            if side.exists() {
                let mut to = old.as_os_str().to_owned();
                to.push(suffix);
                std::fs::rename(&side, PathBuf::from(to))
                    .with_context(|| side.display().to_string())?;
            }
        }
        kept = Some(old);
    }
    std::fs::rename(&staged, &db_path).with_context(|| db_path.display().to_string())?;
    // Now the database here: migrated to this version, the master key
    // checked against it (a copy without a fingerprint is checked against
    // its signing keys), the restore audited in it.
    let db = ctx.db().await?;
    crate::master_key::check(
        &db,
        &master,
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
    drop(lock);
    print_facts(
        t("restaurée depuis", "restored from"),
        &args.from,
        &facts,
        args.json,
    )?;
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
