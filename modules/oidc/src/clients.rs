//! Relying parties: registration, secrets, and client authentication at
//! the token, introspection and revocation endpoints.
//!
//! Client ids are random; secrets are 256-bit random values shown once and
//! stored as SHA-256 (a secret of that entropy needs no slow hash).
//! Redirect URIs are matched exactly, byte for byte.

use crate::{OidcError, jws};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use clavis_audit::AuditEvent;
use clavis_core::{
    Actor, AuditAction, ClientId, Secret,
    secret::{hash_matches, random_b64url, sha256_hex},
};
use clavis_store::DbConn;
use clavis_store::models::{OidcClientRow, OidcGrantRow, UsedAssertions};
use serde::Serialize;
use serde_json::{Value, json};

/// Token endpoint authentication methods we support.
pub const AUTH_METHODS: &[&str] = &[
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
    "none",
];

/// What an operator registers.
#[derive(Debug, Clone, Default)]
pub struct NewClient {
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    /// A public client (no secret; PKCE required).
    pub public: bool,
    /// `client_secret_basic` (default for confidential clients),
    /// `client_secret_post` or `private_key_jwt` (then `jwks` is needed).
    pub auth_method: Option<String>,
    /// The client's public keys, for `private_key_jwt`.
    pub jwks: Option<Value>,
    pub backchannel_logout_uri: Option<String>,
    /// Require PKCE even from a confidential client.
    pub require_pkce: bool,
    pub require_acr: Option<String>,
    /// `RS256` (default) or `ES256`.
    pub id_token_alg: Option<String>,
    /// Scopes the client may receive. Default: all of [`crate::SCOPES`].
    pub scopes: Option<Vec<String>>,
    /// This client is Pro Santé Connect (FI tiers): it gets `tid`, `oid`
    /// and the mapped `amr`, and only for people whose link stands.
    pub psc: bool,
}

/// A client as operators see it (no secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClientView {
    pub client_id: ClientId,
    pub name: String,
    pub public: bool,
    pub auth_method: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub backchannel_logout_uri: Option<String>,
    pub require_pkce: bool,
    pub require_acr: Option<String>,
    pub id_token_alg: String,
    pub scopes: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub created_by: Actor,
    /// Pro Santé Connect itself.
    pub psc: bool,
}

impl ClientView {
    /// From the stored row.
    pub fn of(r: &OidcClientRow) -> Self {
        ClientView {
            client_id: r.client_id.clone(),
            name: r.name.clone(),
            public: r.auth_method == "none",
            auth_method: r.auth_method.clone(),
            redirect_uris: r.redirect_uris.to_vec(),
            post_logout_redirect_uris: r.post_logout_redirect_uris.to_vec(),
            backchannel_logout_uri: r.backchannel_logout_uri.clone(),
            require_pkce: r.require_pkce,
            require_acr: r.require_acr.clone(),
            id_token_alg: r.id_token_alg.clone(),
            scopes: r.scopes.to_vec(),
            created_at: DateTime::from_timestamp(r.created_at, 0).unwrap_or_default(),
            created_by: r.created_by.clone(),
            psc: r.psc,
        }
    }
}

/// Checks a redirect (or logout, or back-channel) URI: absolute, `https`
/// (plain `http` only to the loopback host, for tools on the same
/// machine), no fragment, no credentials, no `*` (it is matched exactly:
/// a wildcard would be a literal character an operator did not mean).
pub fn check_uri(what: &str, uri: &str) -> Result<(), OidcError> {
    let bad = |why: &str| OidcError::InvalidClient(format!("{what} {uri:?}: {why}"));
    if uri.contains('*') {
        return Err(bad(
            "is matched exactly, character for character: no wildcard (*); list each address",
        ));
    }
    let u = url::Url::parse(uri).map_err(|e| bad(&e.to_string()))?;
    if u.fragment().is_some() {
        return Err(bad("must not contain a fragment (#…)"));
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err(bad("must not contain credentials"));
    }
    let loopback = matches!(u.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    match u.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        "http" => Err(bad("must use https (http only to localhost)")),
        _ => Err(bad("must be an http(s) URL")),
    }
}

