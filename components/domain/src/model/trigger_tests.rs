//! Unit tests of `trigger.rs`.

use super::*;
use crate::source::NewSource;
use serde_json::json;

const BOB: &str = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";

fn source() -> Source {
    let req: NewSource = serde_json::from_value(json!({
        "chain": "paseo", "rpc": ["ws://x"], "events": ["Balances.Transfer", "Staking.EraPaid"],
        "token": {"symbol": "PAS", "decimals": 10}}))
    .expect("shape");
    req.validate("src_1".into(), "t0").expect("valid").source
}

fn create(body: Value) -> ApiResult<Trigger> {
    let req: NewTrigger = serde_json::from_value(body).expect("shape");
    let mut secret = || "whsec_x".to_string();
    req.validate(
        &source(),
        Minted {
            id: "trg_1".into(),
            token_hash: "h".into(),
            now: "t1",
            new_secret: &mut secret,
        },
    )
}

fn hook() -> Value {
    json!({"webhook": {"url": "https://hooks.example.com/x"}})
}

#[test]
fn creates_with_topic_status_and_feed_defaults() {
    let t = create(json!({"source": "src_1", "event": "Balances.Transfer",
                          "filter": {"balance": {"account": BOB, "direction": "in", "min": "1"}},
                          "action": hook(), "brokers": "a:9092, b:9093"}))
    .expect("valid");
    assert_eq!(t.topic.as_str(), "paseo.Balances.Transfer");
    assert!(t.status.active);
    assert_eq!(t.feed.brokers, ["a:9092", "b:9093"]);
    let view = t.view();
    assert!(view.get("token_hash").is_none());
    assert_eq!(view["status"]["dateChanged"], "t1");
    assert_eq!(view["isJSONData"], false);
    assert!(view["action"]["webhook"].get("secret").is_none());
}

#[test]
fn feed_parameters_are_constrained() {
    let base = |extra: Value| {
        let mut b = json!({"source": "src_1", "event": "Staking.EraPaid", "action": hook()});
        for (k, v) in extra.as_object().expect("obj") {
            b[k] = v.clone();
        }
        b
    };
    let err =
        create(base(json!({"isJSONData": true, "isBinaryValue": true}))).expect_err("exclusive");
    assert_eq!(err.field.as_deref(), Some("isBinaryValue"));
    assert!(create(base(json!({"isJSONData": true, "isBinaryKey": true}))).is_ok());
    let err = create(base(json!({"brokers": ["nohost"]}))).expect_err("broker");
    assert_eq!(err.field.as_deref(), Some("brokers[0]"));
    let err = create(base(json!({"brokers": 7}))).expect_err("broker type");
    assert_eq!(err.field.as_deref(), Some("brokers"));
    let err = create(base(json!({"event": "Balances.Deposit"}))).expect_err("unpublished");
    assert_eq!(err.field.as_deref(), Some("event"));
    // Booleans only: a string is a type error, caught by deserialisation.
    assert!(serde_json::from_value::<NewTrigger>(base(json!({"isJSONData": "true"}))).is_err());
}

#[test]
fn patch_pauses_and_replace_keeps_the_secret() {
    let t = create(json!({"source": "src_1", "event": "Staking.EraPaid", "action": hook()}))
        .expect("valid");
    let patch: TriggerPatch =
        serde_json::from_value(json!({"active": false, "reason": "holiday"})).expect("shape");
    let mut never = || -> String { unreachable!() };
    let paused = patch.apply(&t, &source(), "t2", &mut never).expect("patch");
    assert_eq!(
        paused.status,
        Status {
            active: false,
            date_changed: "t2".into(),
            reason: Some("holiday".into())
        }
    );

    let put: NewTrigger =
        serde_json::from_value(json!({"source": "src_1", "event": "Balances.Transfer",
        "action": {"webhook": {"url": "https://elsewhere.example.com"}}}))
        .expect("shape");
    let replaced = put
        .replace(&paused, &source(), "t3", &mut never)
        .expect("put");
    assert!(matches!(&replaced.action, Action::Webhook(h) if h.secret == "whsec_x"));
    assert_eq!(replaced.topic.as_str(), "paseo.Balances.Transfer");
    assert!(!replaced.status.active);

    let clear: TriggerPatch = serde_json::from_value(json!({"filter": null})).expect("shape");
    assert_eq!(clear.filter, Some(None));
}
