//! What the ingestor is doing, for people and Prometheus: `GET /status` (JSON) and
//! `GET /metrics` (Prometheus text format).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Live numbers, shared by the pipeline and the HTTP endpoint.
pub struct Metrics {
    chain: String,
    current_block: Gauge,
    finalized_head: Gauge,
    blocks: Counter,
    events_decoded: Counter,
    events_produced: Counter,
    produce_retries: Counter,
    registry: Registry,
    // (when, events produced so far), for a rate over the last minute.
    window: Mutex<VecDeque<(Instant, u64)>>,
    produced_total: AtomicU64,
}

impl Metrics {
    /// Metrics for `chain`.
    pub fn new(chain: &str) -> Arc<Self> {
        let mut registry = Registry::with_prefix("aurras_ingest");
        let current_block = Gauge::default();
        let finalized_head = Gauge::default();
        let blocks = Counter::default();
        let events_decoded = Counter::default();
        let events_produced = Counter::default();
        let produce_retries = Counter::default();
        registry.register(
            "current_block",
            "Last block fully produced",
            current_block.clone(),
        );
        registry.register(
            "finalized_head",
            "Latest finalized block seen",
            finalized_head.clone(),
        );
        registry.register("blocks", "Blocks ingested", blocks.clone());
        registry.register("events_decoded", "Events decoded", events_decoded.clone());
        registry.register(
            "events_produced",
            "Events produced and acknowledged",
            events_produced.clone(),
        );
        registry.register(
            "produce_retries",
            "Blocks whose production was retried",
            produce_retries.clone(),
        );
        Arc::new(Self {
            chain: chain.to_owned(),
            current_block,
            finalized_head,
            blocks,
            events_decoded,
            events_produced,
            produce_retries,
            registry,
            window: Mutex::new(VecDeque::new()),
            produced_total: AtomicU64::new(0),
        })
    }

    /// A block is done.
    pub fn block_done(&self, number: u64, decoded: usize, produced: usize) {
        self.current_block.set(number as i64);
        self.blocks.inc();
        self.events_decoded.inc_by(decoded as u64);
        self.events_produced.inc_by(produced as u64);
        let total = self
            .produced_total
            .fetch_add(produced as u64, Ordering::Relaxed)
            + produced as u64;
        let mut window = self.window.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        window.push_back((now, total));
        while window
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) > Duration::from_secs(60))
        {
            window.pop_front();
        }
    }

    /// The head moved.
    pub fn head(&self, number: u64) {
        self.finalized_head.set(number as i64);
    }

    /// A block's production failed and will be retried.
    pub fn retry(&self) {
        self.produce_retries.inc();
    }

    /// Events produced (and acknowledged) since start.
    pub fn events_produced(&self) -> u64 {
        self.produced_total.load(Ordering::Relaxed)
    }

    /// Events produced per second over the last minute.
    pub fn events_per_second(&self) -> f64 {
        let window = self.window.lock().unwrap_or_else(|p| p.into_inner());
        match (window.front(), window.back()) {
            (Some((t0, n0)), Some((t1, n1))) if t1 > t0 => {
                (n1 - n0) as f64 / t1.duration_since(*t0).as_secs_f64()
            }
            _ => 0.0,
        }
    }

    fn status(&self) -> serde_json::Value {
        let current = self.current_block.get();
        let head = self.finalized_head.get();
        serde_json::json!({
            "chain": self.chain,
            "current_block": current,
            "finalized_head": head,
            "lag": (head - current).max(0),
            "events_per_second": self.events_per_second(),
            "events_produced": self.events_produced.get(),
            "blocks": self.blocks.get(),
        })
    }

    fn prometheus(&self) -> String {
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

async fn status(State(m): State<Arc<Metrics>>) -> impl IntoResponse {
    Json(m.status())
}

async fn prometheus(State(m): State<Arc<Metrics>>) -> impl IntoResponse {
    (
        [(
            "content-type",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        m.prometheus(),
    )
}

/// Serves `/status` and `/metrics` on `addr` until the process ends.
pub async fn serve(metrics: Arc<Metrics>, addr: SocketAddr) -> Result<()> {
    let app = Router::new()
        .route("/status", get(status))
        .route("/metrics", get(prometheus))
        .with_state(metrics);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("--metrics-listen {addr}: cannot listen"))?;
    tracing::info!(
        "status on http://{}/status, metrics on /metrics",
        listener.local_addr()?
    );
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("the metrics endpoint stopped: {e}");
        }
    });
    Ok(())
}
