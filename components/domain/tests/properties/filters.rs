//! Filter predicates and balance filters: parsing, validation and evaluation.

use aurras_domain::filter::{Filter, FilterSpec, Op, Predicate};
use aurras_domain::names::EventName;
use aurras_domain::ss58::AccountId;
use aurras_domain::ErrorCode;
use proptest::prelude::*;
use serde_json::{json, Map, Value};

use crate::support::{
    account, config, json, names_a_field, number, object, one_of, or_junk, prefix, source, text,
    word, EVENTS,
};

/// An address on `prefix` of a random account, another chain's, or any text.
fn account_text(prefix: u16) -> BoxedStrategy<Value> {
    prop_oneof![
        3 => account().prop_map(move |id| Value::String(id.to_ss58(prefix).expect("prefix"))),
        1 => crate::support::address().prop_map(Value::String),
        1 => text().prop_map(Value::String),
    ]
    .boxed()
}

/// A well-formed predicate on a field of the known events.
fn clean_predicate() -> BoxedStrategy<Value> {
    (
        prop::sample::select(vec!["amount", "from", "to", "who"]),
        prop::sample::select(vec!["eq", "ne", "gt", "gte", "lt", "lte"]),
        any::<u64>(),
    )
        .prop_map(|(f, op, v)| json!({"field": f, "op": op, "value": v.to_string()}))
        .boxed()
}

fn predicate() -> BoxedStrategy<Value> {
    let field = prop_oneof![
        prop::sample::select(vec![
            "amount",
            "from",
            "to",
            "who",
            "era_index",
            "info.weight"
        ])
        .prop_map(|s| Value::String(s.to_owned())),
        "[A-Za-z0-9_.]{0,20}".prop_map(Value::String),
        text().prop_map(Value::String),
    ];
    let scalar = || prop_oneof![number(), text().prop_map(Value::String)];
    let value = prop_oneof![
        3 => "-?[0-9]{1,45}".prop_map(Value::String),
        3 => crate::support::address().prop_map(Value::String),
        3 => prop::collection::vec(scalar(), 0..4).prop_map(Value::Array),
        // Around the limit of `in` lists.
        1 => prop::collection::vec(scalar(), 99..=101).prop_map(Value::Array),
        3 => json(),
    ];
    object(vec![
        ("field", or_junk(field)),
        ("op", one_of(&["eq", "ne", "gt", "gte", "lt", "lte", "in"])),
        ("value", value.boxed()),
    ])
}

/// A filter as a client might write it, mostly well-formed.
pub fn filter_spec(prefix: u16) -> BoxedStrategy<Value> {
    let balance = object(vec![
        ("account", account_text(prefix)),
        ("direction", one_of(&["in", "out", "any"])),
        ("min", or_junk(text().prop_map(Value::String))),
    ]);
    // Mostly a few predicates, sometimes around the limit of 32.
    let predicates = || {
        prop_oneof![
            4 => prop::collection::vec(predicate(), 0..4),
            1 => prop::collection::vec(clean_predicate(), 31..=33),
        ]
        .prop_map(Value::Array)
    };
    prop_oneof![
        4 => balance.prop_map(|b| json!({ "balance": b })),
        4 => predicates().prop_map(|p| json!({ "all": p })),
        4 => predicates().prop_map(|p| json!({ "any": p })),
        1 => json(),
    ]
    .boxed()
}

/// Event fields: the known names with values of every kind, and other names.
fn fields(prefix: u16) -> impl Strategy<Value = Map<String, Value>> {
    let value = prop_oneof![
        account_text(prefix),
        "-?[0-9]{1,45}".prop_map(Value::String),
        json(),
    ];
    let name = prop_oneof![
        prop::sample::select(vec!["amount", "from", "to", "who", "info"]).prop_map(str::to_owned),
        word(),
    ];
    prop::collection::vec((name, value), 0..8).prop_map(|kv| kv.into_iter().collect())
}

fn event() -> impl Strategy<Value = EventName> {
    prop::sample::select(EVENTS).prop_map(|e| EventName::parse(e).expect("event"))
}

