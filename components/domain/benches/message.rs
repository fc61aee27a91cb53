//! Message templates natively, on one core: renders per second of a typical body template (the
//! amount, two short addresses, the link), of a title, of the default sentence for comparison, and
//! create-time validations per second (compile, render against the sample, name checks).
//!
//! `cargo bench -p aurras-domain --bench message`. Prints a table; nothing is asserted.

use std::time::Instant;

use aurras_domain::envelope::{BlockRef, Envelope, ENVELOPE_VERSION};
use aurras_domain::message::{render, MessageContext, MessageSpec};
use aurras_domain::names::{ChainName, EventName};
use aurras_domain::notification::Notification;
use aurras_domain::source::TokenInfo;
use aurras_domain::trigger::Trigger;
use serde_json::json;

const BODY: &str = "Received {{ amount(fields.amount) }} from {{ short(fields.from) }} \
    to {{ short(fields.to) }} at block #{{ block }} on {{ chain }}.\n{{ link }}";
const TITLE: &str = "{{ amount(fields.amount) }} arrived";

fn per_second(n: u32, mut f: impl FnMut()) -> f64 {
    // One pass first, so the shared environment and allocator are warm.
    f();
    let started = Instant::now();
    for _ in 0..n {
        f();
    }
    f64::from(n) / started.elapsed().as_secs_f64()
}

fn main() {
    let token = TokenInfo {
        symbol: "PAS".into(),
        decimals: 10,
    };
    let chain = ChainName::parse("paseo").expect("chain");
    let envelope = Envelope {
        id: format!("0x{}", "ab".repeat(32)),
        version: ENVELOPE_VERSION,
        chain: chain.clone(),
        genesis_hash: "0x00".into(),
        block: BlockRef {
            number: 1234,
            hash: "0x01".into(),
        },
        event_index: 2,
        extrinsic_index: Some(1),
        phase: "apply_extrinsic".into(),
        pallet: "Balances".into(),
        event: "Transfer".into(),
        spec_version: 1,
        fields: json!({"from": "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY",
                       "to": "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty",
                       "amount": "125000000000"})
        .as_object()
        .cloned()
        .unwrap_or_default(),
        accounts: Vec::new(),
        asset: None,
        track: None,
    };
    let context = MessageContext {
        envelope: &envelope,
        token: Some(&token),
        link: Some("https://paseo.subscan.io/block/1234"),
    };
    let body = MessageSpec {
        title: None,
        body: Some(BODY.into()),
    };
    let both = MessageSpec {
        title: Some(TITLE.into()),
        body: Some(BODY.into()),
    };
    let trigger: Trigger = serde_json::from_value(json!({
        "id": "trg_1", "source": "src_1", "chain": "paseo", "event": "Balances.Transfer",
        "topic": "paseo.Balances.Transfer", "filter": null,
        "action": {"webhook": {"url": "https://h.example.com", "secret": "whsec_x"}},
        "brokers": [], "isJSONData": false, "isBinaryValue": false, "isBinaryKey": false,
        "status": {"active": true, "dateChanged": "t"}, "token_hash": "h", "created_at": "t"
    }))
    .expect("trigger");
    let event = EventName::parse("Balances.Transfer").expect("event");
    let n = 20_000;

    let rows = [
        (
            "body template (compile + render)",
            per_second(n, || {
                render(&body, &context).expect("renders");
            }),
        ),
        (
            "title + body templates",
            per_second(n, || {
                render(&both, &context).expect("renders");
            }),
        ),
        (
            "default sentence (no template)",
            per_second(n, || {
                Notification::for_event(&trigger, &envelope, Some(&token), None);
            }),
        ),
        (
            "validation at create (title + body)",
            per_second(n / 4, || {
                both.validate(&chain, &event, Some(&token), None)
                    .expect("valid");
            }),
        ),
    ];
    println!("| message, native, one core | per second |");
    println!("|---|---:|");
    for (what, rate) in rows {
        println!("| {what} | {rate:.0} |");
    }
}
