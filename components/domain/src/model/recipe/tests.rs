//! Recipes: expansion and its errors, what their filters match, their default sentences, and
//! their triggers in the registry (indexed once, found by each of their events, counted per
//! event, two batches per lookup).

use serde_json::{json, Map, Value};

use super::*;
use crate::envelope::Envelope;
use crate::filter::Filter;
use crate::kv::{Counting, KeyValue, MemoryStore};
use crate::message::compose;
use crate::registry::Registry;
use crate::source::{NewSource, TokenInfo};
use crate::trigger::{Trigger, TriggerPatch};
use crate::vault::TEST_KEYRING;

const ALICE: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
const BOB: &str = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";
const BOB_HEX: &str = "0x8eaf04151687736326c9fea17e25fc5287613693c912909cb226aa4794f26a48";

const EVERY_EVENT: &[&str] = &[
    "Balances.Transfer",
    "Assets.Transferred",
    "Assets.Issued",
    "Staking.Rewarded",
    "NominationPools.PaidOut",
    "Staking.Slashed",
    "Staking.Chilled",
    "Staking.Kicked",
    "Referenda.Submitted",
    "Referenda.Confirmed",
    "Referenda.Rejected",
    "Referenda.Cancelled",
    "Referenda.TimedOut",
    "Referenda.Killed",
    "Proxy.ProxyAdded",
    "Proxy.PureCreated",
    "Multisig.NewMultisig",
];

fn source_with(chain: &str, events: &[&str]) -> Source {
    let req: NewSource = serde_json::from_value(json!({
        "chain": chain, "rpc": ["ws://x"], "events": events,
        "token": {"symbol": "PAS", "decimals": 10}}))
    .expect("shape");
    req.validate("src_1".into(), "t0").expect("valid").source
}

fn inputs(v: Value) -> Map<String, Value> {
    v.as_object().cloned().expect("object")
}

fn field_of(e: crate::error::ApiError) -> String {
    e.field.unwrap_or_default()
}

#[test]
fn every_recipe_expands_on_a_chain_with_its_pallets() {
    let src = source_with("paseo", EVERY_EVENT);
    let given = [
        ("funds", json!({"address": BOB, "min": "1.5"})),
        (
            "assets",
            json!({"address": BOB, "asset": 1984, "min": "1000000"}),
        ),
        ("staking_reward", json!({"address": BOB})),
        ("staking_alert", json!({"address": BOB})),
        ("referendum_new", json!({"tracks": [0, 11]})),
        ("referendum_outcome", json!({"referendum": 12})),
        ("account_security", json!({"address": BOB})),
    ];
    assert_eq!(given.len(), RECIPES.len(), "every recipe is tried");
    for (id, given) in given {
        let e = expand(id, &inputs(given), &src).unwrap_or_else(|e| panic!("{id}: {e:?}"));
        let single = matches!(id, "funds" | "referendum_new");
        assert_eq!(e.events.is_empty(), single, "{id}");
        let want_topic = if single {
            e.event.topic(&src.chain)
        } else {
            recipe_topic(&src.chain, id)
        };
        assert_eq!(e.topic, want_topic, "{id}");
        assert_eq!(
            e.filter
                .as_ref()
                .and_then(Filter::indexed_account)
                .is_some(),
            recipe(id).expect("recipe").by_account(),
            "{id}: indexed by account exactly when about one"
        );
        assert_eq!(default_message(id).is_some(), id != "funds", "{id}");
    }
    // Identity is not on this chain: account_security takes the events the chain has.
    let security =
        expand("account_security", &inputs(json!({"address": BOB})), &src).expect("security");
    assert_eq!(security.events.len(), 3);
}

