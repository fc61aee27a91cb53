//! What the chain tests share: a client of the local chain, signed Alice → Bob transfers waited
//! for until finalized, and child processes killed when a test ends however it ends.

#![allow(dead_code)] // each test file uses its own subset

use std::process::Child;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::OwnedMessage;
use rdkafka::ClientConfig;

use subxt::backend::LegacyBackend;
use subxt::config::PolkadotExtrinsicParamsBuilder as Params;
use subxt::{OnlineClient, PolkadotConfig};
use subxt_signer::sr25519::dev;

/// Alice's address (prefix 42).
pub const ALICE: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
/// Bob's address.
pub const BOB: &str = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";
/// Where transfers are published.
pub const TOPIC: &str = "paseo.Balances.Transfer";

pub async fn client(url: &str) -> OnlineClient<PolkadotConfig> {
    let rpc = subxt::rpcs::RpcClient::from_insecure_url(url)
        .await
        .expect("rpc");
    let backend = LegacyBackend::<PolkadotConfig>::builder().build(rpc);
    OnlineClient::from_backend(Arc::new(backend))
        .await
        .expect("client")
}

/// The chain's current block number (the tests start ingesting right after it).
pub async fn head(url: &str) -> u64 {
    client(url)
        .await
        .at_current_block()
        .await
        .expect("head")
        .block_number()
}

/// The app, its peers and the `paseo` source registered at the chain behind `url`.
pub async fn world_on(url: &str) -> aurras_e2e::world::World {
    aurras_e2e::world::World::start(aurras_e2e::world::Settings {
        rpc: url.to_owned(),
        ..Default::default()
    })
    .await
    .expect("world")
}

/// A finalized transfer: the block it is in and the amount.
#[derive(Debug, Clone)]
pub struct Sent {
    pub block_hash: [u8; 32],
    pub amount: u128,
}

/// Alice sends Bob `amounts`, one after another, each waited for until finalized.
pub async fn transfer(url: &str, amounts: &[u128]) -> Vec<Sent> {
    let mut sent = Vec::new();
    for amount in amounts {
        let tx = subxt::dynamic::tx(
            "Balances",
            "transfer_keep_alive",
            (dev::bob().public_key().to_address::<()>(), *amount),
        );
        sent.push(Sent {
            block_hash: submit(url, &tx).await,
            amount: *amount,
        });
    }
    sent
}

/// Alice signs `call`, and it is finalized and succeeds: the hash of its block.
pub async fn submit(url: &str, call: &impl subxt::tx::Payload) -> [u8; 32] {
    submit_as(url, &dev::alice(), call).await
}

/// `signer` signs `call`, and it is finalized and succeeds: the hash of its block.
pub async fn submit_as(
    url: &str,
    signer: &subxt_signer::sr25519::Keypair,
    call: &impl subxt::tx::Payload,
) -> [u8; 32] {
    let api = client(url).await;
    let at = api.at_current_block().await.expect("head");
    let nonce = at
        .tx()
        .account_nonce(&signer.public_key().to_account_id())
        .await
        .expect("nonce");
    let in_block = at
        .tx()
        .sign_and_submit_then_watch(
            call,
            signer,
            Params::<PolkadotConfig>::new().nonce(nonce).build(),
        )
        .await
        .expect("submit")
        .wait_for_finalized()
        .await
        .expect("finalized");
    let block_hash = in_block.block_hash().0;
    in_block
        .wait_for_success()
        .await
        .expect("the extrinsic succeeded");
    block_hash
}

