//! One ingestor per chain, across hosts: two `aurras-ingestor ingest` processes for one chain,
//! each with a cursor of its own (as on two machines), coordinate through the chain's lease at
//! the API, against real parts (chopsticks on the Paseo runtime, tansu, the compiled `api`
//! component). The second stands by; when the first freezes (SIGSTOP) it takes over from the
//! first one's progress, so a transfer made in between is not missed; the first, thawed, produces
//! nothing more; a clean stop hands the lease back at once. Every transfer is on the topic
//! exactly once.

mod common;

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aurras_e2e::world::World;
use aurras_e2e::ADMIN_TOKEN;
use common::{read_topic, transfer, world_on, Ingestor};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use rdkafka::Message;
use serde_json::Value;

const PAS: u128 = 10_000_000_000;
const TOPIC: &str = "paseo.Balances.Transfer";
const WAIT: Duration = Duration::from_secs(60);

fn start(app: &str, brokers: &str, cursor: &Path, log: &Path) -> Ingestor {
    Ingestor(
        Command::new(env!("CARGO_BIN_EXE_aurras-ingestor"))
            .arg("ingest")
            .args([
                "--chain",
                "paseo",
                "--api",
                app,
                "--admin-token",
                ADMIN_TOKEN,
            ])
            .args(["--brokers", brokers, "--rpc-backend", "legacy"])
            .args(["--poll-ms", "200", "--lease-ttl-secs", "3"])
            .arg("--cursor-file")
            .arg(cursor)
            .env("RUST_LOG", "aurras_ingestor=info,warn")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(File::create(log).expect("log file"))
            .spawn()
            .expect("the ingestor starts"),
    )
}

/// The lease as the API reports it.
async fn lease(w: &World) -> Value {
    let answer = w
        .app
        .call(
            "GET",
            &format!("/api/sources/{}/lease", w.source),
            Some(ADMIN_TOKEN),
            None,
        )
        .await
        .expect("lease");
    assert_eq!(answer.status, 200, "{answer:?}");
    answer.body
}

/// Waits until `check` holds for the lease, returning it.
async fn lease_until(w: &World, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let current = lease(w).await;
        if check(&current) {
            return current;
        }
        assert!(
            started.elapsed() < WAIT,
            "{what}: the lease stayed {current}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// How often each transfer amount is on the topic, and the block of each.
fn published(brokers: &str, wanted: u128) -> BTreeMap<u128, (usize, u64)> {
    let started = Instant::now();
    loop {
        let mut seen: BTreeMap<u128, (usize, u64)> = BTreeMap::new();
        for m in read_topic(brokers, TOPIC, usize::MAX, Duration::from_secs(2)) {
            let Some(e) = m
                .payload()
                .and_then(|p| serde_json::from_slice::<Value>(p).ok())
            else {
                continue;
            };
            let (Some(amount), Some(block)) = (
                e["fields"]["amount"].as_str().and_then(|a| a.parse().ok()),
                e["block"]["number"].as_u64(),
            ) else {
                continue;
            };
            let entry = seen.entry(amount).or_insert((0, block));
            entry.0 += 1;
        }
        if seen.contains_key(&wanted) || started.elapsed() > WAIT {
            return seen;
        }
    }
}

fn log_of(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_ingestor_stands_by_takes_over_from_the_first_ones_progress_and_fences_it() {
    let chain = aurras_e2e::processes::LocalChain::start().expect("chain");
    let broker = aurras_e2e::processes::Broker::start().expect("broker");
    let w = world_on(&chain.url).await;
    let app = w.app.url();
    let dir = tempfile::tempdir().expect("tempdir");
    let (log_a, log_b) = (dir.path().join("a.log"), dir.path().join("b.log"));

    let mut a = start(&app, &broker.addr, &dir.path().join("a.cursor"), &log_a);
    let held = lease_until(&w, "the first ingestor takes it", |l| {
        l["holder"].is_string()
    })
    .await;
    let holder_a = held["holder"].as_str().unwrap_or_default().to_owned();
    let b = start(&app, &broker.addr, &dir.path().join("b.cursor"), &log_b);

    transfer(&chain.url, &[21 * PAS]).await;
    let seen = published(&broker.addr, 21 * PAS);
    let (_, block_21) = seen[&(21 * PAS)];
    assert!(
        log_of(&log_b).contains("standing by"),
        "the second ingestor must stand by while the first holds the lease:\n{}",
        log_of(&log_b)
    );
    assert_eq!(lease(&w).await["holder"], holder_a.as_str());
    // The first one's progress reaches the lease with its next renewal.
    lease_until(&w, "the progress passes the first transfer", |l| {
        l["progress"]["next_block"].as_u64() > Some(block_21)
    })
    .await;

    // The first ingestor freezes; transfers made before anyone takes over are not lost (the
    // first of them lies before the head the second ingestor would otherwise start at).
    kill(Pid::from_raw(a.id() as i32), Signal::SIGSTOP).expect("SIGSTOP");
    transfer(&chain.url, &[22 * PAS, 25 * PAS]).await;
    let taken = lease_until(&w, "the second ingestor takes over", |l| {
        l["holder"].is_string() && l["holder"] != holder_a.as_str()
    })
    .await;
    let holder_b = taken["holder"].as_str().unwrap_or_default().to_owned();
    let seen = published(&broker.addr, 25 * PAS);
    assert!(seen.contains_key(&(22 * PAS)), "{seen:?}");
    assert!(
        log_of(&log_b).contains("resuming where the last holder of the lease stopped"),
        "{}",
        log_of(&log_b)
    );

    // Thawed, the first ingestor has lost the lease and produces nothing more.
    kill(Pid::from_raw(a.id() as i32), Signal::SIGCONT).expect("SIGCONT");
    tokio::time::sleep(Duration::from_secs(2)).await;
    transfer(&chain.url, &[23 * PAS]).await;
    published(&broker.addr, 23 * PAS);
    assert_eq!(lease(&w).await["holder"], holder_b.as_str());

    // A clean stop of the holder hands the lease back at once, without waiting for it to lapse.
    let mut b = b;
    kill(Pid::from_raw(b.id() as i32), Signal::SIGTERM).expect("SIGTERM");
    let stopped = b.0.wait().expect("wait");
    assert!(stopped.success(), "{stopped:?}\n{}", log_of(&log_b));
    lease_until(&w, "the first ingestor takes it back", |l| {
        l["holder"] == holder_a.as_str()
    })
    .await;
    transfer(&chain.url, &[24 * PAS]).await;
    let seen = published(&broker.addr, 24 * PAS);

    let counts: BTreeMap<u128, usize> = seen.iter().map(|(a, (n, _))| (*a / PAS, *n)).collect();
    assert_eq!(
        counts,
        BTreeMap::from([(21, 1), (22, 1), (23, 1), (24, 1), (25, 1)]),
        "each transfer exactly once (PAS → copies)\nA:\n{}\nB:\n{}",
        log_of(&log_a),
        log_of(&log_b)
    );
    assert!(
        log_of(&log_a).contains("producing nothing more") || log_of(&log_a).contains("lost"),
        "{}",
        log_of(&log_a)
    );
    a.0.kill().ok();
}
