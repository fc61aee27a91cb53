//! The registry on an in-memory store: layout, ownership, operation counts and caps.

use super::*;
use crate::kv::{Counting, MemoryStore};
use crate::trigger::TriggerPatch;
use crate::vault::TEST_KEYRING;
use serde_json::json;

const BOB: &str = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";
const ALICE: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
const BOB_HEX: &str = "0x8eaf04151687736326c9fea17e25fc5287613693c912909cb226aa4794f26a48";

fn source(reg: &Registry<'_, impl KeyValue>) -> Source {
    let req = serde_json::from_value(json!({"chain": "paseo", "rpc": ["ws://127.0.0.1:9944"],
        "events": ["Balances.Transfer", "Staking.EraPaid"], "token": {"symbol": "PAS", "decimals": 10}}))
    .expect("shape");
    reg.create_source(req, "t0").expect("source")
}

fn trigger(reg: &Registry<'_, impl KeyValue>, src: &Source, filter: Value) -> CreatedTrigger {
    let mut body = json!({"source": src.id, "event": "Balances.Transfer",
                          "action": {"webhook": {"url": "https://h.example.com"}}});
    if !filter.is_null() {
        body["filter"] = filter;
    }
    reg.create_trigger(serde_json::from_value(body).expect("shape"), "t1")
        .expect("trigger")
}

#[test]
fn lookups_find_account_and_any_triggers_only() {
    let kv = MemoryStore::default();
    let reg = Registry::new(&kv, &TEST_KEYRING);
    let src = source(&reg);
    let mine = trigger(&reg, &src, json!({"balance": {"account": BOB}}));
    let everyone = trigger(&reg, &src, Value::Null);
    let topic = crate::names::EventName::parse("Balances.Transfer")
        .expect("e")
        .topic(&src.chain);
    let found: Vec<String> = reg
        .lookup(&topic, &[BOB_HEX.into()])
        .expect("lookup")
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert!(found.contains(&mine.trigger.id) && found.contains(&everyone.trigger.id));
    let others = reg.lookup(&topic, &["0x00".into()]).expect("lookup");
    assert_eq!(others.len(), 1);
    assert_eq!(others[0].id, everyone.trigger.id);
}

#[test]
fn tokens_guard_triggers_and_deletes_clean_up() {
    let kv = MemoryStore::default();
    let reg = Registry::new(&kv, &TEST_KEYRING);
    let src = source(&reg);
    let created = trigger(&reg, &src, json!({"balance": {"account": BOB}}));
    let id = &created.trigger.id;
    assert_eq!(
        reg.trigger(id, "atk_wrong").expect_err("wrong").code,
        ErrorCode::Unauthorized
    );
    assert_eq!(
        reg.trigger("trg_nope", &created.token)
            .expect_err("absent")
            .code,
        ErrorCode::NotFound
    );
    // The operator moderates: reads and pauses any trigger without its token.
    assert_eq!(reg.trigger(id, Caller::Operator).expect("operator").id, *id);
    let paused: TriggerPatch = serde_json::from_value(json!({"active": false})).expect("patch");
    let patched = reg
        .patch_trigger(id, Caller::Operator, paused, "2026-01-02T00:00:00Z")
        .expect("operator patch");
    assert!(!patched.status.active);
    assert_eq!(
        reg.trigger("trg_nope", Caller::Operator)
            .expect_err("absent")
            .code,
        ErrorCode::NotFound
    );
    // Triggers pin their source's events.
    let err = reg.delete_source(&src.id).expect_err("watched");
    assert_eq!(err.code, ErrorCode::Conflict);
    reg.delete_trigger(id, &created.token).expect("delete");
    reg.delete_source(&src.id).expect("delete source");
    let records: Vec<String> = kv
        .keys()
        .into_iter()
        .filter(|k| k.starts_with("source/") || k.starts_with("trigger/"))
        .collect();
    assert!(records.is_empty(), "{records:?}");
    let topic = &created.trigger.topic;
    assert!(reg
        .index_ids(&keys::account_index(topic, BOB_HEX))
        .expect("ix")
        .is_empty());
    assert_eq!(
        kv.get("chain/paseo").expect("claim"),
        Some(Vec::new()),
        "the chain name is released"
    );
}

