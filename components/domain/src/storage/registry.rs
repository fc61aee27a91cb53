//! Sources and triggers in a key-value store, with the layout of [`crate::keys`]: creation,
//! ownership checks, indexes for dispatch, and the guards that keep sources and triggers consistent.
//!
//! # Layout
//!
//! - this file: the [`Registry`] and its sources;
//! - `registry/triggers.rs`: triggers, their index lists and the caps on them
//!   ([`crate::limits::Caps`]), and the lookup dispatch uses;
//! - `registry/owners.rs`: owner-verified triggers ([`crate::ownership`]), indexed apart;
//! - `registry/leases.rs`: which ingestor may produce a chain's events ([`crate::lease`]);
//! - `registry/telegram.rs`: Telegram deep links, from the code to the linked chat
//!   ([`crate::channel::telegram_link`]).

use std::collections::BTreeSet;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::cas::{self, decode, encode};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::keys;
use crate::kv::{decode_counter, KeyValue, StoreError};
use crate::lease::Lease;
use crate::limits::Caps;
use crate::names::Topic;
use crate::secrets;
use crate::source::{NewSource, Source, SourcePatch};
use crate::trigger::Trigger;
use crate::vault::Keyring;

mod email;
#[cfg(test)]
mod hygiene_tests;
mod leases;
mod owners;
mod reseal;
mod telegram;
#[cfg(test)]
mod tests;
mod triggers;
pub use reseal::{ResealPage, Resealed, RESEAL_DEFAULT_LIMIT, RESEAL_MAX_LIMIT};

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

/// A changed trigger (`PUT`, `PATCH`) and the signing secret made for it, shown once: a trigger
/// that becomes a webhook (from another action) gets a new secret, as at creation; a webhook that
/// stays one keeps its secret, which is not shown again.
#[derive(Debug)]
pub struct ChangedTrigger {
    /// The stored trigger.
    pub trigger: Trigger,
    /// The webhook signing secret made by this change, if it made one.
    pub new_secret: Option<String>,
}

impl std::ops::Deref for ChangedTrigger {
    type Target = Trigger;

    fn deref(&self) -> &Trigger {
        &self.trigger
    }
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
    ring: &'a Keyring,
    caps: Caps,
    /// `telegram_bot_name`, for the deep links of unlinked Telegram triggers.
    telegram_bot: Option<String>,
}

impl<'a, S: KeyValue + ?Sized> Registry<'a, S> {
    /// A registry over `kv` whose trigger records are sealed with `ring`, with the default caps
    /// on index lists.
    pub fn new(kv: &'a S, ring: &'a Keyring) -> Self {
        Self {
            kv,
            ring,
            caps: Caps::default(),
            telegram_bot: None,
        }
    }

    /// The same registry with other caps on index lists (the deployment's
    /// [`Limits`](crate::limits::Limits)).
    pub fn with_caps(mut self, caps: Caps) -> Self {
        self.caps = caps;
        self
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
        // The chain's (empty) lease exists before anyone can ask for it, so every change to it
        // is a guarded swap even on a store that does not guard swaps on absent keys. One left
        // by an earlier source of this chain name stays: it carries that chain's progress.
        let lease = keys::lease(source.chain.as_str());
        if self.kv.get(&lease)?.is_none() {
            self.kv.set(&lease, &encode(&Lease::default())?)?;
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
        let source = self.source(id)?;
        if let Some(known) = &source.known_chain {
            return crate::source::known_chain_spec(known, relay);
        }
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
        if let Some(assets) = &patch.assets {
            let assets = crate::assets::validate(assets.clone(), "assets")?;
            self.kv.set(&keys::source_assets(id), &encode(&assets)?)?;
        }
        self.kv.set(&keys::source(id), &encode(&next)?)?;
        Ok(next)
    }

    /// The chain's assets the operator stored for source `id` (none when not stored).
    pub fn source_assets(&self, id: &str) -> ApiResult<Vec<crate::assets::AssetEntry>> {
        Ok(self.read(&keys::source_assets(id))?.unwrap_or_default())
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
        self.kv.delete(&keys::source_assets(id))?;
        // Release the name by emptying the claim (not deleting it: see `create`).
        let chain_key = keys::chain(source.chain.as_str());
        self.kv
            .compare_and_swap(&chain_key, Some(id.as_bytes()), b"")?;
        Ok(())
    }
}
