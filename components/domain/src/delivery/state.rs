//! Delivery bookkeeping: each trigger's delivery state (what its owner sees as `delivery`, the
//! claims being sent and the recent ones finished, see [`crate::claims`]), what an answer from a
//! push service or webhook means, and the retry schedule.
//!
//! The state of trigger `t` lives under `delivery/<t>`, changed only by compare-and-swap, so two
//! dispatchers racing on one redelivered batch cannot both claim a pair. It is bounded: it keeps
//! the last [`RECENT`] finished claims (a redelivery replays at most the relay's uncommitted
//! batches, far fewer) and at most as many leases, and it is deleted with the trigger.

use std::collections::VecDeque;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::answer::Answer;
use crate::cas;
use crate::claims::Lease;
use crate::error::{ApiError, ApiResult};
use crate::keys;
use crate::kv::KeyValue;
use crate::source::Source;
use crate::stored::{decode_trigger, encode_trigger};
use crate::trigger::{Status, Trigger};
use crate::vault::Keyring;

/// How many recent claims a trigger remembers.
pub const RECENT: usize = 512;
/// The default retry schedule, in the spirit of Svix: seconds, then minutes, then hours.
pub const DEFAULT_SCHEDULE: &str = "5s,5m,30m,2h,5h,10h";

/// What happened on the last attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// RFC 3339.
    pub at: String,
    /// The event.
    pub event_id: String,
    /// `delivered`, `retrying`, `failed`, `gone`.
    pub outcome: String,
    /// The HTTP status, when there was an answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Why the trigger's message template did not render, when it did not: the default text
    /// went out instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_error: Option<String>,
}

/// The most entries a trigger's delivery log keeps ([`DeliveryState::log`]).
pub const LOG_LEN: usize = 10;
/// The longest error a log entry keeps, in characters.
pub const LOG_ERROR_CHARS: usize = 200;
/// At most this many log entries keep their record, to be sent again (`Gone` and `Failed` ones:
/// what no retry will send); older ones lose it first.
pub const RESENDABLE: usize = 3;
/// The largest record (its base64 value) a log entry keeps.
pub const RESENDABLE_BYTES: usize = 6 * 1024;

/// One event in a trigger's delivery log: its latest attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Logged {
    /// RFC 3339 of the attempt.
    pub at: String,
    /// The event.
    pub event_id: String,
    /// Its block, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block: Option<u64>,
    /// `delivered`, `retrying`, `throttled`, `failed`, `gone`.
    pub outcome: String,
    /// The HTTP status, when there was an answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Why it did not go through, in words, when it did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The broker record, kept for an attempt no retry will repeat (gone, failed) so its owner
    /// can send it again (`POST /api/triggers/{id}/deliveries/{event id}/resend`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<crate::dispatch::Record>,
}

impl Logged {
    /// As the trigger's owner sees it: whether it can be sent again, not the record itself.
    pub fn view(&self) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Some(obj) = v.as_object_mut() {
            obj.remove("record");
            obj.insert("resendable".into(), Value::Bool(self.record.is_some()));
        }
        v
    }
}

/// One trigger's delivery state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryState {
    /// Finished `(event, attempt)` claims ([`claim_key`], marked when retried), oldest first.
    #[serde(default)]
    pub recent: VecDeque<String>,
    /// Claims being delivered ([`crate::claims`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub leases: Vec<Lease>,
    /// The last attempt.
    #[serde(default)]
    pub last_attempt: Option<Attempt>,
    /// RFC 3339 of the last success.
    #[serde(default)]
    pub last_success_at: Option<String>,
    /// The last error, in words.
    #[serde(default)]
    pub last_error: Option<String>,
    /// Failures since the last success.
    #[serde(default)]
    pub consecutive_failures: u32,
    /// Successful deliveries, all time.
    #[serde(default)]
    pub delivered: u64,
    /// The last [`LOG_LEN`] events' latest attempts, oldest first: written in the same
    /// compare-and-swap as the rest, so it costs no key-value operation of its own.
    #[serde(default, skip_serializing_if = "VecDeque::is_empty")]
    pub log: VecDeque<Logged>,
}

impl DeliveryState {
    /// The record of `event_id`'s delivery that no retry will repeat, kept to be sent again.
    pub fn resendable(&self, event_id: &str) -> Option<&crate::dispatch::Record> {
        self.log
            .iter()
            .find(|l| l.event_id == event_id)
            .and_then(|l| l.record.as_ref())
    }

    /// What the trigger's owner sees.
    pub fn view(&self) -> Value {
        json!({
            "last_attempt": self.last_attempt,
            "last_success_at": self.last_success_at,
            "last_error": self.last_error,
            "consecutive_failures": self.consecutive_failures,
            "delivered": self.delivered,
            "log": self.log.iter().rev().map(Logged::view).collect::<Vec<_>>(),
        })
    }
}