/// Starts `aurras-ingestor <subcommand> <args>` with debug logs on stderr.
pub fn subcommand(subcommand: &str, args: &[&str]) -> Ingestor {
    Ingestor(
        std::process::Command::new(env!("CARGO_BIN_EXE_aurras-ingestor"))
            .arg(subcommand)
            .args(args)
            .env("RUST_LOG", "aurras_ingestor=debug,warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("the ingestor starts"),
    )
}

/// `ingest` of the `paseo` source registered at `app`, over RPC, keeping its cursor in `cursor`:
/// from `from_block`, or (`None`) from where the cursor says; polling the head every 200 ms.
pub fn ingest(
    app: &str,
    brokers: &str,
    from_block: Option<u64>,
    cursor: &std::path::Path,
) -> Ingestor {
    ingest_polling(app, brokers, from_block, cursor, Duration::from_millis(200))
}

/// [`ingest`], polling the head every `poll`.
pub fn ingest_polling(
    app: &str,
    brokers: &str,
    from_block: Option<u64>,
    cursor: &std::path::Path,
    poll: Duration,
) -> Ingestor {
    ingest_chain("paseo", app, brokers, from_block, cursor, poll)
}

/// `ingest` of the source of `chain` registered at `app`.
pub fn ingest_chain(
    chain: &str,
    app: &str,
    brokers: &str,
    from_block: Option<u64>,
    cursor: &std::path::Path,
    poll: Duration,
) -> Ingestor {
    let from_block = from_block.map(|n| n.to_string());
    let poll_ms = poll.as_millis().to_string();
    let mut args = vec![
        "--chain",
        chain,
        "--api",
        app,
        "--admin-token",
        aurras_e2e::ADMIN_TOKEN,
        "--rpc-backend",
        "legacy",
        "--brokers",
        brokers,
        "--poll-ms",
        &poll_ms,
        "--cursor-file",
        cursor.to_str().expect("utf-8 path"),
    ];
    if let Some(n) = &from_block {
        args.extend(["--from-block", n.as_str()]);
    }
    subcommand("ingest", &args)
}

/// `relay` of every source registered at `app` to its `dispatch`, in consumer group `group`; a
/// killed relay's partitions move on after `session_timeout`.
pub fn relay(app: &str, brokers: &str, group: &str, session_timeout: Duration) -> Ingestor {
    relay_with(app, brokers, group, session_timeout, &[])
}

/// [`relay`] with more flags (`--metrics-listen` for the loop bench).
pub fn relay_with(
    app: &str,
    brokers: &str,
    group: &str,
    session_timeout: Duration,
    more: &[&str],
) -> Ingestor {
    let session_ms = session_timeout.as_millis().to_string();
    let mut args = vec![
        "--brokers",
        brokers,
        "--app",
        app,
        "--relay-secret",
        aurras_e2e::RELAY_SECRET,
        "--api",
        app,
        "--admin-token",
        aurras_e2e::ADMIN_TOKEN,
        "--group",
        group,
        "--api-poll-secs",
        "1",
        "--session-timeout-ms",
        &session_ms,
    ];
    args.extend_from_slice(more);
    subcommand("relay", &args)
}

/// The operator's one step, `aurras-ingestor recipes --chain <chain> --json`, against the app at
/// `app`: it must succeed; its report.
pub fn publish_recipes(chain: &str, app: &str) -> serde_json::Value {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aurras-ingestor"))
        .args(["recipes", "--chain", chain, "--api", app])
        .args([
            "--admin-token",
            aurras_e2e::ADMIN_TOKEN,
            "--rpc-backend",
            "legacy",
            "--json",
        ])
        .env("RUST_LOG", "warn")
        .output()
        .expect("aurras-ingestor recipes runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("its JSON report")
}

/// The ingestor process, killed when the test ends however it ends.
pub struct Ingestor(pub Child);

impl std::ops::Deref for Ingestor {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Ingestor {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Ingestor {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Reads `topic` from the beginning, in a fresh consumer group, until `want` records arrived or
/// `timeout` passed.
pub fn read_topic(brokers: &str, topic: &str, want: usize, timeout: Duration) -> Vec<OwnedMessage> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set(
            "group.id",
            format!("test-{}", aurras_domain::secrets::new_id("g")),
        )
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        // The topic may appear after the subscription: look for it every second, not every 5 min.
        .set("topic.metadata.refresh.interval.ms", "1000")
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let started = Instant::now();
    let mut out = Vec::new();
    while out.len() < want && started.elapsed() < timeout {
        if let Some(Ok(msg)) = consumer.poll(Duration::from_millis(200)) {
            out.push(msg.detach());
        }
    }
    out
}
