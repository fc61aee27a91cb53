//! Claims: which dispatcher sends attempt `n` of an event to a trigger, so that every
//! (event, trigger) pair is delivered **at least once** and, in the common case, once.
//!
//! A claim is a lease, not a tombstone. A dispatcher claims its jobs before sending (a
//! [`Lease`] under its [`Holder`] token, good for a bounded time), and turns each claim into a
//! finished entry when it records the answer. A dispatcher that dies in between leaves leases
//! that expire: the relay's redelivery then takes them over and sends again. A copy sent twice
//! carries the same `webhook-id` and push `Topic`, so receivers and push services collapse it.
//!
//! The holder token is what makes a claim that was won stay won: a backend that reports a swap
//! as lost after it landed (Spin's Redis swap, read back in `components/spin/src/store.rs`)
//! sends the update round again, which finds its own token and counts the claim as won.
//!
//! All claims of one trigger in one batch are made in one compare-and-swap, and all answers
//! recorded in one more: the store's cost per batch is two writes per trigger, not per job.

use serde::{Deserialize, Serialize};

use crate::answer::Answer;
use crate::cas;
use crate::delivery::{
    claim_key, Attempt, Deliveries, DeliveryState, Logged, Outcome, Round, LOG_ERROR_CHARS,
    LOG_LEN, RECENT, RESENDABLE, RESENDABLE_BYTES,
};
use crate::error::ApiResult;
use crate::keys;
use crate::kv::KeyValue;

/// Marks a finished claim whose attempt ended in a retry.
pub(crate) const RETRY_MARK: &str = "!retry";
/// Marks a finished claim whose destination asked for time.
pub(crate) const THROTTLE_MARK: &str = "!throttled";

/// How long a claim is held by default: longer than a dispatch request may take (its sends
/// give up after 15 s), short enough that a dead dispatcher's deliveries go out within a minute.
pub const DEFAULT_LEASE_MS: u64 = 60_000;

/// Parses the `claim_lease` setting: a positive duration (`60s`, `500ms`).
pub fn parse_lease(text: &str) -> Result<u64, String> {
    match humantime::parse_duration(text.trim()) {
        Ok(d) if !d.is_zero() => Ok(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        Ok(_) => Err("a lease must be longer than zero".into()),
        Err(e) => Err(format!("{text:?}: {e}")),
    }
}

/// One dispatch request's identity for its claims, and its clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// Unique per request.
    pub token: String,
    /// Now, in Unix milliseconds.
    pub now_ms: u64,
    /// How long its claims last.
    pub lease_ms: u64,
}

impl Holder {
    /// A holder with a fresh random token.
    pub fn new(now_ms: u64, lease_ms: u64) -> Self {
        Self {
            token: crate::secrets::claim_holder(),
            now_ms,
            lease_ms,
        }
    }

    fn until_ms(&self) -> u64 {
        self.now_ms.saturating_add(self.lease_ms)
    }
}

/// A claim being delivered: whose it is and until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// [`claim_key`] of the attempt.
    pub claim: String,
    /// The [`Holder`] token.
    pub holder: String,
    /// When another dispatcher may take it over (Unix ms).
    pub until_ms: u64,
}

/// The result of a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// This caller delivers.
    Won,
    /// Delivered (or finished for good) already.
    Taken,
    /// This attempt was made and ended in a retry: the retry must still be scheduled.
    TakenRetrying,
    /// This attempt was made and the destination asked for time: it must still be put back.
    TakenThrottled,
    /// Another dispatcher is delivering it and its lease runs until `until_ms`: if that one died,
    /// the attempt is this caller's to make once the lease expires.
    InFlight {
        /// When the lease expires (Unix ms).
        until_ms: u64,
    },
}

/// What an attempt ended in, for [`Deliveries::record_all`].
#[derive(Debug, Clone)]
pub struct Recorded<'a> {
    /// The event.
    pub event_id: &'a str,
    /// Its block, when known (for the delivery log).
    pub block: Option<u64>,
    /// Its broker record, when known: kept in the log for an attempt no retry will repeat.
    pub record: Option<&'a crate::dispatch::Record>,
    /// The round.
    pub round: Round,
    /// What came back.
    pub answer: &'a Answer,
    /// Why the message template fell back to the default text, if it did.
    pub template_error: Option<String>,
    /// What it means.
    pub outcome: &'a Outcome,
}

