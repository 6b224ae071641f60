//! `clavis psc …`: Pro Santé Connect for operators — is PSC reachable and
//! the configuration coherent, whose identity is linked (with the
//! evidence and the end of each link), and removing a link.

use super::{Ctx, resolve_identity, t};
use anyhow::{Result, bail};
use clap::Subcommand;
use clavis_core::PscUnlinkReason;
use clavis_federation::link::{LinkState, state};
use clavis_store::models::{IdentityRow, PscLinkRow};
use serde_json::{Value, json};

#[derive(Debug, Subcommand)]
pub enum PscCmd {
    /// Check PSC: its metadata reachable, its keys loaded, the
    /// configuration coherent, and what to give the ANS.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Links to PSC, with their evidence and end.
    Links {
        /// Only this identity (oid, RPPS or login).
        #[arg(long)]
        identity: Option<String>,
        /// Only standing links that end within this many days.
        #[arg(long)]
        expiring_within_days: Option<i64>,
        #[arg(long)]
        json: bool,
    },
    /// Remove a person's link (they go through e-CPS again to be
    /// asserted to PSC).
    Unlink {
        /// The identity (oid, RPPS or login).
        identity: String,
        /// Why (kept in the audit).
        #[arg(long)]
        reason: String,
    },
}

fn date(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.to_rfc3339())
        .unwrap_or_default()
}

fn link_json(l: &PscLinkRow, st: Option<LinkState>) -> Value {
    json!({
        "oid": l.oid, "national_id": l.national_id, "psc_sub": l.psc_sub, "acr": l.acr,
        "auth_mode": l.auth_mode, "id_token_sha256": l.id_token_sha256,
        "linked_at": date(l.linked_at), "expires_at": date(l.expires_at),
        "revoked_at": l.revoked_at.map(date), "revoked_reason": l.revoked_reason,
        "revoked_by": l.revoked_by, "state": st,
    })
}

/// Runs `clavis psc …`.
pub async fn run(ctx: &Ctx, cmd: PscCmd) -> Result<()> {
    match cmd {
        PscCmd::Status { json } => status(ctx, json).await,
        PscCmd::Links {
            identity,
            expiring_within_days,
            json,
        } => {
            let db = ctx.db().await?;
            let mut conn = db.conn().await?;
            let now = ctx.now().timestamp();
            let oid = match &identity {
                Some(k) => Some(resolve_identity(&mut conn, k).await?),
                None => None,
            };
            if expiring_within_days.is_some_and(|d| d < 0) {
                bail!(
                    "--expiring-within-days: {}",
                    t("doit être positif", "must not be negative")
                );
            }
            let before = expiring_within_days.map(|d| now + d * 86_400);
            let links = PscLinkRow::list(&mut conn, oid, before).await?;
            let mut out = Vec::new();
            for l in &links {
                let st = IdentityRow::find(&mut conn, l.oid)
                    .await?
                    .map(|i| state(l, &i, now));
                out.push(link_json(l, st));
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                for v in &out {
                    println!(
                        "{}  {}  {}  {} {}",
                        v["oid"].as_str().unwrap_or(""),
                        v["national_id"].as_str().unwrap_or(""),
                        v["state"].as_str().unwrap_or("?"),
                        t("jusqu'au", "until"),
                        v["expires_at"].as_str().unwrap_or(""),
                    );
                }
                eprintln!("{} {}", out.len(), t("association(s)", "link(s)"));
            }
            Ok(())
        }
        PscCmd::Unlink { identity, reason } => {
            if reason.trim().is_empty() {
                bail!("--reason: {}", t("obligatoire", "required"));
            }
            let db = ctx.db().await?;
            let mut conn = db.conn().await?;
            let oid = resolve_identity(&mut conn, &identity).await?;
            drop(conn);
            let removed = clavis_federation::link::unlink(
                &db,
                ctx.now(),
                oid,
                PscUnlinkReason::ByOperator,
                &ctx.operator,
                Some(reason.trim()),
            )
            .await?;
            if !removed {
                bail!(
                    "{} {oid}",
                    t("aucune association en cours pour", "no standing link for")
                );
            }
            println!("{} {oid}", t("association retirée :", "link removed:"));
            Ok(())
        }
    }
}

