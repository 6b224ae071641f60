//! Manual identities and reconciliation cases from the console: a person
//! outside HR who would double someone opens a case instead; the case is
//! shown side by side and decided with a mandatory comment, audited; a
//! rejected entry stays unlinked.

use super::{
    CLAIRE_RPPS, case_against_claire, csrf_of, get_page as get, hospital, post_form as post,
    seen_of,
};
use crate::support::audit::{events_after, last_seq};
use crate::support::on_both_backends;
use clavis_core::CaseStatus;
use clavis_store::models::{IdentityRow, ManualTermsRow, ReconciliationCase, SourceRecordRow};
use clavis_testkit::db::Backend;

on_both_backends!(
    a_person_outside_hr_is_added_with_terms_and_one_who_would_double_someone_opens_a_case,
    a_case_is_decided_only_with_a_comment_and_links_what_it_should,
    a_rejected_entry_stays_unlinked,
);

async fn count(t: &crate::support::TestApp) -> i64 {
    let mut conn = t.t.db.conn().await.expect("conn");
    IdentityRow::count(
        &mut conn,
        &clavis_store::models::identity::IdentityFilter {
            status: None,
            search_words: vec![],
            limit: 1,
            offset: 0,
        },
    )
    .await
    .expect("count")
}

async fn a_person_outside_hr_is_added_with_terms_and_one_who_would_double_someone_opens_a_case(
    backend: Backend,
) {
    let t = hospital(backend).await;
    let app = t.service().await;
    let ines = t.person("Ines");
    let cookie = t.open_session(ines).await.cookie;
    let csrf = csrf_of(&cookie);
    let today = clavis_core::Clock::now(&t.clock)
        .with_timezone(&chrono::Local)
        .date_naive();
    let until = (today + chrono::Days::new(90)).to_string();
    let people = count(&t).await;

    // A consultant: created, with their terms, departing after their last day.
    let fields = |family: &'static str, rpps: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("birth_name", family.to_string()),
            ("given_names", "Paul, Marie".to_string()),
            ("birth_date", "1985-03-02".to_string()),
            ("rpps", rpps.to_string()),
            ("sponsor", "Dr Morel (cardiologie)".to_string()),
            ("reason", "consultant de l'éditeur du DPI".to_string()),
            ("until", until.clone()),
        ]
    };
    let as_pairs = |v: &Vec<(&'static str, String)>| -> Vec<(&str, String)> {
        v.iter().map(|(k, v)| (*k, v.clone())).collect()
    };
    let f = as_pairs(&fields("Girard", ""));
    let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, to, body) = post(&app, "/console/identities/manual", &cookie, &f).await;
    assert_eq!(status, 303, "{body}");
    let oid: clavis_core::Oid = to
        .strip_prefix("/console/identities/")
        .expect("to the new identity")
        .parse()
        .expect("oid");
    assert_eq!(count(&t).await, people + 1);
    let mut conn = t.t.db.conn().await.expect("conn");
    let row = IdentityRow::find(&mut conn, oid)
        .await
        .expect("find")
        .expect("row");
    assert_eq!(row.departure_date.as_deref(), Some(until.as_str()));
    let terms = ManualTermsRow::for_identity(&mut conn, oid)
        .await
        .expect("terms");
    assert_eq!(terms.len(), 1);
    assert_eq!(terms[0].sponsor, "Dr Morel (cardiologie)");
    assert_eq!(terms[0].created_by.to_string(), format!("identity:{ines}"));
    let (_, page) = get(&app, &to, &cookie).await;
    assert!(page.contains("id=\"manual-terms\""), "{page}");
    assert!(
        page.contains("consultant de l&#39;éditeur du DPI"),
        "{page}"
    );
    let (_, list) = get(&app, "/console/identities/manual", &cookie).await;
    assert!(
        list.contains(&format!("/console/identities/{oid}")),
        "{list}"
    );
    assert!(list.contains("Dr Morel (cardiologie)"));

    // Someone carrying Claire's RPPS under another name: no double, a case.
    let f = as_pairs(&fields("Morin", CLAIRE_RPPS));
    let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let before = last_seq(&t.t.db).await;
    let (status, to, _) = post(&app, "/console/identities/manual", &cookie, &f).await;
    assert_eq!(status, 303);
    let case_id = to
        .strip_prefix("/console/cases/")
        .expect("to the case")
        .to_string();
    assert_eq!(count(&t).await, people + 1, "nothing created");
    let events = events_after(&t.t.db, before).await;
    let opened: Vec<_> = events
        .iter()
        .filter(|e| e["action"] == "case.opened")
        .collect();
    assert_eq!(opened.len(), 1, "{events:?}");
    assert_eq!(opened[0]["changes"]["reason"], "rpps_known_traits_differ");
    assert_eq!(
        opened[0]["changes"]["terms"]["sponsor"],
        "Dr Morel (cardiologie)"
    );
    // Side by side: the entry and Claire, the names differing.
    let (status, page) = get(&app, &to, &cookie).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("LEMOINE Claire"), "{page}");
    assert!(
        page.contains("<title>Dossier : MORIN Paul, Marie — Clavis</title>"),
        "{page}"
    );
    assert!(page.contains("<td>Morin</td>"), "{page}");
    assert!(page.contains("<td class=\"differs\">Lemoine"), "{page}");
    assert!(
        page.contains("RPPS déjà connu, porté par une personne à l&#39;état civil différent"),
        "{page}"
    );
    let (_, list) = get(&app, "/console/cases", &cookie).await;
    assert!(list.contains(&format!("data-case=\"{case_id}\"")));

    // The same person twice (same names and birth date): refused, named.
    let f = as_pairs(&fields("Girard", ""));
    let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, _, body) = post(&app, "/console/identities/manual", &cookie, &f).await;
    assert_eq!(status, 409);
    assert!(body.contains(&oid.to_string()), "{body}");
    // Terms are required, and an end date a year away at most.
    let mut f = as_pairs(&fields("Roux", ""));
    f.retain(|(k, _)| *k != "sponsor");
    f.push(("sponsor", "  ".into()));
    let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, _, body) = post(&app, "/console/identities/manual", &cookie, &f).await;
    assert_eq!(status, 400);
    assert!(body.contains("sponsor"), "{body}");
    let mut f = as_pairs(&fields("Roux", ""));
    f.retain(|(k, _)| *k != "until");
    f.push(("until", (today + chrono::Days::new(400)).to_string()));
    let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, _, body) = post(&app, "/console/identities/manual", &cookie, &f).await;
    assert_eq!(status, 400);
    assert!(body.contains("until: at most 366 days"), "{body}");
    assert_eq!(count(&t).await, people + 1);
}

