//! What the benches share to build load on chopsticks: a client of the chain and blocks of Alice's
//! transfers, built on demand (`dev_newBlock`).

use std::sync::Arc;

use subxt::backend::LegacyBackend;
use subxt::config::PolkadotExtrinsicParamsBuilder as Params;
use subxt::dynamic::Value;
use subxt::ext::scale_value::Composite;
use subxt::{OnlineClient, PolkadotConfig};
use subxt_signer::sr25519::dev;

/// A numeric setting from the environment, `default` when unset or unreadable.
pub fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub async fn client(url: &str) -> (OnlineClient<PolkadotConfig>, subxt::rpcs::RpcClient) {
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

/// One `transfer_keep_alive` of 1 PAS from Alice to the account `to` (32 bytes).
fn transfer(to: [u8; 32]) -> subxt::transactions::DynamicPayload<Composite<()>> {
    subxt::dynamic::tx(
        "Balances",
        "transfer_keep_alive",
        Composite::unnamed([
            Value::unnamed_variant("Id", [Value::from_bytes(to)]),
            Value::u128(10u128.pow(10)),
        ]),
    )
}

/// Alice's next nonce at the chain's head.
pub async fn alice_nonce(api: &OnlineClient<PolkadotConfig>) -> u64 {
    api.at_current_block()
        .await
        .expect("head")
        .tx()
        .account_nonce(&dev::alice().public_key().to_account_id())
        .await
        .expect("nonce")
}

/// Submits `per_block` transfers to `to`, then has chopsticks build one block of them: as one
/// `Utility.batch_all` (`batched`: chopsticks validates one transaction instead of `per_block`,
/// ~1.5 s each in its interpreter, so large loads can be built at all), or as separate signed
/// transactions with explicit nonces. Returns when the block is built.
pub async fn fill_block(
    api: &OnlineClient<PolkadotConfig>,
    rpc: &subxt::rpcs::RpcClient,
    nonce: &mut u64,
    per_block: u64,
    batched: bool,
    to: [u8; 32],
) {
    let alice = dev::alice();
    let at = api.at_current_block().await.expect("head");
    let transfers = (0..per_block).map(|_| transfer(to));
    let txs: Vec<_> = if batched {
        let calls = transfers.map(|t| t.into_value()).collect::<Vec<_>>();
        vec![subxt::dynamic::tx(
            "Utility",
            "batch_all",
            Composite::unnamed([Value::unnamed_composite(calls)]),
        )]
    } else {
        transfers.collect()
    };
    for tx in txs {
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
