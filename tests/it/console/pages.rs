//! What the console's pages show and do: the identities' search and
//! detail, ending sessions (and who may not be acted on), the audit
//! journal's search, export and verification, the language, escaping.

use super::{csrf_of, grant, hospital, post_form, session_is_live};
use crate::support::audit::{events_after, last_seq};
use crate::support::http::AppService;
use crate::support::{TestApp, on_both_backends};
use actix_web::test::{TestRequest, call_service, read_body};
use clavis_core::roles::OperatorRole;
use clavis_testkit::db::Backend;

on_both_backends!(
    a_percent_encoded_path_goes_through_the_same_gate,
    the_audit_trail_of_a_person_shows_only_to_those_who_read_the_journal,
    identities_are_found_with_or_without_accents_and_shown_in_detail,
    the_helpdesk_ends_a_persons_sessions_and_the_audit_names_the_operator,
    sessions_are_listed_by_workstation,
    someone_hammering_the_console_does_not_fill_the_journal,
    no_operator_acts_on_themselves_or_on_a_higher_role,
    a_form_without_its_csrf_token_is_refused_and_changes_nothing,
    the_audit_journal_searches_exports_and_verifies,
    pages_are_french_by_default_english_on_request_and_escape_what_they_show,
);

/// GET `path` with `cookie` (and `accept_language`): status, body.
async fn page(
    app: &impl AppService,
    path: &str,
    cookie: &str,
    accept_language: Option<&str>,
) -> (u16, String) {
    let mut req = TestRequest::get()
        .uri(path)
        .insert_header(("cookie", cookie.to_string()));
    if let Some(l) = accept_language {
        req = req.insert_header(("accept-language", l));
    }
    let resp = call_service(app, req.to_request()).await;
    let status = resp.status().as_u16();
    (
        status,
        String::from_utf8_lossy(&read_body(resp).await).into_owned(),
    )
}

/// POST a console form: status, `Location`.
async fn submit(
    app: &impl AppService,
    path: &str,
    cookie: &str,
    fields: &[(&str, &str)],
) -> (u16, String) {
    let (status, to, _) = post_form(app, path, cookie, fields).await;
    (status, to)
}

