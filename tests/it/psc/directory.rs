//! The directory's side of the link: HR changing a person's RPPS forgets
//! its verification and ends the link; a case a refused link
//! opened is closed with a note, and only so.

use super::*;
use crate::fixtures::{csv_source, engine};
use crate::support::on_both_backends;
use clavis_core::{Actor, CaseStatus, Clock};
use clavis_directory::service::{self, Resolution};
use clavis_directory::{NoProgress, SyncOptions};
use clavis_federation::link::LinkState;
use clavis_store::models::{IdentityRow, PscLinkRow, ReconciliationCase};
use clavis_testkit::db::TestDb;

on_both_backends!(
    hr_changing_the_rpps_forgets_its_verification_and_ends_the_link,
    a_psc_case_is_closed_with_a_note_and_only_so,
);

const HEADER: &str =
    "Matricule;Nom de naissance;Prénoms;Date de naissance;Lieu de naissance;RPPS\n";

async fn hr_changing_the_rpps_forgets_its_verification_and_ends_the_link(backend: Backend) {
    let t = TestDb::new(backend).await;
    let dir = tempfile::tempdir().expect("dir");
    let csv = dir.path().join("rh.csv");
    std::fs::write(
        &csv,
        format!("{HEADER}E1;Martin;Claire;1985-03-02;75056;10003489282\n"),
    )
    .expect("csv");
    let (engine, clock, _) = engine(&t.db, vec![csv_source(&csv)], 500);
    let full = SyncOptions {
        full: true,
        dry_run: false,
    };
    engine.run("rh-csv", full, &NoProgress).await.expect("sync");
    let oid = service::show_identity(&t.db, "E1")
        .await
        .expect("identity")
        .identity
        .oid;
    let now = clock.now().timestamp();
    let mut conn = t.db.conn().await.expect("conn");
    a_link(oid, now, 1).save(&mut conn).await.expect("link");
    IdentityRow::mark_rpps_verified(&mut conn, oid, now)
        .await
        .expect("verified");
    // A sync that changes nothing keeps the verification.
    engine.run("rh-csv", full, &NoProgress).await.expect("sync");
    assert_eq!(
        IdentityRow::rpps_verified_at(&mut conn, oid)
            .await
            .expect("read"),
        Some(now)
    );
    // HR corrects the RPPS.
    std::fs::write(
        &csv,
        format!("{HEADER}E1;Martin;Claire;1985-03-02;75056;10001045367\n"),
    )
    .expect("csv");
    engine.run("rh-csv", full, &NoProgress).await.expect("sync");
    assert_eq!(
        IdentityRow::rpps_verified_at(&mut conn, oid)
            .await
            .expect("read"),
        None
    );
    let identity = IdentityRow::find(&mut conn, oid)
        .await
        .expect("read")
        .expect("row");
    let link = PscLinkRow::find(&mut conn, oid)
        .await
        .expect("read")
        .expect("link");
    assert_eq!(
        clavis_federation::link::state(&link, &identity, now),
        LinkState::Revoked,
        "ended, even if HR changed the RPPS back"
    );
    assert_eq!(
        link.revoked_reason,
        Some(clavis_core::PscUnlinkReason::RppsChanged)
    );
    assert_eq!(link.revoked_by, Some(Actor::Sync("rh-csv".into())));
}

async fn a_psc_case_is_closed_with_a_note_and_only_so(backend: Backend) {
    let psc = StandIn::start(&[]);
    let t = app(backend, &psc).await;
    let svc = t.service().await;
    link_as(&svc, &t.session().cookie, "/me", Some(OTHER.id)).await;
    let case_id = audited(&t, "psc.link_refused").await[0]["changes"]["case_id"]
        .as_str()
        .expect("case")
        .to_string();
    let operator = Actor::Cli("it".into());
    let (app, case, operator) = (&t, &case_id, &operator);
    let resolve = |r: Resolution| {
        let comment = match &r {
            Resolution::Close(note) => note.clone(),
            _ => "checked".to_string(),
        };
        async move {
            service::resolve_case(
                &app.t.db,
                &app.state.directory,
                &app.state.subscribers,
                app.clock.now(),
                case,
                r,
                &comment,
                operator,
            )
            .await
            .map(|o| o.expect("an identity"))
        }
    };
    let e = resolve(Resolution::CreateNew)
        .await
        .expect_err("not a record to create");
    assert!(e.to_string().contains("close it with a note"), "{e}");
    let e = resolve(Resolution::Close(" ".into()))
        .await
        .expect_err("a note is needed");
    assert!(e.to_string().contains("note"), "{e}");
    let oid = resolve(Resolution::Close(
        "RPPS checked in the Annuaire santé".into(),
    ))
    .await
    .expect("closed");
    assert_eq!(oid, t.nurse().oid);
    let mut conn = t.t.db.conn().await.expect("conn");
    let case = ReconciliationCase::find(&mut conn, &case_id)
        .await
        .expect("read")
        .expect("case");
    assert_eq!(case.status, CaseStatus::Resolved);
    assert_eq!(case.resolution, Some(format!("closed:{oid}")));
    let resolved = audited(&t, "case.resolved").await;
    assert_eq!(
        resolved[0]["changes"]["note"],
        "RPPS checked in the Annuaire santé"
    );
}
