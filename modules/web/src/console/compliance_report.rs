//! The compliance report for the homologation file (RIE, HospiConnect):
//! every indicator with its value and its 12-month trend, the departed
//! people still holding access, the old reconciliation cases and how
//! people signed in — dated, naming who issued it, and sealed by the audit
//! chain.
//!
//! - `GET /console/compliance/report` — HTML, printable (the console's
//!   print style leaves the menu out).
//! - `GET /console/compliance/report.pdf` — the same as PDF (A4, the
//!   standard Helvetica every reader has: nothing embedded).
//! - `GET /console/compliance/report.csv` — the same as CSV (`;`, every
//!   field quoted, formulas defused), for a spreadsheet.
//!
//! The seal: each report names the audit chain's head when it was made
//! (its sequence number and hash), and issuing it is itself an audit event
//! (`compliance.reported`) carrying the SHA-256 of the exact document
//! served (also sent as `X-Clavis-Report-SHA256`). Whoever holds the file
//! checks its hash against the journal, whose chain `clavis audit verify`
//! checks: a report altered after issue no longer matches any event.

use super::compliance::{
    LoginLine, TrendRow, compute_with_trends, fluent_args, lines, login_lines, trend_rows,
};
use super::{Chrome, Operator, local_time, local_time_secs};
use crate::AppState;
use crate::error::ApiError;
use crate::pages::Lang;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};
use askama::Template;
use clavis_core::roles::Area;
use clavis_core::{AuditAction, Oid};
use clavis_directory::config::ComplianceScope;
use clavis_store::models::AuditEventRow;
use sha2::{Digest, Sha256};

/// What a report says, whatever its format.
struct ReportDoc {
    lang: Lang,
    title: String,
    establishment: String,
    generated: String,
    by: String,
    scope: String,
    /// (label, value) of each indicator.
    lines: Vec<(String, String)>,
    months: Vec<String>,
    trend_rows: Vec<TrendRow>,
    /// (name, oid, what they hold).
    departed: Vec<(String, String, String)>,
    /// (entry, opened).
    old_cases: Vec<(String, String)>,
    logins: Vec<LoginLine>,
    head_seq: i64,
    head_hash: String,
    /// The figures, for the audit event.
    figures: serde_json::Value,
}

impl ReportDoc {
    /// The seal's sentence.
    fn seal(&self) -> String {
        self.lang.tr_args(
            "report-seal",
            &fluent_args(&[
                ("seq", self.head_seq.to_string()),
                ("hash", self.head_hash.clone()),
            ]),
        )
    }
}

async fn build(op: &Operator, state: &AppState) -> Result<ReportDoc, ApiError> {
    let lang = op.lang;
    let (r, trends) = compute_with_trends(state).await?;
    let lines = lines(lang, &r, state.directory.compliance.case_age_days);
    let mut conn = state.db.conn().await?;
    let mut oids: Vec<Oid> = r.departed_still_active.iter().map(|d| d.oid).collect();
    oids.push(op.oid());
    let names = super::person_names(&mut conn, &oids).await?;
    let (head_seq, head_hash) = AuditEventRow::head(&mut conn).await?;
    let mut departed: Vec<(String, String, String)> = r
        .departed_still_active
        .iter()
        .map(|d| {
            (
                names
                    .get(&d.oid)
                    .cloned()
                    .unwrap_or_else(|| d.oid.to_string()),
                d.oid.to_string(),
                d.holds
                    .iter()
                    .map(|h| lang.tr(&format!("compliance-holds-{}", h.replace('_', "-"))))
                    .collect::<Vec<_>>()
                    .join(", "),
            )
        })
        .collect();
    departed.sort();
    let figures = serde_json::Value::Object(
        r.figures()
            .into_iter()
            .map(|(f, fig)| {
                (
                    f.as_str().to_string(),
                    serde_json::json!([fig.numerator, fig.denominator]),
                )
            })
            .collect(),
    );
    Ok(ReportDoc {
        lang,
        title: lang.tr("report-title"),
        establishment: state.public_url.to_string(),
        generated: local_time(r.at),
        by: format!(
            "{} ({})",
            names
                .get(&op.oid())
                .cloned()
                .unwrap_or_else(|| op.display_name.clone()),
            op.oid()
        ),
        scope: lang.tr(match r.scope {
            ComplianceScope::All => "report-scope-all",
            ComplianceScope::RppsProfessions => "report-scope-rpps",
        }),
        trend_rows: trend_rows(lang, &lines, &trends),
        months: trends.months.clone(),
        lines: lines.into_iter().map(|l| (l.label, l.value)).collect(),
        departed,
        old_cases: r
            .old_cases
            .iter()
            .map(|c| (c.entry.clone(), local_time_secs(c.opened_at)))
            .collect(),
        logins: login_lines(&r),
        head_seq,
        head_hash,
        figures,
    })
}