async fn identities_are_found_with_or_without_accents_and_shown_in_detail(backend: Backend) {
    let t = hospital(backend).await;
    let app = t.service().await;
    let ines = t.open_session(t.person("Ines")).await.cookie;
    let helene = t.person("Hélène");
    for q in ["berard", "Bérard", "HELENE berard"] {
        let (status, body) = page(
            &app,
            &format!("/console/identities?q={}", urlencode(q)),
            &ines,
            None,
        )
        .await;
        assert_eq!(status, 200);
        assert!(
            body.contains(&format!("/console/identities/{helene}")),
            "{q}: {body}"
        );
        assert!(body.contains("1 résultat"), "{q}");
        assert!(!body.contains("LEMOINE"), "{q}: only her");
    }
    // Paging: 8 people, all on one page, no next link.
    let (_, body) = page(&app, "/console/identities", &ines, None).await;
    assert!(body.contains("8 résultats"), "{body}");
    assert!(!body.contains("rel=\"next\""));
    // A status filter.
    let (_, body) = page(&app, "/console/identities?status=departed", &ines, None).await;
    assert!(body.contains("0 résultat"), "{body}");
    let (status, _) = page(&app, "/console/identities?status=gone", &ines, None).await;
    assert_eq!(status, 400, "an unknown status is a bad request");

    // The detail: traits, roles, open sessions, audit trail.
    let alice = t.person("Alice");
    let s = t.open_session(alice).await;
    let (status, body) = page(&app, &format!("/console/identities/{alice}"), &ines, None).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("MARTIN Alice"), "{body}");
    assert!(body.contains("Nom de naissance"));
    assert!(body.contains("1990-01-01"));
    assert!(
        body.contains("<p id=\"identity-roles\">administrateur</p>"),
        "{body}"
    );
    assert!(
        body.contains(&format!("data-session=\"{}\"", s.id)),
        "her open session is listed"
    );
    // The identity office may end sessions, but not an administrator's: no
    // button offered... the rule is enforced on submit (see below); the
    // page of someone without a role offers it.
    let claire = t.person("Claire");
    t.open_session(claire).await;
    let (_, body) = page(&app, &format!("/console/identities/{claire}"), &ines, None).await;
    assert!(
        body.contains("action=\"/console/sessions/end-all\""),
        "{body}"
    );
    // Her national identity and habilitations: RPPS never verified, a
    // valid link to Pro Santé Connect, a role in the DPI never reviewed.
    assert!(
        body.contains("<dt>RPPS vérifié le</dt><dd>jamais</dd>"),
        "{body}"
    );
    let now = clavis_core::Clock::now(&t.clock);
    let mut conn = t.t.db.conn().await.expect("conn");
    clavis_store::models::PscLinkRow {
        oid: claire,
        national_id: format!("8{}", super::CLAIRE_RPPS),
        psc_sub: "sub-claire".into(),
        acr: None,
        auth_mode: None,
        id_token_sha256: "00".into(),
        linked_at: now.timestamp(),
        expires_at: now.timestamp() + 86_400,
        revoked_at: None,
        revoked_reason: None,
        revoked_by: None,
    }
    .save(&mut conn)
    .await
    .expect("link");
    clavis_oidc::habilitations::grant(
        &mut conn,
        now,
        claire,
        &clavis_core::ClientId::from("dpi"),
        "ide",
        &clavis_core::Actor::Cli("it".into()),
    )
    .await
    .expect("habilitation");
    let (_, body) = page(&app, &format!("/console/identities/{claire}"), &ines, None).await;
    assert!(
        body.contains("<dt>Lien Pro Santé Connect</dt><dd>810100779536 · valide jusqu&#39;au"),
        "{body}"
    );
    assert!(
        body.contains("<dt>dpi</dt><dd>ide · jamais revue</dd>"),
        "{body}"
    );
    // Found by login-less keys too: an unknown one is not found.
    let (status, body) = page(&app, "/console/identities/nobody-here", &ines, None).await;
    assert_eq!(status, 404);
    assert!(body.contains("Page introuvable"), "{body}");
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn the_helpdesk_ends_a_persons_sessions_and_the_audit_names_the_operator(backend: Backend) {
    let t = hospital(backend).await;
    let app = t.service().await;
    let hugo = t.person("Hugo");
    let cookie = t.open_session(hugo).await.cookie;
    let claire = t.person("Claire");
    let one = t.open_session(claire).await;
    let two = t.open_session(claire).await;
    let other = t.open_session(t.person("Noé")).await;

    // One session, from the list.
    let (status, _) = page(
        &app,
        &format!("/console/sessions?oid={claire}"),
        &cookie,
        None,
    )
    .await;
    assert_eq!(status, 200);
    let before = last_seq(&t.t.db).await;
    let (status, to) = submit(
        &app,
        &format!("/console/sessions/{}/end", one.id),
        &cookie,
        &[("csrf", &csrf_of(&cookie))],
    )
    .await;
    assert_eq!((status, to.as_str()), (303, "/console/sessions"));
    assert!(!session_is_live(&t, &one.id).await);
    assert!(session_is_live(&t, &two.id).await, "only that one");
    let events = events_after(&t.t.db, before).await;
    let ended: Vec<_> = events
        .iter()
        .filter(|e| e["action"] == "session.ended")
        .collect();
    assert_eq!(ended.len(), 1, "{events:?}");
    assert_eq!(ended[0]["actor"], format!("identity:{hugo}"));
    assert_eq!(ended[0]["changes"]["reason"], "revoked");
    // Ending it again: no longer open.
    let (status, _) = submit(
        &app,
        &format!("/console/sessions/{}/end", one.id),
        &cookie,
        &[("csrf", &csrf_of(&cookie))],
    )
    .await;
    assert_eq!(status, 404);

    // All of hers, from her page.
    let (status, to) = submit(
        &app,
        "/console/sessions/end-all",
        &cookie,
        &[("csrf", &csrf_of(&cookie)), ("oid", &claire.to_string())],
    )
    .await;
    assert_eq!(status, 303);
    assert_eq!(to, format!("/console/identities/{claire}"));
    assert!(!session_is_live(&t, &two.id).await);
    assert!(session_is_live(&t, &other.id).await, "nobody else's");
    // Her cookie opens nothing any more.
    let resp = call_service(
        &app,
        TestRequest::get()
            .uri("/me")
            .insert_header(("cookie", two.cookie.clone()))
            .to_request(),
    )
    .await;
    assert_ne!(resp.status().as_u16(), 200);
}

