//! Sources and triggers in a key-value store, with the layout of [`crate::keys`]: creation,
//! ownership checks, indexes for dispatch, and the guards that keep sources and triggers consistent.

use std::collections::BTreeSet;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::cas::{self, decode, encode};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::keys;
use crate::kv::{decode_counter, KeyValue, StoreError};
use crate::names::Topic;
use crate::secrets;
use crate::source::{NewSource, Source, SourcePatch};
use crate::trigger::{Minted, NewTrigger, Trigger, TriggerPatch};

pub use crate::cas::MAX_CAS_ATTEMPTS;

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::internal(e.to_string())
    }
}

/// A created trigger and the secrets shown once.
#[derive(Debug)]
pub struct CreatedTrigger {
    /// The stored trigger.
    pub trigger: Trigger,
    /// The management token.
    pub token: String,
}

/// Who asks for a trigger: the holder of its management token, or the operator (who may read,
/// pause and remove any trigger, to moderate a public API).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller<'a> {
    /// The bearer of this management token.
    Owner(&'a str),
    /// The operator (`admin_token`).
    Operator,
}

impl<'a> From<&'a str> for Caller<'a> {
    fn from(token: &'a str) -> Self {
        Caller::Owner(token)
    }
}

impl<'a> From<&'a String> for Caller<'a> {
    fn from(token: &'a String) -> Self {
        Caller::Owner(token)
    }
}

/// Sources and triggers over a store.
pub struct Registry<'a, S: KeyValue + ?Sized> {
    kv: &'a S,
}

fn index_key(t: &Trigger) -> String {
    match t.filter.as_ref().and_then(|f| f.indexed_account()) {
        Some(account) => keys::account_index(&t.topic, account),
        None => keys::any_index(&t.topic, keys::any_shard(&t.id)),
    }
}

impl<'a, S: KeyValue + ?Sized> Registry<'a, S> {
    /// A registry over `kv`.
    pub fn new(kv: &'a S) -> Self {
        Self { kv }
    }

    fn read<T: DeserializeOwned>(&self, key: &str) -> ApiResult<Option<T>> {
        self.kv.get(key)?.map(|b| decode(key, &b)).transpose()
    }

    /// Adds or removes `id` in the id list under `key`, retrying lost compare-and-swap races.
    /// Lists are never deleted (an emptied list stays as `[]`), so after its creation every
    /// change to a list is a compare-and-swap on an existing value.
    fn update_list(&self, key: &str, id: &str, add: bool) -> ApiResult<()> {
        cas::update(self.kv, key, |ids: &mut BTreeSet<String>| {
            let changed = if add {
                ids.insert(id.to_owned())
            } else {
                ids.remove(id)
            };
            changed.then_some(())
        })?;
        Ok(())
    }

    /// Makes `source` the owner of its chain name. A name whose owner was deleted (an empty
    /// claim) or never finished being created (a crash mid-create) is taken over.
    fn claim_chain(&self, source: &Source) -> ApiResult<()> {
        let key = keys::chain(source.chain.as_str());
        for attempt in 0..MAX_CAS_ATTEMPTS {
            let written = match self.kv.get(&key)? {
                None => cas::create(self.kv, &key, source.id.as_bytes(), attempt)?,
                Some(owner) => {
                    let owner_id = String::from_utf8_lossy(&owner).into_owned();
                    if !owner_id.is_empty() && self.kv.get(&keys::source(&owner_id))?.is_some() {
                        return Err(ApiError::new(
                            ErrorCode::Conflict,
                            format!(
                                "chain {} is already registered as source {owner_id}",
                                source.chain
                            ),
                        )
                        .at("chain"));
                    }
                    self.kv
                        .compare_and_swap(&key, Some(&owner), source.id.as_bytes())?
                }
            };
            if written {
                return Ok(());
            }
        }
        Err(ApiError::new(
            ErrorCode::Busy,
            "too many concurrent registrations; retry",
        ))
    }

    fn topic_counts(&self, topics: &[Topic]) -> ApiResult<Vec<(Topic, i64)>> {
        let keys: Vec<String> = topics.iter().map(keys::topic_count).collect();
        let values = self.kv.get_many(&keys)?;
        topics
            .iter()
            .zip(values)
            .map(|(t, v)| {
                Ok((
                    t.clone(),
                    v.map(|b| decode_counter(&b)).transpose()?.unwrap_or(0),
                ))
            })
            .collect()
    }

    fn refuse_watched(&self, topics: Vec<Topic>, what: &str, field: &str) -> ApiResult<()> {
        let watched: Vec<String> = self
            .topic_counts(&topics)?
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .map(|(t, n)| format!("{t} ({n})"))
            .collect();
        if watched.is_empty() {
            return Ok(());
        }
        Err(ApiError::new(
            ErrorCode::Conflict,
            format!(
                "triggers still watch {}; delete them before {what}",
                watched.join(", ")
            ),
        )
        .at(field))
    }

