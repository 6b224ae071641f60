//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0). With an
//! `id_token_hint` naming the browser's session (its `sid`), or once the
//! user confirmed, the session ends, and back-channel logout tells every
//! application of it ([`crate::backchannel`]). A
//! `post_logout_redirect_uri` must be registered for the client (exact
//! match); errors are shown to the user, never redirected.

use crate::protocol::{Params, with_query};
use crate::{AuthorizeError, CurrentSession, OidcError, Provider};
use chrono::{DateTime, Utc};
use clavis_core::{Actor, ClientId, SessionEndReason};
use clavis_store::models::OidcClientRow;
use clavis_store::{Db, DbConn};
use serde_json::Value;

/// Where RP-initiated logout goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndSession {
    /// Ask the user to confirm (the request did not prove which session it
    /// ends). Carry these parameters in the confirmation form.
    Confirm { params: Vec<(String, String)> },
    /// Done: redirect there, or show the signed-out page.
    Done { redirect: Option<String> },
}

/// The client an ID token was issued to (its first audience).
fn audience(claims: &Value) -> Option<String> {
    match claims.get("aud")? {
        Value::String(s) => Some(s.clone()),
        Value::Array(v) => v.first().and_then(Value::as_str).map(str::to_string),
        _ => None,
    }
}

impl Provider {
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
        let page = |message: &str| AuthorizeError::page("invalid_request", message);
        let p = Params::single(params).map_err(|m| page(&m))?;
        let hint = match p.get("id_token_hint") {
            Some(h) => Some(
                self.verify_own(h)
                    .ok_or_else(|| page("Le jeton fourni (id_token_hint) n'est pas valide."))?,
            ),
            None => None,
        };
        let hint_client = hint.as_ref().and_then(audience);
        let client_id = match (p.get("client_id"), &hint_client) {
            (Some(c), Some(h)) if c != h.as_str() => {
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
                let client = OidcClientRow::find_active(&mut conn, &ClientId::from(cid))
                    .await?
                    .ok_or_else(|| page("Application inconnue."))?;
                if !client.post_logout_redirect_uris.iter().any(|u| u == uri) {
                    return Err(page(
                        "L'adresse de retour après déconnexion n'est pas enregistrée pour cette application.",
                    ));
                }
                let mut pairs = Vec::new();
                if let Some(s) = p.get("state") {
                    pairs.push(("state", s));
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
            conn.transaction(async |tx: &mut DbConn| {
                clavis_sso::end(
                    tx,
                    now,
                    &s.id,
                    SessionEndReason::Logout,
                    &Actor::Identity(s.oid),
                )
                .await
            })
            .await
            .map_err(OidcError::from)?;
        }
        Ok(EndSession::Done { redirect })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_client_of_a_hint_is_its_first_audience() {
        assert_eq!(audience(&json!({"aud": "dpi"})).as_deref(), Some("dpi"));
        assert_eq!(
            audience(&json!({"aud": ["dpi", "other"]})).as_deref(),
            Some("dpi")
        );
        assert_eq!(audience(&json!({"aud": 3})), None);
        assert_eq!(audience(&json!({})), None);
    }
}
