//! Back-channel logout (OpenID Connect Back-Channel Logout 1.0).
//!
//! When an SSO session ends, for any reason, the session service queues
//! one notification per application the session signed in to
//! (`logout_outbox`, same transaction). [`deliver_due`] — run every few
//! seconds by `clavis serve` on every node — posts a signed logout token to
//! each application that registered a `backchannel_logout_uri`, retries
//! failures with a growing delay, and gives up after
//! `oidc.backchannel.max_attempts`. Every outcome is audited.
//!
//! Clavis makes these requests itself, to URIs an operator registered, so
//! they must not become a way into the appliance's own services: unless
//! `oidc.backchannel.allow_local_targets`, a URI whose host is a loopback,
//! link-local or unspecified address is refused before any request, and
//! the HTTP client of [`http_client`] resolves names itself, refuses a name
//! if any of its addresses is such an address, and connects only to the
//! addresses it checked (no second lookup in between), never through a
//! proxy. Redirects are not followed.

use crate::keys::Alg;
use crate::{OidcError, Provider};
use chrono::{DateTime, Utc};
use clavis_audit::AuditEvent;
use clavis_core::{Actor, AuditAction};
use clavis_store::models::{LogoutOutboxRow, OidcClientRow};
use clavis_store::{Db, DbConn};
use serde_json::json;

/// The event member of a logout token.
pub const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// Delay before attempt `n + 1` after `n` failures (seconds).
pub fn retry_delay(failures: i32) -> i64 {
    match failures {
        ..=1 => 10,
        2 => 30,
        3 => 60,
        4 => 300,
        5 => 900,
        6 => 1800,
        _ => 3600,
    }
}

impl Provider {
    /// A signed logout token for `client` about the session of `row`.
    pub fn logout_token(
        &self,
        client: &OidcClientRow,
        row: &LogoutOutboxRow,
        now: DateTime<Utc>,
    ) -> Result<String, OidcError> {
        let t = now.timestamp();
        let claims = json!({
            "iss": self.issuer,
            "aud": client.client_id,
            "iat": t,
            "exp": t + 120,
            "jti": clavis_core::secret::random_b64url(16),
            "sub": row.oid,
            "sid": row.session_id,
            "events": {EVENT: {}},
        });
        let keys = self.keys();
        let alg = Alg::parse(&client.id_token_alg).unwrap_or(Alg::Rs256);
        keys.current(alg)
            .ok_or(OidcError::Signing)?
            .sign("logout+jwt", &claims)
    }
}

/// The error of a name that resolves to a local address (see the module
/// doc), found again in the request error's sources.
#[derive(Debug)]
struct LocalTarget {
    host: String,
    kind: &'static str,
}

impl std::fmt::Display for LocalTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} resolves to a {} address", self.host, self.kind)
    }
}

impl std::error::Error for LocalTarget {}

/// The system resolver, refusing names with a loopback, link-local or
/// unspecified address among their addresses. The client connects to the
/// addresses returned here, so a name cannot resolve differently between
/// the check and the connection.
#[derive(Debug)]
struct CheckedResolver;

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<std::net::SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if let Some(kind) = addrs
                .iter()
                .find_map(|a| crate::clients::local_address_kind(a.ip()))
            {
                return Err(Box::new(LocalTarget { host, kind }) as _);
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The HTTP client back-channel deliveries go through: no redirects, and
/// unless `cfg.allow_local_targets` names resolved and checked as the
/// module doc says.
pub fn http_client(cfg: &crate::BackchannelConfig) -> Result<reqwest::Client, reqwest::Error> {
    let b = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
    let b = match cfg.allow_local_targets {
        true => b,
        // A proxy would resolve the names itself: direct only.
        false => b
            .dns_resolver(std::sync::Arc::new(CheckedResolver))
            .no_proxy(),
    };
    b.build()
}

/// What went wrong with one delivery, in words for the outbox and the
/// audit (never the token).
fn delivery_error(e: &reqwest::Error) -> String {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(local) = s.downcast_ref::<LocalTarget>() {
            return format!("refused: {local}");
        }
        source = s.source();
    }
    if e.is_timeout() {
        "timeout".to_string()
    } else if e.is_connect() {
        "connection refused or unreachable".to_string()
    } else {
        "request failed".to_string()
    }
}

