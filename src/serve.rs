//! `clavis serve`: starts the appliance. Opens (and migrates) the
//! database, loads the master key, starts the OpenID provider and the badge
//! service, spawns the background schedules ([`crate::jobs`]), then serves
//! HTTP on `server.listen` until stopped, telling systemd how it goes
//! ([`crate::notify`]).

use crate::cli::{Ctx, subscribers, t};
use crate::config::Config;
use crate::jobs;
use anyhow::{Context, Result};
use clavis_directory::SyncEngine;
use clavis_web::{AppState, build_app};
use std::sync::Arc;

/// Runs the appliance until it is stopped.
pub async fn run(ctx: &Ctx) -> Result<()> {
    let cfg = &ctx.cfg;
    // The certificate first: a bad file stops the start before anything
    // else is opened.
    let tls = match cfg.server.tls_files() {
        Some((cert, key)) => Some(Arc::new(crate::tls::CertStore::open(cert, key)?)),
        None => None,
    };
    // The recorder before anything counts.
    let exporter = match cfg.metrics.enabled {
        true => Some(clavis_web::prometheus::Exporter::install()?),
        false => None,
    };
    // Held shared while serving: `clavis restore` never swaps the file
    // from under a running service.
    crate::cli::backup::hold_shared(cfg)?;
    let db = ctx.server_db().await?;
    jobs::checkpoint_wal(db.clone());
    let clock = ctx.clock.clone();
    let directory = Arc::new(cfg.directory.clone());
    let master =
        crate::master_key::load_for_service(&cfg.master_key_file(), &db, clock.now().timestamp())
            .await?;
    let badge = crate::cli::badge::service(cfg, &master).context("badge login")?;
    let decoys = master.derive("fido2 decoy credential ids");
    let ceremonies = master.derive("fido2 login ceremonies");
    let oidc = Arc::new(
        clavis_oidc::Provider::start(
            &db,
            cfg.oidc.clone(),
            &cfg.issuer(),
            master,
            cfg.authn.acr_order.clone(),
            clock.now().timestamp(),
        )
        .await
        .context("OpenID provider")?
        .with_fi_tiers(fi_tiers(cfg)),
    );
    let psc = psc(cfg)?;
    let state = AppState {
        db: db.clone(),
        directory: directory.clone(),
        clock: clock.clone(),
        subscribers: subscribers(),
        fido2: Arc::new(
            fido2(cfg)?
                .with_decoy_key(decoys)
                .with_ceremony_key(ceremonies),
        ),
        sso: cfg.sso.clone(),
        secure_cookies: true,
        public_url: cfg.public_url(),
        oidc: oidc.clone(),
        badge: Some(badge),
        trusted_proxies: cfg.server.trusted_proxy_ranges(),
        start_limits: Arc::new(clavis_web::limits::StartLimits::new(
            cfg.server.login_starts_per_minute,
            cfg.server.max_logins_in_progress,
        )),
        psc,
    };
    jobs::session_upkeep(db.clone(), oidc, clock.clone(), state.start_limits.clone());
    let engine = SyncEngine::new(db.clone(), directory.clone(), clock, subscribers());
    jobs::scheduled_syncs(&engine, &directory);
    jobs::compliance_snapshots(db.clone(), directory.clone(), ctx.clock.clone());
    jobs::audit_verification(db.clone(), ctx.clock.clone());
    jobs::lifecycle(engine, db.clone(), ctx.clock.clone());
    let probe = clavis_web::prometheus::Probe {
        db: db.clone(),
        clock: state.clock.clone(),
    };
    let listen = cfg.server.listen.clone();
    let server = actix_web::HttpServer::new(move || build_app(state.clone()));
    let server = match &tls {
        Some(store) => server.bind_rustls_0_23(&listen, crate::tls::server_config(store.clone())),
        None => server.bind(&listen),
    }
    .with_context(|| format!("cannot listen on {listen}"))?;
    crate::tls::reload_on_signal_or_change(tls.clone());
    let addrs = server.addrs();
    // The URL to open: the public one (WebAuthn binds keys to its host;
    // browsers accept localhost, never a bare IP address).
    let scheme = if tls.is_some() { "https" } else { "http" };
    let shown = match (&cfg.server.public_url, addrs.first()) {
        (Some(u), _) => u.clone(),
        (None, Some(a)) => format!("{scheme}://localhost:{}", a.port()),
        (None, None) => cfg.public_url(),
    };
    if let Some(exporter) = exporter {
        serve_metrics(&cfg.metrics.listen, exporter, probe);
    }
    println!("Clavis {} {shown}", t("écoute sur", "listening on"));
    tracing::info!(server.url = %shown, database = ?db.backend(), "clavis serving");
    // Bound and migrated: systemd hears READY=1, then the watchdog pings.
    crate::notify::ready(&db, &shown).await;
    crate::notify::watchdog(db.clone());
    crate::notify::stopping_on_signal();
    server.run().await?;
    Ok(())
}

