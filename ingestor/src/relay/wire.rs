//! The relay → dispatch contract of docs/delivery.md, as the relay sees it: records and due
//! retries out, outcomes and scheduled retries back. Retry items stay opaque JSON, passed back
//! unchanged.

use anyhow::{bail, Result};
use aurras_domain::dispatch::{encode_bytes, Record, RecordOutcome, RecordResult};
use rdkafka::message::{Message, OwnedMessage};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The highest retry attempt an answer may schedule: far beyond any sane schedule, low enough
/// that a broken answer cannot make the relay create topics without end.
pub const MAX_ATTEMPT: u32 = 100;

/// A retry that is due, as posted back.
#[derive(Debug, Clone, Serialize)]
pub struct DueRetry {
    /// Which attempt this is (1 for the first retry).
    pub attempt: u32,
    /// The item exactly as the app gave it.
    pub item: Value,
}

/// The body of `POST <app>/dispatch`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DispatchBatch {
    /// New records.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub records: Vec<Record>,
    /// Retries that are due.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub retries: Vec<DueRetry>,
}

impl DispatchBatch {
    /// Whether there is nothing to post.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty() && self.retries.is_empty()
    }

    /// How many items (records, then retries) it carries.
    pub fn len(&self) -> usize {
        self.records.len() + self.retries.len()
    }

    /// The items in `range`, counting records first, then retries.
    pub fn slice(&self, range: std::ops::Range<usize>) -> DispatchBatch {
        let n = self.records.len();
        let records = self.records[range.start.min(n)..range.end.min(n)].to_vec();
        let retries = self.retries[range.start.saturating_sub(n).min(self.retries.len())
            ..range.end.saturating_sub(n).min(self.retries.len())]
            .to_vec();
        DispatchBatch { records, retries }
    }
}

/// The bytes a record adds to a posted batch: base64 of its key and value (4/3 of them) and the
/// JSON around them. An estimate from above, for cutting batches by size before encoding them.
pub fn posted_size(message: &OwnedMessage) -> usize {
    let raw = message.payload().map_or(0, <[u8]>::len) + message.key().map_or(0, <[u8]>::len);
    raw.div_ceil(3) * 4 + message.topic().len() + 160
}

/// A delivery the app asks to try again later.
#[derive(Debug, Clone, Deserialize)]
pub struct ScheduledRetry {
    /// The attempt it will be.
    pub attempt: u32,
    /// When it is due, in Unix milliseconds.
    pub due_at_ms: u64,
    /// Opaque: posted back unchanged.
    pub item: Value,
}

/// The `200` answer.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Answer {
    /// What became of each record.
    #[serde(default)]
    pub records: Vec<RecordResult>,
    /// Deliveries to hold in the retry topics.
    #[serde(default)]
    pub retries: Vec<ScheduledRetry>,
}

impl Answer {
    /// Parses a `200` body; one that does not follow the contract counts as no answer.
    pub fn parse(body: &[u8]) -> Result<Self> {
        let answer: Answer = serde_json::from_slice(body)?;
        if let Some(bad) = answer
            .retries
            .iter()
            .find(|r| !(1..=MAX_ATTEMPT).contains(&r.attempt))
        {
            bail!("retry attempt {} is outside 1..={MAX_ATTEMPT}", bad.attempt);
        }
        Ok(answer)
    }

    /// The records of `batch` the app refused for good, with the reason.
    pub fn rejections<'a>(&self, batch: &'a [OwnedMessage]) -> Vec<(&'a OwnedMessage, String)> {
        self.records
            .iter()
            .filter(|r| r.outcome == RecordOutcome::Rejected)
            .filter_map(|r| {
                let found = batch.iter().find(|m| {
                    m.topic() == r.topic && m.partition() == r.partition && m.offset() == r.offset
                });
                if found.is_none() {
                    tracing::warn!(
                        topic = %r.topic,
                        partition = r.partition,
                        offset = r.offset,
                        "the app rejected a record that was not in the batch; ignored"
                    );
                }
                let reason = r
                    .reason
                    .clone()
                    .unwrap_or_else(|| "rejected by the app".to_owned());
                found.map(|m| (m, reason))
            })
            .collect()
    }
}