/// At most this many leases are kept per trigger; past it the oldest expired ones go first.
const MAX_LEASES: usize = RECENT;

impl DeliveryState {
    /// The event's entry in the log becomes this attempt (a retry updates it in place).
    fn log(&mut self, r: &Recorded<'_>, outcome: &str, error: Option<&String>, now: &str) {
        self.log.retain(|l| l.event_id != r.event_id);
        let last_word = matches!(r.outcome, Outcome::Gone(_) | Outcome::Failed(_));
        let record = r
            .record
            .filter(|record| last_word && record.value.len() <= RESENDABLE_BYTES)
            .cloned();
        if record.is_some() {
            // Only the newest few keep theirs: the state is read and written by every claim.
            let mut kept = 0;
            for l in self.log.iter_mut().rev() {
                if l.record.is_some() {
                    kept += 1;
                    if kept >= RESENDABLE {
                        l.record = None;
                    }
                }
            }
        }
        self.log.push_back(Logged {
            record,
            at: now.to_owned(),
            event_id: r.event_id.to_owned(),
            block: r.block,
            outcome: outcome.to_owned(),
            status: r.answer.status(),
            error: error.map(|e| crate::message::cut_at_word(e, LOG_ERROR_CHARS)),
        });
        while self.log.len() > LOG_LEN {
            self.log.pop_front();
        }
    }

    fn claim_one(&mut self, claim: String, holder: &Holder) -> (Claim, bool) {
        let retrying = format!("{claim}{RETRY_MARK}");
        if self.recent.contains(&retrying) {
            return (Claim::TakenRetrying, false);
        }
        if self.recent.contains(&format!("{claim}{THROTTLE_MARK}")) {
            return (Claim::TakenThrottled, false);
        }
        if self.recent.contains(&claim) {
            return (Claim::Taken, false);
        }
        if let Some(lease) = self.leases.iter_mut().find(|l| l.claim == claim) {
            if lease.holder == holder.token {
                return (Claim::Won, false);
            }
            if lease.until_ms > holder.now_ms {
                return (
                    Claim::InFlight {
                        until_ms: lease.until_ms,
                    },
                    false,
                );
            }
            lease.holder = holder.token.clone();
            lease.until_ms = holder.until_ms();
            return (Claim::Won, true);
        }
        self.leases.push(Lease {
            claim,
            holder: holder.token.clone(),
            until_ms: holder.until_ms(),
        });
        (Claim::Won, true)
    }

    /// Keeps the leases bounded: a trigger whose dispatchers kept dying would otherwise collect
    /// them forever. Expired ones go first, then the oldest.
    fn trim_leases(&mut self, now_ms: u64) {
        if self.leases.len() <= MAX_LEASES {
            return;
        }
        self.leases.retain(|l| l.until_ms > now_ms);
        if self.leases.len() > MAX_LEASES {
            self.leases.sort_by_key(|l| l.until_ms);
            let excess = self.leases.len() - MAX_LEASES;
            self.leases.drain(..excess);
        }
    }

