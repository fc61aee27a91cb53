//! The relay → dispatch wire contract (docs/delivery.md): the batch of broker records and due
//! retries the relay posts, and the answer per record and retry.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::envelope::Envelope;

/// The most records and retries one dispatch request may carry.
pub const MAX_BATCH: usize = 500;

/// One broker record, as the relay forwards it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The offset.
    pub offset: i64,
    /// Base64 of the key, if the record has one.
    pub key: Option<String>,
    /// Base64 of the value.
    pub value: String,
    /// The broker timestamp (ms), if known.
    #[serde(default)]
    pub timestamp: Option<i64>,
}

/// A delivery to try again: opaque to the relay, which passes it back unchanged when it is due.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryItem {
    /// The trigger to deliver to.
    pub trigger: String,
    /// The event's record.
    pub record: Record,
    /// Times the destination asked for time on this retry level (see [`Round`]).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub throttled: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A retry coming back from the relay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DueRetry {
    /// Which attempt this is (1 for the first retry).
    pub attempt: u32,
    /// What to retry.
    pub item: RetryItem,
}

/// `POST /dispatch`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DispatchRequest {
    /// New records.
    #[serde(default)]
    pub records: Vec<Record>,
    /// Retries that are due.
    #[serde(default)]
    pub retries: Vec<DueRetry>,
}

/// What became of one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordOutcome {
    /// The app took responsibility for it (delivered, scheduled for retry, or nothing matched).
    Accepted,
    /// Never deliverable (not an envelope): the relay dead-letters it.
    Rejected,
}

/// One record's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordResult {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The offset.
    pub offset: i64,
    /// Accepted or rejected.
    pub outcome: RecordOutcome,
    /// Why it was rejected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A retry the relay must hold until it is due.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduledRetry {
    /// The attempt it will be.
    pub attempt: u32,
    /// When, in Unix milliseconds.
    pub due_at_ms: u64,
    /// What to pass back.
    pub item: RetryItem,
}

/// The `200` answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DispatchResponse {
    /// One entry per record of the request.
    pub records: Vec<RecordResult>,
    /// Deliveries to retry later.
    pub retries: Vec<ScheduledRetry>,
}

impl Record {
    /// The record's value bytes.
    pub fn value_bytes(&self) -> Result<Vec<u8>, String> {
        STANDARD
            .decode(&self.value)
            .map_err(|e| format!("the value is not base64: {e}"))
    }

    /// The record's key bytes.
    pub fn key_bytes(&self) -> Result<Option<Vec<u8>>, String> {
        self.key
            .as_deref()
            .map(|k| {
                STANDARD
                    .decode(k)
                    .map_err(|e| format!("the key is not base64: {e}"))
            })
            .transpose()
    }

    /// The envelope in the value, or why there is none.
    pub fn envelope(&self) -> Result<Envelope, String> {
        let bytes = self.value_bytes()?;
        let envelope: Envelope =
            serde_json::from_slice(&bytes).map_err(|e| format!("not an event envelope: {e}"))?;
        let topic = envelope
            .topic()
            .ok_or_else(|| format!("envelope {} names no valid event", envelope.id))?;
        if topic.as_str() != self.topic {
            return Err(format!(
                "envelope {} is {topic}, but arrived on topic {}",
                envelope.id, self.topic
            ));
        }
        Ok(envelope)
    }

    /// An accepted answer for this record.
    pub fn accepted(&self) -> RecordResult {
        self.result(RecordOutcome::Accepted, None)
    }

    /// A rejected answer for this record.
    pub fn rejected(&self, reason: String) -> RecordResult {
        self.result(RecordOutcome::Rejected, Some(reason))
    }

    fn result(&self, outcome: RecordOutcome, reason: Option<String>) -> RecordResult {
        RecordResult {
            topic: self.topic.clone(),
            partition: self.partition,
            offset: self.offset,
            outcome,
            reason,
        }
    }
}

/// Base64 (standard) of bytes, as records carry keys and values.
pub fn encode_bytes(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}
