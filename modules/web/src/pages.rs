//! Server-rendered pages: one small layout, French by default, English when
//! the browser prefers it, and its stylesheet (`GET /static/clavis.css`).
//! No template engine: values are escaped here.

use actix_web::{HttpRequest, HttpResponse, get, web};

/// The language of a request: English when the browser asks for it first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// Français (default).
    Fr,
    /// English.
    En,
}

impl Lang {
    /// From `?lang=` or `Accept-Language`.
    pub fn of(req: &HttpRequest) -> Lang {
        let q = req.query_string();
        if q.split('&').any(|p| p == "lang=en") {
            return Lang::En;
        }
        if q.split('&').any(|p| p == "lang=fr") {
            return Lang::Fr;
        }
        let al = req
            .headers()
            .get("Accept-Language")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if al.trim_start().to_ascii_lowercase().starts_with("en") {
            Lang::En
        } else {
            Lang::Fr
        }
    }

    /// Picks the text for this language.
    pub fn t<'a>(self, fr: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Fr => fr,
            Lang::En => en,
        }
    }

    /// The language's code (`lang` attribute).
    pub fn code(self) -> &'static str {
        match self {
            Lang::Fr => "fr",
            Lang::En => "en",
        }
    }
}

/// What the holder is told after someone else set their badge PIN (at
/// their next login, badge or key, and on `/me` until acknowledged): when,
/// and what to do if it was not at their request.
pub fn pin_replaced_notice(lang: Lang, r: &clavis_authn::badge::pin::PinReplaced) -> String {
    let when = r.at.with_timezone(&chrono::Local).format("%d/%m/%Y %H:%M");
    match lang {
        Lang::Fr => format!(
            "Votre code PIN de badge a été modifié le {when} par le bureau des badges ou le support. \
             Si vous ne l'avez pas demandé, prévenez le support informatique."
        ),
        Lang::En => format!(
            "Your badge PIN was changed on {when} by the badge office or the IT desk. \
             If you did not ask for it, tell the IT desk."
        ),
    }
}

/// What a person is told when a new badge PIN breaks the policy (at the
/// badge office, on `/me`).
pub fn pin_policy_message(
    lang: Lang,
    policy: &clavis_authn::badge::BadgePolicy,
    err: &clavis_authn::badge::PinPolicyError,
) -> String {
    match lang {
        Lang::Fr => format!(
            "Code PIN refusé : {} à {} chiffres, sans suite ni répétition évidente.",
            policy.pin_min, policy.pin_max
        ),
        Lang::En => format!("PIN refused: {err}."),
    }
}

/// Escapes text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A whole page around `body` (already escaped HTML). Scripts and styles
/// come from `/static/` only: the Content-Security-Policy
/// ([`crate::security_headers`]) refuses anything inline.
pub fn layout(lang: Lang, title: &str, body: &str, with_script: bool) -> String {
    let script = if with_script {
        "<script src=\"/static/webauthn.js\" defer></script>"
    } else {
        ""
    };
    format!(
        "<!doctype html><html lang=\"{lang}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} — Clavis</title><link rel=\"stylesheet\" href=\"/static/clavis.css\">{script}</head>\
         <body><main>{body}</main></body></html>",
        lang = lang.code(),
        title = esc(title),
    )
}

/// `GET /static/clavis.css`: the layout's stylesheet.
#[get("/static/clavis.css")]
async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((
            actix_web::http::header::CACHE_CONTROL,
            "public, max-age=3600",
        ))
        .body(include_str!("assets/clavis.css"))
}

/// Registers the stylesheet's route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(stylesheet);
}
