//! The reconciliation decision: which entries are one person across
//! sources (normalised names, join keys, RPPS), which are two, and which
//! open a case for an operator instead of a guess.

use super::{count, full, show};
use crate::fixtures::*;
use crate::support::on_both_backends;
use clavis_directory::SyncReport;
use clavis_directory::service::{self, Resolution};
use clavis_testkit::db::{Backend, TestDb};
use clavis_testkit::slapd::Slapd;

on_both_backends!(
    homonyms_stay_two_people,
    near_match_opens_a_case_and_links_nothing,
    an_operators_decision_resolves_a_case_once,
    a_rejected_entry_is_left_alone_until_it_changes,
    accents_and_hyphens_normalise_across_sources,
    join_key_with_contradicting_traits_opens_a_case,
    an_ad_account_arriving_before_its_hr_record_joins_when_hr_arrives,
    an_rpps_held_by_one_person_is_never_given_to_another,
    a_used_name_that_is_another_birth_name_opens_a_case,
);

async fn homonyms_stay_two_people(backend: Backend) {
    let t = TestDb::new(backend).await;
    let slapd = Slapd::start();
    slapd.add(
        &(Hr::new("E010", "Dubois", "Jean", "1975-06-15").ldif()
            + &Hr::new("E011", "Dubois", "Jean", "1982-09-01").ldif()),
    );
    let (engine, _c, _r) = engine(&t.db, vec![hr_source(&slapd)], 500);
    let r = full(&engine, "rh").await;
    assert_eq!((r.created, r.cases_opened), (2, 0), "{r:?}");
    assert_ne!(
        show(&t.db, "E010").await.identity.oid,
        show(&t.db, "E011").await.identity.oid
    );
}

/// Hugo Roux synced, then his near twin (same names and birth date, born
/// elsewhere) listed and synced: the case it opened.
async fn hugo_and_his_near_twin(
    t: &TestDb,
) -> (Slapd, clavis_directory::SyncEngine, Hr, SyncReport) {
    let slapd = Slapd::start();
    slapd.add(&Hr::new("E020", "Roux", "Hugo", "1987-07-07").ldif());
    let (engine, _c, _r) = engine(&t.db, vec![hr_source(&slapd)], 500);
    full(&engine, "rh").await;
    // Same names and birth date, born elsewhere: maybe the same person,
    // maybe not. Nobody guesses.
    let mut twin = Hr::new("E021", "Roux", "Hugo", "1987-07-07");
    twin.birth_place = "69123".into();
    slapd.add(&twin.ldif());
    let r = full(&engine, "rh").await;
    (slapd, engine, twin, r)
}

async fn near_match_opens_a_case_and_links_nothing(backend: Backend) {
    let t = TestDb::new(backend).await;
    let (_slapd, engine, twin, r) = hugo_and_his_near_twin(&t).await;
    assert_eq!((r.created, r.cases_opened), (0, 1), "{r:?}");
    assert_eq!(count(&t.db).await, 1, "nothing created or merged");
    let cases = service::list_cases(&t.db, false, 1000, 0)
        .await
        .expect("cases")
        .items;
    assert_eq!(cases.len(), 1);
    assert_eq!(cases[0].reason, "birth_place_differs");
    assert_eq!(cases[0].entry, twin.dn());
    let first = show(&t.db, "E020").await.identity;
    assert_eq!(cases[0].candidates[0]["oid"], first.oid.to_string());
    // Re-running does not open a second case.
    let again = full(&engine, "rh").await;
    assert_eq!(again.cases_opened, 0);
}

async fn an_operators_decision_resolves_a_case_once(backend: Backend) {
    let t = TestDb::new(backend).await;
    let (_slapd, engine, _twin, _) = hugo_and_his_near_twin(&t).await;
    let cases = service::list_cases(&t.db, false, 1000, 0)
        .await
        .expect("cases")
        .items;
    let first = show(&t.db, "E020").await.identity;
    let decide = async || {
        service::resolve_case(
            &t.db,
            engine.config(),
            &Vec::new(),
            t0(),
            &cases[0].id,
            Resolution::CreateNew,
            "two people: different birth places confirmed by HR",
            &clavis_core::Actor::Cli("test".into()),
        )
        .await
    };
    // The operator decides: a different person.
    let oid = decide().await.expect("resolve").expect("an identity");
    assert_ne!(oid, first.oid);
    assert_eq!(count(&t.db).await, 2);
    assert!(
        service::list_cases(&t.db, false, 1000, 0)
            .await
            .expect("cases")
            .items
            .is_empty()
    );
    assert!(matches!(
        decide().await,
        Err(clavis_directory::DirectoryError::CaseAlreadyResolved(_))
    ));
}

