//! The relay against real parts: a tansu broker, records produced with rdkafka, the compiled
//! binary, and an HTTP server playing the app's side of docs/delivery.md: it verifies the
//! Standard Webhooks signature (401 otherwise), records what arrives and answers per a script.

mod common;
mod relay_support;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aurras_e2e::processes::{free_port, Broker};
use rdkafka::Message;
use serde_json::{json, Value};

use relay_support::*;

#[tokio::test(flavor = "multi_thread")]
async fn records_arrive_in_order_signed_and_are_committed_only_after_a_200() {
    let broker = Broker::start().expect("broker");
    create_topic(&broker.addr, TOPIC, 2).await;
    let producer = producer(&broker.addr);
    let mut produced = BTreeMap::new();
    for n in 0..6u64 {
        let partition = (n % 2) as i32;
        let key = format!("0xacc{n}");
        let offset = produce(&producer, TOPIC, partition, &key, &envelope(n)).await;
        produced.insert((partition, offset), (key, envelope(n)));
    }
    // The app fails its first three answers, then takes everything.
    let failures = Arc::new(Mutex::new(3));
    let left = failures.clone();
    let app = FakeApp::start(Box::new(move |r| {
        let mut left = left.lock().expect("lock");
        if *left > 0 {
            *left -= 1;
            (500, json!({"error": "busy"}))
        } else {
            (200, accept_all(r))
        }
    }))
    .await;
    let relay = Relay::with_topic(&broker.addr, &app.url, SECRET, &[]);
    wait_until("all six records are taken", || app.taken(0).len() >= 6).await;

    let posts = app.posts();
    assert_eq!(posts[0].status, 500);
    // The same batch was retried: the same webhook-id and body until the 200.
    assert!(posts[..4]
        .iter()
        .all(|p| p.id == posts[0].id && p.body == posts[0].body));
    assert_eq!(posts[3].status, 200);
    assert!(posts[0].id.starts_with("rly_"), "{}", posts[0].id);
    let taken = app.taken(0);
    assert_eq!(taken.len(), 6, "each record once: {taken:?}");
    for partition in 0..2 {
        assert_eq!(offsets(&taken, partition), vec![0, 1, 2]);
    }
    for r in &taken {
        assert_eq!(r["topic"], TOPIC);
        let at = (
            r["partition"].as_i64().expect("partition") as i32,
            r["offset"].as_i64().expect("offset"),
        );
        let (key, value) = &produced[&at];
        assert_eq!(decode(&r["key"]), key.as_bytes());
        assert_eq!(&decode(&r["value"]), value);
        assert!(r["timestamp"].as_i64().expect("timestamp") > 0);
    }

    let status = relay.terminate().await;
    assert_eq!(status.code(), Some(0));

    // A restarted relay continues after what was committed.
    let before = app.posts().len();
    let relay = Relay::with_topic(&broker.addr, &app.url, SECRET, &[]);
    for n in 6..8 {
        produce(&producer, TOPIC, 0, "0xacc", &envelope(n)).await;
    }
    wait_until("the two new records are taken", || {
        app.taken(before).len() >= 2
    })
    .await;
    let again = app.taken(before);
    assert_eq!(offsets(&again, 0), vec![3, 4], "{again:?}");
    assert!(offsets(&again, 1).is_empty());
    drop(relay);
}

