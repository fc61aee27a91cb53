//! The ingest loop: from the cursor to the finalized head, never skipping a block. Several blocks
//! are fetched and decoded at once ([`Ahead`]) and handed over strictly in block order; each is
//! sent to the broker in that order, and the cursor moves past a block once it and every block
//! before it are acknowledged. Then it waits for the node to announce a new finalized head
//! ([`Heads`]) and goes on.

use std::collections::{BTreeSet, VecDeque};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::{anyhow, Result};
use aurras_domain::names::ChainName;
use subxt::ext::futures::FutureExt;
use tokio::sync::watch;

use crate::chain::{BlockEvents, Chain};
use crate::cursor::{Cursor, CursorState};
use crate::lease::Lease;
use crate::metrics::Metrics;
use crate::sink::{Acks, KafkaSink};

mod ahead;
mod heads;
mod progress;

pub use ahead::Ahead;
pub use heads::Heads;
use progress::Progress;

/// Which events to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Every event (`--all`).
    All,
    /// These `Pallet.Event` names.
    Events(BTreeSet<String>),
}

impl Selection {
    fn wants(&self, name: &str) -> bool {
        match self {
            Selection::All => true,
            Selection::Events(set) => set.contains(name),
        }
    }
}

/// Where ingestion starts when there is no cursor.
#[derive(Debug, Clone, Copy)]
pub enum Start {
    /// At the finalized head.
    Head,
    /// At this block (backfill).
    Block(u64),
    /// At block 1 without a cursor, at the cursor with one: a local chain whose whole history
    /// matters (the `--dev-chain` of `up`).
    FirstBlock,
}

/// Everything the loop needs.
pub struct Pipeline {
    /// The chain.
    pub chain: Arc<Chain>,
    /// Its name.
    pub chain_name: ChainName,
    /// The broker.
    pub sink: KafkaSink,
    /// The cursor file.
    pub cursor: Cursor,
    /// Which events to publish; may change while running.
    pub selection: Arc<RwLock<Selection>>,
    /// Where to start without a cursor (or before it, for `--from-block`).
    pub start: Start,
    /// Live numbers.
    pub metrics: Arc<Metrics>,
    /// How often to poll for a new finalized head when the node offers no subscription.
    pub poll: Duration,
    /// How many blocks to fetch at once (at least 1), and how many sent blocks may await their
    /// acknowledgements; blocks are produced in order either way.
    pub fetch_ahead: usize,
    /// Stop once this block is produced (a bounded backfill); `None` follows the head forever.
    pub stop_after: Option<u64>,
    /// The chain's ingestion lease, when ingestors coordinate through the API: blocks are sent
    /// only while it is valid, and its progress may start the run past the cursor.
    pub lease: Option<Lease>,
}

/// Why a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Shutdown was requested, or `stop_after` was produced.
    Stopped,
    /// The lease was lost or lapsed: stand by and ask again.
    LeaseLost,
}

/// Exponential backoff from 200 ms to 10 s.
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(200u64.saturating_mul(1 << attempt.min(6))).min(Duration::from_secs(10))
}

/// Sleeps, or returns true early when shutdown is requested.
pub async fn sleep_or_shutdown(d: Duration, shutdown: &mut watch::Receiver<bool>) -> bool {
    if *shutdown.borrow() {
        return true;
    }
    tokio::select! {
        _ = tokio::time::sleep(d) => *shutdown.borrow(),
        _ = shutdown.changed() => true,
    }
}