/// Where a registration's checks come from in the configuration.
#[derive(Debug, Clone, Copy)]
pub struct RegistrationRules<'a> {
    /// The configured acr values (`authn.acr_order`), which `require_acr`
    /// must name.
    pub acr_order: &'a clavis_core::AcrOrder,
    /// `oidc.backchannel.allow_local_targets`: whether a
    /// `backchannel_logout_uri` may point at a loopback, link-local or
    /// unspecified address.
    pub allow_local_backchannel: bool,
}

/// Why an address is no target for a back-channel request: loopback,
/// link-local or unspecified (IPv4-mapped IPv6 addresses judged as their
/// IPv4 address); `None` for any other, private networks included (the
/// hospital's applications live there).
pub fn local_address_kind(ip: std::net::IpAddr) -> Option<&'static str> {
    use std::net::IpAddr;
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    };
    if ip.is_loopback() {
        return Some("loopback");
    }
    if ip.is_unspecified() {
        return Some("unspecified");
    }
    let link_local = match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    };
    link_local.then_some("link-local")
}

/// Why the host of `uri` is no target for a back-channel request (see
/// [`local_address_kind`]; `localhost` and its subdomains are loopback
/// whatever they resolve to), or `None`. Names are judged as written;
/// what they resolve to is checked at delivery
/// ([`crate::backchannel::http_client`]).
pub fn local_target(uri: &url::Url) -> Option<&'static str> {
    match uri.host()? {
        url::Host::Domain(d) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            (d == "localhost" || d.ends_with(".localhost")).then_some("loopback")
        }
        url::Host::Ipv4(ip) => local_address_kind(ip.into()),
        url::Host::Ipv6(ip) => local_address_kind(ip.into()),
    }
}

/// [`check_uri`] for a back-channel logout URI, which Clavis itself calls:
/// also refuses loopback, link-local and unspecified hosts unless
/// `allow_local` (`oidc.backchannel.allow_local_targets`).
pub fn check_backchannel_uri(uri: &str, allow_local: bool) -> Result<(), OidcError> {
    const WHAT: &str = "backchannel_logout_uri";
    check_uri(WHAT, uri)?;
    if allow_local {
        return Ok(());
    }
    let parsed = url::Url::parse(uri).map_err(|e| OidcError::InvalidClient(e.to_string()))?;
    match local_target(&parsed) {
        Some(kind) => Err(OidcError::InvalidClient(format!(
            "{WHAT} {uri:?}: points at a {kind} address, which Clavis does not call \
             (set oidc.backchannel.allow_local_targets = true for an application on this machine)"
        ))),
        None => Ok(()),
    }
}