async fn no_operator_acts_on_themselves_or_on_a_higher_role(backend: Backend) {
    let t = hospital(backend).await;
    let app = t.service().await;
    let hugo = t.person("Hugo");
    let alice = t.person("Alice");
    let cookie = t.open_session(hugo).await.cookie;
    let admins = t.open_session(alice).await;
    let csrf = csrf_of(&cookie);
    // An administrator's sessions.
    let before = last_seq(&t.t.db).await;
    let (status, _) = submit(
        &app,
        "/console/sessions/end-all",
        &cookie,
        &[("csrf", &csrf), ("oid", &alice.to_string())],
    )
    .await;
    assert_eq!(status, 403);
    assert!(session_is_live(&t, &admins.id).await);
    let events = events_after(&t.t.db, before).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["action"], "console.target_refused");
    assert_eq!(events[0]["actor"], format!("identity:{hugo}"));
    assert_eq!(events[0]["target"], alice.to_string());
    assert_eq!(events[0]["changes"]["reason"], "holds_admin");
    // One session of hers, by its id: the same.
    let (status, _) = submit(
        &app,
        &format!("/console/sessions/{}/end", admins.id),
        &cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(status, 403);
    assert!(session_is_live(&t, &admins.id).await);
    // His own.
    let (status, _) = submit(
        &app,
        "/console/sessions/end-all",
        &cookie,
        &[("csrf", &csrf), ("oid", &hugo.to_string())],
    )
    .await;
    assert_eq!(status, 403);
    // A fellow helpdesk agent holding nothing more: allowed.
    let noe = t.person("Noé");
    grant(&t, noe, OperatorRole::Helpdesk).await;
    let (status, _) = submit(
        &app,
        "/console/sessions/end-all",
        &cookie,
        &[("csrf", &csrf), ("oid", &noe.to_string())],
    )
    .await;
    assert_eq!(status, 303);
    // The administrator may end the helpdesk agent's.
    let hugos = t.open_session(hugo).await;
    let (status, _) = submit(
        &app,
        "/console/sessions/end-all",
        &admins.cookie,
        &[
            ("csrf", &csrf_of(&admins.cookie)),
            ("oid", &hugo.to_string()),
        ],
    )
    .await;
    assert_eq!(status, 303);
    assert!(!session_is_live(&t, &hugos.id).await);
}

async fn a_form_without_its_csrf_token_is_refused_and_changes_nothing(backend: Backend) {
    let t = hospital(backend).await;
    let app = t.service().await;
    let cookie = t.open_session(t.person("Alice")).await.cookie;
    let claire = t.person("Claire");
    let s = t.open_session(claire).await;
    let other = t.open_session(t.person("Hugo")).await.cookie;
    for fields in [
        vec![("oid", claire.to_string())],
        vec![("csrf", String::new()), ("oid", claire.to_string())],
        vec![("csrf", csrf_of(&other)), ("oid", claire.to_string())],
    ] {
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let before = last_seq(&t.t.db).await;
        let (status, _) = submit(&app, "/console/sessions/end-all", &cookie, &fields).await;
        assert_eq!(status, 403, "{fields:?}");
        assert!(session_is_live(&t, &s.id).await, "{fields:?}");
        let events = events_after(&t.t.db, before).await;
        assert!(
            events.len() == 1
                && events[0]["action"] == "console.denied"
                && events[0]["changes"]["reason"] == "csrf",
            "the refusal is on the record: {events:?}"
        );
    }
}

