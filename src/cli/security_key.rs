//! `clavis security-key`: a person's FIDO2 security keys, for the helpdesk
//! when one is lost, stolen or broken (its holder removes their own from
//! `/me`).

use super::{Ctx, resolve_identity, t};
use anyhow::Result;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum SecurityKeyCmd {
    /// List a person's security keys (revoked ones left out).
    List {
        /// Whose (oid, RPPS or login).
        identity: String,
        #[arg(long)]
        json: bool,
    },
    /// Revoke a person's key: it opens nothing more, and the sessions it
    /// opened end at once, with their applications' tokens.
    Revoke {
        /// Whose (oid, RPPS or login).
        identity: String,
        /// The key's id (`clavis security-key list`).
        key_id: String,
        /// Why: lost, stolen, broken… (audited).
        #[arg(long, default_value = "lost")]
        reason: String,
    },
}

/// Runs `clavis security-key`.
pub async fn run(ctx: &Ctx, cmd: SecurityKeyCmd) -> Result<()> {
    let db = ctx.db().await?;
    let mut conn = db.conn().await?;
    match cmd {
        SecurityKeyCmd::List { identity, json } => {
            let oid = resolve_identity(&mut conn, &identity).await?;
            let keys = clavis_authn::keys_of(&mut conn, oid).await?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"items": keys, "total": keys.len()})
                );
                return Ok(());
            }
            if keys.is_empty() {
                println!("{}", t("aucune clé de sécurité", "no security key"));
            }
            for k in keys {
                println!(
                    "{}  {}  {}  {} {}",
                    k.id,
                    k.status.as_str(),
                    k.label,
                    t("dernière utilisation :", "last used:"),
                    k.last_used_at
                        .map(|d| d.format("%Y-%m-%d %H:%M").to_string())
                        .unwrap_or_else(|| "—".into()),
                );
            }
        }
        SecurityKeyCmd::Revoke {
            identity,
            key_id,
            reason,
        } => {
            let oid = resolve_identity(&mut conn, &identity).await?;
            match clavis_authn::remove_key(
                &mut conn,
                ctx.now(),
                oid,
                &key_id,
                &reason,
                &ctx.operator,
            )
            .await
            {
                Ok(()) => println!("{} {key_id}", t("révoquée :", "revoked:")),
                Err(clavis_authn::AuthnError::KeyNotFound) => anyhow::bail!(
                    "{} {key_id:?} ({identity})",
                    t(
                        "cette personne n'a pas de clé active",
                        "this person has no active key"
                    )
                ),
                Err(clavis_authn::AuthnError::InvalidReason) => anyhow::bail!(
                    "--reason : {}",
                    t(
                        "1 à 200 caractères de texte (perdue, volée, cassée…)",
                        "1 to 200 characters of text (lost, stolen, broken…)"
                    )
                ),
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}