async fn accents_and_hyphens_normalise_across_sources(backend: Backend) {
    let t = TestDb::new(backend).await;
    let slapd = Slapd::start();
    let mut h = Hr::new("E030", "Dupont Moreau", "Hélène", "1980-01-02");
    h.rpps = Some("10100224947".into());
    slapd.add(&h.ldif());
    let dir = tempfile::tempdir().expect("dir");
    let csv = dir.path().join("agents.csv");
    // Latin-1, as many SI-RH export it.
    let text = "Matricule;Nom de naissance;Prénoms;Date de naissance;Lieu de naissance;RPPS\nX9;DUPONT-MORÉAU;HELENE;02/01/1980;75056;10100224947\n";
    let (latin1, _, _) = encoding_rs::WINDOWS_1252.encode(text);
    std::fs::write(&csv, latin1).expect("write csv");
    let (engine, _c, _r) = engine(&t.db, vec![hr_source(&slapd), csv_source(&csv)], 500);
    full(&engine, "rh").await;
    let r = full(&engine, "rh-csv").await;
    assert_eq!((r.created, r.cases_opened, r.rejected), (0, 0, 0), "{r:?}");
    let i = show(&t.db, "10100224947").await.identity;
    assert_eq!(
        i.sources.len(),
        2,
        "one person, two sources: {:?}",
        i.sources
    );
    assert_eq!(
        i.birth_family_name, "Dupont Moreau",
        "the first HR source keeps precedence"
    );
}

async fn join_key_with_contradicting_traits_opens_a_case(backend: Backend) {
    let t = TestDb::new(backend).await;
    let slapd = Slapd::start();
    slapd.add(&Hr::new("E080", "Morel", "Paul", "1975-05-05").ldif());
    let dir = tempfile::tempdir().expect("dir");
    let csv = dir.path().join("paie.csv");
    std::fs::write(&csv, "Matricule;Nom de naissance;Prénoms;Date de naissance;Lieu de naissance;RPPS\nE080;Morel;Paul;1976-05-05;75056;\n").expect("csv");
    let mut paie = csv_source(&csv);
    paie.attributes.join_key = Some("Matricule".into());
    let (engine, _c, _r) = engine(&t.db, vec![hr_source(&slapd), paie], 500);
    full(&engine, "rh").await;
    let r = full(&engine, "rh-csv").await;
    assert_eq!((r.created, r.cases_opened), (0, 1), "{r:?}");
    let cases = service::list_cases(&t.db, false, 1000, 0)
        .await
        .expect("cases")
        .items;
    assert_eq!(cases[0].reason, "join_key_traits_conflict");
    assert_eq!(
        show(&t.db, "E080").await.identity.sources.len(),
        1,
        "nothing merged"
    );
}

async fn an_ad_account_arriving_before_its_hr_record_joins_when_hr_arrives(backend: Backend) {
    let t = TestDb::new(backend).await;
    let slapd = Slapd::start();
    slapd.add(&ad_ldif("nnew", "E085", 512, 1));
    let (engine, _c, _r) = engine(&t.db, vec![hr_source(&slapd), ad_source(&slapd)], 500);
    let ad = full(&engine, "ad").await;
    assert_eq!(ad.unmatched, 1);
    slapd.add(&Hr::new("E085", "Nouveau", "Nina", "1999-09-09").ldif());
    full(&engine, "rh").await;
    let i = show(&t.db, "E085").await.identity;
    assert_eq!(
        i.logins,
        vec!["nnew"],
        "the waiting AD record joined at once"
    );
}

async fn an_rpps_held_by_one_person_is_never_given_to_another(backend: Backend) {
    let t = TestDb::new(backend).await;
    let slapd = Slapd::start();
    let mut a = Hr::new("E095", "Garnier", "Ana", "1971-01-01");
    a.rpps = Some("10104335319".into());
    slapd.add(&(a.ldif() + &Hr::new("E096", "Chevalier", "Ben", "1972-02-02").ldif()));
    let dir = tempfile::tempdir().expect("dir");
    let csv = dir.path().join("x.csv");
    // Ben's traits, Ana's RPPS.
    std::fs::write(&csv, "Matricule;Nom de naissance;Prénoms;Date de naissance;Lieu de naissance;RPPS\nX1;Chevalier;Ben;1972-02-02;75056;10104335319\n").expect("csv");
    let (engine, _c, _r) = engine(&t.db, vec![hr_source(&slapd), csv_source(&csv)], 500);
    full(&engine, "rh").await;
    let r = full(&engine, "rh-csv").await;
    assert_eq!(r.cases_opened, 1, "{r:?}");
    assert_eq!(
        service::list_cases(&t.db, false, 1000, 0)
            .await
            .expect("cases")
            .items[0]
            .reason,
        "rpps_held_by_another"
    );
    assert_eq!(show(&t.db, "E096").await.identity.rpps, None);
}

