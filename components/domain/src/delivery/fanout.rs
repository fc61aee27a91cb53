//! One batch's deliveries, over any store and any way of sending: claim the jobs (a lease per
//! (event, trigger, attempt), see [`crate::claims`]), send the ones this request won, record the
//! answers, and say which deliveries to retry when.
//!
//! No job this request was handed is dropped silently: each is sent, or found finished, or
//! found being sent by another dispatcher ([`Fanout::in_flight`]: the caller must not report
//! the batch as taken), or, when the store failed while claiming it, scheduled as a retry.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::answer::Answer;
use crate::claims::{Claim, Holder, Recorded};
use crate::delivery::{claim_key, Deliveries, Outcome, RetrySchedule, Round};
use crate::dispatch::{DeliveryConfig, HttpRequest, Job, RetryItem, ScheduledRetry};
use crate::kv::KeyValue;

#[path = "fanout_timing.rs"]
pub mod timing;
use timing::{stage, Stopwatch};

/// Sends requests: outbound HTTP in a component, a recorder in tests. Requests go out while
/// the caller goes on (claiming the next trigger's deliveries), so the first delivery of a burst
/// does not wait for the last claim.
pub trait Transport {
    /// Sends `request`; it may start at once. Its answer comes from [`Transport::finish`].
    fn send(&mut self, request: HttpRequest);
    /// Lets requests under way progress and queued ones start, without waiting.
    fn pump(&mut self) {}
    /// Waits for every answer, in the order sent.
    fn finish(&mut self) -> Vec<Answer>;
}

/// How the caller wants jobs handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Real deliveries: claimed, recorded in the trigger's delivery state.
    Record,
    /// Test deliveries: sent and reported, nothing stored.
    Test,
}

/// Whether this request made the attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempted {
    /// Claimed and attempted now.
    Now,
    /// Made by an earlier request and ended in a retry whose scheduling may have been lost: it is
    /// scheduled again, not sent again.
    Earlier,
    /// Not attempted: the store failed while claiming it. It is scheduled as a retry.
    Never,
}

/// What became of one job.
#[derive(Debug)]
pub struct Delivered {
    /// The job.
    pub job: Job,
    /// What the answer means.
    pub outcome: Outcome,
    /// What came back.
    pub answer: Answer,
    /// Whether it was attempted now.
    pub attempted: Attempted,
}

/// A job another dispatcher holds the claim of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InFlight {
    /// The trigger.
    pub trigger: String,
    /// The event.
    pub event_id: String,
    /// When its lease expires (Unix ms).
    pub until_ms: u64,
}

/// A batch's deliveries.
#[derive(Debug, Default)]
pub struct Fanout {
    /// Jobs attempted, replayed or not claimed, with their outcome.
    pub delivered: Vec<Delivered>,
    /// Jobs being sent by another dispatcher: their batch is not done until they are.
    pub in_flight: Vec<InFlight>,
    /// Store failures after sending (logged by the caller; nothing is lost by them, at worst a
    /// lease expires and the job is sent again).
    pub warnings: Vec<String>,
}

/// Delivers `jobs` under `holder`'s claims, sending with `transport`; `now` is RFC 3339 for
/// the delivery state. The time of each stage (claim, build, send, wait, record) is added to
/// `watch`.
#[allow(clippy::too_many_arguments)] // each is a separate concern of the caller's
pub fn deliver<S, T>(
    deliveries: &Deliveries<'_, S>,
    config: &DeliveryConfig,
    jobs: Vec<Job>,
    mode: Mode,
    holder: &Holder,
    transport: &mut T,
    now: &str,
    watch: &mut Stopwatch<'_>,
) -> Fanout
where
    S: KeyValue + ?Sized,
    T: Transport,
{
    let mut fanout = Fanout::default();
    let mut out = Outgoing {
        now_secs: holder.now_ms / 1000,
        sent: Vec::new(),
        unbuilt: Vec::new(),
    };
    match mode {
        Mode::Test => {
            for job in jobs {
                out.send(job, config, transport, watch);
            }
        }
        Mode::Record => {
            for (trigger, jobs) in by_trigger(jobs) {
                let mine = watch.time(stage::CLAIM, || {
                    claim(deliveries, &trigger, jobs, holder, &mut fanout)
                });
                for job in mine {
                    out.send(job, config, transport, watch);
                }
                watch.time(stage::SEND, || transport.pump());
            }
        }
    }
    let mut answers = watch.time(stage::WAIT, || transport.finish()).into_iter();
    let start = fanout.delivered.len();
    for job in out.sent {
        let answer = answers
            .next()
            .unwrap_or_else(|| Answer::none("no answer was recorded"));
        let outcome = job.classify(&answer);
        fanout.delivered.push(Delivered {
            job,
            outcome,
            answer,
            attempted: Attempted::Now,
        });
    }
    for (job, outcome) in out.unbuilt {
        fanout.delivered.push(Delivered {
            job,
            outcome,
            answer: Answer::none("the request could not be built"),
            attempted: Attempted::Now,
        });
    }
    if mode == Mode::Record {
        let (done, warnings) = (&fanout.delivered[start..], &mut fanout.warnings);
        watch.time(stage::RECORD, || {
            record(deliveries, config, done, now, warnings)
        });
    }
    fanout
}

