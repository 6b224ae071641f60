//! `clavis identity list|show|add|suspend|reinstate`: looking at
//! identities, creating one by hand ([`clavis_directory::manual`]) where no
//! source lists it, suspending a person and lifting it
//! ([`clavis_directory::suspension`]).

use super::{Ctx, print_json, t};
use anyhow::{Result, bail};
use clap::Subcommand;
use clavis_core::{LifecycleStatus, Rpps};
use clavis_directory::manual::{self, ManualError, ManualOutcome, ManualTerms, NewManualIdentity};
use clavis_directory::service;
use clavis_directory::suspension::Decision;

/// `clavis identity …`
#[derive(Debug, Subcommand)]
pub enum IdentityCmd {
    /// List identities.
    List {
        /// pending | active | suspended | departed
        #[arg(long)]
        status: Option<LifecycleStatus>,
        /// Words to find in names, RPPS, email or login.
        #[arg(long)]
        search: Option<String>,
        /// Page size.
        #[arg(long, default_value_t = 100)]
        limit: i64,
        /// Identities to skip (the `next_offset` of the previous page).
        #[arg(long, default_value_t = 0)]
        offset: i64,
        /// JSON: {"items": [...], "total": N, "next_offset": M or null}.
        #[arg(long)]
        json: bool,
    },
    /// Show one identity by oid, RPPS or login.
    Show {
        key: String,
        #[arg(long)]
        json: bool,
    },
    /// Create an identity by hand (a first administrator, a person no
    /// source lists). Refused when the person already exists; when they
    /// resemble someone, a reconciliation case is opened instead: nothing
    /// is merged on a guess. A person outside HR (consultant, vacataire,
    /// vendor staff) is given --until, --sponsor and --reason.
    Add {
        /// Birth family name (nom de naissance).
        #[arg(long)]
        birth_name: String,
        /// Used family name (nom d'usage), if different.
        #[arg(long)]
        used_name: Option<String>,
        /// Every birth given name, in order, separated by commas:
        /// "Marie, Anne".
        #[arg(long)]
        given_names: String,
        /// Birth date, YYYY-MM-DD.
        #[arg(long)]
        birth_date: chrono::NaiveDate,
        /// Birth place (INSEE code).
        #[arg(long)]
        birth_place: Option<String>,
        /// RPPS (11 digits).
        #[arg(long)]
        rpps: Option<String>,
        /// A person outside HR: their last day (YYYY-MM-DD, at most a year
        /// away); they depart after it.
        #[arg(long, requires_all = ["sponsor", "reason"])]
        until: Option<chrono::NaiveDate>,
        /// A person outside HR: who answers for them.
        #[arg(long, requires_all = ["until", "reason"])]
        sponsor: Option<String>,
        /// A person outside HR: why they are in the directory without HR.
        #[arg(long, requires_all = ["until", "sponsor"])]
        reason: Option<String>,
        /// Print {"oid": …} instead of the oid alone.
        #[arg(long)]
        json: bool,
    },
    /// Suspend a person at once (oid, RPPS or login): accounts disabled,
    /// sessions ended, keys, badges and the Pro Santé Connect link
    /// suspended, whatever HR says, until the suspension is lifted.
    Suspend {
        key: String,
        /// Why (kept in the journal and shown in the console).
        #[arg(long)]
        reason: String,
    },
    /// Lift the suspension an operator placed on a person: they are
    /// recomputed from their records (still suspended while HR says so).
    Reinstate {
        key: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
}

/// Runs `clavis identity …`.
pub async fn run(ctx: &Ctx, cmd: IdentityCmd) -> Result<()> {
    match cmd {
        IdentityCmd::List {
            status,
            search,
            limit,
            offset,
            json,
        } => list(ctx, status, search, limit, offset, json).await,
        IdentityCmd::Show { key, json } => show(ctx, &key, json).await,
        IdentityCmd::Suspend { key, reason } => {
            suspension(ctx, &key, &reason, Decision::Suspend).await
        }
        IdentityCmd::Reinstate { key, reason } => {
            suspension(ctx, &key, &reason, Decision::Reinstate).await
        }
        IdentityCmd::Add {
            birth_name,
            used_name,
            given_names,
            birth_date,
            birth_place,
            rpps,
            until,
            sponsor,
            reason,
            json,
        } => {
            let rpps = rpps
                .map(|r| Rpps::parse(&r).map_err(|e| anyhow::anyhow!("--rpps {r:?}: {e}")))
                .transpose()?;
            let new = NewManualIdentity {
                birth_family_name: birth_name,
                used_family_name: used_name,
                birth_given_names: given_names.split(',').map(str::to_string).collect(),
                birth_date,
                birth_place,
                rpps,
                terms: match (until, sponsor, reason) {
                    (Some(until), Some(sponsor), Some(reason)) => Some(ManualTerms {
                        sponsor,
                        reason,
                        until,
                    }),
                    _ => None,
                },
            };
            add(ctx, new, json).await
        }
    }
}

async fn add(ctx: &Ctx, new: NewManualIdentity, json: bool) -> Result<()> {
    let db = ctx.db().await?;
    let subscribers = super::subscribers();
    let oid = match manual::add_identity(
        &db,
        &ctx.cfg.directory,
        &subscribers,
        ctx.now(),
        new,
        &ctx.operator,
    )
    .await
    {
        Ok(ManualOutcome::Created(oid)) => oid,
        Ok(ManualOutcome::CaseOpened {
            case_id,
            reason,
            candidates,
        }) => bail!(
            "{} ({reason}) : {} ; {} {case_id}",
            t(
                "cette personne ressemble à des identités existantes",
                "this person resembles existing identities"
            ),
            candidates
                .iter()
                .map(|(oid, why)| format!("{oid} ({why})"))
                .collect::<Vec<_>>()
                .join(", "),
            t(
                "rien n'a été créé ; un dossier de rapprochement est ouvert (clavis cases show)",
                "nothing was created; a reconciliation case is open (clavis cases show)"
            )
        ),
        Err(ManualError::AlreadyExists(oid)) => bail!(
            "{} {oid} ; {}",
            t(
                "cette personne existe déjà : identité",
                "this person already exists: identity"
            ),
            t(
                "rien n'a été créé (voir clavis identity show OID)",
                "nothing was created (see clavis identity show OID)"
            )
        ),
        Err(ManualError::Missing(what)) => bail!("{} {what}", t("il manque :", "missing:")),
        Err(ManualError::Invalid { field, why }) => bail!("--{field} : {why}"),
        Err(e) => return Err(e.into()),
    };
    if json {
        return print_json(&serde_json::json!({ "oid": oid }));
    }
    eprintln!("{}", t("identité créée :", "identity created:"));
    println!("{oid}");
    Ok(())
}

async fn suspension(ctx: &Ctx, key: &str, reason: &str, decision: Decision) -> Result<()> {
    let db = ctx.db().await?;
    let subscribers = super::subscribers();
    let out = clavis_directory::suspension::decide(
        &db,
        &ctx.cfg.directory,
        &subscribers,
        ctx.now(),
        key,
        decision,
        reason,
        &ctx.operator,
    )
    .await?;
    eprintln!("{} {} : {}", t("identité", "identity"), out.oid, out.status);
    Ok(())
}

async fn list(
    ctx: &Ctx,
    status: Option<LifecycleStatus>,
    search: Option<String>,
    limit: i64,
    offset: i64,
    json: bool,
) -> Result<()> {
    let db = ctx.db().await?;
    let page = service::list_identities(&db, status, search.as_deref(), limit, offset).await?;
    if json {
        return print_json(&page);
    }
    for i in &page.items {
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
    eprintln!(
        "{} {} {}{}",
        page.items.len(),
        t("identité(s) sur", "identities of"),
        page.total,
        super::more_after(page.next_offset)
    );
    Ok(())
}

async fn show(ctx: &Ctx, key: &str, json: bool) -> Result<()> {
    let db = ctx.db().await?;
    let d = service::show_identity(&db, key).await?;
    if json {
        return print_json(&d);
    }
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
    Ok(())
}
