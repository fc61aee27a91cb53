//! Abuse limits end to end, against the compiled `api` component under the test host: caps on
//! index lists (per account and per topic for any account), also under concurrent creates, and
//! the anonymous creation rate per client address (`spin-client-addr`), all answered with 429,
//! `Retry-After` and the JSON error naming the field.

use std::net::{IpAddr, Ipv4Addr};

use aurras_e2e::{Answer, App, ADMIN_TOKEN};
use futures::future::join_all;
use serde_json::{json, Value};

const ALICE: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
const BOB: &str = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";
const BOB_HEX: &str = "0x8eaf04151687736326c9fea17e25fc5287613693c912909cb226aa4794f26a48";
const TOPIC: &str = "paseo.Balances.Transfer";

async fn app_with(vars: &[(&str, &str)]) -> App {
    App::start_with(|o| {
        for (name, value) in vars {
            o.variables
                .insert(format!("SPIN_VARIABLE_{name}"), (*value).to_owned());
        }
    })
    .await
    .expect("app starts")
}

async fn source(app: &App) -> String {
    app.register_paseo().await.expect("source")
}

fn hook(source: &str, account: Option<&str>) -> Value {
    let mut body = json!({"source": source, "event": "Balances.Transfer",
                          "action": {"webhook": {"url": "https://hooks.example.com/in"}}});
    if let Some(account) = account {
        body["filter"] = json!({"balance": {"account": account}});
    }
    body
}

async fn create(app: &App, body: &Value) -> Answer {
    app.call("POST", "/api/triggers", None, Some(body))
        .await
        .expect("call")
}

/// The ids the operator's lookup finds for an account (its list and the any-account shards).
async fn lookup(app: &App, account: &str) -> Vec<String> {
    app.lookup_ids(TOPIC, account).await.expect("lookup")
}

/// What the store file holds: the ids in one index list, and the number of trigger records.
fn stored(app: &App, index: &str) -> (Vec<String>, usize) {
    let conn = rusqlite::Connection::open(app.store_file()).expect("sqlite");
    let list: Option<Vec<u8>> = conn
        .query_row(
            "SELECT value FROM spin_key_value WHERE store = 'default' AND key = ?1",
            [index],
            |row| row.get(0),
        )
        .ok();
    let mut ids: Vec<String> = list
        .map(|b| serde_json::from_slice(&b).expect("an id list"))
        .unwrap_or_default();
    ids.sort();
    let records: usize = conn
        .query_row(
            "SELECT count(*) FROM spin_key_value WHERE store = 'default' AND key LIKE 'trigger/%'",
            [],
            |row| row.get(0),
        )
        .expect("count");
    (ids, records)
}

/// Creates `body` until the API refuses one: how many it admitted, and the refusal.
async fn create_until_refused(app: &App, body: &Value) -> (usize, Answer) {
    for admitted in 0..100 {
        let a = create(app, body).await;
        if a.status != 201 {
            return (admitted, a);
        }
    }
    panic!("no refusal after 100 creates");
}

fn assert_429(a: &Answer, code: &str, field: Option<&str>) {
    assert_eq!(a.status, 429, "{}", a.body);
    assert_eq!(a.body["error"]["code"], code, "{}", a.body);
    assert!(a.body["error"]["message"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));
    assert_eq!(a.body["error"]["field"].as_str(), field, "{}", a.body);
    let retry_after: u64 = a
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("a numeric Retry-After: {:?}", a.headers));
    assert!(retry_after >= 1);
}

