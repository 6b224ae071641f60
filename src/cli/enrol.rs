//! `clavis enrol-link`: a one-time link for someone to enrol their first
//! security key (the IT desk hands it over; more keys are added from `/me`).

use super::{Ctx, print_link, resolve_identity};
use anyhow::Result;
use clap::Args;

/// `clavis enrol-link KEY [--valid-hours N] [--json]`
#[derive(Debug, Args)]
pub struct EnrolLinkArgs {
    /// The identity: oid, RPPS or login.
    key: String,
    /// Validity (default: authn.enrolment_link_hours, 24).
    #[arg(long)]
    valid_hours: Option<i64>,
    #[arg(long)]
    json: bool,
}

/// Runs `clavis enrol-link`.
pub async fn run(ctx: &Ctx, args: EnrolLinkArgs) -> Result<()> {
    let db = ctx.db().await?;
    let mut conn = db.conn().await?;
    let oid = resolve_identity(&mut conn, &args.key).await?;
    let link = clavis_authn::issue_enrolment_link(
        &mut conn,
        ctx.now(),
        &ctx.cfg.public_url(),
        oid,
        args.valid_hours
            .unwrap_or(ctx.cfg.authn.enrolment_link_hours),
        &ctx.operator,
    )
    .await?;
    print_link(&link, args.json)
}