/// The de-duplication key of one attempt: the event id's first 128 bits and the attempt number.
pub fn claim_key(event_id: &str, round: impl Into<Round>) -> String {
    let Round { attempt, throttled } = round.into();
    let hex = event_id.trim_start_matches("0x");
    let short = hex.get(..32).unwrap_or(hex);
    match throttled {
        0 => format!("{short}/{attempt}"),
        n => format!("{short}/{attempt}t{n}"),
    }
}

/// Which try of a delivery this is: its retry level (0 for the first try), and how often a
/// destination that asked for time put it back on that level. Each round is claimed apart, so a
/// throttled delivery is sent again, while a replayed round is still sent once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Round {
    /// The retry level: the step of the retry schedule it waited for.
    pub attempt: u32,
    /// Times throttled on this level.
    pub throttled: u32,
}

impl From<u32> for Round {
    fn from(attempt: u32) -> Self {
        Self {
            attempt,
            throttled: 0,
        }
    }
}

/// What an answer (or its absence) means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Taken.
    Delivered,
    /// Worth trying again later.
    Retry(String),
    /// The destination asked us to slow down (429, a 503 with `Retry-After`, or an earlier
    /// request's 429 held this one back): tried again after the wait it asked for, or the
    /// schedule's next step if longer, and not counted as a failure of the destination.
    Throttled {
        /// What the destination said.
        why: String,
        /// How long it asked to wait, when it said.
        wait: Option<Duration>,
    },
    /// The destination is gone for good (404/410 from a push service, 410 from a webhook).
    Gone(String),
    /// Refused in a way retrying cannot fix (a push service's 400/401/403/413).
    Failed(String),
}

impl Outcome {
    /// The outcome of an answer that is not the destination's own: no answer at all (retried),
    /// or held back behind another request's 429 (throttled); `None` for a real answer.
    pub fn without_response(answer: &Answer) -> Option<Self> {
        match answer {
            Answer::Response(_) => None,
            Answer::NoAnswer(why) => Some(Self::Retry(why.clone())),
            Answer::Held { why, retry_after } => Some(Self::Throttled {
                why: why.clone(),
                wait: *retry_after,
            }),
        }
    }

    /// A 429, or a 503 that says when to come back: the destination is asking for time.
    fn throttled(answer: &Answer, who: &str) -> Option<Self> {
        let status = answer.status()?;
        let wait = answer.retry_after();
        (status == 429 || (status == 503 && wait.is_some())).then(|| Self::Throttled {
            why: format!("{who} answered {status}"),
            wait,
        })
    }
}

/// Classifies a push service's answer (RFC 8030 section 8; what Mozilla and Google answer).
pub fn classify_push(answer: &Answer) -> Outcome {
    if let Some(outcome) =
        Outcome::without_response(answer).or_else(|| Outcome::throttled(answer, "the push service"))
    {
        return outcome;
    }
    match answer.status().unwrap_or_default() {
        s if (200..300).contains(&s) => Outcome::Delivered,
        s @ (404 | 410) => Outcome::Gone(format!(
            "the push service answered {s}: the browser's subscription expired or was removed"
        )),
        413 => Outcome::Failed("the push service refused the message as too large (413)".into()),
        s @ (401 | 403) => Outcome::Failed(format!(
            "the push service refused the VAPID authorization ({s}): the subscription was made with another application server key"
        )),
        s @ 400..=499 => Outcome::Failed(format!("the push service refused the message ({s})")),
        s => Outcome::Retry(format!("the push service answered {s}")),
    }
}

/// Classifies a webhook's answer: any 2xx is taken, 410 unsubscribes (as REST hooks do), 429 and
/// a 503 with `Retry-After` throttle, every other answer and every network error is retried.
pub fn classify_webhook(answer: &Answer) -> Outcome {
    if let Some(outcome) =
        Outcome::without_response(answer).or_else(|| Outcome::throttled(answer, "the webhook"))
    {
        return outcome;
    }
    match answer.status().unwrap_or_default() {
        s if (200..300).contains(&s) => Outcome::Delivered,
        410 => Outcome::Gone("the webhook answered 410 Gone".into()),
        s => Outcome::Retry(format!("the webhook answered {s}")),
    }
}

/// When retries happen: the delay before retry 1, 2, … .
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule(Vec<Duration>);

impl Default for RetrySchedule {
    fn default() -> Self {
        Self::parse(DEFAULT_SCHEDULE).unwrap_or(Self(Vec::new()))
    }
}

impl RetrySchedule {
    /// Parses `5s,5m,30m` (humantime durations, comma-separated; empty: no retries).
    pub fn parse(text: &str) -> Result<Self, String> {
        text.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| humantime::parse_duration(s).map_err(|e| format!("{s:?}: {e}")))
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    /// The delay before retry `attempt` (1-based); `None` once the schedule is used up.
    pub fn delay(&self, attempt: u32) -> Option<Duration> {
        let index = usize::try_from(attempt).ok()?.checked_sub(1)?;
        self.0.get(index).copied()
    }

