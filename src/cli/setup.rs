//! `clavis migrate`, `clavis check-config`, `clavis print-default-config`:
//! installing and configuring. The last two run without a configuration
//! loaded (they are how one is written and checked).

use super::{Ctx, t};
use crate::config;
use anyhow::{Result, bail};
use clavis_store::migrate;
use std::path::PathBuf;
use std::process::ExitCode;

/// `clavis migrate`: applies pending migrations and says how many.
pub async fn migrate(ctx: &Ctx) -> Result<()> {
    let db = ctx.db_unmigrated().await?;
    let done = migrate::run_pending(&db).await?;
    println!(
        "{} {}",
        done.len(),
        t("migration(s) appliquée(s)", "migration(s) applied")
    );
    Ok(())
}

/// `clavis print-default-config`: the documented example.
pub fn print_default_config() -> ExitCode {
    print!("{}", config::EXAMPLE);
    ExitCode::SUCCESS
}

/// `clavis check-config [FILE]`: every problem of `file` (or of
/// `--config`), exit code 2 when there is one.
pub fn check_config(file: Option<PathBuf>, config: Option<PathBuf>) -> Result<ExitCode> {
    let Some(path) = file.or(config) else {
        bail!(
            "{}",
            t("indiquez le fichier à vérifier", "name the file to check")
        );
    };
    match config::load(Some(&path)) {
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
    }
}
