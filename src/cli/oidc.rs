//! `clavis client …`, `clavis keys rotate`, `clavis habilitation …`: the
//! OpenID provider's operator commands.

use super::{Ctx, resolve_identity, t};
use anyhow::{Context, Result, bail};
use clap::Subcommand;
use clavis_oidc::clients::{self, ClientView, NewClient};
use clavis_store::models::OidcClientRow;

#[derive(Debug, Subcommand)]
pub enum ClientCmd {
    /// Register an application; prints its client id and secret (once).
    Add {
        /// Name shown to operators (e.g. "DPI").
        #[arg(long)]
        name: String,
        /// Exact redirect URI (repeat for several).
        #[arg(long = "redirect-uri", required = true)]
        redirect_uris: Vec<String>,
        /// Where RP-initiated logout may send the user back (repeatable).
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        /// A public client (no secret; PKCE required).
        #[arg(long)]
        public: bool,
        /// client_secret_basic (default), client_secret_post or private_key_jwt.
        #[arg(long, conflicts_with = "public")]
        auth_method: Option<String>,
        /// The client's JWK Set file, for private_key_jwt.
        #[arg(long)]
        jwks_file: Option<std::path::PathBuf>,
        /// Back-channel logout URI.
        #[arg(long)]
        backchannel_logout_uri: Option<String>,
        /// Require PKCE even though the client has a secret.
        #[arg(long)]
        require_pkce: bool,
        /// Minimum assurance (acr) of the sign-in; weaker sessions step up.
        #[arg(long)]
        require_acr: Option<String>,
        /// ID token signature: RS256 (default) or ES256.
        #[arg(long)]
        id_token_alg: Option<String>,
        /// Scopes the client may receive (repeatable; default all).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// This application is Pro Santé Connect (FI tiers: `tid`, `oid`,
        /// mapped `amr`, only for people linked through e-CPS).
        #[arg(long)]
        psc: bool,
        #[arg(long)]
        json: bool,
    },
    /// Mark an application as Pro Santé Connect (`--off` to undo).
    SetPsc {
        client_id: clavis_core::ClientId,
        #[arg(long)]
        off: bool,
    },
    /// List applications.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show one application.
    Show {
        client_id: clavis_core::ClientId,
        #[arg(long)]
        json: bool,
    },
    /// Remove an application: its tokens stop working.
    Remove { client_id: clavis_core::ClientId },
    /// Issue a new secret (the old one stops working at once).
    RotateSecret {
        client_id: clavis_core::ClientId,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCmd {
    /// Make a new signing key current; the old one stays published until
    /// the tokens it signed expire.
    Rotate {
        /// RS256 (default) or ES256.
        #[arg(long, default_value = "RS256")]
        alg: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum HabilitationCmd {
    /// Grant a role in an application to a person; with --from and/or
    /// --until, for those days only (a role held takes the new days;
    /// without them, a role held is left as it is).
    Grant {
        /// The identity: oid, RPPS or login.
        identity: String,
        #[arg(long)]
        client: String,
        #[arg(long)]
        role: String,
        /// First day (YYYY-MM-DD, included).
        #[arg(long)]
        from: Option<chrono::NaiveDate>,
        /// Last day (YYYY-MM-DD, included).
        #[arg(long)]
        until: Option<chrono::NaiveDate>,
    },
    /// Withdraw a role.
    Revoke {
        identity: String,
        #[arg(long)]
        client: String,
        #[arg(long)]
        role: String,
    },
}

fn print_client(c: &ClientView) {
    println!("client_id      {}", c.client_id);
    println!("{}            {}", t("nom", "name"), c.name);
    println!(
        "{}  {}",
        t("authentification", "authentication"),
        c.auth_method
    );
    for u in &c.redirect_uris {
        println!("redirect_uri   {u}");
    }
    for u in &c.post_logout_redirect_uris {
        println!("post_logout    {u}");
    }
    if let Some(u) = &c.backchannel_logout_uri {
        println!("backchannel    {u}");
    }
    println!(
        "pkce           {}",
        if c.require_pkce {
            "S256 required"
        } else {
            "accepted"
        }
    );
    if let Some(a) = &c.require_acr {
        println!("acr            {a}");
    }
    println!("id_token_alg   {}", c.id_token_alg);
    println!("scopes         {}", c.scopes.join(" "));
    if c.psc {
        println!(
            "psc            {}",
            t(
                "Pro Santé Connect (FI tiers)",
                "Pro Santé Connect (FI tiers)"
            )
        );
    }
}

/// Runs `clavis client …`.
pub async fn client(ctx: &Ctx, cmd: ClientCmd) -> Result<()> {
    let cfg = &ctx.cfg;
    let db = ctx.db().await?;
    let mut conn = db.conn().await?;
    let now = ctx.now();
    match cmd {
        ClientCmd::Add {
            name,
            redirect_uris,
            post_logout_redirect_uris,
            public,
            auth_method,
            jwks_file,
            backchannel_logout_uri,
            require_pkce,
            require_acr,
            id_token_alg,
            scopes,
            psc,
            json,
        } => {
            let jwks = match jwks_file {
                Some(f) => Some(
                    serde_json::from_slice(
                        &std::fs::read(&f).with_context(|| f.display().to_string())?,
                    )
                    .with_context(|| format!("{}: not JSON", f.display()))?,
                ),
                None => None,
            };
            let (c, secret) = clients::register(
                &mut conn,
                now,
                NewClient {
                    name,
                    redirect_uris,
                    post_logout_redirect_uris,
                    public,
                    auth_method,
                    jwks,
                    backchannel_logout_uri,
                    require_pkce,
                    require_acr,
                    id_token_alg,
                    scopes: (!scopes.is_empty()).then_some(scopes),
                    psc,
                },
                &clients::RegistrationRules {
                    acr_order: &cfg.authn.acr_order,
                    allow_local_backchannel: cfg.oidc.backchannel.allow_local_targets,
                },
                &ctx.operator,
            )
            .await?;
            if json {
                let mut v = serde_json::to_value(&c)?;
                v["client_secret"] = serde_json::json!(secret.as_ref().map(|s| s.expose().clone()));
                v["discovery_url"] =
                    serde_json::json!(format!("{}{}", cfg.issuer(), clavis_oidc::paths::DISCOVERY));
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                print_client(&c);
                if let Some(s) = secret {
                    println!("client_secret  {}", s.expose());
                    eprintln!(
                        "{}",
                        t(
                            "Le secret n'est affiché qu'une fois : transmettez-le à l'éditeur par un canal sûr.",
                            "The secret is shown once: hand it to the vendor over a safe channel."
                        )
                    );
                }
                println!(
                    "discovery      {}{}",
                    cfg.issuer(),
                    clavis_oidc::paths::DISCOVERY
                );
            }
        }
        ClientCmd::List { json } => {
            let all: Vec<ClientView> = OidcClientRow::list_active(&mut conn)
                .await?
                .iter()
                .map(ClientView::of)
                .collect();
            if json {
                println!("{}", serde_json::to_string_pretty(&all)?);
            } else {
                for c in &all {
                    println!(
                        "{}  {}  {}  {}",
                        c.client_id,
                        c.name,
                        c.auth_method,
                        c.redirect_uris.join(" ")
                    );
                }
                eprintln!("{} {}", all.len(), t("application(s)", "application(s)"));
            }
        }
        ClientCmd::Show { client_id, json } => {
            let Some(row) =
                OidcClientRow::find_active(&mut conn, &client_id.as_str().into()).await?
            else {
                bail!(
                    "{} {client_id:?}",
                    t("application inconnue", "unknown application")
                );
            };
            let c = ClientView::of(&row);
            if json {
                println!("{}", serde_json::to_string_pretty(&c)?);
            } else {
                print_client(&c);
            }
        }
        ClientCmd::SetPsc { client_id, off } => {
            let c = clients::set_psc(&mut conn, now, &client_id, !off, &ctx.operator).await?;
            print_client(&c);
        }
        ClientCmd::Remove { client_id } => {
            clients::remove(&mut conn, now, &client_id, &ctx.operator).await?;
            println!(
                "{} {client_id}",
                t("application retirée :", "application removed:")
            );
        }
        ClientCmd::RotateSecret { client_id, json } => {
            let s = clients::rotate_secret(&mut conn, now, &client_id, &ctx.operator).await?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"client_id": client_id, "client_secret": s.expose()})
                );
            } else {
                println!("client_secret  {}", s.expose());
            }
        }
    }
    Ok(())
}

