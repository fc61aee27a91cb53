//! The row's stored triggers that never fire: webhook triggers on other accounts' incoming
//! transfers (the same source and event as the matching ones), created through the API with many
//! creates in flight at once, as a busy deployment's users would.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aurras_domain::ss58::AccountId;
use serde_json::json;
use sha2::{Digest, Sha256};

/// The `i`-th stored trigger's account: a fixed pseudo-random public key (SS58, prefix 42), the
/// same in every run, none of them a dev account of the chain.
fn account(i: usize) -> String {
    let key: [u8; 32] = Sha256::new()
        .chain_update(b"aurras loop bench stored trigger")
        .chain_update(i.to_le_bytes())
        .finalize()
        .into();
    AccountId(key).to_ss58(42).expect("prefix 42 encodes")
}

/// Creates `count` triggers at `app` (`http://host:port`) on source `source`, `concurrency`
/// requests in flight, each posting (if it ever fired) to `url`; how long it took. A create
/// answered 429 waits its `Retry-After` and goes again.
pub async fn create(
    app: &str,
    source: &str,
    url: &str,
    count: usize,
    concurrency: usize,
) -> Duration {
    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let client = reqwest::Client::new();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (next, done, client) = (next.clone(), done.clone(), client.clone());
        let endpoint = format!("{app}/api/triggers");
        let (source, url) = (source.to_owned(), url.to_owned());
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    break;
                }
                let body = json!({
                    "source": source, "event": "Balances.Transfer",
                    "filter": {"balance": {"account": account(i), "direction": "in"}},
                    "action": {"webhook": {"url": url}},
                });
                loop {
                    let answer = client
                        .post(&endpoint)
                        .json(&body)
                        .send()
                        .await
                        .expect("the app answers");
                    let status = answer.status().as_u16();
                    if status == 201 {
                        break;
                    }
                    let wait = answer
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
                    let text = answer.text().await.unwrap_or_default();
                    match (status, wait) {
                        (429, Some(secs)) => tokio::time::sleep(Duration::from_secs(secs)).await,
                        _ => panic!("creating stored trigger {i}: {status} {text}"),
                    }
                }
                let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                if n % 10_000 == 0 {
                    eprintln!("stored triggers: {n}/{count}");
                }
            }
        });
    }
    while let Some(task) = tasks.join_next().await {
        task.expect("a create task");
    }
    started.elapsed()
}