#[test]
fn chain_names_are_unique() {
    let kv = MemoryStore::default();
    let reg = Registry::new(&kv, &TEST_KEYRING);
    source(&reg);
    let req =
        serde_json::from_value(json!({"chain": "paseo", "rpc": ["ws://x"], "events": ["A.B"]}))
            .expect("shape");
    let err = reg.create_source(req, "t").expect_err("dup");
    assert_eq!(
        (err.code, err.field.as_deref()),
        (ErrorCode::Conflict, Some("chain"))
    );
}

/// A store whose compare-and-swap does not guard absent keys, like Spin's sqlite backend.
struct LaxStore(MemoryStore);

impl KeyValue for LaxStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.0.get(key)
    }
    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        self.0.get_many(keys)
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.0.set(key, value)
    }
    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.0.delete(key)
    }
    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        value: &[u8],
    ) -> Result<bool, StoreError> {
        match expected {
            None => self.0.set(key, value).map(|()| true),
            Some(_) => self.0.compare_and_swap(key, expected, value),
        }
    }
    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        self.0.increment(key, delta)
    }
    fn list_keys(&self) -> Result<Vec<String>, StoreError> {
        self.0.list_keys()
    }
}

#[test]
fn only_one_request_creates_a_fresh_key_even_on_a_lax_store() {
    let kv = LaxStore(MemoryStore::default());
    let reg = Registry::new(&kv, &TEST_KEYRING);
    // Another request was elected to create the key and is about to write it.
    kv.increment(&keys::creation_claim("ix/k"), 1)
        .expect("claim");
    kv.set("ix/k", br#"["trg_other"]"#).expect("set");
    reg.update_list("ix/k", "trg_mine", true).expect("update");
    let ids = reg.index_ids("ix/k").expect("ids");
    assert_eq!(
        ids.into_iter().collect::<Vec<_>>(),
        ["trg_mine", "trg_other"]
    );
    // An elected creator that never wrote does not block others for ever.
    kv.increment(&keys::creation_claim("ix/dead"), 1)
        .expect("claim");
    reg.update_list("ix/dead", "trg_mine", true)
        .expect("fallback");
    assert!(reg.index_ids("ix/dead").expect("ids").contains("trg_mine"));
}

#[test]
fn moving_a_filter_moves_the_index_entry() {
    let kv = MemoryStore::default();
    let reg = Registry::new(&kv, &TEST_KEYRING);
    let src = source(&reg);
    let created = trigger(&reg, &src, json!({"balance": {"account": BOB}}));
    let topic = created.trigger.topic.clone();
    let patch = serde_json::from_value(json!({"filter": null})).expect("shape");
    reg.patch_trigger(&created.trigger.id, &created.token, patch, "t2")
        .expect("patch");
    assert!(reg
        .index_ids(&keys::account_index(&topic, BOB_HEX))
        .expect("ix")
        .is_empty());
    let shard = keys::any_index(&topic, keys::any_shard(&created.trigger.id));
    assert!(reg
        .index_ids(&shard)
        .expect("ix")
        .contains(&created.trigger.id));
}

#[test]
fn operation_counts_stay_constant() {
    let kv = Counting::new(MemoryStore::default());
    let reg = Registry::new(&kv, &TEST_KEYRING);
    let src = source(&reg);
    for _ in 0..50 {
        trigger(&reg, &src, json!({"balance": {"account": BOB}}));
    }
    kv.reset();
    trigger(&reg, &src, json!({"balance": {"account": BOB}}));
    assert_eq!(
        kv.counts(),
        (3, 3),
        "create: read source, index, its ids' records (dead ids drop out); write record, index, count"
    );
    kv.reset();
    trigger(&reg, &src, json!({"balance": {"account": ALICE}}));
    assert_eq!(
        kv.counts(),
        (2, 4),
        "a fresh index key also takes its creation claim"
    );
    kv.reset();
    let topic = src.topics()["Balances.Transfer"].clone();
    assert_eq!(
        reg.lookup(&topic, &[BOB_HEX.into()]).expect("lookup").len(),
        51
    );
    assert_eq!(
        kv.counts(),
        (2, 0),
        "lookup: one get-many of indexes, one of records"
    );
}

fn try_trigger(
    reg: &Registry<'_, impl KeyValue>,
    src: &Source,
    filter: Value,
) -> ApiResult<CreatedTrigger> {
    let mut body = json!({"source": src.id, "event": "Balances.Transfer",
                          "action": {"webhook": {"url": "https://h.example.com"}}});
    if !filter.is_null() {
        body["filter"] = filter;
    }
    reg.create_trigger(serde_json::from_value(body).expect("shape"), "t1")
}

fn records(kv: &MemoryStore) -> usize {
    kv.keys()
        .iter()
        .filter(|k| k.starts_with("trigger/"))
        .count()
}

fn any_ids(reg: &Registry<'_, impl KeyValue>, topic: &Topic) -> usize {
    keys::any_indexes(topic)
        .map(|k| reg.index_ids(&k).expect("ix").len())
        .sum()
}

#[test]
fn a_full_account_list_refuses_and_stores_nothing_until_one_is_deleted() {
    let kv = MemoryStore::default();
    let caps = Caps {
        per_account: 2,
        any_account: 100,
    };
    let reg = Registry::new(&kv, &TEST_KEYRING).with_caps(caps);
    let src = source(&reg);
    let bob = json!({"balance": {"account": BOB}});
    let first = trigger(&reg, &src, bob.clone());
    trigger(&reg, &src, bob.clone());
    let err = try_trigger(&reg, &src, bob.clone()).expect_err("full");
    assert_eq!(
        (err.code, err.status(), err.field.as_deref()),
        (
            ErrorCode::TooManyTriggers,
            429,
            Some("filter.balance.account")
        )
    );
    assert!(err.headers.iter().any(|(n, _)| *n == "retry-after"));
    let topic = first.trigger.topic.clone();
    let ix = keys::account_index(&topic, BOB_HEX);
    assert_eq!(reg.index_ids(&ix).expect("ix").len(), 2);
    assert_eq!(records(&kv), 2, "the refused trigger left no record");
    assert_eq!(
        kv.get(&keys::topic_count(&topic)).expect("count"),
        Some(2i64.to_le_bytes().to_vec())
    );
    // Other accounts have their own lists.
    trigger(&reg, &src, json!({"balance": {"account": ALICE}}));
    // Deleting one frees its slot.
    reg.delete_trigger(&first.trigger.id, &first.token)
        .expect("delete");
    trigger(&reg, &src, bob);
    assert_eq!(reg.index_ids(&ix).expect("ix").len(), 2);
}

#[test]
fn moving_into_a_full_list_is_refused_and_changes_nothing() {
    let kv = MemoryStore::default();
    let reg = Registry::new(&kv, &TEST_KEYRING).with_caps(Caps {
        per_account: 1,
        any_account: 100,
    });
    let src = source(&reg);
    trigger(&reg, &src, json!({"balance": {"account": BOB}}));
    let alice = trigger(&reg, &src, json!({"balance": {"account": ALICE}}));
    let to_bob: TriggerPatch =
        serde_json::from_value(json!({"filter": {"balance": {"account": BOB}}})).expect("patch");
    let err = reg
        .patch_trigger(&alice.trigger.id, &alice.token, to_bob, "t2")
        .expect_err("full");
    assert_eq!((err.status(), err.code), (429, ErrorCode::TooManyTriggers));
    let stored = reg
        .trigger(&alice.trigger.id, Caller::Operator)
        .expect("read");
    assert_eq!(stored, alice.trigger, "the trigger is unchanged");
    let topic = &alice.trigger.topic;
    assert_eq!(
        reg.lookup(topic, &[BOB_HEX.into()]).expect("lookup").len(),
        1
    );
    // A change that stays in its list needs no room.
    let min: TriggerPatch =
        serde_json::from_value(json!({"filter": {"balance": {"account": ALICE, "min": "2"}}}))
            .expect("patch");
    reg.patch_trigger(&alice.trigger.id, &alice.token, min, "t3")
        .expect("same list");
}

#[test]
fn any_account_triggers_fill_the_topic_cap_across_shards_exactly() {
    let kv = MemoryStore::default();
    // 5 over 16 shards: only shards 0-4 hold one each, so creates must draw ids into them.
    let reg = Registry::new(&kv, &TEST_KEYRING).with_caps(Caps {
        per_account: 100,
        any_account: 5,
    });
    let src = source(&reg);
    let mut made = Vec::new();
    for _ in 0..5 {
        made.push(trigger(&reg, &src, Value::Null));
    }
    let topic = made[0].trigger.topic.clone();
    for t in &made {
        assert!(keys::any_shard(&t.trigger.id) < 5, "{}", t.trigger.id);
    }
    let err = try_trigger(&reg, &src, Value::Null).expect_err("full");
    assert_eq!(
        (err.code, err.field.as_deref()),
        (ErrorCode::TooManyTriggers, Some("filter"))
    );
    assert_eq!((any_ids(&reg, &topic), records(&kv)), (5, 5));
    reg.delete_trigger(&made[0].trigger.id, &made[0].token)
        .expect("delete");
    trigger(&reg, &src, Value::Null);
    assert_eq!(any_ids(&reg, &topic), 5);
}

#[test]
fn concurrent_creates_never_take_a_list_past_its_cap() {
    let kv = MemoryStore::default();
    let caps = Caps {
        per_account: 5,
        any_account: 7,
    };
    let reg = Registry::new(&kv, &TEST_KEYRING).with_caps(caps);
    let src = source(&reg);
    let (accepted, refused) = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..40)
            .map(|i| {
                let (reg, src) = (&reg, &src);
                scope.spawn(move || {
                    let filter = if i % 2 == 0 {
                        json!({"balance": {"account": BOB}})
                    } else {
                        Value::Null
                    };
                    try_trigger(reg, src, filter)
                })
            })
            .collect();
        let results: Vec<_> = handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect();
        let refused = results
            .iter()
            .filter(|r| {
                r.as_ref()
                    .is_err_and(|e| e.code == ErrorCode::TooManyTriggers)
            })
            .count();
        (results.iter().filter(|r| r.is_ok()).count(), refused)
    });
    assert_eq!((accepted, refused), (12, 28));
    let topic = crate::names::EventName::parse("Balances.Transfer")
        .expect("e")
        .topic(&src.chain);
    let ix = keys::account_index(&topic, BOB_HEX);
    assert_eq!(reg.index_ids(&ix).expect("ix").len(), 5);
    assert_eq!(any_ids(&reg, &topic), 7);
    assert_eq!(records(&kv), 12);
}

