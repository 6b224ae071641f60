//! The security headers every response carries, set by one middleware
//! that [`crate::build_app`] wraps around the whole application:
//!
//! - `Content-Security-Policy`: scripts, styles, images only from Clavis
//!   itself (nothing inline: the pages load `/static/*.js` and
//!   `/static/clavis.css`), `fetch` to Clavis and to the workstation
//!   agent (`badge.agent_url`, which the badge login page talks to on
//!   localhost), no plugins, no `<base>`, and no framing
//!   (`frame-ancestors 'none'`). `form-action` is left out on purpose:
//!   browsers apply it to the redirect after a form, and a login form
//!   ends in a redirect to the application's own `redirect_uri`.
//! - `X-Frame-Options: DENY` (the same for browsers without CSP level 2),
//!   `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer`
//!   (codes and tokens in URLs never leave in a `Referer`),
//!   `Cache-Control: no-store` (pages hold personal data; the static
//!   assets say otherwise themselves).
//! - `Strict-Transport-Security` only when the public URL is `https://`:
//!   over plain HTTP (a test, `http://localhost`) it would mean nothing or
//!   pin a name that never had TLS.
//!
//! A handler that sets one of these itself keeps its own value.

use crate::AppState;
use actix_web::middleware::DefaultHeaders;

/// One year, in seconds: how long browsers remember to use HTTPS only.
pub const HSTS_MAX_AGE_SECS: u64 = 365 * 24 * 3600;

/// The Content-Security-Policy of every response; `agent_origin` is the
/// workstation agent's origin the badge page may `fetch`.
pub fn content_security_policy(agent_origin: Option<&str>) -> String {
    let connect = match agent_origin {
        Some(o) => format!("'self' {o}"),
        None => "'self'".to_string(),
    };
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
         connect-src {connect}; base-uri 'none'; object-src 'none'; frame-ancestors 'none'"
    )
}

/// The origin (`scheme://host:port`) of the agent URL the badge login page
/// is given, if badge login is offered and the URL parses (the
/// configuration check refuses one that does not).
fn agent_origin(state: &AppState) -> Option<String> {
    let badge = state.badge.as_ref()?;
    let url = url::Url::parse(&badge.config().agent_url).ok()?;
    Some(url.origin().ascii_serialization())
}

/// The middleware setting the headers above on every response of the
/// application built over `state`.
pub fn middleware(state: &AppState) -> DefaultHeaders {
    let csp = content_security_policy(agent_origin(state).as_deref());
    let headers = DefaultHeaders::new()
        .add(("Content-Security-Policy", csp))
        .add(("X-Frame-Options", "DENY"))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("Referrer-Policy", "no-referrer"))
        .add(("Cache-Control", "no-store"));
    if state.public_url.starts_with("https://") {
        headers.add((
            "Strict-Transport-Security",
            format!("max-age={HSTS_MAX_AGE_SECS}"),
        ))
    } else {
        headers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_allows_nothing_inline_and_no_framing() {
        let csp = content_security_policy(Some("http://127.0.0.1:4655"));
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert!(!csp.contains("unsafe-eval"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(csp.contains("script-src 'self';"), "{csp}");
        assert!(
            csp.contains("connect-src 'self' http://127.0.0.1:4655;"),
            "{csp}"
        );
        assert!(
            content_security_policy(None).contains("connect-src 'self';"),
            "no agent, no other origin"
        );
    }

    /// Every page is assembled in this crate's sources (no template files):
    /// none of them may carry an inline script, an event handler attribute,
    /// a `javascript:` URL or inline style, which the policy would block.
    #[test]
    fn no_page_source_holds_inline_script_or_style() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
        let mut checked = 0;
        for entry in std::fs::read_dir(dir).expect("src") {
            let path = entry.expect("entry").path();
            if path.extension().and_then(|e| e.to_str()) != Some("rs")
                || path.file_name().and_then(|n| n.to_str()) == Some("security_headers.rs")
            {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("read");
            checked += 1;
            let problems = inline_code(&text);
            assert!(problems.is_empty(), "{}: {problems:?}", path.display());
        }
        assert!(checked > 5, "the page sources were found");
    }

    /// What in `html` would need `'unsafe-inline'`: a `<script>` without
    /// `src`, a `<style>` element, a `style=` or `on…=` attribute, a
    /// `javascript:` URL. Also used on source text (escaped quotes included).
    pub(crate) fn inline_code(html: &str) -> Vec<String> {
        let lower = html.to_ascii_lowercase();
        let mut problems = Vec::new();
        let mut rest = lower.as_str();
        while let Some(i) = rest.find("<script") {
            let tag_end = rest[i..].find('>').map_or(rest.len(), |e| i + e);
            if !rest[i..tag_end].contains(" src=") {
                problems.push(format!("inline <script>: {}", &rest[i..tag_end]));
            }
            rest = &rest[tag_end..];
        }
        if lower.contains("<style") {
            problems.push("a <style> element".into());
        }
        if lower.contains("javascript:") {
            problems.push("a javascript: URL".into());
        }
        for (i, _) in lower.match_indices(" style=") {
            problems.push(format!(
                "a style attribute: {}",
                &lower[i..(i + 40).min(lower.len())]
            ));
        }
        for (i, _) in lower.match_indices(" on") {
            let word: String = lower[i + 1..]
                .chars()
                .take_while(|c| c.is_ascii_alphabetic())
                .collect();
            let after = &lower[i + 1 + word.len()..];
            if word.len() > 2 && (after.starts_with("=\\\"") || after.starts_with("=\"")) {
                problems.push(format!("an event handler attribute: {word}="));
            }
        }
        problems
    }

    #[test]
    fn the_inline_check_finds_what_it_looks_for() {
        assert!(inline_code("<script src=\"/static/a.js\" defer></script>").is_empty());
        assert_eq!(inline_code("<script>alert(1)</script>").len(), 1);
        assert_eq!(inline_code("<button onclick=\"x()\">").len(), 1);
        assert_eq!(inline_code("<button onclick=\\\"x()\\\">").len(), 1);
        assert_eq!(inline_code("<p style=\"color:red\">").len(), 1);
        assert_eq!(inline_code("<style>p{}</style>").len(), 1);
        assert_eq!(inline_code("<a href=\"javascript:x()\">").len(), 1);
        assert!(inline_code("<form method=\"post\" action=\"/x\">").is_empty());
    }
}
