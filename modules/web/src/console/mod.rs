//! The DSI's console, under `/console`: server-rendered pages (askama
//! templates, words from the Fluent catalogue of [`crate::i18n`]) for the
//! operator roles of [`clavis_core::roles`].
//!
//! Who may see what is decided once, in [`console_gate`], before any
//! handler runs: the first path segment after `/console/` names the
//! [`Area`] (`/console/identities/…` is [`Area::Identities`]; `/console`
//! alone is the dashboard), the method the [`Access`] (`GET` reads,
//! anything else acts), and the operator's roles must allow it. The gate
//! wraps the `/console` scope itself, and reads the path as the router
//! matched it (percent-decoded): whatever reaches a console handler went
//! through it. A handler cannot forget the check, and a route added under
//! an area is covered by its rule without a line of its own; the route ×
//! role matrix test walks them all. Refusals are audited
//! (`console.denied`).
//!
//! Operators sign in with their own Clavis login (badge + PIN, or a FIDO2
//! key); a session opened through Pro Santé Connect does not run the
//! console. Forms carry the session's CSRF token ([`ConsoleForm`]); acting
//! on a person is refused on oneself and on anyone holding a role the
//! operator does not ([`Operator::may_act_on`]); sensitive actions ask for
//! a fresh login ([`Operator::fresh_login_needed`]).
//!
//! Every handler's error (the JSON envelope of [`crate::error`]) is turned
//! into a page here, in the operator's language.

mod applications;
pub(crate) mod audit;
mod authenticators;
mod cases;
mod charts;
mod compliance;
mod compliance_report;
mod dashboard;
mod habilitations;
mod identities;
mod operator;
mod operators;
mod sessions;
mod syncs;

pub use operator::{ConsoleForm, DENIALS_BURST, NoFields, Operator};

use crate::pages::Lang;
use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode, header};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse, web};
use askama::Template;
use clavis_core::roles::{Access, Area, OperatorRole};

/// The console's path prefix.
pub const PREFIX: &str = "/console";

/// The path of an area's page.
pub fn href(area: Area) -> String {
    match area {
        Area::Dashboard => PREFIX.to_string(),
        a => format!("{PREFIX}/{a}"),
    }
}

/// The area a console path belongs to (`None`: not a console path, or no
/// such area).
pub fn area_of(path: &str) -> Option<Area> {
    if path == PREFIX || path == "/console/" {
        return Some(Area::Dashboard);
    }
    let rest = path.strip_prefix("/console/")?;
    let first = rest.split('/').next().unwrap_or_default();
    match first.parse::<Area>() {
        // The dashboard is `/console` only: one address per page.
        Ok(Area::Dashboard) | Err(_) => None,
        Ok(a) => Some(a),
    }
}

/// The access a method asks for.
pub fn access_of(method: &Method) -> Access {
    if method == Method::GET || method == Method::HEAD {
        Access::Read
    } else {
        Access::Write
    }
}

/// Middleware of the `/console` scope: resolves and checks the operator of
/// every request (see the module's doc), and turns the handlers' errors
/// into pages.
pub async fn console_gate(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    // The path as the router matched it (percent-decoded), not as sent:
    // `/%63onsole/audit` is the audit area too.
    let path = req.match_info().as_str().to_string();
    let lang = Lang::of(req.request());
    let Some(area) = area_of(&path) else {
        return Ok(req
            .into_response(problem_page(lang, StatusCode::NOT_FOUND, None))
            .map_into_right_body());
    };
    let access = access_of(req.method());
    let operator = match operator::resolve(req.request(), area, access).await {
        Ok(op) => op,
        Err(refusal) => {
            return Ok(req
                .into_response(refusal.response(lang))
                .map_into_right_body());
        }
    };
    req.extensions_mut().insert(operator);
    let res = next.call(req).await?;
    if !(res.status().is_client_error() || res.status().is_server_error()) {
        return Ok(res.map_into_left_body());
    }
    // A handler's error (its JSON envelope), or a route the area does not
    // have: a page.
    let content_type = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    if content_type.starts_with("text/html") {
        return Ok(res.map_into_left_body());
    }
    let status = res.status();
    let (req, res) = res.into_parts();
    let body = actix_web::body::to_bytes(res.into_body()).await.ok();
    let message = body
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
        // An internal error's message says nothing useful: the page says
        // so in the operator's words instead.
        .filter(|_| status.is_client_error());
    Ok(ServiceResponse::new(req, problem_page(lang, status, message)).map_into_right_body())
}

