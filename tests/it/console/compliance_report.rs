//! The compliance dashboard's 12-month trends (daily snapshots, the
//! month's last one shown) and the printable report in HTML, CSV and PDF,
//! sealed by the audit chain: the document names the chain's head, and its
//! issue is an audit event carrying the SHA-256 of the exact bytes served.
//! The PDF is read back by an independent reader (poppler).

use super::{get_page as get, hospital};
use crate::support::audit::{events_after, last_seq};
use crate::support::{TestApp, on_both_backends};
use actix_web::test::{TestRequest, call_service, read_body};
use clavis_core::Clock;
use clavis_directory::compliance::{self, Figure, Followed};
use clavis_store::models::compliance::SnapshotRow;
use clavis_testkit::db::Backend;
use sha2::{Digest, Sha256};

on_both_backends!(
    the_trends_show_the_last_figure_of_each_month,
    the_report_is_sealed_by_the_audit_chain_in_every_format,
);

/// The local day `months` months before today, on day `day`.
fn months_ago(t: &TestApp, months: u32, day: u32) -> chrono::NaiveDate {
    let today = Clock::now(&t.clock)
        .with_timezone(&chrono::Local)
        .date_naive();
    let first = chrono::NaiveDate::from_ymd_opt(
        chrono::Datelike::year(&today),
        chrono::Datelike::month(&today),
        day,
    )
    .expect("date");
    first
        .checked_sub_months(chrono::Months::new(months))
        .expect("date")
}

async fn record(t: &TestApp, day: chrono::NaiveDate, numerator: i64, denominator: i64) {
    let mut conn = t.t.db.conn().await.expect("conn");
    SnapshotRow::upsert_day(
        &mut conn,
        &[
            SnapshotRow {
                taken_on: day.to_string(),
                indicator: "second-factor".into(),
                numerator,
                denominator: Some(denominator),
                taken_at: 0,
            },
            SnapshotRow {
                taken_on: day.to_string(),
                indicator: "departed".into(),
                numerator: 100 - numerator,
                denominator: None,
                taken_at: 0,
            },
        ],
    )
    .await
    .expect("snapshot");
}

