//! The store does not grow with what was deleted: 1,000 triggers created (each from its own
//! client address, as a public API sees them) and deleted again leave the key-value store near
//! the size it started at: no rate window per address that ever asked, no ids of deleted
//! triggers. Measured in the raw sqlite file of the compiled `api` component under the test host.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use aurras_e2e::App;
use serde_json::{json, Value};

const TOPIC: &str = "paseo.Balances.Transfer";
const TRIGGERS: usize = 1000;
/// Accounts the balance triggers name, in turn (the rest watch any account).
const ACCOUNTS: [&str; 4] = [
    "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY",
    "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty",
    "5FLSigC9HGRKVhB9FiEo4Y3koPsNmBmLJbpXg2mp1hXcS59Y",
    "5DAAnrj7VHTznn2AWBemMuyBwZWs6FNFjdyVXUeYum3PTXFy",
];

/// Keys and bytes (keys and values) in the app's store, and how many keys start with `prefix`.
fn measure(app: &App, prefix: &str) -> (usize, usize, usize) {
    let conn = rusqlite::Connection::open(app.store_file()).expect("sqlite");
    let (keys, bytes): (i64, i64) = conn
        .query_row(
            "SELECT count(*), coalesce(sum(length(key) + length(value)), 0) \
             FROM spin_key_value WHERE store = 'default'",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .expect("measure");
    let matching: i64 = conn
        .query_row(
            "SELECT count(*) FROM spin_key_value WHERE store = 'default' AND key LIKE ?1",
            [format!("{prefix}%")],
            |row| row.get(0),
        )
        .expect("count");
    let n = |v: i64| usize::try_from(v).unwrap_or(0);
    (n(keys), n(bytes), n(matching))
}

/// The i-th client address on the loopback network (127.0.0.0/8 is all loopback).
fn address(i: usize) -> IpAddr {
    let i = u32::try_from(i).unwrap_or(0) + 10;
    IpAddr::V4(Ipv4Addr::new(127, 10, (i / 250) as u8, (i % 250 + 1) as u8))
}

/// Creates one trigger from `from` and deletes it again.
async fn create_and_delete(app: &App, from: IpAddr, body: &Value) {
    let client = reqwest::Client::builder()
        .local_address(from)
        .build()
        .expect("client");
    let resp = client
        .post(format!("{}/api/triggers", app.url()))
        .json(body)
        .send()
        .await
        .expect("create");
    assert_eq!(resp.status().as_u16(), 201, "{from}");
    let created: Value = resp.json().await.expect("json");
    let (id, token) = (
        created["id"].as_str().expect("id"),
        created["token"].as_str().expect("token"),
    );
    let resp = client
        .delete(format!("{}/api/triggers/{id}", app.url()))
        .bearer_auth(token)
        .send()
        .await
        .expect("delete");
    assert_eq!(resp.status().as_u16(), 204);
}

#[tokio::test]
async fn creating_and_deleting_1000_triggers_leaves_the_store_near_its_starting_size() {
    // A one-second window, so the test sees many windows end; the limit itself is not reached.
    let app = App::start_with(|o| {
        o.variables
            .insert("SPIN_VARIABLE_CREATE_RATE_LIMIT".into(), "5/1s".into());
    })
    .await
    .expect("app starts");
    let sid = app.register_paseo().await.expect("source");
    let body = |i: usize| {
        let mut body = json!({"source": sid, "event": "Balances.Transfer",
                              "action": {"webhook": {"url": "https://hooks.example.com/in"}}});
        if i.is_multiple_of(2) {
            body["filter"] = json!({"balance": {"account": ACCOUNTS[i / 2 % ACCOUNTS.len()]}});
        }
        body
    };
    // One create and delete of each kind first, so the index lists the test reuses exist.
    for i in 0..2 * ACCOUNTS.len() {
        create_and_delete(&app, address(TRIGGERS + i), &body(i)).await;
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let before = measure(&app, "rate/");

    let started = Instant::now();
    for i in 0..TRIGGERS {
        create_and_delete(&app, address(i), &body(i)).await;
    }
    let during = measure(&app, "rate/create/");
    // After the last window ended, a few more clients come; their new windows delete the ended
    // ones of their expiry lists.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for i in 0..64 {
        create_and_delete(&app, address(TRIGGERS + 100 + i), &body(i)).await;
    }
    let after = measure(&app, "rate/");
    let rate_windows = measure(&app, "rate/create/").2;
    eprintln!(
        "store: before {} keys / {} bytes; after {TRIGGERS} triggers created and deleted from \
         {TRIGGERS} addresses ({:.1} s) and 64 more: {} keys / {} bytes, {} of them rate \
         windows (rate windows right after the 1,000: {})",
        before.0,
        before.1,
        started.elapsed().as_secs_f64(),
        after.0,
        after.1,
        rate_windows,
        during.2,
    );
    let conn = rusqlite::Connection::open(app.store_file()).expect("sqlite");
    let mut kinds = conn
        .prepare(
            "SELECT substr(key, 1, instr(key || '/', '/')) AS kind, count(*)              FROM spin_key_value WHERE store = 'default' GROUP BY kind ORDER BY 2 DESC",
        )
        .expect("prepare");
    let kinds: Vec<(String, i64)> = kinds
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    eprintln!("keys by kind after: {kinds:?}");
    let leftover_triggers = measure(&app, "trigger/").2;
    assert_eq!(leftover_triggers, 0, "no trigger record stays");
    let lookup = app.lookup_ids(TOPIC, ACCOUNTS[0]).await.expect("lookup");
    assert!(lookup.is_empty(), "{lookup:?}");
    // The rate windows of 1,000 addresses are gone: what is left is the last clients' windows.
    assert!(rate_windows <= 64 + 8, "{rate_windows} rate windows left");
    // Near the start: at most the last clients' windows and the 16 expiry lists more, each
    // with its creation claim; whatever the number of triggers and addresses before them.
    assert!(
        after.0 <= before.0 + 2 * (64 + 8) + 2 * 16,
        "{} keys before, {} after",
        before.0,
        after.0
    );
    assert!(after.1 <= before.1 + 32 * 1024, "{before:?} {after:?}");
    app.stop().await.expect("stop");
}
