//! A memory store whose writes go through a closure, for tests of races and failures: the
//! closure may fail a write, run another request's work before or after it, or report a swap
//! that landed as lost (as `WasiStore` does when its read-back finds a later write).

use crate::kv::{KeyValue, MemoryStore, StoreError};

/// One write, as it reaches the closure.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Write<'w> {
    /// `set`.
    Set { key: &'w str, value: &'w [u8] },
    /// `delete`.
    Delete { key: &'w str },
    /// `compare_and_swap`.
    Swap {
        key: &'w str,
        expected: Option<&'w [u8]>,
        value: &'w [u8],
    },
}

impl Write<'_> {
    /// The key written.
    pub(crate) fn key(&self) -> &str {
        match self {
            Write::Set { key, .. } | Write::Delete { key } | Write::Swap { key, .. } => key,
        }
    }

    /// Makes the write on `kv`; whether it landed (a swap may not).
    pub(crate) fn apply(&self, kv: &MemoryStore) -> Result<bool, StoreError> {
        match *self {
            Write::Set { key, value } => kv.set(key, value).map(|()| true),
            Write::Delete { key } => kv.delete(key).map(|()| true),
            Write::Swap {
                key,
                expected,
                value,
            } => kv.compare_and_swap(key, expected, value),
        }
    }
}

/// What the closure decides for a write; it gets the inner store to write (or not) itself.
pub(crate) type OnWrite<'a> = Box<dyn Fn(&MemoryStore, Write<'_>) -> Result<bool, StoreError> + 'a>;

/// Reads go straight to `inner`; writes through `on_write`.
pub(crate) struct Around<'a> {
    pub(crate) inner: &'a MemoryStore,
    pub(crate) on_write: OnWrite<'a>,
}

impl KeyValue for Around<'_> {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(key)
    }
    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        self.inner.get_many(keys)
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        (self.on_write)(self.inner, Write::Set { key, value }).map(|_| ())
    }
    fn delete(&self, key: &str) -> Result<(), StoreError> {
        (self.on_write)(self.inner, Write::Delete { key }).map(|_| ())
    }
    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        value: &[u8],
    ) -> Result<bool, StoreError> {
        (self.on_write)(
            self.inner,
            Write::Swap {
                key,
                expected,
                value,
            },
        )
    }
    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        self.inner.increment(key, delta)
    }
    fn list_keys(&self) -> Result<Vec<String>, StoreError> {
        self.inner.list_keys()
    }
}
