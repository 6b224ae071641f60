//! Server-rendered pages: one small layout, French by default, English when
//! the browser prefers it. No template engine: values are escaped here.

use actix_web::HttpRequest;

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

    fn code(self) -> &'static str {
        match self {
            Lang::Fr => "fr",
            Lang::En => "en",
        }
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

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;background:#f4f6f8;color:#1b1f23}\
main{max-width:34rem;margin:3rem auto;background:#fff;padding:2rem;border-radius:.5rem;box-shadow:0 1px 3px rgba(0,0,0,.15)}\
h1{font-size:1.5rem;margin-top:0}label{display:block;margin:.75rem 0 .25rem;font-weight:600}\
input{font-size:1.1rem;padding:.5rem;width:100%;box-sizing:border-box;border:1px solid #6a737d;border-radius:.25rem}\
button{font-size:1.1rem;padding:.7rem 1.2rem;margin-top:1rem;border:0;border-radius:.25rem;background:#0b5394;color:#fff;cursor:pointer}\
button.secondary{background:#586069}button:focus,input:focus{outline:3px solid #f9a825;outline-offset:2px}\
.status{min-height:1.5rem;margin-top:1rem}.error{color:#b00020;font-weight:600}\
table{width:100%;border-collapse:collapse}td,th{text-align:left;padding:.4rem;border-bottom:1px solid #e1e4e8}";

/// A whole page around `body` (already escaped HTML).
pub fn layout(lang: Lang, title: &str, body: &str, with_script: bool) -> String {
    let script = if with_script {
        "<script src=\"/static/webauthn.js\" defer></script>"
    } else {
        ""
    };
    format!(
        "<!doctype html><html lang=\"{lang}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} — Clavis</title><style>{STYLE}</style>{script}</head>\
         <body><main>{body}</main></body></html>",
        lang = lang.code(),
        title = esc(title),
    )
}
