//! The main stream: the event topics, batch after batch, each posted as `{"records": […]}`.

use std::collections::BTreeSet;
use std::sync::Arc;

use anyhow::Result;
use tokio::sync::watch;

use super::consumer::{BatchLimits, Feed};
use super::deliver::{Complaints, Courier, Delivered, Parcel};
use super::wire::{record, DispatchBatch};
use crate::pipeline::requested;

/// Relays the topics on `topics` (re-subscribing when they change) until shutdown.
pub async fn run(
    mut feed: Feed,
    courier: Arc<Courier>,
    mut topics: watch::Receiver<BTreeSet<String>>,
    limits: BatchLimits,
    shutdown: watch::Receiver<bool>,
) -> Result<()> {
    let mut complaints = Complaints::default();
    feed.subscribe(&topics.borrow_and_update().clone())?;
    while !*shutdown.borrow() {
        if topics.has_changed().unwrap_or(false) {
            feed.subscribe(&topics.borrow_and_update().clone())?;
        }
        let batch = feed
            .next_batch(limits, topics_changed_or_shutdown(&topics, &shutdown))
            .await;
        if batch.is_empty() {
            continue;
        }
        let parcel = Parcel {
            batch: &batch,
            request: DispatchBatch {
                records: batch.iter().map(record).collect(),
                retries: Vec::new(),
            },
            origins: batch.iter().collect(),
            refused: Vec::new(),
        };
        let delivered = courier
            .deliver(&mut feed, parcel, &mut complaints, &shutdown, "records")
            .await;
        if delivered == Delivered::Shutdown {
            break;
        }
    }
    tracing::info!("records: stopped; what was not committed is delivered again after a restart");
    Ok(())
}

async fn topics_changed_or_shutdown(
    topics: &watch::Receiver<BTreeSet<String>>,
    shutdown: &watch::Receiver<bool>,
) {
    let mut topics = topics.clone();
    let changed = async move {
        // Without a sender the list never changes again.
        if topics.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        () = changed => {},
        () = requested(shutdown.clone()) => {},
    }
}
