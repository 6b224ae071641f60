//! The authorization endpoint: a request checked against its client
//! ([`request`]), then matched against the browser's SSO session. A
//! session that is fresh enough (`max_age`), recent enough (after the login
//! this request already sent the user to), strong enough (the acr order)
//! and the hinted person's gets a code at once; otherwise the user is sent
//! to log in (or, with `prompt=none`, the client gets `login_required`).

pub mod request;

use crate::codes::CodeGrant;
use crate::fi_tiers::{self, Gate};
use crate::protocol::Params;
use crate::{AuthorizeError, Provider};
use chrono::{DateTime, Utc};
use clavis_core::{AcrOrder, ClientId};
use clavis_sso::Session;
use clavis_store::Db;
use clavis_store::models::OidcClientRow;
use request::{AuthorizationRequest, Context};
use serde_json::Value;

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
    /// Pro Santé Connect asks for a person whose link does not stand:
    /// take them through the link (e-CPS), then back to `return_to`; a
    /// "no" goes to `decline_to` (PSC then gets `access_denied`).
    PscLink {
        return_to: String,
        decline_to: String,
    },
}

/// What the provider needs to know of the SSO session of the request.
pub type CurrentSession<'a> = Option<&'a Session>;

impl Provider {
    /// Handles an authorization request (GET query or POST form), given the
    /// browser's live SSO session if any.
    #[tracing::instrument(name = "oidc.authorize", skip_all, fields(oidc.client_id))]
    pub async fn authorize(
        &self,
        db: &Db,
        now: DateTime<Utc>,
        params: &[(String, String)],
        session: CurrentSession<'_>,
    ) -> Result<Outcome, AuthorizeError> {
        let p = Params::single(params).map_err(|m| AuthorizeError::page("invalid_request", &m))?;
        let client_id = request::client_id(&p)?;
        let client = OidcClientRow::read_active(db, &ClientId::from(client_id))
            .await?
            .ok_or_else(|| {
                AuthorizeError::page(
                    "unknown_client",
                    "Application inconnue : elle n'est pas enregistrée auprès de Clavis.",
                )
            })?;
        // Once known: an unknown client's id (any length a client sends)
        // is not recorded.
        tracing::Span::current().record("oidc.client_id", client.client_id.as_str());
        let hint_subject = |h: &str| {
            self.verify_own(h)
                .and_then(|c| c.get("sub").and_then(Value::as_str).map(str::to_string))
        };
        let req = AuthorizationRequest::parse(
            &p,
            &client,
            &Context {
                issuer: &self.issuer,
                acr_order: &self.acr_order,
                hint_subject: &hint_subject,
            },
        )?;
        let t = now.timestamp();
        let Some(session) = session.filter(|s| is_usable(&req, s, t, &self.acr_order)) else {
            if req.prompt_none {
                return Err(req.reply.error("login_required", "no usable session"));
            }
            return Ok(to_login(&req, params, t));
        };
        if !client.psc {
            return self.issue_code(now, &client, &req, session, None);
        }
        let declined = p.get(fi_tiers::DECLINED_PARAM).is_some();
        match fi_tiers::gate(db, self.fi_tiers.as_ref(), session, declined, t).await? {
            Gate::Assert(amr) => self.issue_code(now, &client, &req, session, Some(amr)),
            Gate::Link if !req.prompt_none => {
                let back = without(params, fi_tiers::DECLINED_PARAM);
                let mut declined = back.clone();
                declined.push((fi_tiers::DECLINED_PARAM.into(), "1".into()));
                Ok(Outcome::PscLink {
                    return_to: authorize_path(&back),
                    decline_to: authorize_path(&declined),
                })
            }
            Gate::Link => {
                let mut conn = db.conn().await?;
                fi_tiers::audit_refusal(
                    &mut conn,
                    now,
                    session.oid,
                    client.client_id.as_str(),
                    "link_required",
                )
                .await?;
                Err(req.reply.error(
                    "interaction_required",
                    "the person must first link their account to Pro Santé Connect",
                ))
            }
            Gate::Deny(reason) => {
                let mut conn = db.conn().await?;
                fi_tiers::audit_refusal(
                    &mut conn,
                    now,
                    session.oid,
                    client.client_id.as_str(),
                    reason,
                )
                .await?;
                Err(req.reply.error("access_denied", reason))
            }
        }
    }

