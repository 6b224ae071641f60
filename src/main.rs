//! `clavis`: the identity appliance's single binary.
//!
//! This file parses the command line, loads the configuration, sets up
//! logging and traces (`telemetry`) and the runtime, and hands over: `clavis serve` to [`serve`],
//! every other command to [`cli`]. No business logic here or there: the
//! rules live in the capability crates.

mod cli;
mod config;
mod jobs;
mod master_key;
mod notify;
mod serve;
mod telemetry;
mod tls;

use anyhow::Result;
use clap::Parser;
use cli::{Cli, Command, Ctx, t};
use std::process::ExitCode;

/// mimalloc rather than glibc's allocator: a directory sync allocates and
/// frees millions of small values a run (rows, their bound parameters,
/// audit events) and glibc spent 41 % of its CPU in `malloc`, `free`, the
/// consolidation of its bins (each time a large statement buffer was
/// freed) and copies; with mimalloc a 100k sync's CPU fell by 20–30 % on
/// PostgreSQL and 8 % on SQLite (docs/operations.md, "The directory at
/// scale"). Built without mimalloc's `secure` mode (guard pages, encoded
/// free lists): only safe Rust allocates through it. SQLite's own
/// allocations, in C, stay with glibc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    // Traces for the service and for sync runs only: another command has
    // nothing to trace, and would wait at its exit for a collector that is
    // down.
    let traced = matches!(cli.command, Command::Serve | Command::Sync(_));
    let telemetry = telemetry::init(&cfg, quiet, traced);
    let ctx = Ctx::new(cfg);
    let r = if let Command::Serve = cli.command {
        actix_web::rt::System::new()
            .block_on(serve::run(&ctx))
            .map(|_| ExitCode::SUCCESS)
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(anyhow::Error::from)
            .and_then(|rt| rt.block_on(cli::run(&ctx, cli.command)))
    };
    // Outside the runtimes: the last spans go out before the process ends.
    telemetry.shutdown();
    r
}
