//! The command line: what `clavis` accepts (clap), and the context every
//! command runs with ([`Ctx`]: the loaded configuration, the clock, the
//! operator's name, the database).
//!
//! One file per command group, each with its own `…Cmd` and a `run`:
//! [`identity`], [`cases`], [`audit`], [`token`], [`session`], [`admin`],
//! [`sync`], [`enrol`] (`enrol-link`), [`oidc`] (clients, keys,
//! habilitations), [`badge`] (workstations, badges), [`setup`] (migrate,
//! check-config, print-default-config), [`package_files`] (man pages and
//! completions for the packages, hidden). Commands parse, call one service of
//! a capability crate and print; the rules live in the crates. Output is
//! French first (`t`), with English under `LANG=en…`.

pub mod admin;
pub mod audit;
pub mod backup;
pub mod badge;
pub mod cases;
pub mod enrol;
pub mod identity;
pub mod oidc;
pub mod package_files;
pub mod psc;
pub mod security_key;
pub mod session;
pub mod setup;
pub mod sync;
pub mod token;

use crate::config::Config;
use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};
use clavis_core::{Clock, Oid, SystemClock};
use clavis_directory::service;
use clavis_store::{Db, DbConn, migrate};
use serde::Serialize;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// `clavis [--config FILE] COMMAND …`
#[derive(Debug, Parser)]
#[command(
    name = "clavis",
    version,
    about = "Clavis — annuaire d'identités, 2FA, SSO et OIDC pour l'hôpital"
)]
pub struct Cli {
    /// Configuration file (default: /etc/clavis/clavis.toml when the package
    /// installed it, else the embedded default, SQLite under ./clavis-data).
    #[arg(long, global = true, env = "CLAVIS_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

/// Every command.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the appliance (HTTP, periodic syncs, lifecycle).
    Serve,
    /// Apply pending database migrations.
    Migrate,
    /// Check a configuration file and list every problem.
    CheckConfig {
        /// The file to check (default: --config).
        file: Option<PathBuf>,
    },
    /// Print the documented example configuration.
    PrintDefaultConfig,
    /// Synchronise directory sources.
    Sync(sync::SyncArgs),
    /// Look at identities.
    #[command(subcommand)]
    Identity(identity::IdentityCmd),
    /// Reconciliation cases waiting for an operator.
    #[command(subcommand)]
    Cases(cases::CasesCmd),
    /// The audit log.
    #[command(subcommand)]
    Audit(audit::AuditCmd),
    /// Admin API tokens.
    #[command(subcommand, name = "api-token")]
    ApiToken(token::TokenCmd),
    /// Issue a one-time link to enrol a first security key.
    EnrolLink(enrol::EnrolLinkArgs),
    /// Copy the database while the service runs (SQLite).
    Backup(backup::BackupArgs),
    /// Put a copy back, the service stopped (SQLite).
    Restore(backup::RestoreArgs),
    /// People's FIDO2 security keys: list, revoke a lost one.
    #[command(subcommand, name = "security-key")]
    SecurityKey(security_key::SecurityKeyCmd),
    /// SSO sessions.
    #[command(subcommand)]
    Session(session::SessionCmd),
    /// Administration of Clavis itself.
    #[command(subcommand)]
    Admin(admin::AdminCmd),
    /// Applications (OpenID Connect clients).
    #[command(subcommand)]
    Client(oidc::ClientCmd),
    /// OpenID signing keys.
    #[command(subcommand)]
    Keys(oidc::KeysCmd),
    /// Roles of people in applications.
    #[command(subcommand)]
    Habilitation(oidc::HabilitationCmd),
    /// Workstations whose agent reads badges.
    #[command(subcommand)]
    Workstation(badge::WorkstationCmd),
    /// DESFire badges: list, enrol, temporary badges, revocation, PIN.
    #[command(subcommand)]
    Badge(badge::BadgeCmd),
    /// Pro Santé Connect: status, links to the national identity.
    #[command(subcommand)]
    Psc(psc::PscCmd),
    /// Write the man pages and shell completions the packages ship
    /// (scripts/package; hidden: no operator needs it).
    #[command(hide = true)]
    PackageFiles {
        /// Directory to write `man/` and `completions/` in.
        out: PathBuf,
    },
}

/// Runs one command (`serve` and the commands that need no configuration
/// are started by `main`).
pub async fn run(ctx: &Ctx, command: Command) -> Result<ExitCode> {
    match command {
        Command::Migrate => setup::migrate(ctx).await?,
        Command::Sync(args) => return sync::run(ctx, args).await,
        Command::Identity(cmd) => identity::run(ctx, cmd).await?,
        Command::Cases(cmd) => cases::run(ctx, cmd).await?,
        Command::Audit(cmd) => return audit::run(ctx, cmd).await,
        Command::ApiToken(cmd) => token::run(ctx, cmd).await?,
        Command::EnrolLink(args) => enrol::run(ctx, args).await?,
        Command::SecurityKey(cmd) => security_key::run(ctx, cmd).await?,
        Command::Backup(args) => backup::backup(ctx, args).await?,
        Command::Restore(args) => backup::restore(ctx, args).await?,
        Command::Session(cmd) => session::run(ctx, cmd).await?,
        Command::Admin(cmd) => admin::run(ctx, cmd).await?,
        Command::Client(cmd) => oidc::client(ctx, cmd).await?,
        Command::Keys(cmd) => oidc::keys(ctx, cmd).await?,
        Command::Habilitation(cmd) => oidc::habilitation(ctx, cmd).await?,
        Command::Workstation(cmd) => badge::workstation(ctx, cmd).await?,
        Command::Badge(cmd) => badge::badge(ctx, cmd).await?,
        Command::Psc(cmd) => psc::run(ctx, cmd).await?,
        Command::Serve
        | Command::CheckConfig { .. }
        | Command::PrintDefaultConfig
        | Command::PackageFiles { .. } => {}
    }
    Ok(ExitCode::SUCCESS)
}