    fn finish(&mut self, r: &Recorded<'_>, now: &str) {
        let claim = claim_key(r.event_id, r.round);
        self.leases.retain(|l| l.claim != claim);
        let retrying = format!("{claim}{RETRY_MARK}");
        let throttled = format!("{claim}{THROTTLE_MARK}");
        let entry = match r.outcome {
            Outcome::Retry(_) => retrying.clone(),
            Outcome::Throttled { .. } => throttled.clone(),
            _ => claim.clone(),
        };
        self.recent
            .retain(|c| *c != claim && *c != retrying && *c != throttled);
        self.recent.push_back(entry);
        while self.recent.len() > RECENT {
            self.recent.pop_front();
        }
        let (word, error) = match r.outcome {
            Outcome::Delivered => ("delivered", None),
            Outcome::Retry(e) => ("retrying", Some(e)),
            // The destination asked for time: what it said is shown, but it is not failing.
            Outcome::Throttled { why, .. } => {
                self.log(r, "throttled", Some(why), now);
                self.last_attempt = Some(Attempt {
                    at: now.to_owned(),
                    event_id: r.event_id.to_owned(),
                    outcome: "throttled".to_owned(),
                    status: r.answer.status(),
                    template_error: r.template_error.clone(),
                });
                self.last_error = Some(why.clone());
                return;
            }
            Outcome::Gone(e) => ("gone", Some(e)),
            Outcome::Failed(e) => ("failed", Some(e)),
        };
        self.log(r, word, error, now);
        self.last_attempt = Some(Attempt {
            at: now.to_owned(),
            event_id: r.event_id.to_owned(),
            outcome: word.to_owned(),
            status: r.answer.status(),
            template_error: r.template_error.clone(),
        });
        match error {
            None => {
                self.last_success_at = Some(now.to_owned());
                self.consecutive_failures = 0;
                self.delivered += 1;
            }
            Some(e) => {
                self.last_error = Some(e.clone());
                self.consecutive_failures += 1;
            }
        }
    }
}

impl<S: KeyValue + ?Sized> Deliveries<'_, S> {
    /// Claims each `(event id, attempt)` of `wanted` for the trigger in one compare-and-swap;
    /// the answers come in the order of `wanted`.
    pub fn claim_all(
        &self,
        trigger_id: &str,
        wanted: &[(&str, Round)],
        holder: &Holder,
    ) -> ApiResult<Vec<Claim>> {
        let mut claims = Vec::with_capacity(wanted.len());
        cas::update(
            self.kv,
            &keys::delivery(trigger_id),
            |s: &mut DeliveryState| {
                claims.clear();
                let mut changed = false;
                for (event_id, round) in wanted {
                    let (claim, wrote) = s.claim_one(claim_key(event_id, *round), holder);
                    claims.push(claim);
                    changed |= wrote;
                }
                s.trim_leases(holder.now_ms);
                changed.then_some(())
            },
        )?;
        Ok(claims)
    }

    /// Claims one attempt (see [`Deliveries::claim_all`]).
    pub fn claim(
        &self,
        trigger_id: &str,
        event_id: &str,
        round: impl Into<Round>,
        holder: &Holder,
    ) -> ApiResult<Claim> {
        let claims = self.claim_all(trigger_id, &[(event_id, round.into())], holder)?;
        Ok(claims.into_iter().next().unwrap_or(Claim::Taken))
    }

    /// Records what the trigger's attempts ended in, in one compare-and-swap: each claim is
    /// finished (marked when it is to be retried) and the state its owner sees updated.
    pub fn record_all(&self, trigger_id: &str, done: &[Recorded<'_>], now: &str) -> ApiResult<()> {
        if done.is_empty() {
            return Ok(());
        }
        cas::update(
            self.kv,
            &keys::delivery(trigger_id),
            |s: &mut DeliveryState| {
                for r in done {
                    s.finish(r, now);
                }
                Some(())
            },
        )?;
        Ok(())
    }

    /// Records a delivery sent again at its owner's request: the log's line for the event
    /// becomes this attempt (keeping the record if it failed again).
    #[allow(clippy::too_many_arguments)]
    pub fn record_resent(
        &self,
        trigger_id: &str,
        event_id: &str,
        block: u64,
        record: &crate::dispatch::Record,
        answer: &Answer,
        outcome: &Outcome,
        now: &str,
    ) -> ApiResult<()> {
        let done = Recorded {
            event_id,
            block: Some(block),
            record: Some(record),
            round: Round::default(),
            answer,
            outcome,
            template_error: None,
        };
        self.record_all(trigger_id, &[done], now)
    }

    /// Records one attempt (see [`Deliveries::record_all`]).
    pub fn record(
        &self,
        trigger_id: &str,
        event_id: &str,
        round: impl Into<Round>,
        answer: &Answer,
        outcome: &Outcome,
        now: &str,
    ) -> ApiResult<()> {
        let done = Recorded {
            event_id,
            block: None,
            record: None,
            round: round.into(),
            answer,
            outcome,
            template_error: None,
        };
        self.record_all(trigger_id, &[done], now)
    }
}

#[cfg(test)]
#[path = "claims_tests.rs"]
mod tests;
