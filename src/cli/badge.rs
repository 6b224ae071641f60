//! `clavis workstation …` and `clavis badge …`: the badge office's and the
//! DSI's commands, and the badge service `serve` runs.

use super::{Ctx, resolve_identity, t};
use crate::config::Config;
use anyhow::{Context, Result, bail};
use chrono::{DateTime, Local, TimeZone, Utc};
use clap::Subcommand;
use clavis_authn::badge::{BadgeService, Purpose};
use clavis_core::{BadgeStatus, BadgeTxStatus};
use clavis_desfire::AesKey;
use clavis_store::models::{BadgeRow, BadgeTxRow, WorkstationRow};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Subcommand)]
pub enum WorkstationCmd {
    /// Register a workstation; prints its id and credential (once) for the
    /// agent's configuration.
    Add {
        /// A name operators recognise ("Urgences poste 3").
        #[arg(long)]
        name: String,
        /// Where it is.
        #[arg(long)]
        location: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// List workstations.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a workstation: its agent is refused at once.
    Revoke { workstation: String },
    /// Issue a new credential (the old one stops working).
    RotateCredential {
        workstation: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum BadgeCmd {
    /// List badges.
    List {
        /// Only this identity (oid, RPPS or login).
        #[arg(long)]
        identity: Option<String>,
        /// Only this status (active, suspended, revoked).
        #[arg(long)]
        status: Option<BadgeStatus>,
        #[arg(long)]
        json: bool,
    },
    /// Personalise a blank card for someone: the next card tapped on the
    /// workstation's reader becomes their badge.
    Enrol {
        /// Whose badge (oid, RPPS or login).
        #[arg(long)]
        identity: String,
        /// The badge office workstation (id or name).
        #[arg(long)]
        workstation: String,
        #[arg(long)]
        json: bool,
    },
    /// A temporary badge for someone who forgot theirs, valid until the end
    /// of the day (or `--until`); same PIN as their own badge.
    IssueTemporary {
        #[arg(long)]
        identity: String,
        #[arg(long)]
        workstation: String,
        /// End of validity (RFC 3339, or HH:MM today). Default 23:59 today.
        #[arg(long)]
        until: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Revoke a badge (lost, stolen, replaced): refused at once.
    Revoke {
        badge_id: String,
        #[arg(long, default_value = "lost")]
        reason: String,
    },
    /// Lift a PIN lockout.
    Unlock { identity: String },
    /// Set the holder's PIN (they type it, twice; nothing is echoed to
    /// the log).
    SetPin {
        identity: String,
        /// Read the PIN from standard input (one line) instead of asking.
        #[arg(long)]
        stdin: bool,
    },
}

/// The badge service of this configuration (keys derived from the master
/// key).
pub fn service(
    cfg: &Config,
    master: &clavis_core::master_key::MasterKey,
) -> Result<Arc<BadgeService>> {
    let transport = match &cfg.badge.transport_key_file {
        None => AesKey::ZERO,
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("badge.transport_key_file: {}", p.display()))?;
            let bytes: [u8; 16] = hex::decode(text.trim())
                .ok()
                .and_then(|b| b.try_into().ok())
                .with_context(|| {
                    format!(
                        "badge.transport_key_file: {}: expected 32 hexadecimal digits",
                        p.display()
                    )
                })?;
            AesKey::new(bytes)
        }
    };
    let svc = BadgeService::new(cfg.badge.clone(), |l| master.derive(l), transport)
        .map_err(anyhow::Error::msg)?;
    Ok(Arc::new(svc))
}

/// The badge service under the master key the service uses (a command
/// never creates one).
async fn load_service(ctx: &Ctx, db: &clavis_store::Db) -> Result<Arc<BadgeService>> {
    let master = ctx.master_key(db).await?;
    service(&ctx.cfg, &master)
}

fn ts(t: Option<i64>) -> String {
    t.and_then(|t| Local.timestamp_opt(t, 0).single())
        .map(|d| d.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|| "-".into())
}

fn parse_until(now: DateTime<Utc>, until: Option<&str>) -> Result<DateTime<Utc>> {
    let local_now = now.with_timezone(&Local);
    let at = match until {
        None => local_now
            .date_naive()
            .and_hms_opt(23, 59, 0)
            .and_then(|d| Local.from_local_datetime(&d).single()),
        Some(s) => {
            if let Ok(d) = DateTime::parse_from_rfc3339(s) {
                Some(d.with_timezone(&Local))
            } else if let Ok(tm) = chrono::NaiveTime::parse_from_str(s, "%H:%M") {
                Local
                    .from_local_datetime(&local_now.date_naive().and_time(tm))
                    .single()
            } else {
                bail!("--until: expected RFC 3339 or HH:MM, got {s:?}")
            }
        }
    };
    let at = at
        .context("--until: not a valid local time")?
        .with_timezone(&Utc);
    if at <= now {
        bail!("--until: {} is already past", at.with_timezone(&Local));
    }
    if at - now > chrono::Duration::days(7) {
        bail!("--until: a temporary badge lasts at most 7 days");
    }
    Ok(at)
}

/// `clavis workstation …`
pub async fn workstation(ctx: &Ctx, cmd: WorkstationCmd) -> Result<()> {
    use clavis_authn::badge::workstation as workstations;
    let db = ctx.db().await?;
    let mut conn = db.conn().await?;
    let now = ctx.now();
    match cmd {
        WorkstationCmd::Add {
            name,
            location,
            json,
        } => {
            let (row, secret) =
                workstations::register(&mut conn, now, &name, location, &ctx.operator)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"id": row.id, "name": row.name, "credential": secret.expose()})
                );
            } else {
                println!("{}: {}", t("Poste", "Workstation"), row.name);
                println!("  workstation_id = \"{}\"", row.id);
                println!(
                    "  {}: {}",
                    t(
                        "identifiant secret (affiché une seule fois, à mettre dans le fichier credential_file de l'agent)",
                        "credential (shown once; put it in the agent's credential_file)"
                    ),
                    secret.expose()
                );
            }
        }
        WorkstationCmd::List { json } => {
            let rows = WorkstationRow::list(&mut conn).await?;
            if json {
                let v: Vec<_> = rows.iter().map(workstations::view).collect();
                println!("{}", serde_json::Value::Array(v));
            } else {
                for r in rows {
                    println!(
                        "{}  {}  {}  {}: {}{}",
                        r.id,
                        r.name,
                        r.location.as_deref().unwrap_or("-"),
                        t("vu", "seen"),
                        ts(r.last_seen_at),
                        if r.revoked_at.is_some() {
                            t("  RÉVOQUÉ", "  REVOKED")
                        } else {
                            ""
                        }
                    );
                }
            }
        }
        WorkstationCmd::Revoke { workstation } => {
            if workstations::revoke(&mut conn, now, &workstation, &ctx.operator)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?
            {
                println!("{} {workstation}", t("révoqué :", "revoked:"));
            } else {
                println!("{}", t("déjà révoqué", "already revoked"));
            }
        }
        WorkstationCmd::RotateCredential { workstation, json } => {
            let (ws, secret) =
                workstations::rotate_credential(&mut conn, now, &workstation, &ctx.operator)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"id": ws.id, "credential": secret.expose()})
                );
            } else {
                println!("  workstation_id = \"{}\"", ws.id);
                println!(
                    "  {}: {}",
                    t("nouvel identifiant secret", "new credential"),
                    secret.expose()
                );
            }
        }
    }
    Ok(())
}

