//! The broker side: topics created on demand, records produced idempotently and acknowledged by
//! every in-sync replica before a block counts as done.

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use aurras_domain::envelope::Envelope;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use std::sync::Mutex;

use rdkafka::client::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use subxt::ext::futures::future::join_all;

/// The acknowledgements of records sent: resolves once the broker has every one of them, or with
/// the first failure.
pub type Acks = Pin<Box<dyn Future<Output = Result<()>> + Send>>;

/// Topic settings for topics the sink creates.
#[derive(Debug, Clone, Copy)]
pub struct TopicSettings {
    /// Partitions per topic.
    pub partitions: i32,
    /// Replicas per partition.
    pub replication: i32,
}

/// Reports librdkafka's client errors once per change instead of twice a second: while a broker
/// is down, librdkafka repeats "all brokers down" until it is back, and the pipeline already says
/// it is retrying.
#[derive(Default)]
pub struct QuietContext {
    last_error: Mutex<Option<String>>,
}

impl ClientContext for QuietContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        match level {
            RDKafkaLogLevel::Emerg | RDKafkaLogLevel::Alert | RDKafkaLogLevel::Critical => {
                tracing::error!(target: "librdkafka", "{fac}: {message}")
            }
            _ => tracing::debug!(target: "librdkafka", "{fac}: {message}"),
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        let text = format!("{error}: {reason}");
        let mut last = self.last_error.lock().unwrap_or_else(|p| p.into_inner());
        if last.as_deref() != Some(text.as_str()) {
            tracing::warn!(target: "librdkafka", "{text}");
            *last = Some(text);
        }
    }
}

/// An idempotent producer whose records count as sent only once every in-sync replica has them.
pub fn idempotent_producer(brokers: &str) -> Result<FutureProducer<QuietContext>> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        // Retries after a lost acknowledgement must not duplicate records.
        .set("enable.idempotence", "true")
        .set("acks", "all")
        // A record that cannot be delivered in this time fails its block (or batch), which is
        // retried whole after a backoff.
        .set("message.timeout.ms", "30000")
        .set("linger.ms", "5");
    config
        .create_with_context(QuietContext::default())
        .context("cannot create the Kafka producer")
}

/// Creates topics on demand, remembering the ones known to exist.
pub struct TopicCreator {
    admin: AdminClient<QuietContext>,
    settings: TopicSettings,
    ready: BTreeSet<String>,
}

impl TopicCreator {
    /// A creator for `brokers` (`host:port,…`). Nothing is contacted yet.
    pub fn new(brokers: &str, settings: TopicSettings) -> Result<Self> {
        let admin: AdminClient<QuietContext> = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .create_with_context(QuietContext::default())
            .context("cannot create the Kafka admin client")?;
        Ok(Self {
            admin,
            settings,
            ready: BTreeSet::new(),
        })
    }

    /// Creates the topics that do not exist yet.
    pub async fn ensure(&mut self, topics: &BTreeSet<String>) -> Result<()> {
        let missing: Vec<&String> = topics.iter().filter(|t| !self.ready.contains(*t)).collect();
        if missing.is_empty() {
            return Ok(());
        }
        let new: Vec<NewTopic<'_>> = missing
            .iter()
            .map(|t| {
                NewTopic::new(
                    t,
                    self.settings.partitions,
                    TopicReplication::Fixed(self.settings.replication),
                )
            })
            .collect();
        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
        let results = self
            .admin
            .create_topics(&new, &options)
            .await
            .context("cannot create topics")?;
        for result in results {
            match result {
                Ok(topic) | Err((topic, RDKafkaErrorCode::TopicAlreadyExists)) => {
                    tracing::info!(%topic, "topic ready");
                    self.ready.insert(topic);
                }
                Err((topic, code)) => return Err(anyhow!("cannot create topic {topic}: {code}")),
            }
        }
        Ok(())
    }

    /// The names of every topic on the broker (a blocking metadata request).
    pub fn existing(&self, timeout: Duration) -> Result<Vec<String>> {
        let metadata = self
            .admin
            .inner()
            .fetch_metadata(None, timeout)
            .context("cannot list the broker's topics")?;
        Ok(metadata
            .topics()
            .iter()
            .map(|t| t.name().to_owned())
            .collect())
    }
}

/// Produces envelopes to `<chain>.<Pallet>.<Event>` topics.
pub struct KafkaSink {
    producer: FutureProducer<QuietContext>,
    topics: TopicCreator,
}

impl KafkaSink {
    /// A sink for `brokers` (`host:port,…`). Nothing is contacted yet.
    pub fn new(brokers: &str, settings: TopicSettings) -> Result<Self> {
        Ok(Self {
            producer: idempotent_producer(brokers)?,
            topics: TopicCreator::new(brokers, settings)?,
        })
    }

    /// Creates the topics that do not exist yet.
    pub async fn ensure_topics(&mut self, topics: &BTreeSet<String>) -> Result<()> {
        self.topics.ensure(topics).await
    }

    /// Produces every envelope and waits for all acknowledgements.
    pub async fn produce(&self, envelopes: &[&Envelope]) -> Result<()> {
        self.send(envelopes).await?.await
    }

    /// Hands every envelope to the producer, in order, and returns a future of their
    /// acknowledgements, so the next block can be sent while this one's are awaited. The records
    /// of blocks sent one after the other reach each partition in that order.
    pub async fn send(&self, envelopes: &[&Envelope]) -> Result<Acks> {
        let mut deliveries = Vec::with_capacity(envelopes.len());
        for e in envelopes {
            let topic = e
                .topic()
                .ok_or_else(|| anyhow!("event {}.{} has no valid topic name", e.pallet, e.event))?
                .to_string();
            let payload = serde_json::to_vec(e)?;
            let key = e.key();
            loop {
                let record = FutureRecord::to(&topic).key(key).payload(&payload);
                match self.producer.send_result(record) {
                    Ok(delivery) => break deliveries.push(delivery),
                    // The producer's queue is full: wait for it to drain rather than reorder.
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                        tokio::time::sleep(Duration::from_millis(20)).await
                    }
                    Err((e, _)) => return Err(anyhow!("the producer refused a record: {e}")),
                }
            }
        }
        Ok(Box::pin(async move {
            for delivery in join_all(deliveries).await {
                delivery
                    .map_err(|_| anyhow!("the producer was dropped"))?
                    .map_err(|(e, _)| anyhow!("the broker did not acknowledge a record: {e}"))?;
            }
            Ok(())
        }))
    }

    /// Waits for queued records to be delivered.
    pub fn flush(&self, timeout: Duration) -> Result<()> {
        self.producer
            .flush(timeout)
            .context("flushing the producer")
    }
}