async fn a_case_is_decided_only_with_a_comment_and_links_what_it_should(backend: Backend) {
    let t = hospital(backend).await;
    let app = t.service().await;
    let ines = t.person("Ines");
    let cookie = t.open_session(ines).await.cookie;
    let csrf = csrf_of(&cookie);
    let claire = t.person("Claire");
    let case_id = case_against_claire(&t, "Lemoine-Morel").await;
    let path = format!("/console/cases/{case_id}/resolve");
    let seen = seen_of(&t, &case_id).await;
    // Only one of the case's candidates, and the entry as shown.
    let (status, _, body) = post(
        &app,
        &path,
        &cookie,
        &[
            ("csrf", &csrf),
            ("decision", "link"),
            ("seen", &seen),
            ("candidate", &t.person("Noé").to_string()),
            ("comment", "c'est lui"),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("not one of this case"), "{body}");
    let (status, _, body) = post(
        &app,
        &path,
        &cookie,
        &[
            ("csrf", &csrf),
            ("decision", "new"),
            ("seen", "an-older-entry"),
            ("comment", "une autre personne"),
        ],
    )
    .await;
    assert_eq!(status, 409);
    assert!(body.contains("La fiche a changé"), "{body}");
    // No comment: refused, the case still open.
    let (status, _, body) = post(
        &app,
        &path,
        &cookie,
        &[
            ("csrf", &csrf),
            ("decision", "link"),
            ("seen", &seen),
            ("candidate", &claire.to_string()),
            ("comment", " "),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("a comment"), "{body}");
    let mut conn = t.t.db.conn().await.expect("conn");
    let case = ReconciliationCase::find(&mut conn, &case_id)
        .await
        .expect("find")
        .expect("case");
    assert_eq!(case.status, CaseStatus::Open);
    // The auditor may read it, not decide it.
    let aude = t.open_session(t.person("Aude")).await.cookie;
    let (status, page) = get(&app, &format!("/console/cases/{case_id}"), &aude).await;
    assert_eq!(status, 200);
    assert!(!page.contains("/resolve\""), "no form for the auditor");
    let (status, _, _) = post(
        &app,
        &path,
        &aude,
        &[
            ("csrf", &csrf_of(&aude)),
            ("decision", "new"),
            ("comment", "x"),
        ],
    )
    .await;
    assert_eq!(status, 403);

    // Linked to Claire, with the comment.
    let before = last_seq(&t.t.db).await;
    let comment = "Mme Lemoine, nom d'épouse Morel : vérifié avec la DRH";
    let (status, to, body) = post(
        &app,
        &path,
        &cookie,
        &[
            ("csrf", &csrf),
            ("decision", "link"),
            ("seen", &seen),
            ("candidate", &claire.to_string()),
            ("comment", comment),
        ],
    )
    .await;
    assert_eq!(status, 303, "{body}");
    assert_eq!(to, format!("/console/cases/{case_id}"));
    let record = SourceRecordRow::find(&mut conn, "manual", &case.external_id)
        .await
        .expect("find")
        .expect("record");
    assert_eq!(record.oid, Some(claire), "the entry is Claire's now");
    let events = events_after(&t.t.db, before).await;
    let resolved: Vec<_> = events
        .iter()
        .filter(|e| e["action"] == "case.resolved")
        .collect();
    assert_eq!(resolved.len(), 1, "{events:?}");
    assert_eq!(resolved[0]["actor"], format!("identity:{ines}"));
    assert_eq!(resolved[0]["changes"]["resolution"], "linked");
    assert_eq!(resolved[0]["changes"]["oid"], claire.to_string());
    assert_eq!(resolved[0]["changes"]["comment"], comment);
    let (_, page) = get(&app, &format!("/console/cases/{case_id}"), &cookie).await;
    assert!(page.contains("id=\"resolution\""), "{page}");
    // Decided once.
    let (status, _, _) = post(
        &app,
        &path,
        &cookie,
        &[
            ("csrf", &csrf),
            ("decision", "new"),
            ("comment", "again"),
            ("seen", &seen),
        ],
    )
    .await;
    assert_eq!(status, 409);
}

async fn a_rejected_entry_stays_unlinked(backend: Backend) {
    let t = hospital(backend).await;
    let app = t.service().await;
    let cookie = t.open_session(t.person("Alice")).await.cookie;
    let case_id = case_against_claire(&t, "Essai").await;
    let seen = seen_of(&t, &case_id).await;
    let people = count(&t).await;
    let (status, _, body) = post(
        &app,
        &format!("/console/cases/{case_id}/resolve"),
        &cookie,
        &[
            ("csrf", &csrf_of(&cookie)),
            ("decision", "reject"),
            ("seen", &seen),
            ("comment", "fiche de test saisie par erreur"),
        ],
    )
    .await;
    assert_eq!(status, 303, "{body}");
    let mut conn = t.t.db.conn().await.expect("conn");
    let case = ReconciliationCase::find(&mut conn, &case_id)
        .await
        .expect("find")
        .expect("case");
    assert_eq!(case.status, CaseStatus::Resolved);
    let record = SourceRecordRow::find(&mut conn, "manual", &case.external_id)
        .await
        .expect("find")
        .expect("record");
    assert_eq!(record.oid, None);
    assert_eq!(
        case.resolution,
        Some(format!("rejected:{}", record.content_hash))
    );
    assert_eq!(count(&t).await, people, "nobody created");
}
