//! Sending deliveries: claim each (event, trigger, attempt) once, build its request with the
//! domain's rules, send them all at once, and record what the answers mean.

use aurras_domain::delivery::{Claim, Outcome, RetrySchedule};
use aurras_domain::dispatch::{DeliveryConfig, Job};
use aurras_domain::webpush::VapidKey;
use aurras_domain::ApiResult;

use crate::http::{now_millis, now_rfc3339, variable};
use crate::outbound::{send_all, Outgoing, Timeouts};
use crate::State;

/// The VAPID subject when the operator set none: valid, and obviously a placeholder to replace.
const DEFAULT_SUBJECT: &str = "mailto:operator@aurras.invalid";

/// Reads the delivery settings from the Spin variables. A malformed value is logged and
/// replaced by its default rather than stopping every delivery.
pub fn config() -> DeliveryConfig {
    let vapid = variable("vapid_private_key").and_then(|k| match VapidKey::from_base64url(&k) {
        Ok(key) => Some(key),
        Err(e) => {
            eprintln!("vapid_private_key: {e}; Web Push deliveries will fail");
            None
        }
    });
    let schedule = match variable("retry_schedule").map(|s| RetrySchedule::parse(&s)) {
        Some(Ok(schedule)) => schedule,
        Some(Err(e)) => {
            eprintln!("retry_schedule: {e}; using the default schedule");
            RetrySchedule::default()
        }
        None => RetrySchedule::default(),
    };
    DeliveryConfig {
        vapid,
        vapid_subject: variable("vapid_subject").unwrap_or_else(|| DEFAULT_SUBJECT.to_owned()),
        allow_private: variable("allow_private_destinations").is_some_and(|v| v.trim() == "true"),
        explorer_url: variable("explorer_url"),
        schedule,
    }
}

/// What became of one job.
#[derive(Debug)]
pub struct Delivered {
    /// The job.
    pub job: Job,
    /// What the answer means.
    pub outcome: Outcome,
    /// The HTTP status, or why there was none.
    pub answer: Result<u16, String>,
    /// Not sent now: an earlier attempt's retry scheduled again (its answer was lost).
    pub replayed: bool,
}

/// How the caller wants jobs handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Real deliveries: claimed once, recorded in the trigger's delivery state.
    Record,
    /// Test deliveries: sent and reported, nothing stored.
    Test,
}

/// Delivers `jobs`. Jobs another dispatcher already claimed are dropped (they are someone
/// else's to deliver); the rest come back with their outcome.
pub fn deliver(
    state: &State,
    config: &DeliveryConfig,
    jobs: Vec<Job>,
    mode: Mode,
) -> ApiResult<Vec<Delivered>> {
    let deliveries = state.deliveries();
    let mut mine = Vec::with_capacity(jobs.len());
    let mut done = Vec::with_capacity(jobs.len());
    for job in jobs {
        if mode == Mode::Test {
            mine.push(job);
            continue;
        }
        match deliveries.claim(&job.trigger.id, &job.envelope.id, job.attempt)? {
            Claim::Won => mine.push(job),
            Claim::Taken => {}
            // The attempt failed earlier and its retry may never have reached the relay (the
            // answer was lost): schedule it again without sending again. A retry scheduled twice
            // is claimed once.
            Claim::TakenRetrying => done.push(Delivered {
                job,
                outcome: Outcome::Retry("an earlier attempt is to be retried".into()),
                answer: Err("already attempted".into()),
                replayed: true,
            }),
        }
    }
    let now_secs = now_millis() / 1000;
    let built: Vec<Result<Outgoing, Outcome>> = mine
        .iter()
        .map(|job| {
            job.request(config, now_secs).map(|r| Outgoing {
                url: r.url,
                headers: r.headers,
                body: r.body,
            })
        })
        .collect();
    let sendable: Vec<Outgoing> = built
        .iter()
        .filter_map(|b| b.as_ref().ok().cloned())
        .collect();
    let mut answers = send_all(&sendable, Timeouts::default()).into_iter();
    let now = now_rfc3339();
    for (job, request) in mine.into_iter().zip(built) {
        let (answer, outcome) = match request {
            Ok(_) => {
                let answer = answers
                    .next()
                    .unwrap_or_else(|| Err("no answer was recorded".into()));
                let outcome = job.classify(&answer);
                (answer, outcome)
            }
            Err(outcome) => (Err("the request could not be built".into()), outcome),
        };
        if mode == Mode::Record {
            // The requests are sent: a store failure now must not turn into a 500, which would
            // have the relay redeliver a batch whose claims are taken and lose its retries.
            if let Err(e) = deliveries.record(
                &job.trigger.id,
                &job.envelope.id,
                job.attempt,
                &answer,
                &outcome,
                &now,
            ) {
                eprintln!("recording a delivery to {}: {e}", job.trigger.id);
            }
            if let Outcome::Gone(reason) | Outcome::Failed(reason) = &outcome {
                if let Err(e) = deliveries.deactivate(&job.trigger.id, reason, &now) {
                    eprintln!("deactivating {}: {e}", job.trigger.id);
                }
            }
        }
        done.push(Delivered {
            job,
            outcome,
            answer,
            replayed: false,
        });
    }
    Ok(done)
}
