//! Metrics in Prometheus's text format, for the hospital's monitoring.
//!
//! - [`Exporter::install`] makes this process's `metrics` recorder (the
//!   facade the capability crates count through: logins, lockouts, tokens,
//!   back-channel logouts and sync runs are counted by `clavis_audit` as
//!   their audit events are written; the SQLite write turn's waits by
//!   `clavis_store`).
//! - [`record_latency`] wraps the public application: each request's
//!   duration, by route *pattern* (`/admin/api/identities/{oid}`, never the
//!   raw path: label values stay few and name nobody), method and status.
//! - [`app`] is the metrics listener's whole application (`metrics.listen`,
//!   loopback by default): `GET /metrics`, which first samples what lives
//!   in the database (live sessions, the audit chain head's age, the pool).
//!   The public listener has no such route.
//!
//! docs/operations.md ("Metrics") lists every metric.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};
use clavis_core::Clock;
use clavis_store::Db;
use clavis_store::models::{AuditEventRow, SsoSessionRow};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::Arc;

/// Each request's duration, by route, method and status.
pub const HTTP_DURATION: &str = "clavis_http_request_duration_seconds";

/// Buckets of [`HTTP_DURATION`] (seconds): a page or a token in a few
/// milliseconds, a slow database in seconds.
const HTTP_BUCKETS: &[f64] = &[
    0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Buckets of the SQLite write turn's waits (seconds).
const WAIT_BUCKETS: &[f64] = &[0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0];

/// Units per SQLite commit: alone, or grouped up to the group's limit (16).
const GROUP_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0];

/// Why the recorder could not be installed.
#[derive(Debug, thiserror::Error)]
#[error("cannot install the metrics recorder: {0}")]
pub struct InstallError(String);

/// This process's metrics, rendered for Prometheus. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Exporter {
    handle: PrometheusHandle,
}

impl Exporter {
    /// Installs the process's recorder: once per process (a second call is
    /// an error).
    pub fn install() -> Result<Self, InstallError> {
        let err = |e: metrics_exporter_prometheus::BuildError| InstallError(e.to_string());
        let handle = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.into()), HTTP_BUCKETS)
            .map_err(err)?
            .set_buckets_for_metric(
                Matcher::Full("clavis_db_write_wait_seconds".into()),
                WAIT_BUCKETS,
            )
            .map_err(err)?
            .set_buckets_for_metric(
                Matcher::Full("clavis_db_group_commit_units".into()),
                GROUP_BUCKETS,
            )
            .map_err(err)?
            .install_recorder()
            .map_err(err)?;
        describe();
        Ok(Self { handle })
    }

    /// Every metric, in Prometheus's text format.
    pub fn render(&self) -> String {
        // Folds recent histogram samples in and drops what expired.
        self.handle.run_upkeep();
        self.handle.render()
    }
}

/// The help lines of every metric Clavis records.
fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "clavis_logins_total",
        "Logins by method (fido2, badge, psc) and result (succeeded, failed)"
    );
    describe_counter!(
        "clavis_lockouts_total",
        "Logins locked after too many failures (badge PIN)"
    );
    describe_counter!(
        "clavis_oidc_tokens_issued_total",
        "Tokens issued at the token endpoint, by OpenID client"
    );
    describe_counter!(
        "clavis_backchannel_logouts_total",
        "Back-channel logout deliveries by result (delivered, failed: retried, given_up)"
    );
    describe_counter!(
        "clavis_sync_runs_total",
        "Directory sync runs by source and outcome (succeeded, failed)"
    );
    describe_counter!(
        "clavis_sync_rejected_total",
        "Entries a directory source gave that a sync run rejected, by source"
    );
    describe_counter!("clavis_audit_events_total", "Audit events by action");
    describe_counter!(
        "clavis_console_denials_unrecorded_total",
        "Console refusals not journaled: one person past 100 in a row, then one a second"
    );
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "HTTP requests by route pattern, method and status"
    );
    describe_histogram!(
        "clavis_db_write_wait_seconds",
        Unit::Seconds,
        "Waits of SQLite write transactions for their turn (only those that waited)"
    );
    describe_histogram!(
        "clavis_db_group_commit_units",
        "SQLite only: units (logins, authorizations, token exchanges) sharing each commit"
    );
    describe_gauge!(
        "clavis_sso_sessions_active",
        "SSO sessions live now (not ended, not expired)"
    );
    describe_gauge!(
        "clavis_audit_head_age_seconds",
        Unit::Seconds,
        "Time since the last audit event was written"
    );
    describe_gauge!(
        "clavis_db_pool_connections",
        "Database pool connections by state (in_use, idle), and its max"
    );
    describe_gauge!(
        "clavis_db_pool_waiting",
        "Tasks waiting for a database connection"
    );
    describe_gauge!(
        "clavis_database_up",
        "1 when the last scrape could read the database, else 0"
    );
}

