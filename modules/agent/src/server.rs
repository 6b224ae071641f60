//! The agent's local HTTP endpoint (loopback only) and its card watcher.
//!
//! - `GET /v1/status` — version, reader, whether a card is present.
//! - `POST /v1/read` `{transaction, token}` — waits for a card not yet
//!   used, relays the transaction, answers `{outcome}`.
//!
//! Only the configured origins get CORS headers, and `/v1/read` refuses any
//! other `Origin`; the `Host` must be a loopback name (no DNS rebinding).
//! One transaction at a time.

use crate::card::Reader;
use crate::clavis::Clavis;
use crate::{AgentConfig, Outcome, relay};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Shared by the handlers and the watcher.
#[derive(Debug)]
pub struct Agent {
    cfg: AgentConfig,
    origins: Vec<String>,
    clavis: Clavis,
    reader: Reader,
    /// Held while a transaction runs.
    busy: Mutex<()>,
    /// The reader's event count when its card was last used: that card
    /// must leave (the count changes) before it is read again.
    used: Mutex<Option<u32>>,
    /// When the watcher last asked Clavis about the card on the reader.
    asked: Mutex<Option<Instant>>,
}

impl Agent {
    /// An agent for `cfg`.
    pub fn new(cfg: AgentConfig) -> Result<Self, String> {
        let credential = cfg.credential()?;
        let ca = match &cfg.ca_file {
            Some(p) => Some(std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?),
            None => None,
        };
        let clavis = Clavis::new(
            &cfg.clavis_url,
            &cfg.workstation_id,
            credential,
            ca.as_deref(),
        )
        .map_err(|e| e.to_string())?;
        Ok(Agent {
            origins: cfg.origins(),
            reader: Reader::new(cfg.reader.clone()),
            clavis,
            busy: Mutex::new(()),
            used: Mutex::new(None),
            asked: Mutex::new(None),
            cfg,
        })
    }

    /// Relays `transaction` with the next unused card, waiting up to the
    /// configured time.
    pub fn read(&self, transaction: &str, token: Option<&str>, wait: Duration) -> Outcome {
        let Ok(_turn) = self.busy.try_lock() else {
            return Outcome::Busy;
        };
        let card = self
            .reader
            .wait_for_card(wait, |present, events| present && !self.was_used(events));
        let mut card = match card {
            Ok(Some((c, events))) => {
                *self.used.lock().unwrap_or_else(|p| p.into_inner()) = Some(events);
                c
            }
            Ok(None) => return Outcome::NoCard,
            Err(e) => {
                tracing::warn!(error = %e, "reader unavailable");
                return Outcome::NoCard;
            }
        };
        let outcome = relay(&self.clavis, &mut card, transaction, token);
        tracing::info!(outcome = outcome.as_str(), "badge transaction relayed");
        outcome
    }

    /// One round of the watcher: a card newly on the reader with no page
    /// waiting is offered to an enrolment waiting for this workstation.
    pub fn watch_once(&self) {
        let (present, events) = match self.reader.card_state() {
            Ok(p) => p,
            Err(_) => return,
        };
        if !present {
            *self.asked.lock().unwrap_or_else(|p| p.into_inner()) = None;
            return;
        }
        if self.was_used(events) {
            return;
        }
        // A card left on the reader: ask once, then every few seconds.
        {
            let mut asked = self.asked.lock().unwrap_or_else(|p| p.into_inner());
            if asked.is_some_and(|t| t.elapsed() < Duration::from_secs(2)) {
                return;
            }
            *asked = Some(Instant::now());
        }
        // A page's read in progress has the card: nothing to offer. The
        // turn is not held while Clavis is asked: a page asking to read
        // meanwhile must get the card, not "busy" (it does not retry).
        if self.busy.try_lock().is_err() {
            return;
        }
        match self.clavis.pending() {
            Ok(Some(tx)) => {
                let outcome = self.read(&tx, None, Duration::from_secs(1));
                tracing::info!(outcome = outcome.as_str(), "enrolment relayed");
            }
            Ok(None) => {}
            Err(e) => tracing::debug!(error = %e, "pending enrolments unavailable"),
        }
    }

    fn was_used(&self, events: u32) -> bool {
        *self.used.lock().unwrap_or_else(|p| p.into_inner()) == Some(events)
    }

