//! Names and topics; sources, triggers and actions through `parse_json` and their validation.

use aurras_domain::action::{Action, ActionSpec};
use aurras_domain::names::{ChainName, EventName, Topic};
use aurras_domain::source::{NewSource, SourcePatch};
use aurras_domain::ss58::AccountId;
use aurras_domain::trigger::{Trigger, TriggerPatch};
use aurras_domain::{parse_json, ApiResult, ErrorCode};
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use proptest::prelude::*;
use serde_json::{json, Value};

use crate::support::{
    config, json, names_a_field, number, object, one_of, or_junk, source, text, trigger, EVENTS,
};

/// Body errors are JSON errors; validation errors name one of the request's fields.
fn check<T>(
    parsed: ApiResult<T>,
    validate: impl FnOnce(T) -> ApiResult<()>,
    roots: &[&str],
) -> Result<(), TestCaseError> {
    match parsed {
        Err(e) => prop_assert!(
            matches!(
                e.code,
                ErrorCode::InvalidJson | ErrorCode::UnknownField | ErrorCode::MissingField
            ),
            "{:?}",
            e
        ),
        Ok(value) => {
            if let Err(e) = validate(value) {
                prop_assert_eq!(e.code, ErrorCode::InvalidField, "{:?}", e);
                names_a_field(&e, roots)?;
            }
        }
    }
    Ok(())
}

/// A list of a few items, sometimes around `limit` items.
fn strings(item: BoxedStrategy<Value>, limit: usize) -> BoxedStrategy<Value> {
    or_junk(
        prop_oneof![
            6 => prop::collection::vec(item.clone(), 1..4),
            1 => prop::collection::vec(item.clone(), 0..1),
            1 => prop::collection::vec(item, limit - 1..=limit + 1),
        ]
        .prop_map(Value::Array),
    )
}

fn event_names() -> BoxedStrategy<Value> {
    prop_oneof![
        6 => one_of(EVENTS),
        1 => "[A-Za-z][A-Za-z0-9_]{0,70}\\.[A-Za-z][A-Za-z0-9_]{0,70}".prop_map(Value::String),
    ]
    .boxed()
}

fn rpc_urls() -> BoxedStrategy<Value> {
    let url = prop_oneof![
        4 => "wss?://[a-z0-9.-]{1,20}(:[0-9]{1,5})?(/[a-z]{0,5})?".prop_map(Value::String),
        1 => "(ws|wss|http|https|file)://[a-z0-9.:-]{0,20}(/[a-z]{0,5})?".prop_map(Value::String),
        1 => text().prop_map(Value::String),
    ];
    strings(url.boxed(), 16)
}

fn token() -> BoxedStrategy<Value> {
    or_junk(object(vec![
        (
            "symbol",
            or_junk("[A-Za-z0-9]{0,14}".prop_map(Value::String)),
        ),
        (
            "decimals",
            or_junk(prop_oneof![0u64..=40, 0u64..300].prop_map(Value::from)),
        ),
    ]))
}

fn chain_spec() -> BoxedStrategy<Value> {
    let properties = object(vec![
        (
            "tokenSymbol",
            or_junk(prop_oneof![Just(json!("PAS")), Just(json!(["DOT", "X"]))]),
        ),
        (
            "tokenDecimals",
            or_junk(prop_oneof![0u64..=40, 0u64..300].prop_map(Value::from)),
        ),
        ("ss58Format", or_junk((0u64..70_000).prop_map(Value::from))),
    ]);
    or_junk(object(vec![
        ("name", Just(json!("Paseo")).boxed()),
        ("id", Just(json!("paseo")).boxed()),
        ("genesis", Just(json!({"raw": {}})).boxed()),
        ("properties", properties),
        ("relay_chain", Just(json!("polkadot")).boxed()),
    ]))
}

/// An RPC source, a light-client source, or both at once.
fn new_source() -> BoxedStrategy<Value> {
    let chain = || {
        or_junk(prop_oneof![
            4 => "[a-z0-9][a-z0-9-]{0,20}".prop_map(Value::String),
            1 => "[a-z0-9-]{0,70}".prop_map(Value::String),
        ])
    };
    let prefix = || or_junk((0u64..20_000).prop_map(Value::from));
    prop_oneof![
        3 => object(vec![
            ("chain", chain()),
            ("rpc", rpc_urls()),
            ("events", strings(event_names(), 256)),
            ("token", token()),
            ("ss58_prefix", prefix()),
        ]),
        3 => object(vec![
            ("chain", chain()),
            ("chain_spec", chain_spec()),
            ("relay_chain_spec", chain_spec()),
            ("events", strings(event_names(), 256)),
            ("token", token()),
            ("ss58_prefix", prefix()),
        ]),
        1 => object(vec![
            ("chain", chain()),
            ("rpc", rpc_urls()),
            ("chain_spec", chain_spec()),
            ("events", strings(event_names(), 256)),
        ]),
    ]
    .boxed()
}