/// What `/metrics` reads from the database at each scrape.
#[derive(Debug, Clone)]
pub struct Probe {
    /// The database.
    pub db: Db,
    /// The clock.
    pub clock: Arc<dyn Clock>,
}

impl Probe {
    /// Sets the gauges that live in the database; a database that does not
    /// answer sets `clavis_database_up` to 0 (and leaves the others as they
    /// were last read).
    async fn sample(&self) {
        let pool = self.db.pool_status();
        metrics::gauge!("clavis_db_pool_connections", "state" => "in_use")
            .set(pool.open.saturating_sub(pool.idle) as f64);
        metrics::gauge!("clavis_db_pool_connections", "state" => "idle").set(pool.idle as f64);
        metrics::gauge!("clavis_db_pool_connections", "state" => "max").set(pool.max as f64);
        metrics::gauge!("clavis_db_pool_waiting").set(pool.waiting as f64);
        let now = self.clock.now();
        let read = async {
            let mut conn = self.db.conn().await?;
            let live = SsoSessionRow::count_live(&mut conn, now.timestamp()).await?;
            let last = AuditEventRow::last_occurred_at(&mut conn).await?;
            Ok::<_, clavis_store::StoreError>((live, last))
        };
        match read.await {
            Ok((live, last)) => {
                metrics::gauge!("clavis_database_up").set(1.0);
                metrics::gauge!("clavis_sso_sessions_active").set(live as f64);
                if let Some(micros) = last {
                    let age = (now.timestamp_micros() - micros).max(0) as f64 / 1e6;
                    metrics::gauge!("clavis_audit_head_age_seconds").set(age);
                }
            }
            Err(e) => {
                metrics::gauge!("clavis_database_up").set(0.0);
                tracing::warn!(error = %e, "metrics: the database did not answer");
            }
        }
    }
}

/// What the metrics listener's handler holds.
#[derive(Debug, Clone)]
struct Scrape {
    exporter: Exporter,
    probe: Probe,
}

/// The metrics listener's application: `GET /metrics`, nothing else.
pub fn app(
    exporter: Exporter,
    probe: Probe,
) -> actix_web::App<
    impl actix_web::dev::ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    actix_web::App::new()
        .app_data(web::Data::new(Scrape { exporter, probe }))
        .route("/metrics", web::get().to(scrape))
}

async fn scrape(s: web::Data<Scrape>) -> HttpResponse {
    s.probe.sample().await;
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .body(s.exporter.render())
}

/// Records each request's duration under [`HTTP_DURATION`], labelled by
/// the route pattern it matched (`unmatched` for none), its method (the
/// usual ones; anything else is `other`) and its status.
pub async fn record_latency(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = std::time::Instant::now();
    let route = crate::request_id::route(&req);
    let method = method_label(req.method());
    let res = next.call(req).await;
    let status = match &res {
        Ok(r) => r.status().as_u16(),
        Err(e) => e.as_response_error().status_code().as_u16(),
    };
    metrics::histogram!(HTTP_DURATION, "route" => route, "method" => method, "status" => status.to_string())
        .record(started.elapsed().as_secs_f64());
    res
}