/// Registers a client; returns it and, for confidential clients using a
/// secret, the secret (shown once). Audited. Every check of a registration
/// is here, for the CLI and the admin API alike, under the configured
/// `rules`.
pub async fn register(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    new: NewClient,
    rules: &RegistrationRules<'_>,
    actor: &Actor,
) -> Result<(ClientView, Option<Secret<String>>), OidcError> {
    let acr_order = rules.acr_order;
    if let Some(a) = &new.require_acr
        && !acr_order.knows(a)
    {
        return Err(OidcError::InvalidClient(format!(
            "require_acr {a:?}: unknown acr value, expected one of {:?}",
            acr_order.levels()
        )));
    }
    if new.name.trim().is_empty() {
        return Err(OidcError::InvalidClient("name: must not be empty".into()));
    }
    if new.psc && new.public {
        return Err(OidcError::InvalidClient(
            "psc: Pro Santé Connect is a confidential client, it cannot be --public".into(),
        ));
    }
    if new.redirect_uris.is_empty() {
        return Err(OidcError::InvalidClient(
            "redirect_uri: at least one is required".into(),
        ));
    }
    for u in &new.redirect_uris {
        check_uri("redirect_uri", u)?;
    }
    for u in &new.post_logout_redirect_uris {
        check_uri("post_logout_redirect_uri", u)?;
    }
    if let Some(u) = &new.backchannel_logout_uri {
        check_backchannel_uri(u, rules.allow_local_backchannel)?;
    }
    let auth_method = if new.public {
        "none".to_string()
    } else {
        new.auth_method
            .clone()
            .unwrap_or_else(|| "client_secret_basic".into())
    };
    if !AUTH_METHODS.contains(&auth_method.as_str()) || (auth_method == "none") != new.public {
        return Err(OidcError::InvalidClient(format!(
            "auth_method {auth_method:?}: expected client_secret_basic, client_secret_post or private_key_jwt (or --public)"
        )));
    }
    let jwks = match (&auth_method[..], &new.jwks) {
        ("private_key_jwt", Some(j))
            if j.get("keys")
                .and_then(Value::as_array)
                .is_some_and(|k| !k.is_empty()) =>
        {
            Some(j.to_string())
        }
        ("private_key_jwt", _) => {
            return Err(OidcError::InvalidClient(
                "jwks: private_key_jwt needs the client's public keys (a JWK Set)".into(),
            ));
        }
        _ => None,
    };
    let alg = new.id_token_alg.clone().unwrap_or_else(|| "RS256".into());
    if crate::keys::Alg::parse(&alg).is_none() {
        return Err(OidcError::InvalidClient(format!(
            "id_token_alg {alg:?}: expected RS256 or ES256"
        )));
    }
    let scopes = new
        .scopes
        .clone()
        .unwrap_or_else(|| crate::SCOPES.iter().map(|s| s.to_string()).collect());
    let secret = matches!(
        &auth_method[..],
        "client_secret_basic" | "client_secret_post"
    )
    .then(|| random_b64url(32));
    let row = OidcClientRow {
        client_id: ClientId::from(random_b64url(16)),
        name: new.name.trim().to_string(),
        secret_hash: secret.as_deref().map(sha256_hex),
        auth_method,
        jwks,
        redirect_uris: new.redirect_uris.clone().into(),
        post_logout_redirect_uris: new.post_logout_redirect_uris.clone().into(),
        backchannel_logout_uri: new.backchannel_logout_uri.clone(),
        require_pkce: new.require_pkce || new.public,
        require_acr: new.require_acr.clone(),
        id_token_alg: alg,
        scopes: scopes.into(),
        created_at: now.timestamp(),
        created_by: actor.clone(),
        secret_rotated_at: None,
        removed_at: None,
        psc: new.psc,
    };
    conn.transaction(async |tx| -> Result<(), OidcError> {
        row.insert(tx).await?;
        AuditEvent::new(
                actor,
                AuditAction::OidcClientAdded,
                Some(row.client_id.to_string()),
                json!({"name": row.name, "auth_method": row.auth_method,
                       "redirect_uris": new.redirect_uris, "backchannel_logout_uri": row.backchannel_logout_uri,
                       "require_acr": row.require_acr, "psc": row.psc}),
            )
.record(tx, now)
        .await?;
        Ok(())
    })
    .await?;
    Ok((ClientView::of(&row), secret.map(Secret::new)))
}

/// Marks a registered client as Pro Santé Connect, or no longer. Audited
/// (as a change of the client).
pub async fn set_psc(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    client_id: &ClientId,
    psc: bool,
    actor: &Actor,
) -> Result<ClientView, OidcError> {
    let mut row = OidcClientRow::find_active(conn, client_id)
        .await?
        .ok_or_else(|| OidcError::UnknownClient(client_id.to_string()))?;
    if psc && row.auth_method == "none" {
        return Err(OidcError::InvalidClient(format!(
            "client {client_id:?} is public; Pro Santé Connect is a confidential client"
        )));
    }
    row.psc = psc;
    conn.transaction(async |tx| -> Result<(), OidcError> {
        row.update(tx).await?;
        AuditEvent::new(
            actor,
            AuditAction::OidcClientUpdated,
            Some(client_id.to_string()),
            json!({"psc": psc}),
        )
        .record(tx, now)
        .await?;
        Ok(())
    })
    .await?;
    Ok(ClientView::of(&row))
}

