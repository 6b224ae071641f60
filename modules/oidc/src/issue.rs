//! What the token endpoint hands out, for both grants: an access token and
//! a refresh token (stored as their hashes), and an ID token
//! ([`IdTokenClaims`], signed once the transaction is over), answered as a
//! [`TokenResponse`]. Also [`Provider::verify_own`], the check of an ID
//! token we signed that comes back as a hint.

use crate::keys::{Alg, KeyRing};
use crate::{Provider, TokenError, jws};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use clavis_audit::AuditEvent;
use clavis_core::{Actor, AuditAction, ClientId, LifecycleStatus, SessionId, TokenKind, secret};
use clavis_store::DbConn;
use clavis_store::models::{IdentityRow, OidcClientRow, OidcGrantRow, OidcTokenRow};
use serde::Serialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// The token endpoint's answer (RFC 6749 §5.1, OpenID Connect Core
/// §3.1.3.3). The fields are in alphabetical order, the order the keys of
/// this answer have always come in.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct TokenResponse {
    /// The bearer access token.
    pub access_token: String,
    /// The access token's lifetime (seconds).
    pub expires_in: i64,
    /// The signed ID token (compact JWS).
    pub id_token: String,
    /// The refresh token (rotated at each use).
    pub refresh_token: String,
    /// The granted scopes, space-separated.
    pub scope: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("tokens", &"[redacted]")
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish()
    }
}

/// The claims of an ID token (OpenID Connect Core §2).
///
/// Signed as a JSON object whose keys are sorted (the person's claims
/// among the protocol ones), as they always were. A protocol claim wins
/// over a person's claim of the same (configured) name.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IdTokenClaims {
    /// `sub` and what the granted scopes say about the person
    /// ([`crate::claims::for_identity`]).
    #[serde(flatten)]
    pub person: Map<String, Value>,
    /// Our issuer.
    pub iss: String,
    /// The client.
    pub aud: ClientId,
    /// The client, again (authorized party).
    pub azp: ClientId,
    /// Issued at (unix seconds).
    pub iat: i64,
    /// Expiry (unix seconds).
    pub exp: i64,
    /// When the person authenticated (unix seconds).
    pub auth_time: i64,
    /// The assurance of that authentication.
    pub acr: String,
    /// How they authenticated (`hwk`, `pin`, `mfa`…).
    pub amr: Value,
    /// The SSO session (`sid`, for logout).
    pub sid: SessionId,
    /// The left half of the access token's SHA-256.
    pub at_hash: String,
    /// The authorization request's `nonce` (code grant only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
}

/// Tokens issued (and stored) whose ID token is not signed yet.
#[derive(Clone)]
pub(crate) struct Issued {
    access_token: String,
    refresh_token: String,
    expires_in: i64,
    scope: String,
    id_token: IdTokenClaims,
}

impl Issued {
    /// The answer, the ID token signed with the current key of `alg`.
    pub(crate) fn sign(self, keys: &KeyRing, alg: Alg) -> Result<TokenResponse, TokenError> {
        let key = keys
            .current(alg)
            .ok_or_else(|| TokenError::internal("no signing key"))?;
        let claims = serde_json::to_value(&self.id_token).map_err(TokenError::internal)?;
        Ok(TokenResponse {
            access_token: self.access_token,
            expires_in: self.expires_in,
            id_token: key.sign("JWT", &claims).map_err(TokenError::internal)?,
            refresh_token: self.refresh_token,
            scope: self.scope,
            token_type: "Bearer",
        })
    }
}

/// The `at_hash` of an access token (left half of its SHA-256).
fn at_hash(token: &str) -> String {
    let d = Sha256::digest(token.as_bytes());
    URL_SAFE_NO_PAD.encode(&d[..16])
}

