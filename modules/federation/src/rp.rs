//! Clavis as a relying party of PSC: the trip to PSC and back.
//!
//! [`Psc::begin`] stores what the answer will be checked against (the
//! SHA-256 of `state`, the nonce, the PKCE verifier, the hash of a cookie
//! that binds the trip to this browser) and gives the URL of PSC's
//! authorization endpoint. [`Psc::finish`] spends the trip once, exchanges
//! the code (client secret or `private_key_jwt`, PKCE), verifies the ID
//! token against PSC's JWKS, reads userinfo (JSON or a signed JWT) and
//! the national id. Every refusal is audited with its precise reason
//! (`psc.response_refused`) and nothing else is written.

use crate::verify::{self, Expected, Refusal};
use crate::{ClientAuth, Psc, PscError};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use clavis_audit::AuditEvent;
use clavis_core::{Actor, AuditAction, NationalId, Oid, Secret, SessionId, secret};
use clavis_store::models::PscRequestRow;
use clavis_store::{Db, DbConn};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Why Clavis sends the person to PSC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// To link (or renew the link of) the signed-in person.
    Link,
    /// To sign in to Clavis (a forgotten badge).
    Login,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::Link => "link",
            Purpose::Login => "login",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "link" => Some(Purpose::Link),
            "login" => Some(Purpose::Login),
            _ => None,
        }
    }
}

/// A trip to PSC, started.
#[derive(Debug)]
pub struct Start {
    /// Where to send the browser (PSC's authorization endpoint).
    pub redirect: String,
    /// The value of the cookie that binds the trip to this browser.
    pub browser_token: Secret<String>,
}

/// The trip an answer belongs to (what [`Psc::begin`] was given).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trip {
    pub purpose: Purpose,
    /// The person to link.
    pub oid: Option<Oid>,
    /// The session that asked.
    pub session_id: Option<SessionId>,
    /// Where to go when done (a path inside Clavis).
    pub return_to: String,
}

/// What PSC said, checked.
#[derive(Debug, Clone)]
pub struct Verified {
    pub trip: Trip,
    /// PSC's `sub`.
    pub psc_sub: String,
    pub national_id: NationalId,
    pub family_name: Option<String>,
    pub given_name: Option<String>,
    pub acr: Option<String>,
    /// `CARD`, `EDIT`… (how the person authenticated at PSC).
    pub auth_mode: Option<String>,
    /// SHA-256 (hex) of the ID token, kept as evidence.
    pub id_token_sha256: String,
    /// The ID token itself (the hint of a later logout at PSC).
    pub id_token: Secret<String>,
}

/// Why an answer did not lead anywhere.
#[derive(Debug)]
pub enum Failure {
    /// Refused (audited); the trip, when it was found.
    Refused {
        trip: Option<Trip>,
        refusal: Refusal,
    },
    /// Something broke (PSC unreachable, storage).
    Error(PscError),
}

impl From<PscError> for Failure {
    fn from(e: PscError) -> Self {
        Failure::Error(e)
    }
}

impl From<clavis_store::StoreError> for Failure {
    fn from(e: clavis_store::StoreError) -> Self {
        Failure::Error(e.into())
    }
}

fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

