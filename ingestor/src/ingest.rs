//! One chain's ingestion, from a resolved plan to a running [`Pipeline`]: take the cursor, make
//! the producer, connect, refuse event names the runtime lacks, serve metrics, then (with a
//! lease) stand by until this process holds the chain's lease, and run while it does.
//!
//! Both the `ingest` command (one chain from flags) and the `worker` (every registered source)
//! end here, so the two cannot drift apart.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::anyhow;
use aurras_domain::names::ChainName;
use tokio::sync::watch;

use crate::chain::{Chain, Endpoint};
use crate::cursor::Cursor;
use crate::lease::{holder_name, LeaseConfig, Leaser};
use crate::metrics::{self, Metrics};
use crate::pipeline::{requested, Ended, Pipeline, Selection, Start};
use crate::sink::{KafkaSink, TopicSettings};
use crate::Failure;

/// Everything one chain's ingestion needs, already checked.
pub struct IngestPlan {
    /// The chain's name; topics are `<chain>.<Pallet>.<Event>`.
    pub chain: ChainName,
    /// How to reach it.
    pub endpoint: Endpoint,
    /// Which events to publish; may change while running.
    pub selection: Arc<RwLock<Selection>>,
    /// The SS58 prefix to write addresses with (`None`: the chain's own).
    pub ss58_prefix: Option<u16>,
    /// Kafka-compatible brokers, `host:port,…`.
    pub brokers: String,
    /// Settings of topics the producer creates.
    pub topics: TopicSettings,
    /// The cursor file.
    pub cursor: PathBuf,
    /// Where to start without a cursor.
    pub start: Start,
    /// How often to poll the finalized head when the node offers no subscription.
    pub poll: Duration,
    /// How many blocks to fetch at once.
    pub fetch_ahead: usize,
    /// Stop after producing this block.
    pub stop_after: Option<u64>,
    /// Give up connecting after this long.
    pub connect_timeout: Duration,
    /// Serve `/status` and `/metrics` here.
    pub metrics_listen: Option<SocketAddr>,
    /// Produce only while holding the chain's lease at the API (`None`: no other ingestor of
    /// this chain is expected, or this is a replay beside the live one).
    pub lease: Option<LeaseConfig>,
}

/// Runs the plan until `shutdown` (or `stop_after`).
pub async fn run(plan: IngestPlan, shutdown: watch::Receiver<bool>) -> Result<(), Failure> {
    let chain_name = plan.chain;
    // Taken before anything else is contacted, so a second ingestor of this cursor stops at once.
    let cursor = Cursor::new(plan.cursor);
    let _lock = cursor.lock().map_err(Failure::Config)?;

    // Created before connecting to the chain: the idempotent producer needs about a second of
    // librdkafka's start-up (two ticks of its producer-id timer) before it can send, which then
    // overlaps the chain's metadata download instead of delaying the first block.
    let sink = KafkaSink::new(&plan.brokers, plan.topics)
        .map_err(|e| Failure::Config(e.context("--brokers")))?;

    // A light client may take a minute to sync: a stop in the meantime must not wait for it.
    let connect = tokio::time::timeout(
        plan.connect_timeout,
        Chain::connect(chain_name.clone(), &plan.endpoint, plan.ss58_prefix),
    );
    let connected = tokio::select! {
        connected = connect => connected,
        _ = requested(shutdown.clone()) => return Ok(()),
    };
    let chain = connected
        .map_err(|_| {
            Failure::Unreachable(anyhow!(
                "{chain_name}: the chain did not answer within {} s (--connect-timeout-secs)",
                plan.connect_timeout.as_secs()
            ))
        })?
        .map_err(Failure::Unreachable)?;

    check_events(&chain, &chain_name, &plan.selection).await?;

    let metrics = Metrics::new(chain_name.as_str());
    if let Some(addr) = plan.metrics_listen {
        metrics::serve(metrics.clone(), addr)
            .await
            .map_err(Failure::Config)?;
    }
    let mut pipeline = Pipeline {
        chain: Arc::new(chain),
        chain_name,
        sink,
        cursor,
        selection: plan.selection,
        start: plan.start,
        metrics,
        poll: plan.poll,
        fetch_ahead: plan.fetch_ahead,
        stop_after: plan.stop_after,
        lease: None,
    };
    let Some(config) = plan.lease else {
        return pipeline
            .run(shutdown)
            .await
            .map(drop)
            .map_err(Failure::Runtime);
    };
    let leaser = Leaser::new(config, holder_name());
    let mut standby = shutdown.clone();
    loop {
        let Some(lease) = leaser.acquire(&mut standby).await.map_err(lease_failure)? else {
            return Ok(());
        };
        pipeline.lease = Some(lease);
        let ended = pipeline.run(shutdown.clone()).await;
        // Dropping the lease stops its renewals; a run that ended for good lets go of it, so a
        // standby takes over at once (from this run's progress) instead of after the time to live.
        let progress = pipeline.lease.take().and_then(|l| l.progress());
        if ended.as_ref().is_ok_and(|e| *e == Ended::LeaseLost) {
            continue;
        }
        leaser.release(progress).await;
        return ended.map(drop).map_err(Failure::Runtime);
    }
}

/// A refused token is a configuration error; anything else the lease needs, a runtime one.
fn lease_failure(e: anyhow::Error) -> Failure {
    if e.is::<crate::sources::TokenRefused>() {
        Failure::Config(e)
    } else {
        Failure::Runtime(e)
    }
}

/// Refuses event names the runtime does not have: a typo would otherwise publish nothing, quietly.
async fn check_events(
    chain: &Chain,
    chain_name: &ChainName,
    selection: &RwLock<Selection>,
) -> Result<(), Failure> {
    let wanted = match &*selection.read().unwrap_or_else(|p| p.into_inner()) {
        Selection::Events(wanted) => wanted.clone(),
        Selection::All => return Ok(()),
    };
    let head = chain.finalized_head().await.map_err(Failure::Unreachable)?;
    let at = chain.at(head).await.map_err(Failure::Unreachable)?;
    let known: BTreeSet<String> = Chain::known_events(&at).into_iter().collect();
    let unknown: Vec<&str> = wanted.difference(&known).map(String::as_str).collect();
    if unknown.is_empty() {
        return Ok(());
    }
    Err(Failure::Config(anyhow!(
        "--events: {} {} not an event of {chain_name}'s runtime (spec {})",
        unknown.join(", "),
        if unknown.len() == 1 { "is" } else { "are" },
        at.spec_version()
    )))
}
