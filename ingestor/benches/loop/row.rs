//! One row of the sweep: a fresh world (app, webhook receiver with the row's accept queue, push
//! service, broker, `ingest`, `relay`, the app host in a process of its own), M triggers on
//! Bob's incoming transfers delivering by webhook or Web Push, the row's stored triggers on other
//! accounts, one block of N transfers to Bob, and what arrived.

use std::collections::{BTreeMap, HashMap};
use std::net::TcpListener;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use aurras_e2e::app_process::AppProcess;
use aurras_e2e::processes::{Broker, LocalChain};
use aurras_e2e::world::{Settings, World};
use subxt_signer::sr25519::dev;

use crate::blocks::{alice_nonce, client, fill_block};
use crate::common::{head, ingest_polling, relay_with, Ingestor};
use crate::measure::{cpu_seconds, peak_rss_mib, quantile};
pub use crate::scenario::Scenario;
use crate::sink::{watch, Sink};
use crate::stages::{scrape, Spent};

/// Charlie: the warm-up transfer's recipient, watched by one trigger of its own.
const CHARLIE: &str = "5FLSigC9HGRKVhB9FiEo4Y3koPsNmBmLJbpXg2mp1hXcS59Y";
/// How long the warm-up delivery may take (the relay joining its group, the components loading).
const WARM_UP: Duration = Duration::from_secs(120);

/// What every row shares.
pub struct Config {
    /// How long after the block a row waits for its deliveries.
    pub deadline: Duration,
    /// How long it then watches for copies sent again.
    pub settle: Duration,
    /// `retry_schedule` of the app.
    pub retry_schedule: String,
    /// Another commit's `spin.toml` (with its components built beside it), or the repository's.
    pub manifest: Option<PathBuf>,
    /// How often `ingest` polls the chain's head (chopsticks offers no finalized-head
    /// subscription the legacy backend can follow).
    pub poll: Duration,
    /// Stored triggers created at once.
    pub create_concurrency: usize,
}

/// The processes measured, in the table's order.
pub const PROCESSES: [&str; 4] = ["ingest", "relay", "app host", "bench"];

/// What a row measured.
pub struct Outcome {
    pub scenario: Scenario,
    pub expected: usize,
    /// Distinct (event, trigger) deliveries received.
    pub arrived: usize,
    /// Deliveries received beyond the first of their (event, trigger).
    pub duplicates: usize,
    /// Requests the receiver refused (bad signature, failed TLS handshake, …).
    pub refused: usize,
    /// Why, each reason with its count.
    pub refusals: BTreeMap<String, usize>,
    /// From the block to each distinct delivery's first arrival, sorted.
    pub latencies: Vec<Duration>,
    /// CPU seconds each of [`PROCESSES`] spent from just before the block until every delivery
    /// arrived (or the deadline).
    pub cpu: [f64; 4],
    /// Peak RSS of each of [`PROCESSES`], MiB.
    pub rss: [f64; 4],
    /// How long creating the stored triggers took.
    pub stored_in: Duration,
    /// Where the row's dispatch requests spent their time.
    pub spent: Spent,
}

impl Outcome {
    /// Deliveries per second from the first arrival to the last.
    pub fn rate(&self) -> Option<f64> {
        let spread = (*self.latencies.last()? - *self.latencies.first()?).as_secs_f64();
        (self.arrived > 1 && spread > 0.0).then(|| (self.arrived - 1) as f64 / spread)
    }

    pub fn latency(&self, q: f64) -> Option<Duration> {
        quantile(&self.latencies, q)
    }
}

/// A free loopback port for the relay's metrics.
fn free_port() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").to_string()
}

/// `relay` as the chain tests start it, with its metrics on `metrics`.
fn relay(app: &str, brokers: &str, metrics: &str) -> Ingestor {
    relay_with(
        app,
        brokers,
        "loop-bench",
        Duration::from_secs(10),
        &["--metrics-listen", metrics],
    )
}

