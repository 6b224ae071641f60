//! `clavis audit verify`: walks the audit log's hash chain; exit code 3
//! names a broken chain (so a monitoring job can tell it from a failure to
//! run).

use super::{Ctx, print_json, t};
use anyhow::Result;
use clap::Subcommand;
use std::process::ExitCode;

/// `clavis audit …`
#[derive(Debug, Subcommand)]
pub enum AuditCmd {
    /// Walk the hash chain and name the first broken link.
    Verify {
        #[arg(long)]
        json: bool,
    },
}

/// Runs `clavis audit …`.
pub async fn run(ctx: &Ctx, cmd: AuditCmd) -> Result<ExitCode> {
    let AuditCmd::Verify { json } = cmd;
    let db = ctx.db().await?;
    let mut conn = db.conn().await?;
    // The whole chain, recorded with its result (the console shows it).
    let walk =
        clavis_audit::verify_recorded(&mut conn, ctx.clock.as_ref(), &ctx.operator, true).await?;
    let report = clavis_audit::VerifyReport {
        checked: walk.checked,
        first_broken: walk
            .broken_seq
            .zip(walk.broken_reason)
            .map(|(seq, reason)| clavis_audit::BrokenLink { seq, reason }),
    };
    if json {
        print_json(&report)?;
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
            Ok(ExitCode::SUCCESS)
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
            Ok(ExitCode::from(3))
        }
    }
}
