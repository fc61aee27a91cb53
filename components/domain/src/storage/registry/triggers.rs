//! Triggers in the registry: creation within the caps on their index lists, ownership, changes
//! that move a trigger between lists, deletion, and the lookup dispatch uses.
//!
//! Each index list is capped ([`Caps`]): an id is added only inside the compare-and-swap that
//! writes the list, and only while the list holds fewer ids than its cap, so however many creates
//! race, a list never grows past it. Any-account triggers are spread over
//! [`ANY_SHARDS`](crate::keys::ANY_SHARDS) lists whose caps add up to the topic's cap; a new
//! trigger draws its (random) id until it falls in a shard with room.

use std::collections::BTreeSet;

use super::{ChangedTrigger, CreatedTrigger, Registry};
use crate::cas::{self, decode};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::keys::{self, ANY_SHARDS};
use crate::kv::KeyValue;
use crate::limits::{account_full, topic_full};
use crate::names::{ChainName, EventName, Topic};
use crate::recipe;
use crate::registry::Caller;
use crate::secrets;
use crate::source::Source;
use crate::stored::{decode_trigger, encode_trigger};
use crate::trigger::{Minted, NewTrigger, Trigger, TriggerPatch};

/// How often a create looks for another any-account shard after the one it chose filled up
/// under it.
const PLACEMENT_ATTEMPTS: usize = 8;
/// Ids drawn at most to land in a shard with room (one in [`ANY_SHARDS`] at worst).
const ID_DRAWS: usize = 1024;

/// The index list a trigger's id is in.
pub(super) fn index_key(t: &Trigger) -> String {
    match t.filter.as_ref().and_then(|f| f.indexed_account()) {
        // A proven owner's triggers have a list of their own (see `owners.rs`).
        Some(account) if t.owner_verified => keys::owner_index(&t.topic, account),
        Some(account) => keys::account_index(&t.topic, account),
        None => keys::any_index(&t.topic, keys::any_shard(&t.id)),
    }
}

/// Makes webhook secrets and keeps the one made, so a change can show it once.
fn minting(minted: &mut Option<String>) -> impl FnMut() -> String + '_ {
    move || {
        let secret = secrets::new_webhook_secret();
        *minted = Some(secret.clone());
        secret
    }
}

fn is_any_account(t: &Trigger) -> bool {
    t.filter
        .as_ref()
        .and_then(|f| f.indexed_account())
        .is_none()
}

impl<'a, S: KeyValue + ?Sized> Registry<'a, S> {
    /// The cap of the list `t` is indexed in.
    fn index_cap(&self, t: &Trigger) -> usize {
        if is_any_account(t) {
            self.caps.any_shard(keys::any_shard(&t.id))
        } else {
            self.caps.per_account
        }
    }

    /// The 429 for a trigger whose list is full.
    fn full(&self, t: &Trigger) -> ApiError {
        if is_any_account(t) {
            topic_full(&t.topic, self.caps.any_account)
        } else {
            account_full(&t.topic, self.caps.per_account)
        }
    }

    /// Which of `ids` still have a trigger record (one `get-many`).
    fn live_ids(&self, ids: &BTreeSet<String>) -> ApiResult<BTreeSet<String>> {
        if ids.is_empty() {
            return Ok(BTreeSet::new());
        }
        let record_keys: Vec<String> = ids.iter().map(|id| keys::trigger(id)).collect();
        let found = self.kv.get_many(&record_keys)?;
        Ok(ids
            .iter()
            .zip(found)
            .filter(|(_, record)| record.is_some())
            .map(|(id, _)| id.clone())
            .collect())
    }

    /// Rewrites the index list under `key` by compare-and-swap: drops the ids whose trigger
    /// record is gone, then applies `change` to the live ids, and writes the list when either
    /// changed it (the answer is `change`'s). Ids of deleted triggers therefore never pile up
    /// or count towards a cap: a delete that raced a `PATCH` moving the trigger leaves its id in
    /// the new list, and the next change of that list drops it. Safe because a record is written
    /// before its id enters a list and deleted only after its id left it.
    fn rewrite_index<R>(
        &self,
        key: &str,
        mut change: impl FnMut(&mut BTreeSet<String>) -> Option<R>,
    ) -> ApiResult<Option<R>> {
        let mut failed = None;
        let written = cas::update(self.kv, key, |ids: &mut BTreeSet<String>| {
            let live = match self.live_ids(ids) {
                Ok(live) => live,
                Err(e) => {
                    failed = Some(e);
                    return None;
                }
            };
            let pruned = live.len() != ids.len();
            *ids = live;
            let answer = change(ids);
            (pruned || answer.is_some()).then_some(answer)
        })?;
        match failed {
            Some(e) => Err(e),
            None => Ok(written.flatten()),
        }
    }

