//! What a `200` answer leaves for the broker: rejected records to the dead-letter topic, retries
//! to `<prefix>.<attempt>`. Everything is acknowledged before the batch's offsets are committed.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{anyhow, Result};
use rdkafka::message::{Header, Message, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use subxt::ext::futures::future::join_all;
use tokio::sync::{mpsc, Mutex};

use super::wire::ScheduledRetry;
use crate::sink::{idempotent_producer, QuietContext, TopicCreator, TopicSettings};

/// The header carrying a retry's due time (Unix milliseconds, decimal).
pub const DUE_AT_HEADER: &str = "aurras-due-at-ms";

/// Where dead letters and retries go.
#[derive(Debug, Clone)]
pub struct OutboxTopics {
    /// The dead-letter topic.
    pub dead_letter: String,
    /// Retry topics are `<prefix>.<attempt>`.
    pub retry_prefix: String,
}

impl OutboxTopics {
    /// The retry topic of `attempt`.
    pub fn retry(&self, attempt: u32) -> String {
        format!("{}.{attempt}", self.retry_prefix)
    }

    /// The attempt whose retry topic `topic` is, if it is one.
    pub fn level_of(&self, topic: &str) -> Option<u32> {
        topic
            .strip_prefix(&self.retry_prefix)?
            .strip_prefix('.')?
            .parse()
            .ok()
            .filter(|n| *n >= 1)
    }
}

/// The producer of dead letters and retries.
pub struct Outbox {
    producer: FutureProducer<QuietContext>,
    creator: Mutex<TopicCreator>,
    topics: OutboxTopics,
    // Retry levels that now have records: the relay makes sure each has a consumer.
    levels: mpsc::UnboundedSender<u32>,
}

impl Outbox {
    /// An outbox on `brokers`; topics it creates get `settings`.
    pub fn new(
        brokers: &str,
        settings: TopicSettings,
        topics: OutboxTopics,
        levels: mpsc::UnboundedSender<u32>,
    ) -> Result<Self> {
        Ok(Self {
            producer: idempotent_producer(brokers)?,
            creator: Mutex::new(TopicCreator::new(brokers, settings)?),
            topics,
            levels,
        })
    }

    /// The topic names.
    pub fn topics(&self) -> &OutboxTopics {
        &self.topics
    }

    /// Produces every dead letter and retry and waits for all acknowledgements.
    pub async fn settle(
        &self,
        rejected: &[(&OwnedMessage, String)],
        retries: &[ScheduledRetry],
    ) -> Result<()> {
        if rejected.is_empty() && retries.is_empty() {
            return Ok(());
        }
        let mut needed = BTreeSet::new();
        if !rejected.is_empty() {
            needed.insert(self.topics.dead_letter.clone());
        }
        needed.extend(retries.iter().map(|r| self.topics.retry(r.attempt)));
        self.creator.lock().await.ensure(&needed).await?;

        let values: Vec<Vec<u8>> = retries
            .iter()
            .map(|r| serde_json::to_vec(&r.item))
            .collect::<Result<_, _>>()?;
        let retry_topics: Vec<String> = retries
            .iter()
            .map(|r| self.topics.retry(r.attempt))
            .collect();
        let mut records: Vec<FutureRecord<'_, [u8], [u8]>> = rejected
            .iter()
            .map(|(message, reason)| self.dead_letter(message, reason))
            .collect();
        for ((retry, topic), value) in retries.iter().zip(&retry_topics).zip(&values) {
            let due = retry.due_at_ms.to_string();
            let headers = OwnedHeaders::new().insert(Header {
                key: DUE_AT_HEADER,
                value: Some(due.as_str()),
            });
            records.push(
                FutureRecord::to(topic)
                    .payload(value.as_slice())
                    .headers(headers),
            );
        }
        for result in join_all(records.into_iter().map(|r| self.send(r))).await {
            result?;
        }
        for r in retries {
            let _ = self.levels.send(r.attempt);
        }
        Ok(())
    }

    /// The rejected record, key and value unchanged, with where it came from and why.
    fn dead_letter<'a>(
        &'a self,
        message: &'a OwnedMessage,
        reason: &str,
    ) -> FutureRecord<'a, [u8], [u8]> {
        let partition = message.partition().to_string();
        let offset = message.offset().to_string();
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "aurras-reason",
                value: Some(reason),
            })
            .insert(Header {
                key: "aurras-topic",
                value: Some(message.topic()),
            })
            .insert(Header {
                key: "aurras-partition",
                value: Some(partition.as_str()),
            })
            .insert(Header {
                key: "aurras-offset",
                value: Some(offset.as_str()),
            });
        let mut record = FutureRecord::to(&self.topics.dead_letter).headers(headers);
        if let Some(key) = message.key() {
            record = record.key(key);
        }
        if let Some(value) = message.payload() {
            record = record.payload(value);
        }
        record
    }

    async fn send(&self, record: FutureRecord<'_, [u8], [u8]>) -> Result<()> {
        self.producer
            .send(record, Duration::from_secs(10))
            .await
            .map(|_| ())
            .map_err(|(e, _)| anyhow!("the broker did not acknowledge a record: {e}"))
    }
}
