//! Strategies shared by the property tests: arbitrary JSON, text that looks like what the domain
//! reads (addresses, amounts, names), and the fixtures validation needs (a source, a trigger).

use aurras_domain::source::{NewSource, Source};
use aurras_domain::ss58::AccountId;
use aurras_domain::trigger::{Minted, NewTrigger, Trigger};
use aurras_domain::ApiError;
use proptest::prelude::*;
use serde_json::{json, Map, Number, Value};

/// `default_cases` cases, or `PROPTEST_CASES` when it is set (for a longer run). Failures are not
/// written to `proptest-regressions/`: a failure found once becomes a named `#[test]` instead.
pub fn config(default_cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_cases);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Words the domain's JSON uses as keys and values, so arbitrary documents reach past the first
/// `unknown field`.
const WORDS: &[&str] = &[
    "source",
    "event",
    "filter",
    "action",
    "name",
    "active",
    "brokers",
    "isJSONData",
    "isBinaryValue",
    "isBinaryKey",
    "reason",
    "balance",
    "all",
    "any",
    "account",
    "direction",
    "min",
    "field",
    "op",
    "value",
    "in",
    "out",
    "eq",
    "ne",
    "gt",
    "gte",
    "lt",
    "lte",
    "web_push",
    "webhook",
    "endpoint",
    "keys",
    "p256dh",
    "auth",
    "url",
    "expirationTime",
    "chain",
    "rpc",
    "events",
    "chain_spec",
    "relay_chain_spec",
    "token",
    "symbol",
    "decimals",
    "ss58_prefix",
    "add_events",
    "remove_events",
    "records",
    "retries",
    "topic",
    "partition",
    "offset",
    "key",
    "timestamp",
    "attempt",
    "item",
    "trigger",
    "record",
    "id",
    "version",
    "genesis",
    "properties",
    "tokenSymbol",
    "tokenDecimals",
    "ss58Format",
    "relay_chain",
    "amount",
    "from",
    "to",
    "who",
    "paseo",
    "Balances.Transfer",
    "Staking.EraPaid",
    "ws://127.0.0.1:9944",
    "https://hooks.example.com/x",
    "src_1",
    "",
];

/// A key or short string from [`WORDS`] or anything at all.
pub fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(WORDS).prop_map(str::to_owned),
        1 => any::<String>(),
    ]
}

/// A 32-byte account.
pub fn account() -> impl Strategy<Value = AccountId> {
    any::<[u8; 32]>().prop_map(AccountId)
}

/// A valid SS58 prefix.
pub fn prefix() -> impl Strategy<Value = u16> {
    prop_oneof![
        prop::sample::select(vec![0u16, 2, 42, 63, 64, 16_383]),
        0u16..=16_383
    ]
}

/// A valid address of any prefix.
pub fn address() -> impl Strategy<Value = String> {
    (account(), prefix()).prop_map(|(id, p)| id.to_ss58(p).expect("valid prefix"))
}

/// Text of every kind the domain reads: anything, base58, decimal-looking, names, addresses.
pub fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => any::<String>(),
        2 => word(),
        1 => "[1-9A-HJ-NP-Za-km-z]{0,60}",
        1 => "-?[0-9]{0,45}(\\.[0-9]{0,45})?",
        1 => "[a-z0-9-]{0,70}(\\.[A-Za-z0-9_]{0,10}){0,3}",
        1 => address(),
        1 => "0x[0-9a-f]{0,70}",
    ]
}

/// Any finite JSON number.
pub fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| Number::from_f64(f).map(Value::Number)),
    ]
}

/// Any JSON value: scalars of every type, arrays and objects up to 4 levels deep.
pub fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((word(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// Mostly `good`, sometimes any JSON at all: reaches validation with wrong types too.
pub fn or_junk(good: impl Strategy<Value = Value> + 'static) -> BoxedStrategy<Value> {
    prop_oneof![20 => good, 1 => json()].boxed()
}

/// An object with the given fields, each left out now and then.
pub fn object(fields: Vec<(&'static str, BoxedStrategy<Value>)>) -> BoxedStrategy<Value> {
    let parts: Vec<_> = fields
        .into_iter()
        .map(|(k, v)| prop::option::weighted(0.98, v).prop_map(move |v| (k, v)))
        .collect();
    parts
        .prop_map(|parts| {
            Value::Object(
                parts
                    .into_iter()
                    .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v)))
                    .collect::<Map<String, Value>>(),
            )
        })
        .boxed()
}

/// One of the given strings as JSON, or other text.
pub fn one_of(choices: &'static [&'static str]) -> BoxedStrategy<Value> {
    prop_oneof![
        12 => prop::sample::select(choices).prop_map(|s| Value::String(s.to_owned())),
        1 => text().prop_map(Value::String),
    ]
    .boxed()
}

/// The events the fixture source publishes: balance-moving, known without balance, unknown.
pub const EVENTS: &[&str] = &[
    "Balances.Transfer",
    "Balances.Deposit",
    "Balances.Withdraw",
    "Staking.EraPaid",
    "Custom.Thing",
];

/// A source publishing [`EVENTS`] with the given prefix and token decimals (`None`: no token).
pub fn source(ss58_prefix: u16, decimals: Option<u8>) -> Source {
    let mut body = json!({"chain": "paseo", "rpc": ["ws://127.0.0.1:9944"], "events": EVENTS,
                          "ss58_prefix": ss58_prefix});
    if let Some(d) = decimals {
        body["token"] = json!({"symbol": "PAS", "decimals": d});
    }
    let req: NewSource = serde_json::from_value(body).expect("source shape");
    req.validate("src_1".into(), "2026-01-01T00:00:00Z")
        .expect("valid source")
        .source
}

/// A trigger created through the API's path, for patches and dispatch.
pub fn trigger(source: &Source, body: Value) -> Result<Trigger, ApiError> {
    let req: NewTrigger = aurras_domain::parse_json(&serde_json::to_vec(&body).expect("json"))?;
    let mut secret = || "whsec_c2VjcmV0LWtleS1ieXRlcw==".to_owned();
    req.validate(
        source,
        Minted {
            id: "trg_1".into(),
            token_hash: "hash".into(),
            now: "2026-01-01T00:00:00Z",
            new_secret: &mut secret,
        },
    )
}

/// Asserts that a validation error names a field whose first segment is one of `roots`.
pub fn names_a_field(err: &ApiError, roots: &[&str]) -> Result<(), TestCaseError> {
    let field = err.field.as_deref().unwrap_or_default();
    let root = field.split(['.', '[']).next().unwrap_or_default();
    prop_assert!(
        roots.contains(&root),
        "{:?} names field {:?}, not one under {:?}",
        err.message,
        err.field,
        roots
    );
    prop_assert!(!err.message.is_empty());
    Ok(())
}
