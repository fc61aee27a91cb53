//! The `dispatch` component (`POST /dispatch`): the relay's batches of broker records come in,
//! Web Push notifications and signed webhooks go out.
//!
//! For each record: verify the relay's signature, read the envelope, find the triggers in the
//! index (two key-value reads whatever their number), keep those that fire, claim each
//! (event, trigger) pair once, deliver everything at once, and answer which records were taken,
//! which were refused for good, and which deliveries to retry when.

// `#[http_component]` expands to the component's export glue, which is `unsafe` by nature.
#![allow(unsafe_code)]

use std::collections::BTreeMap;

use aurras_domain::delivery::Outcome;
use aurras_domain::dispatch::{
    fires, DeliveryConfig, DispatchRequest, DispatchResponse, DueRetry, Job, Record, RetryItem,
    ScheduledRetry, MAX_BATCH,
};
use aurras_domain::envelope::Envelope;
use aurras_domain::signature::{SigningKey, ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use aurras_domain::source::Source;
use aurras_domain::{parse_json, ApiError, ApiResult, ErrorCode};
use aurras_spin::deliver::{self, Delivered, Mode};
use aurras_spin::http::{error_response, header, now_millis, now_rfc3339, variable, Answer};
use aurras_spin::State;
use spin_sdk::http::{Method, Request, Response};
use spin_sdk::http_component;

/// The largest batch body accepted (a batch of `MAX_BATCH` records of a few KiB each).
const MAX_BODY: usize = 16 * 1024 * 1024;

#[http_component]
fn handle(req: Request) -> Response {
    match dispatch(&req) {
        Ok(answer) => answer.into_response(),
        Err(e) => {
            if e.code == ErrorCode::Internal {
                eprintln!("dispatch: {}", e.detail.as_deref().unwrap_or(&e.message));
            }
            error_response(&e)
        }
    }
}

fn dispatch(req: &Request) -> ApiResult<Answer> {
    if *req.method() != Method::Post {
        return Err(ApiError::new(
            ErrorCode::MethodNotAllowed,
            "POST batches of records to /dispatch",
        ));
    }
    verify(req)?;
    let body = req.body();
    if body.len() > MAX_BODY {
        return Err(ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("at most {MAX_BODY} bytes per batch"),
        ));
    }
    let batch: DispatchRequest = parse_json(body)?;
    if batch.records.len() + batch.retries.len() > MAX_BATCH {
        return Err(ApiError::invalid(
            "records",
            format!("at most {MAX_BATCH} records and retries per batch"),
        ));
    }
    let state = State::open()?;
    let config = deliver::config();
    let mut answer = DispatchResponse::default();
    let mut jobs = Vec::new();
    for record in &batch.records {
        match record.envelope() {
            Ok(envelope) => {
                jobs.extend(jobs_for(&state, record, envelope)?);
                answer.records.push(record.accepted());
            }
            Err(reason) => answer.records.push(record.rejected(reason)),
        }
    }
    for retry in &batch.retries {
        jobs.extend(retry_job(&state, retry)?);
    }
    let delivered = deliver::deliver(&state, &config, jobs, Mode::Record)?;
    answer.retries = schedule_retries(&state, &config, delivered)?;
    Ok(Answer::json(
        200,
        serde_json::to_value(&answer).unwrap_or_default(),
    ))
}

/// Checks the relay's Standard Webhooks signature: 401 for anything else, before any work.
fn verify(req: &Request) -> ApiResult<()> {
    let unauthorized = |why: String| ApiError::new(ErrorCode::Unauthorized, why);
    let secret = variable("relay_secret").ok_or_else(|| {
        unauthorized("the app has no relay_secret; set it to accept batches".into())
    })?;
    let key =
        SigningKey::from_secret(&secret).map_err(|e| unauthorized(format!("relay_secret: {e}")))?;
    key.verify(
        header(req, ID_HEADER),
        header(req, TIMESTAMP_HEADER),
        header(req, SIGNATURE_HEADER),
        req.body(),
        now_millis() / 1000,
    )
    .map_err(|e| unauthorized(format!("the batch's signature was refused: {e}")))
}

/// The triggers an event fires, with their sources' tokens.
fn jobs_for(state: &State, record: &Record, envelope: Envelope) -> ApiResult<Vec<Job>> {
    let Some(topic) = envelope.topic() else {
        return Ok(Vec::new());
    };
    let triggers = state.registry().lookup(&topic, &envelope.accounts)?;
    if triggers.is_empty() {
        return Ok(Vec::new());
    }
    let sources = sources_of(state, triggers.iter().map(|t| t.source.clone()))?;
    Ok(triggers
        .into_iter()
        .filter(|t| {
            fires(
                t,
                &envelope,
                sources.get(&t.source).and_then(Option::as_ref),
            )
            .is_ok()
        })
        .map(|trigger| Job {
            token: sources
                .get(&trigger.source)
                .and_then(|s| s.as_ref())
                .and_then(|s| s.token.clone()),
            trigger,
            envelope: envelope.clone(),
            record: record.clone(),
            attempt: 0,
            test: false,
        })
        .collect())
}

fn sources_of(
    state: &State,
    ids: impl Iterator<Item = String>,
) -> ApiResult<BTreeMap<String, Option<Source>>> {
    let ids: Vec<String> = ids
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let found = state.deliveries().sources(&ids)?;
    Ok(ids.into_iter().zip(found).collect())
}

/// A due retry, if its trigger still exists, is active and its source still there.
fn retry_job(state: &State, retry: &DueRetry) -> ApiResult<Option<Job>> {
    let Ok(envelope) = retry.item.record.envelope() else {
        return Ok(None);
    };
    let deliveries = state.deliveries();
    let Some(trigger) = deliveries.trigger(&retry.item.trigger)? else {
        return Ok(None);
    };
    let sources = sources_of(state, std::iter::once(trigger.source.clone()))?;
    let source = sources.get(&trigger.source).and_then(Option::as_ref);
    // A retry is owed only while the trigger would still fire for the event.
    if fires(&trigger, &envelope, source).is_err() {
        return Ok(None);
    }
    Ok(Some(Job {
        token: source.and_then(|s| s.token.clone()),
        trigger,
        envelope,
        record: retry.item.record.clone(),
        attempt: retry.attempt,
        test: false,
    }))
}

/// Turns retryable failures into scheduled retries; once the schedule is used up the trigger is
/// deactivated with the last error.
fn schedule_retries(
    state: &State,
    config: &DeliveryConfig,
    delivered: Vec<Delivered>,
) -> ApiResult<Vec<ScheduledRetry>> {
    let now_ms = now_millis();
    let mut retries = Vec::new();
    for done in delivered {
        let Outcome::Retry(reason) = &done.outcome else {
            continue;
        };
        let next = done.job.attempt + 1;
        match config.schedule.delay(next) {
            Some(delay) => retries.push(ScheduledRetry {
                attempt: next,
                due_at_ms: now_ms + u64::try_from(delay.as_millis()).unwrap_or(u64::MAX / 2),
                item: RetryItem {
                    trigger: done.job.trigger.id.clone(),
                    record: done.job.record.clone(),
                },
            }),
            // A replayed claim already gave up (and paused the trigger) when it was first made;
            // its owner may have resumed the trigger since.
            None if done.replayed => {}
            None => {
                let why = format!(
                    "gave up after {} attempts; the last one failed: {reason}",
                    done.job.attempt + 1
                );
                state
                    .deliveries()
                    .deactivate(&done.job.trigger.id, &why, &now_rfc3339())?;
            }
        }
    }
    Ok(retries)
}
