//! Handing one batch to the app for good: post it until a `200` comes back (backing off, holding
//! the batch), produce what the answer leaves for the broker, then commit. The stages never
//! repeat one another: an answer in hand is settled, never re-requested, because the app would
//! not schedule the same retries twice.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::message::OwnedMessage;
use tokio::sync::watch;

use super::consumer::{Feed, Hold};
use super::dispatch_client::{DispatchClient, PostError};
use super::metrics::RelayMetrics;
use super::outbox::Outbox;
use super::wire::{batch_id, Answer, DispatchBatch};
use crate::pipeline::{backoff, requested};

/// How long a request already in flight may still finish after shutdown is requested.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// How one batch ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivered {
    /// Taken by the app; dead letters and retries acknowledged; offsets committed (or the
    /// commit failed, which only means a harmless redelivery).
    Committed,
    /// The group rebalanced while the batch waited: dropped, it comes again from the broker.
    Dropped,
    /// Shutdown: dropped, it comes again after the restart.
    Shutdown,
}

/// Logs a failing state once, when it starts or changes, and once more when it clears.
#[derive(Debug, Default)]
pub struct Complaints {
    current: Option<String>,
    attempts: u32,
}

impl Complaints {
    fn failed(&mut self, what: &str, kind: String, detail: &dyn std::fmt::Display) {
        self.attempts += 1;
        if self.current.as_deref() != Some(kind.as_str()) {
            tracing::warn!(what, "{detail}; retrying with backoff");
            self.current = Some(kind);
        } else {
            tracing::debug!(what, attempt = self.attempts, "{detail}; retrying");
        }
    }

    fn succeeded(&mut self, what: &str) {
        if self.current.take().is_some() {
            tracing::info!(what, attempts = self.attempts, "delivering again");
        }
        self.attempts = 0;
    }
}

/// Posts batches and settles their answers.
pub struct Courier {
    /// The app.
    pub client: DispatchClient,
    /// The broker side of answers.
    pub outbox: Outbox,
    /// Counters.
    pub metrics: Arc<RelayMetrics>,
}

/// A batch ready to go: the records read, the request made of them, and the records the relay
/// itself found undeliverable (they go to the dead-letter topic like rejected ones).
pub struct Parcel<'a> {
    /// Every record read (all are committed at the end).
    pub batch: &'a [OwnedMessage],
    /// What is posted; nothing is posted when it is empty.
    pub request: DispatchBatch,
    /// The record each item of `request` came from: its records first, then its retries.
    pub origins: Vec<&'a OwnedMessage>,
    /// Records refused before posting, with the reason.
    pub refused: Vec<(&'a OwnedMessage, String)>,
}

impl Courier {
    /// Delivers `parcel` from `feed`; `what` names the stream in logs.
    pub async fn deliver(
        &self,
        feed: &mut Feed,
        parcel: Parcel<'_>,
        complaints: &mut Complaints,
        shutdown: &watch::Receiver<bool>,
        what: &str,
    ) -> Delivered {
        let started = Instant::now();
        let (answer, refused_alone) = if parcel.request.is_empty() {
            (Answer::default(), Vec::new())
        } else {
            match self
                .post_splitting(feed, &parcel, complaints, shutdown, what)
                .await
            {
                Ok(answered) => answered,
                Err(ended) => return ended,
            }
        };
        let mut rejected = parcel.refused;
        rejected.extend(refused_alone);
        rejected.extend(answer.rejections(parcel.batch));
        let mut attempt = 0;
        loop {
            match self.outbox.settle(&rejected, &answer.retries).await {
                Ok(()) => break,
                Err(e) => {
                    complaints.failed(what, "broker".to_owned(), &format!("{e:#}"));
                    attempt += 1;
                    // A rebalance does not matter here: the answer must reach the broker anyway.
                    if feed.hold(backoff(attempt), shutdown).await == Hold::Shutdown {
                        tracing::warn!(
                            what,
                            "stopping with an answer not yet on the broker: its dead letters and retries are lost"
                        );
                        return Delivered::Shutdown;
                    }
                }
            }
        }
        complaints.succeeded(what);
        if let Err(e) = feed.commit(parcel.batch) {
            tracing::warn!(what, "{e:#}; these records will be delivered again");
        }
        self.metrics.batch_done(
            parcel.request.records.len(),
            parcel.request.retries.len(),
            rejected.len(),
            answer.retries.len(),
            started.elapsed(),
        );
        tracing::debug!(
            what,
            records = parcel.batch.len(),
            rejected = rejected.len(),
            retries = answer.retries.len(),
            "batch delivered"
        );
        Delivered::Committed
    }

