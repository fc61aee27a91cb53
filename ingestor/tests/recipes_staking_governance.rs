//! The staking and governance recipes through the whole loop, from signed extrinsics on
//! chopsticks running the real Paseo runtime (which has Staking, NominationPools and Referenda;
//! Alice holds the sudo key there, `tests/chain/paseo.yml`) to the sentence on ntfy, through
//! `ingest` → tansu → `relay` → the compiled `dispatch`. The operator publishes the recipes'
//! events and the runtime's track names in one step (`aurras-ingestor recipes`), and people
//! follow tracks by name:
//!
//! - `staking_alert`: Alice bonds, validates, then chills (`Staking.Chilled`).
//! - `staking_reward`: Alice creates a nomination pool, Bob joins, the pool earns, Bob claims
//!   (`NominationPools.PaidOut`).
//! - `referendum_new` on the root track (and not on the treasurer's): Alice submits a referendum
//!   with a root origin (`Referenda.Submitted`).
//! - `referendum_outcome`: root cancels it (`Referenda.Cancelled`), heard by every referendum's
//!   follower and by the root track's (whose track the ingestor read from the referendum's
//!   state), not by the treasurer track's; the notices name the track as the runtime does.
//!
//! What no local extrinsic makes (an era's payout, an offence's slash) comes from the runtime's
//! own encoding: `Staking.Rewarded` and `Staking.Slashed` built as values of the runtime's
//! `System.Events` type, encoded with its metadata and set into a block with `dev_setStorage`.

mod common;

use std::time::{Duration, Instant};

use aurras_e2e::channels::Channels;
use aurras_e2e::platforms::ntfy::Published;
use aurras_e2e::processes::{Broker, LocalChain};
use aurras_e2e::world::Settings;
use common::{client, head, ingest, publish_recipes, relay, submit, submit_as, ALICE, BOB};
use serde_json::json;
use subxt::dynamic::Value as Scale;
use subxt_signer::sr25519::dev;

const PAS: u128 = 10_000_000_000;
const WAIT: Duration = Duration::from_secs(90);

/// `MultiAddress::Id` of a 32-byte account.
fn id(account: [u8; 32]) -> Scale {
    Scale::unnamed_variant("Id", [Scale::from_bytes(account)])
}

/// Pool `pool`'s reward account: `modl` ‖ the pallet id `py/nopls` ‖ (AccountType::Reward = 1,
/// pool id as u32), zero-padded to 32 bytes, as FRAME derives sub-accounts.
fn pool_reward_account(pool: u32) -> [u8; 32] {
    let mut account = [0u8; 32];
    account[..4].copy_from_slice(b"modl");
    account[4..12].copy_from_slice(b"py/nopls");
    account[12] = 1;
    account[13..17].copy_from_slice(&pool.to_le_bytes());
    account
}

