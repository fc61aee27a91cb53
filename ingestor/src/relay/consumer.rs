//! One consumer-group member and the batches it reads: a batch is handed out, held while its
//! delivery is retried (the member keeps polling so the group still counts it alive, but its
//! partitions are paused), and committed once the app has taken it.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context, Result};
use rdkafka::client::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::KafkaError;
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::watch;
use tokio::time::Instant;

use super::wire::posted_size;
use crate::pipeline::requested;
use crate::sink::QuietContext;

/// Counts rebalances, so a held batch knows when its partitions may have moved to another member.
struct RelayContext {
    quiet: QuietContext,
    generation: watch::Sender<u64>,
}

impl ClientContext for RelayContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        self.quiet.log(level, fac, message)
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.quiet.error(error, reason)
    }
}

impl ConsumerContext for RelayContext {
    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => tracing::info!(partitions = tpl.count(), "assigned"),
            Rebalance::Revoke(tpl) => tracing::debug!(partitions = tpl.count(), "revoked"),
            Rebalance::Error(e) => tracing::warn!("rebalance: {e}"),
        }
        self.generation.send_modify(|g| *g += 1);
    }
}

/// How batches are cut.
#[derive(Debug, Clone, Copy)]
pub struct BatchLimits {
    /// At most this many records.
    pub max: usize,
    /// At most about this many bytes posted (a record larger than this alone goes alone).
    pub max_bytes: usize,
    /// Wait at most this long for more records after the first.
    pub linger: Duration,
}

/// How holding a batch ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// The time is up; the batch is still ours.
    Elapsed,
    /// The group rebalanced: the batch may belong to another member now; drop it (it is
    /// redelivered from the committed offsets).
    Rebalanced,
    /// Shutdown was requested.
    Shutdown,
}

/// A consumer-group member of the relay.
pub struct Feed {
    consumer: StreamConsumer<RelayContext>,
    generation: watch::Receiver<u64>,
    // Read from the broker but not handed out yet, in broker order.
    pending: VecDeque<OwnedMessage>,
    name: String,
    last_error: Mutex<Option<String>>,
}

impl Feed {
    /// A member of `group` on `brokers`; `name` labels its log lines.
    pub fn new(brokers: &str, group: &str, session_timeout_ms: u64, name: &str) -> Result<Self> {
        let (generation, watching) = watch::channel(0);
        let consumer: StreamConsumer<RelayContext> = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("group.id", group)
            // Offsets move only when the app has taken a batch.
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            // Latency: hand out records as soon as the broker has them.
            .set("fetch.wait.max.ms", "10")
            // Topics registered later are seen within a second of their creation.
            .set("topic.metadata.refresh.interval.ms", "1000")
            .set("session.timeout.ms", session_timeout_ms.to_string())
            .set(
                "heartbeat.interval.ms",
                (session_timeout_ms / 3).max(1).to_string(),
            )
            .create_with_context(RelayContext {
                quiet: QuietContext::default(),
                generation,
            })
            .context("cannot create the Kafka consumer")?;
        Ok(Self {
            consumer,
            generation: watching,
            pending: VecDeque::new(),
            name: name.to_owned(),
            last_error: Mutex::new(None),
        })
    }

    /// Consumes exactly `topics` from now on (nothing, when empty).
    pub fn subscribe(&mut self, topics: &BTreeSet<String>) -> Result<()> {
        if topics.is_empty() {
            self.consumer.unsubscribe();
            return Ok(());
        }
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        self.consumer
            .subscribe(&names)
            .with_context(|| format!("cannot subscribe to {names:?}"))
    }