/// What an operator changes in a registered client: each field given
/// replaces the registered one; what is left `None` stays.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClientChanges {
    pub name: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    /// `Some(None)` removes it.
    pub backchannel_logout_uri: Option<Option<String>>,
    /// `Some(None)` removes the requirement.
    pub require_acr: Option<Option<String>>,
    /// The scopes it may ask for: the claims it may receive.
    pub scopes: Option<Vec<String>>,
}

/// Changes a registered client's settings under the same rules as a
/// registration (exact https redirect URIs, a known acr, known scopes with
/// `openid`), in one transaction, audited with each field's old and new
/// value (`oidc.client.updated`). Nothing changes when any field is
/// refused. A code already issued keeps the redirect URI it was issued
/// for (it lives a minute); the next authorization request is checked
/// against the new list.
pub async fn update(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    client_id: &ClientId,
    changes: ClientChanges,
    rules: &RegistrationRules<'_>,
    actor: &Actor,
) -> Result<ClientView, OidcError> {
    if let Some(n) = &changes.name
        && n.trim().is_empty()
    {
        return Err(OidcError::InvalidClient("name: must not be empty".into()));
    }
    if let Some(uris) = &changes.redirect_uris {
        if uris.is_empty() {
            return Err(OidcError::InvalidClient(
                "redirect_uri: at least one is required".into(),
            ));
        }
        for u in uris {
            check_uri("redirect_uri", u)?;
        }
    }
    for u in changes.post_logout_redirect_uris.iter().flatten() {
        check_uri("post_logout_redirect_uri", u)?;
    }
    if let Some(Some(u)) = &changes.backchannel_logout_uri {
        check_backchannel_uri(u, rules.allow_local_backchannel)?;
    }
    if let Some(Some(a)) = &changes.require_acr
        && !rules.acr_order.knows(a)
    {
        return Err(OidcError::InvalidClient(format!(
            "require_acr {a:?}: unknown acr value, expected one of {:?}",
            rules.acr_order.levels()
        )));
    }
    if let Some(scopes) = &changes.scopes {
        if let Some(bad) = scopes.iter().find(|s| !crate::SCOPES.contains(&s.as_str())) {
            return Err(OidcError::InvalidClient(format!(
                "scope {bad:?}: unknown, expected some of {:?}",
                crate::SCOPES
            )));
        }
        if !scopes.iter().any(|s| s == "openid") {
            return Err(OidcError::InvalidClient("scope: openid is required".into()));
        }
    }
    conn.transaction(async |tx| -> Result<ClientView, OidcError> {
        let mut row = OidcClientRow::find_active(tx, client_id)
            .await?
            .ok_or_else(|| OidcError::UnknownClient(client_id.to_string()))?;
        let mut changed = serde_json::Map::new();
        let mut note = |field: &str, old: Value, new: Value| {
            if old != new {
                changed.insert(field.into(), json!({"old": old, "new": new}));
            }
        };
        if let Some(n) = changes.name {
            let n = n.trim().to_string();
            note("name", json!(row.name), json!(n));
            row.name = n;
        }
        if let Some(u) = changes.redirect_uris {
            note("redirect_uris", json!(row.redirect_uris.0), json!(u));
            row.redirect_uris = u.into();
        }
        if let Some(u) = changes.post_logout_redirect_uris {
            note(
                "post_logout_redirect_uris",
                json!(row.post_logout_redirect_uris.0),
                json!(u),
            );
            row.post_logout_redirect_uris = u.into();
        }
        if let Some(u) = changes.backchannel_logout_uri {
            note(
                "backchannel_logout_uri",
                json!(row.backchannel_logout_uri),
                json!(u),
            );
            row.backchannel_logout_uri = u;
        }
        if let Some(a) = changes.require_acr {
            note("require_acr", json!(row.require_acr), json!(a));
            row.require_acr = a;
        }
        if let Some(s) = changes.scopes {
            note("scopes", json!(row.scopes.0), json!(s));
            row.scopes = s.into();
        }
        if !changed.is_empty() {
            row.update(tx).await?;
            AuditEvent::new(
                actor,
                AuditAction::OidcClientUpdated,
                Some(client_id.to_string()),
                Value::Object(changed),
            )
            .record(tx, now)
            .await?;
        }
        Ok(ClientView::of(&row))
    })
    .await
}