impl Psc {
    /// Starts a trip to PSC for `purpose` (the person and session for a
    /// link), coming back to `return_to`.
    pub async fn begin(
        &self,
        db: &Db,
        now: DateTime<Utc>,
        purpose: Purpose,
        who: Option<(Oid, SessionId)>,
        return_to: &str,
    ) -> Result<Start, PscError> {
        let meta = self.discovery.metadata(&self.http, &self.cfg).await?;
        let state = secret::random_token();
        let nonce = secret::random_token();
        let verifier = secret::random_b64url(48);
        let browser = secret::random_token();
        let t = now.timestamp();
        let (oid, session_id) = who.map_or((None, None), |(o, s)| (Some(o), Some(s)));
        let row = PscRequestRow {
            state_hash: secret::sha256_hex(&state),
            purpose: purpose.as_str().into(),
            oid,
            session_id,
            browser_hash: secret::sha256_hex(&browser),
            nonce: nonce.clone(),
            code_verifier: verifier.clone(),
            return_to: return_to.to_string(),
            created_at: t,
            expires_at: t + self.cfg.request_ttl_secs,
            used_at: None,
        };
        let mut conn = db.conn().await?;
        row.insert(&mut conn).await?;
        let mut url = url::Url::parse(&meta.authorization_endpoint).map_err(|e| {
            PscError::Unreachable(format!(
                "authorization_endpoint {:?}: {e}",
                meta.authorization_endpoint
            ))
        })?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.cfg.client_id)
            .append_pair("redirect_uri", &self.redirect_uri)
            .append_pair("scope", &self.cfg.scope)
            .append_pair("acr_values", &self.cfg.acr_values)
            .append_pair("state", &state)
            .append_pair("nonce", &nonce)
            .append_pair("code_challenge", &pkce_challenge(&verifier))
            .append_pair("code_challenge_method", "S256")
            // A fresh e-CPS every time: on a shared ward workstation, the
            // PSC session left by a colleague must neither link nor sign
            // in this person (PSC's answer is also checked: auth_time).
            .append_pair("prompt", "login");
        Ok(Start {
            redirect: url.into(),
            browser_token: Secret::new(browser),
        })
    }

    /// Handles PSC's answer (`code`, or `error` when the person gave up
    /// there), for the browser holding `browser_token`. The trip is spent
    /// whatever happens.
    #[allow(clippy::too_many_arguments)]
    pub async fn finish(
        &self,
        db: &Db,
        now: DateTime<Utc>,
        state: &str,
        code: Option<&str>,
        error: Option<&str>,
        browser_token: Option<&str>,
        client_addr: Option<&str>,
    ) -> Result<Verified, Failure> {
        let mut conn = db.conn().await?;
        let t = now.timestamp();
        let hash = secret::sha256_hex(state);
        let Some(row) = PscRequestRow::spend(&mut conn, &hash, t).await? else {
            let detail = if PscRequestRow::known(&mut conn, &hash).await? {
                "this answer was already used, or came too late"
            } else {
                "no trip to PSC with this state"
            };
            return Err(self
                .refuse(
                    &mut conn,
                    now,
                    None,
                    Refusal::new("unknown_state", detail),
                    client_addr,
                )
                .await);
        };
        let trip = Trip {
            purpose: Purpose::parse(&row.purpose).unwrap_or(Purpose::Link),
            oid: row.oid,
            session_id: row.session_id.clone(),
            return_to: row.return_to.clone(),
        };
        let same_browser = browser_token.is_some_and(|b| {
            secret::constant_time_eq(
                secret::sha256_hex(b).as_bytes(),
                row.browser_hash.as_bytes(),
            )
        });
        if !same_browser {
            let r = Refusal::new(
                "browser_mismatch",
                "the answer came to another browser than the one that left for PSC",
            );
            return Err(self
                .refuse(&mut conn, now, Some(trip), r, client_addr)
                .await);
        }
        if let Some(e) = error {
            let r = Refusal::new("psc_error", format!("PSC answered error={e}"));
            return Err(self
                .refuse(&mut conn, now, Some(trip), r, client_addr)
                .await);
        }
        let Some(code) = code.filter(|c| !c.is_empty()) else {
            let r = Refusal::new("no_code", "PSC's answer has neither code nor error");
            return Err(self
                .refuse(&mut conn, now, Some(trip), r, client_addr)
                .await);
        };
        drop(conn);
        match self.exchange(now, &row, code).await {
            Ok(mut v) => {
                v.trip = trip;
                Ok(v)
            }
            Err(Failure::Refused { refusal, .. }) => {
                let mut conn = db.conn().await?;
                Err(self
                    .refuse(&mut conn, now, Some(trip), refusal, client_addr)
                    .await)
            }
            Err(e) => Err(e),
        }
    }

    /// Audits a refusal and turns it into a [`Failure`].
    async fn refuse(
        &self,
        conn: &mut DbConn,
        now: DateTime<Utc>,
        trip: Option<Trip>,
        refusal: Refusal,
        client_addr: Option<&str>,
    ) -> Failure {
        tracing::warn!(psc.reason = refusal.code, detail = %refusal.detail, "answer from Pro Santé Connect refused");
        let actor = trip
            .as_ref()
            .and_then(|t| t.oid)
            .map_or(Actor::Anonymous, Actor::Identity);
        let event = AuditEvent::new(
            actor,
            AuditAction::PscResponseRefused,
            trip.as_ref().and_then(|t| t.oid).map(|o| o.to_string()),
            json!({"reason": refusal.code, "detail": refusal.detail,
                   "purpose": trip.as_ref().map(|t| t.purpose.as_str())}),
        )
        .from_addr(client_addr.map(str::to_string));
        if let Err(e) = event.record(conn, now).await {
            return Failure::Error(e.into());
        }
        Failure::Refused { trip, refusal }
    }

    /// The token request and the checks of what it brings back.
    async fn exchange(
        &self,
        now: DateTime<Utc>,
        row: &PscRequestRow,
        code: &str,
    ) -> Result<Verified, Failure> {
        let meta = self.discovery.metadata(&self.http, &self.cfg).await?;
        let mut form = vec![
            ("grant_type", "authorization_code".to_string()),
            ("code", code.to_string()),
            ("redirect_uri", self.redirect_uri.clone()),
            ("code_verifier", row.code_verifier.clone()),
        ];
        let mut req = self.token_http.post(&meta.token_endpoint);
        match &self.auth {
            ClientAuth::Secret(s) => {
                // RFC 6749 §2.3.1: both parts form-encoded, then Basic.
                let enc = |v: &str| {
                    url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
                };
                req = req.basic_auth(enc(&self.cfg.client_id), Some(enc(s.expose())));
            }
            ClientAuth::PrivateKey(k) => {
                let t = now.timestamp();
                let assertion = k
                    .sign(
                        "JWT",
                        &json!({"iss": self.cfg.client_id, "sub": self.cfg.client_id,
                                "aud": meta.token_endpoint, "jti": secret::random_token(),
                                "iat": t, "exp": t + 60}),
                    )
                    .map_err(|e| PscError::Config(format!("psc.private_key_file: {e}")))?;
                form.push(("client_id", self.cfg.client_id.clone()));
                form.push((
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
                ));
                form.push(("client_assertion", assertion));
            }
        }
        let resp = req
            .form(&form)
            .send()
            .await
            .map_err(|e| PscError::Unreachable(format!("{}: {e}", meta.token_endpoint)))?;
        let status = resp.status();
        let body = crate::discovery::read_body(&meta.token_endpoint, resp).await?;
        let tokens: Value = serde_json::from_slice(&body).map_err(|_| {
            PscError::Unreachable(format!("{}: HTTP {status}, not JSON", meta.token_endpoint))
        })?;
        if !status.is_success() {
            let err = tokens.get("error").and_then(Value::as_str).unwrap_or("?");
            let desc = tokens
                .get("error_description")
                .and_then(Value::as_str)
                .unwrap_or("");
            return Err(refused(
                "token_refused",
                format!("PSC's token endpoint: {err} {desc}"),
            ));
        }
        let Some(id_token) = tokens.get("id_token").and_then(Value::as_str) else {
            return Err(refused("no_id_token", "PSC's token answer has no id_token"));
        };
        let expected = Expected {
            issuer: &meta.issuer,
            client_id: &self.cfg.client_id,
            nonce: &row.nonce,
            now: now.timestamp(),
            skew: self.cfg.clock_skew_secs,
        };
        let id_claims = self.checked_jws(&meta, id_token, "ID token").await?;
        verify::id_token_claims(&id_claims, &expected).map_err(Failure::from_refusal)?;
        verify::acr(&id_claims, &self.cfg.acr_values).map_err(Failure::from_refusal)?;
        verify::fresh(&id_claims, row.created_at, self.cfg.clock_skew_secs)
            .map_err(Failure::from_refusal)?;
        let sub = id_claims
            .get("sub")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let userinfo = match (
            &meta.userinfo_endpoint,
            tokens.get("access_token").and_then(Value::as_str),
        ) {
            (Some(endpoint), Some(access)) => {
                let ui = self.userinfo(&meta, endpoint, access).await?;
                let signed = ui.1.then_some(&expected);
                verify::userinfo_claims(&ui.0, &sub, signed).map_err(Failure::from_refusal)?;
                ui.0
            }
            _ => json!({}),
        };
        let sources = [&userinfo, &id_claims];
        let national_id = verify::national_id(&sources).map_err(Failure::from_refusal)?;
        Ok(Verified {
            trip: Trip {
                purpose: Purpose::Link,
                oid: None,
                session_id: None,
                return_to: String::new(),
            },
            psc_sub: sub,
            national_id,
            family_name: verify::claim(&sources, "family_name"),
            given_name: verify::claim(&sources, "given_name"),
            acr: verify::claim(&[&id_claims], "acr"),
            auth_mode: verify::claim(&sources, "authMode"),
            id_token_sha256: secret::sha256_hex(id_token),
            id_token: Secret::new(id_token.to_string()),
        })
    }

    /// A JWS from PSC, its signature checked against PSC's JWKS (fetched
    /// again once when it names a key the cache does not hold); its claims.
    async fn checked_jws(
        &self,
        meta: &crate::discovery::Metadata,
        token: &str,
        what: &str,
    ) -> Result<Value, Failure> {
        let parsed = verify::parse(token, what).map_err(Failure::from_refusal)?;
        let keys = self.discovery.jwks(&self.http, meta, parsed.kid()).await?;
        verify::signature(&parsed, &keys, what).map_err(Failure::from_refusal)?;
        Ok(parsed.claims)
    }

    /// PSC's userinfo: JSON, or a JWT signed by PSC (then `true`).
    async fn userinfo(
        &self,
        meta: &crate::discovery::Metadata,
        endpoint: &str,
        access_token: &str,
    ) -> Result<(Value, bool), Failure> {
        let resp = self
            .http
            .get(endpoint)
            .bearer_auth(access_token)
            .send()
            .await
            .map_err(|e| PscError::Unreachable(format!("{endpoint}: {e}")))?;
        let status = resp.status();
        let jwt = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/jwt"));
        let body = crate::discovery::read_body(endpoint, resp).await?;
        if !status.is_success() {
            return Err(refused(
                "userinfo_refused",
                format!("PSC's userinfo: HTTP {status}"),
            ));
        }
        if jwt {
            let text = String::from_utf8(body)
                .map_err(|_| refused("malformed", "signed userinfo is not text"))?;
            let claims = self.checked_jws(meta, text.trim(), "userinfo").await?;
            return Ok((claims, true));
        }
        let v: Value = serde_json::from_slice(&body)
            .map_err(|_| refused("malformed", "userinfo is neither JSON nor a JWT"))?;
        Ok((v, false))
    }
}