    /// The next batch: waits for a first record (empty if `stop` resolves first), then takes what
    /// arrives within the linger time, up to the limit.
    pub async fn next_batch(
        &mut self,
        limits: BatchLimits,
        stop: impl Future<Output = ()>,
    ) -> Vec<OwnedMessage> {
        tokio::pin!(stop);
        let mut seen = *self.generation.borrow();
        let mut batch = Vec::new();
        let mut bytes = 0;
        let mut deadline = None;
        while batch.len() < limits.max {
            if let Some(m) = self.pending.pop_front() {
                let size = posted_size(&m);
                if !batch.is_empty() && bytes + size > limits.max_bytes {
                    self.pending.push_front(m);
                    break;
                }
                bytes += size;
                batch.push(m);
                continue;
            }
            let consumer = &self.consumer;
            let received = match deadline {
                None => tokio::select! {
                    r = consumer.recv() => r.map(|m| m.detach()),
                    () = &mut stop => return Vec::new(),
                },
                Some(at) => match tokio::time::timeout_at(at, consumer.recv()).await {
                    Ok(r) => r.map(|m| m.detach()),
                    Err(_) => break,
                },
            };
            let now = *self.generation.borrow();
            if now != seen {
                // After a rebalance, partitions restart from their committed offsets: what was
                // read before would come again, so forget it.
                seen = now;
                batch.clear();
                bytes = 0;
                self.pending.clear();
                deadline = None;
            }
            match received {
                Ok(m) => {
                    // Over the size limit it waits in front for the next batch.
                    self.pending.push_back(m);
                    deadline.get_or_insert_with(|| Instant::now() + limits.linger);
                }
                Err(e) => self.complain(&e),
            }
        }
        batch
    }

    /// Puts records back in front of what is handed out next (they were read, not delivered).
    pub fn unread(&mut self, records: Vec<OwnedMessage>) {
        for m in records.into_iter().rev() {
            self.pending.push_front(m);
        }
    }

    /// Waits `d` (or until shutdown) while a batch is held: the partitions are paused so nothing
    /// new is fetched, and the consumer is polled so the group keeps this member and rebalances
    /// are noticed.
    pub async fn hold(&mut self, d: Duration, shutdown: &watch::Receiver<bool>) -> Hold {
        let seen = *self.generation.borrow();
        if let Ok(assigned) = self.consumer.assignment() {
            let _ = self.consumer.pause(&assigned);
        }
        let deadline = Instant::now() + d;
        let mut generation = self.generation.clone();
        let outcome = loop {
            let consumer = &self.consumer;
            let received = tokio::select! {
                () = tokio::time::sleep_until(deadline) => break Hold::Elapsed,
                () = requested(shutdown.clone()) => break Hold::Shutdown,
                _ = generation.changed() => None,
                r = consumer.recv() => Some(r.map(|m| m.detach())),
            };
            if *generation.borrow() != seen {
                break Hold::Rebalanced;
            }
            match received {
                // Partitions assigned meanwhile are not paused; keep their records in order.
                Some(Ok(m)) => self.pending.push_back(m),
                Some(Err(e)) => self.complain(&e),
                None => {}
            }
        };
        if outcome == Hold::Rebalanced {
            self.pending.clear();
        }
        // Resuming continues each partition after the last record read, held or pending.
        if let Ok(assigned) = self.consumer.assignment() {
            let _ = self.consumer.resume(&assigned);
        }
        outcome
    }

    /// Commits the offsets after `batch` (synchronously). A failure only means those records
    /// may come again; the app de-duplicates them.
    pub fn commit(&self, batch: &[OwnedMessage]) -> Result<()> {
        let mut next: BTreeMap<(&str, i32), i64> = BTreeMap::new();
        for m in batch {
            let offset = next.entry((m.topic(), m.partition())).or_insert(0);
            *offset = (*offset).max(m.offset() + 1);
        }
        if next.is_empty() {
            return Ok(());
        }
        let mut list = TopicPartitionList::new();
        for ((topic, partition), offset) in next {
            list.add_partition_offset(topic, partition, Offset::Offset(offset))
                .context("building the offsets to commit")?;
        }
        tokio::task::block_in_place(|| self.consumer.commit(&list, CommitMode::Sync))
            .context("cannot commit offsets")
    }

    fn complain(&self, e: &KafkaError) {
        let text = e.to_string();
        let mut last = self.last_error.lock().unwrap_or_else(|p| p.into_inner());
        if last.as_deref() != Some(text.as_str()) {
            tracing::warn!(consumer = %self.name, "{text}");
            *last = Some(text);
        }
    }
}