/// A new secret for a confidential client (the old one stops working at
/// once). Audited.
pub async fn rotate_secret(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    client_id: &ClientId,
    actor: &Actor,
) -> Result<Secret<String>, OidcError> {
    let mut row = OidcClientRow::find_active(conn, client_id)
        .await?
        .ok_or_else(|| OidcError::UnknownClient(client_id.to_string()))?;
    if row.secret_hash.is_none() {
        return Err(OidcError::InvalidClient(format!(
            "client {client_id:?} authenticates with {}, it has no secret",
            row.auth_method
        )));
    }
    let secret = random_b64url(32);
    row.secret_hash = Some(sha256_hex(&secret));
    row.secret_rotated_at = Some(now.timestamp());
    conn.transaction(async |tx| -> Result<(), OidcError> {
        row.update(tx).await?;
        AuditEvent::new(
            actor,
            AuditAction::OidcClientSecretRotated,
            Some(client_id.to_string()),
            json!({}),
        )
        .record(tx, now)
        .await?;
        Ok(())
    })
    .await?;
    Ok(Secret::new(secret))
}

/// Removes a client: its codes and tokens stop working at once. In one
/// transaction: the client is marked removed (and its secret forgotten),
/// every grant it holds is revoked (reason `client_removed`; their access
/// and refresh tokens die with them), and the removal is audited with the
/// number of grants revoked. Userinfo also checks that a token's client is
/// still registered, for grants of clients removed before this rule.
pub async fn remove(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    client_id: &ClientId,
    actor: &Actor,
) -> Result<(), OidcError> {
    conn.transaction(async |tx| -> Result<(), OidcError> {
        let mut row = OidcClientRow::find_active(tx, client_id)
            .await?
            .ok_or_else(|| OidcError::UnknownClient(client_id.to_string()))?;
        row.removed_at = Some(now.timestamp());
        row.secret_hash = None;
        row.update(tx).await?;
        let revoked =
            OidcGrantRow::revoke_for_client(tx, client_id, "client_removed", now.timestamp())
                .await?;
        AuditEvent::new(
            actor,
            AuditAction::OidcClientRemoved,
            Some(client_id.to_string()),
            json!({"name": row.name, "grants_revoked": revoked}),
        )
        .record(tx, now)
        .await?;
        tracing::info!(oidc.client_id = %client_id, grants_revoked = revoked, "client removed");
        Ok(())
    })
    .await
}

/// How a request to the token, introspection or revocation endpoint
/// presented its client.
#[derive(Default)]
pub struct Presented {
    /// From `Authorization: Basic`.
    pub basic: Option<(String, String)>,
    /// `client_id` form field.
    pub client_id: Option<String>,
    /// `client_secret` form field.
    pub client_secret: Option<String>,
    /// `client_assertion_type` form field.
    pub assertion_type: Option<String>,
    /// `client_assertion` form field.
    pub assertion: Option<String>,
}

impl std::fmt::Debug for Presented {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Presented")
            .field("basic_client", &self.basic.as_ref().map(|b| &b.0))
            .field("client_id", &self.client_id)
            .field("secrets", &"[redacted]")
            .finish()
    }
}

/// Decodes an `Authorization: Basic` header (RFC 6749 §2.3.1: both parts
/// form-urlencoded).
pub fn parse_basic(header: &str) -> Option<(String, String)> {
    let b64 = header
        .strip_prefix("Basic ")
        .or_else(|| header.strip_prefix("basic "))?;
    let raw = String::from_utf8(STANDARD.decode(b64.trim()).ok()?).ok()?;
    let (id, secret) = raw.split_once(':')?;
    let dec = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    Some((dec(id)?, dec(secret)?))
}