#[tokio::test]
async fn a_full_account_answers_429_stores_nothing_and_frees_a_slot_on_delete() {
    let app = app_with(&[
        ("MAX_TRIGGERS_PER_ACCOUNT", "3"),
        ("MAX_ANY_ACCOUNT_TRIGGERS", "2"),
    ])
    .await;
    let sid = source(&app).await;
    let mut made = Vec::new();
    for _ in 0..3 {
        let a = create(&app, &hook(&sid, Some(BOB))).await;
        assert_eq!(a.status, 201, "{}", a.body);
        made.push((
            a.body["id"].as_str().expect("id").to_owned(),
            a.body["token"].as_str().expect("token").to_owned(),
        ));
    }
    let full = create(&app, &hook(&sid, Some(BOB))).await;
    assert_429(&full, "too_many_triggers", Some("filter.balance.account"));
    // The operator is held to the caps too.
    let a = app
        .call(
            "POST",
            "/api/triggers",
            Some(ADMIN_TOKEN),
            Some(&hook(&sid, Some(BOB))),
        )
        .await
        .expect("call");
    assert_429(&a, "too_many_triggers", Some("filter.balance.account"));
    let index = format!("ix/{TOPIC}/acct/{BOB_HEX}");
    let mut ids: Vec<String> = made.iter().map(|(id, _)| id.clone()).collect();
    ids.sort();
    assert_eq!(stored(&app, &index), (ids.clone(), 3));
    assert_eq!(lookup(&app, BOB).await, ids);

    // Moving Alice's trigger to Bob is refused and leaves it where it was.
    let a = create(&app, &hook(&sid, Some(ALICE))).await;
    assert_eq!(a.status, 201, "{}", a.body);
    let (alice_id, alice_token) = (
        a.body["id"].as_str().expect("id").to_owned(),
        a.body["token"].as_str().expect("token").to_owned(),
    );
    let moved = app
        .call(
            "PATCH",
            &format!("/api/triggers/{alice_id}"),
            Some(&alice_token),
            Some(&json!({"filter": {"balance": {"account": BOB}}})),
        )
        .await
        .expect("call");
    assert_429(&moved, "too_many_triggers", Some("filter.balance.account"));
    assert_eq!(lookup(&app, ALICE).await, vec![alice_id.clone()]);
    let read = app
        .call(
            "GET",
            &format!("/api/triggers/{alice_id}"),
            Some(&alice_token),
            None,
        )
        .await
        .expect("call");
    assert_eq!(
        read.body["filter"]["balance"]["account"], ALICE,
        "{}",
        read.body
    );

    // Deleting one frees its slot.
    let (id, token) = &made[0];
    let a = app
        .call("DELETE", &format!("/api/triggers/{id}"), Some(token), None)
        .await
        .expect("call");
    assert_eq!(a.status, 204, "{}", a.body);
    let a = create(&app, &hook(&sid, Some(BOB))).await;
    assert_eq!(a.status, 201, "{}", a.body);
    assert_eq!(stored(&app, &index).0.len(), 3);

    // Any-account triggers are capped per topic.
    for _ in 0..2 {
        let a = create(&app, &hook(&sid, None)).await;
        assert_eq!(a.status, 201, "{}", a.body);
    }
    let a = create(&app, &hook(&sid, None)).await;
    assert_429(&a, "too_many_triggers", Some("filter"));
    // Bob's 3 and the 2 for any account; nothing of the refused ones.
    assert_eq!(lookup(&app, BOB).await.len(), 5);
    assert_eq!(stored(&app, &index).1, 3 + 1 + 2);
    app.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_at_one_account_stop_exactly_at_the_cap() {
    const CAP: usize = 5;
    let app = app_with(&[("MAX_TRIGGERS_PER_ACCOUNT", "5")]).await;
    let sid = source(&app).await;
    let body = hook(&sid, Some(BOB));
    let answers = join_all((0..30).map(|_| create(&app, &body))).await;
    let created: Vec<String> = answers
        .iter()
        .filter(|a| a.status == 201)
        .map(|a| a.body["id"].as_str().expect("id").to_owned())
        .collect();
    for a in answers.iter().filter(|a| a.status != 201) {
        assert_429(a, "too_many_triggers", Some("filter.balance.account"));
    }
    assert_eq!(created.len(), CAP, "exactly the cap is accepted");
    let mut created = created;
    created.sort();
    let (list, records) = stored(&app, &format!("ix/{TOPIC}/acct/{BOB_HEX}"));
    assert_eq!(
        list, created,
        "the index list holds exactly the accepted ids"
    );
    assert_eq!(records, CAP, "no record of a refused create stayed behind");
    assert_eq!(lookup(&app, BOB).await, created);
    app.stop().await.expect("stop");
}

/// Posts a trigger from `local` (any 127.x.y.z address is the loopback interface), as a second
/// client address.
async fn create_from(app: &App, local: IpAddr, token: Option<&str>, body: &Value) -> (u16, Value) {
    let client = reqwest::Client::builder()
        .local_address(local)
        .build()
        .expect("client");
    let mut req = client
        .post(format!("{}/api/triggers", app.url()))
        .json(body);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let resp = req.send().await.expect("send");
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("json"))
}

#[tokio::test]
async fn anonymous_creates_are_rate_limited_per_client_address() {
    // 3 per 3-second window. Windows are aligned, so the first one may be cut short: send until
    // the first refusal, which comes once a window has admitted 3.
    let app = app_with(&[("CREATE_RATE_LIMIT", "3/3s")]).await;
    let sid = source(&app).await;
    let body = hook(&sid, Some(BOB));
    let (admitted, refused) = create_until_refused(&app, &body).await;
    assert_429(&refused, "rate_limited", None);
    assert!(admitted >= 3, "{admitted}");
    let retry_after: u64 = refused
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((1..=3).contains(&retry_after), "{retry_after}");

    // The operator is exempt; another address has its own window.
    let (status, answer) = create_from(
        &app,
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        Some(ADMIN_TOKEN),
        &body,
    )
    .await;
    assert_eq!(status, 201, "{answer}");
    let other = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    let (status, answer) = create_from(&app, other, None, &body).await;
    assert_eq!(status, 201, "{answer}");

    // After Retry-After, the next window admits again.
    tokio::time::sleep(std::time::Duration::from_secs(retry_after)).await;
    let a = create(&app, &body).await;
    assert_eq!(a.status, 201, "{}", a.body);
    app.stop().await.expect("stop");
}

#[tokio::test]
async fn a_malformed_limit_is_a_503_naming_the_variable() {
    let app = app_with(&[("MAX_TRIGGERS_PER_ACCOUNT", "lots")]).await;
    let sid = source(&app).await;
    let a = create(&app, &hook(&sid, Some(BOB))).await;
    assert_eq!(a.status, 503, "{}", a.body);
    assert_eq!(a.body["error"]["code"], "not_configured");
    assert!(
        a.body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("max_triggers_per_account")),
        "{}",
        a.body
    );
    app.stop().await.expect("stop");
}

#[tokio::test]
async fn the_default_rate_limit_is_twenty_a_minute() {
    // Unset, the variable takes spin.toml's default (the harness sets a generous one).
    let app = App::start_with(|o| {
        o.variables.remove("SPIN_VARIABLE_CREATE_RATE_LIMIT");
    })
    .await
    .expect("app starts");
    let sid = source(&app).await;
    let body = hook(&sid, None);
    let (admitted, refused) = create_until_refused(&app, &body).await;
    assert_429(&refused, "rate_limited", None);
    assert!(admitted >= 20, "{admitted}");
    assert!(
        refused.body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("20 triggers in the last 1m")),
        "{}",
        refused.body
    );
    app.stop().await.expect("stop");
}
