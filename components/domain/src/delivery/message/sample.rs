//! The made-up event a template is checked against when a trigger is created: the trigger's event
//! with the fields the catalog knows. Accounts and the amount of balance-moving events get real
//! values (so `short()` and `amount()` show what they will print); fields of unknown type, and
//! every field of an event the catalog does not know, are placeholders that accept any use.
//!
//! `notification::test_envelope` serves `POST /api/triggers/{id}/test`, which has a stored trigger
//! and its filter; at creation there is only the event name, hence this smaller sample.

use minijinja::value::Value;

use super::engine::{from_json, Placeholder};
use super::MessageContext;
use crate::catalog::known_event;
use crate::envelope::{BlockRef, Envelope, ENVELOPE_VERSION};
use crate::names::{ChainName, EventName};
use crate::source::TokenInfo;

/// The block number the sample event is in.
pub const SAMPLE_BLOCK: u64 = 1234;
/// The sample's receiving account (the dev account Alice, generic prefix).
const ALICE: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
/// The sample's paying account (Bob).
const BOB: &str = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";
/// 12.5 in a token with 10 decimals (DOT, PAS).
const AMOUNT: &str = "125000000000";

/// The sample context for `event` on `chain`, and whether it holds placeholders (then errors that
/// depend on a field's type cannot be told from a template's mistakes).
pub(super) fn sample_context(
    chain: &ChainName,
    event: &EventName,
    token: Option<&TokenInfo>,
    link: Option<&str>,
) -> (Value, bool) {
    let envelope = sample_envelope(chain, event);
    let context = MessageContext {
        envelope: &envelope,
        token,
        link,
    };
    let Some(known) = known_event(&event.to_string()) else {
        let fields = Value::from_object(Placeholder("fields".into()));
        return (context.to_value_with_fields(fields), true);
    };
    let concrete = |name: &str| envelope.fields.get(name).map(from_json);
    let fields = Value::from_pairs(known.fields.iter().map(|&name| {
        let value =
            concrete(name).unwrap_or_else(|| Value::from_object(Placeholder(name.to_owned())));
        (name, value)
    }));
    let placeholders = known
        .fields
        .iter()
        .any(|name| !envelope.fields.contains_key(*name));
    (context.to_value_with_fields(fields), placeholders)
}

/// The trigger's event with the balance fields filled in where the catalog says which they are.
pub fn sample_envelope(chain: &ChainName, event: &EventName) -> Envelope {
    let mut fields = serde_json::Map::new();
    if let Some(spec) = known_event(&event.to_string()).and_then(|k| k.balance) {
        if let Some(f) = spec.incoming {
            fields.insert(f.into(), ALICE.into());
        }
        if let Some(f) = spec.outgoing {
            fields.insert(f.into(), BOB.into());
        }
        fields.insert(spec.amount.into(), AMOUNT.into());
    }
    Envelope {
        id: format!("0x{}", "00".repeat(32)),
        version: ENVELOPE_VERSION,
        chain: chain.clone(),
        genesis_hash: format!("0x{}", "00".repeat(32)),
        block: BlockRef {
            number: SAMPLE_BLOCK,
            hash: format!("0x{}", "00".repeat(32)),
        },
        event_index: 0,
        extrinsic_index: None,
        phase: "sample".into(),
        pallet: event.pallet().into(),
        event: event.event().into(),
        spec_version: 0,
        fields,
        accounts: Vec::new(),
        asset: None,
        track: None,
    }
}