/// What ntfy published on `topic`, once something was or the time is up.
async fn published(c: &Channels, topic: &str, deadline: Instant) -> Vec<Published> {
    while Instant::now() < deadline && c.p.ntfy.published(topic).is_empty() {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    c.p.ntfy.published(topic)
}

/// chopsticks on Paseo, a broker, and an app that delivers to the local platforms.
async fn paseo_world() -> (LocalChain, Broker, Channels) {
    let chain = LocalChain::start().expect("chain");
    let broker = Broker::start().expect("broker");
    let c = Channels::start(Settings {
        rpc: chain.url.clone(),
        ..Settings::default()
    })
    .await
    .expect("channels");
    (chain, broker, c)
}

#[tokio::test(flavor = "multi_thread")]
async fn staking_and_governance_recipes_hear_real_extrinsics() {
    let (chain, broker, c) = paseo_world().await;
    let app = &c.w.app;
    // The operator's one step: every recipe event the runtime has, and its tracks by name.
    publish_recipes("paseo", &app.url());
    for (recipe, inputs, topic) in [
        ("staking_alert", json!({"address": ALICE}), "alice_alerts"),
        ("staking_reward", json!({"address": BOB}), "bob_rewards"),
        (
            "referendum_new",
            json!({"tracks": ["root"]}),
            "root_referenda",
        ),
        (
            "referendum_new",
            json!({"tracks": ["Treasurer"]}),
            "treasurer_referenda",
        ),
        ("referendum_outcome", json!({}), "outcomes"),
        (
            "referendum_outcome",
            json!({"tracks": ["root"]}),
            "root_outcomes",
        ),
        (
            "referendum_outcome",
            json!({"tracks": ["treasurer"]}),
            "treasurer_outcomes",
        ),
    ] {
        let created = app
            .call(
                "POST",
                "/api/triggers",
                None,
                Some(
                    &json!({"source": c.w.source, "recipe": recipe, "inputs": inputs,
                             "action": {"ntfy": {"topic": topic}}}),
                ),
            )
            .await
            .expect("create");
        assert_eq!(created.status, 201, "{recipe}: {}", created.body);
    }

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
        "governance-test",
        Duration::from_secs(6),
    );

    // Staking: Alice bonds, offers to validate, then chills.
    let tx = subxt::dynamic::tx;
    submit(
        &chain.url,
        &tx(
            "Staking",
            "bond",
            vec![
                Scale::u128(10_000_000 * PAS),
                Scale::unnamed_variant("Staked", []),
            ],
        ),
    )
    .await;
    let prefs = Scale::named_composite([
        ("commission", Scale::u128(0)),
        ("blocked", Scale::bool(false)),
    ]);
    submit(&chain.url, &tx("Staking", "validate", vec![prefs])).await;
    submit(&chain.url, &tx("Staking", "chill", Vec::<Scale>::new())).await;

    // A nomination pool that earns: Alice creates it, Bob joins, rewards arrive, Bob claims.
    let alice = dev::alice().public_key().0;
    let bob = dev::bob();
    submit(
        &chain.url,
        &tx(
            "NominationPools",
            "create",
            vec![
                Scale::u128(1_000_000 * PAS),
                id(alice),
                id(alice),
                id(alice),
            ],
        ),
    )
    .await;
    submit_as(
        &chain.url,
        &bob,
        &tx(
            "NominationPools",
            "join",
            vec![Scale::u128(10_000 * PAS), Scale::u128(1)],
        ),
    )
    .await;
    submit(
        &chain.url,
        &tx(
            "Balances",
            "transfer_keep_alive",
            vec![id(pool_reward_account(1)), Scale::u128(100 * PAS)],
        ),
    )
    .await;
    submit_as(
        &chain.url,
        &bob,
        &tx("NominationPools", "claim_payout", Vec::<Scale>::new()),
    )
    .await;

    // A referendum with a root origin (the root track), then cancelled by root.
    let remark = client(&chain.url)
        .await
        .at_current_block()
        .await
        .expect("head")
        .tx()
        .call_data(&tx("System", "remark", vec![Scale::from_bytes("aurras")]))
        .expect("call data");
    let root = Scale::unnamed_variant("system", [Scale::unnamed_variant("Root", [])]);
    submit(
        &chain.url,
        &tx(
            "Referenda",
            "submit",
            vec![
                root,
                Scale::unnamed_variant("Inline", [Scale::from_bytes(remark)]),
                Scale::unnamed_variant("After", [Scale::u128(10)]),
            ],
        ),
    )
    .await;
    let cancel = Scale::unnamed_variant(
        "Referenda",
        [Scale::unnamed_variant("cancel", [Scale::u128(0)])],
    );
    submit(&chain.url, &tx("Sudo", "sudo", vec![cancel])).await;

    let deadline = Instant::now() + WAIT;
    let said = |notes: &[Published]| notes.iter().map(|n| n.message.clone()).collect::<Vec<_>>();
    let alerts = published(&c, "alice_alerts", deadline).await;
    assert_eq!(alerts.len(), 1, "{:?}", said(&alerts));
    assert!(
        alerts[0].message.starts_with(
            "5Grw…utQY was chilled: it no longer validates or nominates on paseo at block #"
        ),
        "{:?}",
        alerts[0].message
    );
    let rewards = published(&c, "bob_rewards", deadline).await;
    assert_eq!(rewards.len(), 1, "{:?}", said(&rewards));
    assert!(
        rewards[0].message.starts_with("Pool 1 paid 5FHn…94ty ")
            && rewards[0].message.contains(" PAS on paseo at block #"),
        "{:?}",
        rewards[0].message
    );
    let submitted = published(&c, "root_referenda", deadline).await;
    assert_eq!(submitted.len(), 1, "{:?}", said(&submitted));
    assert!(
        submitted[0]
            .message
            .starts_with("Referendum 0 was submitted on the Root track on paseo at block #"),
        "{:?}",
        submitted[0].message
    );
    let outcomes = published(&c, "outcomes", deadline).await;
    assert_eq!(outcomes.len(), 1, "{:?}", said(&outcomes));
    assert!(
        outcomes[0]
            .message
            .starts_with("Referendum 0 on the Root track was cancelled on paseo at block #"),
        "{:?}",
        outcomes[0].message
    );
    // The cancellation names only the index: the ingestor read the referendum's track from its
    // state before, so the root track's follower hears it and the treasurer's does not.
    let root_outcomes = published(&c, "root_outcomes", deadline).await;
    assert_eq!(root_outcomes.len(), 1, "{:?}", said(&root_outcomes));
    assert!(c.p.ntfy.published("treasurer_outcomes").is_empty());
    // By now the submission was dispatched: the treasurer track's trigger was not for it.
    assert!(c.p.ntfy.published("treasurer_referenda").is_empty());
    assert!(c.p.ntfy.server().rejections().is_empty());
}

