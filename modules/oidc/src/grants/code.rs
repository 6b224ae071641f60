//! The `authorization_code` grant (RFC 6749 §4.1.3, PKCE RFC 7636): a code
//! is exchanged once, by the client it was issued to, with the same
//! `redirect_uri` and the verifier of its challenge, while its SSO session
//! lives. The code carries its grant, sealed (`crate::codes`); the
//! exchange stores it. A code that comes back after its first use finds
//! its grant stored: a replay (RFC 6749 §4.1.2), whatever the first use
//! issued is revoked.

use crate::issue::Issued;
use crate::protocol::Params;
use crate::{OidcError, Provider, TokenError};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use clavis_audit::AuditEvent;
use clavis_core::{Actor, AuditAction, secret};
use clavis_store::models::{OidcClientRow, OidcGrantRow, SsoSessionRow};
use clavis_store::{DbConn, StoreError};
use serde_json::json;
use sha2::{Digest, Sha256};
use tracing::Instrument;

/// Why a code was not exchanged; nothing the exchange wrote is kept.
enum Refused {
    /// The code was used before.
    Replayed,
    /// Any other reason (the answer to give).
    Error(TokenError),
}

impl From<TokenError> for Refused {
    fn from(e: TokenError) -> Self {
        Refused::Error(e)
    }
}

impl From<StoreError> for Refused {
    fn from(e: StoreError) -> Self {
        Refused::Error(TokenError::internal(e))
    }
}

impl Provider {
    /// Exchanges the `code` of `p` for tokens, inside the token endpoint's
    /// unit; with the span the rest of the exchange (the signature) belongs
    /// to: one continuing the authorisation's trace.
    pub(crate) async fn code_grant(
        &self,
        conn: &mut DbConn,
        now: DateTime<Utc>,
        client: &OidcClientRow,
        p: &Params<'_>,
    ) -> Result<(Issued, tracing::Span), TokenError> {
        let code = p
            .get("code")
            .ok_or_else(|| TokenError::new("invalid_request", "code is required"))?;
        let Some(sealed) = self
            .codes
            .open(code)
            .filter(|g| g.client_id == client.client_id)
        else {
            // A code from before codes were sealed that was exchanged
            // already is still a replay (a lookup only for codes that do
            // not open).
            let used = OidcGrantRow::find_by_code(conn, &secret::sha256_hex(code))
                .await?
                .filter(|g| g.client_id == client.client_id && g.code_used_at.is_some());
            if let Some(grant) = used {
                self.revoke_replayed(conn, now, client, &grant).await?;
                return Err(TokenError::invalid_grant("authorization code already used"));
            }
            return Err(TokenError::invalid_grant("unknown authorization code"));
        };
        // One trace from the authorisation to the tokens: the exchange
        // continues the trace of the request that issued the code.
        let span = clavis_audit::trace::continued(
            tracing::info_span!(target: "clavis::trace", "oidc.code_exchange", oidc.client_id = %client.client_id),
            sealed.trace_parent.as_deref(),
        );
        let grant = OidcGrantRow {
            id: sealed.grant_id,
            code_hash: secret::sha256_hex(code),
            client_id: sealed.client_id,
            oid: sealed.oid,
            session_id: sealed.session_id,
            redirect_uri: sealed.redirect_uri,
            scope: sealed.scope,
            nonce: sealed.nonce,
            code_challenge: sealed.code_challenge,
            auth_time: sealed.auth_time,
            acr: sealed.acr,
            amr: sealed.amr.into(),
            code_expires_at: sealed.expires_at,
            code_used_at: Some(now.timestamp()),
            revoked_at: None,
            revoked_reason: None,
            created_at: sealed.issued_at,
            trace_parent: sealed.trace_parent,
        };
        let exchanged = conn
            .transaction(async |tx| self.exchange_code(tx, now, client, &grant, p).await)
            .instrument(span.clone())
            .await;
        match exchanged {
            Ok(issued) => Ok((issued, span)),
            Err(Refused::Error(e)) => Err(e),
            Err(Refused::Replayed) => {
                self.revoke_replayed(conn, now, client, &grant).await?;
                Err(TokenError::invalid_grant("authorization code already used"))
            }
        }
    }

