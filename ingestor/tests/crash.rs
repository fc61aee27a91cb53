//! The whole loop under SIGKILL: the app host killed while `dispatch` waits on a webhook, and
//! the ingestor killed while transfers stream. Real parts throughout (chopsticks, `ingest`,
//! tansu, `relay`, the compiled components, an HTTPS webhook receiver verifying signatures).
//! The guarantee (docs/delivery.md): every notification arrives at least once, and a copy sent
//! twice carries the same `webhook-id`. (The relay killed with SIGKILL is in `deliver.rs`.)

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aurras_e2e::app_process::AppProcess;
use aurras_e2e::processes::{Broker, LocalChain};
use common::{head, ingest, relay, transfer, world_on, BOB};

const PAS: u128 = 10_000_000_000;
const WAIT: Duration = Duration::from_secs(90);
/// How long a dead dispatcher's claims hold (`claim_lease`): short, so the test is quick.
const LEASE: &str = "3s";

#[tokio::test(flavor = "multi_thread")]
async fn a_host_killed_mid_delivery_and_an_ingestor_killed_mid_stream_lose_no_notification() {
    let chain = LocalChain::start().expect("chain");
    let broker = Broker::start().expect("broker");
    let mut w = world_on(&chain.url).await;
    w.app
        .restart_with(|o| {
            o.variables
                .insert("SPIN_VARIABLE_CLAIM_LEASE".into(), LEASE.into());
        })
        .await
        .expect("restart with a short lease");
    let (hook, _) = w.webhook_on(BOB).await.expect("webhook trigger");
    // The app host becomes a process of its own, so it can die mid-request.
    w.app.pause().await.expect("pause");
    let addr = w.app.paused_at().expect("paused");
    let host = AppProcess::start(w.app.options(), addr)
        .await
        .expect("host process");
    let app = format!("http://{addr}");
    let state = tempfile::tempdir().expect("tempdir");
    let cursor = state.path().join("cursor");
    let mut ingestor = ingest(
        &app,
        &broker.addr,
        Some(head(&chain.url).await + 1),
        &cursor,
    );
    let _relay = relay(&app, &broker.addr, "crash-test", Duration::from_secs(6));

    // The receiver takes the delivery and never answers: dispatch has claimed it and waits.
    w.hooks.hang(&hook);
    transfer(&chain.url, &[3 * PAS]).await;
    wait_for_attempts(&w, &hook, 1).await;
    host.kill().expect("kill -9 of the app host");
    // The host comes back; the relay posts the batch again; once the dead host's claim has
    // expired the delivery is made.
    w.hooks.always(&hook, 200);
    w.app.resume().await.expect("resume");
    let got = w.hooks.wait_for(&hook, 1, WAIT).await;
    assert_eq!(got.len(), 1, "rejections: {:?}", w.hooks.rejections());

    // The ingestor dies while transfers stream, and restarts from its cursor.
    transfer(&chain.url, &[4 * PAS]).await;
    ingestor.kill().expect("kill -9 of the ingestor");
    let _ = ingestor.wait();
    transfer(&chain.url, &[5 * PAS]).await;
    let _ingestor = ingest(&app, &broker.addr, None, &cursor);
    let got = w.hooks.wait_for(&hook, 3, WAIT).await;
    assert_eq!(got.len(), 3, "rejections: {:?}", w.hooks.rejections());
    tokio::time::sleep(Duration::from_secs(3)).await;

    // Every transfer arrived; any copy carried the id of its first.
    let received = w.hooks.received(&hook);
    let mut ids: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for d in &received {
        let event = d.body["messages"][0]["value"]["id"].to_string();
        ids.entry(event).or_default().insert(d.id.clone());
    }
    assert_eq!(ids.len(), 3, "three transfers, each delivered: {ids:?}");
    assert!(
        ids.values().all(|each| each.len() == 1),
        "one webhook-id per event: {ids:?}"
    );
    let amounts: BTreeSet<String> = received
        .iter()
        .map(|d| d.body["messages"][0]["value"]["fields"]["amount"].to_string())
        .collect();
    let want: BTreeSet<String> = [3, 4, 5]
        .iter()
        .map(|n| format!("\"{}\"", n * PAS))
        .collect();
    assert_eq!(amounts, want);
    assert!(w.hooks.rejections().is_empty());
}

async fn wait_for_attempts(
    w: &aurras_e2e::world::World,
    hook: &aurras_e2e::webhook_receiver::Hook,
    n: usize,
) {
    let started = std::time::Instant::now();
    while w.hooks.attempts(hook).len() < n {
        assert!(
            started.elapsed() < WAIT,
            "no delivery attempt reached the receiver"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