/// `clavis psc status`: exit status 0 when PSC answers and the
/// configuration holds, 1 otherwise (with what is wrong).
async fn status(ctx: &Ctx, as_json: bool) -> Result<()> {
    let cfg = &ctx.cfg;
    if !cfg.psc.enabled {
        bail!(
            "{}",
            t(
                "Pro Santé Connect n'est pas activé (psc.enabled = false)",
                "Pro Santé Connect is not enabled (psc.enabled = false)"
            )
        );
    }
    let psc = clavis_federation::Psc::load(&cfg.psc, &cfg.public_url())?;
    let db = ctx.db().await?;
    let mut conn = db.conn().await?;
    let clients: Vec<String> = clavis_store::models::OidcClientRow::list_active(&mut conn)
        .await?
        .into_iter()
        .filter(|c| c.psc)
        .map(|c| c.client_id.to_string())
        .collect();
    let reached = psc.status().await;
    let issuer = cfg.issuer();
    let report = json!({
        "issuer": cfg.psc.issuer,
        "client_id": cfg.psc.client_id,
        "redirect_uri": psc.redirect_uri(),
        "post_logout_redirect_uri": psc.logged_out_uri(),
        "client_auth": if psc.public_jwk().is_some() { "private_key_jwt" } else { "client_secret_basic" },
        "client_public_jwk": psc.public_jwk(),
        "metadata": reached.as_ref().ok().map(|(m, _)| json!({
            "authorization_endpoint": m.authorization_endpoint, "token_endpoint": m.token_endpoint,
            "userinfo_endpoint": m.userinfo_endpoint, "jwks_uri": m.jwks_uri,
            "end_session_endpoint": m.end_session_endpoint})),
        "jwks_keys": reached.as_ref().ok().map(|(_, n)| *n),
        "error": reached.as_ref().err().map(|e| e.to_string()),
        "fi_tiers": {
            "issuer": issuer, "jwks_uri": format!("{issuer}{}", clavis_oidc::paths::JWKS),
            "discovery": format!("{issuer}{}", clavis_oidc::paths::DISCOVERY),
            "tid": cfg.psc.tid, "amr": cfg.psc.amr, "psc_clients": clients,
        },
        "link_validity_days": cfg.psc.link_validity_days,
    });
    if as_json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("issuer         {}", cfg.psc.issuer);
        println!("client_id      {}", cfg.psc.client_id);
        println!("redirect_uri   {}", psc.redirect_uri());
        println!("post_logout    {}", psc.logged_out_uri());
        match &reached {
            Ok((m, n)) => {
                println!("{}    ok", t("découverte", "discovery "));
                println!("token          {}", m.token_endpoint);
                println!("jwks           {n} {}", t("clé(s)", "key(s)"));
            }
            Err(e) => println!("{}    {e}", t("découverte", "discovery ")),
        }
        println!("FI tiers       issuer {issuer}, tid {}", cfg.psc.tid);
        println!("amr fido2      {}", cfg.psc.amr.fido2.join(" "));
        println!("amr badge      {}", cfg.psc.amr.badge.join(" "));
        if clients.is_empty() {
            println!(
                "{}",
                t(
                    "client PSC     aucun : enregistrez PSC avec `clavis client add … --psc`",
                    "PSC client     none: register PSC with `clavis client add … --psc`"
                )
            );
        } else {
            println!("client PSC     {}", clients.join(" "));
        }
    }
    if let Err(e) = reached {
        bail!("{e}");
    }
    if clients.is_empty() {
        bail!(
            "{}",
            t(
                "aucune application n'est marquée Pro Santé Connect (--psc)",
                "no application is marked as Pro Santé Connect (--psc)"
            )
        );
    }
    Ok(())
}
