//! `clavis`: the identity appliance's single binary.
//!
//! This file parses the command line, loads the configuration, sets up
//! logging and the runtime, and hands over: `clavis serve` to [`serve`],
//! every other command to [`cli`]. No business logic here or there: the
//! rules live in the capability crates.

mod cli;
mod config;
mod jobs;
mod master_key;
mod notify;
mod serve;
mod tls;

use anyhow::Result;
use clap::Parser;
use cli::{Cli, Command, Ctx, t};
use config::Config;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{} {e:#}", t("erreur :", "error:"));
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    // These need no configuration loaded: they are how one is written (and
    // what the packages ship beside the binary).
    match cli.command {
        Command::PrintDefaultConfig => return Ok(cli::setup::print_default_config()),
        Command::CheckConfig { file } => return cli::setup::check_config(file, cli.config),
        Command::PackageFiles { out } => return cli::package_files::write(&out),
        _ => {}
    }
    let path = cli
        .config
        .clone()
        .or_else(|| config::installed(std::path::Path::new(config::PACKAGED)));
    let cfg = match config::load(path.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprint!("{e}");
            return Ok(ExitCode::from(2));
        }
    };
    let quiet = !matches!(cli.command, Command::Serve | Command::Migrate);
    init_logging(&cfg, quiet);
    let ctx = Ctx::new(cfg);
    if let Command::Serve = cli.command {
        return actix_web::rt::System::new()
            .block_on(serve::run(&ctx))
            .map(|_| ExitCode::SUCCESS);
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(cli::run(&ctx, cli.command))
}

/// Logs to standard error, at `log.level` (`CLAVIS_LOG` overrides it), as
/// text or JSON (`log.format`); only warnings for the one-shot commands.
fn init_logging(cfg: &Config, quiet: bool) {
    let level = if quiet {
        "warn".to_string()
    } else {
        cfg.log.level.clone()
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("CLAVIS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    // Colours only on a terminal: under systemd, standard error is the
    // journal, where escape codes would show as text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = if cfg.log.format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
