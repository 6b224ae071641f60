//! What a handler reads of the request itself, in one place: the client's
//! address (for throttling, audit and session records) and its user agent
//! (recorded with sessions, cut to 256 characters).

use actix_web::HttpRequest;
use actix_web::http::header;

/// The client's address: the TCP peer.
pub fn client_ip(req: &HttpRequest) -> Option<String> {
    req.peer_addr().map(|a| a.ip().to_string())
}

/// The `User-Agent`, at most 256 characters.
pub fn user_agent(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(256).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peer_is_the_client_and_long_user_agents_are_cut() {
        let req = actix_web::test::TestRequest::default()
            .peer_addr("192.0.2.7:4242".parse().expect("addr"))
            .insert_header((header::USER_AGENT, "x".repeat(300)))
            .to_http_request();
        assert_eq!(client_ip(&req).as_deref(), Some("192.0.2.7"));
        assert_eq!(user_agent(&req).map(|u| u.len()), Some(256));
        let bare = actix_web::test::TestRequest::default().to_http_request();
        assert_eq!(user_agent(&bare), None);
    }
}
