//! Management API benchmark: trigger creation, trigger reads and dispatch lookups through the test
//! host (the compiled `api` component over HTTP), and key-value operations per create and per
//! lookup, with 10, 10k and 100k triggers already stored.
//!
//! `cargo bench -p aurras-e2e --bench api` (needs `scripts/build-components`). Prints a table.
//! `AURRAS_BENCH_SIZES=10,1000` picks other store sizes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aurras_domain::kv::{Counting, MemoryStore};
use aurras_domain::registry::Registry;
use aurras_domain::ss58::AccountId;
use aurras_domain::vault::Keyring;
use aurras_e2e::{repo_root, ADMIN_TOKEN, ENCRYPTION_KEYS};
use aurras_testhost::{AppOptions, TestHost};
use serde_json::{json, Value};

const CONCURRENCY: usize = 8;
const CREATES: usize = 400;
const LOOKUPS: usize = 1000;
const ANY_ACCOUNT_TRIGGERS: usize = 10;

fn account(i: usize) -> AccountId {
    let mut id = [0u8; 32];
    id[..8].copy_from_slice(&(i as u64).to_be_bytes());
    id[31] = 1;
    AccountId(id)
}

fn source_body() -> Value {
    json!({"chain": "paseo", "rpc": ["ws://127.0.0.1:9944"], "events": ["Balances.Transfer"],
           "token": {"symbol": "PAS", "decimals": 10}})
}

fn trigger_body(source: &str, account: Option<&AccountId>) -> Value {
    let mut body = json!({"source": source, "event": "Balances.Transfer",
        "action": {"webhook": {"url": "https://hooks.example.com/bench"}}});
    if let Some(a) = account {
        let address = a.to_ss58(42).expect("address");
        body["filter"] = json!({"balance": {"account": address, "direction": "in", "min": "1"}});
    }
    body
}

/// The keyring the app under test runs with, so it opens the records prepared here.
fn keyring() -> Keyring {
    Keyring::parse(ENCRYPTION_KEYS).expect("the test keyring parses")
}

/// Builds a store with `n` triggers through the domain registry (the code the component runs),
/// two per account plus a few for any account.
fn populate(n: usize) -> (MemoryStore, String) {
    let kv = MemoryStore::default();
    let ring = keyring();
    let reg = Registry::new(&kv, &ring);
    let source = reg
        .create_source(serde_json::from_value(source_body()).expect("shape"), "t0")
        .expect("source");
    for i in 0..n {
        let body = if i < ANY_ACCOUNT_TRIGGERS {
            trigger_body(&source.id, None)
        } else {
            trigger_body(&source.id, Some(&account(i / 2)))
        };
        reg.create_trigger(serde_json::from_value(body).expect("shape"), "t1")
            .expect("trigger");
    }
    (kv, source.id)
}

/// Copies the prepared store into the sqlite file the test host will serve, in one transaction.
fn write_sqlite(kv: &MemoryStore, path: &std::path::Path) {
    let mut conn = rusqlite::Connection::open(path).expect("sqlite");
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS spin_key_value (store TEXT NOT NULL, key TEXT NOT NULL, \
         value BLOB NOT NULL, PRIMARY KEY (store, key));",
    )
    .expect("schema");
    let tx = conn.transaction().expect("tx");
    for (k, v) in kv.entries() {
        tx.execute(
            "INSERT INTO spin_key_value (store, key, value) VALUES ('default', ?1, ?2)",
            rusqlite::params![k, v],
        )
        .expect("insert");
    }
    tx.commit().expect("commit");
}

/// Key-value operations (reads, writes) of one create and one lookup at this store size.
fn operation_counts(n: usize) -> ((u64, u64), (u64, u64)) {
    let (kv, source) = populate(n);
    let counting = Counting::new(kv);
    let ring = keyring();
    let reg = Registry::new(&counting, &ring);
    let topic = aurras_domain::names::Topic::parse("paseo.Balances.Transfer").expect("topic");
    counting.reset();
    reg.create_trigger(
        serde_json::from_value(trigger_body(&source, Some(&account(3)))).expect("shape"),
        "t",
    )
    .expect("create");
    let create = counting.counts();
    counting.reset();
    reg.lookup(&topic, &[account(3).to_hex()]).expect("lookup");
    (create, counting.counts())
}

struct Timing {
    rps: f64,
    p50: Duration,
    p99: Duration,
}

/// Runs `total` requests made by `make(i)` with `CONCURRENCY` in flight.
async fn load<F, Fut>(total: usize, make: F) -> Timing
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = u16> + Send,
{
    let make = Arc::new(make);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..CONCURRENCY {
        let (make, next) = (make.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= total {
                    break latencies;
                }
                let t = Instant::now();
                let status = make(i).await;
                assert!(
                    (200..300).contains(&status),
                    "request {i} answered {status}"
                );
                latencies.push(t.elapsed());
            }
        }));
    }
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.expect("worker"));
    }
    let elapsed = started.elapsed();
    all.sort();
    Timing {
        rps: total as f64 / elapsed.as_secs_f64(),
        p50: all[all.len() / 2],
        p99: all[all.len() * 99 / 100],
    }
}