/// The jobs handed to the transport, in order, and those whose request could not be built.
struct Outgoing {
    now_secs: u64,
    sent: Vec<Job>,
    unbuilt: Vec<(Job, Outcome)>,
}

impl Outgoing {
    fn send<T: Transport>(
        &mut self,
        job: Job,
        config: &DeliveryConfig,
        transport: &mut T,
        watch: &mut Stopwatch<'_>,
    ) {
        match watch.time(stage::BUILD, || job.request(config, self.now_secs)) {
            Ok(request) => {
                watch.time(stage::SEND, || transport.send(request));
                self.sent.push(job);
            }
            Err(outcome) => self.unbuilt.push((job, outcome)),
        }
    }
}

/// The jobs by trigger, each attempt once: the same attempt twice in one batch (a record and
/// its own retry) is one delivery.
fn by_trigger(jobs: Vec<Job>) -> BTreeMap<String, Vec<Job>> {
    let mut by_trigger: BTreeMap<String, Vec<Job>> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for job in jobs {
        let claim = claim_key(&job.envelope.id, job.round());
        if seen.insert((job.trigger.id.clone(), claim)) {
            by_trigger
                .entry(job.trigger.id.clone())
                .or_default()
                .push(job);
        }
    }
    by_trigger
}

/// Claims one trigger's jobs in one compare-and-swap; the jobs this request won.
fn claim<S: KeyValue + ?Sized>(
    deliveries: &Deliveries<'_, S>,
    trigger: &str,
    jobs: Vec<Job>,
    holder: &Holder,
    fanout: &mut Fanout,
) -> Vec<Job> {
    let wanted: Vec<(&str, Round)> = jobs
        .iter()
        .map(|j| (j.envelope.id.as_str(), j.round()))
        .collect();
    let claims = match deliveries.claim_all(trigger, &wanted, holder) {
        Ok(claims) => claims,
        Err(e) => {
            let why = format!("not sent: the store failed while claiming it ({e})");
            fanout
                .delivered
                .extend(jobs.into_iter().map(|job| Delivered {
                    job,
                    outcome: Outcome::Retry(why.clone()),
                    answer: Answer::none(why.clone()),
                    attempted: Attempted::Never,
                }));
            return Vec::new();
        }
    };
    let mut mine = Vec::new();
    for (job, claim) in jobs.into_iter().zip(claims) {
        match claim {
            Claim::Won => mine.push(job),
            Claim::Taken => {}
            Claim::TakenRetrying => fanout.delivered.push(Delivered {
                job,
                outcome: Outcome::Retry("an earlier attempt is to be retried".into()),
                answer: Answer::none("already attempted"),
                attempted: Attempted::Earlier,
            }),
            // Put back as the first time, so both land on the same round and one of them sends.
            Claim::TakenThrottled => fanout.delivered.push(Delivered {
                job,
                outcome: Outcome::Throttled {
                    why: "an earlier attempt was throttled".into(),
                    wait: None,
                },
                answer: Answer::none("already attempted"),
                attempted: Attempted::Earlier,
            }),
            Claim::InFlight { until_ms } => fanout.in_flight.push(InFlight {
                trigger: trigger.to_owned(),
                event_id: job.envelope.id.clone(),
                until_ms,
            }),
        }
    }
    mine
}

/// Records the answers, one compare-and-swap per trigger, and pauses the triggers whose
/// destination is gone or refuses for good.
fn record<S: KeyValue + ?Sized>(
    deliveries: &Deliveries<'_, S>,
    config: &DeliveryConfig,
    done: &[Delivered],
    now: &str,
    warnings: &mut Vec<String>,
) {
    let mut by_trigger: BTreeMap<&str, Vec<Recorded<'_>>> = BTreeMap::new();
    for d in done {
        by_trigger
            .entry(d.job.trigger.id.as_str())
            .or_default()
            .push(Recorded {
                event_id: &d.job.envelope.id,
                block: Some(d.job.envelope.block.number),
                record: Some(&d.job.record),
                round: d.job.round(),
                answer: &d.answer,
                outcome: &d.outcome,
                // Rendered again only for a trigger with templates, and only to say why one
                // fell back (a failed render never stops the notification).
                template_error: d.job.template_error(config),
            });
    }
    // The requests are sent: a store failure now must not fail the batch, which would have the
    // relay redeliver it and lose its retries. The unrecorded claims' leases expire instead.
    for (trigger, recorded) in by_trigger {
        if let Err(e) = deliveries.record_all(trigger, &recorded, now) {
            warnings.push(format!("recording deliveries to {trigger}: {e}"));
        }
    }
    for d in done {
        if let Outcome::Gone(reason) | Outcome::Failed(reason) = &d.outcome {
            if let Err(e) = deliveries.deactivate(&d.job.trigger.id, reason, now) {
                warnings.push(format!("deactivating {}: {e}", d.job.trigger.id));
            }
        }
    }
}

