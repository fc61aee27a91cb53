//! One retry level, `<prefix>.<n>`: every record there waits the same delay, so the topic is in
//! due order. Each record is held until its `aurras-due-at-ms`, posted back as
//! `{"retries": [{"attempt": n, "item": …}]}`, and its answer settled like any other. Each level
//! has its own consumer group, so a long wait on one level never delays another or the events.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use rdkafka::message::{Headers, Message, OwnedMessage};
use tokio::sync::watch;

use super::consumer::{BatchLimits, Feed, Hold};
use super::deliver::{Complaints, Courier, Delivered, Parcel};
use super::outbox::DUE_AT_HEADER;
use super::wire::{DispatchBatch, DueRetry};
use crate::pipeline::requested;

/// Relays retry level `level` until shutdown.
pub async fn run(
    level: u32,
    mut feed: Feed,
    courier: Arc<Courier>,
    limits: BatchLimits,
    shutdown: watch::Receiver<bool>,
) -> Result<()> {
    let topic = courier.outbox.topics().retry(level);
    feed.subscribe(&BTreeSet::from([topic.clone()]))?;
    tracing::info!(%topic, "following retries");
    let what = format!("retries {level}");
    let mut complaints = Complaints::default();
    while !*shutdown.borrow() {
        let mut batch = feed.next_batch(limits, requested(shutdown.clone())).await;
        let Some(first) = batch.first() else {
            continue;
        };
        let wait = due_at(first).saturating_sub(now_ms());
        if wait > 0 {
            match feed.hold(Duration::from_millis(wait), &shutdown).await {
                Hold::Elapsed => {}
                Hold::Rebalanced => continue,
                Hold::Shutdown => break,
            }
        }
        // The first record is due; the ones not due yet wait for the next round.
        let now = now_ms();
        let due = batch
            .iter()
            .position(|m| due_at(m) > now)
            .unwrap_or(batch.len())
            .max(1);
        feed.unread(batch.split_off(due));
        let parcel = parcel(level, &batch);
        let delivered = courier
            .deliver(&mut feed, parcel, &mut complaints, &shutdown, &what)
            .await;
        if delivered == Delivered::Shutdown {
            break;
        }
    }
    tracing::debug!(%topic, "stopped");
    Ok(())
}

/// The request for due records; a value that is not JSON cannot be posted back and is
/// dead-lettered instead.
fn parcel(level: u32, batch: &[OwnedMessage]) -> Parcel<'_> {
    let mut request = DispatchBatch::default();
    let mut origins = Vec::new();
    let mut refused = Vec::new();
    for m in batch {
        match serde_json::from_slice(m.payload().unwrap_or_default()) {
            Ok(item) => {
                request.retries.push(DueRetry {
                    attempt: level,
                    item,
                });
                origins.push(m);
            }
            Err(e) => refused.push((m, format!("retry item is not JSON: {e}"))),
        }
    }
    Parcel {
        batch,
        request,
        origins,
        refused,
    }
}

/// When a retry record is due; one without a readable time is due now.
fn due_at(m: &OwnedMessage) -> u64 {
    m.headers()
        .and_then(|headers| {
            headers
                .iter()
                .find(|h| h.key == DUE_AT_HEADER)
                .and_then(|h| h.value)
        })
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or_default()
}
