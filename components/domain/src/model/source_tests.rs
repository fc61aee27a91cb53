//! Unit tests of `source.rs`.

use super::*;
use serde_json::json;

fn new(body: Value) -> ApiResult<ValidatedSource> {
    let req: NewSource = serde_json::from_value(body).expect("shape");
    req.validate("src_1".into(), "2026-01-01T00:00:00Z")
}

#[test]
fn rpc_source_gets_its_topic_map() {
    let v = new(json!({"chain": "paseo", "rpc": ["ws://127.0.0.1:9944"],
                       "events": ["Balances.Transfer", "Staking.EraPaid"],
                       "token": {"symbol": "PAS", "decimals": 10}}))
    .expect("valid");
    let topics = v.source.topics();
    assert_eq!(
        topics["Balances.Transfer"].as_str(),
        "paseo.Balances.Transfer"
    );
    assert_eq!(topics["Staking.EraPaid"].as_str(), "paseo.Staking.EraPaid");
    assert_eq!(v.source.ss58_prefix, 42);
    assert!(v.source.public_view().get("rpc").is_none());
    assert_eq!(v.source.admin_view()["rpc"][0], "ws://127.0.0.1:9944");
}

#[test]
fn chain_spec_properties_fill_token_and_prefix() {
    let spec = json!({"name": "Paseo", "id": "paseo", "genesis": {"raw": {}},
                      "properties": {"ss58Format": 0, "tokenDecimals": 10, "tokenSymbol": "PAS"}});
    let v = new(json!({"chain": "paseo", "chain_spec": spec, "events": ["Balances.Transfer"]}))
        .expect("valid");
    assert_eq!(v.source.ss58_prefix, 0);
    assert_eq!(
        v.source.token,
        Some(TokenInfo {
            symbol: "PAS".into(),
            decimals: 10
        })
    );
    assert!(v.source.light_client);
}

#[test]
fn known_chains_register_by_name_with_their_specs_properties() {
    let v = new(json!({"known_chain": "polkadot_asset_hub", "events": ["Balances.Transfer"]}))
        .expect("valid");
    assert_eq!(v.source.chain.as_str(), "polkadot-asset-hub");
    assert_eq!(v.source.known_chain.as_deref(), Some("polkadot_asset_hub"));
    assert!(v.source.light_client && v.source.has_relay_chain_spec);
    assert_eq!(v.source.ss58_prefix, 0);
    assert_eq!(
        v.source.token,
        Some(TokenInfo {
            symbol: "DOT".into(),
            decimals: 10
        })
    );
    // Served from the compiled-in copy, never stored: the record only names the chain.
    assert!(v.chain_spec.is_none() && v.relay_chain_spec.is_none());
    assert_eq!(
        known_chain_spec("polkadot_asset_hub", true).expect("relay")["id"],
        "polkadot"
    );

    let v = new(
        json!({"chain": "dot", "known_chain": "polkadot", "chain_spec": null,
                       "rpc": [], "token": {"symbol": "XDOT", "decimals": 12},
                       "events": ["Balances.Transfer"]}),
    )
    .expect("valid");
    assert_eq!(v.source.chain.as_str(), "dot");
    assert!(!v.source.has_relay_chain_spec);
    assert_eq!(v.source.token.map(|t| t.symbol).as_deref(), Some("XDOT"));
    assert!(known_chain_spec("polkadot", true).is_err());
    // Westend Asset Hub's spec gives no ss58Format: the generic 42 it has on chain.
    let v = new(json!({"known_chain": "westend_asset_hub", "events": ["Balances.Transfer"]}))
        .expect("valid");
    assert_eq!(v.source.ss58_prefix, 42);
}

#[test]
fn known_chains_refuse_other_ways_to_reach_the_chain() {
    let spec = json!({"name": "X", "id": "x", "genesis": {}});
    let cases = [
        (
            json!({"known_chain": "polkadot", "rpc": ["wss://a"]}),
            "rpc",
        ),
        (
            json!({"known_chain": "polkadot", "chain_spec": spec}),
            "chain_spec",
        ),
        (
            json!({"known_chain": "polkadot_asset_hub", "relay_chain_spec": spec}),
            "relay_chain_spec",
        ),
        (json!({"known_chain": "Polkadot"}), "known_chain"),
        (
            json!({"known_chain": "polkadot", "chain": "Polkadot"}),
            "chain",
        ),
        (json!({"rpc": ["wss://a"]}), "chain"),
    ];
    for (mut body, field) in cases {
        body["events"] = json!(["Balances.Transfer"]);
        let err = new(body.clone()).expect_err("refused");
        assert_eq!(err.field.as_deref(), Some(field), "{body}");
    }
    let err = new(json!({"known_chain": "dot", "events": ["A.B"]})).expect_err("unknown");
    assert!(err.message.contains("polkadot, kusama"), "{}", err.message);
}

#[test]
fn every_bad_field_is_named() {
    let cases = [
        (
            json!({"chain": "Paseo", "rpc": ["ws://a"], "events": ["A.B"]}),
            "chain",
        ),
        (
            json!({"chain": "p", "rpc": ["http://a"], "events": ["A.B"]}),
            "rpc[0]",
        ),
        (json!({"chain": "p", "events": ["A.B"]}), "rpc"),
        (
            json!({"chain": "p", "rpc": ["ws://a"], "events": ["A.B", "nope"]}),
            "events[1]",
        ),
        (
            json!({"chain": "p", "rpc": ["ws://a"], "events": []}),
            "events",
        ),
        (
            json!({"chain": "p", "rpc": ["ws://a"], "events": ["A.B"], "token": {"symbol": "", "decimals": 1}}),
            "token.symbol",
        ),
        (
            json!({"chain": "p", "chain_spec": {"name": "x", "id": "x"}, "events": ["A.B"]}),
            "chain_spec.genesis",
        ),
        (
            json!({"chain": "p", "chain_spec": {"name": "x", "id": "x", "genesis": {}, "relay_chain": "polkadot"}, "events": ["A.B"]}),
            "relay_chain_spec",
        ),
    ];
    for (body, field) in cases {
        let err = new(body.clone()).expect_err(&body.to_string());
        assert_eq!(err.field.as_deref(), Some(field), "{body}: {err}");
    }
}

#[test]
fn patches_add_and_remove_events() {
    let v = new(json!({"chain": "p", "rpc": ["ws://a"], "events": ["A.B", "C.D"]})).expect("valid");
    let patch = SourcePatch {
        add_events: vec!["E.F".into()],
        remove_events: vec!["A.B".into()],
        ..Default::default()
    };
    let next = patch.apply(&v.source, "later").expect("patch");
    let names: Vec<String> = next.events.iter().map(|e| e.to_string()).collect();
    assert_eq!(names, ["C.D", "E.F"]);
    let bad = SourcePatch {
        remove_events: vec!["X.Y".into()],
        ..Default::default()
    };
    assert_eq!(
        bad.apply(&v.source, "t")
            .expect_err("absent")
            .field
            .as_deref(),
        Some("remove_events[0]")
    );
}
