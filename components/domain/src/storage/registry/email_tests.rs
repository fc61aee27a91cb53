use serde_json::{json, Value};

use super::*;
use crate::channel::email::{unsubscribed_trigger, CONFIRM_TTL_MS};
use crate::kv::MemoryStore;
use crate::registry::Caller;
use crate::source::Source;
use crate::vault::TEST_KEYRING;

const NOW: &str = "2025-01-01T00:00:00.000Z";
const NOW_MS: u64 = 1_735_689_600_000;

fn source(reg: &Registry<'_, MemoryStore>) -> Source {
    let req = serde_json::from_value(json!({"chain": "paseo", "rpc": ["ws://127.0.0.1:9944"],
        "events": ["Balances.Transfer"], "token": {"symbol": "PAS", "decimals": 10}}))
    .expect("shape");
    reg.create_source(req, NOW).expect("source")
}

fn create(reg: &Registry<'_, MemoryStore>, src: &Source, address: &str) -> (Trigger, String) {
    let body = json!({"source": src.id, "event": "Balances.Transfer",
                      "action": {"email": {"address": address}}});
    let created = reg
        .create_trigger(serde_json::from_value(body).expect("shape"), NOW)
        .expect("trigger");
    (created.trigger, created.token)
}

fn code_of(t: &Trigger) -> String {
    waiting(t).expect("a pending code").code.clone()
}

fn confirm_keys(kv: &MemoryStore) -> Vec<String> {
    kv.keys()
        .into_iter()
        .filter(|k| k.starts_with("email/confirm/"))
        .collect()
}

#[test]
fn a_code_confirms_once_and_gives_the_unsubscribe_token() {
    let kv = MemoryStore::default();
    let reg = Registry::new(&kv, &TEST_KEYRING);
    let src = source(&reg);
    let (t, _) = create(&reg, &src, "p@example.com");
    let code = code_of(&t);
    assert_eq!(confirm_keys(&kv), vec![confirm_key(&code)]);
    assert!(
        !confirm_keys(&kv)[0].contains(&code),
        "the key holds the hash"
    );
    assert_eq!(t.view()["action"]["email"]["confirmed"], false);
    assert_eq!(reg.confirm_email("unknown", NOW_MS).expect("ok"), None);
    let done = reg
        .confirm_email(&code, NOW_MS + 1)
        .expect("ok")
        .expect("confirmed");
    let Action::Email(e) = &done.action else {
        panic!("email")
    };
    assert!(e.confirmed && e.pending.is_none());
    let token = e.unsubscribe.clone().expect("token");
    assert_eq!(
        unsubscribed_trigger(&TEST_KEYRING, &token),
        Some(t.id.clone())
    );
    let stored = reg.trigger(&t.id, Caller::Operator).expect("stored");
    assert_eq!(stored.view()["action"]["email"]["confirmed"], true);
    assert!(confirm_keys(&kv).is_empty());
    // Used: a second opening confirms nothing.
    assert_eq!(reg.confirm_email(&code, NOW_MS + 2).expect("ok"), None);
}

#[test]
fn expired_replaced_and_deleted_codes_confirm_nothing() {
    let kv = MemoryStore::default();
    let reg = Registry::new(&kv, &TEST_KEYRING);
    let src = source(&reg);
    let (t, token) = create(&reg, &src, "p@example.com");
    let code = code_of(&t);
    assert_eq!(
        reg.confirm_email(&code, NOW_MS + CONFIRM_TTL_MS)
            .expect("ok"),
        None
    );
    assert!(confirm_keys(&kv).is_empty(), "an expired entry is deleted");

    let (t, token2) = create(&reg, &src, "q@example.com");
    let first = code_of(&t);
    // Another address: a new code, the old one retired.
    let patch: Value = json!({"action": {"email": {"address": "r@example.com"}}});
    let changed = reg
        .patch_trigger(
            &t.id,
            token2.as_str(),
            serde_json::from_value(patch).expect("shape"),
            NOW,
        )
        .expect("patch");
    let second = code_of(&changed.trigger);
    assert_ne!(first, second);
    assert_eq!(reg.confirm_email(&first, NOW_MS).expect("ok"), None);
    // The same address again keeps the code.
    let patch: Value = json!({"action": {"email": {"address": "r@example.com"}}});
    let kept = reg
        .patch_trigger(
            &t.id,
            token2.as_str(),
            serde_json::from_value(patch).expect("shape"),
            NOW,
        )
        .expect("patch");
    assert_eq!(code_of(&kept.trigger), second);
    reg.delete_trigger(&t.id, token2.as_str()).expect("delete");
    assert_eq!(reg.confirm_email(&second, NOW_MS).expect("ok"), None);
    let _ = token;
    assert!(confirm_keys(&kv).is_empty());
}
