//! Read-modify-write of one JSON value under compare-and-swap, safe on every Spin backend.
//!
//! Spin's sqlite backend does not compare-check a swap whose handle saw no value, so two requests
//! creating one key could both "win". An atomic counter (`claim/<key>`, `increment` is atomic on
//! every backend) elects the one request that may create the key; the others re-read and
//! compare-and-swap on what it wrote. Past half the attempts (the elected request died before
//! writing), they fall back to the plain swap.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::keys;
use crate::kv::KeyValue;

/// How often an update retries after losing a compare-and-swap race before answering 503.
pub const MAX_CAS_ATTEMPTS: usize = 64;

pub(crate) fn decode<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> ApiResult<T> {
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::internal(format!("stored value {key} is unreadable: {e}")))
}

pub(crate) fn encode<T: Serialize>(value: &T) -> ApiResult<Vec<u8>> {
    serde_json::to_vec(value)
        .map_err(|e| ApiError::internal(format!("cannot encode a record: {e}")))
}

/// Writes a key that does not exist yet; whether this request wrote it.
pub(crate) fn create<S: KeyValue + ?Sized>(
    kv: &S,
    key: &str,
    value: &[u8],
    attempt: usize,
) -> ApiResult<bool> {
    if attempt >= MAX_CAS_ATTEMPTS / 2 {
        return Ok(kv.compare_and_swap(key, None, value)?);
    }
    if kv.increment(&keys::creation_claim(key), 1)? != 1 {
        return Ok(false);
    }
    // Still a swap, not a plain set: a request that gave up waiting for this one (the fallback
    // above) may have created the key meanwhile, and a set would erase its write.
    Ok(kv.compare_and_swap(key, None, value)?)
}

/// Applies `change` to the value under `key` (`T::default()` when absent) and writes the result
/// with compare-and-swap, retrying on conflict with a fresh read. `change` returns `None` when
/// nothing needs writing; the answer is what `change` returned on the attempt that wrote.
pub fn update<S, T, R>(
    kv: &S,
    key: &str,
    mut change: impl FnMut(&mut T) -> Option<R>,
) -> ApiResult<Option<R>>
where
    S: KeyValue + ?Sized,
    T: Default + Serialize + DeserializeOwned,
{
    for attempt in 0..MAX_CAS_ATTEMPTS {
        let current = kv.get(key)?;
        let mut value: T = match &current {
            Some(bytes) => decode(key, bytes)?,
            None => T::default(),
        };
        let Some(answer) = change(&mut value) else {
            return Ok(None);
        };
        let next = encode(&value)?;
        let written = match &current {
            Some(old) => kv.compare_and_swap(key, Some(old), &next)?,
            None => create(kv, key, &next, attempt)?,
        };
        if written {
            return Ok(Some(answer));
        }
    }
    Err(ApiError::new(
        ErrorCode::Busy,
        "too many concurrent changes; retry",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::MemoryStore;

    #[test]
    fn an_elected_create_never_erases_a_write_that_came_first() {
        let kv = MemoryStore::default();
        // Other requests stopped waiting for the elected one and created the key themselves.
        assert!(kv
            .compare_and_swap("ix/list", None, br#"["a"]"#)
            .expect("fallback"));
        // The elected request was merely slow: its write comes now and must not land.
        assert!(!create(&kv, "ix/list", br#"["b"]"#, 0).expect("create"));
        assert_eq!(
            kv.get("ix/list").expect("get").as_deref(),
            Some(&br#"["a"]"#[..])
        );
        // Its update then starts over from what is there, and keeps both.
        update(&kv, "ix/list", |ids: &mut Vec<String>| {
            ids.push("b".into());
            Some(())
        })
        .expect("update");
        let ids: Vec<String> =
            serde_json::from_slice(&kv.get("ix/list").expect("get").expect("stored")).expect("ids");
        assert_eq!(ids, ["a", "b"]);
    }
}