/// Whether any stored value contains `needle`.
fn store_contains(kv: &MemoryStore, needle: &str) -> bool {
    kv.entries()
        .iter()
        .any(|(_, v)| String::from_utf8_lossy(v).contains(needle))
}

#[test]
fn actions_are_stored_sealed_and_a_rotation_reseals_every_record() {
    use crate::vault::Keyring;
    let key = |b: u8| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [b; 32]);
    let old = Keyring::parse(&format!("k1:{}", key(1))).expect("k1");
    let kv = MemoryStore::default();
    let reg = Registry::new(&kv, &old);
    let src = source(&reg);
    let hooks: Vec<CreatedTrigger> = (0..3).map(|_| trigger(&reg, &src, Value::Null)).collect();
    let secret = hooks[0].trigger.action.clone();
    let crate::action::Action::Webhook(hook) = secret else {
        panic!("a webhook")
    };
    assert!(!store_contains(&kv, &hook.secret) && !store_contains(&kv, "h.example.com"));
    // A record from before encryption: the action in the clear.
    let mut legacy = hooks[2].trigger.clone();
    legacy.id = "trg_legacy".into();
    kv.set(
        &keys::trigger(&legacy.id),
        &cas::encode(&legacy).expect("json"),
    )
    .expect("set");

    let rotated = Keyring::parse(&format!("k2:{},k1:{}", key(2), key(1))).expect("k2,k1");
    let reg = Registry::new(&kv, &rotated);
    let read = reg
        .trigger(&hooks[0].trigger.id, Caller::Operator)
        .expect("k1 still opens");
    assert_eq!(read.action, hooks[0].trigger.action);
    let page = |after: Option<&str>, limit| ResealPage {
        after: after.map(str::to_owned),
        limit,
    };
    let first = reg.reseal_triggers(&page(None, 3)).expect("page 1");
    assert_eq!((first.examined, first.resealed), (3, 3));
    let second = reg
        .reseal_triggers(&page(first.next.as_deref(), 3))
        .expect("page 2");
    assert_eq!(
        (second.examined, second.resealed, second.next),
        (1, 1, None)
    );
    assert!(
        !store_contains(&kv, "h.example.com"),
        "the legacy record too"
    );
    let again = reg.reseal_triggers(&page(None, 100)).expect("again");
    assert_eq!((again.examined, again.resealed), (4, 0));

    // Only the new key is needed now.
    let new_only = Keyring::parse(&format!("k2:{}", key(2))).expect("k2");
    let reg = Registry::new(&kv, &new_only);
    for t in hooks.iter().map(|c| &c.trigger).chain([&legacy]) {
        assert_eq!(
            reg.trigger(&t.id, Caller::Operator).expect("opens").action,
            t.action
        );
    }
}

