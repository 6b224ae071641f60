//! Who is calling, as handler arguments: an extractor resolves the caller
//! before the handler runs, so no handler begins with a check it could
//! forget.
//!
//! - [`AdminActor`]: a caller of the admin JSON API, authenticated by its
//!   bearer token (`Authorization: Bearer clv_…`, see
//!   `clavis api-token create`). Any failure answers the same `401`.

use crate::AppState;
use crate::error::ApiError;
use crate::request::client_ip;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use std::future::Future;
use std::pin::Pin;

/// A caller of the admin API: the name of the API token it presented.
#[derive(Debug, Clone)]
pub struct AdminActor {
    token_name: String,
}

impl AdminActor {
    /// The token's name.
    pub fn token_name(&self) -> &str {
        &self.token_name
    }

    /// The actor recorded in audit events (`api:<token name>`).
    pub fn actor(&self) -> String {
        format!("api:{}", self.token_name)
    }
}

impl FromRequest for AdminActor {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = req
                .app_data::<web::Data<AppState>>()
                .ok_or_else(|| ApiError::internal("the application state is missing"))?;
            let presented = req
                .headers()
                .get("Authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim)
                .ok_or(ApiError::Unauthorized)?;
            let mut conn = state.db.conn().await?;
            match clavis_authn::api_token::authenticate(&mut conn, presented, state.clock.now())
                .await?
            {
                Some(token_name) => Ok(AdminActor { token_name }),
                None => {
                    let addr = client_ip(&req).unwrap_or_default();
                    tracing::warn!(client.addr = %addr, "admin API: token refused");
                    Err(ApiError::Unauthorized)
                }
            }
        })
    }
}
