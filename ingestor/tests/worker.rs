//! `aurras-ingestor worker` follows the registered sources while it runs, against real parts
//! (chopsticks on the Paseo runtime, tansu, the compiled `api` component): a source registered
//! later starts flowing, a change of a source's events takes effect, a deleted source stops, and
//! none of it needs a restart.

mod common;

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aurras_e2e::processes::{Broker, LocalChain};
use aurras_e2e::{ADMIN_TOKEN, RELAY_SECRET};
use common::{read_topic, transfer, world_on, Ingestor};
use rdkafka::Message;
use serde_json::{json, Value};

const PAS: u128 = 10_000_000_000;
const WAIT: Duration = Duration::from_secs(90);
/// The worker re-reads the sources every second; a change is live after two rounds at most.
const TAKES_EFFECT: Duration = Duration::from_secs(3);

/// The transfer amounts published on `topic` so far (`Balances.Transfer` envelopes), waiting up
/// to `timeout` for `amount` to be among them.
fn amounts_until(brokers: &str, topic: &str, amount: u128, timeout: Duration) -> BTreeSet<u128> {
    let started = Instant::now();
    loop {
        let found: BTreeSet<u128> = read_topic(brokers, topic, usize::MAX, Duration::from_secs(2))
            .iter()
            .filter_map(|m| serde_json::from_slice::<Value>(m.payload()?).ok())
            .filter_map(|e| e["fields"]["amount"].as_str()?.parse().ok())
            .collect();
        if found.contains(&amount) || started.elapsed() > timeout {
            return found;
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sources_registered_changed_and_deleted_while_running_take_effect_without_a_restart() {
    let chain = LocalChain::start().expect("chain");
    let broker = Broker::start().expect("broker");
    let w = world_on(&chain.url).await;
    let app = w.app.url();
    let state = tempfile::tempdir().expect("tempdir");
    let _worker = Ingestor(
        Command::new(env!("CARGO_BIN_EXE_aurras-ingestor"))
            .arg("worker")
            .args(["--api", &app, "--app", &app, "--brokers", &broker.addr])
            .args(["--admin-token", ADMIN_TOKEN, "--relay-secret", RELAY_SECRET])
            .arg("--state-dir")
            .arg(state.path())
            .args(["--api-poll-secs", "1", "--poll-ms", "200"])
            .args(["--rpc-backend", "legacy"])
            // Both chains from block 1: nothing sent after registration can fall before a start.
            .args(["--from-first-block", "paseo,later"])
            .env("RUST_LOG", "aurras_ingestor=info,warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the worker starts"),
    );

    // The source registered before the start flows.
    transfer(&chain.url, &[11 * PAS]).await;
    let paseo = amounts_until(&broker.addr, "paseo.Balances.Transfer", 11 * PAS, WAIT);
    assert!(paseo.contains(&(11 * PAS)), "{paseo:?}");

    // A source registered while the worker runs starts flowing.
    let later = w
        .app
        .call(
            "POST",
            "/api/sources",
            Some(ADMIN_TOKEN),
            Some(
                &json!({"chain": "later", "rpc": [chain.url], "events": ["Balances.Transfer"],
                         "token": {"symbol": "PAS", "decimals": 10}}),
            ),
        )
        .await
        .expect("register");
    assert_eq!(later.status, 201, "{later:?}");
    let later_id = later.body["id"].as_str().expect("id").to_owned();
    transfer(&chain.url, &[12 * PAS]).await;
    let seen = amounts_until(&broker.addr, "later.Balances.Transfer", 12 * PAS, WAIT);
    assert!(seen.contains(&(12 * PAS)), "{seen:?}");
    assert!(state.path().join("later.cursor").is_file());

    // A change of the events takes effect: fee withdrawals start being published.
    let changed = w
        .app
        .call(
            "PATCH",
            &format!("/api/sources/{}", w.source),
            Some(ADMIN_TOKEN),
            Some(&json!({"events": ["Balances.Transfer", "Balances.Withdraw"]})),
        )
        .await
        .expect("patch");
    assert_eq!(changed.status, 200, "{changed:?}");
    tokio::time::sleep(TAKES_EFFECT).await;
    transfer(&chain.url, &[13 * PAS]).await;
    let withdrawals = read_topic(&broker.addr, "paseo.Balances.Withdraw", 1, WAIT);
    assert!(!withdrawals.is_empty(), "no Balances.Withdraw published");

    // A deleted source stops; the others go on.
    let deleted = w
        .app
        .call(
            "DELETE",
            &format!("/api/sources/{later_id}"),
            Some(ADMIN_TOKEN),
            None,
        )
        .await
        .expect("delete");
    assert_eq!(deleted.status, 204, "{deleted:?}");
    tokio::time::sleep(TAKES_EFFECT).await;
    transfer(&chain.url, &[14 * PAS]).await;
    let paseo = amounts_until(&broker.addr, "paseo.Balances.Transfer", 14 * PAS, WAIT);
    assert!(paseo.contains(&(14 * PAS)), "{paseo:?}");
    let seen = amounts_until(
        &broker.addr,
        "later.Balances.Transfer",
        14 * PAS,
        Duration::from_secs(5),
    );
    assert!(
        !seen.contains(&(14 * PAS)) && seen.contains(&(13 * PAS)),
        "a deleted source must stop, after publishing what came before: {seen:?}"
    );
}