/// Records the issue of a report in `format` whose bytes are `body`, and
/// answers it with its hash.
async fn issue(
    op: &Operator,
    state: &AppState,
    req: &HttpRequest,
    doc: &ReportDoc,
    format: &str,
    content_type: &str,
    body: Vec<u8>,
) -> Result<HttpResponse, ApiError> {
    let sha256 = hex::encode(Sha256::digest(&body));
    let mut conn = state.db.conn().await?;
    clavis_audit::AuditEvent::new(
        op.actor(),
        AuditAction::ComplianceReported,
        None,
        serde_json::json!({
            "format": format, "sha256": sha256, "head_seq": doc.head_seq,
            "head_hash": doc.head_hash, "figures": doc.figures,
        }),
    )
    .from_addr(crate::request::client_ip(req))
    .record(&mut conn, state.clock.now())
    .await
    .map_err(ApiError::internal)?;
    let mut resp = HttpResponse::Ok();
    resp.content_type(content_type)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("X-Clavis-Report-SHA256", sha256))
        .insert_header(("X-Clavis-Audit-Head", doc.head_seq.to_string()));
    if format != "html" {
        let day = state.clock.now().with_timezone(&chrono::Local).date_naive();
        resp.insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"clavis-conformite-{day}.{format}\""),
        ));
    }
    Ok(resp.body(body))
}

#[derive(Template)]
#[template(path = "console/compliance_report.html")]
struct HtmlReport<'a> {
    c: Chrome,
    d: &'a ReportDoc,
    seal: String,
}

#[get("/compliance/report")]
async fn report_html(
    op: Operator,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let d = build(&op, &state).await?;
    let page = HtmlReport {
        c: op.chrome(Area::Compliance, d.title.clone()),
        seal: d.seal(),
        d: &d,
    }
    .render()
    .map_err(ApiError::internal)?;
    issue(
        &op,
        &state,
        &req,
        &d,
        "html",
        "text/html; charset=utf-8",
        page.into_bytes(),
    )
    .await
}

#[get("/compliance/report.csv")]
async fn report_csv(
    op: Operator,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let d = build(&op, &state).await?;
    let body = to_csv(&d).into_bytes();
    issue(
        &op,
        &state,
        &req,
        &d,
        "csv",
        "text/csv; charset=utf-8",
        body,
    )
    .await
}

#[get("/compliance/report.pdf")]
async fn report_pdf(
    op: Operator,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let d = build(&op, &state).await?;
    let body = to_pdf(&d);
    issue(&op, &state, &req, &d, "pdf", "application/pdf", body).await
}

/// Registers the report's formats.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(report_html)
        .service(report_csv)
        .service(report_pdf);
}