    /// Posts the parcel's request. A request the app refuses as it is (400, 413, 422) is split
    /// in halves and each posted on its own, down to single items: an item the app refuses
    /// alone is dead-lettered with the app's reason, so one bad record never holds a partition.
    /// The answers of the parts come back as one.
    async fn post_splitting<'a>(
        &self,
        feed: &mut Feed,
        parcel: &Parcel<'a>,
        complaints: &mut Complaints,
        shutdown: &watch::Receiver<bool>,
        what: &str,
    ) -> Result<(Answer, Vec<(&'a OwnedMessage, String)>), Delivered> {
        let mut answer = Answer::default();
        let mut refused = Vec::new();
        // A stack of item ranges still to post, the first half on top.
        let mut parts = Vec::new();
        parts.push(0..parcel.request.len());
        while let Some(part) = parts.pop() {
            let request = if part.len() == parcel.request.len() {
                parcel.request.clone()
            } else {
                parcel.request.slice(part.clone())
            };
            let origins = parcel.origins.get(part.clone()).unwrap_or_default();
            // The whole batch keeps its id; a part's id is its own records'.
            let id = if part.len() == parcel.request.len() {
                batch_id(parcel.batch)
            } else {
                batch_id(origins.iter().copied())
            };
            match self
                .post(feed, &id, &request, complaints, shutdown, what)
                .await?
            {
                Ok(part_answer) => {
                    answer.records.extend(part_answer.records);
                    answer.retries.extend(part_answer.retries);
                }
                Err((status, body)) if part.len() > 1 => {
                    tracing::debug!(what, status, "{body}");
                    let middle = part.start + part.len() / 2;
                    tracing::info!(
                        what,
                        status,
                        items = part.len(),
                        "the app refused a batch; posting it in halves"
                    );
                    parts.push(middle..part.end);
                    parts.push(part.start..middle);
                }
                Err((status, body)) => {
                    let reason = format!("the app refused this record alone ({status}): {body}");
                    tracing::warn!(what, "{reason}; dead-lettering it");
                    refused.extend(origins.iter().map(|m| (*m, reason.clone())));
                }
            }
        }
        Ok((answer, refused))
    }

    /// Posts one request until the app answers it: `Ok(Ok(answer))` for a `200`,
    /// `Ok(Err((status, body)))` when the app refuses it as it is; every other failure is retried
    /// with backoff.
    async fn post(
        &self,
        feed: &mut Feed,
        id: &str,
        request: &DispatchBatch,
        complaints: &mut Complaints,
        shutdown: &watch::Receiver<bool>,
        what: &str,
    ) -> Result<Result<Answer, (u16, String)>, Delivered> {
        // Strings, numbers and JSON values the app sent: encoding cannot fail.
        let body = serde_json::to_vec(request)
            .unwrap_or_else(|e| unreachable!("a batch always encodes: {e}"));
        let mut attempt = 0;
        loop {
            let posted = tokio::select! {
                posted = self.client.post(id, &body) => posted,
                () = grace_after(shutdown.clone()) => return Err(Delivered::Shutdown),
            };
            match posted {
                Ok(answer) => return Ok(Ok(answer)),
                Err(PostError::Refused { status, body }) => {
                    self.metrics.attempt_failed();
                    return Ok(Err((status, body)));
                }
                Err(e) => {
                    self.metrics.attempt_failed();
                    complaints.failed(what, e.kind(), &e);
                    attempt += 1;
                    match feed.hold(backoff(attempt), shutdown).await {
                        Hold::Elapsed => {}
                        Hold::Rebalanced => return Err(Delivered::Dropped),
                        Hold::Shutdown => return Err(Delivered::Shutdown),
                    }
                }
            }
        }
    }
}

async fn grace_after(shutdown: watch::Receiver<bool>) {
    requested(shutdown).await;
    tokio::time::sleep(SHUTDOWN_GRACE).await;
}