/// Delivers the notifications due at `now` through `http` (made by
/// [`http_client`]); returns how many were delivered.
pub async fn deliver_due(
    provider: &Provider,
    db: &Db,
    http: &reqwest::Client,
    now: DateTime<Utc>,
) -> Result<usize, OidcError> {
    let mut conn = db.conn().await?;
    let due = LogoutOutboxRow::due(&mut conn, now.timestamp(), 100).await?;
    let mut delivered = 0;
    // This attempt's claims: of several nodes delivering at once, one
    // sends each notification; a node that dies mid-attempt leaves it to
    // the others once its claim runs out (the request's timeout and a
    // minute).
    let owner = clavis_core::secret::random_token();
    let lease = provider.cfg.backchannel.timeout_secs as i64 + 60;
    // Each row at its own time: a batch may take a while (a request waits
    // up to its timeout), and a claim must run from when it is taken.
    let started = std::time::Instant::now();
    for mut row in due {
        let now = now
            + chrono::Duration::from_std(started.elapsed())
                .unwrap_or_else(|_| chrono::Duration::zero());
        let t = now.timestamp();
        // Only as it was read: still due, with the attempts counted then
        // (another node may have tried it since this list was read).
        if !LogoutOutboxRow::claim(&mut conn, &row, &owner, t, t + lease).await? {
            continue;
        }
        let client = OidcClientRow::find_active(&mut conn, &row.client_id).await?;
        let Some((client, uri)) = client.and_then(|c| {
            let uri = c.backchannel_logout_uri.clone()?;
            Some((c, uri))
        }) else {
            // Nothing to tell an application without a back-channel URI.
            row.given_up_at = Some(t);
            row.last_error = Some("no backchannel_logout_uri".into());
            row.record_attempt(&mut conn, &owner).await?;
            continue;
        };
        // An address written in the URI never goes through the resolver:
        // checked here (a registration older than the rule, or one made
        // while local targets were allowed).
        let local = match (
            provider.cfg.backchannel.allow_local_targets,
            url::Url::parse(&uri),
        ) {
            (true, _) => None,
            (false, Ok(u)) => crate::clients::local_target(&u),
            (false, Err(_)) => Some("malformed"),
        };
        row.attempts += 1;
        let error = match local {
            Some(kind) => Some(format!("refused: the URI names a {kind} address")),
            None => {
                let token = provider.logout_token(&client, &row, now)?;
                let result = http
                    .post(&uri)
                    .timeout(std::time::Duration::from_secs(
                        provider.cfg.backchannel.timeout_secs,
                    ))
                    .header("Cache-Control", "no-store")
                    .form(&[("logout_token", token.as_str())])
                    .send()
                    .await;
                match result {
                    Ok(r) if r.status().is_success() => None,
                    Ok(r) => Some(format!("HTTP {}", r.status().as_u16())),
                    Err(e) => Some(delivery_error(&e)),
                }
            }
        };
        let action = match &error {
            None => {
                row.delivered_at = Some(t);
                row.last_error = None;
                delivered += 1;
                AuditAction::OidcBackchannelDelivered
            }
            Some(e) if row.attempts >= provider.cfg.backchannel.max_attempts => {
                row.given_up_at = Some(t);
                row.last_error = Some(e.clone());
                AuditAction::OidcBackchannelGivenUp
            }
            Some(e) => {
                row.next_attempt_at = t + retry_delay(row.attempts);
                row.last_error = Some(e.clone());
                AuditAction::OidcBackchannelFailed
            }
        };
        if let Some(e) = &error {
            tracing::warn!(oidc.client_id = %row.client_id, session.id = %row.session_id, attempts = row.attempts, error = %e, "back-channel logout not delivered");
        }
        conn.transaction(async |tx: &mut DbConn| -> Result<(), OidcError> {
            // Its claim ran out and another node took it over: that one
            // records the outcome.
            if !row.record_attempt(tx, &owner).await? {
                return Ok(());
            }
            AuditEvent::new(
                    Actor::Clavis,
                    action,
                    Some(row.client_id.to_string()),
                    json!({"session_id": row.session_id, "oid": row.oid, "attempts": row.attempts, "error": row.last_error}),
                )
.record(tx, now)
            .await?;
            Ok(())
        })
        .await?;
    }
    Ok(delivered)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `localhost` resolves to 127.0.0.1 here: the client refuses it after
    /// resolving, before connecting.
    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_refused_before_any_connection() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let http = http_client(&crate::BackchannelConfig::default()).expect("client");
        let e = http
            .post(format!("http://localhost:{port}/bc"))
            .send()
            .await
            .expect_err("refused");
        assert_eq!(
            delivery_error(&e),
            "refused: localhost resolves to a loopback address"
        );
        let accepted = tokio::time::timeout(std::time::Duration::ZERO, listener.accept()).await;
        assert!(accepted.is_err(), "no connection was made");
    }

    #[test]
    fn the_retry_delays_grow_to_an_hour() {
        let delays: Vec<i64> = (1..=9).map(retry_delay).collect();
        assert_eq!(delays, [10, 30, 60, 300, 900, 1800, 3600, 3600, 3600]);
    }
}
