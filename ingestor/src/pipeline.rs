//! The ingest loop: from the cursor to the finalized head, block by block, never skipping one:
//! fetch and decode, produce the registered events, wait for the broker's acknowledgements, move
//! the cursor. Then wait for the head to move and do it again.

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use anyhow::Result;
use aurras_domain::names::ChainName;
use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::watch;

use crate::chain::{AtBlock, Chain};
use crate::cursor::{Cursor, CursorState};
use crate::metrics::Metrics;
use crate::sink::KafkaSink;

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
}

/// Everything the loop needs.
pub struct Pipeline {
    /// The chain.
    pub chain: Chain,
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
    /// How often to look for a new finalized head.
    pub poll: Duration,
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

/// Shows backfill progress: a bar on a terminal, a log line every 10 s otherwise.
enum Progress {
    Bar(ProgressBar),
    Log(Instant),
}

impl Progress {
    fn new() -> Self {
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} block {pos}/{len} {wide_bar} {msg} ETA {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            Progress::Bar(bar)
        } else {
            Progress::Log(Instant::now())
        }
    }

    fn update(&mut self, block: u64, head: u64, events_per_second: f64) {
        match self {
            Progress::Bar(bar) => {
                bar.set_length(head);
                bar.set_position(block);
                bar.set_message(format!("{events_per_second:.0} events/s"));
            }
            Progress::Log(last) if last.elapsed() >= Duration::from_secs(10) => {
                tracing::info!(
                    block,
                    head,
                    lag = head.saturating_sub(block),
                    events_per_second,
                    "ingesting"
                );
                *last = Instant::now();
            }
            Progress::Log(_) => {}
        }
    }
}

impl Pipeline {
    /// Runs until `shutdown` turns true; returns after the producer is flushed.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) -> Result<()> {
        let genesis = format!("0x{}", hex::encode(self.chain.genesis()));
        let saved = self.cursor.load(self.chain_name.as_str(), &genesis)?;
        let mut next = match (saved, self.start) {
            // --from-block before the cursor backfills from there; after it, skips ahead.
            (_, Start::Block(from)) => from,
            (Some(n), Start::Head) => n,
            (None, Start::Head) => self.chain.finalized_head().await?,
        };
        tracing::info!(chain = %self.chain_name, next, cursor = %self.cursor.path().display(), "starting");
        let mut parent: Option<AtBlock> = None;
        let mut progress = Progress::new();
        let mut attempt = 0;
        loop {
            // Calls to the chain wait while its connection is being re-established; shutdown
            // must not wait with them.
            let head = tokio::select! {
                head = self.chain.finalized_head() => head,
                () = requested(shutdown.clone()) => break,
            };
            let head = match head {
                Ok(head) => head,
                Err(e) => {
                    tracing::warn!("{e:#}; retrying");
                    attempt += 1;
                    if sleep_or_shutdown(backoff(attempt), &mut shutdown).await {
                        break;
                    }
                    continue;
                }
            };
            self.metrics.head(head);
            while next <= head {
                if *shutdown.borrow() {
                    break;
                }
                // Abandoning a block mid-way is safe: the cursor moves only after it is produced.
                let stop = shutdown.clone();
                let ingested = tokio::select! {
                    ingested = self.ingest_block(next, parent.as_ref(), &mut shutdown) => ingested,
                    () = requested(stop) => break,
                };
                match ingested {
                    Ok(Some(at)) => {
                        attempt = 0;
                        parent = Some(at);
                        next += 1;
                        progress.update(next - 1, head, self.metrics.events_per_second());
                    }
                    // Shutdown during a retry: the block is abandoned, the cursor still points at it.
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!(block = next, "{e:#}; retrying");
                        attempt += 1;
                        parent = None;
                        if sleep_or_shutdown(backoff(attempt), &mut shutdown).await {
                            break;
                        }
                    }
                }
            }
            if sleep_or_shutdown(self.poll, &mut shutdown).await {
                break;
            }
        }
        if let Progress::Bar(bar) = &progress {
            bar.finish_and_clear();
        }
        self.sink.flush(Duration::from_secs(10))?;
        tracing::info!(
            next,
            "stopped; the cursor points at the first block not fully produced"
        );
        Ok(())
    }

    /// Ingests block `number`; `None` when shutdown interrupted a produce retry.
    async fn ingest_block(
        &mut self,
        number: u64,
        parent: Option<&AtBlock>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<Option<AtBlock>> {
        let at = self.chain.at(number).await?;
        let parent_at;
        let parent = match parent {
            Some(p) if p.block_number() + 1 == number => Some(p),
            _ if number > 0 => {
                parent_at = self.chain.at(number - 1).await?;
                Some(&parent_at)
            }
            _ => None,
        };
        let block = self.chain.block_events(&at, parent).await?;
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
        let mut attempt = 0;
        loop {
            let produced = match self.sink.ensure_topics(&topics).await {
                Ok(()) => self.sink.produce(&selected).await,
                Err(e) => Err(e),
            };
            match produced {
                Ok(()) => break,
                Err(e) => {
                    attempt += 1;
                    self.metrics.retry();
                    tracing::warn!(block = number, attempt, "broker: {e:#}; retrying the block");
                    if sleep_or_shutdown(backoff(attempt), shutdown).await {
                        return Ok(None);
                    }
                }
            }
        }
        self.cursor.save(&CursorState {
            chain: self.chain_name.to_string(),
            genesis_hash: format!("0x{}", hex::encode(self.chain.genesis())),
            next_block: number + 1,
        })?;
        self.metrics
            .block_done(number, block.envelopes.len(), selected.len());
        tracing::debug!(
            block = number,
            events = block.envelopes.len(),
            produced = selected.len(),
            "block done"
        );
        Ok(Some(at))
    }
}
