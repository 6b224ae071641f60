//! `clavis admin init|bootstrap|grant-role`. `init` prepares a new
//! installation without starting the service: the database migrated, the
//! master key created (or checked), the signing keys made. Then Clavis's
//! own roles: the grant and its audit are
//! `clavis_directory::roles::grant_role`; bootstrap adds the first
//! administrator's enrolment link, in the same transaction, so a fresh
//! install is administered without any password.

use super::{Ctx, print_link, resolve_identity, t};
use anyhow::Result;
use clap::Subcommand;
use clavis_directory::roles::{self, grant_role};
use clavis_store::DbConn;

/// `clavis admin …`
#[derive(Debug, Subcommand)]
pub enum AdminCmd {
    /// Prepare a new installation without starting the service: migrate
    /// the database, create the master key (only while nothing is sealed
    /// yet; an existing key is checked), make the signing keys. Run it as
    /// the service's user. Again later, it changes nothing and checks.
    Init {
        #[arg(long)]
        json: bool,
    },
    /// Give the first administrator the admin role and an enrolment link,
    /// so a fresh install is administered without any password.
    Bootstrap {
        /// The identity (oid, RPPS or login).
        #[arg(long)]
        identity: String,
        #[arg(long)]
        json: bool,
    },
    /// Give someone a role in Clavis (the console's areas each role
    /// reaches: docs/console.md): `admin`, `identity-office`,
    /// `badge-office`, `helpdesk` or `auditor`.
    GrantRole {
        /// The identity (oid, RPPS or login).
        #[arg(long)]
        identity: String,
        #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(
            clavis_core::roles::OperatorRole::ALL.iter().map(|r| r.as_str())
        ))]
        role: String,
    },
    /// Withdraw a role in Clavis (the last administrator keeps theirs).
    RevokeRole {
        /// The identity (oid, RPPS or login).
        #[arg(long)]
        identity: String,
        #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(
            clavis_core::roles::OperatorRole::ALL.iter().map(|r| r.as_str())
        ))]
        role: String,
    },
}

/// Runs `clavis admin …`.
pub async fn run(ctx: &Ctx, cmd: AdminCmd) -> Result<()> {
    if let AdminCmd::Init { json } = cmd {
        return init(ctx, json).await;
    }
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
        AdminCmd::Init { .. } => {}
        AdminCmd::GrantRole { identity, role } => {
            let oid = resolve_identity(&mut conn, &identity).await?;
            grant_role(&mut conn, ctx.now(), oid, &role, &ctx.operator).await?;
            println!("{} {role}", t("rôle accordé :", "role granted:"));
        }
        AdminCmd::RevokeRole { identity, role } => {
            let oid = resolve_identity(&mut conn, &identity).await?;
            if roles::revoke_role(&mut conn, ctx.now(), oid, &role, &ctx.operator).await? {
                println!("{} {role}", t("rôle retiré :", "role withdrawn:"));
            } else {
                println!("{} {role}", t("rôle non détenu :", "role not held:"));
            }
        }
    }
    Ok(())
}

