//! Fetch ahead, hand over in order. Up to `window` blocks are fetched at once, each in a task of
//! its own, and handed over strictly by block number whatever order they complete in: a slow
//! answer for one block holds back the blocks after it, never lets them overtake it, and no number
//! is ever skipped. Memory stays bounded by the window.

use std::collections::VecDeque;
use std::future::Future;

use anyhow::{anyhow, Result};
use tokio::task::JoinHandle;

/// A fetch in flight; dropping it cancels it, so dropping the window cancels every fetch.
struct Task<T>(JoinHandle<Result<T>>);

impl<T> Drop for Task<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The blocks being fetched, in block order.
pub struct Ahead<T, F> {
    fetch: F,
    window: usize,
    next_to_start: u64,
    in_flight: VecDeque<(u64, Task<T>)>,
}

impl<T, F, Fut> Ahead<T, F>
where
    T: Send + 'static,
    F: FnMut(u64) -> Fut,
    Fut: Future<Output = Result<T>> + Send + 'static,
{
    /// A window starting at block `from`, with at most `window` (at least 1) fetches in flight.
    pub fn new(from: u64, window: usize, fetch: F) -> Self {
        Self {
            fetch,
            window: window.max(1),
            next_to_start: from,
            in_flight: VecDeque::new(),
        }
    }

    /// The next block in order, fetching ahead up to block `last`; `None` once every block up
    /// to `last` has been handed over. An error is handed over in its place, like a block.
    ///
    /// Cancel-safe: a block is removed from the window only once its fetch is done, so a
    /// `select!` that drops this future loses nothing.
    pub async fn next(&mut self, last: u64) -> Option<(u64, Result<T>)> {
        self.fill(last);
        let (number, task) = self.in_flight.front_mut()?;
        let number = *number;
        let result = match (&mut task.0).await {
            Ok(result) => result,
            Err(e) => Err(anyhow!("fetching block {number}: {e}")),
        };
        self.in_flight.pop_front();
        self.fill(last);
        Some((number, result))
    }

    fn fill(&mut self, last: u64) {
        while self.in_flight.len() < self.window && self.next_to_start <= last {
            let number = self.next_to_start;
            let task = Task(tokio::spawn((self.fetch)(number)));
            self.in_flight.push_back((number, task));
            self.next_to_start += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use super::*;

    /// A node that answers every third block late: fetches complete out of order.
    fn slow_node(
        completed: Arc<Mutex<Vec<u64>>>,
        running: Arc<AtomicUsize>,
        most: Arc<AtomicUsize>,
    ) -> impl FnMut(u64) -> std::pin::Pin<Box<dyn Future<Output = Result<u64>> + Send>> {
        move |n| {
            let completed = completed.clone();
            let running = running.clone();
            let most = most.clone();
            Box::pin(async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                let delay = if n % 3 == 0 { 50 } else { 1 + n % 2 };
                tokio::time::sleep(Duration::from_millis(delay)).await;
                running.fetch_sub(1, Ordering::SeqCst);
                completed.lock().expect("lock").push(n);
                Ok(n * 10)
            })
        }
    }

    #[tokio::test]
    async fn blocks_completing_out_of_order_are_handed_over_in_order_without_gaps() {
        let completed = Arc::new(Mutex::new(Vec::new()));
        let most = Arc::new(AtomicUsize::new(0));
        let fetch = slow_node(completed.clone(), Arc::default(), most.clone());
        let mut ahead = Ahead::new(100, 8, fetch);
        let mut handed = Vec::new();
        while let Some((n, value)) = ahead.next(160).await {
            assert_eq!(value.expect("fetched"), n * 10, "block {n}'s own value");
            handed.push(n);
        }
        assert_eq!(handed, (100..=160).collect::<Vec<_>>(), "in order, no gaps");
        let completed = completed.lock().expect("lock").clone();
        assert_ne!(
            completed, handed,
            "the node must really have answered out of order"
        );
        assert_eq!(
            most.load(Ordering::SeqCst),
            8,
            "the window is used and bounded"
        );
    }

    #[tokio::test]
    async fn a_head_that_moves_extends_the_window_and_an_error_takes_its_blocks_place() {
        let mut ahead = Ahead::new(1, 4, |n| async move {
            tokio::time::sleep(Duration::from_millis(if n == 2 { 30 } else { 1 })).await;
            if n == 5 {
                anyhow::bail!("block 5 is unavailable")
            }
            Ok(n)
        });
        let mut handed = Vec::new();
        while let Some((n, value)) = ahead.next(3).await {
            handed.push((n, value.is_ok()));
        }
        assert_eq!(handed, [(1, true), (2, true), (3, true)]);
        // The head moved on: fetching resumes right after the last block handed over.
        let (n, value) = ahead.next(6).await.expect("block 4");
        assert_eq!((n, value.is_ok()), (4, true));
        let (n, value) = ahead.next(6).await.expect("block 5");
        assert_eq!(n, 5);
        assert!(value.is_err());
    }

    #[tokio::test]
    async fn a_cancelled_wait_loses_no_block() {
        let mut ahead = Ahead::new(0, 2, |n| async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            Ok(n)
        });
        let early = tokio::time::timeout(Duration::from_millis(10), ahead.next(5)).await;
        assert!(early.is_err(), "still fetching");
        let mut handed = Vec::new();
        while let Some((n, _)) = ahead.next(5).await {
            handed.push(n);
        }
        assert_eq!(handed, [0, 1, 2, 3, 4, 5]);
    }
}