async fn bench_size(n: usize) -> Vec<String> {
    let prepare = Instant::now();
    let (kv, source) = populate(n);
    let state = tempfile::tempdir().expect("tempdir");
    write_sqlite(&kv, &state.path().join("sqlite_key_value.db"));
    let prepared = prepare.elapsed();
    drop(kv);

    let mut options = AppOptions::new(repo_root().join("spin.toml"));
    options.state_dir = Some(state.path().to_owned());
    options
        .variables
        .insert("SPIN_VARIABLE_ADMIN_TOKEN".into(), ADMIN_TOKEN.into());
    options.variables.insert(
        "SPIN_VARIABLE_ENCRYPTION_KEYS".into(),
        ENCRYPTION_KEYS.into(),
    );
    let host = TestHost::start(&options, "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("host");
    let base = host.url();
    let client = reqwest::Client::new();

    // Creation over HTTP; keep the tokens for the reads.
    let created = Arc::new(std::sync::Mutex::new(Vec::new()));
    let create = {
        let (client, base, source, created) = (
            client.clone(),
            base.clone(),
            source.clone(),
            created.clone(),
        );
        load(CREATES, move |i| {
            let body = trigger_body(&source, Some(&account(1_000_000 + i)));
            let (client, base, created) = (client.clone(), base.clone(), created.clone());
            async move {
                let resp = client
                    .post(format!("{base}/api/triggers"))
                    .json(&body)
                    .send()
                    .await
                    .expect("send");
                let status = resp.status().as_u16();
                let v: Value = resp.json().await.expect("json");
                created.lock().expect("lock").push((
                    v["id"].as_str().unwrap_or_default().to_owned(),
                    v["token"].as_str().unwrap_or_default().to_owned(),
                ));
                status
            }
        })
        .await
    };
    let created = Arc::new(created.lock().expect("lock").clone());
    let read = {
        let (client, base, created) = (client.clone(), base.clone(), created.clone());
        load(LOOKUPS, move |i| {
            let (id, token) = created[i % created.len()].clone();
            let (client, base) = (client.clone(), base.clone());
            async move {
                client
                    .get(format!("{base}/api/triggers/{id}"))
                    .bearer_auth(token)
                    .send()
                    .await
                    .expect("send")
                    .status()
                    .as_u16()
            }
        })
        .await
    };
    let lookup = {
        let (client, base) = (client.clone(), base.clone());
        load(LOOKUPS, move |i| {
            let account =
                account((ANY_ACCOUNT_TRIGGERS + i * 7) % n.max(ANY_ACCOUNT_TRIGGERS + 1) / 2)
                    .to_hex();
            let (client, base) = (client.clone(), base.clone());
            async move {
                client
                    .get(format!(
                        "{base}/api/topics/paseo.Balances.Transfer/triggers?account={account}"
                    ))
                    .bearer_auth(ADMIN_TOKEN)
                    .send()
                    .await
                    .expect("send")
                    .status()
                    .as_u16()
            }
        })
        .await
    };
    host.stop().await.expect("stop");
    let ((cr, cw), (lr, lw)) = operation_counts(n);
    let db_size = std::fs::metadata(state.path().join("sqlite_key_value.db"))
        .map(|m| m.len())
        .unwrap_or(0);
    let ms = |d: Duration| format!("{:.1}", d.as_secs_f64() * 1000.0);
    vec![
        format!(
            "| {n:>7} | create  | {:>7.0} | {:>6} | {:>6} | {cr} r + {cw} w | {:>5.1} MB (prepared in {:.1} s) |",
            create.rps, ms(create.p50), ms(create.p99), db_size as f64 / 1e6, prepared.as_secs_f64()
        ),
        format!("| {n:>7} | read    | {:>7.0} | {:>6} | {:>6} | 1 r + 0 w | |", read.rps, ms(read.p50), ms(read.p99)),
        format!("| {n:>7} | lookup  | {:>7.0} | {:>6} | {:>6} | {lr} r + {lw} w | |", lookup.rps, ms(lookup.p50), ms(lookup.p99)),
    ]
}

fn main() {
    let wasm = repo_root().join("target/wasm32-wasip2/release/aurras_api.wasm");
    assert!(
        wasm.is_file(),
        "{} is missing: run scripts/build-components first",
        wasm.display()
    );
    let sizes: Vec<usize> = std::env::var("AURRAS_BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![10, 10_000, 100_000]);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    println!("Aurras management API through the test host: {CONCURRENCY} requests in flight, {CREATES} creates, {LOOKUPS} reads and lookups per size");
    println!();
    println!("| stored  | request | req/s   | p50 ms | p99 ms | kv ops    | store |");
    println!("|--------:|---------|--------:|-------:|-------:|-----------|-------|");
    for n in sizes {
        for line in runtime.block_on(bench_size(n)) {
            println!("{line}");
        }
    }
}
