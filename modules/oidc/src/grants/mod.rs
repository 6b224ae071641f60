//! The token endpoint: the client authenticated (as at the introspection
//! and revocation endpoints), then the grant it presents, one file per
//! grant type as node oidc-provider has them: [`code`]
//! (`authorization_code`) and [`refresh`] (`refresh_token`, rotated at
//! each use).
//!
//! From the client's authentication to the tokens, the exchange is one
//! unit ([`DbConn::atomically`]): on SQLite every statement runs in place,
//! with no hop to the blocking pool per read. The ID token is signed after
//! it, on a signing thread (see `signers`): a signature needs no write turn.

pub mod code;
pub mod refresh;

use crate::clients::{self, Presented};
use crate::keys::Alg;
use crate::protocol::Params;
use crate::{Provider, TokenError, TokenResponse};
use chrono::{DateTime, Utc};
use clavis_store::models::OidcClientRow;
use clavis_store::{Db, DbConn};

impl Provider {
    /// The token endpoint.
    #[tracing::instrument(name = "oidc.token", skip_all, fields(oidc.client_id, oidc.grant_type))]
    pub async fn token(
        &self,
        db: &Db,
        now: DateTime<Utc>,
        presented: &Presented,
        form: &[(String, String)],
    ) -> Result<TokenResponse, TokenError> {
        let p = Params::single(form).map_err(|m| TokenError::new("invalid_request", m))?;
        let mut conn = db.conn().await.map_err(TokenError::internal)?;
        let (client, (issued, flow)) = conn
            .atomically(async |conn: &mut DbConn| {
                let client = self.authenticate_client(conn, now, presented).await?;
                tracing::Span::current().record("oidc.client_id", client.client_id.as_str());
                let grant_type = p.get("grant_type").unwrap_or("");
                // The supported ones by name; anything else a client sends
                // is not recorded as such.
                let named = match grant_type {
                    "authorization_code" | "refresh_token" => grant_type,
                    _ => "other",
                };
                tracing::Span::current().record("oidc.grant_type", named);
                let issued = match grant_type {
                    "authorization_code" => self.code_grant(conn, now, &client, &p).await,
                    "refresh_token" => self
                        .refresh_grant(conn, now, &client, &p)
                        .await
                        .map(|i| (i, tracing::Span::current())),
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
        let keys = self.keys();
        let alg = Alg::parse(&client.id_token_alg).unwrap_or(Alg::Rs256);
        // On the signing thread, inside the flow's span.
        let span = tracing::info_span!(target: "clavis::trace", parent: &flow, "oidc.sign", oidc.alg = ?alg);
        self.signers
            .run(move || span.in_scope(|| issued.sign(&keys, alg)))
            .await
    }

    /// The client of a token, introspection or revocation request,
    /// authenticated with the method it registered; `invalid_client`
    /// (without saying why) when it is not.
    pub(crate) async fn authenticate_client(
        &self,
        conn: &mut DbConn,
        now: DateTime<Utc>,
        presented: &Presented,
    ) -> Result<OidcClientRow, TokenError> {
        clients::authenticate(
            conn,
            now,
            presented,
            &self.issuer,
            &self.url(crate::paths::TOKEN),
        )
        .await
        .map_err(TokenError::internal)?
        .ok_or_else(|| TokenError::new("invalid_client", "client authentication failed"))
    }

    /// The start of an introspection or revocation request (RFC 7662
    /// §2.1, RFC 7009 §2.1): a connection, the client authenticated, and
    /// the `token` the request is about.
    pub(crate) async fn token_request<'f>(
        &self,
        db: &Db,
        now: DateTime<Utc>,
        presented: &Presented,
        form: &'f [(String, String)],
    ) -> Result<(DbConn, OidcClientRow, &'f str), TokenError> {
        let p = Params::single(form).map_err(|m| TokenError::new("invalid_request", m))?;
        let mut conn = db.conn().await?;
        let client = self.authenticate_client(&mut conn, now, presented).await?;
        let token = p
            .get("token")
            .ok_or_else(|| TokenError::new("invalid_request", "token is required"))?;
        Ok((conn, client, token))
    }
}
