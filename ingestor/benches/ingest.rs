//! Ingest benchmark on real parts: chopsticks running Paseo (one block per batch of transfers), a
//! tansu broker, and blocks full of transfers. Generates the load, then runs over those blocks, in one
//! run: the original Aurras' path (polkadot.js, `tests/chain/baseline.mjs`), and
//! `aurras-ingestor bench`'s passes (fetch, decode, produce, and the whole `ingest` pipeline),
//! and prints both rates and their ratio.
//!
//! `cargo bench -p aurras-ingestor --bench ingest`. The load and the passes change with:
//! `AURRAS_BENCH_BLOCKS` (default 5), `AURRAS_BENCH_TRANSFERS` per block (default 60; 0 builds
//! empty blocks), `AURRAS_BENCH_BATCH=0` (each transfer its own signed transaction instead of one
//! `Utility.batch_all` per block), `AURRAS_BENCH_FETCH_AHEAD` (default 16),
//! `AURRAS_BENCH_BROKER_STORAGE=memory` (tansu keeps records in memory instead of committing them
//! to sqlite: what the broker's storage costs), `AURRAS_BENCH_BASELINE=0` (skip the polkadot.js
//! path), `AURRAS_BENCH_WHOLE_PATH_ONLY=1` (only the pipeline, for its peak RSS).

mod blocks;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use aurras_e2e::processes::{Broker, LocalChain};
use aurras_ingestor::bench::{run, BenchArgs, Row};
use aurras_ingestor::chain::RpcBackend;
use blocks::{alice_nonce, client, env_or, fill_block};
use subxt_signer::sr25519::dev;

/// The original's path over blocks `from..=to`: `{"blocks", "events", "bytes", "seconds"}`.
fn baseline(url: &str, from: u64, to: u64) -> serde_json::Value {
    let chain_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/chain");
    let out = Command::new("node")
        .arg(chain_dir.join("baseline.mjs"))
        .args([url, &from.to_string(), &to.to_string()])
        .current_dir(&chain_dir)
        .output()
        .expect("node runs (npm ci in tests/chain installs @polkadot/api)");
    assert!(
        out.status.success(),
        "baseline.mjs failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("baseline.mjs prints JSON")
}

fn compare(baseline: &serde_json::Value, aurras: &Row) {
    let events = baseline["events"].as_u64().unwrap_or_default();
    let seconds = baseline["seconds"].as_f64().unwrap_or(f64::NAN);
    let rate = events as f64 / seconds;
    println!();
    println!("| path over the same blocks                                   |  events |  seconds |  events/s |");
    println!("|-------------------------------------------------------------|--------:|---------:|----------:|");
    println!(
        "| original: polkadot.js api.at + query.system.events, JSON     | {events:>7} | {seconds:>8.2} | {rate:>9.0} |"
    );
    println!(
        "| Aurras: whole ingest pipeline (fetch, decode, produce acked) | {:>7} | {:>8.2} | {:>9.0} |",
        aurras.events,
        aurras.took.as_secs_f64(),
        aurras.events_per_second()
    );
    println!();
    println!(
        "ratio (Aurras / original): {:.1}x",
        aurras.events_per_second() / rate
    );
}

fn main() {
    let blocks = env_or("AURRAS_BENCH_BLOCKS", 5);
    let per_block = env_or("AURRAS_BENCH_TRANSFERS", 60);
    let fetch_ahead = env_or("AURRAS_BENCH_FETCH_AHEAD", 16) as usize;
    let with_baseline = env_or("AURRAS_BENCH_BASELINE", 1) != 0;
    let whole_path_only = env_or("AURRAS_BENCH_WHOLE_PATH_ONLY", 0) != 0;
    let batched = env_or("AURRAS_BENCH_BATCH", 1) != 0;
    let memory_broker = std::env::var("AURRAS_BENCH_BROKER_STORAGE").as_deref() == Ok("memory");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let chain = LocalChain::start_with(&["--build-block-mode", "Manual"]).expect("chain");
        let broker = if memory_broker {
            Broker::start_in_memory()
        } else {
            Broker::start()
        }
        .expect("broker");
        let (api, rpc) = client(&chain.url).await;
        let first = api.at_current_block().await.expect("head").block_number() + 1;
        let mut nonce = alice_nonce(&api).await;
        let bob = dev::bob().public_key().0;
        let started = Instant::now();
        if per_block == 0 {
            let _: serde_json::Value = rpc
                .request(
                    "dev_newBlock",
                    subxt::rpcs::rpc_params![serde_json::json!({ "count": blocks })],
                )
                .await
                .expect("dev_newBlock");
        } else {
            for _ in 0..blocks {
                fill_block(&api, &rpc, &mut nonce, per_block, batched, bob).await;
            }
        }
        let last = api.at_current_block().await.expect("head").block_number();
        println!(
            "load: {} transfers{} in blocks {first}..={last}, generated in {:.1} s",
            blocks * per_block,
            if batched {
                " (one Utility.batch_all per block)"
            } else {
                ""
            },
            started.elapsed().as_secs_f64()
        );
        // Twice, keeping the faster run: the second reads what chopsticks has cached by then, as
        // the Aurras passes after it do.
        let baseline = with_baseline.then(|| {
            let runs = [
                baseline(&chain.url, first, last),
                baseline(&chain.url, first, last),
            ];
            println!("polkadot.js baseline runs: {} / {}", runs[0], runs[1]);
            let seconds = |r: &serde_json::Value| r["seconds"].as_f64().unwrap_or(f64::MAX);
            let [a, b] = runs;
            if seconds(&a) <= seconds(&b) {
                a
            } else {
                b
            }
        });
        let report = run(BenchArgs {
            chain: "paseo".into(),
            rpc: chain.url.clone(),
            rpc_backend: RpcBackend::Legacy,
            from_block: first,
            to_block: Some(last),
            brokers: Some(broker.addr.clone()),
            fetch_ahead,
            whole_path_only,
        })
        .await
        .expect("bench");
        if let (Some(baseline), Some(whole)) = (baseline, report.whole_path()) {
            compare(&baseline, whole);
        }
    });
}
