//! `clavis admin bootstrap|grant-role`: Clavis's own roles. The grant and
//! its audit are `clavis_directory::roles::grant_role`; bootstrap adds the
//! first administrator's enrolment link, in the same transaction, so a
//! fresh install is administered without any password.

use super::{Ctx, print_link, resolve_identity, t};
use anyhow::Result;
use clap::Subcommand;
use clavis_directory::roles::{self, grant_role};
use clavis_store::DbConn;

/// `clavis admin …`
#[derive(Debug, Subcommand)]
pub enum AdminCmd {
    /// Give the first administrator the admin role and an enrolment link,
    /// so a fresh install is administered without any password.
    Bootstrap {
        /// The identity (oid, RPPS or login).
        #[arg(long)]
        identity: String,
        #[arg(long)]
        json: bool,
    },
    /// Give someone a role in Clavis: `admin`, or `badge-office` (the
    /// badge office's pages).
    GrantRole {
        /// The identity (oid, RPPS or login).
        #[arg(long)]
        identity: String,
        #[arg(long, value_parser = [roles::ADMIN, roles::BADGE_OFFICE])]
        role: String,
    },
}

/// Runs `clavis admin …`.
pub async fn run(ctx: &Ctx, cmd: AdminCmd) -> Result<()> {
    let db = ctx.db().await?;
    let mut conn = db.conn().await?;
    match cmd {
        AdminCmd::Bootstrap { identity, json } => {
            let oid = resolve_identity(&mut conn, &identity).await?;
            let now = ctx.now();
            let link = conn
                .transaction(async |tx: &mut DbConn| -> Result<_> {
                    grant_role(tx, now, oid, roles::ADMIN, &ctx.operator).await?;
                    Ok(clavis_authn::issue_enrolment_link(
                        tx,
                        now,
                        &ctx.cfg.public_url(),
                        oid,
                        ctx.cfg.authn.enrolment_link_hours,
                        &ctx.operator,
                    )
                    .await?)
                })
                .await?;
            print_link(&link, json)?;
        }
        AdminCmd::GrantRole { identity, role } => {
            let oid = resolve_identity(&mut conn, &identity).await?;
            grant_role(&mut conn, ctx.now(), oid, &role, &ctx.operator).await?;
            println!("{} {role}", t("rôle accordé :", "role granted:"));
        }
    }
    Ok(())
}