#[test]
fn reencrypt_pages_parse_and_refuse_by_name() {
    use super::{ResealPage, RESEAL_DEFAULT_LIMIT};
    assert_eq!(
        ResealPage::parse("").expect("empty"),
        ResealPage {
            after: None,
            limit: RESEAL_DEFAULT_LIMIT
        }
    );
    let page = ResealPage::parse("after=trg_00ff&limit=5").expect("both");
    assert_eq!((page.after.as_deref(), page.limit), (Some("trg_00ff"), 5));
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=x", "limit"),
        ("after=", "after"),
        ("after=trg/..", "after"),
        ("cursor=1", "cursor"),
    ] {
        let e = ResealPage::parse(query).expect_err(query);
        assert_eq!(e.field.as_deref(), Some(field), "{query}");
        assert!(
            e.status() == 422 || e.status() == 400,
            "{query}: {}",
            e.status()
        );
    }
}

#[test]
fn of_many_ingestors_asking_at_once_exactly_one_takes_the_lease() {
    use crate::lease::LeaseRequest;
    let kv = LaxStore(MemoryStore::default());
    let reg = Registry::new(&kv, &TEST_KEYRING);
    let src = source(&reg);
    let ask = |holder: String| LeaseRequest {
        holder,
        ttl_ms: 10_000,
        progress: None,
    };
    let winners: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..24)
            .map(|i| {
                let (reg, src) = (&reg, &src);
                scope.spawn(move || {
                    let holder = format!("host-{i}");
                    reg.take_lease(&src.id, &ask(holder.clone()), 1_000)
                        .ok()
                        .map(|_| holder)
                })
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|h| h.join().expect("thread"))
            .collect()
    });
    assert_eq!(winners.len(), 1, "{winners:?}");
    let view = reg.lease(&src.id, 2_000).expect("lease");
    assert_eq!(view["holder"], json!(winners[0]));
    assert_eq!(view["chain"], "paseo");
    let other = reg
        .take_lease(&src.id, &ask("late".into()), 2_000)
        .expect_err("held");
    assert_eq!(other.code, ErrorCode::Conflict);
    let mut let_go = ask(winners[0].clone());
    let_go.ttl_ms = 0;
    reg.take_lease(&src.id, &let_go, 3_000).expect("release");
    assert_eq!(
        reg.lease(&src.id, 3_000).expect("free")["holder"],
        Value::Null
    );
    reg.take_lease(&src.id, &ask("late".into()), 3_000)
        .expect("free again");
    assert_eq!(
        reg.lease("src_nope", 3_000).expect_err("no source").code,
        ErrorCode::NotFound
    );
}