async fn a_percent_encoded_path_goes_through_the_same_gate(backend: Backend) {
    let t = hospital(backend).await;
    let app = t.service().await;
    let hugo = t.open_session(t.person("Hugo")).await.cookie;
    for path in [
        "/%63onsole/audit",
        "/console/%61udit",
        "/%63onsole/audit/export.csv",
    ] {
        let before = last_seq(&t.t.db).await;
        let (status, body) = page(&app, path, &hugo, None).await;
        assert_eq!(status, 403, "{path}: {body}");
        let events = events_after(&t.t.db, before).await;
        assert_eq!(events.len(), 1, "{path}: {events:?}");
        assert_eq!(events[0]["action"], "console.denied");
        assert_eq!(events[0]["changes"]["area"], "audit");
    }
    let aude = t.open_session(t.person("Aude")).await.cookie;
    let (status, _) = page(&app, "/%63onsole/audit", &aude, None).await;
    assert_eq!(status, 200, "the auditor reads it, however it is spelt");
}

async fn the_audit_trail_of_a_person_shows_only_to_those_who_read_the_journal(backend: Backend) {
    let t = hospital(backend).await;
    let app = t.service().await;
    let claire = t.person("Claire");
    let path = format!("/console/identities/{claire}");
    let hugo = t.open_session(t.person("Hugo")).await.cookie;
    // Something about her in the journal: the helpdesk unlocks her PIN.
    let (status, _) = submit(
        &app,
        "/console/authenticators/pin-unlock",
        &hugo,
        &[("csrf", &csrf_of(&hugo)), ("oid", &claire.to_string())],
    )
    .await;
    assert_eq!(status, 303);
    let (status, body) = page(&app, &path, &hugo, None).await;
    assert_eq!(status, 200);
    assert!(!body.contains("id=\"h-trail\""), "{body}");
    let aude = t.open_session(t.person("Aude")).await.cookie;
    let (_, body) = page(&app, &path, &aude, None).await;
    assert!(body.contains("id=\"h-trail\""), "{body}");
    assert!(body.contains("badge.pin_unlocked"), "{body}");
}