async fn the_trends_show_the_last_figure_of_each_month(backend: Backend) {
    let t = hospital(backend).await;
    // Eleven months ago: half the staff equipped. Six months ago, two
    // days: the month's last (80 %) is the one shown, and of that day the
    // latest figure (75 %, then 80 %). Thirteen months ago: out of the
    // window.
    record(&t, months_ago(&t, 13, 5), 10, 100).await;
    record(&t, months_ago(&t, 11, 3), 50, 100).await;
    record(&t, months_ago(&t, 6, 2), 70, 100).await;
    record(&t, months_ago(&t, 6, 20), 75, 100).await;
    record(&t, months_ago(&t, 6, 20), 80, 100).await;
    let mut conn = t.t.db.conn().await.expect("conn");
    let day = SnapshotRow::since(&mut conn, &months_ago(&t, 6, 20).to_string())
        .await
        .expect("rows");
    assert_eq!(
        day.iter()
            .filter(|r| r.taken_on == months_ago(&t, 6, 20).to_string())
            .count(),
        2,
        "one row per indicator and day"
    );
    let trends = compliance::trends(&mut conn, Clock::now(&t.clock), 12)
        .await
        .expect("trends");
    assert_eq!(trends.months.len(), 12);
    assert_eq!(
        trends.months[0],
        months_ago(&t, 11, 1).format("%Y-%m").to_string()
    );
    let second = trends.of(Followed::SecondFactor);
    let share = |n| {
        Some(Figure {
            numerator: n,
            denominator: Some(100),
        })
    };
    assert_eq!(second[0], share(50));
    assert_eq!(second[5], share(80));
    assert_eq!(second.iter().flatten().count(), 2, "{second:?}");
    drop(conn);

    // The dashboard takes today's snapshot and shows the year.
    let app = t.service().await;
    let aude = t.open_session(t.person("Aude")).await.cookie;
    let (status, page) = get(&app, "/console/compliance", &aude).await;
    assert_eq!(status, 200, "{page}");
    let table = page
        .split("<table id=\"trends\">")
        .nth(1)
        .and_then(|t| t.split("</table>").next())
        .expect("the 12-month table");
    assert!(table.contains("<td>50.0 %</td>"), "{table}");
    assert!(table.contains("<td>80.0 %</td>"), "{table}");
    assert!(!table.contains("<td>10.0 %</td>"), "out of the window");
    assert!(!table.contains("<td>70.0 %</td>"), "not the month's last");
    assert!(!table.contains("<td>75.0 %</td>"), "not the day's latest");
    // The sparkline says the same in words.
    let first_month = &trends.months[0];
    assert!(
        page.contains(&format!("50.0 % en {first_month}")),
        "the sparkline's label: {page}"
    );
    let mut conn = t.t.db.conn().await.expect("conn");
    let now = Clock::now(&t.clock);
    let today = now.with_timezone(&chrono::Local).date_naive().to_string();
    assert!(SnapshotRow::has_day(&mut conn, &today).await.expect("has"));
    let taken = SnapshotRow::since(&mut conn, &today).await.expect("rows");
    assert_eq!(taken.len(), Followed::ALL.len() - 2, "{taken:?}");
    // Taken once a day, whoever asks first.
    assert!(
        !compliance::snapshot_if_due(&mut conn, &t.state.directory.compliance, now)
            .await
            .expect("due")
    );
    drop(conn);
    // The day's figures follow the directory: Claire gets a key, the
    // dashboard shows it this month.
    clavis_testkit::people::insert_key(&t.t.db, t.person("Claire"), "k-claire").await;
    let (_, page) = get(&app, "/console/compliance", &aude).await;
    let mut conn = t.t.db.conn().await.expect("conn");
    let again = SnapshotRow::since(&mut conn, &today).await.expect("rows");
    assert_eq!(again.len(), taken.len(), "still one row per indicator");
    let second = |rows: &[SnapshotRow]| {
        rows.iter()
            .find(|r| r.indicator == "second-factor")
            .map(|r| r.numerator)
            .expect("second factor")
    };
    assert_eq!(second(&again), second(&taken) + 1);
    let last_month_cell = page
        .split("<table id=\"trends\">")
        .nth(1)
        .and_then(|t| t.split("</tr>").nth(1))
        .and_then(|row| row.rsplit("<td>").next())
        .and_then(|c| c.split('<').next())
        .expect("this month's figure")
        .to_string();
    let r = compliance::report(&mut conn, &t.state.directory.compliance, now)
        .await
        .expect("report");
    assert_eq!(
        last_month_cell,
        format!("{:.1} %", r.second_factor.percent().expect("some"))
    );
}

/// Asks `path` as `cookie`: status, headers' report hash and chain head,
/// body bytes.
async fn fetch(
    app: &impl crate::support::http::AppService,
    path: &str,
    cookie: &str,
) -> (u16, String, String, String, Vec<u8>) {
    let resp = call_service(
        app,
        TestRequest::get()
            .uri(path)
            .insert_header(("cookie", cookie.to_string()))
            .to_request(),
    )
    .await;
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let (status, sha, head, disposition) = (
        resp.status().as_u16(),
        header("x-clavis-report-sha256"),
        header("x-clavis-audit-head"),
        header("content-disposition"),
    );
    let body = read_body(resp).await.to_vec();
    (status, sha, head, disposition, body)
}