#[test]
fn bad_inputs_are_named() {
    let src = source_with("paseo", EVERY_EVENT);
    let cases = [
        ("nope", json!({}), "recipe"),
        ("staking_alert", json!({}), "inputs.address"),
        ("staking_alert", json!({"address": 7}), "inputs.address"),
        // Kusama's prefix on a generic-prefix chain.
        (
            "staking_alert",
            json!({"address": "HNZata7iMYWmk5RvZRTiAsSDhV8366zq2YGb3tLH5Upf74F"}),
            "inputs.address",
        ),
        (
            "staking_alert",
            json!({"address": BOB, "asset": 1}),
            "inputs.asset",
        ),
        ("assets", json!({"address": BOB}), "inputs.asset"),
        (
            "assets",
            json!({"address": BOB, "asset": -1}),
            "inputs.asset",
        ),
        (
            "assets",
            json!({"address": BOB, "asset": 1, "min": "1.5.2"}),
            "inputs.min",
        ),
        (
            "assets",
            json!({"address": BOB, "asset": 1, "direction": "up"}),
            "inputs.direction",
        ),
        ("funds", json!({"address": BOB, "min": "abc"}), "inputs.min"),
        ("funds", json!({"address": "x"}), "inputs.address"),
        ("referendum_new", json!({"tracks": []}), "inputs.tracks"),
        (
            "referendum_new",
            json!({"tracks": [0, "root"]}),
            "inputs.tracks[1]",
        ),
        (
            "referendum_outcome",
            json!({"referendum": "twelve"}),
            "inputs.referendum",
        ),
    ];
    for (id, given, field) in cases {
        let err = expand(id, &inputs(given.clone()), &src).expect_err(id);
        assert_eq!(field_of(err), field, "{id} {given}");
    }
}

#[test]
fn tracks_are_followed_by_the_chains_names_for_them_once_known() {
    let mut src = source_with("paseo", EVERY_EVENT);
    src.tracks = [(0, "root"), (11, "treasurer"), (30, "small_tipper")]
        .map(|(id, name)| crate::envelope::Track {
            id,
            name: name.into(),
        })
        .to_vec();
    let e = expand(
        "referendum_new",
        &inputs(json!({"tracks": ["Treasurer", "small tipper"]})),
        &src,
    )
    .expect("names");
    assert_eq!(
        e.filter,
        Some(Filter::All(vec![crate::filter::Predicate {
            field: "track".into(),
            op: crate::filter::Op::In,
            value: json!([11, 30]),
        }]))
    );
    let err = expand(
        "referendum_outcome",
        &inputs(json!({"tracks": ["root", "whitelisted caller"]})),
        &src,
    )
    .expect_err("not on this chain");
    assert_eq!(err.field.as_deref(), Some("inputs.tracks[1]"));
    assert!(err.message.contains("treasurer (11)"), "{}", err.message);
}

#[test]
fn a_chain_without_the_pallet_is_named_with_what_would_serve() {
    let relay = source_with("polkadot", &["Balances.Transfer"]);
    let err = expand("staking_reward", &inputs(json!({"address": ALICE})), &relay)
        .expect_err("no staking here");
    assert_eq!(err.field.as_deref(), Some("source"));
    for part in [
        "Staking or NominationPools",
        "Asset Hub",
        "PATCH /api/sources/src_1",
    ] {
        assert!(err.message.contains(part), "{part:?} in {}", err.message);
    }
}

use crate::envelope::test_event as event;

fn matches(filter: &Option<Filter>, e: &Envelope) -> bool {
    let name = e.event_name().expect("name");
    filter.as_ref().is_none_or(|f| f.matches_envelope(&name, e))
}

fn usdt_meta() -> Option<TokenInfo> {
    Some(TokenInfo {
        symbol: "USDT".into(),
        decimals: 6,
    })
}