/// Opens an enrolment bound to `workstation` and waits for its agent to
/// personalise the next card tapped there.
async fn enrol(
    ctx: &Ctx,
    identity: &str,
    workstation: &str,
    until: Option<DateTime<Utc>>,
    json: bool,
) -> Result<()> {
    let db = ctx.db().await?;
    let svc = load_service(ctx, &db).await?;
    let mut conn = db.conn().await?;
    let oid = resolve_identity(&mut conn, identity).await?;
    let ws = WorkstationRow::find_by_key(&mut conn, workstation)
        .await?
        .with_context(|| {
            format!(
                "{} {workstation:?}",
                t("poste inconnu :", "unknown workstation:")
            )
        })?;
    if ws.revoked_at.is_some() {
        bail!(
            "{} {}",
            t("poste révoqué :", "workstation revoked:"),
            ws.name
        );
    }
    let opened = svc
        .open(
            &mut conn,
            ctx.now(),
            Purpose::Enrol { oid, until },
            Some(&ws.id),
            &ctx.operator,
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if !json {
        eprintln!(
            "{} « {} » ({} {} s)…",
            t(
                "Posez une carte vierge sur le lecteur du poste",
                "Place a blank card on the reader of workstation"
            ),
            ws.name,
            t("délai", "within"),
            ctx.cfg.badge.transaction_secs
        );
    }
    let deadline =
        std::time::Instant::now() + Duration::from_secs(ctx.cfg.badge.transaction_secs as u64);
    let tx = loop {
        let tx = BadgeTxRow::find(&mut conn, &opened.id).await?;
        match tx {
            Some(tx)
                if tx.status == BadgeTxStatus::Open && std::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            Some(tx) => break tx,
            None => bail!(
                "{}",
                t("la transaction a expiré", "the transaction expired")
            ),
        }
    };
    match tx.status {
        BadgeTxStatus::Done => {
            let badge = match &tx.badge_id {
                Some(id) => BadgeRow::find(&mut conn, id).await?,
                None => None,
            }
            .context("badge not recorded")?;
            if json {
                println!("{}", clavis_authn::badge::records::view(&badge));
            } else {
                println!(
                    "{} {} (UID {})",
                    t("badge enregistré :", "badge recorded:"),
                    badge.id,
                    badge.uid
                );
                if clavis_store::models::BadgePinRow::find(&mut conn, oid)
                    .await?
                    .is_none()
                {
                    println!(
                        "{}",
                        t(
                            "Aucun code PIN n'est encore défini : `clavis badge set-pin` avec le titulaire.",
                            "No PIN is set yet: run `clavis badge set-pin` with the holder."
                        )
                    );
                }
            }
            Ok(())
        }
        BadgeTxStatus::Failed => bail!(
            "{}: {}",
            t("personnalisation refusée", "personalisation failed"),
            tx.failure.unwrap_or_default()
        ),
        _ => bail!(
            "{}",
            t(
                "aucune carte présentée à temps",
                "no card was presented in time"
            )
        ),
    }
}

/// `clavis badge …`
pub async fn badge(ctx: &Ctx, cmd: BadgeCmd) -> Result<()> {
    let now = ctx.now();
    match cmd {
        BadgeCmd::List {
            identity,
            status,
            json,
        } => {
            let db = ctx.db().await?;
            let mut conn = db.conn().await?;
            let rows = match identity {
                Some(i) => {
                    let oid = resolve_identity(&mut conn, &i).await?;
                    BadgeRow::for_identity(&mut conn, oid)
                        .await?
                        .into_iter()
                        .filter(|b| status.is_none_or(|s| b.status == s))
                        .collect()
                }
                None => BadgeRow::list(&mut conn, status, 10_000).await?,
            };
            if json {
                println!(
                    "{}",
                    serde_json::Value::Array(
                        rows.iter()
                            .map(clavis_authn::badge::records::view)
                            .collect()
                    )
                );
            } else {
                for b in rows {
                    println!(
                        "{}  {}  {}  {}  {}  {}: {}  {}: {}",
                        b.id,
                        b.oid,
                        b.uid,
                        b.kind,
                        b.status,
                        t("expire", "expires"),
                        ts(b.expires_at),
                        t("utilisé", "used"),
                        ts(b.last_used_at)
                    );
                }
            }
        }
        BadgeCmd::Enrol {
            identity,
            workstation,
            json,
        } => enrol(ctx, &identity, &workstation, None, json).await?,
        BadgeCmd::IssueTemporary {
            identity,
            workstation,
            until,
            json,
        } => {
            let until = parse_until(now, until.as_deref())?;
            enrol(ctx, &identity, &workstation, Some(until), json).await?
        }
        BadgeCmd::Revoke { badge_id, reason } => {
            let db = ctx.db().await?;
            let mut conn = db.conn().await?;
            clavis_authn::badge::records::revoke(
                &mut conn,
                now,
                &badge_id.as_str().into(),
                &reason,
                &ctx.operator,
            )
            .await
            .map_err(|e| anyhow::anyhow!("{badge_id}: {e}"))?;
            println!("{} {badge_id}", t("badge révoqué :", "badge revoked:"));
        }
        BadgeCmd::Unlock { identity } => {
            let db = ctx.db().await?;
            let mut conn = db.conn().await?;
            let oid = resolve_identity(&mut conn, &identity).await?;
            if clavis_authn::badge::pin::unlock(&mut conn, now, oid, &ctx.operator)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?
            {
                println!(
                    "{}",
                    t("connexion par badge débloquée", "badge sign-in unlocked")
                );
            } else {
                bail!(
                    "{}",
                    t(
                        "aucun code PIN pour cette identité",
                        "no PIN for this identity"
                    )
                );
            }
        }
        BadgeCmd::SetPin { identity, stdin } => {
            let db = ctx.db().await?;
            let svc = load_service(ctx, &db).await?;
            let mut conn = db.conn().await?;
            let oid = resolve_identity(&mut conn, &identity).await?;
            let read = |prompt: &str| -> Result<clavis_core::Secret<String>> {
                if !stdin {
                    eprint!("{prompt}");
                }
                let mut line = String::new();
                std::io::stdin().read_line(&mut line)?;
                Ok(clavis_core::Secret::new(line.trim().to_string()))
            };
            let pin = read(t("Code PIN : ", "PIN: "))?;
            if !stdin {
                let again = read(t("Confirmez : ", "Again: "))?;
                if !clavis_core::secret::constant_time_eq(
                    again.expose().as_bytes(),
                    pin.expose().as_bytes(),
                ) {
                    bail!(
                        "{}",
                        t("les deux saisies diffèrent", "the two entries differ")
                    );
                }
            }
            clavis_authn::badge::pin::set_pin(
                &mut conn,
                svc.hasher(),
                svc.policy(),
                now,
                oid,
                &pin,
                &ctx.operator,
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("{}", t("code PIN enregistré", "PIN set"));
        }
    }
    Ok(())
}
