//! Recipes in the domain, natively, on one core:
//!
//! - how long a recipe takes to expand (checked against the source, the filter and topic made)
//!   and a whole create with it (validation, sealing, the index), beside a plain trigger's;
//! - the key-value operations of dispatch's lookup for an event that recipes watch among several
//!   (its own topic's lists and the recipe's, in the same two batches), with 10k recipe triggers
//!   stored on other accounts, and for a balance transfer, which no recipe of several events
//!   watches (unchanged: the same keys as before recipes).
//!
//! `cargo bench -p aurras-domain --bench recipes`. Prints tables; nothing is asserted.

use std::time::Instant;

use aurras_domain::kv::{Counting, KeyValue, MemoryStore};
use aurras_domain::names::EventName;
use aurras_domain::recipe::expand;
use aurras_domain::registry::Registry;
use aurras_domain::source::Source;
use aurras_domain::ss58::AccountId;
use aurras_domain::vault::Keyring;
use serde_json::{json, Map, Value};

static RING: std::sync::LazyLock<Keyring> = std::sync::LazyLock::new(|| {
    Keyring::parse("bench:YmVuY2gtYmVuY2gtYmVuY2gtYmVuY2gtYmVuY2gtYmU=")
        .expect("the bench keyring parses")
});

const EVENTS: &[&str] = &[
    "Balances.Transfer",
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
    "Assets.Transferred",
    "Assets.Issued",
];

fn account(i: usize) -> String {
    let mut id = [0u8; 32];
    id[..8].copy_from_slice(&(i as u64).to_be_bytes());
    id[31] = 2;
    AccountId(id).to_ss58(42).expect("address")
}

fn source<S: KeyValue>(reg: &Registry<'_, S>) -> Source {
    reg.create_source(
        serde_json::from_value(json!({"chain": "paseo", "rpc": ["ws://127.0.0.1:9944"],
            "events": EVENTS, "token": {"symbol": "PAS", "decimals": 10}}))
        .expect("shape"),
        "t0",
    )
    .expect("source")
}

fn inputs(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

fn per_second(rounds: usize, mut f: impl FnMut(usize)) -> f64 {
    let started = Instant::now();
    for i in 0..rounds {
        f(i);
    }
    rounds as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let kv = Counting::new(MemoryStore::default());
    let reg = Registry::new(&kv, &RING);
    let src = source(&reg);
    println!("Recipe expansion (no store), natively on one core:");
    println!("| recipe | expansions/s | µs each |");
    println!("|---|---:|---:|");
    for (id, given) in [
        ("funds", json!({"address": account(1), "min": "1.5"})),
        (
            "assets",
            json!({"address": account(1), "asset": 1984, "min": "2.5"}),
        ),
        ("staking_alert", json!({"address": account(1)})),
        ("referendum_new", json!({"tracks": [0, 11, 30]})),
        ("account_security", json!({"address": account(1)})),
    ] {
        let given = inputs(given);
        let rate = per_second(20_000, |_| {
            std::hint::black_box(expand(id, &given, &src).expect("expands"));
        });
        println!("| {id} | {rate:.0} | {:.1} |", 1e6 / rate);
    }
    println!();
    println!("A whole create (validation, sealing, the index), key-value operations each:");
    println!("| trigger | creates/s | reads | writes |");
    println!("|---|---:|---:|---:|");
    let hook = json!({"webhook": {"url": "https://hooks.example.com/bench"}});
    let plain = |who: &str| {
        json!({"source": src.id, "event": "Balances.Transfer", "action": hook,
               "filter": {"balance": {"account": who, "direction": "in"}}})
    };
    let recipe = |who: &str| {
        json!({"source": src.id, "recipe": "staking_alert", "inputs": {"address": who},
               "action": hook})
    };
    /// A trigger's kind: its name, its request for an address, the accounts it starts at.
    type Kind<'a> = (&'a str, &'a dyn Fn(&str) -> Value, usize);
    let kinds: [Kind<'_>; 2] = [
        ("Balances.Transfer + balance filter", &plain, 20_000),
        ("recipe staking_alert", &recipe, 40_000),
    ];
    for (what, body, base) in kinds {
        // A few on one account first: its list exists (its first write also takes a claim).
        for _ in 0..3 {
            reg.create_trigger(
                serde_json::from_value(body(&account(base))).expect("shape"),
                "t1",
            )
            .expect("create");
        }
        kv.reset();
        reg.create_trigger(
            serde_json::from_value(body(&account(base))).expect("shape"),
            "t1",
        )
        .expect("create");
        let (reads, writes) = kv.counts();
        // Each on an account of its own, as people create them.
        let rate = per_second(2_000, |i| {
            reg.create_trigger(
                serde_json::from_value(body(&account(base + 1 + i))).expect("shape"),
                "t1",
            )
            .expect("create");
        });
        println!("| {what} | {rate:.0} | {reads} | {writes} |");
    }
    println!();

    // 10k staking_alert triggers on other accounts, then one on the account the events name.
    let stored = 10_000;
    for i in 0..stored {
        let body = json!({"source": src.id, "recipe": "staking_alert",
            "inputs": {"address": account(100 + i)}, "action": hook});
        reg.create_trigger(serde_json::from_value(body).expect("shape"), "t1")
            .expect("create");
    }
    let target = account(7);
    let body = json!({"source": src.id, "recipe": "staking_alert",
        "inputs": {"address": target}, "action": hook});
    reg.create_trigger(serde_json::from_value(body).expect("shape"), "t1")
        .expect("create");
    let hex = AccountId::from_ss58(&target).expect("ss58").0.to_hex();
    println!("Dispatch lookup with {stored} staking_alert triggers on other accounts (a get-many counts as one read):");
    println!("| event | found | reads | writes | keys read | lookups/s |");
    println!("|---|---:|---:|---:|---:|---:|");
    for name in ["Staking.Slashed", "Balances.Transfer"] {
        let event = EventName::parse(name).expect("event");
        kv.reset();
        let found = reg
            .lookup_event(&src.chain, &event, std::slice::from_ref(&hex))
            .expect("lookup")
            .len();
        let (reads, writes) = kv.counts();
        let keys = aurras_domain::recipe::lookup_topics(&src.chain, &event)
            .iter()
            .map(|(_, any)| {
                2 + if *any {
                    aurras_domain::keys::ANY_SHARDS as usize
                } else {
                    0
                }
            })
            .sum::<usize>();
        let rate = per_second(5_000, |_| {
            std::hint::black_box(
                reg.lookup_event(&src.chain, &event, std::slice::from_ref(&hex))
                    .expect("lookup"),
            );
        });
        println!("| {name} | {found} | {reads} | {writes} | {keys} | {rate:.0} |");
    }
}
