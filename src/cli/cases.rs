//! `clavis cases list|show|resolve`: reconciliation cases, the records no
//! rule could match with certainty, waiting for an operator's decision.

use super::{Ctx, print_json, subscribers, t};
use anyhow::Result;
use clap::Subcommand;
use clavis_directory::service::{self, Resolution};
use clavis_store::Db;

/// `clavis cases …`
#[derive(Debug, Subcommand)]
pub enum CasesCmd {
    /// List open cases (--all for resolved ones too), newest first.
    List {
        #[arg(long)]
        all: bool,
        /// Page size (at most 1000).
        #[arg(long, default_value_t = 100)]
        limit: i64,
        /// Cases to skip (the `next_offset` of the previous page).
        #[arg(long, default_value_t = 0)]
        offset: i64,
        /// JSON: {"items": [...], "total": N, "next_offset": M or null}.
        #[arg(long)]
        json: bool,
    },
    /// Show a case with its candidates.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Decide a case: link the record to an identity, create a new one,
    /// or reject the record; always with a comment saying why.
    Resolve {
        id: String,
        /// The identity (oid, RPPS or login) the record belongs to.
        #[arg(long, conflicts_with_all = ["new", "reject", "close"], required_unless_present_any = ["new", "reject", "close"])]
        link: Option<String>,
        /// The record is a new person.
        #[arg(long, conflicts_with_all = ["reject", "close"])]
        new: bool,
        /// The record is no one to know (an entry made in error): it stays
        /// unlinked, and later syncs leave it alone while it is unchanged.
        #[arg(long, conflicts_with = "close")]
        reject: bool,
        /// Close a Pro Santé Connect case (a refused link) once HR's RPPS
        /// or name is right, saying what was done; the person links again.
        #[arg(long, value_name = "NOTE")]
        close: Option<String>,
        /// Why (required, except with --close whose note is the comment).
        #[arg(long, required_unless_present = "close")]
        comment: Option<String>,
    },
}

/// Runs `clavis cases …`.
pub async fn run(ctx: &Ctx, cmd: CasesCmd) -> Result<()> {
    let db = ctx.db().await?;
    match cmd {
        CasesCmd::List {
            all,
            limit,
            offset,
            json,
        } => list(&db, all, limit, offset, json).await,
        CasesCmd::Show { id, json } => show(&db, &id, json).await,
        CasesCmd::Resolve {
            id,
            link,
            new,
            reject,
            close,
            comment,
        } => {
            let comment = comment.or_else(|| close.clone()).unwrap_or_default();
            let resolution = match (link, new, reject, close) {
                (_, _, _, Some(note)) => Resolution::Close(note),
                (_, _, true, None) => Resolution::Reject,
                (Some(k), false, false, None) => Resolution::Link(k),
                _ => Resolution::CreateNew,
            };
            let oid = service::resolve_case(
                &db,
                &ctx.cfg.directory,
                &subscribers(),
                ctx.now(),
                &id,
                resolution,
                &comment,
                &ctx.operator,
            )
            .await?;
            match oid {
                Some(oid) => println!(
                    "{} {oid}",
                    t("cas résolu ; identité", "case resolved; identity")
                ),
                None => println!(
                    "{}",
                    t(
                        "cas résolu ; fiche rejetée",
                        "case resolved; record rejected"
                    )
                ),
            }
            Ok(())
        }
    }
}

async fn list(db: &Db, all: bool, limit: i64, offset: i64, json: bool) -> Result<()> {
    let page = service::list_cases(db, all, limit, offset).await?;
    if json {
        return print_json(&page);
    }
    for c in &page.items {
        println!(
            "{}  {:<8}  {:<26}  {}  {}",
            c.id, c.status, c.reason, c.source, c.entry
        );
    }
    eprintln!(
        "{} {} {}{}",
        page.items.len(),
        t("cas sur", "case(s) of"),
        page.total,
        super::more_after(page.next_offset)
    );
    Ok(())
}

async fn show(db: &Db, id: &str, json: bool) -> Result<()> {
    let c = service::show_case(db, id).await?;
    if json {
        return print_json(&c);
    }
    println!("{} {}  {} ({})", t("cas", "case"), c.id, c.status, c.reason);
    println!(
        "{}  {} / {}  [{}]",
        t("fiche", "record"),
        c.source,
        c.external_id,
        c.entry
    );
    print_json(&c.record)?;
    println!("{}", t("candidats :", "candidates:"));
    for cand in c.candidates.as_array().into_iter().flatten() {
        println!(
            "  {}  {}",
            cand["oid"].as_str().unwrap_or("?"),
            cand["why"].as_str().unwrap_or("")
        );
    }
    Ok(())
}
