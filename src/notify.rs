//! What `clavis serve` tells systemd (`Type=notify`, sd_notify(3)) and the
//! operator about its state:
//!
//! - [`ready`]: `READY=1` once the listener is bound and the migrations
//!   are applied, with a `STATUS=` line (shown by `systemctl status`). On
//!   a fresh install, where nobody holds the `admin` role yet, that line
//!   and standard output (the journal) say what to run next
//!   (`clavis admin bootstrap`), in French first.
//! - [`watchdog`]: `WATCHDOG=1` every half `WATCHDOG_USEC` (the unit's
//!   `WatchdogSec=`), sent only after the database answered a query from
//!   the server's runtime: a hung runtime, a pool that gives no connection
//!   or a database that stays unreachable stops the pings, and systemd
//!   restarts Clavis (which loses nothing: all state is in the database).
//! - [`stopping_on_signal`]: `STOPPING=1` as soon as a stop is asked
//!   (SIGTERM, SIGINT), before the graceful shutdown.
//!
//! Outside systemd (`NOTIFY_SOCKET` unset, `WATCHDOG_USEC` unset) each does
//! nothing, so `clavis serve` by hand behaves as before.

use crate::cli::t;
use clavis_directory::roles;
use clavis_store::Db;
use clavis_store::models::IdentityRoleRow;
use sd_notify::NotifyState;

/// Says the service is ready: `READY=1` and a status line for `systemctl
/// status`; on a fresh install (no administrator yet) also prints the next
/// step.
pub async fn ready(db: &Db, url: &str) {
    let listening = format!("{} {url}", t("Clavis écoute sur", "Clavis listening on"));
    let status = if has_admin(db).await {
        listening
    } else {
        println!(
            "{}",
            t(
                "Clavis n'a pas encore d'administrateur. Étape suivante (docs/install.md) : \
                 créez une identité (clavis identity add …, ou une source d'annuaire), puis \
                 lancez clavis admin bootstrap --identity OID, sur ce serveur, en tant \
                 qu'utilisateur du service et avec sa configuration (paquet : sudo -u clavis \
                 clavis --config /etc/clavis/clavis.toml admin bootstrap --identity OID).",
                "Clavis has no administrator yet. Next step (docs/install.md): create an \
                 identity (clavis identity add …, or a directory source), then run clavis admin \
                 bootstrap --identity OID, on this server, as the service's user and with its \
                 configuration (package: sudo -u clavis clavis --config \
                 /etc/clavis/clavis.toml admin bootstrap --identity OID)."
            )
        );
        tracing::info!("no administrator yet: next step is `clavis admin bootstrap`");
        format!(
            "{listening} ; {}",
            t(
                "aucun administrateur : clavis admin bootstrap (docs/install.md)",
                "no administrator: clavis admin bootstrap (docs/install.md)"
            )
        )
    };
    send(&[NotifyState::Ready, NotifyState::Status(&status)]);
}

/// Whether someone holds the `admin` role. When the database cannot say,
/// the next step is not shown (a hint never stops the start).
async fn has_admin(db: &Db) -> bool {
    let Ok(mut conn) = db.conn().await else {
        return true;
    };
    match IdentityRoleRow::anyone_holds(&mut conn, roles::ADMIN).await {
        Ok(held) => held,
        Err(e) => {
            tracing::warn!(error = %e, "cannot tell whether Clavis has an administrator");
            true
        }
    }
}

/// Starts the watchdog task when systemd asked for one (`WATCHDOG_USEC`
/// for this process): every half period, a query on the database, then
/// `WATCHDOG=1` if it answered within that half period.
pub fn watchdog(db: Db) {
    let Some(period) = sd_notify::watchdog_enabled() else {
        return;
    };
    let every = period / 2;
    actix_web::rt::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            match tokio::time::timeout(every, db.check()).await {
                Ok(Ok(())) => send(&[NotifyState::Watchdog]),
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "watchdog: the database did not answer, no ping")
                }
                Err(_) => tracing::warn!(
                    timeout_ms = every.as_millis(),
                    "watchdog: the database check timed out, no ping"
                ),
            }
        }
    });
}

/// Sends `STOPPING=1` as soon as SIGTERM or SIGINT arrives (actix stops
/// the server on the same signals; this only tells systemd first).
pub fn stopping_on_signal() {
    actix_web::rt::spawn(async {
        let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        else {
            return;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        send(&[NotifyState::Stopping]);
    });
}

/// Sends `states` to systemd; a failure is logged, never fatal (the
/// service works the same without a manager listening).
fn send(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(error = %e, "cannot notify systemd");
    }
}