/// The report as CSV: one section after another, each headed by its title.
fn to_csv(d: &ReportDoc) -> String {
    let lang = d.lang;
    let mut out = String::new();
    let mut row = |cells: &[String]| {
        out.push_str(
            &cells
                .iter()
                .map(|c| super::audit::csv_field(c))
                .collect::<Vec<_>>()
                .join(";"),
        );
        out.push_str("\r\n");
    };
    row(&[d.title.clone(), d.generated.clone()]);
    row(&[lang.tr("report-establishment"), d.establishment.clone()]);
    row(&[lang.tr("report-issued-by"), d.by.clone()]);
    row(&[lang.tr("report-population"), d.scope.clone()]);
    row(&[]);
    let mut head = vec![lang.tr("compliance-indicator"), lang.tr("compliance-value")];
    head.extend(d.months.iter().cloned());
    row(&head);
    for ((label, value), t) in d.lines.iter().zip(&d.trend_rows) {
        let mut cells = vec![label.clone(), value.clone()];
        cells.extend(t.cells.iter().cloned());
        row(&cells);
    }
    row(&[]);
    row(&[lang.tr("compliance-departed")]);
    for (name, oid, holds) in &d.departed {
        row(&[name.clone(), oid.clone(), holds.clone()]);
    }
    row(&[]);
    row(&[lang.tr("compliance-old-cases-title")]);
    for (entry, opened) in &d.old_cases {
        row(&[entry.clone(), opened.clone()]);
    }
    row(&[]);
    row(&[
        lang.tr("compliance-logins"),
        "acr".into(),
        "amr".into(),
        lang.tr("authenticators-count"),
    ]);
    for l in &d.logins {
        row(&[
            l.method.clone(),
            l.acr.clone(),
            l.amr.clone(),
            l.count.to_string(),
        ]);
    }
    row(&[]);
    row(&[
        lang.tr("report-chain-head"),
        d.head_seq.to_string(),
        d.head_hash.clone(),
    ]);
    row(&[d.seal()]);
    out
}

/// Text in the PDF standard fonts' encoding (WinAnsi): French is whole;
/// what it lacks shows as `?`.
fn win_ansi(s: &str) -> Vec<u8> {
    s.chars()
        .map(|c| match c {
            ' '..='~' | '\u{a0}'..='\u{ff}' => c as u8,
            '\u{202f}' | '\u{2009}' | '\u{2007}' => 0xa0,
            '€' => 0x80,
            '…' => 0x85,
            'Œ' => 0x8c,
            '‘' => 0x91,
            '’' => 0x92,
            '“' => 0x93,
            '”' => 0x94,
            '•' => 0x95,
            '–' => 0x96,
            '—' => 0x97,
            'œ' => 0x9c,
            'Ÿ' => 0x9f,
            '→' => b'>',
            _ => b'?',
        })
        .collect()
}

/// The PDF's creator.
const CREATOR: &str = "Clavis";

/// A4 in points, and the margins.
const PAGE_W: f32 = 595.0;
const PAGE_H: f32 = 842.0;
const MARGIN: f32 = 50.0;

/// Lays text out on A4 pages, top to bottom.
struct Pages {
    done: Vec<pdf_writer::Content>,
    page: pdf_writer::Content,
    y: f32,
}

impl Pages {
    fn new() -> Self {
        Pages {
            done: Vec::new(),
            page: pdf_writer::Content::new(),
            y: PAGE_H - MARGIN,
        }
    }

    /// Room for `h` points, on a new page if needed.
    fn room(&mut self, h: f32) {
        if self.y - h < MARGIN + 20.0 {
            let full = std::mem::replace(&mut self.page, pdf_writer::Content::new());
            self.done.push(full);
            self.y = PAGE_H - MARGIN;
        }
    }

    /// Writes `text` at `x` on the current line.
    fn text_at(&mut self, x: f32, size: f32, bold: bool, text: &str) {
        let font = if bold { b"F2" } else { b"F1" };
        self.page
            .begin_text()
            .set_font(pdf_writer::Name(font), size)
            .next_line(x, self.y)
            .show(pdf_writer::Str(&win_ansi(text)))
            .end_text();
    }

    /// A paragraph, wrapped to the page's width.
    fn para(&mut self, size: f32, bold: bool, text: &str) {
        let per_line = ((PAGE_W - 2.0 * MARGIN) / (size * 0.5)) as usize;
        for l in wrap(text, per_line) {
            self.room(size * 1.4);
            self.y -= size * 1.4;
            self.text_at(MARGIN, size, bold, &l);
        }
    }