#[tokio::test(flavor = "multi_thread")]
async fn rejected_records_are_dead_lettered_and_the_stream_moves_on() {
    let broker = Broker::start().expect("broker");
    create_topic(&broker.addr, TOPIC, 1).await;
    let producer = producer(&broker.addr);
    produce(&producer, TOPIC, 0, "0xa", &envelope(1)).await;
    produce(&producer, TOPIC, 0, "0xb", b"not an envelope").await;
    produce(&producer, TOPIC, 0, "0xc", &envelope(3)).await;
    let app = FakeApp::start(Box::new(|request| {
        let records: Vec<Value> = request["records"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|r| {
                let mut answer = json!({"topic": r["topic"], "partition": r["partition"],
                                        "offset": r["offset"], "outcome": "accepted"});
                if let Err(e) = serde_json::from_slice::<Value>(&decode(&r["value"])) {
                    answer["outcome"] = json!("rejected");
                    answer["reason"] = json!(format!("not an event envelope: {e}"));
                }
                answer
            })
            .collect();
        (200, json!({"records": records}))
    }))
    .await;
    let metrics = format!("127.0.0.1:{}", free_port().expect("port"));
    let _relay = Relay::with_topic(
        &broker.addr,
        &app.url,
        SECRET,
        &["--metrics-listen", &metrics],
    );
    wait_until("three records are answered", || app.taken(0).len() >= 3).await;
    produce(&producer, TOPIC, 0, "0xd", &envelope(4)).await;
    wait_until("the record after the rejected one is taken", || {
        app.taken(0).len() >= 4
    })
    .await;
    assert_eq!(offsets(&app.taken(0), 0), vec![0, 1, 2, 3]);

    let dead = consume(&broker.addr, DEAD_LETTER, 1);
    assert_eq!(dead.len(), 1);
    let letter = &dead[0];
    assert_eq!(letter.key(), Some(&b"0xb"[..]));
    assert_eq!(letter.payload(), Some(&b"not an envelope"[..]));
    let reason = header(letter, "aurras-reason").expect("reason");
    assert!(reason.starts_with("not an event envelope"), "{reason}");
    assert_eq!(header(letter, "aurras-topic").as_deref(), Some(TOPIC));
    assert_eq!(header(letter, "aurras-partition").as_deref(), Some("0"));
    assert_eq!(header(letter, "aurras-offset").as_deref(), Some("1"));

    // Counted once the batch is committed, a moment after the app answered.
    let started = Instant::now();
    loop {
        let text = reqwest::get(format!("http://{metrics}/metrics"))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        if text.contains("aurras_relay_records_relayed_total 4")
            && text.contains("aurras_relay_records_rejected_total 1")
        {
            break;
        }
        assert!(started.elapsed() < WAIT, "{text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_the_app_cannot_take_is_split_until_the_record_it_refuses_alone_is_dead_lettered() {
    let broker = Broker::start().expect("broker");
    create_topic(&broker.addr, TOPIC, 1).await;
    let producer = producer(&broker.addr);
    let padded = |n: u64| format!(r#"{{"id":"0x{n:064x}","pad":"{}"}}"#, "x".repeat(500));
    for n in 0..9u64 {
        let value = if n == 4 {
            b"poison".to_vec()
        } else {
            padded(n).into_bytes()
        };
        produce(&producer, TOPIC, 0, &format!("0x{n}"), &value).await;
    }
    // The app cannot take any request carrying the poisoned record (as a body too large, or one
    // it cannot parse): retrying that request unchanged would hold the partition forever.
    let app = FakeApp::start(Box::new(|request| {
        let poisoned = request["records"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|r| decode(&r["value"]) == b"poison");
        if poisoned {
            (413, json!({"error": {"code": "payload_too_large"}}))
        } else {
            (200, accept_all(request))
        }
    }))
    .await;
    let _relay = Relay::with_topic(
        &broker.addr,
        &app.url,
        SECRET,
        &["--batch-max-bytes", "4096"],
    );
    wait_until("the eight good records are taken", || {
        app.taken(0).len() >= 8
    })
    .await;
    assert_eq!(offsets(&app.taken(0), 0), vec![0, 1, 2, 3, 5, 6, 7, 8]);
    let dead = consume(&broker.addr, DEAD_LETTER, 1);
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].payload(), Some(&b"poison"[..]));
    let reason = header(&dead[0], "aurras-reason").expect("reason");
    assert!(
        reason.contains("refused this record alone (413)"),
        "{reason}"
    );
    // The partition moves on.
    produce(&producer, TOPIC, 0, "0x9", padded(9).as_bytes()).await;
    wait_until("the next record is taken", || app.taken(0).len() >= 9).await;
    for post in app.posts() {
        let size = serde_json::to_vec(&post.body).expect("json").len();
        assert!(size <= 4096, "a batch of {size} bytes was posted");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn retries_wait_in_their_topic_and_come_back_when_due() {
    let broker = Broker::start().expect("broker");
    create_topic(&broker.addr, TOPIC, 1).await;
    let producer = producer(&broker.addr);
    produce(&producer, TOPIC, 0, "0xa", &envelope(1)).await;
    let due = Arc::new(Mutex::new(BTreeMap::<u64, u64>::new()));
    let scheduled = due.clone();
    let app = FakeApp::start(Box::new(move |request| {
        let mut scheduled = scheduled.lock().expect("lock");
        let attempt = request["retries"][0]["attempt"].as_u64().unwrap_or(0);
        let (next, delay) = match attempt {
            0 => (1, 1500),
            1 => (2, 300),
            _ => return (200, json!({})),
        };
        let at = now_ms() + delay;
        scheduled.insert(next, at);
        let mut answer = accept_all(request);
        answer["retries"] = json!([{"attempt": next, "due_at_ms": at,
                                     "item": {"trigger": "trg_a", "n": next}}]);
        (200, answer)
    }))
    .await;
    let _relay = Relay::with_topic(&broker.addr, &app.url, SECRET, &[]);
    wait_until("the second retry comes back", || {
        app.posts()
            .iter()
            .any(|p| p.body["retries"][0]["attempt"] == 2)
    })
    .await;

    let posts = app.posts();
    let due = due.lock().expect("lock").clone();
    for attempt in 1..=2u64 {
        let back: Vec<&Post> = posts
            .iter()
            .filter(|p| p.body["retries"][0]["attempt"] == attempt)
            .collect();
        assert_eq!(back.len(), 1, "attempt {attempt} once: {posts:?}");
        let body = &back[0].body;
        assert!(body.get("records").is_none(), "{body}");
        assert_eq!(
            body["retries"],
            json!([{"attempt": attempt, "item": {"trigger": "trg_a", "n": attempt}}])
        );
        assert!(
            back[0].at_ms >= due[&attempt],
            "attempt {attempt} came back before it was due"
        );
    }

    let held = consume(&broker.addr, "aurras.retry.1", 1);
    assert_eq!(held.len(), 1);
    let item: Value = serde_json::from_slice(held[0].payload().expect("value")).expect("JSON");
    assert_eq!(item, json!({"trigger": "trg_a", "n": 1}));
    assert_eq!(
        header(&held[0], "aurras-due-at-ms"),
        Some(due[&1].to_string())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_secret_is_refused_retried_and_nothing_is_committed() {
    let broker = Broker::start().expect("broker");
    create_topic(&broker.addr, TOPIC, 1).await;
    let producer = producer(&broker.addr);
    for n in 0..3 {
        produce(&producer, TOPIC, 0, "0xa", &envelope(n)).await;
    }
    let app = FakeApp::start(accepting()).await;
    let relay = Relay::with_topic(&broker.addr, &app.url, OTHER_SECRET, &[]);
    wait_until("the app refused three attempts", || app.refused() >= 3).await;
    assert!(app.posts().is_empty());
    assert_eq!(relay.terminate().await.code(), Some(0));

    let _relay = Relay::with_topic(&broker.addr, &app.url, SECRET, &[]);
    wait_until("the records are taken", || app.taken(0).len() >= 3).await;
    assert_eq!(offsets(&app.taken(0), 0), vec![0, 1, 2]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_relay_is_replaced_by_one_redelivering_exactly_the_uncommitted_records() {
    let broker = Broker::start().expect("broker");
    create_topic(&broker.addr, TOPIC, 1).await;
    let producer = producer(&broker.addr);
    for n in 0..10 {
        produce(&producer, TOPIC, 0, "0xa", &envelope(n)).await;
    }
    // Batches reaching offset 6 fail, so the relay is stuck with uncommitted records when killed.
    let app = FakeApp::start(Box::new(|request| {
        let reaches_six = request["records"]
            .as_array()
            .is_some_and(|rs| rs.iter().any(|r| r["offset"].as_i64() >= Some(6)));
        if reaches_six {
            (500, json!({"error": "down"}))
        } else {
            (200, accept_all(request))
        }
    }))
    .await;
    let mut relay = Relay::with_topic(&broker.addr, &app.url, SECRET, &["--batch-max", "3"]);
    wait_until("a batch reaching offset 6 failed", || {
        app.posts().iter().any(|p| p.status == 500)
    })
    .await;
    relay.0.kill().expect("kill -9");
    relay.0.wait().expect("wait");
    let committed: BTreeSet<i64> = offsets(&app.taken(0), 0).into_iter().collect();
    assert!(!committed.is_empty() && !committed.contains(&6));

    app.answer_with(accepting());
    let before = app.posts().len();
    let _relay = Relay::with_topic(&broker.addr, &app.url, SECRET, &["--batch-max", "3"]);
    let uncommitted: Vec<i64> = (0..10).filter(|o| !committed.contains(o)).collect();
    wait_until("the uncommitted records are taken", || {
        app.taken(before).len() >= uncommitted.len()
    })
    .await;
    assert_eq!(offsets(&app.taken(before), 0), uncommitted);
}

#[tokio::test(flavor = "multi_thread")]
async fn api_mode_follows_sources_registered_later() {
    let broker = Broker::start().expect("broker");
    let app = FakeApp::start(accepting()).await;
    app.set_sources(
        json!([{"id": "src_1", "chain": "paseo", "events": ["Balances.Transfer"],
                            "topics": {"Balances.Transfer": TOPIC}}]),
    );

    let refused = Command::new(env!("CARGO_BIN_EXE_aurras-ingestor"))
        .arg("relay")
        .args(["--brokers", &broker.addr, "--app", &app.url])
        .args(["--relay-secret", SECRET, "--api", &app.url])
        .args(["--admin-token", "wrong"])
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{err}");
    assert!(err.contains("--admin-token"), "{err}");

    let _relay = Relay::start(
        &broker.addr,
        &app.url,
        &[
            "--relay-secret",
            SECRET,
            "--api",
            &app.url,
            "--admin-token",
            ADMIN,
        ],
    );
    // The relay creates the topics it consumes.
    wait_until("the relay created the topic", || {
        topics_on(&broker.addr).contains(TOPIC)
    })
    .await;
    let producer = producer(&broker.addr);
    produce(&producer, TOPIC, 0, "0xa", &envelope(1)).await;
    wait_until("the first record is taken", || !app.taken(0).is_empty()).await;

    // Another event of that source, and a source of another chain whose view has no topic map.
    app.set_sources(json!([
        {"id": "src_1", "chain": "paseo", "events": ["Balances.Transfer", "Balances.Withdraw"],
         "topics": {"Balances.Transfer": TOPIC, "Balances.Withdraw": "paseo.Balances.Withdraw"}},
        {"id": "src_2", "chain": "kusama", "events": ["Staking.EraPaid"]}]));
    let later = ["paseo.Balances.Withdraw", "kusama.Staking.EraPaid"];
    wait_until("the relay created the new topics", || {
        let on = topics_on(&broker.addr);
        later.iter().all(|t| on.contains(*t))
    })
    .await;
    for topic in later {
        produce(&producer, topic, 0, "0xb", &envelope(2)).await;
    }
    wait_until("the new topics' records are taken", || {
        app.taken(0).len() >= 3
    })
    .await;
    let topics: BTreeSet<String> = app
        .taken(0)
        .iter()
        .map(|r| r["topic"].as_str().expect("topic").to_owned())
        .collect();
    assert_eq!(
        topics,
        BTreeSet::from([TOPIC.to_owned(), later[0].to_owned(), later[1].to_owned()])
    );
}

fn run(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_aurras-ingestor"))
        .arg("relay")
        .args(args)
        .env_remove("AURRAS_TOPICS")
        .env_remove("AURRAS_API")
        .output()
        .expect("run");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_flags_exit_with_code_2_naming_the_flag() {
    let cases: [(&[&str], &str); 9] = [
        (&["--app", "ftp://127.0.0.1:1", "--topics", TOPIC], "--app"),
        (&["--app", "not a url", "--topics", TOPIC], "--app"),
        (
            &["--relay-secret", "whsec_!!", "--topics", TOPIC],
            "--relay-secret",
        ),
        (&[], "--topics"),
        (&["--topics", "no spaces"], "--topics"),
        (&["--topics", TOPIC, "--batch-max", "0"], "--batch-max"),
        (
            &["--topics", TOPIC, "--dead-letter-topic", "a/b"],
            "--dead-letter-topic",
        ),
        (&["--api", "http://127.0.0.1:1"], "--admin-token"),
        (&["--api", "127.0.0.1:1", "--admin-token", "t"], "--api"),
    ];
    for (extra, flag) in cases {
        let mut args = extra.to_vec();
        for (name, value) in [
            ("--brokers", "127.0.0.1:1"),
            ("--app", "http://127.0.0.1:1"),
            ("--relay-secret", SECRET),
        ] {
            if !extra.contains(&name) {
                args.extend([name, value]);
            }
        }
        let (code, err) = run(&args);
        assert_eq!(code, Some(2), "{extra:?}: {err}");
        assert!(err.contains(flag), "{extra:?} should name {flag}: {err}");
    }
    let (code, err) = run(&["--brokers", "b:1", "--app", "http://a", "--topics", TOPIC]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--relay-secret"), "{err}");
}
