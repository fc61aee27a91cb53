//! Recipes through the whole loop, real parts throughout: the operator publishes the events of
//! `account_security`, a person picks the recipe for Alice's account with ntfy as the channel,
//! Alice adds a proxy on chopsticks (the real Paseo runtime, a signed `Proxy.add_proxy`), and
//! `ingest` → tansu → `relay` → the compiled `dispatch` publish the recipe's sentence.

mod common;

use std::time::Duration;

use aurras_e2e::channels::Channels;
use aurras_e2e::processes::{Broker, LocalChain};
use aurras_e2e::world::Settings;
use aurras_e2e::ADMIN_TOKEN;
use common::{head, ingest, relay, submit, ALICE};
use serde_json::{json, Value};
use subxt::dynamic::Value as Scale;
use subxt_signer::sr25519::dev;

const WAIT: Duration = Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread")]
async fn a_proxy_added_on_chain_reaches_the_account_holder_as_a_sentence() {
    let chain = LocalChain::start().expect("chain");
    let broker = Broker::start().expect("broker");
    let c = Channels::start(Settings {
        rpc: chain.url.clone(),
        ..Settings::default()
    })
    .await
    .expect("channels");
    let app = &c.w.app;

    let events = json!({"events": ["Balances.Transfer", "Proxy.ProxyAdded", "Proxy.PureCreated",
                                   "Multisig.NewMultisig"]});
    let patched = app
        .call(
            "PATCH",
            &format!("/api/sources/{}", c.w.source),
            Some(ADMIN_TOKEN),
            Some(&events),
        )
        .await
        .expect("patch");
    assert_eq!(patched.status, 200, "{}", patched.body);

    let recipes = app
        .call("GET", "/api/recipes", None, None)
        .await
        .expect("recipes");
    let security = recipes.body["recipes"]
        .as_array()
        .and_then(|all| all.iter().find(|r| r["id"] == "account_security"))
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(
        security["chains"][0]["events"],
        json!([
            "Proxy.ProxyAdded",
            "Proxy.PureCreated",
            "Multisig.NewMultisig"
        ]),
        "{security}"
    );

    let created = app
        .call(
            "POST",
            "/api/triggers",
            None,
            Some(&json!({"source": c.w.source, "recipe": "account_security",
                         "inputs": {"address": ALICE},
                         "action": {"ntfy": {"topic": "alice_security"}}})),
        )
        .await
        .expect("create");
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(
        created.body["recipe"],
        json!({"id": "account_security", "inputs": {"address": ALICE}})
    );

    let state = tempfile::tempdir().expect("tempdir");
    let _ingest = ingest(
        &app.url(),
        &broker.addr,
        Some(head(&chain.url).await + 1),
        &state.path().join("cursor"),
    );
    let _relay = relay(
        &app.url(),
        &broker.addr,
        "recipes-test",
        Duration::from_secs(6),
    );

    let add_proxy = subxt::dynamic::tx(
        "Proxy",
        "add_proxy",
        (
            dev::bob().public_key().to_address::<()>(),
            Scale::unnamed_variant("Any", []),
            0u32,
        ),
    );
    submit(&chain.url, &add_proxy).await;

    let deadline = std::time::Instant::now() + WAIT;
    while std::time::Instant::now() < deadline && c.p.ntfy.published("alice_security").is_empty() {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let published = c.p.ntfy.published("alice_security");
    assert_eq!(published.len(), 1, "{:?}", c.p.ntfy.server().rejections());
    let note = &published[0];
    assert_eq!(note.title.as_deref(), Some("Account security on paseo"));
    let said =
        "A proxy was added to 5Grw…utQY: 5FHn…94ty may now act for it (Any) on paseo at block #";
    assert!(note.message.starts_with(said), "{:?}", note.message);
    assert!(
        note.click
            .as_deref()
            .is_some_and(|l| l.starts_with("https://explorer.test/paseo/block/")),
        "{note:?}"
    );
}