    /// Removes `id` from the index list under `key` (dropping dead ids on the way).
    fn remove_from_index(&self, key: &str, id: &str) -> ApiResult<()> {
        self.rewrite_index(key, |ids| ids.remove(id).then_some(()))?;
        Ok(())
    }

    /// Adds `t`'s id to its index list unless the list's live ids are at its cap, which is
    /// checked on the value the compare-and-swap replaces; whether the id is in the list now.
    fn add_to_index(&self, t: &Trigger) -> ApiResult<bool> {
        let cap = self.index_cap(t);
        let mut full = false;
        self.rewrite_index(&index_key(t), |ids| {
            full = false;
            if ids.contains(&t.id) {
                return None;
            }
            if ids.len() >= cap {
                full = true;
                return None;
            }
            ids.insert(t.id.clone());
            Some(())
        })?;
        Ok(!full)
    }

    /// Gives an any-account trigger an id whose shard has room, reading all the topic's shards
    /// in one `get-many`; account triggers keep their id.
    fn place(&self, trigger: &mut Trigger) -> ApiResult<()> {
        if !is_any_account(trigger) {
            return Ok(());
        }
        let shard_keys: Vec<String> = keys::any_indexes(&trigger.topic).collect();
        let mut room = [false; ANY_SHARDS as usize];
        for (shard, (key, value)) in
            (0u32..).zip(shard_keys.iter().zip(self.kv.get_many(&shard_keys)?))
        {
            let cap = self.caps.any_shard(shard);
            let ids = match value {
                Some(bytes) => decode::<BTreeSet<String>>(key, &bytes)?,
                None => BTreeSet::new(),
            };
            // A shard that looks full may hold ids of deleted triggers, which do not count.
            let len = if ids.len() >= cap {
                self.live_ids(&ids)?.len()
            } else {
                ids.len()
            };
            room[shard as usize] = len < cap;
        }
        if !room.contains(&true) {
            return Err(self.full(trigger));
        }
        for _ in 0..ID_DRAWS {
            if room[keys::any_shard(&trigger.id) as usize] {
                return Ok(());
            }
            trigger.id = secrets::new_id("trg");
        }
        Err(ApiError::new(
            ErrorCode::Busy,
            "no trigger id fell in an index shard with room; retry",
        ))
    }

    /// The chain's assets, read for an `assets` recipe only (one more read, at creation).
    fn with_assets(&self, req: &mut NewTrigger) -> ApiResult<()> {
        if req.recipe.as_deref() == Some("assets") {
            req.assets = self.source_assets(&req.source)?;
        }
        Ok(())
    }

    /// Creates a trigger; the answer carries the management token, shown once. A full index
    /// list is `429 too_many_triggers`, and nothing of the trigger stays stored.
    pub fn create_trigger(&self, mut req: NewTrigger, now: &str) -> ApiResult<CreatedTrigger> {
        let proof = req.proof.take();
        let source = self
            .read::<Source>(&keys::source(&req.source))?
            .ok_or_else(|| ApiError::invalid("source", format!("no source {:?}", req.source)))?;
        self.with_assets(&mut req)?;
        let token = secrets::new_token();
        let mut new_secret = secrets::new_webhook_secret;
        let mut trigger = req.validate(
            &source,
            Minted {
                id: secrets::new_id("trg"),
                token_hash: secrets::hash_token(&token),
                now,
                new_secret: &mut new_secret,
            },
        )?;
        trigger.owner_verified = self.owner_verified(None, &trigger, proof.as_ref(), now)?;
        for _ in 0..PLACEMENT_ATTEMPTS {
            self.place(&mut trigger)?;
            // After placement, which may have drawn another id: the code points at this one.
            self.prepare_telegram_link(&mut trigger, now)?;
            self.prepare_email_confirm(&mut trigger, now)?;
            // The record goes first: an index entry without a record is skipped by lookups, while
            // a record without its index entry would silently never fire.
            let record = keys::trigger(&trigger.id);
            self.kv
                .set(&record, &encode_trigger(&trigger, self.ring)?)?;
            if self.add_to_index(&trigger)? {
                for topic in trigger.counted_topics() {
                    self.kv.increment(&keys::topic_count(&topic), 1)?;
                }
                return Ok(CreatedTrigger { trigger, token });
            }
            // The list filled up meanwhile: take the record back. An any-account trigger may
            // still find room in another shard.
            self.kv.delete(&record)?;
            if !is_any_account(&trigger) {
                break;
            }
        }
        self.retire_telegram_link(&trigger, None)?;
        self.retire_email_confirm(&trigger, None)?;
        Err(self.full(&trigger))
    }