#[test]
fn recipe_filters_follow_the_account_in_each_events_own_field() {
    let src = source_with("paseo", EVERY_EVENT);
    let alert = expand("staking_alert", &inputs(json!({"address": BOB})), &src).expect("alert");
    for e in [
        event("Staking", "Slashed", json!({"staker": BOB, "amount": "10"})),
        event("Staking", "Chilled", json!({"stash": BOB})),
        event(
            "Staking",
            "Kicked",
            json!({"nominator": BOB, "stash": ALICE}),
        ),
    ] {
        assert!(matches(&alert.filter, &e), "{}", e.event);
    }
    let not_bob = event(
        "Staking",
        "Slashed",
        json!({"staker": ALICE, "amount": "10"}),
    );
    assert!(!matches(&alert.filter, &not_bob));

    let usdt = expand(
        "assets",
        &inputs(json!({"address": BOB, "asset": "1984", "min": "1"})),
        &src,
    )
    .expect("assets");
    let to_bob = |asset: u32, amount: &str| {
        let mut e = event(
            "Assets",
            "Transferred",
            json!({"asset_id": asset, "from": ALICE, "to": BOB, "amount": amount}),
        );
        e.asset = usdt_meta();
        e
    };
    assert!(matches(&usdt.filter, &to_bob(1984, "2500000")));
    assert!(
        matches(&usdt.filter, &to_bob(1984, "1000000")),
        "the minimum itself"
    );
    assert!(
        !matches(&usdt.filter, &to_bob(1337, "2500000")),
        "another asset"
    );
    assert!(
        !matches(&usdt.filter, &to_bob(1984, "999999")),
        "below 1 USDT"
    );
    let mut unknown = to_bob(1984, "5");
    unknown.asset = None;
    assert!(
        matches(&usdt.filter, &unknown),
        "without metadata the minimum cannot be read: the event passes"
    );
    let from_bob = event(
        "Assets",
        "Transferred",
        json!({"asset_id": 1984, "from": BOB, "to": ALICE, "amount": "2500000"}),
    );
    assert!(!matches(&usdt.filter, &from_bob), "direction in by default");
    let mut minted = event(
        "Assets",
        "Issued",
        json!({"asset_id": 1984, "owner": BOB, "amount": "2500000"}),
    );
    minted.asset = usdt_meta();
    assert!(matches(&usdt.filter, &minted));

    let tracks = expand("referendum_new", &inputs(json!({"tracks": [11]})), &src).expect("new");
    let submitted = |track: u16| {
        event(
            "Referenda",
            "Submitted",
            json!({"index": 7, "track": track, "proposal": {"Inline": "0x00"}}),
        )
    };
    assert!(matches(&tracks.filter, &submitted(11)));
    assert!(!matches(&tracks.filter, &submitted(0)));

    // Outcomes name only the index: the track the ingestor read for the referendum decides.
    let outcomes =
        expand("referendum_outcome", &inputs(json!({"tracks": [11]})), &src).expect("outcomes");
    let confirmed = |track: Option<u16>| Envelope {
        track: track.map(|id| crate::envelope::Track {
            id,
            name: format!("track{id}"),
        }),
        ..event("Referenda", "Confirmed", json!({"index": 7, "tally": {}}))
    };
    assert!(matches(&outcomes.filter, &confirmed(Some(11))));
    assert!(!matches(&outcomes.filter, &confirmed(Some(0))));
    assert!(
        !matches(&outcomes.filter, &confirmed(None)),
        "a track not known is not followed"
    );
}

fn trigger_of(id: &str, given: Value, src: &Source) -> Trigger {
    let req = serde_json::from_value(json!({"source": src.id, "recipe": id, "inputs": given,
        "action": {"webhook": {"url": "https://h.example.com"}}}))
    .expect("shape");
    let mut secret = || "whsec_x".to_string();
    crate::trigger::NewTrigger::validate(
        req,
        src,
        crate::trigger::Minted {
            id: "trg_1".into(),
            token_hash: "h".into(),
            now: "t1",
            new_secret: &mut secret,
        },
    )
    .expect("valid")
}