    /// One row of cells starting at the `xs`, each cut to fit before the
    /// next.
    fn row(&mut self, size: f32, bold: bool, xs: &[f32], cells: &[String]) {
        self.room(size * 1.5);
        self.y -= size * 1.5;
        for (i, (x, cell)) in xs.iter().zip(cells).enumerate() {
            let width = xs.get(i + 1).copied().unwrap_or(PAGE_W - MARGIN) - x - 3.0;
            let fits = (width / (size * 0.5)).max(1.0) as usize;
            self.text_at(*x, size, bold, &cut(cell, fits));
        }
    }

    fn gap(&mut self, h: f32) {
        self.y -= h;
    }

    /// The pages, each with its footer (`footer(n, of)`).
    fn finish(mut self, footer: impl Fn(usize, usize) -> String) -> Vec<Vec<u8>> {
        self.done.push(self.page);
        let total = self.done.len();
        self.done
            .into_iter()
            .enumerate()
            .map(|(i, mut c)| {
                c.begin_text()
                    .set_font(pdf_writer::Name(b"F1"), 8.0)
                    .next_line(MARGIN, MARGIN - 10.0)
                    .show(pdf_writer::Str(&win_ansi(&footer(i + 1, total))))
                    .end_text();
                c.finish().to_vec()
            })
            .collect()
    }
}

