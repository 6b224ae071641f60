//! `clavis-agent`: the workstation side of badge login. See the crate
//! documentation and docs/badge.md.

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;

/// Relays badge exchanges between this workstation's card reader and Clavis.
#[derive(Debug, Parser)]
#[command(name = "clavis-agent", version)]
struct Cli {
    /// Configuration file.
    #[arg(
        long,
        env = "CLAVIS_AGENT_CONFIG",
        default_value = "/etc/clavis-agent/agent.toml"
    )]
    config: PathBuf,
    /// Check the configuration and exit.
    #[arg(long)]
    check: bool,
    /// Write the man page and shell completions the packages ship into
    /// this directory, and exit (scripts/package; hidden).
    #[arg(long, hide = true, value_name = "DIR")]
    package_files: Option<PathBuf>,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CLAVIS_AGENT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    if let Some(out) = &cli.package_files {
        return match write_package_files(out) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("clavis-agent: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cfg = match clavis_agent::AgentConfig::load(&cli.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("clavis-agent: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = cfg.credential() {
        eprintln!("clavis-agent: credential_file: {e}");
        return ExitCode::from(2);
    }
    if cli.check {
        println!("{}: OK", cli.config.display());
        return ExitCode::SUCCESS;
    }
    let agent = match clavis_agent::server::Agent::new(cfg) {
        Ok(a) => std::sync::Arc::new(a),
        Err(e) => {
            eprintln!("clavis-agent: {e}");
            return ExitCode::from(2);
        }
    };
    match actix_web::rt::System::new().block_on(clavis_agent::server::run(agent)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("clavis-agent: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `--package-files DIR`: `DIR/man/clavis-agent.1` (clap_mangen) and the
/// bash, zsh and fish completions in `DIR/completions` (clap_complete),
/// from this binary's own command line.
fn write_package_files(out: &std::path::Path) -> anyhow::Result<()> {
    use anyhow::Context;
    use clap::CommandFactory;
    let cmd = Cli::command();
    let man = out.join("man");
    std::fs::create_dir_all(&man).with_context(|| man.display().to_string())?;
    clap_mangen::generate_to(cmd.clone(), &man).context("man page")?;
    let completions = out.join("completions");
    std::fs::create_dir_all(&completions).with_context(|| completions.display().to_string())?;
    for shell in [
        clap_complete::Shell::Bash,
        clap_complete::Shell::Zsh,
        clap_complete::Shell::Fish,
    ] {
        clap_complete::generate_to(shell, &mut cmd.clone(), "clavis-agent", &completions)
            .with_context(|| format!("{shell} completions"))?;
    }
    Ok(())
}