pub async fn run(chain: &LocalChain, scenario: Scenario, config: &Config) -> Outcome {
    let broker = Broker::start().expect("broker");
    let mut w = World::start(Settings {
        rpc: chain.url.clone(),
        retry_schedule: config.retry_schedule.clone(),
        hook_backlog: scenario.backlog,
        manifest: config.manifest.clone(),
        ..Settings::default()
    })
    .await
    .expect("world");
    let warm = watch(&w, CHARLIE).await;
    let sink = Sink::create(&mut w, scenario.channel, scenario.triggers).await;
    // The app host in a process of its own: its CPU time apart from the receiver's.
    w.app.pause().await.expect("pause");
    let addr = w.app.paused_at().expect("paused");
    let host = AppProcess::start(w.app.options(), addr)
        .await
        .expect("host process (cargo build --release -p aurras-testhost)");
    let app = format!("http://{addr}");
    let stored_in = if scenario.stored > 0 {
        let url = format!("{}/stored", w.hooks.origin());
        let took = crate::stored::create(
            &app,
            &w.source,
            &url,
            scenario.stored,
            config.create_concurrency,
        )
        .await;
        eprintln!(
            "{scenario} {}: {} stored triggers created in {:.1} s ({:.0}/s, {} at once)",
            scenario.variant(),
            scenario.stored,
            took.as_secs_f64(),
            scenario.stored as f64 / took.as_secs_f64(),
            config.create_concurrency
        );
        took
    } else {
        Duration::ZERO
    };
    let state = tempfile::tempdir().expect("tempdir");
    let (api, rpc) = client(&chain.url).await;
    let ingestor = ingest_polling(
        &app,
        &broker.addr,
        Some(head(&chain.url).await + 1),
        &state.path().join("cursor"),
        config.poll,
    );
    let metrics = free_port();
    let relay = relay(&app, &broker.addr, &metrics);

    // One transfer to Charlie through the whole loop: the relay has joined, the app has loaded.
    let mut nonce = alice_nonce(&api).await;
    fill_block(
        &api,
        &rpc,
        &mut nonce,
        1,
        true,
        dev::charlie().public_key().0,
    )
    .await;
    let got = w.hooks.wait_for(&warm, 1, WARM_UP).await;
    assert_eq!(got.len(), 1, "warm-up: {:?}", w.hooks.rejections());

    let pids = [
        ingestor.id().to_string(),
        relay.id().to_string(),
        host.id().to_string(),
        "self".to_owned(),
    ];
    let scraped = scrape(&metrics).await;
    let cpu_before = pids.clone().map(|pid| cpu_seconds(&pid));
    fill_block(
        &api,
        &rpc,
        &mut nonce,
        scenario.transfers,
        true,
        dev::bob().public_key().0,
    )
    .await;
    let built = Instant::now();
    let expected = scenario.transfers as usize * scenario.triggers;
    // Every delivery is answered 2xx: attempts (small to copy) count what arrived, copies
    // included; the distinct deliveries only once there are enough.
    while built.elapsed() < config.deadline
        && (sink.attempts(&w) < expected || sink.distinct(&w) < expected)
    {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let cpu_after = pids.clone().map(|pid| cpu_seconds(&pid));
    // A delivery the receiver took but whose answer dispatch did not see is sent again after
    // the first retry step: wait for such copies before counting duplicates. By then dispatch
    // has answered the block's last request too, so its stages are all in the relay's metrics.
    tokio::time::sleep(config.settle).await;
    let spent = Spent::between(&scraped, &scrape(&metrics).await);
    let rss = pids.map(|pid| peak_rss_mib(&pid));

    let mut first: HashMap<String, Instant> = HashMap::new();
    let mut total = 0;
    for (id, at) in sink.arrivals(&w) {
        total += 1;
        let first_at = first.entry(id).or_insert(at);
        *first_at = (*first_at).min(at);
    }
    let (refused, reasons) = sink.refusals(&w);
    let mut latencies: Vec<Duration> = first
        .values()
        .map(|at| at.saturating_duration_since(built))
        .collect();
    latencies.sort();
    Outcome {
        scenario,
        expected,
        arrived: first.len(),
        duplicates: total - first.len(),
        refused,
        refusals: reasons.into_iter().collect::<BTreeMap<_, _>>(),
        latencies,
        cpu: [0, 1, 2, 3].map(|i| cpu_after[i] - cpu_before[i]),
        rss,
        stored_in,
        spent,
    }
}