/// What to retry and when, and which triggers used up their schedule (to pause, with the reason).
#[derive(Debug, Default)]
pub struct Retries {
    /// For the relay to hold.
    pub scheduled: Vec<ScheduledRetry>,
    /// `(trigger id, why)` of triggers that gave up.
    pub gave_up: Vec<(String, String)>,
}

/// How often a destination may ask for time on one retry level before the delivery counts as
/// failing there (a destination that throttles forever must not hold it forever).
pub const MAX_THROTTLED: u32 = 32;
/// The shortest wait before a throttled delivery goes out again.
const MIN_THROTTLE_WAIT: Duration = Duration::from_secs(1);
/// The longest wait a throttled delivery gets beyond its level's own step: retry levels are
/// topics in due order, so a longer wait would hold back the deliveries behind it.
const MAX_THROTTLE_WAIT: Duration = Duration::from_secs(60);

/// Turns retryable outcomes into scheduled retries. A failure moves the delivery to the next
/// step of the schedule; a destination asking for time puts it back on its step (the first, for
/// a first attempt) after the wait it asked for, so a platform's rate limit never uses up the
/// schedule.
pub fn retries(delivered: &[Delivered], schedule: &RetrySchedule, now_ms: u64) -> Retries {
    let mut retries = Retries::default();
    for done in delivered {
        let (reason, next) = match &done.outcome {
            Outcome::Throttled { why, wait } if done.job.throttled < MAX_THROTTLED => {
                (why, after_throttle(done.job.round(), *wait, schedule))
            }
            Outcome::Retry(why) | Outcome::Throttled { why, .. } => {
                (why, after_failure(done, schedule))
            }
            _ => continue,
        };
        match next {
            Some((round, delay)) => retries.scheduled.push(ScheduledRetry {
                attempt: round.attempt,
                due_at_ms: now_ms + millis(delay),
                item: RetryItem {
                    trigger: done.job.trigger.id.clone(),
                    record: done.job.record.clone(),
                    throttled: round.throttled,
                },
            }),
            None if done.attempted == Attempted::Now => retries.gave_up.push((
                done.job.trigger.id.clone(),
                format!(
                    "gave up after {} attempts; the last one failed: {reason}",
                    done.job.attempt + 1
                ),
            )),
            // A replayed claim already gave up (and paused the trigger) when it was first made;
            // its owner may have resumed the trigger since. With no retry schedule at all there
            // is nothing to schedule.
            None => {}
        }
    }
    retries
}

/// The next step of the schedule after a failure.
fn after_failure(done: &Delivered, schedule: &RetrySchedule) -> Option<(Round, Duration)> {
    let attempt = done.job.attempt;
    let next = match done.attempted {
        Attempted::Now | Attempted::Earlier => {
            schedule.delay(attempt + 1).map(|d| (attempt + 1, d))
        }
        // Never attempted: the next step of the schedule, or this one again when it was the
        // last (a retry level exists from 1 on).
        Attempted::Never => schedule
            .delay(attempt + 1)
            .map(|d| (attempt + 1, d))
            .or_else(|| schedule.delay(attempt.max(1)).map(|d| (attempt.max(1), d))),
    };
    next.map(|(attempt, delay)| (Round::from(attempt), delay))
}

/// The same step again (the first, for a first attempt) after the wait the destination asked
/// for, or the step's own delay when it named none.
fn after_throttle(
    round: Round,
    wait: Option<Duration>,
    schedule: &RetrySchedule,
) -> Option<(Round, Duration)> {
    let level = round.attempt.max(1);
    let step = schedule.delay(level)?;
    let next = if round.attempt == 0 {
        Round::from(1)
    } else {
        Round {
            attempt: round.attempt,
            throttled: round.throttled + 1,
        }
    };
    let wait = wait
        .unwrap_or(step)
        .clamp(MIN_THROTTLE_WAIT, step.max(MAX_THROTTLE_WAIT));
    Some((next, wait))
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX / 2)
}

#[cfg(test)]
#[path = "fanout_tests.rs"]
mod tests;
