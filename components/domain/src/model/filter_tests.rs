//! Unit tests of `filter.rs`.

use super::*;
use crate::source::{NewSource, TokenInfo};
use serde_json::json;

const ALICE: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
const BOB: &str = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";
const ALICE_POLKADOT: &str = "15oF4uVJwmo4TdGW7VfQxNLavjCXviqxT9S1MgbjMNHr6Sp5";

fn source() -> Source {
    let req: NewSource = serde_json::from_value(json!({
        "chain": "paseo", "rpc": ["ws://x"], "events": ["Balances.Transfer"],
        "token": {"symbol": "PAS", "decimals": 10}}))
    .expect("shape");
    req.validate("src".into(), "now").expect("valid").source
}

fn transfer() -> EventName {
    EventName::parse("Balances.Transfer").expect("event")
}

fn spec(v: Value) -> FilterSpec {
    serde_json::from_value(v).expect("filter shape")
}

fn fields(v: Value) -> Map<String, Value> {
    v.as_object().expect("object").clone()
}

#[test]
fn balance_filter_matches_direction_and_minimum() {
    let f = spec(json!({"balance": {"account": BOB, "direction": "in", "min": "1.5"}}))
        .validate(&source(), &transfer())
        .expect("valid");
    let ev = |from: &str, to: &str, amount: &str| {
        fields(json!({"from": from, "to": to, "amount": amount}))
    };
    assert!(f.matches(&transfer(), &ev(ALICE, BOB, "15000000000")));
    assert!(!f.matches(&transfer(), &ev(ALICE, BOB, "14999999999")));
    assert!(!f.matches(&transfer(), &ev(BOB, ALICE, "99000000000")));
    // An address with another prefix is the same account.
    let f_any = spec(json!({"balance": {"account": ALICE}}))
        .validate(&source(), &transfer())
        .expect("valid");
    assert!(f_any.matches(&transfer(), &ev(BOB, ALICE_POLKADOT, "1")));
    assert!(f_any.matches(&transfer(), &ev(ALICE, BOB, "1")));
}

#[test]
fn balance_filter_rejections_name_the_field() {
    let cases = [
        (
            json!({"balance": {"account": ALICE_POLKADOT}}),
            "filter.balance.account",
        ),
        (
            json!({"balance": {"account": ALICE, "min": "0.00000000001"}}),
            "filter.balance.min",
        ),
        (
            json!({"balance": {"account": ALICE, "min": "abc"}}),
            "filter.balance.min",
        ),
    ];
    for (v, field) in cases {
        let err = spec(v.clone())
            .validate(&source(), &transfer())
            .expect_err(&v.to_string());
        assert_eq!(err.field.as_deref(), Some(field), "{err}");
    }
    let era = EventName::parse("Staking.EraPaid").expect("event");
    let err = spec(json!({"balance": {"account": ALICE}}))
        .validate(&source(), &era)
        .expect_err("era");
    assert_eq!(err.field.as_deref(), Some("filter.balance"));
    let mut no_token = source();
    no_token.token = None;
    let err = spec(json!({"balance": {"account": ALICE, "min": "1"}}))
        .validate(&no_token, &transfer())
        .expect_err("token");
    assert_eq!(err.field.as_deref(), Some("filter.balance.min"));
    let _ = TokenInfo {
        symbol: "X".into(),
        decimals: 0,
    };
}

#[test]
fn predicates_compare_big_integers_accounts_and_lists() {
    let f = spec(json!({"all": [
        {"field": "amount", "op": "gte", "value": "340282366920938463463374607431768211455"},
        {"field": "from", "op": "eq", "value": ALICE_POLKADOT},
        {"field": "to", "op": "in", "value": [BOB, "someone"]}]}))
    .validate(&source(), &transfer())
    .expect("valid");
    let ev = fields(
        json!({"from": ALICE, "to": BOB, "amount": "340282366920938463463374607431768211455"}),
    );
    assert!(f.matches(&transfer(), &ev));
    let small = fields(
        json!({"from": ALICE, "to": BOB, "amount": "34028236692093846346337460743176821145"}),
    );
    assert!(!f.matches(&transfer(), &small));
    let any = spec(json!({"any": [{"field": "amount", "op": "lt", "value": 5}, {"field": "to", "op": "ne", "value": BOB}]}))
        .validate(&source(), &transfer())
        .expect("valid");
    assert!(any.matches(
        &transfer(),
        &fields(json!({"from": ALICE, "to": BOB, "amount": "4"}))
    ));
    assert!(!any.matches(
        &transfer(),
        &fields(json!({"from": ALICE, "to": BOB, "amount": "5"}))
    ));
}

#[test]
fn nested_paths_and_missing_fields() {
    let p = Predicate {
        field: "info.weight.ref_time".into(),
        op: Op::Gt,
        value: json!(10),
    };
    assert!(p.holds(&fields(json!({"info": {"weight": {"ref_time": "11"}}}))));
    assert!(!p.holds(&fields(json!({"info": {}}))));
    let neg = Predicate {
        field: "x".into(),
        op: Op::Lt,
        value: json!("-1"),
    };
    assert!(neg.holds(&fields(json!({"x": -2}))));
    assert!(!neg.holds(&fields(json!({"x": "0"}))));
}

#[test]
fn predicate_rejections_name_the_field() {
    let cases = [
        (json!({"all": []}), "filter.all"),
        (
            json!({"all": [{"field": "nope", "op": "eq", "value": 1}]}),
            "filter.all[0].field",
        ),
        (
            json!({"any": [{"field": "amount", "op": "gt", "value": "1.5"}]}),
            "filter.any[0].value",
        ),
        (
            json!({"any": [{"field": "amount", "op": "in", "value": 3}]}),
            "filter.any[0].value",
        ),
        (
            json!({"any": [{"field": "a..b", "op": "eq", "value": 3}]}),
            "filter.any[0].field",
        ),
    ];
    for (v, field) in cases {
        let err = spec(v.clone())
            .validate(&source(), &transfer())
            .expect_err(&v.to_string());
        assert_eq!(err.field.as_deref(), Some(field), "{err}");
    }
    // Unknown events accept any field name.
    let custom = EventName::parse("Custom.Thing").expect("event");
    assert!(
        spec(json!({"all": [{"field": "whatever", "op": "eq", "value": 1}]}))
            .validate(&source(), &custom)
            .is_ok()
    );
}