/// A broker record as the contract carries it: key and value in base64.
pub fn record(message: &OwnedMessage) -> Record {
    Record {
        topic: message.topic().to_owned(),
        partition: message.partition(),
        offset: message.offset(),
        key: message.key().map(encode_bytes),
        value: encode_bytes(message.payload().unwrap_or_default()),
        timestamp: message.timestamp().to_millis(),
    }
}

/// `rly_<hex>`: derived from the batch's (topic, partition, offset) list, so every attempt at the
/// same batch carries the same `webhook-id`.
pub fn batch_id<'a>(batch: impl IntoIterator<Item = &'a OwnedMessage>) -> String {
    let mut hash = Sha256::new();
    for m in batch {
        hash.update(m.topic().as_bytes());
        hash.update(format!("\0{}\0{}\n", m.partition(), m.offset()).as_bytes());
    }
    format!("rly_{}", hex::encode(&hash.finalize()[..16]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::message::Timestamp;

    fn message(topic: &str, partition: i32, offset: i64) -> OwnedMessage {
        OwnedMessage::new(
            Some(b"{}".to_vec()),
            Some(b"k".to_vec()),
            topic.to_owned(),
            Timestamp::CreateTime(1_732_790_000_000),
            partition,
            offset,
            None,
        )
    }

    #[test]
    fn batch_ids_are_stable_and_distinct() {
        let a = [message("t", 0, 1), message("t", 0, 2)];
        let b = [message("t", 0, 1), message("t", 1, 2)];
        assert_eq!(batch_id(&a), batch_id(&a.clone()));
        assert_ne!(batch_id(&a), batch_id(&b));
        assert!(batch_id(&a).starts_with("rly_"));
        assert_eq!(batch_id(&a).len(), 4 + 32);
    }

    #[test]
    fn batches_slice_across_records_and_retries_and_sizes_bound_the_body() {
        let m = message("paseo.Balances.Transfer", 0, 1);
        let batch = DispatchBatch {
            records: vec![record(&m), record(&m), record(&m)],
            retries: vec![
                DueRetry {
                    attempt: 1,
                    item: Value::from(1),
                },
                DueRetry {
                    attempt: 1,
                    item: Value::from(2),
                },
            ],
        };
        assert_eq!(batch.len(), 5);
        let middle = batch.slice(2..4);
        assert_eq!((middle.records.len(), middle.retries.len()), (1, 1));
        assert_eq!(middle.retries[0].item, Value::from(1));
        assert_eq!(batch.slice(3..5).retries.len(), 2);
        assert_eq!(batch.slice(0..2).retries.len(), 0);
        let body = serde_json::to_vec(&DispatchBatch {
            records: vec![record(&m)],
            retries: Vec::new(),
        })
        .expect("json");
        assert!(
            body.len() <= posted_size(&m),
            "{} > {}",
            body.len(),
            posted_size(&m)
        );
    }

    #[test]
    fn records_carry_base64_and_the_broker_timestamp() {
        let r = record(&message("paseo.Balances.Transfer", 3, 42));
        assert_eq!(r.key.as_deref(), Some("aw=="));
        assert_eq!(r.value, "e30=");
        assert_eq!(r.timestamp, Some(1_732_790_000_000));
        assert_eq!((r.partition, r.offset), (3, 42));
    }

    #[test]
    fn answers_are_checked() {
        let batch = [message("t", 0, 7), message("t", 0, 8)];
        let answer = Answer::parse(
            br#"{"records": [{"topic": "t", "partition": 0, "offset": 7, "outcome": "accepted"},
                             {"topic": "t", "partition": 0, "offset": 8, "outcome": "rejected",
                              "reason": "not an envelope"},
                             {"topic": "t", "partition": 0, "offset": 9, "outcome": "rejected"}],
                 "retries": [{"attempt": 1, "due_at_ms": 5, "item": {"x": 1}}]}"#,
        )
        .expect("valid");
        let rejected = answer.rejections(&batch);
        assert_eq!(rejected.len(), 1);
        assert_eq!(rejected[0].0.offset(), 8);
        assert_eq!(rejected[0].1, "not an envelope");
        assert!(Answer::parse(b"{}").is_ok());
        assert!(Answer::parse(b"<html>").is_err());
        assert!(
            Answer::parse(br#"{"retries": [{"attempt": 0, "due_at_ms": 5, "item": 1}]}"#).is_err()
        );
    }
}
