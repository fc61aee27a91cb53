//! What a person reads: the title and body of a notification for one event and one trigger,
//! "Received 12.5 PAS from 5Grw…utQY at block #1234 on paseo", and the JSON payload the page's
//! service worker shows.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::amount::format_units;
use crate::catalog::known_event;
use crate::envelope::Envelope;
use crate::filter::{as_account, Direction, Filter};
use crate::source::TokenInfo;
use crate::trigger::Trigger;
use crate::webpush::MAX_PLAINTEXT;

/// The longest title; platforms cut longer ones anyway.
const MAX_TITLE: usize = 120;
/// The longest body before the payload limit is considered.
const MAX_BODY: usize = 1000;

/// One notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notification {
    /// A short line.
    pub title: String,
    /// The sentence.
    pub body: String,
    /// The block in the explorer, when `explorer_url` is configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Collapses duplicates on the device: the event id.
    pub tag: String,
    /// What the page needs to link the notification to its trigger.
    pub data: NotificationData,
}

/// Machine-readable details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotificationData {
    /// The event id.
    pub event_id: String,
    /// The trigger id.
    pub trigger: String,
    /// The chain.
    pub chain: String,
    /// The block number.
    pub block: u64,
    /// `Pallet.Event`.
    pub event: String,
    /// Whether this is a test notification (`POST /api/triggers/{id}/test`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub test: bool,
}