async fn the_audit_journal_searches_exports_and_verifies(backend: Backend) {
    let t = hospital(backend).await;
    let app = t.service().await;
    let aude = t.person("Aude");
    let cookie = t.open_session(aude).await.cookie;
    // Two refusals of hers to find.
    for path in ["/console/applications", "/console/operators"] {
        let resp = call_service(
            &app,
            TestRequest::post()
                .uri(&format!("{path}/x"))
                .insert_header(("cookie", cookie.clone()))
                .to_request(),
        )
        .await;
        assert_eq!(resp.status().as_u16(), 403);
    }
    let actor = format!("identity:{aude}");
    let (status, body) = page(
        &app,
        &format!("/console/audit?actor={}&action=console.", urlencode(&actor)),
        &cookie,
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body.matches("<tr data-seq=").count(), 2, "{body}");
    assert!(body.contains("console.denied"));
    // Another family finds none of them.
    let (_, body) = page(
        &app,
        &format!("/console/audit?actor={}&action=login.", urlencode(&actor)),
        &cookie,
        None,
    )
    .await;
    assert_eq!(body.matches("<tr data-seq=").count(), 0);
    // A time range that ends before them finds none; today's finds them.
    let (_, body) = page(
        &app,
        &format!("/console/audit?actor={}&to=2000-01-01", urlencode(&actor)),
        &cookie,
        None,
    )
    .await;
    assert_eq!(body.matches("<tr data-seq=").count(), 0);
    let (status, body) = page(&app, "/console/audit?from=31/12/2020", &cookie, None).await;
    assert_eq!(status, 400);
    assert!(body.contains("from: a date"), "the field is named: {body}");

    // The export: the same search as CSV, with the chain's head, audited.
    let resp = call_service(
        &app,
        TestRequest::get()
            .uri(&format!(
                "/console/audit/export.csv?actor={}&action=console.",
                urlencode(&actor)
            ))
            .insert_header(("cookie", cookie.clone()))
            .to_request(),
    )
    .await;
    assert_eq!(resp.status().as_u16(), 200);
    assert!(
        resp.headers()
            .get("content-disposition")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("attachment; filename=\"clavis-audit-"))
    );
    let head = resp
        .headers()
        .get("x-clavis-audit-head")
        .and_then(|v| v.to_str().ok())
        .expect("head")
        .to_string();
    let csv = String::from_utf8_lossy(&read_body(resp).await).into_owned();
    let lines: Vec<&str> = csv.trim_end().split("\r\n").collect();
    assert_eq!(
        lines[0],
        "seq;occurred_at;actor;action;target;changes;client_addr;request_id;hash"
    );
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(
        lines[1..]
            .iter()
            .all(|l| l.contains(";\"console.denied\";")),
        "{csv}"
    );
    let mut conn = t.t.db.conn().await.expect("conn");
    let exported = clavis_store::models::AuditEventRow::search(
        &mut conn,
        &clavis_store::models::AuditFilter {
            action: Some("audit.exported".into()),
            ..Default::default()
        },
        10,
    )
    .await
    .expect("search");
    assert_eq!(exported.len(), 1);
    assert_eq!(exported[0].actor, actor);
    assert!(
        head.starts_with(&format!("{}:", exported[0].seq - 1)),
        "{head}"
    );

    // Paging: 150 more of hers, newest first, 100 a page, no event twice.
    let mut conn = t.t.db.conn().await.expect("conn");
    let who: clavis_core::Actor = actor.parse().expect("actor");
    for _ in 0..150 {
        clavis_audit::AuditEvent::new(
            who.clone(),
            clavis_core::AuditAction::ConsoleDenied,
            None,
            serde_json::json!({"path": "/console/operators/x"}),
        )
        .record(&mut conn, clavis_core::Clock::now(&t.clock))
        .await
        .expect("event");
    }
    drop(conn);
    let first = format!("/console/audit?actor={}", urlencode(&actor));
    let (_, body) = page(&app, &first, &cookie, None).await;
    let seqs = |body: &str| -> Vec<i64> {
        body.split("<tr data-seq=\"")
            .skip(1)
            .filter_map(|s| s.split('"').next()?.parse().ok())
            .collect()
    };
    let one = seqs(&body);
    assert_eq!(one.len(), 100);
    assert!(one.windows(2).all(|w| w[0] > w[1]), "newest first");
    let next = body
        .split("rel=\"next\"")
        .next()
        .and_then(|b| b.rsplit("href=\"").next())
        .and_then(|h| h.split('"').next())
        .expect("a next page")
        .replace("&#38;", "&");
    let (_, body) = page(&app, &next, &cookie, None).await;
    let two = seqs(&body);
    assert!(two.len() >= 50, "{}", two.len());
    assert!(
        two.iter().all(|s| *s < one[99]),
        "the next page starts after the first: {next} {one:?} {two:?}"
    );

    // The chain verifies (walked on demand, the page shows the walk).
    let csrf = super::csrf_of(&cookie);
    let (status, _) = page(
        &app,
        &format!("/console/audit/verify?run=new&csrf={csrf}"),
        &cookie,
        None,
    )
    .await;
    assert_eq!(status, 303);
    // The first walk takes the whole journal, in the background.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let body = loop {
        let (status, body) = page(&app, "/console/audit/verify", &cookie, None).await;
        assert_eq!(status, 200);
        if !body.contains("class=\"walk-running\"") && body.contains("class=\"walk-") {
            break body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the walk did not finish"
        );
        tokio::task::yield_now().await;
    };
    assert!(body.contains("La chaîne du journal est intacte"), "{body}");
}

