//! Delivery costs in the domain, natively, on one core:
//!
//! - Web Push messages built per second (fresh ephemeral key and salt, ECDH, HKDF, AES-128-GCM
//!   per RFC 8291, plus the ES256 VAPID token per RFC 8292);
//! - key-value operations per event for dispatch (lookup, sources, claim, record) with 10, 10k and
//!   100k stored triggers, for an event that matches one trigger and one that matches none.
//!
//! `cargo bench -p aurras-domain --bench delivery`. Prints a table; nothing is asserted.

use std::time::Instant;

use aurras_domain::action::{PushKeys, WebPush};
use aurras_domain::answer::Answer;
use aurras_domain::claims::{Claim, Holder, DEFAULT_LEASE_MS};
use aurras_domain::delivery::{Deliveries, Outcome};
use aurras_domain::kv::{Counting, MemoryStore};
use aurras_domain::names::EventName;
use aurras_domain::registry::Registry;
use aurras_domain::ss58::AccountId;
use aurras_domain::vault::Keyring;
use aurras_domain::webpush::{push_request, PushOptions, Urgency, VapidKey};
use serde_json::json;

/// Trigger records are sealed, so lookups in the dispatch pass pay for opening them.
static RING: std::sync::LazyLock<Keyring> = std::sync::LazyLock::new(|| {
    Keyring::parse("bench:YmVuY2gtYmVuY2gtYmVuY2gtYmVuY2gtYmVuY2gtYmU=")
        .expect("the bench keyring parses")
});

fn account(i: usize) -> AccountId {
    let mut id = [0u8; 32];
    id[..8].copy_from_slice(&(i as u64).to_be_bytes());
    id[31] = 1;
    AccountId(id)
}

fn web_push_per_second() -> (f64, f64) {
    let (vapid, _) = VapidKey::generate();
    let (browser, _) = VapidKey::generate();
    let subscription = WebPush {
        endpoint: "https://push.example.net/send/abc".into(),
        keys: PushKeys {
            p256dh: browser.public_key(),
            auth: "BTBZMqHH6r4Tts7J_aSIgg".into(),
        },
        expiration_time: None,
    };
    let payload = r#"{"title":"Received 12.5 PAS","body":"Received 12.5 PAS from 5Grw…utQY at block #1234 on paseo"}"#.as_bytes();
    let options = PushOptions {
        ttl_secs: 86400,
        urgency: Urgency::Normal,
        topic: None,
        subject: "mailto:ops@example.com",
        now_secs: 1_700_000_000,
    };
    let n = 2000;
    let started = Instant::now();
    for _ in 0..n {
        push_request(&vapid, &subscription, payload, &options).expect("push");
    }
    let full = n as f64 / started.elapsed().as_secs_f64();
    let started = Instant::now();
    for _ in 0..n {
        vapid
            .authorization("https://push.example.net/send/abc", "mailto:a@b.c", 1)
            .expect("vapid");
    }
    let vapid_only = n as f64 / started.elapsed().as_secs_f64();
    (full, vapid_only)
}

fn populate(n: usize) -> (Counting<MemoryStore>, aurras_domain::names::Topic) {
    let kv = Counting::new(MemoryStore::default());
    let reg = Registry::new(&kv, &RING);
    let source = reg
        .create_source(
            serde_json::from_value(json!({"chain": "paseo", "rpc": ["ws://127.0.0.1:9944"],
                "events": ["Balances.Transfer"], "token": {"symbol": "PAS", "decimals": 10}}))
            .expect("shape"),
            "t0",
        )
        .expect("source");
    for i in 0..n {
        let mut body = json!({"source": source.id, "event": "Balances.Transfer",
            "action": {"webhook": {"url": "https://hooks.example.com/bench"}}});
        if i >= (n / 2).min(10) {
            let address = account(i).to_ss58(42).expect("address");
            body["filter"] = json!({"balance": {"account": address, "direction": "in"}});
        } else {
            // Any-account triggers that never match: read on every lookup, fired by none.
            body["filter"] = json!({"all": [{"field": "amount", "op": "gt", "value": "1000000000000000000000000000000"}]});
        }
        reg.create_trigger(serde_json::from_value(body).expect("shape"), "t1")
            .expect("trigger");
    }
    let topic = EventName::parse("Balances.Transfer")
        .expect("event")
        .topic(&source.chain);
    (kv, topic)
}

/// The store operations dispatch makes for one event touching `account`.
fn dispatch_ops(
    kv: &Counting<MemoryStore>,
    topic: &aurras_domain::names::Topic,
    who: &AccountId,
    event: &str,
) -> usize {
    let triggers = Registry::new(kv, &RING)
        .lookup(topic, &[who.to_hex()])
        .expect("lookup");
    let fields = json!({"from": account(0).to_ss58(42).expect("a"), "to": who.to_ss58(42).expect("b"), "amount": "5"});
    let fields = fields.as_object().cloned().unwrap_or_default();
    let name = EventName::parse("Balances.Transfer").expect("event");
    let firing: Vec<_> = triggers
        .iter()
        .filter(|t| t.filter.as_ref().is_none_or(|f| f.matches(&name, &fields)))
        .collect();
    let deliveries = Deliveries::new(kv, &RING);
    let holder = Holder::new(0, DEFAULT_LEASE_MS);
    if !firing.is_empty() {
        let ids: Vec<String> = firing.iter().map(|t| t.source.clone()).collect();
        deliveries.sources(&ids).expect("sources");
    }
    for t in &firing {
        if deliveries.claim(&t.id, event, 0, &holder).expect("claim") == Claim::Won {
            deliveries
                .record(
                    &t.id,
                    event,
                    0,
                    &Answer::status_only(200),
                    &Outcome::Delivered,
                    "now",
                )
                .expect("record");
        }
    }
    firing.len()
}

fn main() {
    let (push, vapid) = web_push_per_second();
    println!("Web Push, natively on one core:");
    println!("| step | per second |");
    println!("|---|---:|");
    println!("| encrypted + VAPID-signed message | {push:.0} |");
    println!("| VAPID token alone | {vapid:.0} |");
    println!();
    let sizes: Vec<usize> = std::env::var("AURRAS_BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![10, 10_000, 100_000]);
    println!("Dispatch, key-value operations per event (a get-many counts as one read):");
    println!("| stored | event | fired | reads | writes | lookups/s |");
    println!("|---:|---|---:|---:|---:|---:|");
    for n in sizes {
        let (kv, topic) = populate(n);
        let target = account(n.saturating_sub(1).max(10));
        for (what, acct) in [("matches one", target), ("matches none", account(n + 7))] {
            kv.reset();
            let event = format!("0x{:064x}", n);
            let fired = dispatch_ops(&kv, &topic, &acct, &event);
            let (reads, writes) = kv.counts();
            let rounds = 2000;
            let started = Instant::now();
            for i in 0..rounds {
                Registry::new(&kv, &RING)
                    .lookup(&topic, &[acct.to_hex()])
                    .expect("lookup");
                std::hint::black_box(i);
            }
            let rate = rounds as f64 / started.elapsed().as_secs_f64();
            println!("| {n} | {what} | {fired} | {reads} | {writes} | {rate:.0} |");
        }
    }
}
