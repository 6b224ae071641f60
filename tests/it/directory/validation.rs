//! Entries a source gets wrong (bad RPPS, impossible dates, no birth
//! date, a duplicate id): rejected with their DN and field, the rest of
//! the run goes on, and the run is saved with its rejections.

use super::full;
use crate::fixtures::*;
use crate::support::on_both_backends;
use clavis_directory::service::{self};
use clavis_testkit::db::{Backend, TestDb};
use clavis_testkit::slapd::Slapd;

on_both_backends!(invalid_entries_are_rejected_with_their_dn_and_the_rest_continues,);

async fn invalid_entries_are_rejected_with_their_dn_and_the_rest_continues(backend: Backend) {
    let t = TestDb::new(backend).await;
    let slapd = Slapd::start();
    let mut bad_rpps = Hr::new("E040", "Faure", "Inès", "1992-12-12");
    bad_rpps.rpps = Some("10001045368".into());
    let mut bad_date = Hr::new("E041", "Blanc", "Jules", "1992-02-30");
    bad_date.rpps = None;
    let good = Hr::new("E042", "Girard", "Karim", "1984-10-10");
    // No birth date at all.
    let no_birth = format!(
        "dn: uid=E043,ou=hr,{s}\nobjectClass: inetOrgPerson\nobjectClass: hrAgent\nuid: E043\ncn: X\nsn: Noir\nbirthName: Noir\ngivenName: Léa\nemployeeNumber: E043\n\n",
        s = clavis_testkit::slapd::SUFFIX
    );
    // The same external id twice.
    let mut dup = Hr::new("E042", "Girard", "Karim", "1984-10-10");
    dup.id = "E042".into();
    let dup_ldif = dup
        .ldif()
        .replace("uid=E042,", "uid=E042bis,")
        .replace("uid: E042\n", "uid: E042bis\n");
    slapd.add(&(bad_rpps.ldif() + &bad_date.ldif() + &good.ldif() + &no_birth + &dup_ldif));
    let (engine, _c, _r) = engine(&t.db, vec![hr_source(&slapd)], 500);
    let r = full(&engine, "rh").await;
    assert_eq!(r.created, 1, "{r:?}");
    assert_eq!(r.rejected, 4, "{:#?}", r.rejections);
    let find = |field: &str| r.rejections.iter().find(|x| x.field == field).cloned();
    let rpps = find("rpps").expect("rpps rejection");
    assert_eq!(rpps.entry, bad_rpps.dn());
    assert!(rpps.message.contains("Luhn"));
    assert!(
        find("birth_date")
            .map(|x| x.entry)
            .unwrap_or_default()
            .contains("E04")
    );
    assert!(
        r.rejections
            .iter()
            .any(|x| x.field == "external_id" && x.message.contains("duplicate"))
    );
    // The run is saved with its rejections for the admin API.
    let runs = service::list_sync_runs(&t.db, Some("rh"), 5)
        .await
        .expect("runs");
    assert_eq!(runs[0]["rejected"], 4);
    assert_eq!(runs[0]["status"], "succeeded");
}