async fn pages_are_french_by_default_english_on_request_and_escape_what_they_show(
    backend: Backend,
) {
    let t = TestApp::on(backend)
        .with_person("Martin", "Alice")
        .with_person("<script>alert(1)</script>", "Eve")
        .start()
        .await;
    grant(&t, t.person("Alice"), OperatorRole::Admin).await;
    let app = t.service().await;
    let cookie = t.open_session(t.person("Alice")).await.cookie;
    let (_, fr) = page(&app, "/console", &cookie, None).await;
    assert!(fr.contains("<html lang=\"fr\">"));
    assert!(fr.contains("Tableau de bord"));
    let (_, en) = page(&app, "/console", &cookie, Some("en-GB,en;q=0.9")).await;
    assert!(en.contains("<html lang=\"en\">"));
    assert!(en.contains("Dashboard"));
    let (_, list) = page(&app, "/console/identities", &cookie, None).await;
    assert!(!list.contains("<script>alert(1)</script>"), "{list}");
    assert!(
        list.contains("&#60;SCRIPT&#62;ALERT(1)&#60;/SCRIPT&#62;"),
        "{list}"
    );
    // A search term is given back escaped too.
    let (_, list) = page(
        &app,
        "/console/identities?q=%22%3E%3Cimg%20src%3Dx%3E",
        &cookie,
        None,
    )
    .await;
    assert!(!list.contains("<img src=x>"));
    assert!(
        list.contains("value=\"&#34;&#62;&#60;img src=x&#62;\""),
        "{list}"
    );
    // Every page carries the strict policy: no inline script.
    let resp = call_service(
        &app,
        TestRequest::get()
            .uri("/console")
            .insert_header(("cookie", cookie.clone()))
            .to_request(),
    )
    .await;
    let csp = resp
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
}

async fn sessions_are_listed_by_workstation(backend: Backend) {
    let t = hospital(backend).await;
    let app = t.service().await;
    let cookie = t.open_session(t.person("Hugo")).await.cookie;
    let mut ids = Vec::new();
    for (given, ws) in [
        ("Claire", "ws-urgences-3"),
        ("Noé", "ws-urgences-3"),
        ("Hélène", "ws-bloc-1"),
    ] {
        let mut conn = t.t.db.conn().await.expect("conn");
        let (_, s) = clavis_sso::create(
            &mut conn,
            &t.state.sso,
            clavis_core::Clock::now(&t.clock),
            clavis_sso::NewSession {
                oid: t.person(given),
                acr: "eidas2".into(),
                amr: vec!["hwk".into(), "mfa".into()],
                authenticator_id: None,
                client_ip: None,
                user_agent: None,
                workstation_id: Some(clavis_core::WorkstationId::from(ws)),
                ends_by: None,
                method: clavis_core::LoginMethod::Badge,
            },
        )
        .await
        .expect("session");
        ids.push(s.id.to_string());
    }
    let (status, body) = page(
        &app,
        "/console/sessions?workstation=ws-urgences-3",
        &cookie,
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains(&format!("data-session=\"{}\"", ids[0])),
        "{body}"
    );
    assert!(
        body.contains(&format!("data-session=\"{}\"", ids[1])),
        "{body}"
    );
    assert!(
        !body.contains(&format!("data-session=\"{}\"", ids[2])),
        "another workstation"
    );
    assert_eq!(body.matches("data-session=\"").count(), 2, "{body}");
    // Every workstation in the full list links to its own.
    let (_, all) = page(&app, "/console/sessions", &cookie, None).await;
    assert!(
        all.contains("href=\"/console/sessions?workstation=ws-bloc-1\""),
        "{all}"
    );
}

async fn someone_hammering_the_console_does_not_fill_the_journal(backend: Backend) {
    let t = hospital(backend).await;
    let app = t.service().await;
    // Noé holds no role: every console page is refused to him.
    let cookie = t.open_session(t.person("Noé")).await.cookie;
    let before = crate::support::audit::last_seq(&t.t.db).await;
    let tries = clavis_web::console::DENIALS_BURST as usize + 50;
    for _ in 0..tries {
        let (status, _) = page(&app, "/console/audit", &cookie, None).await;
        assert_eq!(status, 403);
    }
    let journaled = crate::support::audit::events_after(&t.t.db, before)
        .await
        .iter()
        .filter(|e| e["action"] == "console.denied")
        .count();
    // The burst, and at most a few more as the seconds pass.
    assert!(
        journaled >= clavis_web::console::DENIALS_BURST as usize,
        "{journaled}"
    );
    assert!(journaled < tries, "{journaled} of {tries}");
}