    /// A new authorization code for `session`: the grant sealed into the
    /// code itself ([`crate::codes`]). Nothing is written: the grant is
    /// stored, the application counted among the session's and the whole
    /// audited when the code is exchanged (`oidc.tokens.issued`); a code
    /// never exchanged gives nothing to anyone.
    fn issue_code(
        &self,
        now: DateTime<Utc>,
        client: &OidcClientRow,
        req: &AuthorizationRequest<'_>,
        session: &Session,
        amr: Option<Vec<String>>,
    ) -> Result<Outcome, AuthorizeError> {
        let t = now.timestamp();
        let grant = CodeGrant {
            // Ordered: grants are stored by the thousand a minute.
            grant_id: clavis_core::ids::new_ordered_record_id(),
            client_id: client.client_id.clone(),
            oid: session.oid,
            session_id: session.id.clone(),
            redirect_uri: req.reply.redirect_uri.to_string(),
            scope: req.scopes.join(" "),
            nonce: req.nonce.map(str::to_string),
            code_challenge: req.code_challenge.map(str::to_string),
            auth_time: session.auth_time.timestamp(),
            acr: session.acr.clone(),
            // Pro Santé Connect gets the amr its table maps; others the
            // session's own.
            amr: amr.unwrap_or_else(|| session.amr.clone()),
            issued_at: t,
            expires_at: t + self.cfg.code_ttl_secs,
            // The token exchange carries this request's trace on.
            trace_parent: clavis_audit::trace::current(),
        };
        let code = self
            .codes
            .seal(&grant)
            .map_err(|e| AuthorizeError::Internal(e.to_string()))?;
        tracing::debug!(oidc.grant_id = %grant.grant_id, "authorization code issued");
        Ok(Outcome::Redirect(req.reply.code(&code)))
    }
}

/// Whether `session` may answer `req` at `t` (unix seconds) without a new
/// login: authenticated within `max_age`, not before the login this
/// request already asked for, at an acr that satisfies the demand, as the
/// person an `id_token_hint` names, and no `prompt=login`.
fn is_usable(req: &AuthorizationRequest<'_>, session: &Session, t: i64, order: &AcrOrder) -> bool {
    let auth_time = session.auth_time.timestamp();
    let fresh_enough = req.max_age.is_none_or(|m| t - auth_time <= m);
    let after = req.login_after.is_none_or(|a| auth_time >= a);
    let strong = req
        .acr
        .as_deref()
        .is_none_or(|want| order.satisfies(&session.acr, want));
    let same = req
        .hint_subject
        .as_deref()
        .is_none_or(|h| h == session.oid.to_string());
    fresh_enough && after && strong && same && !req.prompt_login
}

/// `params` without `name`.
fn without(params: &[(String, String)], name: &str) -> Vec<(String, String)> {
    params.iter().filter(|(k, _)| k != name).cloned().collect()
}

/// The authorization endpoint's path with `params` as its query.
fn authorize_path(params: &[(String, String)]) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params.iter())
        .finish();
    format!("{}?{query}", crate::paths::AUTHORIZE)
}