/// The layout's data, shared by every page.
#[derive(Debug)]
pub struct Chrome {
    /// The page's language.
    pub lang: Lang,
    /// The page's title.
    pub title: String,
    /// The menu: the areas the operator may read that have pages.
    pub nav: Vec<NavItem>,
    /// Who is signed in.
    pub operator_name: String,
    /// The operator's roles, as shown.
    pub roles: String,
    /// The CSRF token of the page's forms.
    pub csrf: String,
}

/// One entry of the menu.
#[derive(Debug)]
pub struct NavItem {
    /// Where it leads.
    pub href: String,
    /// Its words.
    pub label: String,
    /// Whether it is the current page's area.
    pub current: bool,
}

/// The name of an area in the menu and titles.
pub fn area_label(lang: Lang, area: Area) -> String {
    lang.tr(match area {
        Area::Dashboard => "area-dashboard",
        Area::Identities => "area-identities",
        Area::Cases => "area-cases",
        Area::Syncs => "area-syncs",
        Area::Authenticators => "area-authenticators",
        Area::Sessions => "area-sessions",
        Area::Applications => "area-applications",
        Area::Habilitations => "area-habilitations",
        Area::Audit => "area-audit",
        Area::Compliance => "area-compliance",
        Area::Operators => "area-operators",
    })
}

/// The name of a role as shown.
pub fn role_label(lang: Lang, role: OperatorRole) -> String {
    lang.tr(match role {
        OperatorRole::Admin => "role-admin",
        OperatorRole::IdentityOffice => "role-identity-office",
        OperatorRole::BadgeOffice => "role-badge-office",
        OperatorRole::Helpdesk => "role-helpdesk",
        OperatorRole::Auditor => "role-auditor",
    })
}

impl Operator {
    /// The layout's data for a page of `area` titled `title`.
    pub fn chrome(&self, area: Area, title: String) -> Chrome {
        let lang = self.lang;
        Chrome {
            lang,
            title,
            nav: Area::ALL
                .iter()
                .filter(|a| self.may(**a, Access::Read))
                .map(|a| NavItem {
                    href: href(*a),
                    label: area_label(lang, *a),
                    current: *a == area,
                })
                .collect(),
            operator_name: self.display_name.clone(),
            roles: self
                .roles
                .iter()
                .map(|r| role_label(lang, *r))
                .collect::<Vec<_>>()
                .join(", "),
            csrf: self.csrf(),
        }
    }
}

/// A page answered `200` (never cached: operators' pages show personal
/// data).
pub fn page(t: &impl Template) -> Result<HttpResponse, crate::error::ApiError> {
    let html = t.render().map_err(crate::error::ApiError::internal)?;
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(html))
}

#[derive(Template)]
#[template(path = "console/problem.html")]
struct ProblemPage {
    lang: Lang,
    title: String,
    message: String,
    signed_in_elsewhere: bool,
}

/// A page that says why nothing is shown, with `status`.
pub fn problem_page(
    lang: Lang,
    status: StatusCode,
    message: Option<String>,
) -> HttpResponse<BoxBody> {
    let (title, default) = match status {
        StatusCode::FORBIDDEN => ("problem-forbidden-title", "problem-forbidden"),
        StatusCode::NOT_FOUND => ("problem-not-found-title", "problem-not-found"),
        s if s.is_client_error() => ("problem-bad-request-title", "problem-bad-request"),
        _ => ("problem-internal-title", "problem-internal"),
    };
    let p = ProblemPage {
        lang,
        title: lang.tr(title),
        message: message.unwrap_or_else(|| lang.tr(default)),
        signed_in_elsewhere: status == StatusCode::FORBIDDEN,
    };
    let body = p
        .render()
        .unwrap_or_else(|_| format!("{} {}", status.as_u16(), p.title));
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body)
}

/// Registers the console: one scope, every route inside it behind the
/// gate.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope(PREFIX)
            .wrap(actix_web::middleware::from_fn(console_gate))
            .configure(dashboard::configure)
            .configure(identities::configure)
            .configure(authenticators::configure)
            .configure(cases::configure)
            .configure(compliance::configure)
            .configure(sessions::configure)
            .configure(syncs::configure)
            .configure(habilitations::configure)
            .configure(applications::configure)
            .configure(operators::configure)
            .configure(audit::configure),
    );
}

