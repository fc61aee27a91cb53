//! Handing one batch to the app for good: post it until a `200` comes back (backing off, holding
//! the batch), produce what the answer leaves for the broker, then commit. The stages never
//! repeat one another: an answer in hand is settled, never re-requested, because the app would
//! not schedule the same retries twice.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::message::OwnedMessage;
use tokio::sync::watch;

use super::consumer::{Feed, Hold};
use super::dispatch_client::DispatchClient;
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
        let answer = if parcel.request.is_empty() {
            Answer::default()
        } else {
            match self.post(feed, &parcel, complaints, shutdown, what).await {
                Ok(answer) => answer,
                Err(ended) => return ended,
            }
        };
        let mut rejected = parcel.refused;
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

    async fn post(
        &self,
        feed: &mut Feed,
        parcel: &Parcel<'_>,
        complaints: &mut Complaints,
        shutdown: &watch::Receiver<bool>,
        what: &str,
    ) -> Result<Answer, Delivered> {
        let id = batch_id(parcel.batch);
        // Strings, numbers and JSON values the app sent: encoding cannot fail.
        let body = serde_json::to_vec(&parcel.request)
            .unwrap_or_else(|e| unreachable!("a batch always encodes: {e}"));
        let mut attempt = 0;
        loop {
            let posted = tokio::select! {
                posted = self.client.post(&id, &body) => posted,
                () = grace_after(shutdown.clone()) => return Err(Delivered::Shutdown),
            };
            match posted {
                Ok(answer) => return Ok(answer),
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
