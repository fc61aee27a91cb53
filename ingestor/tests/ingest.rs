//! The ingestor against real parts: chopsticks running the Paseo runtime, a tansu broker, signed
//! transfers from Alice to Bob. Checks the exact envelopes, restarts after `kill -9`, the broker
//! going away and coming back, and the exit codes of bad configurations.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aurras_domain::envelope::{event_id, Envelope};
use aurras_e2e::processes::{free_port, Broker, LocalChain};
use aurras_ingestor::cursor::Cursor;
use rdkafka::Message;

mod common;

use common::{client, head, read_topic, transfer, Ingestor, ALICE, BOB, TOPIC};

/// Reads `topic` from the beginning until `want` records arrived or `timeout` passed.
fn consume(brokers: &str, topic: &str, want: usize, timeout: Duration) -> Vec<Envelope> {
    read_topic(brokers, topic, want, timeout)
        .iter()
        .map(|m| serde_json::from_slice(m.payload().expect("payload")).expect("an envelope"))
        .collect()
}

fn ingestor(args: &[&str], cursor: &Path) -> Ingestor {
    Ingestor(
        Command::new(env!("CARGO_BIN_EXE_aurras-ingestor"))
            .arg("ingest")
            .args(args)
            .arg("--cursor-file")
            .arg(cursor)
            .args(["--poll-ms", "200"])
            .env("RUST_LOG", "aurras_ingestor=debug,warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("ingestor starts"),
    )
}

fn follow_args<'a>(chain: &'a LocalChain, brokers: &'a str) -> Vec<&'a str> {
    vec![
        "--chain",
        "paseo",
        "--rpc",
        &chain.url,
        "--rpc-backend",
        "legacy",
        "--brokers",
        brokers,
        "--events",
        "Balances.Transfer",
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn transfers_arrive_as_exact_envelopes() {
    let chain = LocalChain::start().expect("chain");
    let broker = Broker::start().expect("broker");
    let state = tempfile::tempdir().expect("tempdir");
    let metrics_port = free_port().expect("port");
    let metrics_addr = format!("127.0.0.1:{metrics_port}");
    let from = (head(&chain.url).await + 1).to_string();
    let mut args = follow_args(&chain, &broker.addr);
    args.extend(["--from-block", &from, "--metrics-listen", &metrics_addr]);
    let mut ingest = ingestor(&args, &state.path().join("cursor"));

    let sent = transfer(&chain.url, &[1_234_500_000_000, 2 * 10u128.pow(10), 3]).await;
    let got = consume(&broker.addr, TOPIC, sent.len(), Duration::from_secs(60));
    assert_eq!(got.len(), sent.len(), "{got:#?}");

    let genesis = client(&chain.url).await.genesis_hash().0;
    for (envelope, sent) in got.iter().zip(&sent) {
        assert_eq!(envelope.chain.as_str(), "paseo");
        assert_eq!(
            (envelope.pallet.as_str(), envelope.event.as_str()),
            ("Balances", "Transfer")
        );
        assert_eq!(envelope.fields["from"], ALICE);
        assert_eq!(envelope.fields["to"], BOB);
        assert_eq!(
            envelope.fields["amount"],
            sent.amount.to_string(),
            "amounts are decimal strings"
        );
        assert_eq!(
            envelope.block.hash,
            format!("0x{}", hex::encode(sent.block_hash))
        );
        assert_eq!(envelope.genesis_hash, format!("0x{}", hex::encode(genesis)));
        assert_eq!(
            envelope.id,
            event_id(&genesis, &sent.block_hash, envelope.event_index)
        );
        assert_eq!(envelope.spec_version, 1_001_002);
        assert_eq!(envelope.phase, "apply_extrinsic");
        assert!(envelope.extrinsic_index.is_some());
        assert_eq!(envelope.accounts.len(), 2);
        assert_eq!(envelope.key(), envelope.accounts[0]);
    }
    let blocks: Vec<u64> = got.iter().map(|e| e.block.number).collect();
    assert!(
        blocks.windows(2).all(|w| w[0] < w[1]),
        "in block order: {blocks:?}"
    );

    let status: serde_json::Value = reqwest::get(format!("http://{metrics_addr}/status"))
        .await
        .expect("status")
        .json()
        .await
        .expect("json");
    assert!(
        status["current_block"].as_i64().expect("block") >= *blocks.last().expect("blocks") as i64,
        "{status}"
    );
    assert!(
        status["events_produced"].as_u64().expect("count") >= 3,
        "{status}"
    );
    let prometheus = reqwest::get(format!("http://{metrics_addr}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        prometheus.contains("aurras_ingest_current_block"),
        "{prometheus}"
    );

    // SIGTERM: a clean stop with the cursor after the last block.
    let status = Command::new("kill")
        .args(["-TERM", &ingest.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let exit = ingest.wait().expect("wait");
    assert_eq!(exit.code(), Some(0));
    let cursor: serde_json::Value =
        serde_json::from_slice(&std::fs::read(state.path().join("cursor")).expect("cursor"))
            .expect("json");
    assert!(cursor["next_block"].as_u64().expect("next") > *blocks.last().expect("blocks"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_ingestor_resumes_without_losing_a_block() {
    let chain = LocalChain::start().expect("chain");
    let broker = Broker::start().expect("broker");
    let state = tempfile::tempdir().expect("tempdir");
    let cursor = state.path().join("cursor");
    let from = (head(&chain.url).await + 1).to_string();
    let mut args = follow_args(&chain, &broker.addr);
    args.extend(["--from-block", &from]);
    let mut ingest = ingestor(&args, &cursor);

    let amounts: Vec<u128> = (1..=12).map(|i| i * 10u128.pow(9)).collect();
    let url = chain.url.clone();
    let sender = tokio::spawn(async move { transfer(&url, &amounts).await });
    // Kill -9 once some transfers are through, while others are still being produced.
    let seen = consume(&broker.addr, TOPIC, 4, Duration::from_secs(60));
    assert!(seen.len() >= 4);
    ingest.kill().expect("kill -9");
    ingest.wait().expect("wait");

    // Restart without --from-block: the cursor says where to resume.
    let resume = follow_args(&chain, &broker.addr);
    let mut ingest = ingestor(&resume, &cursor);
    let sent = sender.await.expect("sender");
    let got = consume(&broker.addr, TOPIC, sent.len(), Duration::from_secs(90));
    // Let a possible duplicate of the block in flight arrive too.
    let got = {
        let more = consume(&broker.addr, TOPIC, got.len() + 1, Duration::from_secs(3));
        if more.len() > got.len() {
            more
        } else {
            got
        }
    };
    ingest.kill().expect("kill");
    ingest.wait().expect("wait");

    let mut by_id: BTreeMap<&str, Vec<&Envelope>> = BTreeMap::new();
    for e in &got {
        by_id.entry(e.id.as_str()).or_default().push(e);
    }
    let sent_blocks: BTreeSet<String> = sent
        .iter()
        .map(|s| format!("0x{}", hex::encode(s.block_hash)))
        .collect();
    let got_blocks: BTreeSet<String> = by_id.values().map(|es| es[0].block.hash.clone()).collect();
    assert_eq!(got_blocks, sent_blocks, "every transfer's block arrived");
    assert_eq!(by_id.len(), sent.len(), "one event per transfer, by id");
    for (id, copies) in &by_id {
        assert!(copies.len() <= 2, "{id} arrived {} times", copies.len());
        assert!(
            copies.iter().all(|c| *c == copies[0]),
            "duplicates of {id} are identical"
        );
    }
    let duplicated_blocks: BTreeSet<u64> = by_id
        .values()
        .filter(|c| c.len() > 1)
        .map(|c| c[0].block.number)
        .collect();
    assert!(
        duplicated_blocks.len() <= 1,
        "only the block in flight may repeat: {duplicated_blocks:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_broker_may_be_down_at_start_and_mid_run() {
    let chain = LocalChain::start().expect("chain");
    let broker = Broker::start().expect("broker");
    let (port, data) = broker.stop();
    let brokers = format!("127.0.0.1:{port}");
    let state = tempfile::tempdir().expect("tempdir");
    let from = (head(&chain.url).await + 1).to_string();
    let mut args = follow_args(&chain, &brokers);
    args.extend(["--from-block", &from]);
    let mut ingest = ingestor(&args, &state.path().join("cursor"));

    // Down at start: transfers happen, the ingestor retries.
    let first = transfer(&chain.url, &[11, 12]).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let broker = Broker::start_on(port, data).expect("broker back");
    let got = consume(&brokers, TOPIC, first.len(), Duration::from_secs(90));
    assert_eq!(got.len(), first.len());

    // Down mid-run.
    let (port, data) = broker.stop();
    let second = transfer(&chain.url, &[13, 14]).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let broker = Broker::start_on(port, data).expect("broker back");
    let all = consume(
        &brokers,
        TOPIC,
        first.len() + second.len(),
        Duration::from_secs(90),
    );
    let amounts: BTreeSet<String> = all
        .iter()
        .map(|e| e.fields["amount"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        amounts,
        ["11", "12", "13", "14"]
            .into_iter()
            .map(String::from)
            .collect()
    );

    // With the broker and the chain both gone, SIGTERM still stops the ingestor promptly.
    drop(broker);
    drop(chain);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let status = Command::new("kill")
        .args(["-TERM", &ingest.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let exit = loop {
        if let Some(exit) = ingest.try_wait().expect("wait") {
            break exit;
        }
        assert!(
            Instant::now() < deadline,
            "the ingestor did not stop within 30 s of SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(exit.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_ingestor_of_the_same_cursor_is_refused() {
    let chain = LocalChain::start().expect("chain");
    let broker = Broker::start().expect("broker");
    let state = tempfile::tempdir().expect("tempdir");
    let cursor = state.path().join("cursor");
    let from = (head(&chain.url).await + 1).to_string();
    let mut args = follow_args(&chain, &broker.addr);
    args.extend(["--from-block", &from]);
    let mut first = ingestor(&args, &cursor);
    let taken = Cursor::new(&cursor);
    let deadline = Instant::now() + Duration::from_secs(30);
    while let Ok(free) = taken.lock() {
        drop(free);
        assert!(
            Instant::now() < deadline,
            "the first ingestor never took the cursor"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let cursor_arg = cursor.to_str().expect("utf-8 path");
    let mut second = args.clone();
    second.extend(["--cursor-file", cursor_arg]);
    let (code, stderr) = run(&second);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("another aurras-ingestor holds the cursor")
            && stderr.contains("--cursor-file"),
        "{stderr}"
    );

    // The first goes on alone: one transfer, one record.
    let sent = transfer(&chain.url, &[7 * 10u128.pow(9)]).await;
    let got = consume(&broker.addr, TOPIC, 2, Duration::from_secs(10));
    assert_eq!(got.len(), 1, "exactly one copy of the transfer");
    assert_eq!(
        got[0].block.hash,
        format!("0x{}", hex::encode(sent[0].block_hash))
    );

    // A killed holder's lock goes with it.
    first.kill().expect("kill -9");
    first.wait().expect("wait");
    taken
        .lock()
        .expect("the cursor is free once its holder died");
}

fn run(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_aurras-ingestor"))
        .arg("ingest")
        .args(args)
        .output()
        .expect("run");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_configuration_is_named_with_documented_exit_codes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cursor = dir.path().join("cursor");
    let cursor = cursor.to_str().expect("utf-8");

    let (code, err) = run(&[
        "--chain",
        "Paseo",
        "--rpc",
        "ws://127.0.0.1:1",
        "--brokers",
        "b:1",
        "--events",
        "Balances.Transfer",
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--chain"), "{err}");

    let (code, err) = run(&[
        "--chain",
        "paseo",
        "--rpc",
        "http://x",
        "--brokers",
        "b:1",
        "--events",
        "Balances.Transfer",
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--rpc"), "{err}");

    let (code, err) = run(&[
        "--chain",
        "paseo",
        "--rpc",
        "ws://127.0.0.1:1",
        "--brokers",
        "b:1",
        "--events",
        "Balances",
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--events"), "{err}");

    let bad_spec = dir.path().join("spec.json");
    std::fs::write(&bad_spec, "{\"name\": \"x\"}").expect("write");
    let (code, err) = run(&[
        "--chain",
        "paseo",
        "--chain-spec",
        bad_spec.to_str().expect("utf-8"),
        "--brokers",
        "b:1",
        "--events",
        "Balances.Transfer",
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("--chain-spec") && err.contains("genesis"),
        "{err}"
    );

    let (code, err) = run(&[
        "--chain",
        "dot",
        "--known-chain",
        "dot",
        "--brokers",
        "b:1",
        "--events",
        "Balances.Transfer",
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("--known-chain dot") && err.contains("polkadot, kusama"),
        "{err}"
    );

    let closed = format!("ws://127.0.0.1:{}", free_port().expect("port"));
    let (code, err) = run(&[
        "--chain",
        "paseo",
        "--rpc",
        &closed,
        "--brokers",
        "b:1",
        "--events",
        "Balances.Transfer",
        "--connect-timeout-secs",
        "5",
        "--cursor-file",
        cursor,
    ]);
    assert_eq!(code, Some(3), "{err}");

    let chain = LocalChain::start().expect("chain");
    let (code, err) = run(&[
        "--chain",
        "paseo",
        "--rpc",
        &chain.url,
        "--rpc-backend",
        "legacy",
        "--brokers",
        "b:1",
        "--events",
        "Balances.Transfer,Balances.Transferr",
        "--cursor-file",
        cursor,
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("Balances.Transferr") && !err.contains("Balances.Transfer,"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn registered_events_come_from_the_api_and_follow_its_changes() {
    use aurras_e2e::{App, ADMIN_TOKEN};
    let chain = LocalChain::start().expect("chain");
    let broker = Broker::start().expect("broker");
    let app = App::start().await.expect("api");
    let source = app
        .call(
            "POST",
            "/api/sources",
            Some(ADMIN_TOKEN),
            Some(&serde_json::json!({"chain": "paseo", "rpc": [chain.url], "events": ["Balances.Transfer"],
                                     "token": {"symbol": "PAS", "decimals": 10}})),
        )
        .await
        .expect("register");
    assert_eq!(source.status, 201, "{}", source.body);
    let state = tempfile::tempdir().expect("tempdir");
    let from = (head(&chain.url).await + 1).to_string();
    let api = app.url();
    // No --rpc and no --events: both come from the registered source.
    let args = [
        "--chain",
        "paseo",
        "--rpc-backend",
        "legacy",
        "--brokers",
        &broker.addr,
        "--api",
        &api,
        "--admin-token",
        ADMIN_TOKEN,
        "--api-poll-secs",
        "1",
        "--from-block",
        &from,
    ];
    let mut ingest = ingestor(&args, &state.path().join("cursor"));

    transfer(&chain.url, &[21]).await;
    let got = consume(&broker.addr, TOPIC, 1, Duration::from_secs(60));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].fields["amount"], "21");

    // Registering another event starts it flowing without a restart.
    let id = source.body["id"].as_str().expect("id");
    let patch = serde_json::json!({"add_events": ["Balances.Withdraw"]});
    let patched = app
        .call(
            "PATCH",
            &format!("/api/sources/{id}"),
            Some(ADMIN_TOKEN),
            Some(&patch),
        )
        .await
        .expect("patch");
    assert_eq!(patched.status, 200, "{}", patched.body);
    tokio::time::sleep(Duration::from_secs(3)).await;
    transfer(&chain.url, &[22]).await;
    let fees = consume(
        &broker.addr,
        "paseo.Balances.Withdraw",
        1,
        Duration::from_secs(60),
    );
    assert_eq!(fees.len(), 1, "the fee withdrawal of the second transfer");
    assert_eq!(fees[0].fields["who"], ALICE);
    ingest.kill().expect("kill");
    ingest.wait().expect("wait");
    app.stop().await.expect("stop");
}