/// A person's name as the console's lists show it: used family name (or
/// birth family name) in capitals, then the birth given names.
pub fn person_name(i: &clavis_store::models::IdentityRow) -> String {
    let family = i
        .used_family_name
        .as_deref()
        .unwrap_or(&i.birth_family_name);
    format!(
        "{} {}",
        family.to_uppercase(),
        i.birth_given_names.join(" ")
    )
    .trim()
    .to_string()
}

/// The names of `oids` ([`person_name`]), read a few hundred at a time.
pub async fn person_names(
    conn: &mut clavis_store::DbConn,
    oids: &[clavis_core::Oid],
) -> Result<std::collections::HashMap<clavis_core::Oid, String>, crate::error::ApiError> {
    let mut wanted = oids.to_vec();
    wanted.sort_unstable();
    wanted.dedup();
    let mut out = std::collections::HashMap::new();
    for chunk in wanted.chunks(500) {
        for i in clavis_store::models::IdentityRow::find_many(conn, chunk).await? {
            out.insert(i.oid, person_name(&i));
        }
    }
    Ok(out)
}

/// `303 See Other` to `to` (after a form: the page to show next).
pub fn see_other(to: impl Into<String>) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to.into()))
        .finish()
}

/// An identity's oid typed in a form or a query (`field` names it in the
/// error).
pub fn parse_oid(field: &str, text: &str) -> Result<clavis_core::Oid, crate::error::ApiError> {
    text.trim()
        .parse()
        .map_err(|_| crate::error::ApiError::BadRequest(format!("{field}: not an identity id")))
}

/// A date and time as operators read it (local time).
pub fn local_time(at: chrono::DateTime<chrono::Utc>) -> String {
    at.with_timezone(&chrono::Local)
        .format("%d/%m/%Y %H:%M")
        .to_string()
}

/// A Unix instant in seconds, as [`local_time`] (empty when out of range).
pub fn local_time_secs(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(local_time)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_their_area_and_nothing_else_passes() {
        assert_eq!(area_of("/console"), Some(Area::Dashboard));
        assert_eq!(area_of("/console/"), Some(Area::Dashboard));
        assert_eq!(area_of("/console/identities"), Some(Area::Identities));
        assert_eq!(
            area_of("/console/identities/5f0c7a51-3c0e-4f7a-9a63-7f1d2f0e8b11"),
            Some(Area::Identities)
        );
        assert_eq!(area_of("/console/audit/export.csv"), Some(Area::Audit));
        assert_eq!(area_of("/console/dashboard"), None);
        assert_eq!(area_of("/console/nothing"), None);
        assert_eq!(area_of("/console/Identities"), None);
        assert_eq!(area_of("/consoles"), None);
        for a in Area::ALL {
            assert_eq!(area_of(&href(*a)), Some(*a), "{a}");
        }
        assert_eq!(access_of(&Method::GET), Access::Read);
        assert_eq!(access_of(&Method::HEAD), Access::Read);
        assert_eq!(access_of(&Method::POST), Access::Write);
        assert_eq!(access_of(&Method::DELETE), Access::Write);
        assert_eq!(access_of(&Method::OPTIONS), Access::Write);
    }

    /// The words chosen by a `match` (not seen by the catalogue test's
    /// scan of `tr("…")` calls) are in both catalogues.
    #[test]
    fn every_label_is_in_both_catalogues() {
        for lang in [Lang::Fr, Lang::En] {
            for a in Area::ALL {
                assert!(!area_label(lang, *a).starts_with("area-"), "{a}");
            }
            for r in OperatorRole::ALL {
                assert!(!role_label(lang, *r).starts_with("role-"), "{r}");
            }
            for s in clavis_core::LifecycleStatus::ALL {
                let l = identities::status_label(lang, *s);
                assert!(!l.starts_with("status-"), "{s}");
            }
            for status in [400, 403, 404, 500] {
                let status = StatusCode::from_u16(status).expect("status");
                let p = problem_page(lang, status, None);
                assert_eq!(p.status(), status);
            }
            for id in [
                "problem-forbidden-title",
                "problem-forbidden",
                "problem-not-found-title",
                "problem-not-found",
                "problem-bad-request-title",
                "problem-bad-request",
                "problem-internal-title",
                "problem-internal",
                "account-enabled",
                "account-disabled",
                "trait-birth-family-name",
                "trait-used-family-name",
                "trait-given-names",
                "trait-birth-place",
                "trait-sex",
                "trait-national-id",
                "trait-adeli",
                "trait-email",
                "trait-phone",
                "trait-contract",
                "trait-professions",
                "trait-arrival",
                "trait-departure",
            ] {
                assert_ne!(lang.tr(id), id, "{id}");
            }
        }
    }
}
