//! The registry keeps its promises under change: secrets made by a change are handed back once,
//! and index lists hold no ids of deleted triggers (see also `limits::expiry` for rate windows).

use super::*;
use crate::kv::MemoryStore;
use crate::kv_testing::{Around, Write};
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
        _ => None,
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

/// Another request's work, run on the inner store.
type Interleaved<'h> = Box<dyn FnOnce(&MemoryStore) + 'h>;

/// A store that runs `hook` on the inner store just before the first write of `key` that `when`
/// picks: a second request's work, interleaved at that point.
fn interleaved<'h>(
    inner: &'h MemoryStore,
    key: String,
    when: fn(&Write<'_>) -> bool,
    hook: Interleaved<'h>,
) -> Around<'h> {
    let hook = std::cell::RefCell::new(Some(hook));
    Around {
        inner,
        on_write: Box::new(move |kv, write| {
            if write.key() == key && when(&write) {
                let hook = hook.borrow_mut().take();
                if let Some(hook) = hook {
                    hook(kv);
                }
            }
            write.apply(kv)
        }),
    }
}

fn is_delete(write: &Write<'_>) -> bool {
    matches!(write, Write::Delete { .. })
}

fn is_set_or_swap(write: &Write<'_>) -> bool {
    !is_delete(write)
}

const ALICE: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
const BOB_HEX: &str = "0x8eaf04151687736326c9fea17e25fc5287613693c912909cb226aa4794f26a48";

#[test]
fn a_delete_racing_a_move_leaves_no_id_that_counts_towards_the_cap() {
    let kv = MemoryStore::default();
    let caps = crate::limits::Caps {
        per_account: 1,
        any_account: 16,
    };
    let reg = Registry::new(&kv, &TEST_KEYRING).with_caps(caps);
    let src = source(&reg);
    let alice = reg
        .create_trigger(
            new_trigger(&src, ALICE, hook("https://h.example.com")),
            "t1",
        )
        .expect("create");
    let id = alice.trigger.id.clone();
    let topic = alice.trigger.topic.clone();
    let bob_list = crate::keys::account_index(&topic, BOB_HEX);

    // DELETE reads the trigger (at Alice) and takes its id out of Alice's list; before it deletes
    // the record, a PATCH moves the trigger to Bob: the PATCH enters Bob's list and leaves
    // Alice's. Then the DELETE deletes the record. Bob's list holds the id of a deleted trigger.
    let racing = interleaved(
        &kv,
        crate::keys::trigger(&id),
        is_delete,
        Box::new({
            let (id, token) = (id.clone(), alice.token.clone());
            move |inner: &MemoryStore| {
                let to_bob: TriggerPatch =
                    serde_json::from_value(json!({"filter": {"balance": {"account": BOB}}}))
                        .expect("patch");
                Registry::new(inner, &TEST_KEYRING)
                    .with_caps(caps)
                    .patch_trigger(&id, &token, to_bob, "t2")
                    .expect("the racing move");
            }
        }),
    );
    Registry::new(&racing, &TEST_KEYRING)
        .with_caps(caps)
        .delete_trigger(&id, &alice.token)
        .expect("delete");
    assert!(reg.trigger(&id, Caller::Operator).is_err(), "deleted");
    assert!(
        reg.index_ids(&bob_list).expect("ix").contains(&id),
        "the race left its id"
    );

    // Bob's list holds one id, its cap, but no live trigger: a create for Bob is admitted, and
    // the dead id is dropped in the same compare-and-swap.
    let bob = reg
        .create_trigger(new_trigger(&src, BOB, hook("https://h.example.com")), "t3")
        .expect("the dead id does not count towards the cap");
    assert_eq!(
        reg.index_ids(&bob_list).expect("ix"),
        BTreeSet::from([bob.trigger.id.clone()])
    );
    // The cap still holds for live ids.
    let e = reg
        .create_trigger(new_trigger(&src, BOB, hook("https://h.example.com")), "t4")
        .expect_err("full");
    assert_eq!(e.code, ErrorCode::TooManyTriggers);
}

#[test]
fn any_account_shards_full_of_dead_ids_still_take_new_triggers() {
    let kv = MemoryStore::default();
    let caps = crate::limits::Caps {
        per_account: 1,
        any_account: 16,
    };
    let reg = Registry::new(&kv, &TEST_KEYRING).with_caps(caps);
    let src = source(&reg);
    let any = || -> NewTrigger {
        serde_json::from_value(json!({"source": src.id, "event": "Balances.Transfer",
            "action": hook("https://h.example.com")}))
        .expect("shape")
    };
    let made: Vec<String> = (0..16)
        .map(|_| reg.create_trigger(any(), "t1").expect("create").trigger.id)
        .collect();
    assert!(
        reg.create_trigger(any(), "t1").is_err(),
        "the topic is full"
    );
    // Records lost without their index entries (as a racing delete leaves them).
    for id in &made {
        kv.delete(&crate::keys::trigger(id)).expect("delete");
    }
    for _ in 0..16 {
        reg.create_trigger(any(), "t2")
            .expect("dead ids do not count");
    }
    assert!(
        reg.create_trigger(any(), "t3").is_err(),
        "full of live ones"
    );
}

#[test]
fn a_patch_racing_a_delete_never_brings_the_trigger_back() {
    let kv = MemoryStore::default();
    let reg = Registry::new(&kv, &TEST_KEYRING);
    let src = source(&reg);
    let alice = reg
        .create_trigger(
            new_trigger(&src, ALICE, hook("https://h.example.com")),
            "t1",
        )
        .expect("create");
    let id = alice.trigger.id.clone();
    let bob_list = crate::keys::account_index(&alice.trigger.topic, BOB_HEX);

    // A PATCH moving the trigger to Bob has read it and entered Bob's list; before it writes the
    // record, the owner's DELETE runs to the end.
    let racing = interleaved(
        &kv,
        crate::keys::trigger(&id),
        is_set_or_swap,
        Box::new({
            let (id, token) = (id.clone(), alice.token.clone());
            move |inner: &MemoryStore| {
                Registry::new(inner, &TEST_KEYRING)
                    .delete_trigger(&id, &token)
                    .expect("the racing delete");
            }
        }),
    );
    let to_bob: TriggerPatch =
        serde_json::from_value(json!({"filter": {"balance": {"account": BOB}}})).expect("patch");
    let e = Registry::new(&racing, &TEST_KEYRING)
        .patch_trigger(&id, &alice.token, to_bob, "t2")
        .expect_err("the trigger is gone");
    assert_eq!((e.code, e.status()), (ErrorCode::Conflict, 409));
    assert!(reg.trigger(&id, Caller::Operator).is_err(), "still deleted");
    assert!(reg.index_ids(&bob_list).expect("ix").is_empty());
    assert!(reg
        .lookup(&alice.trigger.topic, &[BOB_HEX.into()])
        .expect("lookup")
        .is_empty());
}
