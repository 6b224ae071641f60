//! `clavis sync`: runs directory sources now, with a spinner on a terminal
//! and a summary per source; exit code 1 when a source failed.

use super::{Ctx, print_json, subscribers, t};
use anyhow::{Result, bail};
use clap::Args;
use clavis_core::{SyncMode, SyncRunStatus};
use clavis_directory::{DirectoryError, SyncEngine, SyncOptions, SyncReport};
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;

/// `clavis sync [--source NAME] [--full] [--dry-run] [--json]`
#[derive(Debug, Args)]
pub struct SyncArgs {
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

/// Runs `clavis sync`: each source named (or every source, in order).
pub async fn run(ctx: &Ctx, args: SyncArgs) -> Result<ExitCode> {
    let cfg = &ctx.cfg;
    let db = ctx.db().await?;
    let engine = SyncEngine::new(
        db,
        Arc::new(cfg.directory.clone()),
        ctx.clock.clone(),
        subscribers(),
    );
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
            Err(DirectoryError::UnknownSource(s)) => {
                bail!("{} {s:?}", t("source inconnue", "unknown source"))
            }
            Err(e) => {
                failed = true;
                reports.push(SyncReport {
                    source: name.clone(),
                    mode: if args.full {
                        SyncMode::Full
                    } else {
                        SyncMode::Incremental
                    },
                    status: SyncRunStatus::Failed,
                    error: Some(e.to_string()),
                    ..SyncReport::default()
                });
            }
        }
    }
    if args.json {
        // Through a `Value`, as ever: its keys come out sorted.
        let out = if reports.len() == 1 {
            serde_json::to_value(&reports[0])?
        } else {
            serde_json::to_value(&reports)?
        };
        print_json(&out)?;
    } else {
        for r in &reports {
            print_report(r);
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The spinner: entries read so far.
struct Bar(indicatif::ProgressBar);

impl clavis_directory::Progress for Bar {
    fn on_page(&self, seen: u64) {
        self.0
            .set_message(format!("{seen} {}", t("entrées lues", "entries read")));
        self.0.tick();
    }
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