/// Authenticates the client of a back-channel request with the method it
/// registered. `audience` is our token endpoint URL (accepted as the
/// assertion's `aud`, as is the issuer). Any failure is `None`: the caller
/// answers `invalid_client` without saying why.
pub async fn authenticate(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    presented: &Presented,
    issuer: &str,
    audience: &str,
) -> Result<Option<OidcClientRow>, OidcError> {
    let claimed = presented
        .basic
        .as_ref()
        .map(|b| b.0.clone())
        .or_else(|| presented.client_id.clone())
        .or_else(|| {
            // private_key_jwt may name the client only in the assertion.
            let a = presented.assertion.as_deref()?;
            jws::parse(a)
                .ok()?
                .claims
                .get("sub")?
                .as_str()
                .map(str::to_string)
        });
    let Some(client_id) = claimed else {
        return Ok(None);
    };
    if presented
        .client_id
        .as_deref()
        .is_some_and(|c| c != client_id)
    {
        return Ok(None);
    }
    let Some(row) = OidcClientRow::find_active(conn, &ClientId::from(client_id)).await? else {
        return Ok(None);
    };
    let ok = match row.auth_method.as_str() {
        "client_secret_basic" => {
            presented
                .basic
                .as_ref()
                .is_some_and(|(_, s)| secret_matches(&row, s))
                && presented.client_secret.is_none()
        }
        "client_secret_post" => {
            presented.basic.is_none()
                && presented
                    .client_secret
                    .as_deref()
                    .is_some_and(|s| secret_matches(&row, s))
        }
        "private_key_jwt" => {
            match assertion_ok(&row, presented, now, issuer, audience) {
                Some((jti, exp)) if presented.basic.is_none() => {
                    // Each assertion once (OpenID Connect Core §9).
                    first_use_of_assertion(conn, now, &row.client_id, &jti, exp).await?
                }
                _ => false,
            }
        }
        "none" => {
            presented.basic.is_none()
                && presented.client_secret.is_none()
                && presented.assertion.is_none()
        }
        _ => false,
    };
    Ok(ok.then_some(row))
}

/// Records the use of the assertion `jti` (valid until `exp`) by
/// `client_id`: `false`, audited, when it was used before (a replay).
async fn first_use_of_assertion(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    client_id: &ClientId,
    jti: &str,
    exp: i64,
) -> Result<bool, OidcError> {
    let first = conn
        .transaction(async |tx| -> Result<bool, OidcError> {
            let first = UsedAssertions::record(tx, client_id, jti, exp, now.timestamp()).await?;
            if !first {
                AuditEvent::new(
                    Actor::Client(client_id.clone()),
                    AuditAction::OidcClientAssertionReplayed,
                    None,
                    json!({"jti": jti}),
                )
                .record(tx, now)
                .await?;
            }
            Ok(first)
        })
        .await?;
    if !first {
        tracing::warn!(oidc.client_id = %client_id, "client assertion replayed");
    }
    Ok(first)
}

fn secret_matches(row: &OidcClientRow, presented: &str) -> bool {
    row.secret_hash
        .as_deref()
        .is_some_and(|stored| hash_matches(stored, presented))
}

