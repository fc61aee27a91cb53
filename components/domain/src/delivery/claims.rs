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
mod tests {
    use super::*;
    use crate::delivery::{classify_push, classify_webhook};
    use crate::kv::MemoryStore;
    use crate::kv_testing::{Around, Write};
    use crate::vault::TEST_KEYRING;
    use std::cell::Cell;

    fn at(token: &str, now_ms: u64) -> Holder {
        Holder {
            token: token.into(),
            now_ms,
            lease_ms: 1_000,
        }
    }

    fn event(n: u32) -> String {
        format!("0x{n:032x}{}", "0".repeat(32))
    }

    #[test]
    fn each_attempt_is_claimed_once_and_the_memory_is_bounded() {
        let kv = MemoryStore::default();
        let d = Deliveries::new(&kv, &TEST_KEYRING);
        let e = event(1);
        let h = at("a", 0);
        assert_eq!(d.claim("trg_1", &e, 0, &h).expect("claim"), Claim::Won);
        d.record(
            "trg_1",
            &e,
            0,
            &Answer::status_only(201),
            &Outcome::Delivered,
            "t",
        )
        .expect("record");
        assert_eq!(
            d.claim("trg_1", &e, 0, &at("b", 0)).expect("again"),
            Claim::Taken
        );
        assert_eq!(
            d.claim("trg_1", &e, 1, &h)
                .expect("a retry is its own attempt"),
            Claim::Won
        );
        assert_eq!(
            d.claim("trg_2", &e, 0, &h).expect("another trigger"),
            Claim::Won
        );
        let failed = Answer::none("timed out");
        d.record("trg_2", &e, 0, &failed, &classify_push(&failed), "t")
            .expect("record");
        assert_eq!(
            d.claim("trg_2", &e, 0, &at("b", 0))
                .expect("after a retryable failure"),
            Claim::TakenRetrying
        );
        for i in 0..2 * RECENT {
            let e = format!("0x{i:032x}{}", "00".repeat(16));
            d.claim("trg_1", &e, 0, &h).expect("claim");
            d.record(
                "trg_1",
                &e,
                0,
                &Answer::status_only(200),
                &Outcome::Delivered,
                "t",
            )
            .expect("record");
        }
        let state = d.state("trg_1").expect("state");
        assert_eq!(state.recent.len(), RECENT);
        assert!(state.leases.len() <= 1, "finished claims hold no lease");
        assert_eq!(
            state.log.len(),
            LOG_LEN,
            "the log keeps the last events only"
        );
        // The claims, and the log's entries (each a few hundred bytes at most).
        assert!(kv
            .get("delivery/trg_1")
            .expect("get")
            .is_some_and(|v| v.len() < 40 * RECENT + 500 * LOG_LEN));
    }

    #[test]
    fn a_lease_holds_until_it_expires_then_passes_to_the_next_dispatcher() {
        let kv = MemoryStore::default();
        let d = Deliveries::new(&kv, &TEST_KEYRING);
        let e = event(7);
        assert_eq!(d.claim("t", &e, 0, &at("a", 0)).expect("a"), Claim::Won);
        // A redelivery while `a` is still sending waits.
        assert_eq!(
            d.claim("t", &e, 0, &at("b", 999)).expect("b"),
            Claim::InFlight { until_ms: 1_000 }
        );
        // `a` died: once its lease is over, `b` sends.
        assert_eq!(d.claim("t", &e, 0, &at("b", 1_000)).expect("b"), Claim::Won);
        assert_eq!(
            d.claim("t", &e, 0, &at("c", 1_500)).expect("c"),
            Claim::InFlight { until_ms: 2_000 }
        );
        d.record(
            "t",
            &e,
            0,
            &Answer::status_only(204),
            &Outcome::Delivered,
            "t",
        )
        .expect("record");
        assert_eq!(
            d.claim("t", &e, 0, &at("c", 9_000)).expect("c"),
            Claim::Taken
        );
        let s = d.state("t").expect("state");
        assert!(s.leases.is_empty());
        assert_eq!(s.delivered, 1);
    }

    #[test]
    fn the_log_keeps_each_events_latest_attempt_newest_first_and_bounded() {
        let kv = MemoryStore::default();
        let d = Deliveries::new(&kv, &TEST_KEYRING);
        let h = at("a", 0);
        let answer = |status| Answer::status_only(status);
        d.claim("t", &event(1), 0, &h).expect("claim");
        let failed = Outcome::Retry("server answered 500".into());
        d.record("t", &event(1), 0, &answer(500), &failed, "t1")
            .expect("record");
        let state = d.state("t").expect("state");
        assert_eq!(state.log.len(), 1);
        assert_eq!(state.log[0].outcome, "retrying");
        assert_eq!(state.log[0].status, Some(500));
        assert_eq!(state.log[0].error.as_deref(), Some("server answered 500"));
        // The retry that succeeds replaces the entry: one line per event.
        d.claim("t", &event(1), 1, &h).expect("claim");
        d.record("t", &event(1), 1, &answer(200), &Outcome::Delivered, "t2")
            .expect("record");
        let state = d.state("t").expect("state");
        assert_eq!(state.log.len(), 1);
        assert_eq!(
            (
                state.log[0].outcome.as_str(),
                state.log[0].at.as_str(),
                &state.log[0].error
            ),
            ("delivered", "t2", &None)
        );
        for n in 2..(2 + LOG_LEN as u32 + 3) {
            d.claim("t", &event(n), 0, &h).expect("claim");
            d.record("t", &event(n), 0, &answer(200), &Outcome::Delivered, "t3")
                .expect("record");
        }
        let state = d.state("t").expect("state");
        assert_eq!(state.log.len(), LOG_LEN);
        assert_eq!(
            state.log.back().map(|l| l.event_id.clone()),
            Some(event(LOG_LEN as u32 + 4))
        );
        let view = state.view();
        assert_eq!(
            view["log"][0]["event_id"],
            event(LOG_LEN as u32 + 4),
            "newest first"
        );
    }