/// What every command runs with.
#[derive(Debug)]
pub struct Ctx {
    /// The loaded, validated configuration.
    pub cfg: Config,
    /// The clock (the system's).
    pub clock: Arc<dyn Clock>,
    /// Who acts, for the audit: `cli:<user>` (`SUDO_USER`, else `USER`).
    pub operator: clavis_core::Actor,
}

impl Ctx {
    /// The context of a command run under `cfg` by the current user.
    pub fn new(cfg: Config) -> Self {
        let user = std::env::var("SUDO_USER")
            .or_else(|_| std::env::var("USER"))
            .unwrap_or_else(|_| "unknown".into());
        Ctx {
            cfg,
            clock: Arc::new(SystemClock),
            operator: clavis_core::Actor::Cli(user),
        }
    }

    /// Now, by the clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The database, migrations applied first (on SQLite, its lock held
    /// shared: see [`backup::hold_shared`]).
    pub async fn db(&self) -> Result<Db> {
        backup::hold_shared(&self.cfg)?;
        open_db(&self.cfg, true, false).await
    }

    /// The master key the service uses (never created here: see
    /// [`crate::master_key::load_for_command`]), checked against the
    /// database ([`crate::master_key::check`]), so that a command never
    /// seals anything under another key.
    pub async fn master_key(&self, db: &Db) -> Result<clavis_core::master_key::MasterKey> {
        let path = crate::master_key::location(&self.cfg.master_key_file());
        let master = crate::master_key::load_for_command(&self.cfg.master_key_file())?;
        crate::master_key::check(db, &master, &path, self.now().timestamp()).await?;
        Ok(master)
    }

    /// The database as it is (for `clavis migrate` itself).
    pub async fn db_unmigrated(&self) -> Result<Db> {
        backup::hold_shared(&self.cfg)?;
        open_db(&self.cfg, false, false).await
    }

    /// The database for `clavis serve` (its pool tuned for a server),
    /// migrations applied first.
    pub async fn server_db(&self) -> Result<Db> {
        open_db(&self.cfg, true, true).await
    }
}

async fn open_db(cfg: &Config, migrate_first: bool, server: bool) -> Result<Db> {
    let url = cfg.database_url();
    let size = cfg.database.max_connections.unwrap_or(8);
    let db = if server {
        Db::open_for_server(&url, size)
    } else {
        Db::open(&url, size)
    }
    .context("database configuration")?;
    if migrate_first {
        migrate::run_pending(&db)
            .await
            .context("database migration")?;
    }
    Ok(db)
}

/// French first; `LANG=en…` (or `CLAVIS_LANG=en`) gives English.
pub fn t(fr: &'static str, en: &'static str) -> &'static str {
    let english = std::env::var("CLAVIS_LANG")
        .or_else(|_| std::env::var("LANG"))
        .map(|l| l.starts_with("en"))
        .unwrap_or(false);
    if english { en } else { fr }
}

/// The oid of the identity `key` names (oid, RPPS or login), or an error
/// saying none does.
pub async fn resolve_identity(conn: &mut DbConn, key: &str) -> Result<Oid> {
    match service::find_identity(conn, key).await? {
        Some(i) => Ok(i.oid),
        None => bail!(
            "{} {key:?}",
            t("aucune identité ne correspond à", "no identity matches")
        ),
    }
}

/// What a paged list's text output says after its count: how to ask for
/// the next page, if there is one.
pub fn more_after(next_offset: Option<i64>) -> String {
    match next_offset {
        Some(next) => format!("; {} --offset {next}", t("suite :", "more:")),
        None => String::new(),
    }
}

/// Prints `value` as indented JSON on standard output (`--json`).
pub fn print_json<T: Serialize + ?Sized>(value: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Prints a one-time enrolment link: the URL alone on standard output (its
/// validity on standard error), or both as JSON.
pub fn print_link(link: &clavis_authn::EnrolmentLink, json: bool) -> Result<()> {
    if json {
        println!(
            "{}",
            serde_json::json!({"url": link.url.expose(), "expires_at": link.expires_at})
        );
    } else {
        eprintln!(
            "{} {}",
            t(
                "lien à usage unique, valable jusqu'au",
                "one-time link, valid until"
            ),
            link.expires_at.to_rfc3339()
        );
        println!("{}", link.url.expose());
    }
    Ok(())
}

/// Who must hear about departures: SSO sessions end and keys are
/// suspended in the directory's transaction.
pub fn subscribers() -> clavis_directory::lifecycle::Subscribers {
    vec![
        Arc::new(clavis_sso::SsoLifecycle),
        Arc::new(clavis_authn::AuthnLifecycle),
        Arc::new(clavis_federation::link::PscLifecycle),
    ]
}