    /// How many retries follow the first attempt.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether failures are never retried.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Delivery state and trigger reads for the dispatcher, over a store.
pub struct Deliveries<'a, S: KeyValue + ?Sized> {
    pub(crate) kv: &'a S,
    ring: &'a Keyring,
}

impl<'a, S: KeyValue + ?Sized> Deliveries<'a, S> {
    /// Over `kv`, whose trigger records are sealed with `ring`.
    pub fn new(kv: &'a S, ring: &'a Keyring) -> Self {
        Self { kv, ring }
    }

    /// The sources with these ids, in one read (absent ones are `None`).
    pub fn sources(&self, ids: &[String]) -> ApiResult<Vec<Option<Source>>> {
        let keys: Vec<String> = ids.iter().map(|id| keys::source(id)).collect();
        keys.iter()
            .zip(self.kv.get_many(&keys)?)
            .map(|(k, v)| v.map(|b| cas::decode(k, &b)).transpose())
            .collect()
    }

    /// A trigger by id, without its token: for the dispatcher only.
    pub fn trigger(&self, id: &str) -> ApiResult<Option<Trigger>> {
        let key = keys::trigger(id);
        self.kv
            .get(&key)?
            .map(|b| decode_trigger(&key, &b, self.ring))
            .transpose()
    }

    /// A trigger's delivery state (default when it never had a delivery).
    pub fn state(&self, trigger_id: &str) -> ApiResult<DeliveryState> {
        let key = keys::delivery(trigger_id);
        Ok(self
            .kv
            .get(&key)?
            .map(|b| cas::decode(&key, &b))
            .transpose()?
            .unwrap_or_default())
    }

    /// Pauses a trigger with the reason in its status (the page shows it), unless its owner
    /// changed it meanwhile (compare-and-swap on the record).
    pub fn deactivate(&self, trigger_id: &str, reason: &str, now: &str) -> ApiResult<()> {
        let key = keys::trigger(trigger_id);
        for _ in 0..cas::MAX_CAS_ATTEMPTS {
            let Some(current) = self.kv.get(&key)? else {
                return Ok(());
            };
            let mut trigger = decode_trigger(&key, &current, self.ring)?;
            if !trigger.status.active {
                return Ok(());
            }
            trigger.status = Status {
                active: false,
                date_changed: now.to_owned(),
                reason: Some(reason.to_owned()),
            };
            if self.kv.compare_and_swap(
                &key,
                Some(&current),
                &encode_trigger(&trigger, self.ring)?,
            )? {
                return Ok(());
            }
        }
        Err(ApiError::internal(format!(
            "could not deactivate {trigger_id}: too many concurrent changes"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_classified() {
        let s = Answer::status_only;
        assert_eq!(classify_push(&s(201)), Outcome::Delivered);
        assert!(matches!(classify_push(&s(410)), Outcome::Gone(_)));
        assert!(matches!(classify_push(&s(404)), Outcome::Gone(_)));
        assert!(matches!(classify_push(&s(429)), Outcome::Throttled { .. }));
        assert!(matches!(classify_push(&s(502)), Outcome::Retry(_)));
        assert!(matches!(classify_push(&s(503)), Outcome::Retry(_)));
        assert!(matches!(classify_push(&s(403)), Outcome::Failed(_)));
        assert!(matches!(classify_push(&s(301)), Outcome::Retry(_)));
        assert!(matches!(
            classify_push(&Answer::none("timeout")),
            Outcome::Retry(_)
        ));
        assert!(matches!(classify_webhook(&s(400)), Outcome::Retry(_)));
        assert!(matches!(classify_webhook(&s(410)), Outcome::Gone(_)));
        let busy = Answer::Response(crate::answer::Response {
            status: 503,
            retry_after: Some(Duration::from_secs(7)),
            body: Vec::new(),
        });
        assert_eq!(
            classify_webhook(&busy),
            Outcome::Throttled {
                why: "the webhook answered 503".into(),
                wait: Some(Duration::from_secs(7))
            }
        );
        let held = Answer::Held {
            why: "held".into(),
            retry_after: None,
        };
        assert!(matches!(
            classify_webhook(&held),
            Outcome::Throttled { wait: None, .. }
        ));
    }

    #[test]
    fn schedules_parse_and_end() {
        let s = RetrySchedule::default();
        assert_eq!(s.delay(1), Some(Duration::from_secs(5)));
        assert_eq!(s.delay(6), Some(Duration::from_secs(36_000)));
        assert_eq!(s.delay(7), None);
        assert_eq!(s.delay(0), None);
        let fast = RetrySchedule::parse("200ms, 1s").expect("parse");
        assert_eq!(fast.len(), 2);
        assert!(RetrySchedule::parse("soon").is_err());
        assert!(RetrySchedule::parse("").expect("empty").is_empty());
    }
}
