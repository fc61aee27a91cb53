//! The relay → dispatch wire: batches, records, envelopes, their signatures, what an event
//! notifies, and what an answer means.

use aurras_domain::answer::Answer;
use aurras_domain::delivery::{classify_push, classify_webhook, Outcome};
use aurras_domain::dispatch::{encode_bytes, fires, webhook_body, DispatchRequest, Record};
use aurras_domain::envelope::{event_id, BlockRef, Envelope, ENVELOPE_VERSION};
use aurras_domain::names::ChainName;
use aurras_domain::notification::Notification;
use aurras_domain::signature::{SignatureError, SigningKey, TOLERANCE_SECS};
use aurras_domain::webpush::MAX_PLAINTEXT;
use aurras_domain::{parse_json, ErrorCode};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use proptest::prelude::*;
use serde_json::{json, Map, Value};

use crate::support::{account, config, json, object, one_of, or_junk, source, text, trigger, word};

fn envelope() -> impl Strategy<Value = Envelope> {
    let fields = prop::collection::vec(
        (
            prop_oneof![
                prop::sample::select(vec!["from", "to", "amount", "who"]).prop_map(str::to_owned),
                word()
            ],
            prop_oneof![
                account().prop_map(|a| json!(a.to_ss58(42).expect("prefix"))),
                any::<u128>().prop_map(|n| json!(n.to_string())),
                json(),
            ],
        ),
        0..8,
    )
    .prop_map(|kv| kv.into_iter().collect::<Map<String, Value>>());
    (
        (
            any::<[u8; 32]>(),
            any::<[u8; 32]>(),
            any::<u32>(),
            any::<u64>(),
        ),
        prop::option::of(any::<u32>()),
        prop::sample::select(vec![
            ("Balances", "Transfer"),
            ("Balances", "Deposit"),
            ("Staking", "EraPaid"),
            ("Custom", "Thing"),
            ("bad pallet", "x"),
        ]),
        fields,
        prop::collection::vec(account().prop_map(|a| a.to_hex()), 0..3),
    )
        .prop_map(
            |((genesis, block, index, number), extrinsic, (pallet, event), fields, accounts)| {
                Envelope {
                    id: event_id(&genesis, &block, index),
                    version: ENVELOPE_VERSION,
                    chain: ChainName::parse("paseo").expect("chain"),
                    genesis_hash: format!("0x{}", hex(&genesis)),
                    block: BlockRef {
                        number,
                        hash: format!("0x{}", hex(&block)),
                    },
                    event_index: index,
                    extrinsic_index: extrinsic,
                    phase: "apply_extrinsic".into(),
                    pallet: pallet.into(),
                    event: event.into(),
                    spec_version: 1,
                    fields,
                    accounts,
                    asset: None,
                    track: None,
                }
            },
        )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn record_json() -> BoxedStrategy<Value> {
    let value = prop_oneof![
        envelope().prop_map(|e| json!(encode_bytes(&serde_json::to_vec(&e).expect("json")))),
        json().prop_map(|v| json!(encode_bytes(&serde_json::to_vec(&v).expect("json")))),
        prop::collection::vec(any::<u8>(), 0..64).prop_map(|b| json!(encode_bytes(&b))),
        text().prop_map(Value::String),
    ];
    object(vec![
        (
            "topic",
            one_of(&["paseo.Balances.Transfer", "paseo.Staking.EraPaid", "x"]),
        ),
        ("partition", or_junk(any::<i32>().prop_map(Value::from))),
        ("offset", or_junk(any::<i64>().prop_map(Value::from))),
        (
            "key",
            or_junk(prop_oneof![
                Just(Value::Null),
                text().prop_map(|t| json!(encode_bytes(t.as_bytes())))
            ]),
        ),
        ("value", value.boxed()),
        ("timestamp", or_junk(any::<i64>().prop_map(Value::from))),
    ])
}

proptest! {
    #![proptest_config(config(512))]

    /// Any batch body: refused as JSON, or every record yields an envelope on its own topic or a
    /// reason; the webhook body for any record and any feed flags is built.
    #[test]
    fn dispatch_batches_read_without_panicking(
        body in prop_oneof![
            4 => prop::collection::vec(record_json(), 0..6).prop_map(|r| json!({"records": r})),
            1 => json(),
        ],
        flags in (any::<bool>(), any::<bool>(), any::<bool>()),
    ) {
        let bytes = serde_json::to_vec(&body).expect("json");
        let Ok(batch) = parse_json::<DispatchRequest>(&bytes) else { return Ok(()) };
        let source = source(42, Some(10));
        let mut trigger = trigger(&source, json!({"source": "src_1", "event": "Balances.Transfer",
            "filter": {"any": [{"field": "amount", "op": "gte", "value": "1"}]},
            "action": {"webhook": {"url": "https://hooks.example.com/x"}}})).expect("trigger");
        (trigger.feed.is_json_data, trigger.feed.is_binary_value, trigger.feed.is_binary_key) = flags;
        for record in &batch.records {
            match record.envelope() {
                Ok(envelope) => {
                    prop_assert_eq!(envelope.topic().map(|t| t.to_string()), Some(record.topic.clone()));
                    let _ = fires(&trigger, &envelope, Some(&source));
                    let note = Notification::for_event(&trigger, &envelope, source.token.as_ref(), Some("https://x/{chain}/{block}"));
                    prop_assert!(note.payload().len() <= MAX_PLAINTEXT);
                }
                Err(reason) => prop_assert!(!reason.is_empty()),
            }
            let value = record.value_bytes().unwrap_or_default();
            let _ = webhook_body(&trigger, record, &value);
        }
    }

    /// An envelope goes through a record and comes back equal; its event's notification fits a
    /// push message whatever its fields hold.
    #[test]
    fn envelopes_round_trip_through_records(envelope in envelope(), balance in any::<bool>()) {
        let Some(topic) = envelope.topic() else { return Ok(()) };
        let record = Record {
            topic: topic.to_string(),
            partition: 0,
            offset: 1,
            key: Some(encode_bytes(envelope.key().as_bytes())),
            value: encode_bytes(&serde_json::to_vec(&envelope).expect("json")),
            timestamp: None,
        };
        prop_assert_eq!(record.envelope(), Ok(envelope.clone()));
        let source = source(42, Some(10));
        let filter = if balance && envelope.pallet == "Balances" {
            json!({"balance": {"account": "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"}})
        } else {
            Value::Null
        };
        let event = format!("{}.{}", envelope.pallet, envelope.event);
        let trigger = trigger(&source, json!({"source": "src_1", "event": event, "filter": filter,
            "action": {"webhook": {"url": "https://hooks.example.com/x"}}})).expect("trigger");
        let note = Notification::for_event(&trigger, &envelope, source.token.as_ref(), None);
        prop_assert!(note.payload().len() <= MAX_PLAINTEXT);
        // Another topic is refused with a reason.
        let moved = Record { topic: "paseo.Other.Event".into(), ..record };
        prop_assert!(moved.envelope().is_err());
    }

    /// Signing and verifying agree for any key, id, time and body within the tolerance, also with
    /// other signatures around the right one (rotation), and not outside it.
    #[test]
    fn signatures_round_trip(
        key in prop::collection::vec(any::<u8>(), 1..80),
        id in "[ -~]{1,40}",
        sent in 1000u64..=u64::MAX / 2,
        skew in -1000i64..=1000,
        body in prop::collection::vec(any::<u8>(), 0..256),
        junk in prop::collection::vec("v1,[A-Za-z0-9+/=]{0,44}|v2,[a-z]{0,8}|[ -~]{0,10}", 0..4),
    ) {
        let key = SigningKey::from_secret(&format!("whsec_{}", STANDARD.encode(&key))).expect("secret");
        let signed = key.sign(&id, sent, &body);
        let mut signatures = junk.clone();
        signatures.insert(junk.len() / 2, signed.signature.clone());
        let header = signatures.join(" ");
        let now = sent.saturating_add_signed(skew);
        let result = key.verify(Some(signed.id.as_str()), Some(signed.timestamp.as_str()), Some(header.as_str()), &body, now);
        if skew.unsigned_abs() <= TOLERANCE_SECS {
            prop_assert_eq!(result, Ok(()));
            let mut tampered = body.clone();
            tampered.push(0);
            prop_assert_eq!(
                key.verify(Some(signed.id.as_str()), Some(signed.timestamp.as_str()), Some(header.as_str()), &tampered, now),
                Err(SignatureError::Mismatch)
            );
        } else {
            prop_assert_eq!(result, Err(SignatureError::Stale(skew.unsigned_abs())));
        }
    }

    /// Any secret and any headers: an answer, never a panic, and never `Ok` without the key.
    #[test]
    fn signature_verification_never_panics_on_any_header(
        secret in text(),
        id in prop::option::of(text()),
        timestamp in prop::option::of(prop_oneof![text(), (0u64..4_000_000_000).prop_map(|t| t.to_string())]),
        signature in prop::option::of(prop_oneof![text(), "(v1,[A-Za-z0-9+/=]{0,50} ?){0,5}"]),
        body in prop::collection::vec(any::<u8>(), 0..128),
        now in 0u64..4_000_000_000,
    ) {
        let Ok(key) = SigningKey::from_secret(&secret) else { return Ok(()) };
        let result = key.verify(id.as_deref(), timestamp.as_deref(), signature.as_deref(), &body, now);
        prop_assert!(result.is_err(), "verified without a signature made with the key");
    }

    /// Every status and every network error has a meaning: 2xx is delivered, nothing else is;
    /// a webhook is never failed for good (only retried, throttled or gone); 429 throttles.
    #[test]
    fn answers_are_classified(status in any::<u16>(), error in text()) {
        let answer = Answer::status_only(status);
        for outcome in [classify_push(&answer), classify_webhook(&answer)] {
            prop_assert_eq!(matches!(outcome, Outcome::Delivered), (200..300).contains(&status));
            prop_assert_eq!(matches!(outcome, Outcome::Throttled { .. }), status == 429);
        }
        prop_assert!(!matches!(classify_webhook(&answer), Outcome::Failed(_)));
        prop_assert_eq!(matches!(classify_webhook(&answer), Outcome::Gone(_)), status == 410);
        prop_assert_eq!(
            matches!(classify_push(&answer), Outcome::Gone(_)),
            status == 404 || status == 410
        );
        prop_assert_eq!(
            matches!(classify_push(&answer), Outcome::Failed(_)),
            (400..500).contains(&status) && ![404, 410, 429].contains(&status)
        );
        let none = Answer::none(error.clone());
        prop_assert_eq!(classify_push(&none), Outcome::Retry(error.clone()));
        prop_assert_eq!(classify_webhook(&none), Outcome::Retry(error));
    }
}

/// A JSON error's code for a body that is not a batch.
#[test]
fn batches_that_are_not_json_are_json_errors() {
    for body in [&b""[..], b"{", b"\xff\xfe", b"7", b"{\"records\": 7}"] {
        let err = parse_json::<DispatchRequest>(body).expect_err("not a batch");
        assert_eq!(err.code, ErrorCode::InvalidJson, "{body:?}");
    }
}

/// Regression: without serde_json's `float_roundtrip`, a float written by one stage was read one
/// ulp off by the next (an envelope's field forwarded to a webhook, a predicate's operand read
/// back from the store). Found by `envelopes_round_trip_through_records`.
#[test]
fn floats_read_back_exactly() {
    let value = json!({"x": 6.327643275906698e-97});
    let text = serde_json::to_string(&value).expect("json");
    let back: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(back, value, "{text}");
}
