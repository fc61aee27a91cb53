//! `aurras-ingestor relay`: the message trigger Spin lacks. It consumes the event topics as a
//! consumer group and POSTs batches to the app's `dispatch` component (docs/delivery.md),
//! committing offsets only once the app has taken a batch; it dead-letters records the app
//! refuses for good and holds retries in retry topics until they are due.
//!
//! - [`cli`]: the flags;
//! - [`topics`]: which topics to consume (fixed, or from the management API) and which retry
//!   levels exist;
//! - [`consumer`]: a consumer-group member handing out, holding and committing batches;
//! - [`dispatch_client`]: the signed POST; [`wire`]: the contract's JSON;
//! - [`deliver`]: post, settle, commit; [`outbox`]: dead letters and retries to the broker;
//! - [`stream`]: the event topics; [`retry`]: one retry level; [`metrics`]: `--metrics-listen`,
//!   with the stages [`server_timing`] reads from dispatch's answers.

pub mod cli;
pub mod consumer;
pub mod deliver;
pub mod dispatch_client;
pub mod metrics;
pub mod outbox;
pub mod retry;
pub mod server_timing;
pub mod stream;
pub mod topics;
pub mod wire;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::anyhow;
use aurras_domain::signature::SigningKey;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::pipeline::requested;
use crate::sink::{TopicCreator, TopicSettings};
use crate::sources::TokenRefused;
use crate::Failure;
use consumer::{BatchLimits, Feed};
use deliver::Courier;
use dispatch_client::DispatchClient;
use metrics::RelayMetrics;
use outbox::{Outbox, OutboxTopics};
use topics::{TopicSource, TopicWatch};

/// Everything the relay needs, validated.
pub struct RelayConfig {
    /// Kafka-compatible brokers, `host:port,…`.
    pub brokers: String,
    /// The app's base URL (`dispatch` is at `<app>/dispatch`).
    pub app: String,
    /// The shared secret's key.
    pub key: SigningKey,
    /// Which topics to consume.
    pub topics: TopicSource,
    /// The consumer group; retry level n uses `<group>.retry.<n>`.
    pub group: String,
    /// How batches are cut.
    pub limits: BatchLimits,
    /// Dead-letter and retry topics.
    pub outbox_topics: OutboxTopics,
    /// Settings of topics the relay creates.
    pub settings: TopicSettings,
    /// How often to re-read the topics and look for retry levels.
    pub poll: Duration,
    /// How long one POST may take.
    pub request_timeout: Duration,
    /// The consumer group session time-out: how soon a dead relay's partitions move on.
    pub session_timeout_ms: u64,
    /// Serve `/metrics` here.
    pub metrics_listen: Option<SocketAddr>,
}

/// Relays until `shutdown` turns true.
pub async fn run(config: RelayConfig, shutdown: watch::Receiver<bool>) -> Result<(), Failure> {
    let first = tokio::time::timeout(config.request_timeout, config.topics.read()).await;
    let first = first.unwrap_or_else(|_| {
        Err(anyhow!(
            "--api: no answer within {:?}",
            config.request_timeout
        ))
    });
    let initial = match first {
        Ok(topics) => topics,
        Err(e) if e.chain().any(|c| c.is::<TokenRefused>()) => return Err(Failure::Config(e)),
        Err(e) => {
            tracing::warn!(
                "{e:#}; starting without topics, trying again every {:?}",
                config.poll
            );
            BTreeSet::new()
        }
    };
    tracing::info!(topics = ?initial, group = %config.group, app = %config.app, "relaying");

    let (levels_tx, mut levels_rx) = mpsc::unbounded_channel();
    let (topics_tx, topics_rx) = watch::channel(initial);
    let brokers = config.brokers.as_str();
    let metrics = RelayMetrics::new();
    let courier = Arc::new(Courier {
        client: DispatchClient::new(
            &config.app,
            config.key,
            config.request_timeout,
            metrics.clone(),
        )
        .map_err(Failure::Runtime)?,
        outbox: Outbox::new(
            brokers,
            config.settings,
            config.outbox_topics.clone(),
            levels_tx.clone(),
        )
        .map_err(broker_config)?,
        metrics,
    });
    if let Some(addr) = config.metrics_listen {
        metrics::serve(courier.metrics.clone(), addr)
            .await
            .map_err(Failure::Config)?;
    }
    let watcher = TopicWatch {
        source: config.topics,
        creator: TopicCreator::new(brokers, config.settings).map_err(broker_config)?,
        outbox_topics: config.outbox_topics,
        every: config.poll,
    };
    let feed = Feed::new(brokers, &config.group, config.session_timeout_ms, "records")
        .map_err(broker_config)?;

    let mut tasks = JoinSet::new();
    tasks.spawn(watcher.run(topics_tx, levels_tx, shutdown.clone()));
    tasks.spawn(stream::run(
        feed,
        courier.clone(),
        topics_rx,
        config.limits,
        shutdown.clone(),
    ));
    let mut levels = BTreeSet::new();
    loop {
        tokio::select! {
            Some(level) = levels_rx.recv() => {
                if !levels.insert(level) {
                    continue;
                }
                let group = format!("{}.retry.{level}", config.group);
                let feed = Feed::new(brokers, &group, config.session_timeout_ms, &format!("retries {level}"))
                    .map_err(broker_config)?;
                tasks.spawn(retry::run(level, feed, courier.clone(), config.limits, shutdown.clone()));
            }
            Some(done) = tasks.join_next() => match done {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(Failure::Runtime(e)),
                Err(e) => return Err(Failure::Runtime(anyhow!("a relay task failed: {e}"))),
            },
            () = requested(shutdown.clone()) => break,
        }
    }
    // Every task watches `shutdown` too; let them leave their batches.
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!("while stopping: {e:#}"),
            Err(e) => tracing::warn!("while stopping: {e}"),
        }
    }
    tracing::info!("stopped");
    Ok(())
}

fn broker_config(e: anyhow::Error) -> Failure {
    Failure::Config(e.context("--brokers"))
}
