//! One row of the sweep: a fresh world (app, webhook receiver with the row's accept queue, broker,
//! `ingest`, `relay`, the app host in a process of its own), M webhook triggers on Bob's incoming
//! transfers, one block of N transfers to Bob, and what arrived at the receiver.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::{Duration, Instant};

use aurras_e2e::app_process::AppProcess;
use aurras_e2e::processes::{Broker, LocalChain};
use aurras_e2e::webhook_receiver::Hook;
use aurras_e2e::world::{Settings, World};
use serde_json::json;
use subxt_signer::sr25519::dev;

use crate::blocks::{alice_nonce, client, fill_block};
use crate::common::{head, ingest_polling, relay, BOB};
use crate::measure::{cpu_seconds, peak_rss_mib, quantile};

/// Charlie: the warm-up transfer's recipient, watched by one trigger of its own.
const CHARLIE: &str = "5FLSigC9HGRKVhB9FiEo4Y3koPsNmBmLJbpXg2mp1hXcS59Y";
/// How long the warm-up delivery may take (the relay joining its group, the components loading).
const WARM_UP: Duration = Duration::from_secs(120);

/// A row: `N` transfers in one block, `M` triggers on their recipient, the receiver's accept
/// queue. Written `NxM` or `NxM@backlog` (default backlog 4096).
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    pub transfers: u64,
    pub triggers: usize,
    pub backlog: u32,
}

impl FromStr for Scenario {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (load, backlog) = s.trim().split_once('@').unwrap_or((s.trim(), "4096"));
        let (n, m) = load
            .split_once('x')
            .ok_or(format!("{s:?}: not NxM[@backlog]"))?;
        let number = |v: &str| v.trim().parse().map_err(|e| format!("{s:?}: {e}"));
        Ok(Self {
            transfers: number(n)?,
            triggers: number(m)? as usize,
            backlog: number(backlog)? as u32,
        })
    }
}

impl std::fmt::Display for Scenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}×{} @{}", self.transfers, self.triggers, self.backlog)
    }
}

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
}

/// The processes measured, in the table's order.
pub const PROCESSES: [&str; 4] = ["ingest", "relay", "app host", "bench"];

/// What a row measured.
pub struct Outcome {
    pub scenario: Scenario,
    pub expected: usize,
    /// Distinct `webhook-id`s received.
    pub arrived: usize,
    /// Deliveries received beyond the first of their `webhook-id`.
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

/// A webhook trigger on `account`'s incoming transfers, posting to a new hook on the receiver.
async fn watch(w: &World, account: &str) -> Hook {
    let hook = w.hooks.pending_hook();
    let created = w
        .trigger(
            Some(json!({"balance": {"account": account, "direction": "in"}})),
            json!({"webhook": {"url": hook.url()}}),
            json!({"isJSONData": true}),
        )
        .await
        .expect("webhook trigger");
    w.hooks
        .set_secret(&hook, created["secret"].as_str().expect("secret"))
        .expect("secret");
    hook
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
    let mut hooks = Vec::with_capacity(scenario.triggers);
    for _ in 0..scenario.triggers {
        hooks.push(watch(&w, BOB).await);
    }
    // The app host in a process of its own: its CPU time apart from the receiver's.
    w.app.pause().await.expect("pause");
    let addr = w.app.paused_at().expect("paused");
    let host = AppProcess::start(w.app.options(), addr)
        .await
        .expect("host process (cargo build --release -p aurras-testhost)");
    let app = format!("http://{addr}");
    let state = tempfile::tempdir().expect("tempdir");
    let (api, rpc) = client(&chain.url).await;
    let ingestor = ingest_polling(
        &app,
        &broker.addr,
        Some(head(&chain.url).await + 1),
        &state.path().join("cursor"),
        config.poll,
    );
    let relay = relay(&app, &broker.addr, "loop-bench", Duration::from_secs(10));

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
    // Every delivery is answered 200: attempts (small to copy) count what arrived, copies
    // included; the distinct webhook-ids only once there are enough.
    let attempts = || {
        hooks
            .iter()
            .map(|h| w.hooks.attempts(h).len())
            .sum::<usize>()
    };
    let distinct = || {
        let ids = hooks.iter().flat_map(|h| w.hooks.received(h)).map(|d| d.id);
        ids.collect::<HashSet<String>>().len()
    };
    while built.elapsed() < config.deadline && (attempts() < expected || distinct() < expected) {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let cpu_after = pids.clone().map(|pid| cpu_seconds(&pid));
    // A delivery the receiver took but whose answer dispatch did not see is sent again after
    // the first retry step: wait for such copies before counting duplicates.
    tokio::time::sleep(config.settle).await;
    let rss = pids.map(|pid| peak_rss_mib(&pid));

    let mut first: HashMap<String, Instant> = HashMap::new();
    let mut total = 0;
    for delivery in hooks.iter().flat_map(|h| w.hooks.received(h)) {
        total += 1;
        let at = first.entry(delivery.id).or_insert(delivery.at);
        *at = (*at).min(delivery.at);
    }
    let mut refusals = BTreeMap::new();
    let rejections = w.hooks.rejections();
    for r in &rejections {
        *refusals
            .entry(format!("{} {}", r.status, r.reason))
            .or_insert(0) += 1;
    }
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
        refused: rejections.len(),
        refusals,
        latencies,
        cpu: [0, 1, 2, 3].map(|i| cpu_after[i] - cpu_before[i]),
        rss,
    }
}