    // ----- sources -----

    /// Registers a source; the chain name must be free.
    pub fn create_source(&self, req: NewSource, now: &str) -> ApiResult<Source> {
        let validated = req.validate(secrets::new_id("src"), now)?;
        let source = validated.source;
        // Claim the chain name first, so two registrations of one chain cannot both succeed.
        self.claim_chain(&source)?;
        if let Some(spec) = &validated.chain_spec {
            self.kv.set(&keys::chain_spec(&source.id), &encode(spec)?)?;
        }
        if let Some(spec) = &validated.relay_chain_spec {
            self.kv
                .set(&keys::relay_chain_spec(&source.id), &encode(spec)?)?;
        }
        self.kv.set(&keys::source(&source.id), &encode(&source)?)?;
        self.update_list(keys::SOURCES, &source.id, true)?;
        Ok(source)
    }

    /// Every source.
    pub fn list_sources(&self) -> ApiResult<Vec<Source>> {
        let ids: BTreeSet<String> = self.read(keys::SOURCES)?.unwrap_or_default();
        let keys: Vec<String> = ids.iter().map(|id| keys::source(id)).collect();
        let values = self.kv.get_many(&keys)?;
        keys.iter()
            .zip(values)
            .filter_map(|(k, v)| v.map(|b| decode(k, &b)))
            .collect()
    }

    /// One source.
    pub fn source(&self, id: &str) -> ApiResult<Source> {
        self.read(&keys::source(id))?
            .ok_or_else(|| ApiError::not_found("source"))
    }

    /// A source's chain spec (`relay: true` for its relay chain's).
    pub fn chain_spec(&self, id: &str, relay: bool) -> ApiResult<Value> {
        self.source(id)?;
        let key = if relay {
            keys::relay_chain_spec(id)
        } else {
            keys::chain_spec(id)
        };
        self.read(&key)?
            .ok_or_else(|| ApiError::not_found("chain spec"))
    }

    /// Changes a source's events, RPC URLs or token. Events that triggers watch cannot be removed.
    pub fn patch_source(&self, id: &str, patch: &SourcePatch, now: &str) -> ApiResult<Source> {
        let current = self.source(id)?;
        let next = patch.apply(&current, now)?;
        let removed: Vec<Topic> = current
            .events
            .difference(&next.events)
            .map(|e| e.topic(&current.chain))
            .collect();
        self.refuse_watched(removed, "removing their events", "remove_events")?;
        self.kv.set(&keys::source(id), &encode(&next)?)?;
        Ok(next)
    }

    /// Deletes a source no trigger watches.
    pub fn delete_source(&self, id: &str) -> ApiResult<()> {
        let source = self.source(id)?;
        let topics = source
            .events
            .iter()
            .map(|e| e.topic(&source.chain))
            .collect();
        self.refuse_watched(topics, "deleting the source", "id")?;
        self.update_list(keys::SOURCES, id, false)?;
        self.kv.delete(&keys::source(id))?;
        self.kv.delete(&keys::chain_spec(id))?;
        self.kv.delete(&keys::relay_chain_spec(id))?;
        // Release the name by emptying the claim (not deleting it: see `create`).
        let chain_key = keys::chain(source.chain.as_str());
        self.kv
            .compare_and_swap(&chain_key, Some(id.as_bytes()), b"")?;
        Ok(())
    }

    // ----- triggers -----

    /// Creates a trigger; the answer carries the management token, shown once.
    pub fn create_trigger(&self, req: NewTrigger, now: &str) -> ApiResult<CreatedTrigger> {
        let source = self
            .read::<Source>(&keys::source(&req.source))?
            .ok_or_else(|| ApiError::invalid("source", format!("no source {:?}", req.source)))?;
        let token = secrets::new_token();
        let mut new_secret = secrets::new_webhook_secret;
        let trigger = req.validate(
            &source,
            Minted {
                id: secrets::new_id("trg"),
                token_hash: secrets::hash_token(&token),
                now,
                new_secret: &mut new_secret,
            },
        )?;
        // The record goes first: an index entry without a record is skipped by lookups, while a
        // record without its index entry would silently never fire.
        self.kv
            .set(&keys::trigger(&trigger.id), &encode(&trigger)?)?;
        self.update_list(&index_key(&trigger), &trigger.id, true)?;
        self.kv.increment(&keys::topic_count(&trigger.topic), 1)?;
        Ok(CreatedTrigger { trigger, token })
    }

