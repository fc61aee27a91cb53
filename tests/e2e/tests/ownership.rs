//! Owner proofs end to end, against the compiled `api` component under the test host: anonymous
//! creators from many client addresses fill an account's list to its cap, and the account's
//! owner, proving it with a signature by the dev account's key over the API's challenge, is
//! still admitted, while anonymous creates keep getting 429. Bad proofs are refused naming the
//! field and store nothing.

use std::net::{IpAddr, Ipv4Addr};

use aurras_domain::ownership::dev_keys::{DevKey, ALICE, BOB};
use aurras_domain::ownership::schemes::wrap_bytes;
use aurras_e2e::{App, ADMIN_TOKEN};
use serde_json::{json, Value};

const TOPIC: &str = "paseo.Balances.Transfer";
/// `max_triggers_per_account`'s default: the review's measurement, at the shipped setting.
const CAP: usize = 100;

async fn app() -> App {
    App::start_with(|o| {
        // One anonymous create per address and hour: the cap is filled from many addresses.
        o.variables
            .insert("SPIN_VARIABLE_CREATE_RATE_LIMIT".into(), "1/1h".into());
    })
    .await
    .expect("app starts")
}

fn hook(source: &str, account: &str) -> Value {
    json!({"source": source, "event": "Balances.Transfer",
           "filter": {"balance": {"account": account}},
           "action": {"webhook": {"url": "https://hooks.example.com/in"}}})
}

/// A loopback address other than 127.0.0.1: another client, as far as the rate limit goes.
fn client(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 1, n))
}

/// POSTs `body` (or nothing) to `path` from the client address `local`.
async fn post_from(app: &App, local: IpAddr, path: &str, body: Option<&Value>) -> (u16, Value) {
    let http = reqwest::Client::builder()
        .local_address(local)
        .build()
        .expect("client");
    let mut req = http.post(format!("{}{path}", app.url()));
    if let Some(body) = body {
        req = req.json(body);
    }
    let resp = req.send().await.expect("send");
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("json"))
}

/// Asks the API for a challenge for `key`'s account and signs its message (`wrapped`: as the
/// browser extensions' `signRaw` does, inside `<Bytes>…</Bytes>`).
async fn prove(app: &App, local: IpAddr, key: &DevKey, wrapped: bool) -> Value {
    let path = format!("/api/accounts/{}/challenge", key.address(42));
    let (status, issued) = post_from(app, local, &path, None).await;
    assert_eq!(status, 200, "{issued}");
    let message = issued["message"].as_str().expect("message").as_bytes();
    for part in [
        "Aurras",
        &key.address(42),
        issued["challenge"].as_str().expect("c"),
    ] {
        assert!(
            issued["message"].as_str().is_some_and(|m| m.contains(part)),
            "{issued}"
        );
    }
    let signed = if wrapped {
        wrap_bytes(message)
    } else {
        message.to_vec()
    };
    json!({"challenge": issued["challenge"], "signature": key.sign_hex(&signed),
           "scheme": key.scheme().name()})
}

fn refused(status: u16, body: &Value, expected: u16, code: &str, field: &str) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert_eq!(body["error"]["field"], field, "{body}");
}

