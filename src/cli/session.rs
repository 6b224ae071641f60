//! `clavis session list|revoke`: live SSO sessions, and ending them (one,
//! or every session of a person), with their applications told.

use super::{Ctx, print_json, resolve_identity, t};
use anyhow::Result;
use clap::Subcommand;
use clavis_core::SessionEndReason;

/// `clavis session …`
#[derive(Debug, Subcommand)]
pub enum SessionCmd {
    /// List live sessions.
    List {
        /// Only this identity (oid, RPPS or login).
        #[arg(long)]
        identity: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// End a session, or every session of an identity.
    Revoke {
        /// The session id.
        #[arg(required_unless_present = "identity", conflicts_with = "identity")]
        id: Option<String>,
        /// Every session of this identity (oid, RPPS or login).
        #[arg(long)]
        identity: Option<String>,
    },
}

/// Runs `clavis session …`.
pub async fn run(ctx: &Ctx, cmd: SessionCmd) -> Result<()> {
    let db = ctx.db().await?;
    let mut conn = db.conn().await?;
    match cmd {
        SessionCmd::List { identity, json } => {
            let oid = match identity {
                Some(k) => Some(resolve_identity(&mut conn, &k).await?),
                None => None,
            };
            let sessions = clavis_sso::list(&mut conn, ctx.now(), oid).await?;
            if json {
                return print_json(&sessions);
            }
            for s in &sessions {
                println!(
                    "{}  {}  {} → {}  {}  {}",
                    s.id,
                    s.oid,
                    s.auth_time.format("%Y-%m-%d %H:%M"),
                    s.expires_at.format("%H:%M"),
                    s.amr.join("+"),
                    s.client_ip.as_deref().unwrap_or("-")
                );
            }
            eprintln!(
                "{} {}",
                sessions.len(),
                t("session(s) active(s)", "live session(s)")
            );
        }
        SessionCmd::Revoke { id, identity } => {
            let n = match (id, identity) {
                (Some(id), _) => usize::from(
                    clavis_sso::end(
                        &mut conn,
                        ctx.now(),
                        &clavis_core::SessionId::from(id),
                        SessionEndReason::Revoked,
                        &ctx.operator,
                    )
                    .await?,
                ),
                (None, Some(k)) => {
                    let oid = resolve_identity(&mut conn, &k).await?;
                    clavis_sso::end_all_for(
                        &mut conn,
                        ctx.now(),
                        oid,
                        SessionEndReason::Revoked,
                        &ctx.operator,
                    )
                    .await?
                }
                (None, None) => 0,
            };
            println!("{n} {}", t("session(s) révoquée(s)", "session(s) revoked"));
        }
    }
    Ok(())
}