async fn the_report_is_sealed_by_the_audit_chain_in_every_format(backend: Backend) {
    let t = hospital(backend).await;
    let app = t.service().await;
    let aude = t.person("Aude");
    let cookie = t.open_session(aude).await.cookie;
    let mut issued = Vec::new();
    for (path, format) in [
        ("/console/compliance/report", "html"),
        ("/console/compliance/report.csv", "csv"),
        ("/console/compliance/report.pdf", "pdf"),
    ] {
        let before = last_seq(&t.t.db).await;
        let (status, sha, head, disposition, body) = fetch(&app, path, &cookie).await;
        assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
        // The hash announced is the body's, and the journal holds it.
        assert_eq!(sha, hex::encode(Sha256::digest(&body)), "{path}");
        let events = events_after(&t.t.db, before).await;
        let reported: Vec<_> = events
            .iter()
            .filter(|e| e["action"] == "compliance.reported")
            .collect();
        assert_eq!(reported.len(), 1, "{events:?}");
        let e = reported[0];
        assert_eq!(e["actor"], format!("identity:{aude}"));
        assert_eq!(e["changes"]["format"], format);
        assert_eq!(e["changes"]["sha256"], sha);
        assert_eq!(e["changes"]["head_seq"].to_string(), head);
        // The head named is the chain's just before the report's event.
        assert_eq!(
            head.parse::<i64>().expect("seq"),
            e["seq"].as_i64().expect("seq") - 1
        );
        assert_eq!(
            e["changes"]["figures"]["second-factor"][1], 8,
            "8 active people"
        );
        let head_hash = e["changes"]["head_hash"]
            .as_str()
            .expect("hash")
            .to_string();
        assert_eq!(head_hash.len(), 64);
        if format == "html" {
            assert!(disposition.is_empty(), "shown, not downloaded");
        } else {
            assert!(
                disposition.starts_with("attachment; filename=\"clavis-conformite-"),
                "{disposition}"
            );
        }
        issued.push((format, body, head, head_hash));
    }

    // HTML: the facts, the indicators, the seal.
    let (_, html, head, hash) = &issued[0];
    let html = String::from_utf8_lossy(html);
    assert!(html.contains("id=\"report-indicators\""), "{html}");
    assert!(html.contains("AUBERT Aude"), "issued by: {html}");
    assert!(
        html.contains(&format!("le n° {head}, d&#39;empreinte {hash}")),
        "{html}"
    );
    assert!(html.contains("class=\"no-print\""), "{html}");

    // CSV: each section, quoted, and the chain head on its own line.
    let (_, csv, head, hash) = &issued[1];
    let csv = String::from_utf8(csv.clone()).expect("utf-8");
    let lines: Vec<&str> = csv.split("\r\n").collect();
    assert!(
        lines[0].starts_with("\"Rapport de conformité RIE / HospiConnect\";\""),
        "{csv}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with(
            "\"Personnel actif équipé d'un second facteur (badge ou clé)\";\"0.0 % (0 sur 8)\""
        )),
        "{csv}"
    );
    assert!(
        lines.contains(
            &format!("\"Scellement par le journal d'audit\";\"{head}\";\"{hash}\"").as_str()
        ),
        "{csv}"
    );

    // PDF: a document poppler reads, with French accents intact.
    let (_, pdf, head, hash) = &issued[2];
    assert!(pdf.starts_with(b"%PDF-"));
    // Kept as a test artefact (target/e2e-artifacts), one per backend.
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("../e2e-artifacts/compliance");
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join(format!("rapport-{backend:?}.pdf").to_lowercase());
    std::fs::write(&file, pdf).expect("write");
    let info = std::process::Command::new("pdfinfo")
        .arg(&file)
        .output()
        .expect("pdfinfo (poppler-utils, scripts/test-services install)");
    assert!(info.status.success(), "{info:?}");
    let info = String::from_utf8_lossy(&info.stdout);
    assert!(
        info.lines()
            .any(|l| l.starts_with("Title:") && l.contains("Rapport de conformité")),
        "{info}"
    );
    assert!(
        info.contains("Page size:") && info.contains("595 x 842"),
        "{info}"
    );
    let text = std::process::Command::new("pdftotext")
        .args(["-layout", "-enc", "UTF-8"])
        .arg(&file)
        .arg("-")
        .output()
        .expect("pdftotext");
    assert!(text.status.success(), "{text:?}");
    let text = String::from_utf8_lossy(&text.stdout);
    for expected in [
        "Rapport de conformité RIE / HospiConnect",
        "Établissement",
        "Émis par : AUBERT Aude",
        "Évolution sur 12 mois",
        "Personnes parties gardant un accès",
        hash.as_str(),
    ] {
        assert!(text.contains(expected), "{expected:?} in {text}");
    }
    assert!(text.contains(&format!("n° {head}")), "{text}");

    // Not for the helpdesk; the report is the auditor's and the DSI's.
    let hugo = t.open_session(t.person("Hugo")).await.cookie;
    let (status, _, _, _, _) = fetch(&app, "/console/compliance/report.pdf", &hugo).await;
    assert_eq!(status, 403);
}