    fn allowed_origin(&self, req: &HttpRequest) -> Option<String> {
        let origin = req.headers().get(header::ORIGIN)?.to_str().ok()?;
        self.origins.iter().find(|o| o.as_str() == origin).cloned()
    }

    fn loopback_host(&self, req: &HttpRequest) -> bool {
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        let name = host.rsplit_once(':').map_or(host, |(h, _)| h);
        matches!(name, "127.0.0.1" | "localhost" | "[::1]")
    }

    fn cors(&self, req: &HttpRequest, mut r: HttpResponse) -> HttpResponse {
        if let Some(o) = self.allowed_origin(req) {
            let h = r.headers_mut();
            if let Ok(v) = header::HeaderValue::from_str(&o) {
                h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
            }
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                header::HeaderValue::from_static("GET, POST"),
            );
            h.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                header::HeaderValue::from_static("Content-Type"),
            );
            h.insert(
                header::HeaderName::from_static("access-control-allow-private-network"),
                header::HeaderValue::from_static("true"),
            );
            h.insert(header::VARY, header::HeaderValue::from_static("Origin"));
        }
        r
    }
}

async fn status(agent: web::Data<Arc<Agent>>, req: HttpRequest) -> HttpResponse {
    if !agent.loopback_host(&req) {
        return HttpResponse::Forbidden().finish();
    }
    let a = agent.clone();
    let (reader, present) = web::block(move || {
        (
            a.reader
                .name()
                .ok()
                .map(|n| n.to_string_lossy().into_owned()),
            a.reader.card_present().unwrap_or(false),
        )
    })
    .await
    .unwrap_or((None, false));
    agent.cors(
        &req,
        HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(json!({"agent": env!("CARGO_PKG_VERSION"), "workstation": agent.cfg.workstation_id, "reader": reader, "card_present": present})),
    )
}

async fn preflight(agent: web::Data<Arc<Agent>>, req: HttpRequest) -> HttpResponse {
    if !agent.loopback_host(&req) || agent.allowed_origin(&req).is_none() {
        return HttpResponse::Forbidden().finish();
    }
    agent.cors(&req, HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize)]
struct ReadBody {
    transaction: String,
    token: String,
}

async fn read(
    agent: web::Data<Arc<Agent>>,
    req: HttpRequest,
    body: web::Json<ReadBody>,
) -> HttpResponse {
    if !agent.loopback_host(&req) || agent.allowed_origin(&req).is_none() {
        tracing::warn!("read refused: origin not allowed");
        return HttpResponse::Forbidden().json(json!({"outcome": "forbidden"}));
    }
    let a = agent.clone();
    let wait = Duration::from_secs(a.cfg.card_wait_secs);
    let ReadBody { transaction, token } = body.into_inner();
    let outcome = web::block(move || a.read(&transaction, Some(&token), wait))
        .await
        .unwrap_or(Outcome::ClavisUnreachable);
    agent.cors(
        &req,
        HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(json!({"outcome": outcome.as_str()})),
    )
}

/// Runs the agent until stopped. `agent` is made outside the async
/// runtime (its HTTP client to Clavis is a blocking one).
pub async fn run(agent: Arc<Agent>) -> anyhow::Result<()> {
    let listen = agent.cfg.listen;
    {
        let a = agent.clone();
        std::thread::Builder::new()
            .name("card-watcher".into())
            .spawn(move || {
                loop {
                    a.watch_once();
                    std::thread::sleep(Duration::from_millis(250));
                }
            })?;
    }
    let data = web::Data::new(agent);
    tracing::info!(%listen, "clavis-agent listening");
    actix_web::HttpServer::new(move || {
        actix_web::App::new()
            .app_data(data.clone())
            .app_data(web::JsonConfig::default().limit(4096))
            .route("/v1/status", web::get().to(status))
            .route("/v1/read", web::post().to(read))
            .route(
                "/v1/read",
                web::method(actix_web::http::Method::OPTIONS).to(preflight),
            )
            .route(
                "/v1/status",
                web::method(actix_web::http::Method::OPTIONS).to(preflight),
            )
    })
    .workers(2)
    .bind(listen)?
    .run()
    .await?;
    Ok(())
}
