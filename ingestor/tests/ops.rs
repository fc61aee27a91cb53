//! The operator commands against real parts (chopsticks, tansu, the compiled `api`): `status`
//! reports a chain's cursor, head and lag; `topics` lists what the broker holds and which source
//! feeds it; `replay` produces a block again, with the same event ids, without touching the live
//! cursor.

mod common;

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use aurras_e2e::processes::{Broker, LocalChain};
use aurras_e2e::ADMIN_TOKEN;
use common::{head, read_topic, transfer, world_on, Ingestor, TOPIC};
use rdkafka::Message;
use serde_json::Value;

const PAS: u128 = 10_000_000_000;

fn run(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_aurras-ingestor"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("the ingestor runs");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

/// The transfer envelopes on the topic.
fn envelopes(brokers: &str, want: usize) -> Vec<Value> {
    read_topic(brokers, TOPIC, want, Duration::from_secs(30))
        .iter()
        .filter_map(|m| serde_json::from_slice(m.payload()?).ok())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn status_topics_and_replay_tell_and_repair_what_the_pipeline_holds() {
    let chain = LocalChain::start().expect("chain");
    let broker = Broker::start().expect("broker");
    let w = world_on(&chain.url).await;
    let app = w.app.url();
    let state = tempfile::tempdir().expect("tempdir");
    let cursor = state.path().join("paseo.cursor");
    let from = (head(&chain.url).await + 1).to_string();
    let _ingest = Ingestor(
        Command::new(env!("CARGO_BIN_EXE_aurras-ingestor"))
            .args(["ingest", "--chain", "paseo", "--api", &app])
            .args(["--admin-token", ADMIN_TOKEN, "--rpc-backend", "legacy"])
            .args(["--brokers", &broker.addr, "--from-block", &from])
            .args(["--poll-ms", "200"])
            .arg("--cursor-file")
            .arg(&cursor)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("ingest starts"),
    );
    transfer(&chain.url, &[3 * PAS]).await;
    let first = envelopes(&broker.addr, 1);
    assert_eq!(first.len(), 1, "{first:?}");
    let block = first[0]["block"]["number"].as_u64().expect("block number");
    let started = Instant::now();
    while !cursor.is_file() && started.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let state_dir = state.path().to_str().expect("utf-8");
    let status = json_of(&run(&[
        "status",
        "--api",
        &app,
        "--admin-token",
        ADMIN_TOKEN,
        "--state-dir",
        state_dir,
        "--rpc-backend",
        "legacy",
        "--json",
    ]));
    let paseo = &status[0];
    assert_eq!(paseo["chain"], "paseo", "{status}");
    let next = paseo["next_block"].as_u64().expect("next block");
    let finalized = paseo["finalized_head"].as_u64().expect("head");
    assert!(
        next > block,
        "the cursor is past the transfer's block: {status}"
    );
    assert_eq!(
        paseo["lag"].as_u64(),
        Some((finalized + 1).saturating_sub(next))
    );
    assert_eq!(paseo["events"][0], "Balances.Transfer");
    assert!(
        paseo["holder"].as_str().is_some_and(|h| h.contains(':')),
        "the live ingestor holds the chain's lease: {status}"
    );

    let topics = json_of(&run(&[
        "topics",
        "--brokers",
        &broker.addr,
        "--api",
        &app,
        "--admin-token",
        ADMIN_TOKEN,
        "--json",
    ]));
    let line = topics
        .as_array()
        .and_then(|all| all.iter().find(|t| t["topic"] == TOPIC))
        .unwrap_or_else(|| panic!("{TOPIC} listed: {topics}"));
    assert_eq!(line["on_broker"], true);
    assert_eq!(line["records"], 1, "{line}");
    assert_eq!(line["fed_by"], "paseo Balances.Transfer");

    // The block again: the same envelope, the same id; the live cursor does not move back.
    let saved = std::fs::read_to_string(&cursor).expect("cursor");
    let block = block.to_string();
    run(&[
        "replay",
        "--chain",
        "paseo",
        "--api",
        &app,
        "--admin-token",
        ADMIN_TOKEN,
        "--rpc-backend",
        "legacy",
        "--brokers",
        &broker.addr,
        "--from",
        &block,
        "--to",
        &block,
    ]);
    let again = envelopes(&broker.addr, 2);
    assert_eq!(again.len(), 2, "{again:?}");
    assert_eq!(again[0], again[1], "a replay produces the same envelope");
    assert_eq!(std::fs::read_to_string(&cursor).expect("cursor"), saved);

    // A replay without its range is refused, naming the flags.
    let refused = Command::new(env!("CARGO_BIN_EXE_aurras-ingestor"))
        .args(["replay", "--chain", "paseo", "--brokers", &broker.addr])
        .args(["--events", "Balances.Transfer", "--rpc", &chain.url])
        .args(["--from", "5"])
        .output()
        .expect("runs");
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--from and --to"));
}

/// `reencrypt` after a key rotation: every trigger moves to the new key, page by page, so the
/// old key can then be dropped; a wrong token is a configuration error. (Multi-threaded: the app
/// runs on this runtime while the command blocks one thread.)
#[tokio::test(flavor = "multi_thread")]
async fn reencrypt_moves_every_trigger_to_the_new_key() {
    const KEYS: &str = "SPIN_VARIABLE_ENCRYPTION_KEYS";
    const NEW_KEY: &str = "t2:cm90YXRlZC1hdXJyYXMtdGVzdC1rZXktMzItYnl0ZXM=";
    let mut app = aurras_e2e::App::start().await.expect("app");
    let source = app.register_paseo().await.expect("source");
    let mut triggers = Vec::new();
    for n in 0..3 {
        let created = app
            .call(
                "POST",
                "/api/triggers",
                None,
                Some(
                    &serde_json::json!({"source": source, "event": "Balances.Transfer",
                    "action": {"webhook": {"url": format!("https://hooks.example.com/in/{n}")}}}),
                ),
            )
            .await
            .expect("trigger");
        assert_eq!(created.status, 201, "{}", created.body);
        triggers.push((created.body["id"].clone(), created.body["token"].clone()));
    }
    let rotated = format!("{NEW_KEY},{}", aurras_e2e::ENCRYPTION_KEYS);
    app.restart_with(|o| {
        o.variables.insert(KEYS.into(), rotated);
    })
    .await
    .expect("restart");

    let url = app.url();
    let out = run(&[
        "reencrypt",
        "--api",
        &url,
        "--admin-token",
        ADMIN_TOKEN,
        "--batch",
        "2",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "3 trigger records examined, 3 re-sealed; every record is under key t2"
    );
    let refused = Command::new(env!("CARGO_BIN_EXE_aurras-ingestor"))
        .args(["reencrypt", "--api", &url, "--admin-token", "wrong"])
        .output()
        .expect("runs");
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");

    // The old key dropped: every trigger still opens.
    app.restart_with(|o| {
        o.variables.insert(KEYS.into(), NEW_KEY.into());
    })
    .await
    .expect("restart");
    for (id, token) in &triggers {
        let read = app
            .call(
                "GET",
                &format!("/api/triggers/{}", id.as_str().unwrap_or_default()),
                token.as_str(),
                None,
            )
            .await
            .expect("read");
        assert_eq!(read.status, 200, "{}", read.body);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn recipes_publishes_what_the_runtime_serves_in_one_step_and_names_what_it_lacks() {
    let chain = LocalChain::start().expect("chain");
    let w = world_on(&chain.url).await;
    let app = w.app.url();
    let args = [
        "recipes",
        "--chain",
        "paseo",
        "--api",
        &app,
        "--admin-token",
        ADMIN_TOKEN,
        "--rpc-backend",
        "legacy",
        "--json",
    ];
    let dry: Vec<&str> = args.iter().copied().chain(["--dry-run"]).collect();
    let would = json_of(&run(&dry));
    assert_eq!(would["dry_run"], true);
    let source = |w: &aurras_e2e::world::World| {
        let app = w.app.url();
        let id = w.source.clone();
        async move {
            let answer = reqwest::Client::new()
                .get(format!("{app}/api/sources/{id}"))
                .bearer_auth(ADMIN_TOKEN)
                .send()
                .await
                .expect("source");
            answer.json::<Value>().await.expect("json")
        }
    };
    assert_eq!(
        source(&w).await["events"],
        serde_json::json!(["Balances.Transfer"]),
        "a dry run changes nothing"
    );

    let report = json_of(&run(&args));
    let served = |id: &str| {
        report["recipes"]
            .as_array()
            .and_then(|all| all.iter().find(|r| r["recipe"] == id))
            .cloned()
            .unwrap_or(Value::Null)
    };
    // The Paseo runtime has staking, pools, governance, proxies and identity, but no Assets.
    assert_eq!(
        served("staking_alert")["events"],
        serde_json::json!(["Staking.Slashed", "Staking.Chilled", "Staking.Kicked"])
    );
    assert_eq!(
        served("account_security")["events"]
            .as_array()
            .map(Vec::len),
        Some(6)
    );
    assert_eq!(served("assets")["events"], serde_json::json!([]));
    assert_eq!(served("assets")["missing"], serde_json::json!(["Assets"]));
    let added = report["added"].as_array().cloned().unwrap_or_default();
    assert!(
        added.contains(&Value::from("Referenda.Submitted")),
        "{report}"
    );
    assert!(
        !added.contains(&Value::from("Balances.Transfer")),
        "already published"
    );

    let stored = source(&w).await;
    let tracks = stored["tracks"].as_array().cloned().unwrap_or_default();
    assert!(
        tracks.contains(&serde_json::json!({"id": 11, "name": "treasurer"})),
        "{stored}"
    );
    assert!(
        tracks.contains(&serde_json::json!({"id": 0, "name": "root"})),
        "{stored}"
    );
    let events = stored["events"].clone();
    for event in [
        "Balances.Transfer",
        "Staking.Chilled",
        "NominationPools.PaidOut",
        "Proxy.ProxyAdded",
    ] {
        assert!(
            events
                .as_array()
                .is_some_and(|e| e.contains(&Value::from(event))),
            "{events}"
        );
    }
    // The recipes list now says paseo serves them.
    let recipes: Value = reqwest::get(format!("{app}/api/recipes"))
        .await
        .expect("recipes")
        .json()
        .await
        .expect("json");
    let staking = recipes["recipes"]
        .as_array()
        .and_then(|all| all.iter().find(|r| r["id"] == "staking_reward"))
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(staking["chains"][0]["chain"], "paseo", "{staking}");
    // Again: nothing more to add.
    assert_eq!(json_of(&run(&args))["added"], serde_json::json!([]));
}
