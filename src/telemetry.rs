//! Logs and traces: the `tracing` subscriber every command runs under.
//!
//! Logs go to standard error, as text or JSON (`[log]`). When `[traces]`
//! is enabled, the same spans also go to an OpenTelemetry collector over
//! OTLP/HTTP (protobuf): the `request` span of each HTTP request is a
//! trace's root (with `request.id`, the id of the logs and the audit), the
//! services' spans (`oidc.*`, `login.*`, `badge.*`, `directory.*`,
//! `db.transaction`) its children. A flow spread over several requests
//! carries its trace from one to the next (`clavis_audit::trace`).
//!
//! Spans are batched and sent from a thread of their own, never on a
//! request's path; a collector that is down costs dropped spans (and one
//! warning), not slower logins. [`Telemetry::shutdown`] sends what is left
//! when the process ends.

use crate::config::{Config, TracesConfig};
use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_http::{Bytes, HttpError, Request, Response};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{BatchSpanProcessor, Sampler, SdkTracerProvider};
use std::time::Duration;
use tracing_subscriber::filter::FilterExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// What must outlive the process's work: the trace pipeline, flushed on
/// [`Telemetry::shutdown`].
#[derive(Default)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Sends the spans still queued (a few seconds at most, when the
    /// collector does not answer) and stops the exporter. Call it outside any async runtime.
    pub fn shutdown(self) {
        if let Some(p) = self.provider
            && let Err(e) = p.shutdown()
        {
            eprintln!("traces: the last spans were not sent: {e}");
        }
    }
}

/// Sets up logging (and, with `traced`, traces when enabled): at
/// `log.level` (`CLAVIS_LOG` overrides it), only warnings for the one-shot
/// commands when `quiet`. Must run before any async runtime starts (the
/// exporter's HTTP client has its own).
pub fn init(cfg: &Config, quiet: bool, traced: bool) -> Telemetry {
    let level = if quiet {
        "warn".to_string()
    } else {
        cfg.log.level.clone()
    };
    let filter = EnvFilter::try_from_env("CLAVIS_LOG").unwrap_or_else(|_| EnvFilter::new(level));
    // Colours only on a terminal: under systemd, standard error is the
    // journal, where escape codes would show as text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let fmt = tracing_subscriber::fmt::layer()
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    // The spans made for the traces only stay out of the logs.
    let filter = filter.and(tracing_subscriber::filter::filter_fn(|m| {
        !(m.is_span() && m.target() == clavis_audit::trace::TARGET)
    }));
    let fmt = if cfg.log.format == "json" {
        fmt.json().with_filter(filter).boxed()
    } else {
        fmt.with_filter(filter).boxed()
    };
    let (provider, traces) = match (traced && cfg.traces.enabled).then(|| pipeline(&cfg.traces)) {
        Some(Ok(p)) => {
            let tracer = p.tracer("clavis");
            // Spans at info and above, whatever the log level (the traces
            // do not thin out when the logs are quiet), and spans only:
            // the log lines stay in the logs, so no address or name a
            // message carries reaches the collector.
            let layer = tracing_opentelemetry::layer()
                .with_tracer(tracer)
                // What a span costs matters at thousands of flows a second:
                // no thread, target, source location or busy/idle
                // attributes.
                .with_threads(false)
                .with_target(false)
                // Nothing reads OpenTelemetry's own current context (the
                // carried traces read the span's): no context switched at
                // every poll of every instrumented future.
                .with_context_activation(false)
                .with_location(false)
                .with_tracked_inactivity(false)
                .with_filter(
                    tracing_subscriber::filter::Targets::new()
                        .with_default(tracing::Level::INFO)
                        .and(tracing_subscriber::filter::filter_fn(|m| m.is_span())),
                );
            (Some(p), Some(layer))
        }
        Some(Err(e)) => {
            eprintln!("traces: not sent ({e})");
            (None, None)
        }
        None => (None, None),
    };
    let _ = tracing_subscriber::registry()
        .with(fmt)
        .with(traces)
        .try_init();
    Telemetry { provider }
}

/// The tracer provider: OTLP/HTTP to `traces.endpoint`, batched, sampled
/// at `traces.sample_ratio` (a carried-on trace follows its start's
/// decision).
fn pipeline(t: &TracesConfig) -> Result<SdkTracerProvider, String> {
    let timeout = Duration::from_secs(t.timeout_secs);
    // Straight to the configured collector: no redirect followed (a batch
    // is never re-sent elsewhere) and no proxy taken from the environment
    // (one set for Pro Santé Connect must not see the spans).
    let client = reqwest::blocking::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .map_err(|e| format!("HTTP client: {e}"))?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(Exporter {
            client,
            endpoint: t.endpoint.clone(),
            warned: std::sync::Mutex::new(None),
        })
        .with_endpoint(t.endpoint.clone())
        .with_timeout(timeout)
        .build()
        .map_err(|e| format!("{}: {e}", t.endpoint))?;
    let resource = Resource::builder()
        .with_service_name(t.service_name.clone())
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
        .with_attribute(KeyValue::new("service.instance.id", host_name()))
        .build();
    let sampler = Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(t.sample_ratio)));
    Ok(SdkTracerProvider::builder()
        .with_span_processor(BatchSpanProcessor::builder(exporter).build())
        .with_sampler(sampler)
        .with_resource(resource)
        .build())
}

/// This machine's name (`service.instance.id`: which node of a cluster).
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// The exporter's HTTP client: the reqwest Clavis already has (blocking:
/// the batch processor sends from a thread of its own, outside any
/// runtime). A collector that does not take the spans is logged, once a
/// minute at most.
#[derive(Debug)]
struct Exporter {
    client: reqwest::blocking::Client,
    endpoint: String,
    warned: std::sync::Mutex<Option<std::time::Instant>>,
}

impl Exporter {
    fn send(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let (parts, body) = request.into_parts();
        let mut req = self.client.request(parts.method, parts.uri.to_string());
        for (name, value) in &parts.headers {
            req = req.header(name, value);
        }
        let mut res = req.body(body.to_vec()).send()?;
        let mut out = Response::builder().status(res.status().as_u16());
        for (name, value) in res.headers() {
            out = out.header(name, value);
        }
        // A collector answers a few bytes: never read more than 64 KiB.
        let mut answer = Vec::new();
        std::io::Read::read_to_end(&mut std::io::Read::take(&mut res, 64 * 1024), &mut answer)?;
        Ok(out.body(answer.into())?)
    }

    /// Logs that spans were lost, unless it was said in the last minute.
    fn warn(&self, why: &str) {
        let mut last = self.warned.lock().unwrap_or_else(|p| p.into_inner());
        if last.is_some_and(|t| t.elapsed() < Duration::from_secs(60)) {
            return;
        }
        *last = Some(std::time::Instant::now());
        tracing::warn!(
            traces.endpoint = %self.endpoint,
            "traces: the collector did not take the spans ({why}); they are dropped"
        );
    }
}

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for Exporter {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let r = self.send(request);
        match &r {
            Ok(res) if !res.status().is_success() => self.warn(&format!("HTTP {}", res.status())),
            Ok(_) => {}
            Err(e) => self.warn(&e.to_string()),
        }
        r
    }
}
