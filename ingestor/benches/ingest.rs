//! Ingest benchmark on real parts: chopsticks running Paseo (one block per batch of transfers), a tansu
//! broker, and blocks full of transfers. Generates the load, then runs `aurras-ingestor bench`'s
//! passes over those blocks: fetch, decode, produce, and the whole path.
//!
//! `cargo bench -p aurras-ingestor --bench ingest`; `AURRAS_BENCH_BLOCKS` and
//! `AURRAS_BENCH_TRANSFERS` (per block) change the load.

use std::sync::Arc;
use std::time::Instant;

use aurras_e2e::processes::{Broker, LocalChain};
use aurras_ingestor::bench::{run, BenchArgs};
use aurras_ingestor::chain::RpcBackend;
use subxt::backend::LegacyBackend;
use subxt::config::PolkadotExtrinsicParamsBuilder as Params;
use subxt::{OnlineClient, PolkadotConfig};
use subxt_signer::sr25519::dev;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn client(url: &str) -> (OnlineClient<PolkadotConfig>, subxt::rpcs::RpcClient) {
    let rpc = subxt::rpcs::RpcClient::from_insecure_url(url)
        .await
        .expect("rpc");
    let api = OnlineClient::from_backend(Arc::new(
        LegacyBackend::<PolkadotConfig>::builder().build(rpc.clone()),
    ))
    .await
    .expect("client");
    (api, rpc)
}

/// Submits `per_block` transfers (explicit nonces), then has chopsticks build one block of them.
async fn fill_block(
    api: &OnlineClient<PolkadotConfig>,
    rpc: &subxt::rpcs::RpcClient,
    nonce: &mut u64,
    per_block: u64,
) {
    let alice = dev::alice();
    let at = api.at_current_block().await.expect("head");
    for _ in 0..per_block {
        let tx = subxt::dynamic::tx(
            "Balances",
            "transfer_keep_alive",
            (dev::bob().public_key().to_address::<()>(), 10u128.pow(10)),
        );
        at.tx()
            .sign_and_submit(
                &tx,
                &alice,
                Params::<PolkadotConfig>::new()
                    .nonce(*nonce)
                    .immortal()
                    .build(),
            )
            .await
            .expect("submit");
        *nonce += 1;
    }
    let _: serde_json::Value = rpc
        .request("dev_newBlock", subxt::rpcs::rpc_params![])
        .await
        .expect("dev_newBlock");
}

fn main() {
    let blocks = env_or("AURRAS_BENCH_BLOCKS", 5);
    let per_block = env_or("AURRAS_BENCH_TRANSFERS", 60);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let chain = LocalChain::start_with(&["--build-block-mode", "Manual"]).expect("chain");
        let broker = Broker::start().expect("broker");
        let (api, rpc) = client(&chain.url).await;
        let alice = dev::alice().public_key().to_account_id();
        let first = api.at_current_block().await.expect("head").block_number() + 1;
        let mut nonce = api
            .at_current_block()
            .await
            .expect("head")
            .tx()
            .account_nonce(&alice)
            .await
            .expect("nonce");
        let started = Instant::now();
        for _ in 0..blocks {
            fill_block(&api, &rpc, &mut nonce, per_block).await;
        }
        let last = api.at_current_block().await.expect("head").block_number();
        println!(
            "load: {} transfers in blocks {first}..={last}, generated in {:.1} s",
            blocks * per_block,
            started.elapsed().as_secs_f64()
        );
        run(BenchArgs {
            chain: "paseo".into(),
            rpc: chain.url.clone(),
            rpc_backend: RpcBackend::Legacy,
            from_block: first,
            to_block: Some(last),
            brokers: Some(broker.addr.clone()),
        })
        .await
        .expect("bench");
    });
}