/// A JSON-RPC call to chopsticks over HTTP.
async fn rpc(url: &str, method: &str, params: serde_json::Value) -> serde_json::Value {
    let http = url.replace("ws://", "http://");
    let answer: serde_json::Value = reqwest::Client::new()
        .post(&http)
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
        .send()
        .await
        .expect("chopsticks answers")
        .json()
        .await
        .expect("JSON-RPC");
    assert!(answer.get("error").is_none(), "{method}: {answer}");
    answer["result"].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_era_payout_and_a_slash_no_local_extrinsic_makes_decode_from_the_runtimes_encoding() {
    let (chain, broker, c) = paseo_world().await;
    let app = &c.w.app;
    publish_recipes("paseo", &app.url());
    for (recipe, topic) in [
        ("staking_alert", "bob_alerts"),
        ("staking_reward", "bob_rewards"),
    ] {
        let created = app
            .call(
                "POST",
                "/api/triggers",
                None,
                Some(
                    &json!({"source": c.w.source, "recipe": recipe, "inputs": {"address": BOB},
                             "action": {"ntfy": {"topic": topic}}}),
                ),
            )
            .await
            .expect("create");
        assert_eq!(created.status, 201, "{recipe}: {}", created.body);
    }

    // A new block, whose events become what the runtime emits when an era is paid out and an
    // offence slashed: its own types encode them (System.Events), nothing is written by hand.
    rpc(&chain.url, "dev_newBlock", json!([])).await;
    let number = head(&chain.url).await;
    let api = client(&chain.url).await;
    let at = api.at_current_block().await.expect("head");
    let metadata = at.metadata_ref();
    let events_type = metadata
        .pallet_by_name("System")
        .and_then(|p| p.storage())
        .and_then(|s| s.entry_by_name("Events"))
        .expect("System.Events")
        .value_ty();
    let bob = dev::bob().public_key().0;
    let record = |event: Scale| {
        Scale::named_composite([
            ("phase", Scale::unnamed_variant("Finalization", [])),
            ("event", event),
            ("topics", Scale::unnamed_composite([])),
        ])
    };
    let staking = |name: &str, fields: Vec<(&str, Scale)>| {
        Scale::unnamed_variant("Staking", [Scale::named_variant(name, fields)])
    };
    let events = Scale::unnamed_composite([
        record(staking(
            "Rewarded",
            vec![
                ("stash", Scale::from_bytes(bob)),
                ("dest", Scale::unnamed_variant("Staked", [])),
                ("amount", Scale::u128(125 * PAS / 10)),
            ],
        )),
        record(staking(
            "Slashed",
            vec![
                ("staker", Scale::from_bytes(bob)),
                ("amount", Scale::u128(5 * PAS)),
            ],
        )),
    ]);
    use subxt::ext::scale_encode::EncodeAsType;
    let encoded = events
        .encode_as_type(events_type, metadata.types())
        .expect("the runtime's types encode the events");
    let key = subxt::ext::frame_decode::storage::encode_storage_key_prefix("System", "Events");
    rpc(
        &chain.url,
        "dev_setStorage",
        json!([[[
            format!("0x{}", hex::encode(key)),
            format!("0x{}", hex::encode(encoded))
        ]]]),
    )
    .await;

    let state = tempfile::tempdir().expect("tempdir");
    let _ingest = ingest(
        &app.url(),
        &broker.addr,
        Some(number),
        &state.path().join("cursor"),
    );
    let _relay = relay(
        &app.url(),
        &broker.addr,
        "encoded-test",
        Duration::from_secs(6),
    );
    let deadline = Instant::now() + WAIT;
    let rewards = published(&c, "bob_rewards", deadline).await;
    assert_eq!(rewards.len(), 1, "{rewards:?}");
    assert!(
        rewards[0].message.starts_with(&format!(
            "5FHn…94ty was paid a staking reward of 12.5 PAS on paseo at block #{number}."
        )),
        "{:?}",
        rewards[0].message
    );
    let alerts = published(&c, "bob_alerts", deadline).await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(
        alerts[0].message.starts_with(&format!(
            "5FHn…94ty was slashed 5 PAS on paseo at block #{number}."
        )),
        "{:?}",
        alerts[0].message
    );
}
