//! `clavis package-files DIR` (hidden): writes what the .deb and .rpm
//! packages ship beside the binary but derive from its command line, so
//! that they always describe the binary they come with:
//!
//! - `DIR/man/`: one man page per command (clap_mangen): `clavis.1`,
//!   `clavis-identity.1`, `clavis-identity-add.1`, …
//! - `DIR/completions/`: `clavis.bash`, `_clavis` (zsh), `clavis.fish`
//!   (clap_complete).
//!
//! scripts/package runs it on the binary it packages. A subcommand of the
//! binary rather than a build script or a separate tool: only the binary
//! crate sees its clap definition ([`super::Cli`]).

use super::Cli;
use anyhow::{Context, Result};
use clap::CommandFactory;
use clap_complete::Shell;
use std::path::Path;
use std::process::ExitCode;

/// Writes the man pages and the completions under `out`.
pub fn write(out: &Path) -> Result<ExitCode> {
    let cmd = Cli::command();
    let man = out.join("man");
    std::fs::create_dir_all(&man).with_context(|| man.display().to_string())?;
    clap_mangen::generate_to(cmd.clone(), &man).context("man pages")?;
    let completions = out.join("completions");
    std::fs::create_dir_all(&completions).with_context(|| completions.display().to_string())?;
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        clap_complete::generate_to(shell, &mut cmd.clone(), "clavis", &completions)
            .with_context(|| format!("{shell} completions"))?;
    }
    Ok(ExitCode::SUCCESS)
}
