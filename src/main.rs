//! `clavis`: the identity appliance's single binary.
//!
//! This file is the CLI and start-up only: it loads the configuration,
//! opens the database and calls the capability crates. No business logic.

#[path = "cli/badge.rs"]
mod badge_cli;
mod config;
#[path = "cli/oidc.rs"]
mod oidc_cli;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use clavis_core::{Clock, SystemClock};
use clavis_directory::service::{self, Resolution};
use clavis_directory::{SyncEngine, SyncOptions, SyncReport};
use clavis_store::{Db, migrate};
use config::Config;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, Parser)]
#[command(
    name = "clavis",
    version,
    about = "Clavis — annuaire d'identités, 2FA, SSO et OIDC pour l'hôpital"
)]
struct Cli {
    /// Configuration file (default: the embedded default, SQLite under ./clavis-data).
    #[arg(long, global = true, env = "CLAVIS_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
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
    Sync(SyncArgs),
    /// Look at identities.
    #[command(subcommand)]
    Identity(IdentityCmd),
    /// Reconciliation cases waiting for an operator.
    #[command(subcommand)]
    Cases(CasesCmd),
    /// The audit log.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// Admin API tokens.
    #[command(subcommand, name = "api-token")]
    ApiToken(TokenCmd),
    /// Issue a one-time link to enrol a first security key.
    EnrolLink {
        /// The identity: oid, RPPS or login.
        key: String,
        /// Validity (default: authn.enrolment_link_hours, 24).
        #[arg(long)]
        valid_hours: Option<i64>,
        #[arg(long)]
        json: bool,
    },
    /// SSO sessions.
    #[command(subcommand)]
    Session(SessionCmd),
    /// Administration of Clavis itself.
    #[command(subcommand)]
    Admin(AdminCmd),
    /// Applications (OpenID Connect clients).
    #[command(subcommand)]
    Client(oidc_cli::ClientCmd),
    /// OpenID signing keys.
    #[command(subcommand)]
    Keys(oidc_cli::KeysCmd),
    /// Roles of people in applications.
    #[command(subcommand)]
    Habilitation(oidc_cli::HabilitationCmd),
    /// Workstations whose agent reads badges.
    #[command(subcommand)]
    Workstation(badge_cli::WorkstationCmd),
    /// DESFire badges: list, enrol, temporary badges, revocation, PIN.
    #[command(subcommand)]
    Badge(badge_cli::BadgeCmd),
}