/// Serves `/metrics` on `listen`, beside the public listener. A listener
/// that cannot be bound is logged as an error and Clavis serves on without
/// metrics: logins matter more than their counts (and the monitoring sees
/// its target down).
fn serve_metrics(
    listen: &str,
    exporter: clavis_web::prometheus::Exporter,
    probe: clavis_web::prometheus::Probe,
) {
    let server = actix_web::HttpServer::new(move || {
        clavis_web::prometheus::app(exporter.clone(), probe.clone())
    })
    .workers(1)
    .bind(listen);
    match server {
        Ok(server) => {
            tracing::info!(metrics.listen = %listen, "metrics served at /metrics");
            actix_web::rt::spawn(server.run());
        }
        Err(e) => {
            eprintln!(
                "{} metrics.listen {listen}: {e}",
                t(
                    "Clavis sert sans métriques :",
                    "Clavis serves without metrics:"
                )
            );
            tracing::error!(metrics.listen = %listen, error = %e, "cannot serve /metrics: serving on without metrics");
        }
    }
}

/// What Clavis asserts to Pro Santé Connect, when PSC is enabled.
pub fn fi_tiers(cfg: &Config) -> Option<clavis_oidc::fi_tiers::FiTiers> {
    cfg.psc.enabled.then(|| clavis_oidc::fi_tiers::FiTiers {
        tid: cfg.psc.tid.clone(),
        amr: cfg.psc.amr.clone(),
    })
}

/// The Pro Santé Connect client, when enabled (its credentials read now:
/// a missing secret or key stops the start with the key to fix).
pub fn psc(cfg: &Config) -> Result<Option<Arc<clavis_federation::Psc>>> {
    if !cfg.psc.enabled {
        return Ok(None);
    }
    let p =
        clavis_federation::Psc::load(&cfg.psc, &cfg.public_url()).context("Pro Santé Connect")?;
    Ok(Some(Arc::new(p)))
}

/// The FIDO2 relying party of this configuration (the allow-listed models'
/// CAs read from their files).
fn fido2(cfg: &Config) -> Result<clavis_authn::Fido2> {
    let url = url::Url::parse(&cfg.public_url()).context("server.public_url")?;
    let ca_list = if cfg.authn.attestation == clavis_authn::AttestationPolicy::AllowList {
        let mut b = webauthn_rs::prelude::AttestationCaListBuilder::new();
        for m in &cfg.authn.allowed_models {
            let pem =
                std::fs::read(&m.ca_file).with_context(|| format!("{}", m.ca_file.display()))?;
            let aaguid = uuid::Uuid::parse_str(&m.aaguid).context("aaguid")?;
            b.insert_device_pem(&pem, aaguid, m.description.clone(), Default::default())
                .map_err(|e| anyhow::anyhow!("{}: {e:?}", m.ca_file.display()))?;
        }
        Some(b.build())
    } else {
        None
    };
    Ok(clavis_authn::Fido2::new(cfg.authn.clone(), &url, ca_list)?)
}