impl Psc {
    /// Where to send the browser to end the PSC session too, after the
    /// Clavis session `session_id` opened through PSC has ended: PSC's
    /// `end_session_endpoint` with the ID token as hint, coming back to
    /// `/psc/logged-out`. `None` for other sessions (or when PSC
    /// publishes no such endpoint).
    pub async fn logout_url(
        &self,
        db: &Db,
        session_id: &SessionId,
    ) -> Result<Option<String>, PscError> {
        let mut conn = db.conn().await?;
        let Some(hint) = clavis_store::models::PscLoginRow::take(&mut conn, session_id).await?
        else {
            return Ok(None);
        };
        drop(conn);
        let meta = self.discovery.metadata(&self.http, &self.cfg).await?;
        let Some(end) = &meta.end_session_endpoint else {
            return Ok(None);
        };
        let mut url = url::Url::parse(end)
            .map_err(|e| PscError::Unreachable(format!("end_session_endpoint {end:?}: {e}")))?;
        url.query_pairs_mut()
            .append_pair("id_token_hint", &hint)
            .append_pair("client_id", &self.cfg.client_id)
            .append_pair("post_logout_redirect_uri", &self.logged_out_uri())
            .append_pair("state", &secret::random_b64url(16));
        Ok(Some(url.into()))
    }
}

fn refused(code: &'static str, detail: impl Into<String>) -> Failure {
    Failure::Refused {
        trip: None,
        refusal: Refusal::new(code, detail),
    }
}

impl Failure {
    fn from_refusal(r: Refusal) -> Self {
        Failure::Refused {
            trip: None,
            refusal: r,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pkce_challenge_is_rfc_7636s() {
        // RFC 7636 appendix B.
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