    /// Inside the exchange's transaction: stores the code's grant (once: a
    /// second time is a replay), checks the rest, and issues.
    async fn exchange_code(
        &self,
        conn: &mut DbConn,
        now: DateTime<Utc>,
        client: &OidcClientRow,
        grant: &OidcGrantRow,
        p: &Params<'_>,
    ) -> Result<Issued, Refused> {
        let t = now.timestamp();
        if !grant.insert_exchanged(conn).await? {
            return Err(Refused::Replayed);
        }
        if grant.code_expires_at <= t {
            return Err(TokenError::invalid_grant("authorization code expired").into());
        }
        if p.get("redirect_uri") != Some(grant.redirect_uri.as_str()) {
            return Err(TokenError::invalid_grant(
                "redirect_uri does not match the authorization request",
            )
            .into());
        }
        check_verifier(grant.code_challenge.as_deref(), p.get("code_verifier"))?;
        let session = live_session(conn, grant, t).await?;
        let scopes: Vec<&str> = grant.scope.split(' ').collect();
        let issued = self
            .issue(
                conn,
                now,
                client,
                grant,
                &scopes,
                session.expires_at,
                grant.nonce.as_deref(),
            )
            .await?;
        // PostgreSQL (several nodes): the issue's audit event took the
        // audit head's lock, held to the commit. A transaction ending the
        // session takes it too before it revokes the session's grants
        // (`clavis_sso`'s `after_end`): one that had it first has committed
        // by now, and is seen here; one that takes it after this commit
        // sees this grant. No row lock is taken, so no order of locks can
        // deadlock. SQLite's write transactions exclude each other already.
        if matches!(conn, DbConn::Pg(_)) {
            live_session(conn, grant, t).await?;
        }
        Ok(issued)
    }

    /// A used code came back: its grant (and every token the first use
    /// issued) is revoked, and the replay audited.
    async fn revoke_replayed(
        &self,
        conn: &mut DbConn,
        now: DateTime<Utc>,
        client: &OidcClientRow,
        grant: &OidcGrantRow,
    ) -> Result<(), TokenError> {
        conn.transaction(async |tx| -> Result<(), OidcError> {
            OidcGrantRow::revoke(tx, &grant.id, "code_replayed", now.timestamp()).await?;
            AuditEvent::new(
                Actor::Client(client.client_id.clone()),
                AuditAction::OidcCodeReplayed,
                Some(grant.id.clone()),
                json!({"oid": grant.oid, "session_id": grant.session_id}),
            )
            .record(tx, now)
            .await?;
            Ok(())
        })
        .await
        .map_err(TokenError::internal)?;
        tracing::warn!(oidc.grant_id = %grant.id, "authorization code replayed: grant revoked");
        Ok(())
    }
}

/// The grant's SSO session, if it lives at `t`; `invalid_grant` if not.
async fn live_session(
    conn: &mut DbConn,
    grant: &OidcGrantRow,
    t: i64,
) -> Result<SsoSessionRow, TokenError> {
    SsoSessionRow::find(conn, &grant.session_id)
        .await?
        .filter(|s| s.ended_at.is_none() && s.expires_at > t)
        .ok_or_else(|| TokenError::invalid_grant("the sign-in session has ended"))
}

/// PKCE (RFC 7636 §4.6): a code issued with a challenge needs its verifier
/// (43 to 128 characters whose SHA-256 is the challenge); one issued
/// without takes none.
fn check_verifier(challenge: Option<&str>, verifier: Option<&str>) -> Result<(), TokenError> {
    let invalid = TokenError::invalid_grant;
    match (challenge, verifier) {
        (Some(challenge), Some(verifier)) => {
            let ok_len = (43..=128).contains(&verifier.len());
            let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
            if !ok_len || !secret::constant_time_eq(computed.as_bytes(), challenge.as_bytes()) {
                return Err(invalid("code_verifier does not match the code_challenge"));
            }
            Ok(())
        }
        (Some(_), None) => Err(invalid("code_verifier is required")),
        (None, Some(_)) => Err(invalid(
            "no code_challenge was sent with this authorization",
        )),
        (None, None) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The challenge computed apart (openssl dgst -sha256 -binary | base64url).
    const VERIFIER: &str = "dBjftJeZ4CVP-mJ92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "ngF5GsXcbwljx6u133FFr3Xht9xooA_DuaX_3QwODtc";

    fn refusal(challenge: Option<&str>, verifier: Option<&str>) -> Option<String> {
        check_verifier(challenge, verifier).err().map(|e| {
            assert_eq!(e.error, "invalid_grant");
            e.description
        })
    }

    #[test]
    fn the_verifier_must_hash_to_the_challenge() {
        assert_eq!(refusal(Some(CHALLENGE), Some(VERIFIER)), None);
        assert_eq!(refusal(None, None), None);
        let wrong = "dBjftJeZ4CVP-mJ92K27uhbUJU1p1r_wW1gFWFOEjXK";
        assert_eq!(
            refusal(Some(CHALLENGE), Some(wrong)).as_deref(),
            Some("code_verifier does not match the code_challenge")
        );
        assert_eq!(
            refusal(Some(CHALLENGE), None).as_deref(),
            Some("code_verifier is required")
        );
        assert_eq!(
            refusal(None, Some(VERIFIER)).as_deref(),
            Some("no code_challenge was sent with this authorization")
        );
    }

    #[test]
    fn a_verifier_of_the_wrong_length_is_refused_even_if_it_hashes_right() {
        let short = "abc";
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(short.as_bytes()));
        assert_eq!(
            refusal(Some(&challenge), Some(short)).as_deref(),
            Some("code_verifier does not match the code_challenge")
        );
    }
}