fn push_key(len: usize) -> BoxedStrategy<Value> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), len..=len).prop_map(move |mut b| {
            if len == 65 {
                b[0] = 4;
            }
            json!(URL_SAFE_NO_PAD.encode(b))
        }),
        prop::collection::vec(any::<u8>(), 0..80).prop_map(|b| json!(URL_SAFE.encode(b))),
        text().prop_map(Value::String),
    ]
    .boxed()
}

fn action() -> BoxedStrategy<Value> {
    let https = || {
        prop_oneof![
            "https://[a-z0-9.-]{1,20}(:[0-9]{1,5})?/[a-z]{0,8}".prop_map(Value::String),
            text().prop_map(Value::String),
        ]
        .boxed()
    };
    let push = object(vec![
        ("endpoint", https()),
        (
            "keys",
            object(vec![("p256dh", push_key(65)), ("auth", push_key(16))]),
        ),
        (
            "expirationTime",
            prop_oneof![3 => Just(Value::Null), 3 => number(), 1 => json()].boxed(),
        ),
    ]);
    let hook = object(vec![("url", https())]);
    let chat_url = || {
        prop_oneof![
            "https://(discord.com|hooks.slack.com|x.example)/(api/webhooks|services/T1/B2)/[a-z0-9]{0,8}(/[a-z0-9]{0,4})?"
                .prop_map(Value::String),
            https(),
        ]
        .boxed()
    };
    let ntfy = object(vec![
        (
            "topic",
            prop_oneof!["[a-z_-]{0,70}".prop_map(Value::String), json()].boxed(),
        ),
        ("server", https()),
        (
            "token",
            prop_oneof!["tk_[a-z0-9]{0,10}".prop_map(Value::String), json()].boxed(),
        ),
    ]);
    let chat_id = prop_oneof![number(), "@?[a-z_]{0,40}".prop_map(Value::String), json()].boxed();
    prop_oneof![
        5 => push.prop_map(|p| json!({ "web_push": p })),
        5 => hook.prop_map(|h| json!({ "webhook": h })),
        2 => object(vec![("url", chat_url())]).prop_map(|h| json!({ "discord": h })),
        2 => object(vec![("url", chat_url())]).prop_map(|h| json!({ "slack": h })),
        2 => ntfy.prop_map(|n| json!({ "ntfy": n })),
        2 => object(vec![("chat_id", chat_id)]).prop_map(|t| json!({ "telegram": t })),
        1 => json(),
    ]
    .boxed()
}

fn brokers() -> BoxedStrategy<Value> {
    let broker = "[a-z0-9.-]{1,12}:[1-9][0-9]{0,3}|[a-z0-9.\\[\\]:-]{0,12}:[0-9]{0,6}";
    or_junk(prop_oneof![
        Just(Value::Null),
        Just(Value::Null),
        Just(Value::Null),
        broker.prop_map(Value::String),
        prop::collection::vec(broker, 0..4).prop_map(|b| Value::String(b.join(","))),
        prop::collection::vec(broker, 31..=33).prop_map(|b| Value::String(b.join(","))),
        prop::collection::vec(broker.prop_map(Value::String), 0..4).prop_map(Value::Array),
        prop::collection::vec(broker.prop_map(Value::String), 31..=33).prop_map(Value::Array),
    ])
}

fn new_trigger() -> BoxedStrategy<Value> {
    object(vec![
        ("source", one_of(&["src_1", "src_2"])),
        ("event", event_names()),
        ("filter", crate::filters::filter_spec(42)),
        ("action", action()),
        ("name", or_junk(text().prop_map(Value::String))),
        ("active", or_junk(any::<bool>().prop_map(Value::Bool))),
        ("brokers", brokers()),
        (
            "isJSONData",
            or_junk(prop::bool::weighted(0.3).prop_map(Value::Bool)),
        ),
        (
            "isBinaryValue",
            or_junk(prop::bool::weighted(0.3).prop_map(Value::Bool)),
        ),
        ("isBinaryKey", or_junk(any::<bool>().prop_map(Value::Bool))),
    ])
}

fn address_on(prefix: u16) -> impl Strategy<Value = String> {
    any::<[u8; 32]>().prop_map(move |id| AccountId(id).to_ss58(prefix).expect("prefix"))
}

fn bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).expect("json")
}

