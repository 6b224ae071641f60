//! The protocol: authorization requests against the SSO session, the token
//! endpoint, userinfo, introspection, revocation and RP-initiated logout.
//!
//! Errors are named exactly as RFC 6749 and OpenID Connect Core name them.
//! An unknown client or a `redirect_uri` that is not registered (exact
//! match) is never redirected to: the user sees an error page
//! ([`AuthorizeError::Page`]).

use crate::clients::{self, Presented};
use crate::keys::Alg;
use crate::{OidcError, Provider, jws};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use clavis_audit::AuditEvent;
use clavis_sso::Session;
use clavis_store::models::{IdentityRow, OidcClientRow, OidcGrantRow, OidcTokenRow, SsoSessionRow};
use clavis_store::{Db, DbConn};
use rand::RngCore;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Why an authorization request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeError {
    /// Shown to the user, never redirected (unknown client, unregistered
    /// redirect URI, a request we cannot even attribute).
    Page {
        /// Stable code (`unknown_client`, `invalid_redirect_uri`,
        /// `invalid_request`).
        code: &'static str,
        /// What to tell the user (French).
        message: String,
    },
    /// Sent back to the client's redirect URI as `error`.
    Redirect {
        /// The URL to send the browser to, with `error`, `error_description`,
        /// `state` and `iss`.
        location: String,
        /// The RFC 6749 / OIDC error code.
        error: &'static str,
    },
    /// Storage or signing failed.
    Internal(String),
}

impl From<OidcError> for AuthorizeError {
    fn from(e: OidcError) -> Self {
        AuthorizeError::Internal(e.to_string())
    }
}

impl From<clavis_store::StoreError> for AuthorizeError {
    fn from(e: clavis_store::StoreError) -> Self {
        AuthorizeError::Internal(e.to_string())
    }
}

/// What to do with an authorization request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The user must (re-)authenticate, at least at `acr`; then come back
    /// to `return_to` (a path inside Clavis).
    Login {
        return_to: String,
        acr: Option<String>,
        login_hint: Option<String>,
    },
    /// Redirect the browser to the client (with the code).
    Redirect(String),
}

/// Parameters as a map, refusing repeats (RFC 6749 §3.1).
fn single(params: &[(String, String)]) -> Result<BTreeMap<&str, &str>, String> {
    let mut m = BTreeMap::new();
    for (k, v) in params {
        if m.insert(k.as_str(), v.as_str()).is_some() {
            return Err(format!("parameter {k} is repeated"));
        }
    }
    Ok(m)
}

/// `location` with extra query parameters appended.
fn with_query(location: &str, pairs: &[(&str, &str)]) -> String {
    match url::Url::parse(location) {
        Ok(mut u) => {
            {
                let mut q = u.query_pairs_mut();
                for (k, v) in pairs {
                    q.append_pair(k, v);
                }
            }
            u.to_string()
        }
        Err(_) => location.to_string(),
    }
}

fn random_token() -> String {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// Replaces the ID token's claims in a token response by the token signed
/// with the current key of `alg`.
fn sign_id_token(
    keys: &crate::keys::KeyRing,
    alg: Alg,
    mut body: Value,
) -> Result<Value, TokenError> {
    let claims = body["id_token"].take();
    let key = keys
        .current(alg)
        .ok_or_else(|| TokenError::internal("no signing key"))?;
    body["id_token"] = json!(key.sign("JWT", &claims).map_err(TokenError::internal)?);
    Ok(body)
}

/// The `at_hash` of an access token (left half of its SHA-256).
fn at_hash(token: &str) -> String {
    let d = Sha256::digest(token.as_bytes());
    URL_SAFE_NO_PAD.encode(&d[..16])
}

/// A token endpoint (or introspection/revocation) error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenError {
    /// HTTP status (400, or 401 for `invalid_client`).
    pub status: u16,
    /// The RFC 6749 error code.
    pub error: &'static str,
    /// Human-readable detail (never a secret).
    pub description: String,
}

impl TokenError {
    fn new(error: &'static str, description: impl Into<String>) -> Self {
        TokenError {
            status: if error == "invalid_client" { 401 } else { 400 },
            error,
            description: description.into(),
        }
    }

    fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "token endpoint failed");
        TokenError {
            status: 500,
            error: "server_error",
            description: "internal error".into(),
        }
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        json!({"error": self.error, "error_description": self.description})
    }
}

impl From<clavis_store::StoreError> for TokenError {
    fn from(e: clavis_store::StoreError) -> Self {
        TokenError::internal(e)
    }
}

