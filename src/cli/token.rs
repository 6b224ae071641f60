//! `clavis api-token create|list|revoke`: the admin API's bearer tokens
//! (issued by `clavis_authn::api_token`; the secret is printed once, only
//! its hash is stored).

use super::{Ctx, print_json, t};
use anyhow::{Result, bail};
use chrono::{DateTime, Utc};
use clap::Subcommand;
use clavis_authn::api_token;
use clavis_store::models::ApiToken;

/// `clavis api-token …`
#[derive(Debug, Subcommand)]
pub enum TokenCmd {
    /// Create a token (printed once; only its hash is stored).
    Create {
        #[arg(long)]
        name: String,
        /// What it may reach, repeated: `<area>:read` or `<area>:write`
        /// (identities, cases, syncs, authenticators, applications…).
        /// Without any, the token reaches the whole API (not advised).
        #[arg(long = "scope", value_name = "AREA:ACCESS")]
        scopes: Vec<String>,
        /// Days until it stops working (without: never).
        #[arg(long, value_name = "DAYS")]
        expires_in_days: Option<u32>,
    },
    /// Revoke a token.
    Revoke {
        #[arg(long)]
        name: String,
    },
    /// List tokens (names and dates; never the secrets).
    List {
        #[arg(long)]
        json: bool,
    },
}

/// Runs `clavis api-token …`.
pub async fn run(ctx: &Ctx, cmd: TokenCmd) -> Result<()> {
    let db = ctx.db().await?;
    let mut conn = db.conn().await?;
    match cmd {
        TokenCmd::Create {
            name,
            scopes,
            expires_in_days,
        } => {
            let scopes = scopes
                .iter()
                .map(|s| api_token::parse_scope(s))
                .collect::<Result<Vec<_>, _>>()?;
            if scopes.is_empty() {
                eprintln!(
                    "{}",
                    t(
                        "attention : sans --scope, ce jeton atteint toute l'API d'administration",
                        "warning: without --scope, this token reaches the whole admin API"
                    )
                );
            }
            let expires = expires_in_days.map(|d| ctx.now() + chrono::Duration::days(i64::from(d)));
            let token = api_token::create_scoped(
                &mut conn,
                &name,
                (!scopes.is_empty()).then_some(scopes.as_slice()),
                expires,
                &ctx.operator,
                ctx.now(),
            )
            .await?;
            eprintln!(
                "{}",
                t(
                    "jeton créé ; il ne sera plus affiché :",
                    "token created; it will not be shown again:"
                )
            );
            println!("{}", token.expose());
        }
        TokenCmd::List { json } => {
            let tokens = ApiToken::list(&mut conn).await?;
            let when = |t: Option<i64>| {
                t.and_then(|t| DateTime::<Utc>::from_timestamp(t, 0))
                    .map(|d| d.to_rfc3339())
            };
            let rows: Vec<serde_json::Value> = tokens
                .iter()
                .map(|t| {
                    serde_json::json!({"name": t.name, "created_at": when(Some(t.created_at)),
                        "last_used_at": when(t.last_used_at), "revoked_at": when(t.revoked_at)})
                })
                .collect();
            if json {
                return print_json(&rows);
            }
            for r in &rows {
                println!(
                    "{:<24} {} {}  {} {}  {}",
                    r["name"].as_str().unwrap_or(""),
                    t("créé", "created"),
                    r["created_at"].as_str().unwrap_or("-"),
                    t("utilisé", "used"),
                    r["last_used_at"].as_str().unwrap_or("-"),
                    if r["revoked_at"].is_null() {
                        ""
                    } else {
                        t("RÉVOQUÉ", "REVOKED")
                    },
                );
            }
        }
        TokenCmd::Revoke { name } => {
            if api_token::revoke(&mut conn, &name, &ctx.operator, ctx.now()).await? {
                println!("{}", t("jeton révoqué", "token revoked"));
            } else {
                bail!(
                    "{} {name:?}",
                    t("aucun jeton actif nommé", "no live token named")
                );
            }
        }
    }
    Ok(())
}