const TRIGGER_FIELDS: &[&str] = &[
    "source",
    "event",
    "filter",
    "action",
    "name",
    "brokers",
    "isBinaryValue",
    "reason",
];

proptest! {
    #![proptest_config(config(256))]

    /// Names parse or are refused; what parses prints back exactly, and topics stay valid Kafka
    /// topic names.
    #[test]
    fn names_and_topics_round_trip(
        s in prop_oneof![
            text(),
            "[a-z0-9][a-z0-9-]{0,63}",
            "[A-Za-z][A-Za-z0-9_]{0,63}\\.[A-Za-z][A-Za-z0-9_]{0,63}",
            "[a-z0-9-]{1,64}\\.[A-Za-z][A-Za-z0-9_]{0,63}\\.[A-Za-z][A-Za-z0-9_]{0,63}",
        ],
    ) {
        if let Ok(c) = ChainName::parse(&s) {
            prop_assert_eq!(c.as_str(), s.as_str());
        }
        if let Ok(e) = EventName::parse(&s) {
            prop_assert_eq!(e.to_string(), s.clone());
            prop_assert_eq!(EventName::new(e.pallet(), e.event()), Ok(e.clone()));
        }
        if let Ok(t) = Topic::parse(&s) {
            prop_assert_eq!(t.as_str(), s.as_str());
            prop_assert!(t.as_str().len() <= 249);
            prop_assert!(t.as_str().bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)));
        }
    }

    /// `POST /api/sources` with any body.
    #[test]
    fn new_sources_validate_without_panicking(body in prop_oneof![4 => new_source(), 1 => json()]) {
        check(parse_json::<NewSource>(&bytes(&body)), |req| {
            let v = req.validate("src_1".into(), "t")?;
            assert!((1..=256).contains(&v.source.events.len()));
            assert!(v.source.ss58_prefix <= 16_383);
            assert!(v.source.token.as_ref().is_none_or(|t| t.decimals <= 38));
            assert_eq!(v.source.light_client, v.source.rpc.is_empty());
            Ok(())
        }, &["chain", "rpc", "chain_spec", "relay_chain_spec", "events", "token", "ss58_prefix"])?;
    }

    /// `PATCH /api/sources/{id}` with any body.
    #[test]
    fn source_patches_validate_without_panicking(
        body in prop_oneof![
            4 => object(vec![
                ("events", strings(event_names(), 256)),
                ("add_events", strings(event_names(), 4)),
                ("remove_events", strings(event_names(), 4)),
                ("rpc", rpc_urls()),
                ("token", token()),
            ]),
            1 => json(),
        ],
    ) {
        let current = source(42, Some(10));
        check(parse_json::<SourcePatch>(&bytes(&body)), |patch| {
            let next = patch.apply(&current, "t")?;
            assert!((1..=256).contains(&next.events.len()));
            Ok(())
        }, &["events", "add_events", "remove_events", "rpc", "token"])?;
    }

    /// `POST /api/triggers` with any body; what is accepted is stored and read back unchanged.
    #[test]
    fn new_triggers_validate_without_panicking(body in prop_oneof![4 => new_trigger(), 1 => json()]) {
        let source = source(42, Some(10));
        match trigger(&source, body) {
            Err(e) if e.code == ErrorCode::InvalidField => names_a_field(&e, TRIGGER_FIELDS)?,
            Err(e) => prop_assert!(matches!(
                e.code,
                ErrorCode::InvalidJson | ErrorCode::UnknownField | ErrorCode::MissingField
            ), "{:?}", e),
            Ok(t) => {
                prop_assert_eq!(t.topic.as_str(), format!("paseo.{}", t.event));
                prop_assert!(!(t.feed.is_json_data && t.feed.is_binary_value));
                let stored = serde_json::to_vec(&t).expect("json");
                let back: Trigger = serde_json::from_slice(&stored).expect("stored trigger");
                prop_assert_eq!(&back, &t);
                prop_assert!(t.view().get("token_hash").is_none());
            }
        }
    }

    /// Well-formed triggers of every kind are accepted, stored and read back unchanged.
    #[test]
    fn valid_triggers_are_accepted_and_stored(
        filter in prop_oneof![
            Just(Value::Null),
            (address_on(42), prop::sample::select(vec!["in", "out", "any"]), "[0-9]{1,20}(\\.[0-9]{1,10})?")
                .prop_map(|(a, d, m)| json!({"balance": {"account": a, "direction": d, "min": m}})),
            prop::collection::vec(
                (prop::sample::select(vec!["from", "to", "amount"]),
                 prop::sample::select(vec!["eq", "ne", "gt", "gte", "lt", "lte"]),
                 any::<i128>()),
                1..=32,
            ).prop_map(|ps| json!({"all": ps.into_iter()
                .map(|(f, op, v)| json!({"field": f, "op": op, "value": v.to_string()}))
                .collect::<Vec<_>>()})),
        ],
        action in prop_oneof![
            (any::<[u8; 32]>(), any::<[u8; 32]>(), any::<[u8; 16]>(), prop::option::of(any::<u32>()))
                .prop_map(|(x, y, auth, exp)| {
                    let mut key = vec![4u8];
                    key.extend(x);
                    key.extend(y);
                    json!({"web_push": {"endpoint": "https://push.example.net/send/abc",
                        "expirationTime": exp,
                        "keys": {"p256dh": URL_SAFE_NO_PAD.encode(key), "auth": URL_SAFE_NO_PAD.encode(auth)}}})
                }),
            "https://[a-z]{1,20}\\.example\\.com/[a-z0-9/]{0,20}".prop_map(|u| json!({"webhook": {"url": u}})),
        ],
        name in prop::option::of("[ -~]{0,200}"),
        brokers in prop_oneof![Just(Value::Null), Just(json!("a:9092, b.example:9093")), Just(json!(["[::1]:9092"]))],
        flags in (any::<bool>(), any::<bool>()),
    ) {
        let source = source(42, Some(10));
        let t = trigger(&source, json!({"source": "src_1", "event": "Balances.Transfer", "filter": filter,
            "action": action, "name": name, "brokers": brokers,
            "isJSONData": flags.0, "isBinaryValue": !flags.0 && flags.1, "isBinaryKey": flags.1}));
        let t = match t {
            Ok(t) => t,
            Err(e) => return Err(TestCaseError::fail(format!("refused: {e}"))),
        };
        let stored = serde_json::to_vec(&t).expect("json");
        let back: Trigger = serde_json::from_slice(&stored).expect("stored trigger");
        prop_assert_eq!(&back, &t);
    }

    /// `PATCH /api/triggers/{id}` with any body, on a webhook trigger.
    #[test]
    fn trigger_patches_validate_without_panicking(
        body in prop_oneof![
            4 => object(vec![
                ("filter", crate::filters::filter_spec(42)),
                ("action", action()),
                ("name", or_junk(text().prop_map(Value::String))),
                ("active", or_junk(any::<bool>().prop_map(Value::Bool))),
                ("reason", or_junk(text().prop_map(Value::String))),
            ]),
            1 => json(),
        ],
    ) {
        let source = source(42, Some(10));
        let current = trigger(&source, json!({"source": "src_1", "event": "Balances.Transfer",
            "action": {"webhook": {"url": "https://hooks.example.com/x"}}})).expect("trigger");
        check(parse_json::<TriggerPatch>(&bytes(&body)), |patch| {
            let mut secret = || "whsec_bmV3".to_owned();
            let next = patch.apply(&current, &source, "t2", &mut secret)?;
            // A changed webhook URL keeps its secret.
            if let (Action::Webhook(a), Action::Webhook(b)) = (&current.action, &next.action) {
                assert_eq!(a.secret, b.secret);
            }
            Ok(())
        }, TRIGGER_FIELDS)?;
    }

    /// Actions alone: errors name a field under `action`; accepted push keys have the sizes Web
    /// Push needs, so delivery never meets a malformed key.
    #[test]
    fn actions_validate_without_panicking(body in action()) {
        check(parse_json::<ActionSpec>(&bytes(&body)), |spec| {
            spec.admit(&aurras_domain::channel::Platforms::default(), true)?;
            match spec.validate(None, || "whsec_bmV3".to_owned())? {
                Action::WebPush(push) => {
                    let decode = |s: &str| URL_SAFE_NO_PAD.decode(s).or_else(|_| URL_SAFE.decode(s));
                    assert!(decode(&push.keys.p256dh).is_ok_and(|k| k.len() == 65 && k[0] == 4));
                    assert!(decode(&push.keys.auth).is_ok_and(|k| k.len() == 16));
                    assert!(push.endpoint.starts_with("https://"));
                }
                Action::Webhook(hook) => assert!(hook.url.starts_with("https://")),
                Action::Discord(hook) | Action::Slack(hook) => {
                    assert!(hook.url.starts_with("https://"));
                }
                Action::Telegram(t) => assert!(t.chat_id.is_some()),
                Action::Ntfy(n) => assert!(!n.topic.is_empty()),
                Action::Matrix(m) => assert!(m.room_id.is_some()),
                Action::Email(e) => assert!(e.address.contains('@')),
            }
            Ok(())
        }, &["action"])?;
    }
}
