//! The relay's Prometheus counters on `GET /metrics` (`--metrics-listen`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// What the relay has done so far.
pub struct RelayMetrics {
    registry: Registry,
    records_relayed: Counter,
    records_rejected: Counter,
    retries_scheduled: Counter,
    retries_relayed: Counter,
    failed_attempts: Counter,
    batch_seconds: Histogram,
}

impl RelayMetrics {
    /// Fresh counters.
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::with_prefix("aurras_relay");
        let metrics = Self {
            records_relayed: Counter::default(),
            records_rejected: Counter::default(),
            retries_scheduled: Counter::default(),
            retries_relayed: Counter::default(),
            failed_attempts: Counter::default(),
            // 1 ms to about 65 s.
            batch_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 17)),
            registry: Registry::default(),
        };
        registry.register(
            "records_relayed",
            "Records the app took (committed)",
            metrics.records_relayed.clone(),
        );
        registry.register(
            "records_rejected",
            "Records the app rejected, sent to the dead-letter topic",
            metrics.records_rejected.clone(),
        );
        registry.register(
            "retries_scheduled",
            "Retries produced to retry topics",
            metrics.retries_scheduled.clone(),
        );
        registry.register(
            "retries_relayed",
            "Due retries the app took",
            metrics.retries_relayed.clone(),
        );
        registry.register(
            "failed_attempts",
            "Requests to the app without a usable 200, retried",
            metrics.failed_attempts.clone(),
        );
        registry.register(
            "batch_seconds",
            "From reading a batch to committing it, retries included",
            metrics.batch_seconds.clone(),
        );
        Arc::new(Self {
            registry,
            ..metrics
        })
    }

    /// A batch was committed.
    pub fn batch_done(
        &self,
        records: usize,
        retries: usize,
        rejected: usize,
        scheduled: usize,
        took: Duration,
    ) {
        self.records_relayed.inc_by(records as u64);
        self.retries_relayed.inc_by(retries as u64);
        self.records_rejected.inc_by(rejected as u64);
        self.retries_scheduled.inc_by(scheduled as u64);
        self.batch_seconds.observe(took.as_secs_f64());
    }

    /// A request did not hand its batch over.
    pub fn attempt_failed(&self) {
        self.failed_attempts.inc();
    }

    fn prometheus(&self) -> String {
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

async fn prometheus(State(m): State<Arc<RelayMetrics>>) -> impl IntoResponse {
    (
        [(
            "content-type",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        m.prometheus(),
    )
}

/// Serves `/metrics` on `addr` until the process ends.
pub async fn serve(metrics: Arc<RelayMetrics>, addr: SocketAddr) -> Result<()> {
    let app = Router::new()
        .route("/metrics", get(prometheus))
        .with_state(metrics);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("--metrics-listen {addr}: cannot listen"))?;
    tracing::info!("metrics on http://{}/metrics", listener.local_addr()?);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("the metrics endpoint stopped: {e}");
        }
    });
    Ok(())
}