/// Runs `clavis keys …`.
pub async fn keys(ctx: &Ctx, cmd: KeysCmd) -> Result<()> {
    let KeysCmd::Rotate { alg } = cmd;
    let alg = clavis_oidc::keys::Alg::parse(&alg)
        .with_context(|| format!("--alg {alg:?}: RS256 {} ES256", t("ou", "or")))?;
    let db = ctx.db().await?;
    let master = ctx.master_key(&db).await?;
    let mut conn = db.conn().await?;
    clavis_oidc::keys::ensure(&mut conn, &master, ctx.now().timestamp()).await?;
    let kid = clavis_oidc::keys::rotate(
        &mut conn,
        &master,
        alg,
        ctx.now().timestamp(),
        &ctx.operator,
    )
    .await?;
    println!(
        "{} {kid} ({})",
        t("nouvelle clé de signature", "new signing key"),
        alg.as_str()
    );
    Ok(())
}

/// Runs `clavis habilitation …`.
pub async fn habilitation(ctx: &Ctx, cmd: HabilitationCmd) -> Result<()> {
    let db = ctx.db().await?;
    let mut conn = db.conn().await?;
    let now = ctx.now();
    let (identity, client, role, grant, validity) = match cmd {
        HabilitationCmd::Grant {
            identity,
            client,
            role,
            from,
            until,
        } => (
            identity,
            client,
            role,
            true,
            clavis_oidc::habilitations::Validity { from, until },
        ),
        HabilitationCmd::Revoke {
            identity,
            client,
            role,
        } => (identity, client, role, false, Default::default()),
    };
    let client = clavis_core::ClientId::from(client);
    let oid = resolve_identity(&mut conn, &identity).await?;
    if OidcClientRow::find_active(&mut conn, &client)
        .await?
        .is_none()
    {
        bail!(
            "{} {client:?}",
            t("application inconnue", "unknown application")
        );
    }
    let changed = if grant && validity != Default::default() {
        clavis_oidc::habilitations::grant_for(
            &mut conn,
            now,
            oid,
            &client,
            &role,
            validity,
            &ctx.operator,
        )
        .await?
    } else if grant {
        clavis_oidc::habilitations::grant(&mut conn, now, oid, &client, &role, &ctx.operator)
            .await?
    } else {
        clavis_oidc::habilitations::revoke(
            &mut conn,
            now,
            oid,
            &client,
            &role,
            &ctx.operator,
            serde_json::json!({}),
        )
        .await?
    };
    println!(
        "{}",
        match (grant, changed) {
            (true, true) => t("rôle accordé", "role granted"),
            (true, false) => t("rôle déjà accordé", "role already granted"),
            (false, true) => t("rôle retiré", "role withdrawn"),
            (false, false) => t("ce rôle n'était pas accordé", "role was not granted"),
        }
    );
    Ok(())
}
