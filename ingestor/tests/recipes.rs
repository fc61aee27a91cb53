//! Recipes through the whole loop, real parts throughout, each from signed extrinsics on
//! chopsticks to the sentence a person reads on ntfy through `ingest` → tansu → `relay` → the
//! compiled `dispatch`:
//!
//! - `account_security` on the real Paseo runtime: Alice adds a proxy.
//! - `assets` on a real Asset Hub runtime: Alice creates an asset and gives it metadata; the
//!   operator's one step (`aurras-ingestor recipes`) stores the chain's assets, so Bob picks it by
//!   its symbol (an unknown one is refused); Alice mints it and sends Bob some; the amount reads
//!   in the asset's own symbol and decimals, which the ingestor read from the chain, and a
//!   transfer below Bob's minimum (in those units) is not sent.

mod common;

use std::time::Duration;

use aurras_e2e::channels::Channels;
use aurras_e2e::processes::{Broker, LocalChain};
use aurras_e2e::world::Settings;
use aurras_e2e::ADMIN_TOKEN;
use common::{head, ingest, ingest_chain, publish_recipes, relay, submit, ALICE, BOB};
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

#[tokio::test(flavor = "multi_thread")]
async fn an_asset_received_on_asset_hub_reads_in_its_own_symbol_and_decimals() {
    let chain = LocalChain::asset_hub().expect("asset hub");
    let broker = Broker::start().expect("broker");
    let c = Channels::start(Settings::default())
        .await
        .expect("channels");
    let app = &c.w.app;
    let registered = app
        .call(
            "POST",
            "/api/sources",
            Some(ADMIN_TOKEN),
            Some(&json!({"chain": "asset-hub", "rpc": [chain.url],
                         "events": ["Assets.Transferred", "Assets.Issued"],
                         "token": {"symbol": "WND", "decimals": 12}})),
        )
        .await
        .expect("register");
    assert_eq!(registered.status, 201, "{}", registered.body);
    let state = tempfile::tempdir().expect("tempdir");
    let _ingest = ingest_chain(
        "asset-hub",
        &app.url(),
        &broker.addr,
        Some(head(&chain.url).await + 1),
        &state.path().join("cursor"),
        Duration::from_millis(200),
    );
    let _relay = relay(
        &app.url(),
        &broker.addr,
        "assets-test",
        Duration::from_secs(6),
    );

    const TST: u128 = 10_000_000_000; // 10 decimals
                                      // `MultiAddress::Id` of a dev account.
    let id = |pair: subxt_signer::sr25519::Keypair| {
        Scale::unnamed_variant("Id", [Scale::from_bytes(pair.public_key().0)])
    };
    let asset = || Scale::u128(77);
    let amount = |units: u128| Scale::u128(units);
    let assets = |calls: Vec<(&'static str, Vec<Scale>)>| {
        let url = chain.url.clone();
        async move {
            for (call, args) in calls {
                submit(&url, &subxt::dynamic::tx("Assets", call, args)).await;
            }
        }
    };
    assets(vec![
        ("create", vec![asset(), id(dev::alice()), amount(1)]),
        (
            "set_metadata",
            vec![
                asset(),
                Scale::from_bytes("Test Token"),
                Scale::from_bytes("TST"),
                Scale::u128(10),
            ],
        ),
    ])
    .await;

    // The operator's one step stores the chain's assets: Bob picks TST by its symbol.
    let report = publish_recipes("asset-hub", &app.url());
    assert_eq!(report["assets"], 1, "{report}");
    let assets_trigger = |asset: serde_json::Value| {
        json!({"source": registered.body["id"], "recipe": "assets",
               "inputs": {"address": BOB, "asset": asset, "min": "1"},
               "action": {"ntfy": {"topic": "bob_assets"}}})
    };
    let unknown = app
        .call(
            "POST",
            "/api/triggers",
            None,
            Some(&assets_trigger(json!("NOPE"))),
        )
        .await
        .expect("create");
    assert_eq!(unknown.status, 422, "{}", unknown.body);
    assert_eq!(
        unknown.body["error"]["field"], "inputs.asset",
        "{}",
        unknown.body
    );
    let created = app
        .call(
            "POST",
            "/api/triggers",
            None,
            Some(&assets_trigger(json!("TST"))),
        )
        .await
        .expect("create");
    assert_eq!(created.status, 201, "{}", created.body);

    assets(vec![
        ("mint", vec![asset(), id(dev::alice()), amount(1_000 * TST)]),
        // Half a TST: below Bob's minimum of one.
        ("transfer", vec![asset(), id(dev::bob()), amount(TST / 2)]),
        (
            "transfer",
            vec![asset(), id(dev::bob()), amount(25 * TST / 10)],
        ),
    ])
    .await;

    let deadline = std::time::Instant::now() + WAIT;
    while std::time::Instant::now() < deadline && c.p.ntfy.published("bob_assets").is_empty() {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let published = c.p.ntfy.published("bob_assets");
    assert_eq!(
        published.len(),
        1,
        "{published:?} {:?}",
        c.p.ntfy.server().rejections()
    );
    let note = &published[0];
    assert_eq!(note.title.as_deref(), Some("TST on asset-hub"));
    let said = "5FHn…94ty received 2.5 TST from 5Grw…utQY on asset-hub at block #";
    assert!(note.message.starts_with(said), "{:?}", note.message);
}