/// Resolves once shutdown is requested (at once if it already was). A dropped sender never
/// requests it.
pub async fn requested(mut shutdown: watch::Receiver<bool>) {
    while !*shutdown.borrow_and_update() {
        if shutdown.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// A block handed to the producer, its acknowledgements awaited.
struct Sent {
    number: u64,
    hash: String,
    decoded: usize,
    produced: usize,
    acks: Acks,
}

/// Waits for the oldest block sent to be acknowledged (cancel-safe: it stays in `sent`).
async fn oldest_acked(sent: &mut VecDeque<Sent>) -> Result<()> {
    match sent.front_mut() {
        Some(oldest) => oldest.acks.as_mut().await,
        None => std::future::pending().await,
    }
}

impl Pipeline {
    /// Runs until `shutdown` turns true (or, with `stop_after`, until that block is produced,
    /// or until the lease is lost); returns after the producer is flushed.
    pub async fn run(&mut self, shutdown: watch::Receiver<bool>) -> Result<Ended> {
        let genesis = format!("0x{}", hex::encode(self.chain.genesis()));
        let saved = self.cursor.load(self.chain_name.as_str(), &genesis)?;
        let saved = self.after_last_holder(saved).await?;
        let head = self.chain.finalized_head().await?;
        let mut next = match (saved, self.start) {
            // --from-block before the cursor backfills from there; after it, skips ahead.
            (_, Start::Block(from)) => from,
            (Some(n), Start::Head) => n,
            (None, Start::Head) => head,
            (Some(n), Start::FirstBlock) => n,
            (None, Start::FirstBlock) => 1,
        };
        tracing::info!(chain = %self.chain_name, next, cursor = %self.cursor.path().display(), "starting");
        let mut heads = Heads::follow(self.chain.clone(), head, self.poll);
        let mut progress = Progress::new();
        let ended = self
            .ingest(&mut next, &mut heads, &mut progress, shutdown)
            .await;
        if let Progress::Bar(bar) = &progress {
            bar.finish_and_clear();
        }
        self.sink.flush(Duration::from_secs(10))?;
        tracing::info!(
            next,
            "stopped; the cursor points at the first block not fully produced"
        );
        Ok(ended)
    }

    /// Where the last lease holder got, when that is past this ingestor's own cursor and the
    /// block before it is in this chain's history (it may not be: a local chain started again);
    /// otherwise the cursor. Every block before either was produced by someone, so the later of
    /// the two is safe.
    async fn after_last_holder(&self, saved: Option<u64>) -> Result<Option<u64>> {
        let Some(theirs) = self.lease.as_ref().and_then(Lease::progress) else {
            return Ok(saved);
        };
        if saved.is_some_and(|n| n >= theirs.next_block) {
            return Ok(saved);
        }
        let parent = theirs.next_block - 1;
        let ours = self.chain.block_hash(parent).await?;
        if ours.map(|h| format!("0x{}", hex::encode(h))) != Some(theirs.parent_hash.to_lowercase())
        {
            tracing::warn!(
                next_block = theirs.next_block,
                "the lease's progress names a block this chain does not have; ignoring it"
            );
            return Ok(saved);
        }
        tracing::info!(
            next_block = theirs.next_block,
            "resuming where the last holder of the lease stopped"
        );
        Ok(Some(theirs.next_block))
    }

    /// Ingests every block from `next` (the cursor) on, until shutdown or `stop_after`.
    ///
    /// Up to `fetch_ahead` blocks are fetched at once and handed over in block order; each is
    /// sent to the producer as it comes, and up to `fetch_ahead` sent blocks await their
    /// acknowledgements, oldest first. The cursor moves past a block only once it is
    /// acknowledged and every block before it was. Any failure starts over at the cursor. Once
    /// the lease is no longer valid nothing more is sent; blocks already sent are awaited.
    async fn ingest(
        &mut self,
        next: &mut u64,
        heads: &mut Heads,
        progress: &mut Progress,
        mut shutdown: watch::Receiver<bool>,
    ) -> Ended {
        let chain = self.chain.clone();
        let fetch = move |n| {
            let chain = chain.clone();
            async move { chain.block_events(n).await }
        };
        let mut ahead = Ahead::new(*next, self.fetch_ahead, fetch.clone());
        let mut sent: VecDeque<Sent> = VecDeque::new();
        // The first block not sent yet; blocks from `next` up to it are in `sent`.
        let mut to_send = *next;
        let mut attempt = 0;
        loop {
            if sent.is_empty() && self.stop_after.is_some_and(|last| *next > last) {
                return Ended::Stopped;
            }
            if let Some(lease) = self.lease.as_ref().filter(|_| !self.may_send()) {
                tracing::warn!(next = *next, "{}; producing nothing more", lease.why_lost());
                self.drain(&mut sent, next).await;
                return Ended::LeaseLost;
            }
            let head = heads.latest();
            self.metrics.head(head);
            let last = self.stop_after.map_or(head, |l| l.min(head));
            let can_send = to_send <= last && sent.len() < self.fetch_ahead;
            let waiting = !can_send && sent.is_empty();
            // Calls to the chain and the broker wait while connections are re-established;
            // shutdown must not wait with them. Abandoning blocks not acknowledged is safe: the
            // cursor has not moved past them.
            let failed = tokio::select! {
                biased;
                () = requested(shutdown.clone()) => {
                    self.drain(&mut sent, next).await;
                    return Ended::Stopped;
                }
                acked = oldest_acked(&mut sent), if !sent.is_empty() => {
                    match acked.and_then(|()| self.acknowledged(&mut sent)) {
                        Ok(number) => {
                            attempt = 0;
                            *next = number + 1;
                            progress.update(number, head, self.metrics.events_per_second());
                            None
                        }
                        Err(e) => Some((*next, e)),
                    }
                }
                fetched = ahead.next(last), if can_send => match fetched {
                    // The lease lapsed while the block was fetched: the top of the loop stops.
                    Some((_, Ok(_))) if !self.may_send() => None,
                    Some((number, Ok(block))) => match self.send(block).await {
                        Ok(block) => {
                            sent.push_back(block);
                            to_send = number + 1;
                            None
                        }
                        Err(e) => Some((number, e)),
                    },
                    Some((number, Err(e))) => Some((number, e)),
                    None => None,
                },
                _ = heads.changed(), if waiting => None,
            };
            if let Some((number, e)) = failed {
                tracing::warn!(block = number, "{e:#}; retrying from block {next}");
                attempt += 1;
                self.metrics.retry();
                sent.clear();
                to_send = *next;
                ahead = Ahead::new(*next, self.fetch_ahead, fetch.clone());
                if sleep_or_shutdown(backoff(attempt), &mut shutdown).await {
                    return Ended::Stopped;
                }
            }
        }
    }

    /// Whether blocks may be sent: always without a lease, while it is valid with one.
    fn may_send(&self) -> bool {
        self.lease.as_ref().is_none_or(Lease::valid)
    }

    /// Hands a block's registered events to the producer (creating missing topics first).
    async fn send(&mut self, block: BlockEvents) -> Result<Sent> {
        let selected: Vec<_> = {
            let selection = self.selection.read().unwrap_or_else(|p| p.into_inner());
            block
                .envelopes
                .iter()
                .filter(|e| selection.wants(&format!("{}.{}", e.pallet, e.event)))
                .collect()
        };
        let topics: BTreeSet<String> = selected
            .iter()
            .filter_map(|e| e.topic())
            .map(|t| t.to_string())
            .collect();
        self.sink.ensure_topics(&topics).await?;
        let acks = self.sink.send(&selected).await?;
        Ok(Sent {
            number: block.block.number,
            hash: block.block.hash,
            decoded: block.envelopes.len(),
            produced: selected.len(),
            acks,
        })
    }

    /// The oldest block sent is acknowledged: takes it and every block after it whose
    /// acknowledgements are already in, then moves the cursor past the last of them with one
    /// write (two fsyncs, which would otherwise bound a backfill at one block per cursor write);
    /// returns that block's number.
    fn acknowledged(&mut self, sent: &mut VecDeque<Sent>) -> Result<u64> {
        let mut done = vec![sent
            .pop_front()
            .ok_or_else(|| anyhow!("no block awaits acknowledgements"))?];
        while let Some(next) = sent.front_mut() {
            match next.acks.as_mut().now_or_never() {
                Some(Ok(())) => done.extend(sent.pop_front()),
                // Not in yet, or failed: the caller sees it when it waits for this block.
                Some(Err(e)) => {
                    next.acks = Box::pin(std::future::ready(Err(e)));
                    break;
                }
                None => break,
            }
        }
        let (last, last_hash) = done
            .last()
            .map_or((0, String::new()), |b| (b.number, b.hash.clone()));
        self.cursor.save(&CursorState {
            chain: self.chain_name.to_string(),
            genesis_hash: format!("0x{}", hex::encode(self.chain.genesis())),
            next_block: last + 1,
        })?;
        if let Some(lease) = &self.lease {
            lease.report(aurras_domain::lease::Progress {
                next_block: last + 1,
                parent_hash: last_hash,
            });
        }
        for block in done {
            self.metrics
                .block_done(block.number, block.decoded, block.produced);
            tracing::debug!(
                block = block.number,
                events = block.decoded,
                produced = block.produced,
                "block done"
            );
        }
        Ok(last)
    }

    /// On shutdown: gives the blocks already sent up to 5 s to be acknowledged, moving the
    /// cursor past each one that is, so a restart produces as little again as possible.
    async fn drain(&mut self, sent: &mut VecDeque<Sent>, next: &mut u64) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while !sent.is_empty() {
            match tokio::time::timeout_at(deadline, oldest_acked(sent)).await {
                Ok(Ok(())) => match self.acknowledged(sent) {
                    Ok(number) => *next = number + 1,
                    Err(_) => return,
                },
                // Not acknowledged in time, or refused: the cursor still points at it.
                Ok(Err(_)) | Err(_) => return,
            }
        }
    }
}