#[tokio::test]
async fn anonymous_creators_from_many_addresses_never_lock_out_the_proven_owner() {
    let app = app().await;
    let sid = app.register_paseo().await.expect("source");
    let alice = ALICE.sr25519();
    let account = alice.address(42);

    // Anonymous creators, one per address (127.0.1.1 to 127.0.1.100), fill Alice's list.
    for n in 1..=CAP as u8 {
        let (status, body) = post_from(
            &app,
            client(n),
            "/api/triggers",
            Some(&hook(&sid, &account)),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        assert!(body.get("owner_verified").is_none(), "{body}");
    }
    let (status, body) = post_from(
        &app,
        client(150),
        "/api/triggers",
        Some(&hook(&sid, &account)),
    )
    .await;
    refused(
        status,
        &body,
        429,
        "too_many_triggers",
        "filter.balance.account",
    );

    // Alice proves the account and is admitted, from an address of her own.
    let owner = client(200);
    let mut mine = hook(&sid, &account);
    mine["proof"] = prove(&app, owner, &alice, true).await;
    let (status, created) = post_from(&app, owner, "/api/triggers", Some(&mine)).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["owner_verified"], true, "{created}");
    let id = created["id"].as_str().expect("id").to_owned();
    assert!(app
        .lookup_ids(TOPIC, &account)
        .await
        .expect("lookup")
        .contains(&id));
    assert_eq!(
        app.lookup_ids(TOPIC, &account).await.expect("lookup").len(),
        CAP + 1
    );

    // Anonymous creates still get 429, even from a fresh address.
    let (status, body) = post_from(
        &app,
        client(151),
        "/api/triggers",
        Some(&hook(&sid, &account)),
    )
    .await;
    refused(
        status,
        &body,
        429,
        "too_many_triggers",
        "filter.balance.account",
    );

    // The proof was used up.
    let (status, body) = post_from(&app, client(201), "/api/triggers", Some(&mine)).await;
    refused(status, &body, 422, "invalid_field", "proof.challenge");

    // The owner reads the trigger back as verified.
    let token = created["token"].as_str().expect("token");
    let read = app
        .call("GET", &format!("/api/triggers/{id}"), Some(token), None)
        .await
        .expect("read");
    assert_eq!(read.body["owner_verified"], true, "{}", read.body);
    app.stop().await.expect("stop");
}

#[tokio::test]
async fn a_bad_proof_is_refused_naming_the_field_and_stores_nothing() {
    let app = app().await;
    let sid = app.register_paseo().await.expect("source");
    let alice = ALICE.sr25519();
    let account = alice.address(42);
    let before = app.lookup_ids(TOPIC, &account).await.expect("lookup");

    // Bob signs Alice's challenge.
    let mut forged = hook(&sid, &account);
    let path = format!("/api/accounts/{account}/challenge");
    let (_, issued) = post_from(&app, client(1), &path, None).await;
    let message = issued["message"].as_str().expect("message").as_bytes();
    forged["proof"] = json!({"challenge": issued["challenge"],
                             "signature": BOB.sr25519().sign_hex(message)});
    let a = app
        .call("POST", "/api/triggers", Some(ADMIN_TOKEN), Some(&forged))
        .await
        .expect("call");
    refused(a.status, &a.body, 422, "invalid_field", "proof.signature");

    // A challenge for Bob, presented for Alice's account.
    let bob = BOB.sr25519();
    let mut elsewhere = hook(&sid, &account);
    elsewhere["proof"] = prove(&app, client(2), &bob, false).await;
    let a = app
        .call("POST", "/api/triggers", Some(ADMIN_TOKEN), Some(&elsewhere))
        .await
        .expect("call");
    refused(a.status, &a.body, 422, "invalid_field", "proof.challenge");

    // Not an account.
    let (status, body) = post_from(&app, client(3), "/api/accounts/nobody/challenge", None).await;
    refused(status, &body, 422, "invalid_field", "account");
    assert_eq!(
        app.lookup_ids(TOPIC, &account).await.expect("lookup"),
        before
    );

    // An ecdsa dev key proves its own account (the bare message this time).
    let ecdsa = ALICE.ecdsa();
    let mut mine = hook(&sid, &ecdsa.address(42));
    mine["proof"] = prove(&app, client(4), &ecdsa, false).await;
    let a = app
        .call("POST", "/api/triggers", None, Some(&mine))
        .await
        .expect("call");
    assert_eq!(a.status, 201, "{}", a.body);
    assert_eq!(a.body["owner_verified"], true, "{}", a.body);
    app.stop().await.expect("stop");
}
