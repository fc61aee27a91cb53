//! Hostile sizes: 10,000-deep JSON, megabyte strings, huge numbers. Each answers with an error (or
//! a bounded result) without overflowing the stack or doing work that grows faster than the
//! input. The bugs these found are kept here as regression cases.

use aurras_domain::amount::{parse_units, AmountError};
use aurras_domain::dispatch::{DispatchRequest, Record};
use aurras_domain::filter::{FilterSpec, Op, Predicate};
use aurras_domain::names::EventName;
use aurras_domain::signature::{SignatureError, SigningKey};
use aurras_domain::source::NewSource;
use aurras_domain::ss58::{AccountId, Ss58Error};
use aurras_domain::trigger::NewTrigger;
use aurras_domain::{parse_json, ErrorCode};
use serde_json::{json, Map, Value};

use crate::support::{source, trigger};

const DEEP: usize = 10_000;
const MEGABYTE: usize = 1 << 20;

fn deep_array() -> String {
    format!("{}{}", "[".repeat(DEEP), "]".repeat(DEEP))
}

/// serde_json stops at 128 levels: a 10,000-deep document is a JSON error wherever it sits,
/// including inside fields typed as any JSON (`chain_spec`, `brokers`, a predicate's `value`,
/// an envelope's `fields`).
#[test]
fn ten_thousand_deep_json_is_refused_not_overflowed() {
    let deep = deep_array();
    let err = parse_json::<NewTrigger>(deep.as_bytes()).expect_err("not a trigger");
    assert_eq!(err.code, ErrorCode::InvalidJson, "{}", err.message);
    let bodies = [
        format!(r#"{{"source": "src_1", "event": "Balances.Transfer", "brokers": {deep}}}"#),
        format!(r#"{{"filter": {{"all": [{{"field": "a", "op": "eq", "value": {deep}}}]}}}}"#),
    ];
    for body in &bodies {
        let err = parse_json::<NewTrigger>(body.as_bytes()).expect_err("too deep");
        assert_eq!(err.code, ErrorCode::InvalidJson, "{}", err.message);
        assert!(err.message.contains("recursion limit"), "{}", err.message);
    }
    let source = format!(r#"{{"chain": "p", "events": ["A.B"], "chain_spec": {deep}}}"#);
    let err = parse_json::<NewSource>(source.as_bytes()).expect_err("too deep");
    assert!(err.message.contains("recursion limit"), "{}", err.message);
    assert!(parse_json::<DispatchRequest>(deep.as_bytes()).is_err());
    // An envelope whose fields are too deep is a rejected record, not a crash.
    let envelope = format!(
        r#"{{"id": "0x01", "version": 1, "chain": "paseo", "genesis_hash": "0x", "block": {{"number": 1, "hash": "0x"}},
            "event_index": 0, "extrinsic_index": null, "phase": "x", "pallet": "Balances", "event": "Transfer",
            "spec_version": 1, "fields": {{"x": {deep}}}}}"#
    );
    let record = Record {
        topic: "paseo.Balances.Transfer".into(),
        partition: 0,
        offset: 0,
        key: None,
        value: aurras_domain::dispatch::encode_bytes(envelope.as_bytes()),
        timestamp: None,
    };
    let reason = record.envelope().expect_err("too deep");
    assert!(reason.contains("recursion limit"), "{reason}");
}

/// Regression: `AccountId::from_ss58` ran base58 decoding over the whole input into a growing
/// buffer, which is quadratic: a 64 KB `filter.balance.account` (the trigger body limit) took
/// seconds, and a long base58 predicate value cost that much again on every event the trigger
/// was evaluated for. Decoding now stops once the value outgrows any address.
#[test]
fn megabyte_base58_addresses_are_refused_at_once() {
    for s in [
        "z".repeat(MEGABYTE),
        "1".repeat(MEGABYTE),
        format!("{}0", "z".repeat(MEGABYTE)),
    ] {
        assert_eq!(AccountId::from_ss58(&s), Err(Ss58Error::BadLength));
    }
    assert_eq!(AccountId::from_ss58("0"), Err(Ss58Error::NotBase58));
    let source = source(42, Some(10));
    let transfer = EventName::parse("Balances.Transfer").expect("event");
    let spec: FilterSpec =
        serde_json::from_value(json!({"balance": {"account": "z".repeat(MEGABYTE)}}))
            .expect("shape");
    let err = spec
        .validate(&source, &transfer)
        .expect_err("not an address");
    assert_eq!(err.field.as_deref(), Some("filter.balance.account"));
    // Evaluation compares a megabyte-long operand with a megabyte-long field value.
    let p = Predicate {
        field: "who".into(),
        op: Op::Eq,
        value: json!("z".repeat(MEGABYTE)),
    };
    let fields: Map<String, Value> = [("who".to_owned(), json!("z".repeat(MEGABYTE)))]
        .into_iter()
        .collect();
    assert!(p.holds(&fields));
}

/// Regression: `SigningKey::verify` computed the HMAC over the whole body once per `v1,`
/// candidate in the header, so an unauthenticated request with a 16 MB body and a header of
/// thousands of candidates cost gigabytes of hashing before its 401. The body is now hashed once.
#[test]
fn many_signature_candidates_hash_the_body_once() {
    let key = SigningKey::from_secret("whsec_c2VjcmV0").expect("secret");
    let body = vec![b'x'; 4 * MEGABYTE];
    let header = "v1,AAAA ".repeat(50_000);
    assert_eq!(
        key.verify(Some("msg_1"), Some("1000"), Some(&header), &body, 1000),
        Err(SignatureError::Mismatch)
    );
    let signed = key.sign("msg_1", 1000, &body);
    let rotated = format!("{header}{}", signed.signature);
    assert_eq!(
        key.verify(Some("msg_1"), Some("1000"), Some(&rotated), &body, 1000),
        Ok(())
    );
    // A megabyte of anything in the other headers, or as the secret, is just refused.
    let junk = "9".repeat(MEGABYTE);
    assert_eq!(
        key.verify(Some(&junk), Some(&junk), Some(&junk), b"", 0),
        Err(SignatureError::BadHeader("webhook-timestamp"))
    );
    assert!(SigningKey::from_secret(&format!("whsec_{junk}=")).is_err());
}

/// Megabyte numbers: too large as an amount, compared digit-wise as a predicate operand, and
/// a megabyte JSON number literal is a JSON error or a float, never an allocation spiral.
#[test]
fn megabyte_numbers_are_too_large_or_compared_by_length() {
    let nines = "9".repeat(MEGABYTE);
    assert!(matches!(
        parse_units(&nines, 10),
        Err(AmountError::TooLarge(_))
    ));
    let zeros = format!("{}1", "0".repeat(MEGABYTE));
    assert_eq!(parse_units(&zeros, 0), Ok(1));
    let precise = format!("1.{}1", "0".repeat(MEGABYTE));
    assert!(matches!(
        parse_units(&precise, 38),
        Err(AmountError::TooPrecise { .. })
    ));
    let p = Predicate {
        field: "amount".into(),
        op: Op::Gt,
        value: json!(nines),
    };
    let fields =
        |v: Value| -> Map<String, Value> { [("amount".to_owned(), v)].into_iter().collect() };
    assert!(!p.holds(&fields(json!("340282366920938463463374607431768211455"))));
    assert!(p.holds(&fields(json!(format!("1{nines}")))));
    let body = format!(
        r#"{{"chain": "p", "rpc": ["ws://a"], "events": ["A.B"], "ss58_prefix": {nines}}}"#
    );
    let err = parse_json::<NewSource>(body.as_bytes()).expect_err("out of range");
    assert_eq!(err.field.as_deref(), Some("ss58_prefix"));
}

/// Megabyte strings everywhere a trigger body has a string: each refused naming its field.
#[test]
fn megabyte_strings_in_a_trigger_are_refused_by_field() {
    let source = source(42, Some(10));
    let big = "a".repeat(MEGABYTE);
    let hook = json!({"webhook": {"url": "https://hooks.example.com/x"}});
    let cases = [
        (
            json!({"source": "src_1", "event": big, "action": hook}),
            "event",
        ),
        (
            json!({"source": "src_1", "event": "Balances.Transfer", "action": hook, "name": big}),
            "name",
        ),
        (
            json!({"source": "src_1", "event": "Balances.Transfer", "action": hook,
                "brokers": ",".repeat(MEGABYTE)}),
            "brokers",
        ),
        (
            json!({"source": "src_1", "event": "Balances.Transfer",
                "action": {"webhook": {"url": format!("http://{big}")}}}),
            "action.webhook.url",
        ),
        (
            json!({"source": "src_1", "event": "Balances.Transfer", "action": hook,
                "filter": {"all": [{"field": big, "op": "eq", "value": 1}]}}),
            "filter.all[0].field",
        ),
        (
            json!({"source": "src_1", "event": "Balances.Transfer", "action": hook,
                "filter": {"balance": {"account": "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY",
                                       "min": nines_then_dot()}}}),
            "filter.balance.min",
        ),
    ];
    for (body, field) in cases {
        match trigger(&source, body) {
            Ok(_) => panic!("a megabyte {field} was accepted"),
            Err(err) => assert_eq!(err.field.as_deref(), Some(field)),
        }
    }
}

fn nines_then_dot() -> String {
    format!("{}.", "9".repeat(MEGABYTE))
}

/// Regression: `expirationTime` took any JSON (the OpenAPI document says number or null), so a
/// subscription could carry an arbitrary document that was stored and shown back.
#[test]
fn push_expiration_time_is_a_number_or_null() {
    let source = source(42, Some(10));
    let push = |expiration: Value| {
        json!({"source": "src_1", "event": "Balances.Transfer", "action": {"web_push": {
            "endpoint": "https://push.example.net/x", "expirationTime": expiration,
            "keys": {"p256dh": "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
                     "auth": "BTBZMqHH6r4Tts7J_aSIgg"}}}})
    };
    for ok in [Value::Null, json!(1_700_000_000_000u64), json!(1.5)] {
        assert!(trigger(&source, push(ok.clone())).is_ok(), "{ok}");
    }
    for bad in [
        json!("soon"),
        json!([1]),
        json!({"a": {"b": [1, 2, 3]}}),
        json!(true),
    ] {
        let err = trigger(&source, push(bad.clone())).expect_err("refused");
        assert_eq!(
            err.field.as_deref(),
            Some("action.web_push.expirationTime"),
            "{bad}"
        );
    }
}