/// Sends the user to log in, then back to this request (`params`, as
/// sent) without asking for a login again: `prompt=login` is dropped and a
/// `login_after` says how recent the session must be.
fn to_login(req: &AuthorizationRequest<'_>, params: &[(String, String)], t: i64) -> Outcome {
    let mut back: Vec<(String, String)> = params
        .iter()
        .filter(|(k, v)| k != "login_after" && !(k == "prompt" && v.contains("login")))
        .cloned()
        .collect();
    if req.prompt_login || req.max_age.is_some() {
        back.push(("login_after".into(), t.to_string()));
    }
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(back.iter())
        .finish();
    Outcome::Login {
        return_to: format!("{}?{query}", crate::paths::AUTHORIZE),
        acr: req.acr.clone(),
        login_hint: req.login_hint.map(str::to_string),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use request::Reply;

    const T: i64 = 1_800_000_000;
    const OID: &str = "0b7f5c2e-8d1a-4c3b-9e6f-2a4d8c1e7b90";

    fn request() -> AuthorizationRequest<'static> {
        AuthorizationRequest {
            reply: Reply {
                redirect_uri: "https://dpi.chu.test/cb",
                state: None,
                issuer: "https://clavis.chu.test",
            },
            scopes: vec!["openid"],
            nonce: None,
            code_challenge: None,
            prompt_none: false,
            prompt_login: false,
            max_age: None,
            login_after: None,
            acr: None,
            login_hint: None,
            hint_subject: None,
        }
    }

    fn session(acr: &str, authenticated_secs_ago: i64) -> Session {
        Session {
            id: "s-1".into(),
            oid: OID.parse().expect("oid"),
            auth_time: DateTime::from_timestamp(T - authenticated_secs_ago, 0).expect("time"),
            expires_at: DateTime::from_timestamp(T + 3600, 0).expect("time"),
            acr: acr.into(),
            amr: vec!["hwk".into(), "pin".into()],
            authenticator_id: None,
            client_ip: None,
            user_agent: None,
            workstation_id: None,
            method: Some(clavis_core::LoginMethod::Badge),
        }
    }

    fn usable(req: &AuthorizationRequest<'_>, s: &Session) -> bool {
        is_usable(req, s, T, &AcrOrder::default())
    }

    #[test]
    fn any_live_session_answers_a_plain_request() {
        assert!(usable(&request(), &session("eidas1", 3000)));
        assert!(usable(&request(), &session("custom", 3000)));
    }

    #[test]
    fn max_age_and_login_after_ask_for_a_recent_login() {
        let req = AuthorizationRequest {
            max_age: Some(300),
            ..request()
        };
        assert!(usable(&req, &session("eidas2", 300)));
        assert!(!usable(&req, &session("eidas2", 301)));
        let req = AuthorizationRequest {
            login_after: Some(T - 10),
            ..request()
        };
        assert!(usable(&req, &session("eidas2", 10)));
        assert!(!usable(&req, &session("eidas2", 11)));
    }

    #[test]
    fn the_session_must_be_strong_enough_and_an_unknown_acr_is_never_enough() {
        let req = AuthorizationRequest {
            acr: Some("eidas2".into()),
            ..request()
        };
        assert!(usable(&req, &session("eidas3", 0)));
        assert!(usable(&req, &session("eidas2", 0)));
        assert!(!usable(&req, &session("eidas1", 0)));
        assert!(!usable(&req, &session("custom", 0)));
        let weakest = AuthorizationRequest {
            acr: Some("eidas1".into()),
            ..request()
        };
        assert!(!usable(&weakest, &session("custom", 0)));
    }

    #[test]
    fn the_hinted_person_and_prompt_login_are_respected() {
        let req = AuthorizationRequest {
            hint_subject: Some(OID.into()),
            ..request()
        };
        assert!(usable(&req, &session("eidas2", 0)));
        let other = AuthorizationRequest {
            hint_subject: Some("oid-2".into()),
            ..request()
        };
        assert!(!usable(&other, &session("eidas2", 0)));
        let login = AuthorizationRequest {
            prompt_login: true,
            ..request()
        };
        assert!(!usable(&login, &session("eidas2", 0)));
    }

    #[test]
    fn the_way_back_from_login_drops_prompt_login_and_says_how_recent() {
        let params: Vec<(String, String)> = [
            ("client_id", "dpi"),
            ("prompt", "login"),
            ("login_after", "1"),
            ("acr_values", "eidas2"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let req = AuthorizationRequest {
            prompt_login: true,
            acr: Some("eidas2".into()),
            login_hint: Some("clemoine"),
            ..request()
        };
        assert_eq!(
            to_login(&req, &params, T),
            Outcome::Login {
                return_to: format!(
                    "/oidc/authorize?client_id=dpi&acr_values=eidas2&login_after={T}"
                ),
                acr: Some("eidas2".into()),
                login_hint: Some("clemoine".into()),
            }
        );
        // Without prompt=login or max_age, no login_after is added.
        let Outcome::Login { return_to, .. } = to_login(&request(), &params[..1], T) else {
            panic!("a login");
        };
        assert_eq!(return_to, "/oidc/authorize?client_id=dpi");
    }
}
