//! The key layout in Spin's key-value store. `get-keys` lists every key of a store, so nothing
//! here relies on listing: every lookup starts from a key it can compute.
//!
//! | key | value |
//! |---|---|
//! | `source/<id>` | a [`Source`](crate::source::Source) |
//! | `source/<id>/chain_spec`, `source/<id>/relay_chain_spec` | the chain spec JSON (large, read by the ingestor only) |
//! | `source/<id>/assets` | the chain's assets: id, symbol, decimals (read to make an `assets` recipe trigger) |
//! | `sources` | JSON list of every source id (compare-and-swap) |
//! | `chain/<chain>` | the id of the source that owns the chain name (compare-and-swap from absent) |
//! | `trigger/<id>` | a [`Trigger`](crate::trigger::Trigger), with the hash of its token and its action sealed ([`crate::stored`]) |
//! | `ix/<topic>/acct/<account hex>` | JSON list of trigger ids whose filter names that account |
//! | `ix/<topic>/owner/<account hex>` | JSON list of trigger ids whose filter names that account and whose creator proved holding it ([`crate::ownership`]) |
//! | `ix/<topic>/any/<shard>` | JSON list of trigger ids for any account, in [`ANY_SHARDS`] shards by id hash |
//! | `proof/used/<account hex>` | the account's owner-proof challenges used and not yet expired (compare-and-swap; see [`crate::ownership`]) |
//! | `count/<topic>` | number of triggers on the topic (8-byte counter), guarding source changes |
//! | `delivery/<trigger id>` | the trigger's [`DeliveryState`](crate::delivery::DeliveryState): last attempt, recent claims |
//! | `claim/<key>` | counter electing the one request that creates `<key>` (see below) |
//! | `lease/<chain>` | the chain's ingestion [`Lease`](crate::lease::Lease): holder, expiry, progress (compare-and-swap) |
//! | `rate/create/<client>` | the client address's rate-limit window: start and count (compare-and-swap; see [`crate::limits`]) |
//! | `rate/test/trigger/<id>`, `rate/test/client/<client>` | test-fire rate-limit windows of a trigger and of a client address (same shape; see [`crate::test_fire`]) |
//! | `rate/expiry/<0-15>` | when each rate window above ends, so ended ones are deleted (compare-and-swap; see `limits/expiry.rs`) |
//! | `telegram/link/<sha256 of code>` | the trigger a Telegram deep link's one-time code links, and when the code expires ([`crate::channel::telegram_link`]) |
//! | `email/confirm/<sha256 of code>` | the trigger an email confirmation link's one-time code confirms, and when it expires ([`crate::channel::email`]) |
//!
//! Index lists change only by compare-and-swap, so concurrent creates and deletes at one account
//! never lose each other's update. Spin's sqlite backend does not guard a compare-and-swap on a key
//! that is absent, so the first write of a list or chain claim goes through `claim/<key>`: an
//! atomic counter that only one request sees go to 1. Lists and claims are never deleted (they are
//! emptied), so every later change is guarded. A dispatch lookup for `(topic, accounts)` is one `get-many` over
//! the account lists (anonymous and owner) and the any-account shards, then one `get-many` over the trigger records.

use sha2::{Digest, Sha256};

use crate::names::Topic;

/// Shards of each topic's any-account index: more shards mean smaller lists to rewrite on create
/// and less contention, at the cost of more keys per lookup (all in one `get-many`).
pub const ANY_SHARDS: u32 = 16;

/// `source/<id>`.
pub fn source(id: &str) -> String {
    format!("source/{id}")
}

/// `source/<id>/chain_spec`.
pub fn chain_spec(id: &str) -> String {
    format!("source/{id}/chain_spec")
}

/// `source/<id>/assets`: the chain's assets (id, symbol, decimals), when the operator stored
/// them ([`crate::assets`]); read only to make an `assets` recipe trigger.
pub fn source_assets(id: &str) -> String {
    format!("source/{id}/assets")
}

/// `source/<id>/relay_chain_spec`.
pub fn relay_chain_spec(id: &str) -> String {
    format!("source/{id}/relay_chain_spec")
}

/// The list of source ids.
pub const SOURCES: &str = "sources";

/// `chain/<chain>`.
pub fn chain(name: &str) -> String {
    format!("chain/{name}")
}

/// What every trigger record's key starts with.
pub const TRIGGER_PREFIX: &str = "trigger/";

/// `trigger/<id>`.
pub fn trigger(id: &str) -> String {
    format!("{TRIGGER_PREFIX}{id}")
}

/// `delivery/<trigger id>`.
pub fn delivery(trigger_id: &str) -> String {
    format!("delivery/{trigger_id}")
}

/// `ix/<topic>/acct/<account hex>`.
pub fn account_index(topic: &Topic, account_hex: &str) -> String {
    format!("ix/{topic}/acct/{account_hex}")
}

/// `ix/<topic>/owner/<account hex>`: the triggers of the account's proven owner, capped apart
/// from the anonymous ones so that these can never fill the owner's list.
pub fn owner_index(topic: &Topic, account_hex: &str) -> String {
    format!("ix/{topic}/owner/{account_hex}")
}

/// `proof/used/<account hex>`: the account's used owner-proof challenges.
pub fn used_challenges(account_hex: &str) -> String {
    format!("proof/used/{account_hex}")
}

/// The any-account shard a trigger id falls in.
pub fn any_shard(trigger_id: &str) -> u32 {
    let digest = Sha256::digest(trigger_id.as_bytes());
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) % ANY_SHARDS
}

/// `ix/<topic>/any/<shard>`.
pub fn any_index(topic: &Topic, shard: u32) -> String {
    format!("ix/{topic}/any/{shard}")
}

/// Every any-account shard of a topic.
pub fn any_indexes(topic: &Topic) -> impl Iterator<Item = String> + '_ {
    (0..ANY_SHARDS).map(move |s| any_index(topic, s))
}

/// `lease/<chain>`.
pub fn lease(chain: &str) -> String {
    format!("lease/{chain}")
}

/// `claim/<key>`: the creation election for `key`.
pub fn creation_claim(key: &str) -> String {
    format!("claim/{key}")
}

/// `rate/create/<client>`: the anonymous-creation window of a client address.
pub fn create_rate(client: &str) -> String {
    format!("rate/create/{client}")
}

/// `rate/expiry/<shard>`: which rate windows end when, for the keys hashing to `shard`.
pub fn rate_expiry(shard: u32) -> String {
    format!("rate/expiry/{shard}")
}

/// `rate/test/trigger/<id>`: the test-fire window of a trigger.
pub fn test_rate_trigger(trigger_id: &str) -> String {
    format!("rate/test/trigger/{trigger_id}")
}

/// `rate/test/client/<client>`: the test-fire window of a client address.
pub fn test_rate_client(client: &str) -> String {
    format!("rate/test/client/{client}")
}

/// `count/<topic>`.
pub fn topic_count(topic: &Topic) -> String {
    format!("count/{topic}")
}

/// `telegram/link/<hex sha256 of the code>`: a pending Telegram deep link. The key holds the
/// code's hash, not the code, so whoever can list the store's keys still cannot link a chat.
pub fn telegram_link(code_hash: &str) -> String {
    format!("telegram/link/{code_hash}")
}

/// `email/confirm/<hex sha256 of the code>`: a pending email confirmation (the code's hash, as
/// for Telegram links).
pub fn email_confirm(code_hash: &str) -> String {
    format!("email/confirm/{code_hash}")
}
