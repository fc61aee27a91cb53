//! [`KeyValue`] over Spin's `wasi:keyvalue` (store, atomics, batch). The fermyon key-value
//! interface has no compare-and-swap, which the indexes need; spin-sdk exposes the WASI interface
//! only through its generated bindings, hence `spin_sdk::wit`.

use aurras_domain::kv::{KeyValue, StoreError};
use spin_sdk::wit::wasi::keyvalue::{atomics, batch, store};

/// An open bucket.
pub struct WasiStore {
    bucket: store::Bucket,
}

fn err(e: store::Error) -> StoreError {
    StoreError(match e {
        store::Error::NoSuchStore => "no such store".into(),
        store::Error::AccessDenied => "access denied (is the store in key_value_stores?)".into(),
        store::Error::Other(m) => m,
    })
}

impl WasiStore {
    /// Opens the store labelled `label`.
    pub fn open(label: &str) -> Result<Self, StoreError> {
        store::open(label)
            .map(|bucket| Self { bucket })
            .map_err(err)
    }
}

impl KeyValue for WasiStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.bucket.get(key).map_err(err)
    }

    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        // Hosts may return only the keys that exist, in any order: map back by key.
        let found = batch::get_many(&self.bucket, keys).map_err(err)?;
        let mut by_key: std::collections::HashMap<String, Vec<u8>> = found
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect();
        Ok(keys.iter().map(|k| by_key.remove(k)).collect())
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.bucket.set(key, value).map_err(err)
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.bucket.delete(key).map_err(err)
    }

    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        value: &[u8],
    ) -> Result<bool, StoreError> {
        let cas = atomics::Cas::new(&self.bucket, key).map_err(err)?;
        // Reading through the handle also tells Spin which value the swap must still find.
        if cas.current().map_err(err)?.as_deref() != expected {
            return Ok(false);
        }
        // Spin's Redis backend (3.x) answers neither way reliably, so the store is asked: it
        // reports a swap as done when Redis aborted it because the key changed after the handle
        // was made (it reads EXEC's nil answer as success), and as failed after one that landed
        // (it ends every swap with `UNWATCH <key>`, which Redis refuses: UNWATCH takes no
        // argument; seen under Spin 3.6.3, tests/host/README.md). A write counts once it is read
        // back. A value changed since by someone who read ours counts as lost too: callers retry
        // from a fresh read, and every change they make this way is idempotent (id sets) or errs
        // on the safe side (counters).
        match atomics::swap(cas, value) {
            Ok(()) | Err(atomics::CasError::CasFailed(_)) => {
                Ok(self.get(key)?.as_deref() == Some(value))
            }
            Err(atomics::CasError::StoreError(e)) => Err(err(e)),
        }
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        atomics::increment(&self.bucket, key, delta).map_err(err)
    }

    fn list_keys(&self) -> Result<Vec<String>, StoreError> {
        // Hosts page at will (Spin's sqlite answers one page, Redis scans): follow the cursor.
        let mut keys = Vec::new();
        let mut cursor = None;
        loop {
            let page = self.bucket.list_keys(cursor.as_deref()).map_err(err)?;
            keys.extend(page.keys);
            match page.cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(keys),
            }
        }
    }
}
