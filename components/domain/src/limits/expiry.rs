//! Rate windows are deleted once they end. Spin's key-value store has no expiry and no listing by
//! prefix, so each rate key ([`super::RateLimiter::count`]) records when its window ends in one of
//! [`EXPIRY_SHARDS`] small lists (`rate/expiry/<shard>`, chosen by a hash of the key). Whoever
//! opens a new window in a shard also takes up to [`SWEEP_MAX`] ended windows out of that list,
//! in the same compare-and-swap, and deletes their keys. So the rate keys in the store are those
//! of clients seen within about one window, not every address that ever asked.

use std::collections::BTreeMap;

use super::Window;
use crate::cas;
use crate::error::ApiResult;
use crate::keys;
use crate::kv::KeyValue;

/// How many expiry lists the rate keys are spread over (fewer writers race on each).
pub const EXPIRY_SHARDS: u32 = 16;
/// Ended windows one new window deletes at most; the rest go with the next ones.
pub const SWEEP_MAX: usize = 64;

/// The expiry list of `key` (FNV-1a of the key).
fn shard(key: &str) -> u32 {
    let hash = key.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    hash % EXPIRY_SHARDS
}

/// Records that the window of `key` starting at `start` ends at `end` (Unix ms), and deletes
/// windows of its shard that ended by `now_ms`. A key counted again since its listed window
/// (another start) is left alone: its new window listed itself.
pub(super) fn register<S: KeyValue + ?Sized>(
    kv: &S,
    key: &str,
    start: u64,
    end: u64,
    now_ms: u64,
) -> ApiResult<()> {
    let mut ended: Vec<(String, u64)> = Vec::new();
    cas::update(
        kv,
        &keys::rate_expiry(shard(key)),
        |windows: &mut BTreeMap<String, [u64; 2]>| {
            ended = windows
                .iter()
                .filter(|(k, [_, e])| *e <= now_ms && k.as_str() != key)
                .take(SWEEP_MAX)
                .map(|(k, [s, _])| (k.clone(), *s))
                .collect();
            for (k, _) in &ended {
                windows.remove(k);
            }
            windows.insert(key.to_owned(), [start, end]);
            Some(())
        },
    )?;
    for (key, start) in ended {
        let Some(bytes) = kv.get(&key)? else {
            continue;
        };
        let still_ended =
            serde_json::from_slice::<Window>(&bytes).map_or(true, |w| w.start == start);
        if still_ended {
            // Its creation claim goes too (after the key): the next window of this client
            // creates the key afresh, which must be able to win the election again.
            kv.delete(&key)?;
            kv.delete(&keys::creation_claim(&key))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::{RateLimit, RateLimiter};
    use super::*;
    use crate::kv::MemoryStore;

    fn rate_keys(kv: &MemoryStore, prefix: &str) -> usize {
        kv.keys().iter().filter(|k| k.starts_with(prefix)).count()
    }

    #[test]
    fn ended_windows_of_clients_that_never_come_back_are_deleted() {
        let kv = MemoryStore::default();
        let limit = RateLimit {
            max: 3,
            window: Duration::from_secs(60),
        };
        let limiter = RateLimiter::new(&kv, limit);
        let t0 = 1_800_000_000_000u64; // a multiple of 60 s
        for i in 0..1000 {
            limiter
                .admit(&format!("198.51.{}.{}", i / 256, i % 256), t0 + i)
                .expect("admitted");
        }
        assert_eq!(rate_keys(&kv, "rate/create/"), 1000);

        // A client mid-window keeps its count through the sweeps of others.
        let later = t0 + 120_000;
        for _ in 0..3 {
            limiter.admit("203.0.113.9", later).expect("admitted");
        }
        // Two windows later, 100 other clients come: the 1,000 ended windows are gone.
        for i in 0..100 {
            limiter
                .admit(&format!("192.0.2.{i}"), later + 10 + i)
                .expect("admitted");
        }
        assert_eq!(rate_keys(&kv, "rate/create/"), 101);
        assert_eq!(rate_keys(&kv, "claim/rate/create/"), 101, "claims go too");
        // A client whose window was deleted is counted afresh, at once.
        limiter.admit("198.51.0.1", later + 300).expect("admitted");
        assert_eq!(rate_keys(&kv, "rate/create/"), 102);
        assert!(rate_keys(&kv, "rate/expiry/") <= EXPIRY_SHARDS as usize);
        assert!(
            limiter.admit("203.0.113.9", later + 200).is_err(),
            "its window still counts"
        );
        // Every rate key is listed once, under its own shard.
        let listed: usize = (0..EXPIRY_SHARDS)
            .filter_map(|s| kv.get(&keys::rate_expiry(s)).expect("get"))
            .map(|b| {
                serde_json::from_slice::<BTreeMap<String, [u64; 2]>>(&b)
                    .expect("list")
                    .len()
            })
            .sum();
        assert_eq!(listed, 102);
    }

    #[test]
    fn a_client_counted_again_since_keeps_its_new_window() {
        let kv = MemoryStore::default();
        let key = keys::create_rate("198.51.100.1");
        // Listed with the window [0, 60 s), then counted again in [60 s, 120 s) by a request
        // whose own listing has not landed yet.
        register(&kv, &key, 0, 60_000, 1).expect("register");
        let fresh = serde_json::to_vec(&Window {
            start: 60_000,
            count: 1,
        })
        .expect("json");
        kv.set(&key, &fresh).expect("set");
        // Another key's new window sweeps the shard: the first listing ended, the key did not.
        let other = (0..)
            .map(|i| keys::create_rate(&format!("203.0.113.{i}")))
            .find(|k| shard(k) == shard(&key))
            .expect("a key in the same shard");
        register(&kv, &other, 60_000, 120_000, 61_000).expect("register");
        assert_eq!(kv.get(&key).expect("get"), Some(fresh));
    }
}
