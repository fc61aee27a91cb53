//! Spin's Redis key-value backend in the test host, and the app scaled out on it: two hosts
//! sharing one Redis (`redis-server`, started here) take concurrent creates and deletes of
//! triggers at one account, and the index ends exactly right, as it does on one host.

use std::collections::BTreeSet;
use std::sync::Arc;

use aurras_e2e::processes::RedisServer;
use aurras_e2e::App;
use aurras_testhost::key_value_redis::RedisDb;
use futures::future::join_all;
use serde_json::{json, Value};

const BOB: &str = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";
const TOPIC: &str = "paseo.Balances.Transfer";

/// Compare-and-swap under contention from two connections (two hosts): every increment of a
/// counter kept as text lands exactly once, so a write that lost the race is never reported as
/// done.
#[test]
fn compare_and_swap_on_redis_loses_no_update_under_contention() {
    let redis = RedisServer::start().expect("redis");
    let hosts: Vec<Arc<RedisDb>> = (0..2)
        .map(|_| Arc::new(RedisDb::open(&redis.url).expect("open")))
        .collect();
    let threads: Vec<_> = (0..6)
        .map(|t| {
            let db = hosts[t % 2].clone();
            std::thread::spawn(move || {
                for _ in 0..150 {
                    loop {
                        let seen = db.get("counter").expect("get");
                        let n: u64 = seen
                            .as_deref()
                            .map(|b| std::str::from_utf8(b).expect("utf-8").parse().expect("n"))
                            .unwrap_or(0);
                        let next = (n + 1).to_string();
                        if db
                            .compare_and_swap("counter", seen.as_deref(), next.as_bytes())
                            .expect("cas")
                        {
                            break;
                        }
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
    assert_eq!(hosts[0].get("counter").expect("get"), Some(b"900".to_vec()));
    assert!(!hosts[1]
        .compare_and_swap("counter", Some(b"1"), b"2")
        .expect("cas"));
    assert!(hosts[1].compare_and_swap("fresh", None, b"1").expect("cas"));
    assert!(!hosts[0].compare_and_swap("fresh", None, b"2").expect("cas"));
    // Spin's layout: keys bare, counters as decimal text.
    assert_eq!(hosts[0].increment("hits", 5).expect("incr"), 5);
    assert_eq!(hosts[1].get("hits").expect("get"), Some(b"5".to_vec()));
    assert_eq!(
        hosts[1].keys().expect("keys"),
        vec!["counter".to_string(), "fresh".into(), "hits".into()]
    );
}

async fn host_on(redis: &RedisServer, dir: &tempfile::TempDir, name: &str) -> App {
    let config = dir.path().join(format!("{name}.toml"));
    std::fs::write(
        &config,
        format!(
            "[key_value_store.default]\ntype = \"redis\"\nurl = {:?}\n",
            redis.url
        ),
    )
    .expect("runtime config");
    App::start_with(|o| o.runtime_config = Some(config))
        .await
        .expect("app starts")
}

fn hook(source: &str) -> Value {
    json!({"source": source, "event": "Balances.Transfer",
           "filter": {"balance": {"account": BOB}},
           "action": {"webhook": {"url": "https://hooks.example.com/in"}}})
}

/// Both hosts' lookups at Bob find exactly `ids`.
async fn assert_index(hosts: &[&App], ids: &BTreeSet<String>) {
    for host in hosts {
        let seen: BTreeSet<String> = host
            .lookup_ids(TOPIC, BOB)
            .await
            .expect("lookup")
            .into_iter()
            .collect();
        assert_eq!(&seen, ids, "the index holds exactly the live triggers");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_hosts_on_one_redis_keep_the_index_exact_under_concurrent_creates_and_deletes() {
    let redis = RedisServer::start().expect("redis");
    let dir = tempfile::tempdir().expect("tempdir");
    let a = host_on(&redis, &dir, "a").await;
    let b = host_on(&redis, &dir, "b").await;
    let source = a.register_paseo().await.expect("source");
    let hosts = [&a, &b];

    // 40 creates at one account, alternating hosts, all at once.
    let body = hook(&source);
    let creates = (0..40).map(|i| hosts[i % 2].call("POST", "/api/triggers", None, Some(&body)));
    let mut made = Vec::new();
    for answer in join_all(creates).await {
        let answer = answer.expect("call");
        assert_eq!(answer.status, 201, "{}", answer.body);
        made.push((
            answer.body["id"].as_str().expect("id").to_owned(),
            answer.body["token"].as_str().expect("token").to_owned(),
        ));
    }
    let all: BTreeSet<String> = made.iter().map(|(id, _)| id.clone()).collect();
    assert_index(&hosts, &all).await;

    // Half of them deleted from the other host while 10 more are created, all at once.
    let paths: Vec<(usize, String, &str)> = made
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 2 == 0)
        .map(|(i, (id, token))| (i, format!("/api/triggers/{id}"), token.as_str()))
        .collect();
    let deletes = paths
        .iter()
        .map(|(i, path, token)| hosts[(i + 1) % 2].call("DELETE", path, Some(token), None));
    let more = (0..10).map(|i| hosts[i % 2].call("POST", "/api/triggers", None, Some(&body)));
    let (deleted, added) = tokio::join!(join_all(deletes), join_all(more));
    for answer in deleted {
        let answer = answer.expect("call");
        assert_eq!(answer.status, 204, "{}", answer.body);
    }
    let mut expected: BTreeSet<String> = made
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, (id, _))| id.clone())
        .collect();
    for answer in added {
        let answer = answer.expect("call");
        assert_eq!(answer.status, 201, "{}", answer.body);
        expected.insert(answer.body["id"].as_str().expect("id").to_owned());
    }
    assert_eq!(expected.len(), 30);
    assert_index(&hosts, &expected).await;
    // And the store holds exactly their records: nothing deleted lingers, nothing live is lost.
    let records: BTreeSet<String> = RedisDb::open(&redis.url)
        .expect("open")
        .keys()
        .expect("keys")
        .into_iter()
        .filter_map(|k| k.strip_prefix("trigger/").map(str::to_owned))
        .collect();
    assert_eq!(records, expected);
}