#[test]
fn default_messages_are_plain_sentences() {
    let src = source_with("paseo", EVERY_EVENT);
    let token = TokenInfo {
        symbol: "PAS".into(),
        decimals: 10,
    };
    let cases = [
        (
            "staking_reward",
            event("Staking", "Rewarded", json!({"stash": BOB, "dest": "Staked", "amount": "125000000000"})),
            "5FHn…94ty was paid a staking reward of 12.5 PAS on paseo at block #1234. https://x.test/paseo/block/1234",
        ),
        (
            "staking_alert",
            event("Staking", "Kicked", json!({"nominator": BOB, "stash": ALICE})),
            "5FHn…94ty was kicked from the nominators of validator 5Grw…utQY on paseo at block #1234.",
        ),
        (
            "referendum_outcome",
            event("Referenda", "Confirmed", json!({"index": 1234, "tally": {}})),
            "Referendum 1234 was approved on paseo at block #1234.",
        ),
        (
            "referendum_outcome",
            Envelope {
                track: Some(crate::envelope::Track { id: 30, name: "small_tipper".into() }),
                ..event("Referenda", "Confirmed", json!({"index": 1234, "tally": {}}))
            },
            "Referendum 1234 on the Small Tipper track was approved on paseo at block #1234.",
        ),
        (
            "referendum_new",
            Envelope {
                track: Some(crate::envelope::Track { id: 11, name: "treasurer".into() }),
                ..event("Referenda", "Submitted", json!({"index": 7, "track": 11, "proposal": {"Inline": "0x00"}}))
            },
            "Referendum 7 was submitted on the Treasurer track on paseo at block #1234.",
        ),
        (
            "account_security",
            event("Proxy", "ProxyAdded", json!({"delegator": BOB, "delegatee": ALICE, "proxy_type": "Any", "delay": 0})),
            "A proxy was added to 5FHn…94ty: 5Grw…utQY may now act for it (Any) on paseo at block #1234.",
        ),
        (
            "assets",
            Envelope {
                asset: usdt_meta(),
                ..event("Assets", "Transferred", json!({"asset_id": 1984, "from": ALICE, "to": BOB, "amount": "250000000"}))
            },
            "5FHn…94ty received 250 USDT from 5Grw…utQY on paseo at block #1234.",
        ),
        (
            "assets",
            event("Assets", "Transferred", json!({"asset_id": 77, "from": ALICE, "to": BOB, "amount": "250000000"})),
            "5FHn…94ty received 250000000 of asset 77 from 5Grw…utQY on paseo at block #1234.",
        ),
    ];
    for (id, e, want) in cases {
        let given = match id {
            "assets" => json!({"address": BOB, "asset": 1984}),
            "referendum_outcome" | "referendum_new" => json!({}),
            _ => json!({"address": BOB}),
        };
        let t = trigger_of(id, given, &src);
        assert!(
            t.message.is_none(),
            "the record keeps only its owner's message"
        );
        let composed = compose(
            t.message_spec().as_deref(),
            &t,
            &e,
            Some(&token),
            Some("https://x.test/{chain}/block/{block}"),
        );
        assert!(composed.fallback.is_none(), "{id}: {:?}", composed.fallback);
        assert!(
            composed.notification.body.starts_with(want),
            "{id}: {:?}",
            composed.notification.body
        );
    }
}

#[test]
fn lookups_add_the_topics_of_recipes_watching_several_events() {
    let chain = crate::names::ChainName::parse("paseo").expect("chain");
    let topics = |e: &str| lookup_topics(&chain, &EventName::parse(e).expect("event"));
    assert_eq!(topics("Balances.Transfer").len(), 1, "funds is one event");
    let slashed = topics("Staking.Slashed");
    assert_eq!(
        slashed,
        vec![
            (
                EventName::parse("Staking.Slashed")
                    .expect("e")
                    .topic(&chain),
                true
            ),
            (recipe_topic(&chain, "staking_alert"), false),
        ]
    );
    let confirmed = topics("Referenda.Confirmed");
    assert_eq!(
        confirmed[1],
        (recipe_topic(&chain, "referendum_outcome"), true)
    );
}

fn registry_source(reg: &Registry<'_, impl KeyValue>) -> Source {
    let req = serde_json::from_value(json!({"chain": "paseo", "rpc": ["ws://127.0.0.1:9944"],
        "events": EVERY_EVENT, "token": {"symbol": "PAS", "decimals": 10}}))
    .expect("shape");
    reg.create_source(req, "t0").expect("source")
}