/// `5GrwvaEF…` → `5Grw…utQY`: enough to recognise an address, short enough for a phone.
pub fn shorten(address: &str) -> String {
    let chars: Vec<char> = address.chars().collect();
    if chars.len() <= 12 {
        return address.to_owned();
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

fn amount_text(value: Option<&Value>, token: Option<&TokenInfo>) -> Option<String> {
    let raw = match value? {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    match token {
        Some(t) => raw
            .parse::<u128>()
            .ok()
            .map(|units| format!("{} {}", format_units(units, t.decimals), t.symbol)),
        None => Some(raw),
    }
}

fn field_text(value: &Value) -> String {
    match value {
        Value::String(s) if as_account(value).is_some() => shorten(s),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `s` within `max` characters, cut at a word with "…" (the rule every channel's form uses).
fn truncate(s: String, max: usize) -> String {
    crate::message::cut_at_word(&s, max)
}

/// The sentence for a balance movement as seen from the trigger's account.
fn balance_text(
    trigger: &Trigger,
    envelope: &Envelope,
    token: Option<&TokenInfo>,
) -> Option<(String, String)> {
    let Some(Filter::Balance(rule)) = &trigger.filter else {
        return None;
    };
    let spec = known_event(&format!("{}.{}", envelope.pallet, envelope.event))?.balance?;
    let fields = &envelope.fields;
    let me = crate::ss58::AccountId::from_hex(&rule.account_hex)?;
    let is_me = |field: Option<&str>| {
        field
            .and_then(|f| fields.get(f))
            .and_then(as_account)
            .is_some_and(|a| a == me)
    };
    let incoming = match rule.direction {
        Direction::In => true,
        Direction::Out => false,
        Direction::Any => is_me(spec.incoming),
    };
    let amount = amount_text(fields.get(spec.amount), token)?;
    let (verb, preposition, other) = if incoming {
        ("Received", "from", spec.outgoing)
    } else {
        ("Sent", "to", spec.incoming)
    };
    let counterpart = other
        .and_then(|f| fields.get(f))
        .and_then(Value::as_str)
        .map(|a| format!(" {preposition} {}", shorten(a)))
        .unwrap_or_default();
    let title = format!("{verb} {amount}");
    let body = format!(
        "{verb} {amount}{counterpart} at block #{} on {}",
        envelope.block.number, envelope.chain
    );
    Some((title, body))
}

/// The sentence for any other event: its fields, in order, amounts in the token's units.
fn generic_text(envelope: &Envelope, token: Option<&TokenInfo>) -> (String, String) {
    let name = format!("{}.{}", envelope.pallet, envelope.event);
    let known = known_event(&name);
    let amount_field = known.and_then(|k| k.balance).map(|b| b.amount);
    // Known events list their fields in the metadata's order; others in the envelope's.
    let order = known.map(|k| k.fields).unwrap_or_default();
    let mut fields: Vec<(&String, &Value)> = envelope.fields.iter().collect();
    fields.sort_by_key(|(k, _)| order.iter().position(|f| f == k).unwrap_or(order.len()));
    let parts: Vec<String> = fields
        .into_iter()
        .map(|(k, v)| {
            let text = if Some(k.as_str()) == amount_field {
                amount_text(Some(v), token).unwrap_or_else(|| field_text(v))
            } else {
                field_text(v)
            };
            format!("{k} {text}")
        })
        .collect();
    let details = if parts.is_empty() {
        String::new()
    } else {
        format!(": {}", parts.join(", "))
    };
    let title = format!("{name} on {}", envelope.chain);
    let body = format!(
        "{name}{details} at block #{} on {}",
        envelope.block.number, envelope.chain
    );
    (title, body)
}

/// Fills an explorer URL template (`{chain}`, `{block}`).
pub fn explorer_link(template: &str, chain: &str, block: u64) -> Option<String> {
    if template.trim().is_empty() {
        return None;
    }
    Some(
        template
            .replace("{chain}", chain)
            .replace("{block}", &block.to_string()),
    )
}

impl Notification {
    /// The notification `trigger` sends for `envelope`.
    pub fn for_event(
        trigger: &Trigger,
        envelope: &Envelope,
        token: Option<&TokenInfo>,
        explorer_url: Option<&str>,
    ) -> Self {
        let (title, body) =
            balance_text(trigger, envelope, token).unwrap_or_else(|| generic_text(envelope, token));
        Notification {
            title: truncate(title, MAX_TITLE),
            body: truncate(body, MAX_BODY),
            url: explorer_url
                .and_then(|t| explorer_link(t, envelope.chain.as_str(), envelope.block.number)),
            tag: envelope.id.clone(),
            data: NotificationData {
                event_id: envelope.id.clone(),
                trigger: trigger.id.clone(),
                chain: envelope.chain.to_string(),
                block: envelope.block.number,
                event: format!("{}.{}", envelope.pallet, envelope.event),
                test: false,
            },
        }
    }

    /// The push payload: JSON within what a push message can carry (the body is shortened if
    /// the fields were long).
    pub fn payload(&self) -> Vec<u8> {
        let mut note = self.clone();
        loop {
            let bytes = serde_json::to_vec(&note).unwrap_or_default();
            if bytes.len() <= MAX_PLAINTEXT || note.body.chars().count() < 16 {
                return bytes;
            }
            let keep = note.body.chars().count() * 3 / 4;
            note.body = truncate(note.body, keep);
        }
    }
}

/// A made-up event for `POST /api/triggers/{id}/test`: the trigger's own event with fields that
/// make its filter match where that is easy to construct (the balance filter), so the person sees
/// what a real notification will look like.
pub fn test_envelope(trigger: &Trigger, ss58_prefix: u16, now_ms: u64) -> Envelope {
    let mut fields = Map::new();
    if let Some(Filter::Balance(rule)) = &trigger.filter {
        if let Some(spec) = known_event(&trigger.event.to_string()).and_then(|k| k.balance) {
            let me = rule.account.clone();
            let other = crate::ss58::AccountId([0u8; 32])
                .to_ss58(ss58_prefix)
                .unwrap_or_default();
            let (incoming, outgoing) = match rule.direction {
                Direction::Out => (other, me),
                _ => (me, other),
            };
            if let Some(f) = spec.outgoing {
                fields.insert(f.into(), Value::String(outgoing));
            }
            if let Some(f) = spec.incoming {
                fields.insert(f.into(), Value::String(incoming));
            }
            let amount = rule.min_units.clone().unwrap_or_else(|| "0".into());
            fields.insert(spec.amount.into(), Value::String(amount));
        }
    }
    Envelope {
        id: format!("0x{:064x}", now_ms),
        version: crate::envelope::ENVELOPE_VERSION,
        chain: trigger.chain.clone(),
        genesis_hash: format!("0x{}", "00".repeat(32)),
        block: crate::envelope::BlockRef {
            number: 0,
            hash: format!("0x{}", "00".repeat(32)),
        },
        event_index: 0,
        extrinsic_index: None,
        phase: "test".into(),
        pallet: trigger.event.pallet().into(),
        event: trigger.event.event().into(),
        spec_version: 0,
        fields,
        accounts: Vec::new(),
        asset: None,
        track: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::{BlockRef, ENVELOPE_VERSION};
    use crate::names::{ChainName, EventName};
    use serde_json::json;

    const ALICE: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
    const BOB: &str = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";
    const BOB_HEX: &str = "0x8eaf04151687736326c9fea17e25fc5287613693c912909cb226aa4794f26a48";

    fn pas() -> TokenInfo {
        TokenInfo {
            symbol: "PAS".into(),
            decimals: 10,
        }
    }

    fn trigger(filter: Option<Filter>) -> Trigger {
        serde_json::from_value(json!({
            "id": "trg_1", "source": "src_1", "chain": "paseo", "event": "Balances.Transfer",
            "topic": "paseo.Balances.Transfer", "filter": filter,
            "action": {"webhook": {"url": "https://h.example.com", "secret": "whsec_x"}},
            "brokers": [], "isJSONData": false, "isBinaryValue": false, "isBinaryKey": false,
            "status": {"active": true, "dateChanged": "t"}, "token_hash": "h", "created_at": "t"
        }))
        .expect("trigger")
    }

    fn bob_in() -> Filter {
        serde_json::from_value(json!({"balance": {"account": BOB, "account_hex": BOB_HEX,
            "direction": "in", "min": "1", "min_units": "10000000000"}}))
        .expect("filter")
    }

    fn transfer(amount: &str) -> Envelope {
        Envelope {
            id: format!("0x{}", "ab".repeat(32)),
            version: ENVELOPE_VERSION,
            chain: ChainName::parse("paseo").expect("chain"),
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
            fields: json!({"from": ALICE, "to": BOB, "amount": amount})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            accounts: Vec::new(),
            asset: None,
            track: None,
        }
    }

    #[test]
    fn balance_notifications_read_like_a_sentence() {
        let note = Notification::for_event(
            &trigger(Some(bob_in())),
            &transfer("125000000000"),
            Some(&pas()),
            Some("https://paseo.subscan.io/block/{block}?c={chain}"),
        );
        assert_eq!(note.title, "Received 12.5 PAS");
        assert_eq!(
            note.body,
            "Received 12.5 PAS from 5Grw…utQY at block #1234 on paseo"
        );
        assert_eq!(
            note.url.as_deref(),
            Some("https://paseo.subscan.io/block/1234?c=paseo")
        );
        let payload: Value = serde_json::from_slice(&note.payload()).expect("json");
        assert_eq!(payload["data"]["trigger"], "trg_1");
    }

    #[test]
    fn other_events_list_their_fields() {
        let note =
            Notification::for_event(&trigger(None), &transfer("10000000000"), Some(&pas()), None);
        assert_eq!(note.title, "Balances.Transfer on paseo");
        assert_eq!(
            note.body,
            "Balances.Transfer: from 5Grw…utQY, to 5FHn…94ty, amount 1 PAS at block #1234 on paseo"
        );
        assert_eq!(note.url, None);
    }

    #[test]
    fn payloads_fit_a_push_message() {
        let mut e = transfer("1");
        e.fields
            .insert("memo".into(), Value::String("x".repeat(10_000)));
        let note = Notification::for_event(&trigger(None), &e, None, None);
        assert!(note.payload().len() <= MAX_PLAINTEXT);
    }

    #[test]
    fn test_events_match_their_trigger() {
        let t = trigger(Some(bob_in()));
        let e = test_envelope(&t, 42, 7);
        let event = EventName::parse("Balances.Transfer").expect("event");
        assert!(t
            .filter
            .as_ref()
            .expect("filter")
            .matches(&event, &e.fields));
    }
}
