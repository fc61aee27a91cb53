//! The relay's Prometheus counters on `GET /metrics` (`--metrics-listen`).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
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
    request_seconds: Histogram,
    stage_seconds: StageFamily,
    /// The stage names seen so far: at most [`MAX_STAGE_NAMES`] get a series of their own.
    stage_names: Mutex<BTreeSet<String>>,
}

/// One histogram per `stage` label.
type StageFamily = Family<Vec<(String, String)>, Histogram, fn() -> Histogram>;

/// Distinct stage names kept apart; later ones are counted under `other`, so an app answering
/// ever new names cannot grow the metrics without bound.
const MAX_STAGE_NAMES: usize = 32;

/// 0.1 ms to about 52 s: a dispatch stage takes from microseconds (a signature check) to the
/// whole fan-out's deadline (waiting on slow destinations).
fn stage_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 20))
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
            request_seconds: stage_histogram(),
            stage_seconds: Family::new_with_constructor(stage_histogram),
            stage_names: Mutex::new(BTreeSet::new()),
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
        registry.register(
            "dispatch_request_seconds",
            "Each request to the app's dispatch that was answered, as the relay saw it: from sending it to the answer's last byte",
            metrics.request_seconds.clone(),
        );
        registry.register(
            "dispatch_stage_seconds",
            "Where dispatch says it spent each answered request, per stage, from its Server-Timing header (stage total: the whole request inside the component)",
            metrics.stage_seconds.clone(),
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

    /// The app answered a request after `took`, with `server_timing` (the header's value, if
    /// any) saying where it spent it.
    pub fn dispatch_answered(&self, took: Duration, server_timing: Option<&str>) {
        self.request_seconds.observe(took.as_secs_f64());
        let Some(value) = server_timing else {
            return;
        };
        let mut names = self
            .stage_names
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (stage, spent) in super::server_timing::parse(value) {
            let known = names.contains(&stage);
            let stage = if known || names.len() < MAX_STAGE_NAMES {
                names.insert(stage.clone());
                stage
            } else {
                "other".to_owned()
            };
            self.stage_seconds
                .get_or_create(&vec![("stage".to_owned(), stage)])
                .observe(spent.as_secs_f64());
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_answered_request_and_its_stages_are_counted() {
        let metrics = RelayMetrics::new();
        metrics.dispatch_answered(
            Duration::from_millis(40),
            Some("lookup;dur=27.5, claim;dur=2, total;dur=35"),
        );
        // An answer without the header (another app, or an error before the signature check).
        metrics.dispatch_answered(Duration::from_millis(10), None);
        let text = metrics.prometheus();
        for line in [
            "aurras_relay_dispatch_request_seconds_count 2",
            "aurras_relay_dispatch_request_seconds_sum 0.05",
            "aurras_relay_dispatch_stage_seconds_sum{stage=\"lookup\"} 0.0275",
            "aurras_relay_dispatch_stage_seconds_count{stage=\"claim\"} 1",
            "aurras_relay_dispatch_stage_seconds_sum{stage=\"total\"} 0.035",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in:\n{text}");
        }
    }

    #[test]
    fn stage_names_beyond_the_cap_count_as_other() {
        let metrics = RelayMetrics::new();
        let many: Vec<String> = (0..MAX_STAGE_NAMES + 5)
            .map(|i| format!("s{i};dur=1"))
            .collect();
        // Two headers of at most MAX_STAGES names each, all different.
        for part in many.chunks(super::super::server_timing::MAX_STAGES) {
            metrics.dispatch_answered(Duration::from_millis(1), Some(&part.join(", ")));
        }
        let text = metrics.prometheus();
        let series = text
            .lines()
            .filter(|l| l.starts_with("aurras_relay_dispatch_stage_seconds_count"))
            .count();
        assert_eq!(series, MAX_STAGE_NAMES + 1, "{text}");
        assert!(
            text.contains("aurras_relay_dispatch_stage_seconds_count{stage=\"other\"} 5"),
            "{text}"
        );
    }
}