async fn a_rejected_entry_is_left_alone_until_it_changes(backend: Backend) {
    let t = TestDb::new(backend).await;
    let (slapd, engine, twin, _) = hugo_and_his_near_twin(&t).await;
    let cases = service::list_cases(&t.db, false, 1000, 0)
        .await
        .expect("cases")
        .items;
    let rejected = service::resolve_case(
        &t.db,
        engine.config(),
        &Vec::new(),
        t0(),
        &cases[0].id,
        Resolution::Reject,
        "a duplicate entry the HR clerk made by mistake",
        &clavis_core::Actor::Cli("test".into()),
    )
    .await
    .expect("rejected");
    assert_eq!(rejected, None, "no identity");
    // The entry, unchanged, is left alone: no new case, nobody created.
    for _ in 0..2 {
        let r = full(&engine, "rh").await;
        assert_eq!((r.created, r.cases_opened), (0, 0), "{r:?}");
    }
    assert_eq!(count(&t.db).await, 1);
    // Changed, it is decided again (here: a case once more).
    slapd.modify(&format!(
        "dn: {}\nchangetype: modify\nreplace: serviceCode\nserviceCode: CAR\n",
        twin.dn()
    ));
    let r = full(&engine, "rh").await;
    assert_eq!((r.created, r.cases_opened), (0, 1), "{r:?}");
    assert_eq!(count(&t.db).await, 1);
}

/// Claire Martin, married Durand, is synced; then HR lists, born the same
/// day, a Claire Durand (her married name as a birth name) and a Claire
/// Petit whose used name is Martin. Maybe the same person, maybe not: each
/// opens a case naming Claire Martin and nothing is merged, whichever of
/// the two names matched (the lookup goes by both). A Chloé Durand born
/// the same day is someone else.
async fn a_used_name_that_is_another_birth_name_opens_a_case(backend: Backend) {
    let t = TestDb::new(backend).await;
    let slapd = Slapd::start();
    let mut claire = Hr::new("E040", "Martin", "Claire", "1985-03-04");
    claire.used_name = "Durand".into();
    slapd.add(&claire.ldif());
    let (engine, _c, _r) = engine(&t.db, vec![hr_source(&slapd)], 500);
    full(&engine, "rh").await;
    let under_married_name = Hr::new("E041", "Durand", "Claire", "1985-03-04");
    let someone_else = Hr::new("E043", "Durand", "Chloé", "1985-03-04");
    slapd.add(&(under_married_name.ldif() + &someone_else.ldif()));
    let r = full(&engine, "rh").await;
    assert_eq!((r.created, r.cases_opened), (1, 1), "{r:?}");
    // Synced apart, so that neither is found through the other's lookup.
    let mut using_her_name = Hr::new("E042", "Petit", "Claire", "1985-03-04");
    using_her_name.used_name = "Martin".into();
    slapd.add(&using_her_name.ldif());
    let r = full(&engine, "rh").await;
    assert_eq!((r.created, r.cases_opened), (0, 1), "{r:?}");
    assert_eq!(count(&t.db).await, 2, "Claire and Chloé, nobody merged");
    let first = show(&t.db, "E040").await.identity;
    let cases = service::list_cases(&t.db, false, 1000, 0)
        .await
        .expect("cases")
        .items;
    let mut entries: Vec<&str> = cases.iter().map(|c| c.entry.as_str()).collect();
    entries.sort_unstable();
    assert_eq!(
        entries,
        vec![under_married_name.dn(), using_her_name.dn()],
        "{cases:?}"
    );
    for case in &cases {
        assert_eq!(case.reason, "near_match_used_name", "{case:?}");
        assert_eq!(
            case.candidates.as_array().map(Vec::len),
            Some(1),
            "{case:?}"
        );
        assert_eq!(case.candidates[0]["oid"], first.oid.to_string());
    }
}