#[derive(Debug, Subcommand)]
enum SessionCmd {
    /// List live sessions.
    List {
        /// Only this identity (oid, RPPS or login).
        #[arg(long)]
        identity: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// End a session, or every session of an identity.
    Revoke {
        /// The session id.
        #[arg(required_unless_present = "identity", conflicts_with = "identity")]
        id: Option<String>,
        /// Every session of this identity (oid, RPPS or login).
        #[arg(long)]
        identity: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum AdminCmd {
    /// Give the first administrator the admin role and an enrolment link,
    /// so a fresh install is administered without any password.
    Bootstrap {
        /// The identity (oid, RPPS or login).
        #[arg(long)]
        identity: String,
        #[arg(long)]
        json: bool,
    },
    /// Give someone a role in Clavis: `admin`, or `badge-office` (the
    /// badge office's pages).
    GrantRole {
        /// The identity (oid, RPPS or login).
        #[arg(long)]
        identity: String,
        #[arg(long, value_parser = ["admin", "badge-office"])]
        role: String,
    },
}

#[derive(Debug, Args)]
struct SyncArgs {
    /// Only this source (default: every source, in order).
    #[arg(long)]
    source: Option<String>,
    /// Read everything (detects departures by disappearance).
    #[arg(long)]
    full: bool,
    /// Compute and report without writing anything.
    #[arg(long)]
    dry_run: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum IdentityCmd {
    /// List identities.
    List {
        /// pending | active | suspended | departed
        #[arg(long)]
        status: Option<String>,
        /// Words to find in names, RPPS, email or login.
        #[arg(long)]
        search: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: i64,
        #[arg(long, default_value_t = 0)]
        offset: i64,
        #[arg(long)]
        json: bool,
    },
    /// Show one identity by oid, RPPS or login.
    Show {
        key: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum CasesCmd {
    /// List open cases (--all for resolved ones too).
    List {
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
    },
    /// Show a case with its candidates.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Decide a case: link the record to an identity, or create a new one.
    Resolve {
        id: String,
        /// The identity (oid, RPPS or login) the record belongs to.
        #[arg(long, conflicts_with = "new", required_unless_present = "new")]
        link: Option<String>,
        /// The record is a new person.
        #[arg(long)]
        new: bool,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCmd {
    /// Walk the hash chain and name the first broken link.
    Verify {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCmd {
    /// Create a token (printed once; only its hash is stored).
    Create {
        #[arg(long)]
        name: String,
    },
    /// Revoke a token.
    Revoke {
        #[arg(long)]
        name: String,
    },
    /// List tokens (names and dates; never the secrets).
    List {
        #[arg(long)]
        json: bool,
    },
}

/// French first; `LANG=en…` gives English.
fn t(fr: &'static str, en: &'static str) -> &'static str {
    let english = std::env::var("CLAVIS_LANG")
        .or_else(|_| std::env::var("LANG"))
        .map(|l| l.starts_with("en"))
        .unwrap_or(false);
    if english { en } else { fr }
}

fn operator() -> String {
    format!(
        "cli:{}",
        std::env::var("SUDO_USER")
            .or_else(|_| std::env::var("USER"))
            .unwrap_or_else(|_| "unknown".into())
    )
}

fn init_logging(cfg: &Config, quiet: bool) {
    let level = if quiet {
        "warn".to_string()
    } else {
        cfg.log.level.clone()
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("CLAVIS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if cfg.log.format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

async fn open_db(cfg: &Config, migrate_first: bool) -> Result<Db> {
    open_db_with(cfg, migrate_first, false).await
}

async fn open_db_with(cfg: &Config, migrate_first: bool, server: bool) -> Result<Db> {
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

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{} {e:#}", t("erreur :", "error:"));
            std::process::ExitCode::FAILURE
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn run(cli: Cli) -> Result<std::process::ExitCode> {
    use std::process::ExitCode;
    if let Command::PrintDefaultConfig = cli.command {
        print!("{}", config::EXAMPLE);
        return Ok(ExitCode::SUCCESS);
    }
    if let Command::CheckConfig { file } = &cli.command {
        let Some(path) = file.clone().or(cli.config.clone()) else {
            bail!(
                "{}",
                t("indiquez le fichier à vérifier", "name the file to check")
            );
        };
        return match config::load(Some(&path)) {
            Ok(_) => {
                println!(
                    "{}: {}",
                    path.display(),
                    t("configuration valide", "configuration is valid")
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                eprint!("{e}");
                Ok(ExitCode::from(2))
            }
        };
    }
    let cfg = match config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprint!("{e}");
            return Ok(ExitCode::from(2));
        }
    };
    let quiet = !matches!(cli.command, Command::Serve | Command::Migrate);
    init_logging(&cfg, quiet);
    if let Command::Serve = cli.command {
        return actix_web::rt::System::new()
            .block_on(serve(cfg))
            .map(|_| ExitCode::SUCCESS);
    }
    runtime()?.block_on(async move {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        match cli.command {
            Command::Migrate => {
                let db = open_db(&cfg, false).await?;
                let done = migrate::run_pending(&db).await?;
                println!(
                    "{} {}",
                    done.len(),
                    t("migration(s) appliquée(s)", "migration(s) applied")
                );
            }
            Command::Sync(args) => return sync(&cfg, clock, args).await,
            Command::Identity(IdentityCmd::List {
                status,
                search,
                limit,
                offset,
                json,
            }) => {
                if let Some(s) = &status {
                    s.parse::<clavis_core::LifecycleStatus>()
                        .map_err(anyhow::Error::msg)?;
                }
                let db = open_db(&cfg, true).await?;
                let list = service::list_identities(
                    &db,
                    status.as_deref(),
                    search.as_deref(),
                    limit,
                    offset,
                )
                .await?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&list)?);
                } else {
                    for i in &list {
                        println!(
                            "{}  {:<9}  {} {}  {}  {}  {}",
                            i.oid,
                            i.status,
                            i.used_family_name
                                .as_deref()
                                .unwrap_or(&i.birth_family_name),
                            i.birth_given_names
                                .first()
                                .map(String::as_str)
                                .unwrap_or(""),
                            i.birth_date.as_deref().unwrap_or("-"),
                            i.rpps.as_deref().unwrap_or("-"),
                            i.logins.join(","),
                        );
                    }
                    eprintln!("{} {}", list.len(), t("identité(s)", "identities"));
                }
            }
            Command::Identity(IdentityCmd::Show { key, json }) => {
                let db = open_db(&cfg, true).await?;
                let d = service::show_identity(&db, &key).await?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&d)?);
                } else {
                    let i = &d.identity;
                    println!("oid              {}", i.oid);
                    println!("{}           {}", t("statut", "status"), i.status);
                    println!(
                        "{} {}",
                        t("nom de naissance", "birth name      "),
                        i.birth_family_name
                    );
                    println!(
                        "{}   {}",
                        t("nom d'usage   ", "used name     "),
                        i.used_family_name.as_deref().unwrap_or("-")
                    );
                    println!(
                        "{}          {}",
                        t("prénoms", "given  "),
                        i.birth_given_names.join(", ")
                    );
                    println!(
                        "{} {}",
                        t("né(e) le        ", "born            "),
                        i.birth_date.as_deref().unwrap_or("-")
                    );
                    println!("RPPS             {}", i.rpps.as_deref().unwrap_or("-"));
                    println!(
                        "{}  {}",
                        t("identifiant nat.", "national id     "),
                        i.national_id.as_deref().unwrap_or("-")
                    );
                    println!(
                        "{}          {}",
                        t("comptes", "logins "),
                        i.logins.join(", ")
                    );
                    println!(
                        "{}          {}",
                        t("contrat", "contract"),
                        i.contract_type.as_deref().unwrap_or("-")
                    );
                    println!(
                        "{}  {} → {}",
                        t("arrivée/départ  ", "arrival/departure"),
                        i.arrival_date.as_deref().unwrap_or("-"),
                        i.departure_date.as_deref().unwrap_or("-")
                    );
                    for s in &i.sources {
                        println!("source           {} / {}", s.source, s.external_id);
                    }
                }
            }
            Command::Cases(cmd) => {
                let db = open_db(&cfg, true).await?;
                match cmd {
                    CasesCmd::List { all, json } => {
                        let list = service::list_cases(&db, all).await?;
                        if json {
                            println!("{}", serde_json::to_string_pretty(&list)?);
                        } else {
                            for c in &list {
                                println!(
                                    "{}  {:<8}  {:<26}  {}  {}",
                                    c.id, c.status, c.reason, c.source, c.entry
                                );
                            }
                            eprintln!("{} {}", list.len(), t("cas", "case(s)"));
                        }
                    }
                    CasesCmd::Show { id, json } => {
                        let c = service::show_case(&db, &id).await?;
                        if json {
                            println!("{}", serde_json::to_string_pretty(&c)?);
                        } else {
                            println!("{} {}  {} ({})", t("cas", "case"), c.id, c.status, c.reason);
                            println!(
                                "{}  {} / {}  [{}]",
                                t("fiche", "record"),
                                c.source,
                                c.external_id,
                                c.entry
                            );
                            println!("{}", serde_json::to_string_pretty(&c.record)?);
                            println!("{}", t("candidats :", "candidates:"));
                            for cand in c.candidates.as_array().into_iter().flatten() {
                                println!(
                                    "  {}  {}",
                                    cand["oid"].as_str().unwrap_or("?"),
                                    cand["why"].as_str().unwrap_or("")
                                );
                            }
                        }
                    }
                    CasesCmd::Resolve { id, link, new } => {
                        let resolution = match (link, new) {
                            (Some(k), false) => Resolution::Link(k),
                            _ => Resolution::CreateNew,
                        };
                        let oid = service::resolve_case(
                            &db,
                            &cfg.directory,
                            &subscribers(),
                            clock.now(),
                            &id,
                            resolution,
                            &operator(),
                        )
                        .await?;
                        println!(
                            "{} {oid}",
                            t("cas résolu ; identité", "case resolved; identity")
                        );
                    }
                }
            }
            Command::Audit(AuditCmd::Verify { json }) => {
                let db = open_db(&cfg, true).await?;
                let mut conn = db.conn().await?;
                let report = clavis_audit::verify(&mut conn).await?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&report)?);
                }
                match &report.first_broken {
                    None => {
                        if !json {
                            println!(
                                "{} ({} {})",
                                t("chaîne d'audit intacte", "audit chain intact"),
                                report.checked,
                                t("événements", "events")
                            );
                        }
                    }
                    Some(b) => {
                        if !json {
                            println!(
                                "{} seq {} ({})",
                                t(
                                    "chaîne d'audit ROMPUE au premier maillon",
                                    "audit chain BROKEN at first link"
                                ),
                                b.seq,
                                b.reason
                            );
                        }
                        return Ok(ExitCode::from(3));
                    }
                }
            }
            Command::ApiToken(cmd) => {
                let db = open_db(&cfg, true).await?;
                let mut conn = db.conn().await?;
                match cmd {
                    TokenCmd::Create { name } => {
                        let token =
                            clavis_web::tokens::create(&mut conn, &name, &operator(), clock.now())
                                .await?;
                        eprintln!(
                            "{}",
                            t(
                                "jeton créé ; il ne sera plus affiché :",
                                "token created; it will not be shown again:"
                            )
                        );
                        println!("{}", token.expose());
                    }
                    TokenCmd::List { json } => {
                        let tokens = clavis_store::models::ApiToken::list(&mut conn).await?;
                        let when = |t: Option<i64>| {
                            t.and_then(|t| chrono::DateTime::<chrono::Utc>::from_timestamp(t, 0))
                                .map(|d| d.to_rfc3339())
                        };
                        let rows: Vec<serde_json::Value> = tokens
                            .iter()
                            .map(|t| {
                                serde_json::json!({"name": t.name, "created_at": when(Some(t.created_at)),
                                    "last_used_at": when(t.last_used_at), "revoked_at": when(t.revoked_at)})
                            })
                            .collect();
                        if json {
                            println!("{}", serde_json::to_string_pretty(&rows)?);
                        } else {
                            for r in &rows {
                                println!(
                                    "{:<24} {} {}  {} {}  {}",
                                    r["name"].as_str().unwrap_or(""),
                                    t("créé", "created"),
                                    r["created_at"].as_str().unwrap_or("-"),
                                    t("utilisé", "used"),
                                    r["last_used_at"].as_str().unwrap_or("-"),
                                    if r["revoked_at"].is_null() { "" } else { t("RÉVOQUÉ", "REVOKED") },
                                );
                            }
                        }
                    }
                    TokenCmd::Revoke { name } => {
                        if clavis_web::tokens::revoke(&mut conn, &name, &operator(), clock.now())
                            .await?
                        {
                            println!("{}", t("jeton révoqué", "token revoked"));
                        } else {
                            bail!(
                                "{} {name:?}",
                                t("aucun jeton actif nommé", "no live token named")
                            );
                        }
                    }
                }
            }
            Command::EnrolLink { key, valid_hours, json } => {
                let db = open_db(&cfg, true).await?;
                let mut conn = db.conn().await?;
                let oid = resolve_identity(&mut conn, &key).await?;
                let link = clavis_authn::issue_enrolment_link(
                    &mut conn,
                    clock.now(),
                    &cfg.public_url(),
                    &oid,
                    valid_hours.unwrap_or(cfg.authn.enrolment_link_hours),
                    &operator(),
                )
                .await?;
                print_link(&link, json)?;
            }
            Command::Session(SessionCmd::List { identity, json }) => {
                let db = open_db(&cfg, true).await?;
                let mut conn = db.conn().await?;
                let oid = match identity {
                    Some(k) => Some(resolve_identity(&mut conn, &k).await?),
                    None => None,
                };
                let sessions = clavis_sso::list(&mut conn, clock.now(), oid.as_deref()).await?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&sessions)?);
                } else {
                    for s in &sessions {
                        println!(
                            "{}  {}  {} → {}  {}  {}",
                            s.id,
                            s.oid,
                            s.auth_time.format("%Y-%m-%d %H:%M"),
                            s.expires_at.format("%H:%M"),
                            s.amr.join("+"),
                            s.client_ip.as_deref().unwrap_or("-")
                        );
                    }
                    eprintln!("{} {}", sessions.len(), t("session(s) active(s)", "live session(s)"));
                }
            }
            Command::Session(SessionCmd::Revoke { id, identity }) => {
                let db = open_db(&cfg, true).await?;
                let mut conn = db.conn().await?;
                let n = match (id, identity) {
                    (Some(id), _) => usize::from(clavis_sso::end(&mut conn, clock.now(), &id, "revoked", &operator()).await?),
                    (None, Some(k)) => {
                        let oid = resolve_identity(&mut conn, &k).await?;
                        clavis_sso::end_all_for(&mut conn, clock.now(), &oid, "revoked", &operator()).await?
                    }
                    (None, None) => 0,
                };
                println!("{n} {}", t("session(s) révoquée(s)", "session(s) revoked"));
            }
            Command::Admin(AdminCmd::Bootstrap { identity, json }) => {
                let db = open_db(&cfg, true).await?;
                let mut conn = db.conn().await?;
                let oid = resolve_identity(&mut conn, &identity).await?;
                clavis_store::models::IdentityRoleRow {
                    oid: oid.clone(),
                    role: "admin".into(),
                    granted_by: operator(),
                    granted_at: clock.now().timestamp(),
                }
                .grant(&mut conn)
                .await?;
                clavis_audit::append_now(
                    &mut conn,
                    clock.now(),
                    vec![clavis_audit::AuditEvent::new(operator(), "role.granted", Some(oid.clone()), serde_json::json!({"role": "admin"}))],
                )
                .await?;
                let link = clavis_authn::issue_enrolment_link(&mut conn, clock.now(), &cfg.public_url(), &oid, cfg.authn.enrolment_link_hours, &operator()).await?;
                print_link(&link, json)?;
            }
            Command::Admin(AdminCmd::GrantRole { identity, role }) => {
                let db = open_db(&cfg, true).await?;
                let mut conn = db.conn().await?;
                let oid = resolve_identity(&mut conn, &identity).await?;
                conn.begin().await?;
                let r: Result<()> = async {
                    clavis_store::models::IdentityRoleRow {
                        oid: oid.clone(),
                        role: role.clone(),
                        granted_by: operator(),
                        granted_at: clock.now().timestamp(),
                    }
                    .grant(&mut conn)
                    .await?;
                    clavis_audit::append(
                        &mut conn,
                        clock.now(),
                        vec![clavis_audit::AuditEvent::new(operator(), "role.granted", Some(oid.clone()), serde_json::json!({"role": role}))],
                    )
                    .await?;
                    Ok(())
                }
                .await;
                conn.finish(r).await?;
                println!("{} {role}", t("rôle accordé :", "role granted:"));
            }
            Command::Client(cmd) => oidc_cli::client(&cfg, clock.as_ref(), cmd).await?,
            Command::Keys(cmd) => oidc_cli::keys(&cfg, clock.as_ref(), cmd).await?,
            Command::Habilitation(cmd) => oidc_cli::habilitation(&cfg, clock.as_ref(), cmd).await?,
            Command::Workstation(cmd) => badge_cli::workstation(&cfg, clock.as_ref(), cmd).await?,
            Command::Badge(cmd) => badge_cli::badge(&cfg, clock.as_ref(), cmd).await?,
            Command::Serve | Command::CheckConfig { .. } | Command::PrintDefaultConfig => {}
        }
        Ok(ExitCode::SUCCESS)
    })
}

async fn resolve_identity(conn: &mut clavis_store::DbConn, key: &str) -> Result<String> {
    match service::find_identity(conn, key).await? {
        Some(i) => Ok(i.oid),
        None => bail!(
            "{} {key:?}",
            t("aucune identité ne correspond à", "no identity matches")
        ),
    }
}

fn print_link(link: &clavis_authn::EnrolmentLink, json: bool) -> Result<()> {
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

fn fido2(cfg: &Config) -> Result<clavis_authn::Fido2> {
    let url = url::Url::parse(&cfg.public_url()).context("server.public_url")?;
    let ca_list = if cfg.authn.attestation == clavis_authn::AttestationPolicy::AllowList {
        let mut b = webauthn_rs::prelude::AttestationCaListBuilder::new();
        for m in &cfg.authn.allowed_models {
            let pem =
                std::fs::read(&m.ca_file).with_context(|| format!("{}", m.ca_file.display()))?;
            let aaguid = uuid::Uuid::parse_str(&m.aaguid).context("aaguid")?;
            b.insert_device_pem(&pem, aaguid, m.description.clone(), Default::default())
                .map_err(|e| anyhow::anyhow!("{}: {e:?}", m.ca_file.display()))?;
        }
        Some(b.build())
    } else {
        None
    };
    Ok(clavis_authn::Fido2::new(cfg.authn.clone(), &url, ca_list)?)
}

struct Bar(indicatif::ProgressBar);

impl clavis_directory::Progress for Bar {
    fn on_page(&self, seen: u64) {
        self.0
            .set_message(format!("{seen} {}", t("entrées lues", "entries read")));
        self.0.tick();
    }
}

/// Who must hear about departures: SSO sessions end and keys are
/// suspended in the directory's transaction.
fn subscribers() -> clavis_directory::lifecycle::Subscribers {
    vec![
        Arc::new(clavis_sso::SsoLifecycle),
        Arc::new(clavis_authn::AuthnLifecycle),
    ]
}

fn print_report(r: &SyncReport) {
    println!(
        "{} {} ({}{}) : {} — {} {}, {} {}, {} {}, {} {}, {} {}, {} {}, {} {}",
        t("source", "source"),
        r.source,
        r.mode,
        if r.dry_run {
            t(", à blanc", ", dry run")
        } else {
            ""
        },
        r.status,
        r.seen,
        t("lues", "read"),
        r.created,
        t("créées", "created"),
        r.updated,
        t("modifiées", "updated"),
        r.unchanged,
        t("inchangées", "unchanged"),
        r.departed,
        t("départs", "departed"),
        r.cases_opened,
        t("cas ouverts", "cases opened"),
        r.rejected,
        t("rejetées", "rejected"),
    );
    for rej in &r.rejections {
        println!(
            "  {} {} [{}] : {}",
            t("rejet", "rejected"),
            rej.entry,
            rej.field,
            rej.message
        );
    }
    for w in &r.warnings {
        println!("  {} {w}", t("attention :", "warning:"));
    }
    if let Some(e) = &r.error {
        println!("  {} {e}", t("échec :", "failed:"));
    }
}

async fn sync(
    cfg: &Config,
    clock: Arc<dyn Clock>,
    args: SyncArgs,
) -> Result<std::process::ExitCode> {
    let db = open_db(cfg, true).await?;
    let engine = SyncEngine::new(db, Arc::new(cfg.directory.clone()), clock, subscribers());
    let names: Vec<String> = match &args.source {
        Some(s) => vec![s.clone()],
        None => cfg
            .directory
            .sources
            .iter()
            .map(|s| s.name.clone())
            .collect(),
    };
    if names.is_empty() {
        bail!(
            "{}",
            t(
                "aucune source configurée ([[directory.sources]])",
                "no source configured ([[directory.sources]])"
            )
        );
    }
    let opts = SyncOptions {
        full: args.full,
        dry_run: args.dry_run,
    };
    let mut reports = Vec::new();
    let mut failed = false;
    for name in names {
        let bar = if std::io::stderr().is_terminal() && !args.json {
            indicatif::ProgressBar::new_spinner()
        } else {
            indicatif::ProgressBar::hidden()
        };
        bar.set_prefix(name.clone());
        let progress = Bar(bar);
        let r = engine.run(&name, opts, &progress).await;
        progress.0.finish_and_clear();
        match r {
            Ok(report) => reports.push(report),
            Err(clavis_directory::DirectoryError::UnknownSource(s)) => {
                bail!("{} {s:?}", t("source inconnue", "unknown source"))
            }
            Err(e) => {
                failed = true;
                reports.push(SyncReport {
                    source: name.clone(),
                    status: "failed".into(),
                    error: Some(e.to_string()),
                    ..SyncReport::default()
                });
            }
        }
    }
    if args.json {
        let out = if reports.len() == 1 {
            serde_json::to_value(&reports[0])?
        } else {
            serde_json::to_value(&reports)?
        };
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        for r in &reports {
            print_report(r);
        }
    }
    Ok(if failed {
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    })
}

async fn serve(cfg: Config) -> Result<()> {
    use clavis_web::{AppState, build_app};
    let db = open_db_with(&cfg, true, true).await?;
    // The WAL is checkpointed here, every second, never inside a write; past
    // 256k frames (1 GiB) it is made to start over (see `Db::checkpoint`).
    {
        let db = db.clone();
        actix_web::rt::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
            loop {
                tick.tick().await;
                if let Err(e) = db.checkpoint(262_144).await {
                    tracing::warn!(error = %e, "WAL checkpoint failed");
                }
            }
        });
    }
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let directory = Arc::new(cfg.directory.clone());
    let master_path = clavis_oidc::keys::MasterKey::location(&cfg.master_key_file());
    let master = clavis_oidc::keys::MasterKey::load(&master_path, true)?;
    let badge = badge_cli::service(&cfg, &master).context("badge login")?;
    let oidc = Arc::new(
        clavis_oidc::Provider::start(
            &db,
            cfg.oidc.clone(),
            &cfg.issuer(),
            master,
            cfg.authn.acr_order.clone(),
            clock.now().timestamp(),
        )
        .await
        .context("OpenID provider")?,
    );
    let state = AppState {
        db: db.clone(),
        directory: directory.clone(),
        clock: clock.clone(),
        subscribers: subscribers(),
        fido2: Arc::new(fido2(&cfg)?),
        sso: cfg.sso.clone(),
        secure_cookies: true,
        public_url: cfg.public_url(),
        oidc: oidc.clone(),
        badge: Some(badge),
    };
    // Back-channel logouts owed, every 2 s; sessions past their lifetime
    // ended (so their applications hear of it), every 30 s; signing keys
    // reloaded (a rotation on another node), every 60 s.
    {
        let (db, oidc, clock) = (db.clone(), oidc.clone(), clock.clone());
        actix_web::rt::spawn(async move {
            let http = match reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
            {
                Ok(h) => h,
                Err(e) => {
                    tracing::error!(error = %e, "no HTTP client: back-channel logout disabled");
                    return;
                }
            };
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(2));
            let mut n = 0u64;
            loop {
                tick.tick().await;
                n += 1;
                let now = clock.now();
                if n.is_multiple_of(15) {
                    match db.conn().await {
                        Ok(mut conn) => {
                            if let Err(e) = clavis_sso::end_expired(&mut conn, now).await {
                                tracing::error!(error = %e, "ending expired sessions failed");
                            }
                        }
                        Err(e) => tracing::error!(error = %e, "database unavailable"),
                    }
                }
                if n.is_multiple_of(30)
                    && let Ok(mut conn) = db.conn().await
                    && let Err(e) = oidc.reload_keys(&mut conn, now.timestamp()).await
                {
                    tracing::error!(error = %e, "reloading signing keys failed");
                }
                if let Err(e) = clavis_oidc::backchannel::deliver_due(&oidc, &db, &http, now).await
                {
                    tracing::error!(error = %e, "back-channel logout delivery failed");
                }
            }
        });
    }
    let engine = SyncEngine::new(db.clone(), directory.clone(), clock.clone(), subscribers());
    // Periodic syncs, one task per source with an interval.
    for source in directory.sources.iter().filter(|s| s.interval_secs > 0) {
        let engine = engine.clone();
        let name = source.name.clone();
        let every = std::time::Duration::from_secs(source.interval_secs);
        actix_web::rt::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                match engine.run_scheduled(&name).await {
                    Ok(_) => {}
                    Err(clavis_directory::DirectoryError::RunInProgress(_)) => {
                        tracing::info!(sync.source = %name, "scheduled sync skipped: another run holds the source")
                    }
                    Err(e) => {
                        tracing::error!(sync.source = %name, error = %e, "scheduled sync failed")
                    }
                }
            }
        });
    }
    // Date-driven lifecycle (arrivals, contract ends) every 10 minutes.
    {
        let engine = engine.clone();
        actix_web::rt::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(600));
            loop {
                tick.tick().await;
                if let Err(e) = engine.apply_due_transitions().await {
                    tracing::error!(error = %e, "lifecycle tick failed");
                }
            }
        });
    }
    let listen = cfg.server.listen.clone();
    let server = actix_web::HttpServer::new(move || build_app(state.clone()))
        .bind(&listen)
        .with_context(|| format!("cannot listen on {listen}"))?;
    let addrs = server.addrs();
    // The URL to open: the public one (WebAuthn binds keys to its host;
    // browsers accept localhost, never a bare IP address).
    let shown = match (&cfg.server.public_url, addrs.first()) {
        (Some(u), _) => u.clone(),
        (None, Some(a)) => format!("http://localhost:{}", a.port()),
        (None, None) => cfg.public_url(),
    };
    println!("Clavis {} {shown}", t("écoute sur", "listening on"));
    tracing::info!(server.url = %shown, database = ?db.backend(), "clavis serving");
    server.run().await?;
    Ok(())
}
