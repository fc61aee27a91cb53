//! The `dispatch` component (`POST /dispatch`): the relay's batches of broker records come in,
//! Web Push notifications and signed webhooks go out.
//!
//! For each record: verify the relay's signature, read the envelope, find the triggers in the
//! index (two key-value reads whatever their number), keep those that fire, claim each
//! (event, trigger) pair (a lease: see `aurras_domain::claims`), send each trigger's requests as
//! soon as its claims are made (a bounded number per host at a time), and answer which records were taken, which were refused for good, and which deliveries to
//! retry when; or 503 while another dispatcher still holds some of the batch's claims. Every
//! answer after the signature check says in `Server-Timing` where the request's time went
//! (`aurras_domain::fanout::timing`; docs/delivery.md), for the relay's metrics.

// `#[http_component]` expands to the component's export glue, which is `unsafe` by nature.
#![allow(unsafe_code)]

use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use aurras_domain::dispatch::{
    fires, DispatchRequest, DispatchResponse, DueRetry, Job, Record, MAX_BATCH,
};
use aurras_domain::envelope::Envelope;
use aurras_domain::fanout::timing::{stage, Stopwatch};
use aurras_domain::fanout::{self, InFlight};
use aurras_domain::names::{ChainName, EventName};
use aurras_domain::signature::{SigningKey, ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use aurras_domain::source::Source;
use aurras_domain::trigger::Trigger;
use aurras_domain::{parse_json, ApiError, ApiResult, ErrorCode};
use aurras_spin::deliver::{self, Mode};
use aurras_spin::http::{error_response, header, now_millis, now_rfc3339, variable, Answer};
use aurras_spin::State;
use spin_sdk::http::{IncomingRequest, Method, Request, Response};
use spin_sdk::http_component;

/// The largest batch body accepted (a batch of `MAX_BATCH` records of a few KiB each).
const MAX_BODY: usize = 16 * 1024 * 1024;

#[http_component]
fn handle(incoming: IncomingRequest) -> Response {
    let clock = deliver::monotonic;
    let mut watch = Stopwatch::new(&clock);
    let started = watch.now();
    // A batch is read within MAX_BODY before its signature is checked over it: a larger one is
    // 413 without reading on (at once when Content-Length announces it).
    let limit = |head: &Request| {
        if *head.method() == Method::Post {
            MAX_BODY
        } else {
            0
        }
    };
    let read = watch.time(stage::READ, || {
        aurras_spin::http::read_request(incoming, limit)
    });
    let req = match read {
        Ok(req) => req,
        Err(e) => return error_response(&e),
    };
    if *req.method() != Method::Post {
        return error_response(&ApiError::new(
            ErrorCode::MethodNotAllowed,
            "POST batches of records to /dispatch",
        ));
    }
    if let Err(e) = watch.time(stage::VERIFY, || verify(&req)) {
        return error_response(&e);
    }
    let answer = dispatch(&req, &mut watch);
    // Where the time went, for the relay's metrics (docs/delivery.md): only to a caller that
    // proved it holds the relay's secret.
    watch.since(stage::TOTAL, started);
    let timing = watch.server_timing();
    match answer {
        Ok(answer) => answer.with_header("server-timing", timing).into_response(),
        Err(e) => {
            if e.code == ErrorCode::Internal {
                eprintln!("dispatch: {}", e.detail.as_deref().unwrap_or(&e.message));
            }
            error_response(&e.with_header("server-timing", timing))
        }
    }
}

/// A verified batch: its deliveries made, its answer.
fn dispatch(req: &Request, watch: &mut Stopwatch<'_>) -> ApiResult<Answer> {
    let batch: DispatchRequest = watch.time(stage::PARSE, || parse_json(req.body()))?;
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
    let mut lookups = Lookups::default();
    for record in &batch.records {
        match watch.time(stage::MATCH, || record.envelope()) {
            Ok(envelope) => {
                jobs.extend(jobs_for(&state, &mut lookups, record, envelope, watch)?);
                answer.records.push(record.accepted());
            }
            Err(reason) => answer.records.push(record.rejected(reason)),
        }
    }
    for retry in &batch.retries {
        jobs.extend(watch.time(stage::LOOKUP, || retry_job(&state, retry))?);
    }
    let fanout = deliver::deliver_timed(&state, &config, jobs, Mode::Record, watch);
    let start = watch.now();
    let retries = fanout::retries(&fanout.delivered, &config.schedule, now_millis());
    let deliveries = state.deliveries();
    for (trigger, why) in &retries.gave_up {
        if let Err(e) = deliveries.deactivate(trigger, why, &now_rfc3339()) {
            eprintln!("deactivating {trigger}: {e}");
        }
    }
    if let Some(busy) = in_flight(&fanout.in_flight) {
        // Another dispatcher holds some of this batch's claims: the batch is not taken until
        // they are delivered, or their lease expires and a redelivery sends them. What this
        // request did is settled in the store, so the redelivery repeats none of it (its
        // retries are scheduled again from their marked claims).
        watch.since(stage::ANSWER, start);
        return Err(busy);
    }
    answer.retries = retries.scheduled;
    let answer = Answer::json(200, serde_json::to_value(&answer).unwrap_or_default());
    watch.since(stage::ANSWER, start);
    Ok(answer)
}

/// The answer for a batch some of whose deliveries another dispatcher is sending.
fn in_flight(held: &[InFlight]) -> Option<ApiError> {
    let until = held.iter().map(|h| h.until_ms).max()?;
    let wait_secs = until.saturating_sub(now_millis()).div_ceil(1000).max(1);
    let busy = ApiError::new(
        ErrorCode::Busy,
        format!(
            "{} deliveries of this batch are being sent by another dispatcher (claims held for up to {wait_secs} s more); post it again later",
            held.len()
        ),
    );
    Some(busy.with_header("retry-after", wait_secs.to_string()))
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

/// The candidate triggers and their sources for one (topic, accounts), read once per batch: a
/// block's events mostly share their topic and accounts (a burst of transfers to one address),
/// and a batch is one moment, so each set of index lists is read (and each trigger's sealed
/// action opened) once, not once per event.
#[derive(Default)]
struct Lookups {
    found: HashMap<(String, Vec<String>), Rc<Candidates>>,
}

struct Candidates {
    triggers: Vec<Trigger>,
    sources: BTreeMap<String, Option<Source>>,
}

impl Lookups {
    fn get(
        &mut self,
        state: &State,
        chain: &ChainName,
        event: &EventName,
        accounts: &[String],
    ) -> ApiResult<Rc<Candidates>> {
        let key = (event.topic(chain).to_string(), accounts.to_vec());
        if let Some(found) = self.found.get(&key) {
            return Ok(found.clone());
        }
        let triggers = state.registry().lookup_event(chain, event, accounts)?;
        let sources = if triggers.is_empty() {
            BTreeMap::new()
        } else {
            sources_of(state, triggers.iter().map(|t| t.source.clone()))?
        };
        let found = Rc::new(Candidates { triggers, sources });
        self.found.insert(key, found.clone());
        Ok(found)
    }
}

/// The triggers an event fires, with their sources' tokens.
fn jobs_for(
    state: &State,
    lookups: &mut Lookups,
    record: &Record,
    envelope: Envelope,
    watch: &mut Stopwatch<'_>,
) -> ApiResult<Vec<Job>> {
    let Some(event) = envelope.event_name() else {
        return Ok(Vec::new());
    };
    let candidates = watch.time(stage::LOOKUP, || {
        lookups.get(state, &envelope.chain, &event, &envelope.accounts)
    })?;
    Ok(watch.time(stage::MATCH, || matching(&candidates, record, &envelope)))
}

/// The jobs of the candidates that fire for `envelope`.
fn matching(candidates: &Candidates, record: &Record, envelope: &Envelope) -> Vec<Job> {
    let sources = &candidates.sources;
    candidates
        .triggers
        .iter()
        .filter(|t| fires(t, envelope, sources.get(&t.source).and_then(Option::as_ref)).is_ok())
        .map(|trigger| Job {
            token: sources
                .get(&trigger.source)
                .and_then(|s| s.as_ref())
                .and_then(|s| s.token.clone()),
            trigger: trigger.clone(),
            envelope: envelope.clone(),
            record: record.clone(),
            attempt: 0,
            throttled: 0,
            test: false,
        })
        .collect()
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
        throttled: retry.item.throttled,
        test: false,
    }))
}
