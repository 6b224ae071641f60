//! One id per request, in every log line written while serving it and in
//! the `X-Request-Id` response header, so that an operator can go from a
//! user's complaint (or the reverse proxy's access log) to Clavis's logs.
//!
//! The id is the reverse proxy's (`X-Request-Id`; nginx: `$request_id`,
//! docs/nginx/clavis-proxy.conf) when the request comes from one of
//! `server.trusted_proxies` and the value is a plausible id (1–64 of
//! `A–Z a–z 0–9 . _ : -`); otherwise Clavis makes one (a UUID). A client
//! cannot choose the id its requests are logged under.
//!
//! [`middleware`] runs the request inside a `request` span carrying
//! `request.id`, the method and the route pattern: the text logs show it
//! before each message, the JSON logs (`log.format = "json"`) under
//! `span`, and in the traces (`[traces]`) it is the request's root span,
//! named `METHOD route`, with the answer's status. The audit events written while serving it record it too
//! (`audit_events.request_id`, hashed into the chain).

use crate::AppState;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, web};
use tracing::Instrument;

/// The header the id comes in (from a trusted proxy) and goes out in.
pub const HEADER: &str = "x-request-id";

/// The id of the request being served (an extension of the request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

/// Gives each request its id, serves it inside a span holding the id, and
/// answers the id in `X-Request-Id`.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = proxy_id(&req).unwrap_or_else(clavis_core::ids::new_record_id);
    req.extensions_mut().insert(RequestId(id.clone()));
    let route = route(&req);
    // At error level: enabled whatever `log.level` lets through, so a
    // warning written while serving the request carries its id too.
    // `otel.*` name and type the span in the traces (`[traces]`), where it
    // is the request's root.
    let method = method_name(req.method());
    let span = tracing::error_span!(
        "request",
        request.id = %id,
        http.method = method,
        http.route = %route,
        otel.name = %format_args!("{method} {route}"),
        otel.kind = "server",
        http.response.status_code = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
    );
    // The audit events written while serving it carry the id too.
    let res = clavis_audit::REQUEST_ID
        .scope(id.clone(), next.call(req).instrument(span.clone()))
        .await;
    let status = match &res {
        Ok(r) => r.status(),
        Err(e) => e.as_response_error().status_code(),
    };
    let mut res = res?;
    span.record("http.response.status_code", i64::from(status.as_u16()));
    if status.is_server_error() {
        span.record("otel.status_code", "ERROR");
    }
    if let Ok(value) = HeaderValue::from_str(&id) {
        res.headers_mut()
            .insert(HeaderName::from_static(HEADER), value);
    }
    Ok(res)
}

/// The route pattern `req` matches (`/people/{oid}`), `unmatched` for
/// none: what logs, traces and metrics name a request by, never its raw
/// path. Before routing, actix-web finds it by matching the path against
/// every route again (regular expressions for those with parameters):
/// found once per request and kept in its extensions for the middlewares
/// after this one.
pub(crate) fn route(req: &ServiceRequest) -> String {
    if let Some(Route(r)) = req.extensions().get::<Route>() {
        return r.clone();
    }
    let r = req.match_pattern().unwrap_or_else(|| "unmatched".into());
    req.extensions_mut().insert(Route(r.clone()));
    r
}

/// The route pattern of the request (an extension; see [`route`]).
#[derive(Debug, Clone)]
pub(crate) struct Route(pub(crate) String);

/// The method as the logs and traces name it: the usual ones, else
/// `_OTHER` (a client does not choose what the span is called).
fn method_name(m: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "_OTHER",
    }
}

/// The trusted proxy's id for this request, if it came from one and gave
/// a plausible id.
fn proxy_id(req: &ServiceRequest) -> Option<String> {
    let peer = req.peer_addr()?.ip().to_canonical();
    let trusted = req
        .app_data::<web::Data<AppState>>()
        .is_some_and(|s| s.trusted_proxies.iter().any(|n| n.contains(&peer)));
    if !trusted {
        return None;
    }
    let value = req.headers().get(HEADER)?.to_str().ok()?;
    is_plausible(value).then(|| value.to_string())
}

/// 1 to 64 characters of letters, digits, `.`, `_`, `:` and `-` (nginx's
/// 32 hex digits, a UUID, a load balancer's trace id): nothing that could
/// forge a log line or a header.
fn is_plausible(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plausible_ids_are_taken() {
        assert!(is_plausible("0f1e2d3c4b5a69788796a5b4c3d2e1f0"));
        assert!(is_plausible("4bf92f3577b34da6-a3ce929d0e0e4736:1"));
        assert!(!is_plausible(""));
        assert!(!is_plausible(&"a".repeat(65)));
        assert!(!is_plausible("abc\nlevel=ERROR forged"));
        assert!(!is_plausible("abc def"));
        assert!(!is_plausible("é"));
    }

    /// The route is found at the first call for a request and kept in
    /// its extensions, from which the later calls answer: the middlewares
    /// after this one do not match the path against every route again.
    #[actix_web::test]
    async fn a_request_s_route_is_found_once() {
        let req = actix_web::test::TestRequest::get()
            .uri("/people/claire")
            .to_srv_request();
        // A test request has no routes: nothing matches.
        assert_eq!(route(&req), "unmatched");
        assert_eq!(
            req.extensions().get::<Route>().map(|r| r.0.as_str()),
            Some("unmatched")
        );
        let kept = actix_web::test::TestRequest::get()
            .uri("/people/claire")
            .to_srv_request();
        kept.extensions_mut().insert(Route("/people/{oid}".into()));
        assert_eq!(route(&kept), "/people/{oid}");
    }
}