    #[test]
    fn a_batch_of_claims_and_answers_is_two_writes_per_trigger() {
        let kv = crate::kv::Counting::new(MemoryStore::default());
        let d = Deliveries::new(&kv, &TEST_KEYRING);
        let h = at("a", 0);
        // The trigger's first claim creates its state (an election, then the swap): once ever.
        d.claim("t", &event(99), 0, &h).expect("first");
        kv.reset();
        let events: Vec<String> = (0..50).map(event).collect();
        let wanted: Vec<(&str, Round)> = events
            .iter()
            .map(|e| (e.as_str(), Round::default()))
            .collect();
        let claims = d.claim_all("t", &wanted, &h).expect("claims");
        assert!(claims.iter().all(|c| *c == Claim::Won));
        let answer = Answer::status_only(200);
        let done: Vec<Recorded<'_>> = events
            .iter()
            .map(|e| Recorded {
                event_id: e,
                block: None,
                record: None,
                round: Round::default(),
                answer: &answer,
                outcome: &Outcome::Delivered,
                template_error: None,
            })
            .collect();
        d.record_all("t", &done, "t").expect("record");
        let (_, writes) = kv.counts();
        assert_eq!(writes, 2);
        assert_eq!(d.state("t").expect("state").delivered, 50);
    }

    #[test]
    fn a_claim_that_landed_stays_won_when_another_write_follows_it() {
        let kv = MemoryStore::default();
        let mine = event(1);
        let theirs = event(2);
        // The key exists already, so the claim is a plain swap (no creation election).
        Deliveries::new(&kv, &TEST_KEYRING)
            .claim("t", &event(0), 0, &at("x", 0))
            .expect("setup");
        // Once, another dispatcher writes right after this one's swap landed, and the swap is
        // reported as lost: what `WasiStore` answers when its read-back finds the other write.
        let other = Cell::new(true);
        let store = Around {
            inner: &kv,
            on_write: Box::new(|kv, write| {
                let landed = write.apply(kv)?;
                if landed && matches!(write, Write::Swap { .. }) && other.replace(false) {
                    Deliveries::new(kv, &TEST_KEYRING)
                        .claim("t", &theirs, 0, &at("b", 0))
                        .expect("theirs");
                    return Ok(false);
                }
                Ok(landed)
            }),
        };
        let d = Deliveries::new(&store, &TEST_KEYRING);
        assert_eq!(
            d.claim("t", &mine, 0, &at("a", 0)).expect("mine"),
            Claim::Won,
            "the claim was written; the later write must not make it look taken"
        );
        let s = d.state("t").expect("state");
        let holders: Vec<(&str, &str)> = s
            .leases
            .iter()
            .map(|l| (l.claim.as_str(), l.holder.as_str()))
            .collect();
        assert!(
            holders.contains(&(claim_key(&mine, 0).as_str(), "a")),
            "{holders:?}"
        );
        assert!(
            holders.contains(&(claim_key(&theirs, 0).as_str(), "b")),
            "{holders:?}"
        );
    }

    #[test]
    fn records_show_success_and_failures() {
        let kv = MemoryStore::default();
        let d = Deliveries::new(&kv, &TEST_KEYRING);
        let fail = Answer::none("connection refused");
        d.record("t", "0x1", 0, &fail, &classify_webhook(&fail), "t1")
            .expect("record");
        d.record(
            "t",
            "0x1",
            0,
            &Answer::status_only(503),
            &classify_webhook(&Answer::status_only(503)),
            "t2",
        )
        .expect("record");
        let s = d.state("t").expect("state");
        assert_eq!(s.consecutive_failures, 2);
        assert_eq!(s.last_error.as_deref(), Some("the webhook answered 503"));
        d.record(
            "t",
            "0x1",
            0,
            &Answer::status_only(204),
            &Outcome::Delivered,
            "t3",
        )
        .expect("record");
        let s = d.state("t").expect("state");
        assert_eq!((s.consecutive_failures, s.delivered), (0, 1));
        assert_eq!(s.view()["last_attempt"]["status"], 204);
    }

    #[test]
    fn claims_stored_before_leases_existed_still_count() {
        let kv = MemoryStore::default();
        let e = event(3);
        let old = format!(
            r#"{{"recent":["{}","{}!retry"]}}"#,
            claim_key(&e, 0),
            claim_key(&e, 1)
        );
        kv.set("delivery/t", old.as_bytes()).expect("set");
        let d = Deliveries::new(&kv, &TEST_KEYRING);
        assert_eq!(d.claim("t", &e, 0, &at("a", 0)).expect("0"), Claim::Taken);
        assert_eq!(
            d.claim("t", &e, 1, &at("a", 0)).expect("1"),
            Claim::TakenRetrying
        );
    }
}
