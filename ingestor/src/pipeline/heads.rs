//! The finalized head, followed: by subscription when the node offers one, by polling when it
//! does not (or while a lost subscription cannot be renewed). Only the highest number announced
//! matters: the pipeline ingests every block from its cursor up to it, so an announcement that
//! jumps several numbers (reconnects, bursts) skips none.

use std::sync::Arc;
use std::time::{Duration, Instant};

use subxt::ext::futures::StreamExt;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::chain::Chain;

/// How long to poll after a subscription failed before trying to subscribe again.
const RESUBSCRIBE_AFTER: Duration = Duration::from_secs(30);

/// The latest finalized block number, kept current in the background until dropped.
pub struct Heads {
    latest: watch::Receiver<u64>,
    task: JoinHandle<()>,
}

impl Drop for Heads {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Heads {
    /// Follows `chain`'s finalized head, starting from `initial`; `poll` is the polling interval
    /// when there is no subscription.
    pub fn follow(chain: Arc<Chain>, initial: u64, poll: Duration) -> Self {
        let (tx, latest) = watch::channel(initial);
        let task = tokio::spawn(follow(chain, tx, poll));
        Self { latest, task }
    }

    /// The latest finalized block number announced.
    pub fn latest(&self) -> u64 {
        *self.latest.borrow()
    }

    /// Waits until a higher finalized head than the last one returned by `latest` or `changed`
    /// is announced, and returns it.
    pub async fn changed(&mut self) -> u64 {
        if self.latest.changed().await.is_err() {
            // The follower never ends on its own; if it panicked, there is nothing to wait for.
            std::future::pending::<()>().await;
        }
        *self.latest.borrow_and_update()
    }
}

fn raise(tx: &watch::Sender<u64>, head: u64) {
    tx.send_if_modified(|latest| {
        let higher = head > *latest;
        if higher {
            *latest = head;
        }
        higher
    });
}

async fn follow(chain: Arc<Chain>, tx: watch::Sender<u64>, poll: Duration) {
    let mut said_polling = false;
    loop {
        match chain.finalized_heads().await {
            Ok(mut heads) => {
                tracing::debug!("following finalized heads by subscription");
                said_polling = false;
                while let Some(head) = heads.next().await {
                    match head {
                        Ok(head) => raise(&tx, head),
                        Err(e) => {
                            tracing::debug!("{e:#}");
                            break;
                        }
                    }
                }
                // The connection dropped (it reconnects by itself): catch up, then subscribe
                // again.
                tracing::debug!("the finalized-head subscription ended; renewing it");
                if let Ok(head) = chain.finalized_head().await {
                    raise(&tx, head);
                }
                tokio::time::sleep(poll).await;
                continue;
            }
            Err(e) if !said_polling => {
                tracing::warn!("{e:#}; polling the finalized head every {poll:?} instead");
                said_polling = true;
            }
            Err(e) => tracing::debug!("{e:#}; still polling"),
        }
        let until = Instant::now() + RESUBSCRIBE_AFTER;
        while Instant::now() < until {
            match chain.finalized_head().await {
                Ok(head) => raise(&tx, head),
                Err(e) => tracing::debug!("polling the finalized head: {e:#}"),
            }
            tokio::time::sleep(poll).await;
        }
    }
}
