//! The registry keeps its promises under change: secrets made by a change are handed back once,
//! and index lists hold no ids of deleted triggers (see also `limits::expiry` for rate windows).

use super::*;
use crate::kv::MemoryStore;
use crate::trigger::{NewTrigger, TriggerPatch};
use crate::vault::TEST_KEYRING;
use serde_json::json;

const BOB: &str = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";
// RFC 8291 Appendix A's user agent keys.
const P256DH: &str =
    "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
const AUTH: &str = "BTBZMqHH6r4Tts7J_aSIgg";

fn source(reg: &Registry<'_, impl KeyValue>) -> Source {
    let req = serde_json::from_value(json!({"chain": "paseo", "rpc": ["ws://127.0.0.1:9944"],
        "events": ["Balances.Transfer"], "token": {"symbol": "PAS", "decimals": 10}}))
    .expect("shape");
    reg.create_source(req, "t0").expect("source")
}

fn push() -> Value {
    json!({"web_push": {"endpoint": "https://push.example.net/sub/1",
                        "keys": {"p256dh": P256DH, "auth": AUTH}}})
}

fn hook(url: &str) -> Value {
    json!({"webhook": {"url": url}})
}

fn new_trigger(src: &Source, account: &str, action: Value) -> NewTrigger {
    serde_json::from_value(json!({"source": src.id, "event": "Balances.Transfer",
        "filter": {"balance": {"account": account}}, "action": action}))
    .expect("shape")
}

fn stored_secret(reg: &Registry<'_, impl KeyValue>, id: &str) -> Option<String> {
    match reg.trigger(id, Caller::Operator).expect("read").action {
        crate::action::Action::Webhook(h) => Some(h.secret),
        crate::action::Action::WebPush(_) => None,
    }
}

#[test]
fn a_push_trigger_switched_to_a_webhook_hands_back_its_new_secret_once() {
    let kv = MemoryStore::default();
    let reg = Registry::new(&kv, &TEST_KEYRING);
    let src = source(&reg);
    let created = reg
        .create_trigger(new_trigger(&src, BOB, push()), "t1")
        .expect("create");
    let id = &created.trigger.id;

    // PATCH push → webhook: the answer carries the secret the record now holds.
    let patch: TriggerPatch =
        serde_json::from_value(json!({"action": hook("https://h.example.com/a")})).expect("p");
    let changed = reg
        .patch_trigger(id, &created.token, patch, "t2")
        .expect("patch");
    let secret = changed
        .new_secret
        .clone()
        .expect("the new secret is handed back");
    assert!(secret.starts_with("whsec_"), "{secret}");
    assert_eq!(stored_secret(&reg, id).as_deref(), Some(secret.as_str()));

    // webhook → webhook (another URL) keeps the secret, and does not show it again.
    let patch: TriggerPatch =
        serde_json::from_value(json!({"action": hook("https://h.example.com/b")})).expect("p");
    let changed = reg
        .patch_trigger(id, &created.token, patch, "t3")
        .expect("patch");
    assert_eq!(changed.new_secret, None);
    assert_eq!(stored_secret(&reg, id).as_deref(), Some(secret.as_str()));

    // PUT back to push, then PUT to a webhook again: a new secret, handed back once.
    let back = reg
        .replace_trigger(id, &created.token, new_trigger(&src, BOB, push()), "t4")
        .expect("put");
    assert_eq!(back.new_secret, None);
    let again = reg
        .replace_trigger(
            id,
            &created.token,
            new_trigger(&src, BOB, hook("https://h.example.com/c")),
            "t5",
        )
        .expect("put");
    let newer = again.new_secret.clone().expect("a new secret");
    assert_ne!(newer, secret);
    assert_eq!(stored_secret(&reg, id), Some(newer));
}