/// A method as a label: the standard ones, else `other` (a client may send
/// any token as its method).
fn method_label(m: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::HttpMessage;
    use actix_web::test;

    /// The tests' one route, with a parameter.
    fn people(cfg: &mut web::ServiceConfig) {
        cfg.route(
            "/people/{oid}",
            web::get().to(|| async { HttpResponse::Ok().finish() }),
        );
    }

    /// The metrics name a request by the route the request-id middleware
    /// found (kept in its extensions), not by matching it again.
    #[actix_web::test]
    async fn latency_takes_the_route_already_found() {
        let app = test::init_service(
            actix_web::App::new()
                .wrap(actix_web::middleware::from_fn(record_latency))
                .wrap(actix_web::middleware::from_fn(
                    |req: ServiceRequest, next: Next<_>| async move {
                        req.extensions_mut()
                            .insert(crate::request_id::Route("/found-before".into()));
                        next.call(req).await
                    },
                ))
                .configure(people),
        )
        .await;
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let _guard = metrics::set_default_local_recorder(&recorder);
        test::call_service(&app, test::TestRequest::get().uri("/people/x").to_request()).await;
        let text = handle.render();
        assert!(text.contains(r#"route="/found-before""#), "{text}");
        assert!(!text.contains(r#"route="/people/{oid}""#), "{text}");
    }

    /// What each request of the tests below must leave in the metrics
    /// (a macro: the two applications are of different types).
    macro_rules! check_route_labels {
        ($app:expr) => {{
            let app = $app;
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.into()), HTTP_BUCKETS)
                .expect("buckets")
                .build_recorder();
            let handle = recorder.handle();
            // The recorder is this test's alone (no global one is installed).
            let _guard = metrics::set_default_local_recorder(&recorder);
            for path in [
                "/people/claire-lemoine",
                "/people/x",
                "/nowhere/secret-name",
            ] {
                test::call_service(app, test::TestRequest::get().uri(path).to_request()).await;
            }
            test::call_service(
                app,
                test::TestRequest::default()
                    .method(actix_web::http::Method::from_bytes(b"BREW").expect("method"))
                    .uri("/people/y")
                    .to_request(),
            )
            .await;
            let text = handle.render();
            assert!(
                text.contains(
                    r#"clavis_http_request_duration_seconds_count{route="/people/{oid}",method="GET",status="200"} 2"#
                ),
                "{text}"
            );
            assert!(
                text.contains(r#"route="unmatched",method="GET",status="404""#),
                "{text}"
            );
            assert!(text.contains(r#"method="other""#), "{text}");
            for leaked in ["claire", "secret-name", "BREW"] {
                assert!(!text.contains(leaked), "{leaked} in {text}");
            }
            assert!(text.contains(r#"le="0.005""#), "{text}");
        }};
    }

    #[actix_web::test]
    async fn latency_is_labelled_by_route_pattern_never_by_raw_path() {
        let alone = test::init_service(
            actix_web::App::new()
                .wrap(actix_web::middleware::from_fn(record_latency))
                .configure(people),
        )
        .await;
        check_route_labels!(&alone);
    }

    /// Behind the request-id middleware, as in the application, which
    /// found the route first and left it in the request's extensions.
    #[actix_web::test]
    async fn latency_is_labelled_by_the_route_the_request_id_middleware_found() {
        let behind = test::init_service(
            actix_web::App::new()
                .wrap(actix_web::middleware::from_fn(record_latency))
                .wrap(actix_web::middleware::from_fn(
                    crate::request_id::middleware,
                ))
                .configure(people),
        )
        .await;
        check_route_labels!(&behind);
    }
}