/// `clavis admin init`: what the first `clavis serve` would do before
/// listening, for installs that prepare a node (or a cluster's first one)
/// before starting it.
async fn init(ctx: &Ctx, json: bool) -> Result<()> {
    let state_dir = &ctx.cfg.state_dir;
    refuse_another_owner(state_dir)?;
    // What it creates (the database, its WAL, the key's folder) is the
    // service's alone, whatever the caller's umask (the unit has 0077).
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    let configured = ctx.cfg.master_key_file();
    let path = crate::master_key::location(&configured);
    let existed = path.exists();
    if existed {
        refuse_loose_key(&path)?;
    }
    let db = ctx.db().await?;
    let now = ctx.now().timestamp();
    let master = crate::master_key::load_for_service(&configured, &db, now).await?;
    let mut conn = db.conn().await?;
    clavis_oidc::keys::ensure(&mut conn, &master, now).await?;
    let ring = clavis_oidc::keys::KeyRing::load(&mut conn, &master, now, now).await?;
    let signing: Vec<String> = ring.jwks()["keys"]
        .as_array()
        .map(|keys| {
            keys.iter()
                .filter_map(|k| Some(format!("{} {}", k["alg"].as_str()?, k["kid"].as_str()?)))
                .collect()
        })
        .unwrap_or_default();
    let fingerprint = crate::master_key::fingerprint(&master);
    let fingerprint = &fingerprint[..16];
    if json {
        println!(
            "{}",
            serde_json::json!({
                "master_key": path,
                "master_key_created": !existed,
                "master_key_fingerprint": fingerprint,
                "signing_keys": signing,
            })
        );
        return Ok(());
    }
    let said = if existed {
        t("clé maître vérifiée :", "master key checked:")
    } else {
        t("clé maître créée :", "master key created:")
    };
    println!(
        "{said} {} ({} {fingerprint})",
        path.display(),
        t("empreinte", "fingerprint")
    );
    for k in &signing {
        println!("{} {k}", t("clé de signature :", "signing key:"));
    }
    if !existed {
        println!(
            "{}",
            t(
                "Sauvegardez la clé maître hors de ce serveur (docs/operations.md) : sans elle, les \
                 clés de signature et les codes PIN ne s'ouvrent plus. Autres nœuds : la même clé, \
                 au même endroit. Étape suivante : clavis admin bootstrap --identity OID.",
                "Back the master key up off this server (docs/operations.md): without it the \
                 signing keys and PINs cannot be opened. Other nodes: the same key, in the same \
                 place. Next step: clavis admin bootstrap --identity OID."
            )
        );
    }
    Ok(())
}

/// Refuses to run as another user than the state directory's owner (root
/// on a packaged install, whose state belongs to `clavis`): the key it
/// would create would be unreadable by the service.
fn refuse_another_owner(state_dir: &std::path::Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let me = rustix::process::geteuid().as_raw();
    // A folder yet to be made: its nearest existing parent says who owns
    // the place (root may make one under a folder of its own).
    let mut place = state_dir.to_path_buf();
    let meta = loop {
        match std::fs::metadata(&place) {
            Ok(m) => break m,
            Err(_) if place.pop() && !place.as_os_str().is_empty() => continue,
            Err(_) => return Ok(()),
        }
    };
    if meta.uid() != me {
        anyhow::bail!(
            "{} {} ({} {}, {} {me}).\n{}",
            t(
                "le dossier d'état appartient à un autre utilisateur :",
                "the state directory belongs to another user:"
            ),
            place.display(),
            t("propriétaire", "owner"),
            meta.uid(),
            t("vous", "you"),
            t(
                "Lancez la commande en tant qu'utilisateur du service : sudo -u clavis clavis \
                 --config /etc/clavis/clavis.toml admin init. Rien n'a été écrit.",
                "Run it as the service's user: sudo -u clavis clavis --config \
                 /etc/clavis/clavis.toml admin init. Nothing was written."
            )
        );
    }
    Ok(())
}

/// Refuses a key file others may read or that another user owns: a master
/// key must be the service's alone.
fn refuse_loose_key(path: &std::path::Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path)?;
    let me = rustix::process::geteuid().as_raw();
    if meta.mode() & 0o077 != 0 || meta.uid() != me {
        anyhow::bail!(
            "{} {} ({:o}, {} {}).\n{}",
            t(
                "la clé maître est lisible par d'autres ou appartient à un autre utilisateur :",
                "the master key can be read by others or belongs to another user:"
            ),
            path.display(),
            meta.mode() & 0o777,
            t("propriétaire", "owner"),
            meta.uid(),
            t(
                "Elle doit être au seul utilisateur du service : chown clavis: FICHIER ; chmod 600 \
                 FICHIER. Rien n'a été écrit.",
                "It must be the service user's alone: chown clavis: FILE; chmod 600 FILE. Nothing \
                 was written."
            )
        );
    }
    Ok(())
}