impl Provider {
    /// Issues access + refresh tokens and an ID token for `grant`, inside
    /// the grant's transaction. A person who can no longer sign in gets
    /// `invalid_grant`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn issue(
        &self,
        conn: &mut DbConn,
        now: DateTime<Utc>,
        client: &OidcClientRow,
        grant: &OidcGrantRow,
        scopes: &[&str],
        refresh_expires_at: i64,
        nonce: Option<&str>,
    ) -> Result<Issued, TokenError> {
        let t = now.timestamp();
        let identity = IdentityRow::find(conn, grant.oid)
            .await?
            .filter(|i| i.status == LifecycleStatus::Active)
            .ok_or_else(|| TokenError::invalid_grant("the person can no longer sign in"))?;
        // Pro Santé Connect: only while the person's link stands (it may
        // have been revoked or expired since the code).
        let fi_claims = if client.psc {
            let fi = self.fi_tiers.as_ref().ok_or_else(|| {
                TokenError::invalid_grant("Pro Santé Connect is not configured here")
            })?;
            let c =
                crate::fi_tiers::claims(conn, fi, &identity, &self.cfg.claim_names.national_id, t)
                    .await?
                    .ok_or_else(|| {
                        TokenError::invalid_grant(
                            "the person's link to Pro Santé Connect no longer stands",
                        )
                    })?;
            Some(c)
        } else {
            None
        };
        let access = secret::random_token();
        let refresh = secret::random_token();
        let access_exp = t + self.cfg.access_token_ttl_secs;
        let scope = scopes.join(" ");
        let row = |hash: String, kind: TokenKind, exp: i64| OidcTokenRow {
            token_hash: hash,
            grant_id: grant.id.clone(),
            kind,
            client_id: client.client_id.clone(),
            oid: grant.oid,
            scope: scope.clone(),
            expires_at: exp,
            used_at: None,
            created_at: t,
        };
        OidcTokenRow::insert_all(
            conn,
            &[
                row(secret::sha256_hex(&access), TokenKind::Access, access_exp),
                row(
                    secret::sha256_hex(&refresh),
                    TokenKind::Refresh,
                    refresh_expires_at,
                ),
            ],
        )
        .await?;
        let mut person = crate::claims::for_identity(
            conn,
            &identity,
            &client.client_id,
            scopes,
            &self.cfg.claim_names,
            now,
        )
        .await?;
        // One audit event per issue: for Pro Santé Connect it is the
        // assertion, with the evidence of what was asserted.
        let event = match &fi_claims {
            Some(fi) => AuditEvent::new(
                Actor::Client(client.client_id.clone()),
                AuditAction::PscAsserted,
                Some(grant.id.clone()),
                json!({"oid": grant.oid, "scope": scope,
                       "national_id": fi.get(&self.cfg.claim_names.national_id),
                       "tid": fi.get("tid"), "amr": grant.amr.0, "acr": grant.acr,
                       "session_id": grant.session_id}),
            ),
            None => AuditEvent::new(
                Actor::Client(client.client_id.clone()),
                AuditAction::OidcTokensIssued,
                Some(grant.id.clone()),
                // What the authorisation was (its code wrote nothing).
                json!({"oid": grant.oid, "scope": scope, "acr": grant.acr,
                       "session_id": grant.session_id}),
            ),
        };
        if let Some(fi) = fi_claims {
            person.extend(fi);
        }
        let id_token = IdTokenClaims {
            person,
            iss: self.issuer.clone(),
            aud: client.client_id.clone(),
            azp: client.client_id.clone(),
            iat: t,
            exp: t + self.cfg.id_token_ttl_secs,
            auth_time: grant.auth_time,
            acr: grant.acr.clone(),
            amr: json!(grant.amr.0),
            sid: grant.session_id.clone(),
            at_hash: at_hash(&access),
            nonce: nonce.map(str::to_string),
        };
        event.record(conn, now).await?;
        Ok(Issued {
            access_token: access,
            refresh_token: refresh,
            expires_in: self.cfg.access_token_ttl_secs,
            scope,
            id_token,
        })
    }

    /// The claims of an ID token we signed (signature and issuer checked;
    /// expiry not: an `id_token_hint` may have expired).
    pub fn verify_own(&self, token: &str) -> Option<Value> {
        let parsed = jws::parse(token).ok()?;
        jws::verify_with_set(&parsed, &self.keys().jwks()).ok()?;
        (parsed.claims.get("iss").and_then(Value::as_str) == Some(self.issuer.as_str()))
            .then_some(parsed.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(nonce: Option<&str>, person: Map<String, Value>) -> IdTokenClaims {
        IdTokenClaims {
            person,
            iss: "https://clavis.chu.test".into(),
            aud: "dpi".into(),
            azp: "dpi".into(),
            iat: 100,
            exp: 700,
            auth_time: 90,
            acr: "eidas2".into(),
            amr: json!(["hwk", "pin", "mfa"]),
            sid: "s-1".into(),
            at_hash: "h".into(),
            nonce: nonce.map(str::to_string),
        }
    }

    #[test]
    fn id_token_claims_serialise_with_sorted_keys_and_no_absent_nonce() {
        let mut person = Map::new();
        person.insert("sub".into(), json!("oid-1"));
        person.insert("SubjectNameID".into(), json!("810003489282"));
        person.insert("roles".into(), json!(["ide"]));
        let v = serde_json::to_value(claims(None, person.clone())).expect("json");
        assert_eq!(
            v.to_string(),
            r#"{"SubjectNameID":"810003489282","acr":"eidas2","amr":["hwk","pin","mfa"],"at_hash":"h","aud":"dpi","auth_time":90,"azp":"dpi","exp":700,"iat":100,"iss":"https://clavis.chu.test","roles":["ide"],"sid":"s-1","sub":"oid-1"}"#
        );
        let v = serde_json::to_value(claims(Some("n-1"), person)).expect("json");
        assert_eq!(v["nonce"], "n-1");
    }

    #[test]
    fn protocol_claims_win_over_a_person_claim_of_the_same_name() {
        let mut person = Map::new();
        person.insert("sub".into(), json!("oid-1"));
        person.insert("iss".into(), json!("someone else"));
        let v = serde_json::to_value(claims(None, person)).expect("json");
        assert_eq!(v["iss"], "https://clavis.chu.test");
    }

    #[test]
    fn the_token_response_keeps_its_key_order_and_hides_its_tokens() {
        let r = TokenResponse {
            access_token: "at".into(),
            expires_in: 600,
            id_token: "idt".into(),
            refresh_token: "rt".into(),
            scope: "openid".into(),
            token_type: "Bearer",
        };
        assert_eq!(
            serde_json::to_string(&r).expect("json"),
            r#"{"access_token":"at","expires_in":600,"id_token":"idt","refresh_token":"rt","scope":"openid","token_type":"Bearer"}"#
        );
        let shown = format!("{r:?}");
        assert!(!shown.contains("idt") && !shown.contains("\"at\"") && !shown.contains("rt\""));
    }

    #[test]
    fn at_hash_is_the_left_half_of_the_sha256() {
        // OpenID Connect Core §3.1.3.6, with the example of its Appendix A.
        assert_eq!(
            at_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
    }
}