    /// A trigger, for the holder of its token or the operator. A token that does not open it is
    /// 401 (RFC 6750 `invalid_token`): ids are 128 random bits, so telling "exists" from "absent"
    /// gives nothing away without the token, and the person who pasted the wrong token learns so.
    pub fn trigger<'c>(&self, id: &str, caller: impl Into<Caller<'c>>) -> ApiResult<Trigger> {
        Ok(self.read_trigger(id, caller)?.0)
    }

    /// [`Registry::trigger`] and the bytes its record was read as, for a compare-and-swap.
    pub(super) fn read_trigger<'c>(
        &self,
        id: &str,
        caller: impl Into<Caller<'c>>,
    ) -> ApiResult<(Trigger, Vec<u8>)> {
        let key = keys::trigger(id);
        let bytes = self
            .kv
            .get(&key)?
            .ok_or_else(|| ApiError::not_found("trigger"))?;
        let trigger = decode_trigger(&key, &bytes, self.ring)?;
        match caller.into() {
            Caller::Owner(token) if !secrets::token_matches(token, &trigger.token_hash) => {
                Err(ApiError::new(
                    ErrorCode::Unauthorized,
                    "this token does not open this trigger: use the token returned when it was created",
                ))
            }
            _ => Ok((trigger, bytes)),
        }
    }

    /// Stores a changed trigger over the record `read` (what `current` was read from). One that
    /// moves to another index list (another account or topic) enters the new list first, within
    /// its cap (429, nothing changed, when full), and leaves the old one last. The record is
    /// written by compare-and-swap on `read`: a trigger deleted (or changed) since it was read is
    /// `409 conflict`, never written back to life (or over the other change).
    pub(super) fn store_change(
        &self,
        current: &Trigger,
        read: &[u8],
        next: &Trigger,
    ) -> ApiResult<()> {
        let (old_key, new_key) = (index_key(current), index_key(next));
        if old_key != new_key && !self.add_to_index(next)? {
            return Err(self.full(next));
        }
        let record = keys::trigger(&next.id);
        let next_bytes = encode_trigger(next, self.ring)?;
        if !self.kv.compare_and_swap(&record, Some(read), &next_bytes)? {
            // A deleted trigger's id leaves the list it just entered (the next rewrite of the
            // list would drop it anyway); a trigger changed meanwhile keeps what it has.
            if old_key != new_key && self.kv.get(&record)?.is_none() {
                self.remove_from_index(&new_key, &next.id)?;
            }
            return Err(ApiError::new(
                ErrorCode::Conflict,
                "the trigger was changed or deleted while this change was made; read it again",
            ));
        }
        if old_key != new_key {
            self.remove_from_index(&old_key, &current.id)?;
        }
        let (before, after) = (current.counted_topics(), next.counted_topics());
        for topic in after.iter().filter(|t| !before.contains(t)) {
            self.kv.increment(&keys::topic_count(topic), 1)?;
        }
        for topic in before.iter().filter(|t| !after.contains(t)) {
            self.kv.increment(&keys::topic_count(topic), -1)?;
        }
        Ok(())
    }

    /// `PUT`: replaces the trigger's filter, action, event, name and feed parameters.
    pub fn replace_trigger<'c>(
        &self,
        id: &str,
        caller: impl Into<Caller<'c>>,
        mut req: NewTrigger,
        now: &str,
    ) -> ApiResult<ChangedTrigger> {
        let (current, read) = self.read_trigger(id, caller)?;
        let source = self.source(&current.source)?;
        let mut minted = None;
        let proof = req.proof.take();
        self.with_assets(&mut req)?;
        let mut next = req.replace(&current, &source, now, &mut minting(&mut minted))?;
        next.owner_verified = self.owner_verified(Some(&current), &next, proof.as_ref(), now)?;
        self.prepare_telegram_link(&mut next, now)?;
        self.prepare_email_confirm(&mut next, now)?;
        self.store_change(&current, &read, &next)?;
        self.retire_telegram_link(&current, Some(&next))?;
        self.retire_email_confirm(&current, Some(&next))?;
        Ok(ChangedTrigger {
            trigger: next,
            new_secret: minted,
        })
    }

    /// `PATCH`: changes what the patch names.
    pub fn patch_trigger<'c>(
        &self,
        id: &str,
        caller: impl Into<Caller<'c>>,
        mut patch: TriggerPatch,
        now: &str,
    ) -> ApiResult<ChangedTrigger> {
        let (current, read) = self.read_trigger(id, caller)?;
        let source = self.source(&current.source)?;
        let mut minted = None;
        let proof = patch.proof.take();
        let mut next = patch.apply(&current, &source, now, &mut minting(&mut minted))?;
        next.owner_verified = self.owner_verified(Some(&current), &next, proof.as_ref(), now)?;
        self.prepare_telegram_link(&mut next, now)?;
        self.prepare_email_confirm(&mut next, now)?;
        self.store_change(&current, &read, &next)?;
        self.retire_telegram_link(&current, Some(&next))?;
        self.retire_email_confirm(&current, Some(&next))?;
        Ok(ChangedTrigger {
            trigger: next,
            new_secret: minted,
        })
    }

    /// Deletes a trigger.
    pub fn delete_trigger<'c>(&self, id: &str, caller: impl Into<Caller<'c>>) -> ApiResult<()> {
        let current = self.trigger(id, caller)?;
        // The index entry goes first, so no lookup finds an id whose record is gone mid-delete.
        self.remove_from_index(&index_key(&current), id)?;
        self.kv.delete(&keys::trigger(id))?;
        // Trigger ids are never reused, so the delivery state can go with its creation claim.
        self.kv.delete(&keys::delivery(id))?;
        self.kv.delete(&keys::creation_claim(&keys::delivery(id)))?;
        self.retire_telegram_link(&current, None)?;
        self.retire_email_confirm(&current, None)?;
        for topic in current.counted_topics() {
            self.kv.increment(&keys::topic_count(&topic), -1)?;
        }
        Ok(())
    }

    /// The triggers that may want an event on `topic` touching `accounts` (hex public keys):
    /// those indexed under one of the accounts (its anonymous and its owner list) and those for
    /// any account, all read in one `get-many`. Filters are not yet applied; paused triggers are
    /// included.
    pub fn lookup(&self, topic: &Topic, accounts: &[String]) -> ApiResult<Vec<Trigger>> {
        self.lookup_in(&[(topic.clone(), true)], accounts)
    }

    /// [`Registry::lookup`] for `event` on `chain`: its topic's lists and those of the recipes
    /// that watch it among several events ([`recipe::lookup_topics`]), still one `get-many` for
    /// the lists and one for the records.
    pub fn lookup_event(
        &self,
        chain: &ChainName,
        event: &EventName,
        accounts: &[String],
    ) -> ApiResult<Vec<Trigger>> {
        self.lookup_in(&recipe::lookup_topics(chain, event), accounts)
    }

    /// The triggers in the lists of `topics` for `accounts`, and in each topic's any-account
    /// shards when its flag says its triggers may be for any account.
    fn lookup_in(&self, topics: &[(Topic, bool)], accounts: &[String]) -> ApiResult<Vec<Trigger>> {
        let index_keys: Vec<String> = topics
            .iter()
            .flat_map(|(topic, any)| {
                let by_account = accounts
                    .iter()
                    .flat_map(|a| [keys::account_index(topic, a), keys::owner_index(topic, a)]);
                let shards = any.then(|| keys::any_indexes(topic)).into_iter().flatten();
                by_account.chain(shards).collect::<Vec<_>>()
            })
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
            .filter_map(|(k, v)| v.map(|b| decode_trigger(k, &b, self.ring)))
            .collect()
    }

    /// The ids in one index list (for tests and operators).
    pub fn index_ids(&self, key: &str) -> ApiResult<BTreeSet<String>> {
        Ok(self.read(key)?.unwrap_or_default())
    }
}