    /// A trigger, for the holder of its token or the operator. A token that does not open it is
    /// 401 (RFC 6750 `invalid_token`): ids are 128 random bits, so telling "exists" from "absent"
    /// gives nothing away without the token, and the person who pasted the wrong token learns so.
    pub fn trigger<'c>(&self, id: &str, caller: impl Into<Caller<'c>>) -> ApiResult<Trigger> {
        let trigger = self
            .read::<Trigger>(&keys::trigger(id))?
            .ok_or_else(|| ApiError::not_found("trigger"))?;
        match caller.into() {
            Caller::Owner(token) if !secrets::token_matches(token, &trigger.token_hash) => {
                Err(ApiError::new(
                    ErrorCode::Unauthorized,
                    "this token does not open this trigger: use the token returned when it was created",
                ))
            }
            _ => Ok(trigger),
        }
    }

    fn store_change(&self, current: &Trigger, next: &Trigger) -> ApiResult<()> {
        let (old_key, new_key) = (index_key(current), index_key(next));
        if old_key != new_key {
            self.update_list(&new_key, &next.id, true)?;
        }
        self.kv.set(&keys::trigger(&next.id), &encode(next)?)?;
        if old_key != new_key {
            self.update_list(&old_key, &current.id, false)?;
        }
        if current.topic != next.topic {
            self.kv.increment(&keys::topic_count(&next.topic), 1)?;
            self.kv.increment(&keys::topic_count(&current.topic), -1)?;
        }
        Ok(())
    }

    /// `PUT`: replaces the trigger's filter, action, event, name and feed parameters.
    pub fn replace_trigger<'c>(
        &self,
        id: &str,
        caller: impl Into<Caller<'c>>,
        req: NewTrigger,
        now: &str,
    ) -> ApiResult<Trigger> {
        let current = self.trigger(id, caller)?;
        let source = self.source(&current.source)?;
        let mut new_secret = secrets::new_webhook_secret;
        let next = req.replace(&current, &source, now, &mut new_secret)?;
        self.store_change(&current, &next)?;
        Ok(next)
    }

    /// `PATCH`: changes what the patch names.
    pub fn patch_trigger<'c>(
        &self,
        id: &str,
        caller: impl Into<Caller<'c>>,
        patch: TriggerPatch,
        now: &str,
    ) -> ApiResult<Trigger> {
        let current = self.trigger(id, caller)?;
        let source = self.source(&current.source)?;
        let mut new_secret = secrets::new_webhook_secret;
        let next = patch.apply(&current, &source, now, &mut new_secret)?;
        self.store_change(&current, &next)?;
        Ok(next)
    }

    /// Deletes a trigger.
    pub fn delete_trigger<'c>(&self, id: &str, caller: impl Into<Caller<'c>>) -> ApiResult<()> {
        let current = self.trigger(id, caller)?;
        // The index entry goes first, so no lookup finds an id whose record is gone mid-delete.
        self.update_list(&index_key(&current), id, false)?;
        self.kv.delete(&keys::trigger(id))?;
        // Trigger ids are never reused, so the delivery state can go with its creation claim.
        self.kv.delete(&keys::delivery(id))?;
        self.kv.delete(&keys::creation_claim(&keys::delivery(id)))?;
        self.kv.increment(&keys::topic_count(&current.topic), -1)?;
        Ok(())
    }

    /// The triggers that may want an event on `topic` touching `accounts` (hex public keys):
    /// those indexed under one of the accounts and those for any account. Filters are not yet
    /// applied; paused triggers are included.
    pub fn lookup(&self, topic: &Topic, accounts: &[String]) -> ApiResult<Vec<Trigger>> {
        let index_keys: Vec<String> = accounts
            .iter()
            .map(|a| keys::account_index(topic, a))
            .chain(keys::any_indexes(topic))
            .collect();
        let mut ids = BTreeSet::new();
        for (key, value) in index_keys.iter().zip(self.kv.get_many(&index_keys)?) {
            if let Some(bytes) = value {
                ids.extend(decode::<BTreeSet<String>>(key, &bytes)?);
            }
        }
        let record_keys: Vec<String> = ids.iter().map(|id| keys::trigger(id)).collect();
        let records = self.kv.get_many(&record_keys)?;
        record_keys
            .iter()
            .zip(records)
            .filter_map(|(k, v)| v.map(|b| decode::<Trigger>(k, &b)))
            .collect()
    }

    /// The ids in one index list (for tests and operators).
    pub fn index_ids(&self, key: &str) -> ApiResult<BTreeSet<String>> {
        Ok(self.read(key)?.unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::{Counting, MemoryStore};
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
        let reg = Registry::new(&kv);
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
        let reg = Registry::new(&kv);
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
        let reg = Registry::new(&kv);
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
    }

    #[test]
    fn only_one_request_creates_a_fresh_key_even_on_a_lax_store() {
        let kv = LaxStore(MemoryStore::default());
        let reg = Registry::new(&kv);
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
        let reg = Registry::new(&kv);
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
        let reg = Registry::new(&kv);
        let src = source(&reg);
        for _ in 0..50 {
            trigger(&reg, &src, json!({"balance": {"account": BOB}}));
        }
        kv.reset();
        trigger(&reg, &src, json!({"balance": {"account": BOB}}));
        assert_eq!(
            kv.counts(),
            (2, 3),
            "create: read source + index; write record, index, count"
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
}