/// A userinfo error (RFC 6750): `invalid_token` and 401, or 500.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BearerError {
    /// HTTP status.
    pub status: u16,
    /// `invalid_token`, `invalid_request` or `server_error`.
    pub error: &'static str,
}

/// Where RP-initiated logout goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndSession {
    /// Ask the user to confirm (the request did not prove which session it
    /// ends). Carry these parameters in the confirmation form.
    Confirm { params: Vec<(String, String)> },
    /// Done: redirect there, or show the signed-out page.
    Done { redirect: Option<String> },
}

/// What the provider needs to know of the SSO session of the request.
pub type CurrentSession<'a> = Option<&'a Session>;

impl Provider {
    fn rank(&self, acr: &str) -> Option<usize> {
        self.acr_order.iter().position(|a| a == acr)
    }

    /// Handles an authorization request (GET query or POST form), given the
    /// browser's live SSO session if any.
    #[tracing::instrument(skip_all, fields(oidc.client_id))]
    pub async fn authorize(
        &self,
        db: &Db,
        now: DateTime<Utc>,
        params: &[(String, String)],
        session: CurrentSession<'_>,
    ) -> Result<Outcome, AuthorizeError> {
        let page = |code, message: &str| AuthorizeError::Page {
            code,
            message: message.to_string(),
        };
        let p = single(params).map_err(|m| page("invalid_request", &m))?;
        let client_id = p
            .get("client_id")
            .ok_or_else(|| page("invalid_request", "Paramètre client_id manquant."))?;
        tracing::Span::current().record("oidc.client_id", client_id);
        let client = match db.inline() {
            Some(i) => OidcClientRow::find_active_inline(i, client_id)?,
            None => OidcClientRow::find_active(&mut db.conn().await?, client_id).await?,
        }
        .ok_or_else(|| {
            page(
                "unknown_client",
                "Application inconnue : elle n'est pas enregistrée auprès de Clavis.",
            )
        })?;
        let redirect_uri = p
            .get("redirect_uri")
            .copied()
            .ok_or_else(|| page("invalid_request", "Paramètre redirect_uri manquant."))?;
        if !clients::list(&client.redirect_uris)
            .iter()
            .any(|u| u == redirect_uri)
        {
            return Err(page(
                "invalid_redirect_uri",
                "L'adresse de retour demandée n'est pas enregistrée pour cette application.",
            ));
        }
        // From here on, errors go back to the client.
        let state = p.get("state").copied();
        let fail = |error: &'static str, description: &str| {
            let mut pairs = vec![("error", error), ("error_description", description)];
            if let Some(s) = state {
                pairs.push(("state", s));
            }
            pairs.push(("iss", &self.issuer));
            AuthorizeError::Redirect {
                location: with_query(redirect_uri, &pairs),
                error,
            }
        };
        if p.contains_key("request") {
            return Err(fail(
                "request_not_supported",
                "request objects are not supported",
            ));
        }
        if p.contains_key("request_uri") {
            return Err(fail(
                "request_uri_not_supported",
                "request_uri is not supported",
            ));
        }
        match p.get("response_type") {
            Some(&"code") => {}
            Some(_) => {
                return Err(fail(
                    "unsupported_response_type",
                    "only response_type=code is supported",
                ));
            }
            None => return Err(fail("invalid_request", "response_type is required")),
        }
        if let Some(m) = p.get("response_mode")
            && *m != "query"
        {
            return Err(fail(
                "invalid_request",
                "only response_mode=query is supported",
            ));
        }
        let requested: Vec<&str> = p
            .get("scope")
            .map(|s| s.split(' ').filter(|x| !x.is_empty()).collect())
            .unwrap_or_default();
        if !requested.contains(&"openid") {
            return Err(fail("invalid_scope", "the openid scope is required"));
        }
        let allowed = clients::list(&client.scopes);
        let mut granted: Vec<&str> = Vec::new();
        for s in requested {
            // Unknown scopes, and scopes this client may not have, are ignored.
            if crate::SCOPES.contains(&s)
                && (s == "openid" || allowed.iter().any(|a| a == s))
                && !granted.contains(&s)
            {
                granted.push(s);
            }
        }
        let challenge = p.get("code_challenge").copied();
        match (challenge, p.get("code_challenge_method").copied()) {
            (Some(_), Some("S256")) => {}
            (Some(_), None | Some(_)) => {
                return Err(fail(
                    "invalid_request",
                    "code_challenge_method must be S256",
                ));
            }
            (None, Some(_)) => return Err(fail("invalid_request", "code_challenge is missing")),
            (None, None) if client.require_pkce => {
                return Err(fail("invalid_request", "this client must use PKCE (S256)"));
            }
            (None, None) => {}
        }
        if let Some(c) = challenge
            && (c.len() != 43
                || !c
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        {
            return Err(fail(
                "invalid_request",
                "code_challenge must be a base64url SHA-256",
            ));
        }
        let prompt: Vec<&str> = p
            .get("prompt")
            .map(|s| s.split(' ').filter(|x| !x.is_empty()).collect())
            .unwrap_or_default();
        if prompt.contains(&"none") && prompt.len() > 1 {
            return Err(fail("invalid_request", "prompt=none cannot be combined"));
        }
        if let Some(bad) = prompt
            .iter()
            .find(|v| !matches!(**v, "none" | "login" | "consent" | "select_account"))
        {
            return Err(fail(
                "invalid_request",
                &format!("unknown prompt value {bad}"),
            ));
        }
        let max_age = match p.get("max_age") {
            Some(v) => Some(v.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                fail("invalid_request", "max_age must be a non-negative integer")
            })?),
            None => None,
        };
        let login_after = p.get("login_after").and_then(|v| v.parse::<i64>().ok());
        // The assurance asked: the client's floor and acr_values, the strongest we know.
        let mut wanted: Vec<&str> = p
            .get("acr_values")
            .map(|s| s.split(' ').collect())
            .unwrap_or_default();
        if let Some(r) = &client.require_acr {
            wanted.push(r);
        }
        let need_acr = wanted
            .iter()
            .filter_map(|a| self.rank(a).map(|r| (r, *a)))
            .max()
            .map(|(_, a)| a.to_string());
        let hint_sub = match p.get("id_token_hint") {
            Some(h) => Some(
                self.verify_own(h)
                    .and_then(|c| c.get("sub").and_then(Value::as_str).map(str::to_string))
                    .ok_or_else(|| {
                        fail(
                            "invalid_request",
                            "id_token_hint is not an ID token of ours",
                        )
                    })?,
            ),
            None => None,
        };
        let none = prompt.contains(&"none");
        let t = now.timestamp();
        let usable = session.filter(|s| {
            let fresh_enough = max_age.is_none_or(|m| t - s.auth_time.timestamp() <= m);
            let after = login_after.is_none_or(|a| s.auth_time.timestamp() >= a);
            let strong = need_acr.as_deref().is_none_or(|need| {
                self.rank(&s.acr).unwrap_or(0) >= self.rank(need).unwrap_or(usize::MAX)
            });
            let same = hint_sub.as_deref().is_none_or(|h| h == s.oid);
            fresh_enough && after && strong && same && !prompt.contains(&"login")
        });
        let Some(session) = usable else {
            if none {
                return Err(fail("login_required", "no usable session"));
            }
            // Back here after the login, without asking for it again.
            let mut back: Vec<(String, String)> = params
                .iter()
                .filter(|(k, v)| k != "login_after" && !(k == "prompt" && v.contains("login")))
                .cloned()
                .collect();
            if prompt.contains(&"login") || max_age.is_some() {
                back.push(("login_after".into(), t.to_string()));
            }
            let query = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(back.iter())
                .finish();
            return Ok(Outcome::Login {
                return_to: format!("{}?{query}", crate::paths::AUTHORIZE),
                acr: need_acr,
                login_hint: p.get("login_hint").map(|s| s.to_string()),
            });
        };
        // Issue the code.
        let code = random_token();
        let grant = OidcGrantRow {
            id: clavis_core::ids::new_record_id(),
            code_hash: sha256_hex(&code),
            client_id: client.client_id.clone(),
            oid: session.oid.clone(),
            session_id: session.id.clone(),
            redirect_uri: redirect_uri.to_string(),
            scope: granted.join(" "),
            nonce: p.get("nonce").map(|s| s.to_string()),
            code_challenge: challenge.map(str::to_string),
            auth_time: session.auth_time.timestamp(),
            acr: session.acr.clone(),
            amr: json!(session.amr).to_string(),
            code_expires_at: t + self.cfg.code_ttl_secs,
            code_used_at: None,
            revoked_at: None,
            revoked_reason: None,
            created_at: t,
        };
        let mut conn = db.conn().await?;
        conn.atomically(async |conn: &mut DbConn| -> Result<(), AuthorizeError> {
            conn.begin().await?;
            let r: Result<(), OidcError> = async {
                grant.insert(conn).await?;
                SsoSessionRow::add_application(conn, &session.id, &client.client_id).await?;
                clavis_audit::append(
                    conn,
                    now,
                    vec![AuditEvent::new(
                        format!("identity:{}", session.oid),
                        "oidc.authorized",
                        Some(client.client_id.clone()),
                        json!({"session_id": session.id, "scope": grant.scope, "acr": session.acr, "grant_id": grant.id}),
                    )],
                )
                .await?;
                Ok(())
            }
            .await;
            conn.finish(r).await?;
            Ok(())
        })
        .await?;
        let mut pairs = vec![("code", code.as_str())];
        if let Some(s) = state {
            pairs.push(("state", s));
        }
        pairs.push(("iss", &self.issuer));
        Ok(Outcome::Redirect(with_query(redirect_uri, &pairs)))
    }

    /// The claims of an ID token we signed (signature and issuer checked;
    /// expiry not: an `id_token_hint` may have expired).
    pub fn verify_own(&self, token: &str) -> Option<Value> {
        let parsed = jws::parse(token).ok()?;
        jws::verify_with_set(&parsed, &self.keys().jwks()).ok()?;
        (parsed.claims.get("iss").and_then(Value::as_str) == Some(self.issuer.as_str()))
            .then_some(parsed.claims)
    }

    /// The token endpoint.
    #[tracing::instrument(skip_all, fields(oidc.client_id, oidc.grant_type))]
    pub async fn token(
        &self,
        db: &Db,
        now: DateTime<Utc>,
        presented: &Presented,
        form: &[(String, String)],
    ) -> Result<Value, TokenError> {
        let p = single(form).map_err(|m| TokenError::new("invalid_request", m))?;
        let mut conn = db.conn().await.map_err(TokenError::internal)?;
        // One unit from the client's authentication to the tokens: on SQLite
        // every statement runs in place (no hop to the blocking pool per read).
        let (client, issued) = conn
            .atomically(async |conn: &mut DbConn| {
                let client = clients::authenticate(
                    conn,
                    now,
                    presented,
                    &self.issuer,
                    &self.url(crate::paths::TOKEN),
                )
                .await
                .map_err(TokenError::internal)?
                .ok_or_else(|| TokenError::new("invalid_client", "client authentication failed"))?;
                tracing::Span::current().record("oidc.client_id", client.client_id.as_str());
                let grant_type = p.get("grant_type").copied().unwrap_or("");
                tracing::Span::current().record("oidc.grant_type", grant_type);
                let issued = match grant_type {
                    "authorization_code" => self.code_grant(conn, now, &client, &p).await,
                    "refresh_token" => self.refresh_grant(conn, now, &client, &p).await,
                    "" => Err(TokenError::new("invalid_request", "grant_type is required")),
                    _ => Err(TokenError::new(
                        "unsupported_grant_type",
                        "supported: authorization_code, refresh_token",
                    )),
                }?;
                Ok::<_, TokenError>((client, issued))
            })
            .await?;
        drop(conn);
        // Signed once the unit is over (the signature needs no write turn),
        // on a signing thread (see `signers`).
        let keys = self.keys();
        let alg = Alg::parse(&client.id_token_alg).unwrap_or(Alg::Rs256);
        self.signers
            .run(move || sign_id_token(&keys, alg, issued))
            .await
    }

    async fn code_grant(
        &self,
        conn: &mut DbConn,
        now: DateTime<Utc>,
        client: &OidcClientRow,
        p: &BTreeMap<&str, &str>,
    ) -> Result<Value, TokenError> {
        let code = p
            .get("code")
            .copied()
            .ok_or_else(|| TokenError::new("invalid_request", "code is required"))?;
        let t = now.timestamp();
        let grant = OidcGrantRow::find_by_code(conn, &sha256_hex(code))
            .await
            .map_err(TokenError::internal)?
            .filter(|g| g.client_id == client.client_id)
            .ok_or_else(|| TokenError::new("invalid_grant", "unknown authorization code"))?;
        conn.atomically(async |conn: &mut DbConn| -> Result<Result<Value, TokenError>, TokenError> {
                conn.begin().await.map_err(TokenError::internal)?;
                let r = self.exchange_code(conn, now, client, &grant, p).await;
                match r {
                    Ok(v) => conn.finish::<Value, TokenError>(Ok(v)).await.map(Ok),
                    Err((err, replay)) => {
                        conn.rollback().await.map_err(TokenError::internal)?;
                        if replay {
                            // A used code came back: whatever it issued is revoked.
                            conn.begin().await.map_err(TokenError::internal)?;
                            let r: Result<(), OidcError> = async {
                                OidcGrantRow::revoke(conn, &grant.id, "code_replayed", t).await?;
                                clavis_audit::append(
                                    conn,
                                    now,
                                    vec![AuditEvent::new(
                                        format!("client:{}", client.client_id),
                                        "oidc.code.replayed",
                                        Some(grant.id.clone()),
                                        json!({"oid": grant.oid, "session_id": grant.session_id}),
                                    )],
                                )
                                .await?;
                                Ok(())
                            }
                            .await;
                            conn.finish(r).await.map_err(TokenError::internal)?;
                            tracing::warn!(oidc.grant_id = %grant.id, "authorization code replayed: grant revoked");
                        }
                        Ok(Err(err))
                    }
                }
            })
            .await?
    }

    /// Inside the exchange's transaction. `Err((error, is_replay))`.
    async fn exchange_code(
        &self,
        conn: &mut DbConn,
        now: DateTime<Utc>,
        client: &OidcClientRow,
        grant: &OidcGrantRow,
        p: &BTreeMap<&str, &str>,
    ) -> Result<Value, (TokenError, bool)> {
        let t = now.timestamp();
        let invalid = |m: &str| (TokenError::new("invalid_grant", m), false);
        if !OidcGrantRow::use_code(conn, &grant.id, t)
            .await
            .map_err(|e| (TokenError::internal(e), false))?
        {
            return Err((
                TokenError::new("invalid_grant", "authorization code already used"),
                true,
            ));
        }
        if grant.code_expires_at <= t {
            return Err(invalid("authorization code expired"));
        }
        if grant.revoked_at.is_some() {
            return Err(invalid("authorization revoked"));
        }
        if p.get("redirect_uri").copied() != Some(grant.redirect_uri.as_str()) {
            return Err(invalid(
                "redirect_uri does not match the authorization request",
            ));
        }
        match (&grant.code_challenge, p.get("code_verifier")) {
            (Some(challenge), Some(verifier)) => {
                let ok_len = (43..=128).contains(&verifier.len());
                let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
                if !ok_len
                    || !clavis_core::secret::constant_time_eq(
                        computed.as_bytes(),
                        challenge.as_bytes(),
                    )
                {
                    return Err(invalid("code_verifier does not match the code_challenge"));
                }
            }
            (Some(_), None) => return Err(invalid("code_verifier is required")),
            (None, Some(_)) => {
                return Err(invalid(
                    "no code_challenge was sent with this authorization",
                ));
            }
            (None, None) => {}
        }
        let session = SsoSessionRow::find(conn, &grant.session_id)
            .await
            .map_err(|e| (TokenError::internal(e), false))?
            .filter(|s| s.ended_at.is_none() && s.expires_at > t)
            .ok_or_else(|| invalid("the sign-in session has ended"))?;
        let scopes: Vec<&str> = grant.scope.split(' ').collect();
        let body = self
            .issue(
                conn,
                now,
                client,
                grant,
                &scopes,
                session.expires_at,
                grant.nonce.as_deref(),
            )
            .await
            .map_err(|e| match e {
                IssueError::NotActive => invalid("the person can no longer sign in"),
                IssueError::Other(e) => (TokenError::internal(e), false),
            })?;
        Ok(body)
    }

    /// Issues access + refresh tokens and an ID token for `grant`.
    #[allow(clippy::too_many_arguments)]
    async fn issue(
        &self,
        conn: &mut DbConn,
        now: DateTime<Utc>,
        client: &OidcClientRow,
        grant: &OidcGrantRow,
        scopes: &[&str],
        refresh_expires_at: i64,
        nonce: Option<&str>,
    ) -> Result<Value, IssueError> {
        let t = now.timestamp();
        let identity = IdentityRow::find(conn, &grant.oid)
            .await
            .map_err(|e| IssueError::Other(e.to_string()))?
            .filter(|i| i.status == "active")
            .ok_or(IssueError::NotActive)?;
        let access = random_token();
        let refresh = random_token();
        let access_exp = t + self.cfg.access_token_ttl_secs;
        let scope = scopes.join(" ");
        let row = |hash: String, kind: &str, exp: i64| OidcTokenRow {
            token_hash: hash,
            grant_id: grant.id.clone(),
            kind: kind.into(),
            client_id: client.client_id.clone(),
            oid: grant.oid.clone(),
            scope: scope.clone(),
            expires_at: exp,
            used_at: None,
            created_at: t,
        };
        OidcTokenRow::insert_all(
            conn,
            &[
                row(sha256_hex(&access), "access", access_exp),
                row(sha256_hex(&refresh), "refresh", refresh_expires_at),
            ],
        )
        .await
        .map_err(|e| IssueError::Other(e.to_string()))?;
        let mut claims = crate::claims::for_identity(
            conn,
            &identity,
            &client.client_id,
            scopes,
            &self.cfg.claim_names,
        )
        .await
        .map_err(|e| IssueError::Other(e.to_string()))?;
        claims.insert("iss".into(), json!(self.issuer));
        claims.insert("aud".into(), json!(client.client_id));
        claims.insert("azp".into(), json!(client.client_id));
        claims.insert("iat".into(), json!(t));
        claims.insert("exp".into(), json!(t + self.cfg.id_token_ttl_secs));
        claims.insert("auth_time".into(), json!(grant.auth_time));
        claims.insert("acr".into(), json!(grant.acr));
        claims.insert(
            "amr".into(),
            serde_json::from_str::<Value>(&grant.amr).unwrap_or(json!([])),
        );
        claims.insert("sid".into(), json!(grant.session_id));
        claims.insert("at_hash".into(), json!(at_hash(&access)));
        if let Some(n) = nonce {
            claims.insert("nonce".into(), json!(n));
        }
        clavis_audit::append(
            conn,
            now,
            vec![AuditEvent::new(
                format!("client:{}", client.client_id),
                "oidc.tokens.issued",
                Some(grant.id.clone()),
                json!({"oid": grant.oid, "scope": scope}),
            )],
        )
        .await
        .map_err(|e| IssueError::Other(e.to_string()))?;
        Ok(json!({
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self.cfg.access_token_ttl_secs,
            "refresh_token": refresh,
            // Signed by `sign_id_token` once the transaction is over: the
            // signature (half a millisecond of RSA) needs no write turn.
            "id_token": Value::Object(claims),
            "scope": scope,
        }))
    }

    async fn refresh_grant(
        &self,
        conn: &mut DbConn,
        now: DateTime<Utc>,
        client: &OidcClientRow,
        p: &BTreeMap<&str, &str>,
    ) -> Result<Value, TokenError> {
        let presented = p
            .get("refresh_token")
            .copied()
            .ok_or_else(|| TokenError::new("invalid_request", "refresh_token is required"))?;
        let t = now.timestamp();
        let hash = sha256_hex(presented);
        let token = OidcTokenRow::find(conn, &hash)
            .await
            .map_err(TokenError::internal)?
            .filter(|r| r.kind == "refresh" && r.client_id == client.client_id)
            .ok_or_else(|| TokenError::new("invalid_grant", "unknown refresh token"))?;
        let grant = OidcGrantRow::find(conn, &token.grant_id)
            .await
            .map_err(TokenError::internal)?
            .ok_or_else(|| TokenError::new("invalid_grant", "unknown refresh token"))?;
        let original: Vec<&str> = token.scope.split(' ').collect();
        let scopes: Vec<&str> = match p.get("scope") {
            Some(s) => {
                let asked: Vec<&str> = s.split(' ').filter(|x| !x.is_empty()).collect();
                if let Some(extra) = asked.iter().find(|a| !original.contains(a)) {
                    return Err(TokenError::new(
                        "invalid_scope",
                        format!("scope {extra} was not granted"),
                    ));
                }
                asked
            }
            None => original.clone(),
        };
        conn.atomically(async |conn: &mut DbConn| -> Result<Value, TokenError> {
            conn.begin().await.map_err(TokenError::internal)?;
            let used = OidcTokenRow::mark_used(conn, &hash, t)
                .await
                .map_err(TokenError::internal);
            let first_use = match used {
                Ok(u) => u,
                Err(e) => {
                    let _ = conn.rollback().await;
                    return Err(e);
                }
            };
            if !first_use {
                // A rotated refresh token came back: someone holds a copy.
                // End the whole grant.
                let r: Result<(), OidcError> = async {
                    OidcGrantRow::revoke(conn, &grant.id, "refresh_reused", t).await?;
                    clavis_audit::append(
                        conn,
                        now,
                        vec![AuditEvent::new(
                            format!("client:{}", client.client_id),
                            "oidc.refresh.reused",
                            Some(grant.id.clone()),
                            json!({"oid": grant.oid}),
                        )],
                    )
                    .await?;
                    Ok(())
                }
                .await;
                conn.finish(r).await.map_err(TokenError::internal)?;
                tracing::warn!(oidc.grant_id = %grant.id, "refresh token reused: grant revoked");
                return Err(TokenError::new(
                    "invalid_grant",
                    "refresh token already used",
                ));
            }
            let checks = if token.expires_at <= t {
                Err(TokenError::new("invalid_grant", "refresh token expired"))
            } else if grant.revoked_at.is_some() {
                Err(TokenError::new("invalid_grant", "authorization revoked"))
            } else {
                Ok(())
            };
            let r = match checks {
                Ok(()) => self
                    .issue(conn, now, client, &grant, &scopes, token.expires_at, None)
                    .await
                    .map_err(|e| match e {
                        IssueError::NotActive => {
                            TokenError::new("invalid_grant", "the person can no longer sign in")
                        }
                        IssueError::Other(e) => TokenError::internal(e),
                    }),
                Err(e) => Err(e),
            };
            match r {
                Ok(v) => conn.finish(Ok(v)).await,
                Err(e) => {
                    let _ = conn.rollback().await;
                    Err(e)
                }
            }
        })
        .await
    }

    /// Userinfo for a bearer access token.
    pub async fn userinfo(
        &self,
        db: &Db,
        now: DateTime<Utc>,
        access_token: &str,
    ) -> Result<Value, BearerError> {
        let invalid = BearerError {
            status: 401,
            error: "invalid_token",
        };
        let internal = |e: &dyn std::fmt::Display| {
            tracing::error!(error = %e, "userinfo failed");
            BearerError {
                status: 500,
                error: "server_error",
            }
        };
        let mut conn = db.conn().await.map_err(|e| internal(&e))?;
        let t = now.timestamp();
        let token = OidcTokenRow::find(&mut conn, &sha256_hex(access_token))
            .await
            .map_err(|e| internal(&e))?
            .filter(|r| r.kind == "access" && r.expires_at > t)
            .ok_or(invalid.clone())?;
        let grant = OidcGrantRow::find(&mut conn, &token.grant_id)
            .await
            .map_err(|e| internal(&e))?
            .filter(|g| g.revoked_at.is_none())
            .ok_or(invalid.clone())?;
        let identity = IdentityRow::find(&mut conn, &grant.oid)
            .await
            .map_err(|e| internal(&e))?
            .filter(|i| i.status == "active")
            .ok_or(invalid)?;
        let scopes: Vec<&str> = token.scope.split(' ').collect();
        let claims = crate::claims::for_identity(
            &mut conn,
            &identity,
            &token.client_id,
            &scopes,
            &self.cfg.claim_names,
        )
        .await
        .map_err(|e| internal(&e))?;
        Ok(Value::Object(claims))
    }

    /// Token introspection (RFC 7662): a client may introspect its own
    /// tokens; anything else is `{"active": false}`.
    pub async fn introspect(
        &self,
        db: &Db,
        now: DateTime<Utc>,
        presented: &Presented,
        form: &[(String, String)],
    ) -> Result<Value, TokenError> {
        let p = single(form).map_err(|m| TokenError::new("invalid_request", m))?;
        let mut conn = db.conn().await.map_err(TokenError::internal)?;
        let client = clients::authenticate(
            &mut conn,
            now,
            presented,
            &self.issuer,
            &self.url(crate::paths::TOKEN),
        )
        .await
        .map_err(TokenError::internal)?
        .ok_or_else(|| TokenError::new("invalid_client", "client authentication failed"))?;
        let token = p
            .get("token")
            .copied()
            .ok_or_else(|| TokenError::new("invalid_request", "token is required"))?;
        let t = now.timestamp();
        let Some(row) = OidcTokenRow::find(&mut conn, &sha256_hex(token))
            .await
            .map_err(TokenError::internal)?
            .filter(|r| r.client_id == client.client_id && r.expires_at > t && r.used_at.is_none())
        else {
            return Ok(json!({"active": false}));
        };
        let grant = OidcGrantRow::find(&mut conn, &row.grant_id)
            .await
            .map_err(TokenError::internal)?;
        let Some(grant) = grant.filter(|g| g.revoked_at.is_none()) else {
            return Ok(json!({"active": false}));
        };
        Ok(json!({
            "active": true,
            "scope": row.scope,
            "client_id": row.client_id,
            "sub": row.oid,
            "exp": row.expires_at,
            "iat": row.created_at,
            "iss": self.issuer,
            "aud": row.client_id,
            "sid": grant.session_id,
            "token_type": if row.kind == "access" { "Bearer" } else { "refresh_token" },
        }))
    }

    /// Token revocation (RFC 7009). Always succeeds for an authenticated
    /// client; revoking a refresh token ends its whole grant.
    pub async fn revoke(
        &self,
        db: &Db,
        now: DateTime<Utc>,
        presented: &Presented,
        form: &[(String, String)],
    ) -> Result<(), TokenError> {
        let p = single(form).map_err(|m| TokenError::new("invalid_request", m))?;
        let mut conn = db.conn().await.map_err(TokenError::internal)?;
        let client = clients::authenticate(
            &mut conn,
            now,
            presented,
            &self.issuer,
            &self.url(crate::paths::TOKEN),
        )
        .await
        .map_err(TokenError::internal)?
        .ok_or_else(|| TokenError::new("invalid_client", "client authentication failed"))?;
        let token = p
            .get("token")
            .copied()
            .ok_or_else(|| TokenError::new("invalid_request", "token is required"))?;
        let hash = sha256_hex(token);
        let Some(row) = OidcTokenRow::find(&mut conn, &hash)
            .await
            .map_err(TokenError::internal)?
            .filter(|r| r.client_id == client.client_id)
        else {
            return Ok(());
        };
        let t = now.timestamp();
        conn.begin().await.map_err(TokenError::internal)?;
        let r: Result<(), OidcError> = async {
            if row.kind == "refresh" {
                OidcGrantRow::revoke(&mut conn, &row.grant_id, "revoked_by_client", t).await?;
            } else {
                OidcTokenRow::expire(&mut conn, &hash, t).await?;
            }
            clavis_audit::append(
                &mut conn,
                now,
                vec![AuditEvent::new(
                    format!("client:{}", client.client_id),
                    "oidc.token.revoked",
                    Some(row.grant_id.clone()),
                    json!({"kind": row.kind, "oid": row.oid}),
                )],
            )
            .await?;
            Ok(())
        }
        .await;
        conn.finish(r).await.map_err(TokenError::internal)
    }

    /// RP-initiated logout. With an `id_token_hint` naming the browser's
    /// session (its `sid`), or once the user `confirmed`, the session ends
    /// (back-channel logout follows). `post_logout_redirect_uri` must be
    /// registered for the client (exact match), else no redirect.
    pub async fn end_session(
        &self,
        db: &Db,
        now: DateTime<Utc>,
        params: &[(String, String)],
        session: CurrentSession<'_>,
        confirmed: bool,
    ) -> Result<EndSession, AuthorizeError> {
        let page = |message: &str| AuthorizeError::Page {
            code: "invalid_request",
            message: message.to_string(),
        };
        let p = single(params).map_err(|m| page(&m))?;
        let hint = match p.get("id_token_hint") {
            Some(h) => Some(
                self.verify_own(h)
                    .ok_or_else(|| page("Le jeton fourni (id_token_hint) n'est pas valide."))?,
            ),
            None => None,
        };
        let hint_client = hint
            .as_ref()
            .and_then(|c| c.get("aud"))
            .and_then(|a| match a {
                Value::String(s) => Some(s.clone()),
                Value::Array(v) => v.first().and_then(Value::as_str).map(str::to_string),
                _ => None,
            });
        let client_id = match (p.get("client_id"), &hint_client) {
            (Some(c), Some(h)) if *c != h => {
                return Err(page("client_id ne correspond pas au jeton fourni."));
            }
            (Some(c), _) => Some(c.to_string()),
            (None, h) => h.clone(),
        };
        let redirect = match p.get("post_logout_redirect_uri") {
            Some(uri) => {
                let cid = client_id.as_deref().ok_or_else(|| {
                    page("Application inconnue : impossible de vérifier l'adresse de retour.")
                })?;
                let mut conn = db.conn().await?;
                let client = OidcClientRow::find_active(&mut conn, cid)
                    .await?
                    .ok_or_else(|| page("Application inconnue."))?;
                if !clients::list(&client.post_logout_redirect_uris)
                    .iter()
                    .any(|u| u == uri)
                {
                    return Err(page(
                        "L'adresse de retour après déconnexion n'est pas enregistrée pour cette application.",
                    ));
                }
                let mut pairs = Vec::new();
                if let Some(s) = p.get("state") {
                    pairs.push(("state", *s));
                }
                Some(with_query(uri, &pairs))
            }
            None => None,
        };
        if let Some(s) = session {
            let named = hint
                .as_ref()
                .and_then(|c| c.get("sid"))
                .and_then(Value::as_str)
                == Some(s.id.as_str());
            if !named && !confirmed {
                return Ok(EndSession::Confirm {
                    params: params.to_vec(),
                });
            }
            let mut conn = db.conn().await?;
            conn.begin().await?;
            let r = clavis_sso::end(
                &mut conn,
                now,
                &s.id,
                "logout",
                &format!("identity:{}", s.oid),
            )
            .await;
            conn.finish(r).await.map_err(OidcError::from)?;
        }
        Ok(EndSession::Done { redirect })
    }
}

enum IssueError {
    NotActive,
    Other(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameters_are_refused() {
        let p = vec![
            ("a".to_string(), "1".to_string()),
            ("a".to_string(), "2".to_string()),
        ];
        assert!(single(&p).is_err());
    }

    #[test]
    fn query_parameters_are_appended_not_replaced() {
        assert_eq!(
            with_query(
                "https://dpi.chu.fr/cb?tenant=3",
                &[("code", "a b"), ("state", "x")]
            ),
            "https://dpi.chu.fr/cb?tenant=3&code=a+b&state=x"
        );
    }
}
