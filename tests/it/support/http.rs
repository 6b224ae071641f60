//! Small helpers for driving the HTTP application in tests: reading
//! cookies, JSON bodies and redirects, building forms and basic
//! authentication headers.

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

/// The HTTP application as `actix_web::test::init_service` gives it
/// ([`super::TestApp::service`]), so helpers can take `&impl AppService`.
pub trait AppService:
    Service<actix_http::Request, Response = ServiceResponse<Self::Body>, Error = actix_web::Error>
{
    /// The body of its responses.
    type Body: MessageBody;
}

impl<S, B> AppService for S
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    type Body = B;
}

/// The SSO session cookie the response sets, if any.
pub fn session_cookie_of<B>(
    resp: &ServiceResponse<B>,
) -> Option<actix_web::cookie::Cookie<'static>> {
    resp.response()
        .cookies()
        .find(|c| c.name() == clavis_sso::COOKIE_NAME)
        .map(|c| c.into_owned())
}

/// The `Location` header of a response ("" when there is none).
pub fn location<B>(r: &ServiceResponse<B>) -> String {
    r.headers()
        .get("location")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_string()
}

/// The query parameters of an absolute URL.
pub fn query_of(location: &str) -> std::collections::HashMap<String, String> {
    url::Url::parse(location)
        .expect("absolute redirect")
        .query_pairs()
        .into_owned()
        .collect()
}

/// The JSON body of a response.
pub async fn json_of<B: MessageBody>(r: ServiceResponse<B>) -> Value {
    serde_json::from_slice(&actix_web::test::read_body(r).await).expect("json body")
}

/// An `application/x-www-form-urlencoded` body.
pub fn form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// An HTTP basic `Authorization` header value.
pub fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}