#[test]
fn recipe_triggers_are_found_by_each_event_counted_per_event_and_read_back() {
    let kv = Counting::new(MemoryStore::default());
    let reg = Registry::new(&kv, &TEST_KEYRING);
    let src = registry_source(&reg);
    let body = json!({"source": src.id, "recipe": "staking_alert", "inputs": {"address": BOB},
        "action": {"webhook": {"url": "https://h.example.com"}}});
    let created = reg
        .create_trigger(serde_json::from_value(body).expect("shape"), "t1")
        .expect("created");
    let t = &created.trigger;
    let view = t.view();
    assert_eq!(
        view["recipe"],
        json!({"id": "staking_alert", "inputs": {"address": BOB}})
    );
    assert_eq!(view["events"].as_array().map(Vec::len), Some(3));

    for name in ["Staking.Slashed", "Staking.Chilled", "Staking.Kicked"] {
        kv.reset();
        let found = reg
            .lookup_event(
                &src.chain,
                &EventName::parse(name).expect("e"),
                &[BOB_HEX.into()],
            )
            .expect("lookup");
        assert_eq!(found.len(), 1, "{name}");
        assert_eq!(
            kv.counts(),
            (2, 0),
            "{name}: one get-many of lists, one of records"
        );
    }
    let nobody = reg
        .lookup_event(
            &src.chain,
            &EventName::parse("Staking.Slashed").expect("e"),
            &["0x00".into()],
        )
        .expect("lookup");
    assert!(nobody.is_empty());

    // A source cannot stop publishing an event the recipe watches.
    let patch: crate::source::SourcePatch =
        serde_json::from_value(json!({"events": ["Balances.Transfer"]})).expect("shape");
    let refused = reg
        .patch_source(&src.id, &patch, "t2")
        .expect_err("watched");
    assert!(
        refused.message.contains("Staking.Chilled"),
        "{}",
        refused.message
    );

    // The filter is the recipe's; a patch of it is refused, naming the field.
    let patch: TriggerPatch =
        serde_json::from_value(json!({"filter": {"balance": {"account": BOB}}})).expect("shape");
    let err = reg
        .patch_trigger(&t.id, created.token.as_str(), patch, "t3")
        .expect_err("recipe filter");
    assert_eq!(err.field.as_deref(), Some("filter"));

    reg.delete_trigger(&t.id, created.token.as_str())
        .expect("deleted");
    let patch: crate::source::SourcePatch =
        serde_json::from_value(json!({"events": ["Balances.Transfer"]})).expect("shape");
    reg.patch_source(&src.id, &patch, "t4")
        .expect("nothing watches the staking events now");
}

#[test]
fn assets_are_picked_by_symbol_once_the_chains_assets_are_stored() {
    let kv = MemoryStore::default();
    let reg = Registry::new(&kv, &TEST_KEYRING);
    let src = registry_source(&reg);
    let body = |asset: Value| {
        serde_json::from_value::<crate::trigger::NewTrigger>(json!({"source": src.id,
            "recipe": "assets", "inputs": {"address": BOB, "asset": asset},
            "action": {"webhook": {"url": "https://h.example.com"}}}))
        .expect("shape")
    };
    // Not known yet: ids are taken as given, symbols cannot be read.
    assert!(reg.create_trigger(body(json!(77)), "t1").is_ok());
    let err = reg
        .create_trigger(body(json!("USDt")), "t1")
        .expect_err("unknown assets");
    assert_eq!(err.field.as_deref(), Some("inputs.asset"));
    let patch: crate::source::SourcePatch = serde_json::from_value(json!({"assets": [
        {"id": 1984, "symbol": "USDt", "decimals": 6}, {"id": 1337, "symbol": "USDC", "decimals": 6}]}))
    .expect("shape");
    reg.patch_source(&src.id, &patch, "t2")
        .expect("assets stored");
    let made = reg
        .create_trigger(body(json!("usdt")), "t3")
        .expect("by symbol");
    assert_eq!(
        made.trigger.view()["recipe"]["inputs"]["asset"],
        "usdt",
        "read back as given"
    );
    let Some(Filter::Recipe(rule)) = &made.trigger.filter else {
        panic!("a recipe rule: {:?}", made.trigger.filter)
    };
    assert_eq!(rule.and[0].value, json!(1984));
    for (given, why) in [
        (json!("DOGE"), "no asset with the symbol"),
        (json!(77), "no asset 77"),
    ] {
        let err = reg
            .create_trigger(body(given), "t4")
            .expect_err("not on the chain");
        assert_eq!(err.field.as_deref(), Some("inputs.asset"));
        assert!(err.message.contains(why), "{}", err.message);
    }
}
