//! The no-gap rule when blocks are fetched out of order. Between the ingest pipeline and
//! chopsticks sits a node that answers every third block late, so the blocks fetched ahead
//! complete out of order; every block must still be produced, once, in block order, and the
//! cursor must end right after the last one.

use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use aurras_domain::envelope::Envelope;
use aurras_domain::names::ChainName;
use aurras_e2e::processes::{Broker, LocalChain};
use aurras_ingestor::chain::{Chain, Endpoint, RpcBackend};
use aurras_ingestor::cursor::Cursor;
use aurras_ingestor::metrics::Metrics;
use aurras_ingestor::pipeline::{Pipeline, Selection, Start};
use aurras_ingestor::sink::{KafkaSink, TopicSettings};
use rdkafka::Message;
use serde_json::value::RawValue;
use subxt::rpcs::client::{RawRpcFuture, RawRpcSubscription, RpcClientT};
use subxt::rpcs::RpcClient;

mod common;

/// Answers `chain_getBlockHash` late for every third block, and notes the order it answered in.
struct SlowNode {
    inner: RpcClient,
    answered: Arc<Mutex<Vec<u64>>>,
}

/// The block number a `chain_getBlockHash` request asks for (a number or a hex string).
fn asked_block(method: &str, params: Option<&RawValue>) -> Option<u64> {
    if method != "chain_getBlockHash" {
        return None;
    }
    let params: Vec<serde_json::Value> = serde_json::from_str(params?.get()).ok()?;
    match params.first()? {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => u64::from_str_radix(s.trim_start_matches("0x"), 16).ok(),
        _ => None,
    }
}

impl RpcClientT for SlowNode {
    fn request_raw<'a>(
        &'a self,
        method: &'a str,
        params: Option<Box<RawValue>>,
    ) -> RawRpcFuture<'a, Box<RawValue>> {
        Box::pin(async move {
            let block = asked_block(method, params.as_deref());
            let answer = self.inner.request_raw(method, params).await;
            if let Some(n) = block {
                if n % 3 == 0 {
                    tokio::time::sleep(Duration::from_millis(400)).await;
                }
                self.answered.lock().expect("lock").push(n);
            }
            answer
        })
    }

    fn subscribe_raw<'a>(
        &'a self,
        sub: &'a str,
        params: Option<Box<RawValue>>,
        unsub: &'a str,
    ) -> RawRpcFuture<'a, RawRpcSubscription> {
        self.inner.subscribe_raw(sub, params, unsub)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn blocks_fetched_out_of_order_are_produced_in_order_without_gaps() {
    let chain = LocalChain::start().expect("chain");
    let broker = Broker::start().expect("broker");
    let state = tempfile::tempdir().expect("tempdir");
    let api = common::client(&chain.url).await;
    let from = api.at_current_block().await.expect("head").block_number() + 1;
    let rpc = RpcClient::from_insecure_url(&chain.url).await.expect("rpc");
    let _: serde_json::Value = rpc
        .request(
            "dev_newBlock",
            subxt::rpcs::rpc_params![serde_json::json!({ "count": 12 })],
        )
        .await
        .expect("dev_newBlock");
    let to = from + 11;

    let answered = Arc::new(Mutex::new(Vec::new()));
    let slow = RpcClient::new(SlowNode {
        inner: rpc,
        answered: answered.clone(),
    });
    let endpoint = Endpoint::Client {
        rpc: slow,
        backend: RpcBackend::Legacy,
    };
    let name = ChainName::parse("paseo").expect("name");
    let chain_client = Chain::connect(name.clone(), &endpoint, None)
        .await
        .expect("connect");
    let cursor = Cursor::new(state.path().join("cursor"));
    let mut pipeline = Pipeline {
        chain: Arc::new(chain_client),
        chain_name: name,
        sink: KafkaSink::new(
            &broker.addr,
            TopicSettings {
                partitions: 1,
                replication: 1,
            },
        )
        .expect("sink"),
        cursor: cursor.clone(),
        selection: Arc::new(RwLock::new(Selection::All)),
        start: Start::Block(from),
        metrics: Metrics::new("paseo"),
        poll: Duration::from_millis(200),
        fetch_ahead: 8,
        stop_after: Some(to),
        lease: None,
    };
    let (_keep, shutdown) = tokio::sync::watch::channel(false);
    tokio::time::timeout(Duration::from_secs(120), pipeline.run(shutdown))
        .await
        .expect("the backfill finishes")
        .expect("the pipeline runs");

    let answered: Vec<u64> = answered
        .lock()
        .expect("lock")
        .iter()
        .copied()
        .filter(|n| (from..=to).contains(n))
        .collect();
    assert!(
        answered.windows(2).any(|w| w[0] > w[1]),
        "the node must really have answered out of order: {answered:?}"
    );

    // Every block has its timestamp inherent, so every block has an ExtrinsicSuccess.
    let records = common::read_topic(
        &broker.addr,
        "paseo.System.ExtrinsicSuccess",
        usize::MAX,
        Duration::from_secs(10),
    );
    let produced: Vec<(u64, u32)> = records
        .iter()
        .map(|m| {
            let e: Envelope =
                serde_json::from_slice(m.payload().expect("payload")).expect("an envelope");
            (e.block.number, e.event_index)
        })
        .collect();
    assert!(
        produced.windows(2).all(|w| w[0] < w[1]),
        "in block order, each event once: {produced:?}"
    );
    let blocks: Vec<u64> = produced.iter().map(|(b, _)| *b).collect();
    let mut distinct = blocks.clone();
    distinct.dedup();
    assert_eq!(
        distinct,
        (from..=to).collect::<Vec<_>>(),
        "no block missing"
    );
    let genesis = format!("0x{}", hex::encode(api.genesis_hash().0));
    assert_eq!(
        cursor.load("paseo", &genesis).expect("cursor"),
        Some(to + 1),
        "the cursor is right after the last block"
    );
}