/// A valid client assertion's `jti` and `exp`; `None` when it is not valid
/// (type, signature, issuer, subject, audience, expiry at most 10 minutes
/// ahead, a `jti`). Whether it was used before is checked by the caller.
fn assertion_ok(
    row: &OidcClientRow,
    p: &Presented,
    now: DateTime<Utc>,
    issuer: &str,
    audience: &str,
) -> Option<(String, i64)> {
    if p.assertion_type.as_deref() != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
    {
        return None;
    }
    let (Some(a), Some(jwks)) = (p.assertion.as_deref(), row.jwks.as_deref()) else {
        return None;
    };
    let parsed = jws::parse(a).ok()?;
    let jwks = serde_json::from_str::<Value>(jwks).ok()?;
    jws::verify_with_set(&parsed, &jwks).ok()?;
    let c = &parsed.claims;
    let s = |k: &str| c.get(k).and_then(Value::as_str);
    let aud_ok = match c.get("aud") {
        Some(Value::String(a)) => a == audience || a == issuer,
        Some(Value::Array(v)) => v
            .iter()
            .any(|a| a.as_str() == Some(audience) || a.as_str() == Some(issuer)),
        _ => false,
    };
    let t = now.timestamp();
    let exp = c
        .get("exp")
        .and_then(Value::as_i64)
        .filter(|e| *e > t && *e <= t + 600)?;
    let jti = s("jti").filter(|j| !j.is_empty() && j.len() <= 256)?;
    (s("iss") == Some(row.client_id.as_str()) && s("sub") == Some(row.client_id.as_str()) && aud_ok)
        .then(|| (jti.to_string(), exp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_must_be_https_or_loopback_without_fragment() {
        check_uri("redirect_uri", "https://dpi.chu.fr/cb").expect("https");
        check_uri("redirect_uri", "http://127.0.0.1:9000/cb").expect("loopback");
        for bad in [
            "http://dpi.chu.fr/cb",
            "https://dpi.chu.fr/cb#x",
            "https://u:p@dpi.chu.fr/cb",
            "javascript:alert(1)",
            "/relative",
        ] {
            assert!(check_uri("redirect_uri", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn backchannel_uris_on_loopback_link_local_or_unspecified_hosts_are_refused() {
        for bad in [
            "http://127.0.0.1:9000/bc",
            "https://127.8.9.10/bc",
            "http://localhost/bc",
            "https://LocalHost./bc",
            "https://app.localhost/bc",
            "http://[::1]/bc",
            "https://[::ffff:127.0.0.1]/bc",
            "https://169.254.169.254/latest/meta-data",
            "https://[fe80::1]/bc",
            "https://[febf::1]/bc",
            "https://0.0.0.0/bc",
            "https://[::]/bc",
            // Other spellings of 127.0.0.1 the URL parser normalises.
            "https://2130706433/bc",
            "https://0x7f.1/bc",
        ] {
            let e = check_backchannel_uri(bad, false)
                .expect_err(bad)
                .to_string();
            assert!(e.starts_with("backchannel_logout_uri "), "{e}");
            assert!(e.contains("oidc.backchannel.allow_local_targets"), "{e}");
        }
        // Allowed by the setting (plain http stays limited to loopback).
        for allowed in [
            "http://127.0.0.1:9000/bc",
            "http://localhost:8000/bc",
            "http://[::1]/bc",
            "https://169.254.169.254/x",
        ] {
            check_backchannel_uri(allowed, true).expect(allowed);
        }
        for good in [
            "https://dpi.chu.test/bc",
            "https://10.1.2.3/bc",
            "https://192.168.1.5/bc",
            "https://172.16.0.1/bc",
            "https://[fd00::1]/bc",
            "https://[fec0::1]/bc",
        ] {
            check_backchannel_uri(good, false).expect(good);
        }
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let h = format!("Basic {}", STANDARD.encode("my%20app:s%3Ac"));
        assert_eq!(parse_basic(&h), Some(("my app".into(), "s:c".into())));
        assert_eq!(parse_basic("Basic !!!"), None);
        assert_eq!(parse_basic("Bearer x"), None);
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any Authorization header decodes or is refused, never panics.
        #[test]
        fn any_basic_header_is_handled(s in ".{0,200}", raw in any::<Vec<u8>>()) {
            let _ = parse_basic(&s);
            let _ = parse_basic(&format!("Basic {}", STANDARD.encode(raw)));
        }

        /// Any registered URI is accepted or refused with a message, never a panic.
        #[test]
        fn any_uri_is_checked(s in ".{0,200}") {
            let _ = check_uri("redirect_uri", &s);
        }
    }
}