proptest! {
    #![proptest_config(config(512))]

    /// Any filter body: refused as JSON, refused naming a field under `filter`, or accepted; an
    /// accepted filter evaluates any event's fields without panicking.
    #[test]
    fn filters_validate_and_evaluate_without_panicking(
        (prefix, spec, fields) in prefix().prop_flat_map(|p| (Just(p), filter_spec(p), fields(p))),
        decimals in prop::option::of(0u8..=38),
        event in event(),
    ) {
        let source = source(prefix, decimals);
        let body = serde_json::to_vec(&spec).expect("json");
        match aurras_domain::parse_json::<FilterSpec>(&body) {
            Err(e) => prop_assert!(matches!(
                e.code,
                ErrorCode::InvalidJson | ErrorCode::UnknownField | ErrorCode::MissingField
            )),
            Ok(spec) => match spec.validate(&source, &event) {
                Err(e) => {
                    prop_assert_eq!(e.code, ErrorCode::InvalidField);
                    names_a_field(&e, &["filter"])?;
                }
                Ok(filter) => {
                    let _ = filter.matches(&event, &fields);
                    if let Filter::Balance(rule) = &filter {
                        let id = AccountId::from_ss58_for(&rule.account, prefix);
                        prop_assert_eq!(id.map(|id| id.to_hex()), Ok(rule.account_hex.clone()));
                        prop_assert_eq!(filter.indexed_account(), Some(rule.account_hex.as_str()));
                    } else {
                        prop_assert_eq!(filter.indexed_account(), None);
                    }
                    // What is stored reads back the same.
                    let stored = serde_json::to_string(&filter).expect("json");
                    let back: Filter = serde_json::from_str(&stored).expect("stored filter");
                    prop_assert_eq!(back, filter);
                }
            },
        }
    }

    /// Integers compare by value however they are written: as JSON numbers or strings, with
    /// leading zeros, beyond 2^64.
    #[test]
    fn integer_predicates_compare_by_value(
        a in any::<i128>(),
        b in any::<i128>(),
        a_zeros in 0usize..3,
        b_zeros in 0usize..3,
        b_as_number in any::<bool>(),
    ) {
        let write = |n: i128, zeros: usize| {
            let digits = format!("{}{}", "0".repeat(zeros), n.unsigned_abs());
            if n < 0 { format!("-{digits}") } else { digits }
        };
        let actual: Map<String, Value> =
            [("x".to_owned(), Value::String(write(a, a_zeros)))].into_iter().collect();
        let value = match i64::try_from(b) {
            Ok(small) if b_as_number => json!(small),
            _ => Value::String(write(b, b_zeros)),
        };
        for (op, want) in [
            (Op::Eq, a == b),
            (Op::Ne, a != b),
            (Op::Gt, a > b),
            (Op::Gte, a >= b),
            (Op::Lt, a < b),
            (Op::Lte, a <= b),
        ] {
            let p = Predicate { field: "x".into(), op, value: value.clone() };
            prop_assert_eq!(p.holds(&actual), want, "{} {:?} {}", a, op, value);
        }
    }

    /// An account equals itself under every prefix and in hex, and no other account.
    #[test]
    fn accounts_compare_by_key_across_prefixes(
        a in account(),
        b in account(),
        pa in prefix(),
        pb in prefix(),
        hex in any::<bool>(),
    ) {
        let field = if hex { a.to_hex() } else { a.to_ss58(pa).expect("prefix") };
        let actual: Map<String, Value> = [("who".to_owned(), json!(field))].into_iter().collect();
        let same = Predicate { field: "who".into(), op: Op::Eq, value: json!(a.to_ss58(pb).expect("prefix")) };
        prop_assert!(same.holds(&actual));
        let other = Predicate { field: "who".into(), op: Op::In, value: json!([b.to_ss58(pb).expect("prefix")]) };
        prop_assert_eq!(other.holds(&actual), a == b);
    }

    /// The balance filter fires exactly when the account is on the chosen side and the amount
    /// reaches the minimum, whatever prefix the event's addresses use.
    #[test]
    fn balance_filter_fires_on_side_and_minimum(
        me in account(),
        other in account(),
        prefix in prefix(),
        event_prefix in prefix(),
        min in any::<u64>(),
        amount in any::<u128>(),
        incoming in any::<bool>(),
        direction in prop::sample::select(vec!["in", "out", "any"]),
    ) {
        prop_assume!(me != other);
        let source = source(prefix, Some(0));
        let transfer = EventName::parse("Balances.Transfer").expect("event");
        let spec: FilterSpec = serde_json::from_value(json!({"balance": {
            "account": me.to_ss58(prefix).expect("prefix"), "direction": direction,
            "min": min.to_string()}})).expect("shape");
        let filter = spec.validate(&source, &transfer).expect("valid filter");
        let (from, to) = if incoming { (other, me) } else { (me, other) };
        let fields: Map<String, Value> = [
            ("from", json!(from.to_ss58(event_prefix).expect("prefix"))),
            ("to", json!(to.to_ss58(event_prefix).expect("prefix"))),
            ("amount", json!(amount.to_string())),
        ].into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        let side = match direction { "in" => incoming, "out" => !incoming, _ => true };
        prop_assert_eq!(filter.matches(&transfer, &fields), side && amount >= u128::from(min));
    }
}