/// `text` in lines of at most `width` characters, cut between words.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// `s` cut to `n` characters, an ellipsis marking the cut.
fn cut(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_string();
    }
    let mut out: String = s.chars().take(n.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The report as a PDF document.
fn to_pdf(d: &ReportDoc) -> Vec<u8> {
    use pdf_writer::{Name, Pdf, Rect, Ref, TextStr};
    let lang = d.lang;
    let mut p = Pages::new();
    p.para(16.0, true, &d.title);
    p.gap(4.0);
    for (k, v) in [
        ("report-establishment", &d.establishment),
        ("report-generated", &d.generated),
        ("report-issued-by", &d.by),
        ("report-population", &d.scope),
    ] {
        p.para(10.0, false, &format!("{} : {v}", lang.tr(k)));
    }
    p.gap(8.0);
    p.para(12.0, true, &lang.tr("report-indicators"));
    let two = [MARGIN, MARGIN + 300.0];
    p.row(
        9.0,
        true,
        &two,
        &[lang.tr("compliance-indicator"), lang.tr("compliance-value")],
    );
    for (label, value) in &d.lines {
        let per_line = (300.0 / 4.5) as usize;
        let label_lines = wrap(label, per_line);
        for (i, l) in label_lines.iter().enumerate() {
            let value = if i == 0 { value.clone() } else { String::new() };
            p.row(9.0, false, &two, &[l.clone(), value]);
        }
    }
    p.gap(8.0);
    p.para(12.0, true, &lang.tr("compliance-trends"));
    let mut xs = vec![MARGIN];
    let label_w = 150.0;
    let col_w = (PAGE_W - 2.0 * MARGIN - label_w) / d.months.len().max(1) as f32;
    for i in 0..d.months.len() {
        xs.push(MARGIN + label_w + i as f32 * col_w);
    }
    let mut head = vec![lang.tr("compliance-indicator")];
    head.extend(
        d.months
            .iter()
            .map(|m| m.chars().skip(2).collect::<String>()),
    );
    p.row(7.0, true, &xs, &head);
    for t in &d.trend_rows {
        let mut cells = vec![t.label.clone()];
        cells.extend(t.cells.iter().cloned());
        p.row(7.0, false, &xs, &cells);
    }
    p.gap(8.0);
    p.para(12.0, true, &lang.tr("compliance-departed"));
    if d.departed.is_empty() {
        p.para(9.0, false, &lang.tr("console-none"));
    }
    let three = [MARGIN, MARGIN + 160.0, MARGIN + 330.0];
    for (name, oid, holds) in &d.departed {
        p.row(
            8.0,
            false,
            &three,
            &[name.clone(), oid.clone(), holds.clone()],
        );
    }
    p.gap(8.0);
    p.para(12.0, true, &lang.tr("compliance-old-cases-title"));
    if d.old_cases.is_empty() {
        p.para(9.0, false, &lang.tr("console-none"));
    }
    for (entry, opened) in &d.old_cases {
        p.row(8.0, false, &two, &[entry.clone(), opened.clone()]);
    }
    p.gap(8.0);
    p.para(12.0, true, &lang.tr("compliance-logins"));
    let four = [MARGIN, MARGIN + 120.0, MARGIN + 200.0, MARGIN + 380.0];
    p.row(
        8.0,
        true,
        &four,
        &[
            lang.tr("session-method"),
            "acr".into(),
            "amr".into(),
            lang.tr("authenticators-count"),
        ],
    );
    for l in &d.logins {
        p.row(
            8.0,
            false,
            &four,
            &[
                l.method.clone(),
                l.acr.clone(),
                l.amr.clone(),
                l.count.to_string(),
            ],
        );
    }
    p.gap(10.0);
    p.para(12.0, true, &lang.tr("report-chain-head"));
    p.para(9.0, false, &d.seal());
    let footer_title = d.title.clone();
    let generated = d.generated.clone();
    let contents = p.finish(|n, of| {
        lang.tr_args(
            "report-footer",
            &fluent_args(&[
                ("title", footer_title.clone()),
                ("at", generated.clone()),
                ("page", n.to_string()),
                ("pages", of.to_string()),
            ]),
        )
    });

    // Objects: 1 catalog, 2 page tree, 3 info, 4 and 5 the fonts, then a
    // page and its content per page.
    let (catalog, tree, info, regular, bold) = (
        Ref::new(1),
        Ref::new(2),
        Ref::new(3),
        Ref::new(4),
        Ref::new(5),
    );
    let page_ref = |i: usize| Ref::new(6 + 2 * i as i32);
    let content_ref = |i: usize| Ref::new(7 + 2 * i as i32);
    let mut pdf = Pdf::new();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree)
        .kids((0..contents.len()).map(page_ref))
        .count(contents.len() as i32);
    pdf.document_info(info)
        .title(TextStr(&d.title))
        .creator(TextStr(CREATOR));
    pdf.type1_font(regular)
        .base_font(Name(b"Helvetica"))
        .encoding_predefined(Name(b"WinAnsiEncoding"));
    pdf.type1_font(bold)
        .base_font(Name(b"Helvetica-Bold"))
        .encoding_predefined(Name(b"WinAnsiEncoding"));
    for (i, c) in contents.iter().enumerate() {
        let mut page = pdf.page(page_ref(i));
        page.parent(tree)
            .media_box(Rect::new(0.0, 0.0, PAGE_W, PAGE_H))
            .contents(content_ref(i));
        page.resources()
            .fonts()
            .pair(Name(b"F1"), regular)
            .pair(Name(b"F2"), bold);
        drop(page);
        pdf.stream(content_ref(i), c);
    }
    pdf.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn french_text_keeps_its_accents_in_the_pdf_encoding() {
        assert_eq!(
            win_ansi("Délai à l’œil — 95,0 %"),
            b"D\xe9lai \xe0 l\x92\x9cil \x97 95,0 %".to_vec()
        );
        assert_eq!(win_ansi("Łódź"), b"?\xf3d?".to_vec());
    }

    #[test]
    fn long_text_wraps_between_words_and_cells_are_cut() {
        assert_eq!(
            wrap("Personnel actif équipé d'un second facteur", 20),
            ["Personnel actif", "équipé d'un second", "facteur"]
        );
        assert_eq!(cut("Connexions à deux facteurs", 10), "Connexion…");
        assert_eq!(cut("court", 10), "court");
    }
}
