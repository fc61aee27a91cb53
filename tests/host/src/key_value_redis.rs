//! Key-value stores on Redis (`type = "redis"` in the runtime config), the way Spin's
//! `spin-key-value-redis` lays them out, so several hosts can share one store as several Spin
//! hosts do:
//!
//! - keys are stored as they are, without the store's label (Spin configures one URL per label);
//! - `get-keys`/`list-keys` is `KEYS *`, every key of the Redis database;
//! - `increment` is `INCRBY`, so counters are decimal text (sqlite stores 8 little-endian bytes);
//! - compare-and-swap is optimistic: `WATCH` the key, read it, and write it in `MULTI`/`EXEC`,
//!   which Redis aborts if anyone wrote the key since the `WATCH`.
//!
//! The client is the `redis` crate, as in Spin; blocking calls, as the host's sqlite stores make.

use std::sync::{Mutex, MutexGuard};

use redis::{Commands, Connection, RedisResult};

use crate::key_value::DbError;

/// One Redis database.
pub struct RedisDb {
    url: String,
    client: redis::Client,
    // One connection, reopened after an error. WATCH belongs to a connection, so a whole
    // compare-and-swap holds the lock: nobody else's command can land between WATCH and EXEC on it.
    conn: Mutex<Option<Connection>>,
}

impl std::fmt::Debug for RedisDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisDb").field("url", &self.url).finish()
    }
}

impl RedisDb {
    /// A store on the Redis at `url` (`redis://host:port[/db]`); connects on first use, as Spin
    /// does, so a host starts while Redis is still coming up.
    pub fn open(url: &str) -> anyhow::Result<Self> {
        let client = redis::Client::open(url)
            .map_err(|e| anyhow::anyhow!("invalid Redis URL {url:?}: {e}"))?;
        Ok(Self {
            url: url.to_owned(),
            client,
            conn: Mutex::new(None),
        })
    }

    /// The URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn with<T>(&self, op: impl FnOnce(&mut Connection) -> RedisResult<T>) -> Result<T, DbError> {
        let mut guard: MutexGuard<'_, Option<Connection>> =
            self.conn.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            *guard = Some(self.client.get_connection().map_err(|e| e.to_string())?);
        }
        let Some(conn) = guard.as_mut() else {
            return Err("no Redis connection".into());
        };
        let result = op(conn);
        if let Err(e) = &result {
            // A broken connection is replaced on the next call; a command error keeps it.
            if e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error() {
                *guard = None;
            }
        }
        result.map_err(|e| e.to_string())
    }

    /// The value under `key`.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, DbError> {
        self.with(|c| c.get(key))
    }

    /// Sets `key` to `value`.
    pub fn set(&self, key: &str, value: &[u8]) -> Result<(), DbError> {
        self.with(|c| c.set(key, value))
    }

    /// Deletes `key`; a missing key is not an error.
    pub fn delete(&self, key: &str) -> Result<(), DbError> {
        self.with(|c| c.del(key))
    }

    /// Whether `key` exists.
    pub fn exists(&self, key: &str) -> Result<bool, DbError> {
        self.with(|c| c.exists(key))
    }

    /// Every key of the database, sorted.
    pub fn keys(&self) -> Result<Vec<String>, DbError> {
        let mut keys: Vec<String> = self.with(|c| c.keys("*"))?;
        keys.sort();
        Ok(keys)
    }

    /// Writes `value` only if `key` still holds `expected` (`None`: absent) and nobody writes it
    /// between the check and the write. Returns whether the write happened.
    pub fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        value: &[u8],
    ) -> Result<bool, DbError> {
        self.with(|c| {
            redis::cmd("WATCH").arg(key).exec(c)?;
            let current: Option<Vec<u8>> = c.get(key)?;
            if current.as_deref() != expected {
                redis::cmd("UNWATCH").exec(c)?;
                return Ok(false);
            }
            // EXEC answers nil when a watched key changed: the transaction did not run. (Read
            // as `()`, that nil would pass for success, so it is read as an Option.)
            let executed: Option<Vec<redis::Value>> =
                redis::pipe().atomic().set(key, value).query(c)?;
            Ok(executed.is_some())
        })
    }

    /// Adds `delta` to the counter under `key` (absent counts as 0).
    pub fn increment(&self, key: &str, delta: i64) -> Result<i64, DbError> {
        self.with(|c| c.incr(key, delta))
    }
}

/// A key watched on a connection of its own, as Spin's Redis `Cas` is: `WATCH` and `GET` when
/// the guest makes the handle, `MULTI`/`SET`/`EXEC` when it swaps.
pub struct Watched {
    conn: Connection,
    key: String,
    /// The value when the watch began.
    pub seen: Option<Vec<u8>>,
}

impl RedisDb {
    /// Starts a compare-and-swap of `key`.
    pub fn watch(&self, key: &str) -> Result<Watched, DbError> {
        let mut conn = self.client.get_connection().map_err(|e| e.to_string())?;
        redis::cmd("WATCH")
            .arg(key)
            .exec(&mut conn)
            .map_err(|e| e.to_string())?;
        let seen: Option<Vec<u8>> = conn.get(key).map_err(|e| e.to_string())?;
        Ok(Watched {
            conn,
            key: key.to_owned(),
            seen,
        })
    }
}

impl Watched {
    /// Spin's swap (spin-key-value-redis 3.x): the transaction's answer is read as `()`, so when
    /// Redis aborts it because the key changed after the `WATCH` (EXEC answers nil), the swap
    /// still reports success without having written. The test host keeps that behaviour so the
    /// app is tested against what Spin does; `components/spin/src/store.rs` reads a swapped key
    /// back for this reason, and `tests/e2e/tests/redis.rs` shows why.
    pub fn swap_as_spin_does(mut self, value: &[u8]) -> Result<(), DbError> {
        let result: RedisResult<()> = redis::pipe()
            .atomic()
            .set(&self.key, value)
            .query(&mut self.conn);
        redis::cmd("UNWATCH")
            .exec(&mut self.conn)
            .map_err(|e| e.to_string())?;
        result.map_err(|e| e.to_string())
    }
}
