//! Key-value stores backed by sqlite, one database file per configured store, with Spin's table
//! layout, or by Redis ([`crate::key_value_redis`]), serving both `fermyon:spin/key-value@2.0.0`
//! and `wasi:keyvalue@0.2.0-draft2`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::{Context, Result};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use crate::key_value_redis::RedisDb;

/// One sqlite database holding one or more labelled stores.
#[derive(Debug)]
pub struct SqliteDb {
    path: PathBuf,
    conn: Mutex<Connection>,
}

/// An error from the database, as text for the guest's `other(string)`.
pub type DbError = String;

impl SqliteDb {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create the directory {}", dir.display()))?;
        }
        let conn = Connection::open(path)
            .with_context(|| format!("cannot open the key-value database {}", path.display()))?;
        // Several hosts (or a restarted one) may share a file: wait for locks instead of failing.
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS spin_key_value (
                store TEXT NOT NULL,
                key   TEXT NOT NULL,
                value BLOB NOT NULL,
                PRIMARY KEY (store, key)
            );",
        )
        .with_context(|| format!("cannot prepare the key-value database {}", path.display()))?;
        Ok(Self {
            path: path.to_owned(),
            conn: Mutex::new(conn),
        })
    }

    /// Where the database lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave sqlite inconsistent: keep serving.
        self.conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The value under `key` in `store`.
    pub fn get(&self, store: &str, key: &str) -> Result<Option<Vec<u8>>, DbError> {
        self.conn()
            .query_row(
                "SELECT value FROM spin_key_value WHERE store = ?1 AND key = ?2",
                params![store, key],
                |row| row.get(0),
            )
            .optional()
            .map_err(|e| e.to_string())
    }

    /// Sets `key` in `store` to `value`.
    pub fn set(&self, store: &str, key: &str, value: &[u8]) -> Result<(), DbError> {
        self.conn()
            .execute(
                "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (store, key) DO UPDATE SET value = excluded.value",
                params![store, key, value],
            )
            .map(drop)
            .map_err(|e| e.to_string())
    }

    /// Deletes `key` from `store`; deleting a missing key is not an error.
    pub fn delete(&self, store: &str, key: &str) -> Result<(), DbError> {
        self.conn()
            .execute(
                "DELETE FROM spin_key_value WHERE store = ?1 AND key = ?2",
                params![store, key],
            )
            .map(drop)
            .map_err(|e| e.to_string())
    }

    /// Whether `key` exists in `store`.
    pub fn exists(&self, store: &str, key: &str) -> Result<bool, DbError> {
        self.get(store, key).map(|v| v.is_some())
    }

    /// Every key in `store`.
    pub fn keys(&self, store: &str) -> Result<Vec<String>, DbError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT key FROM spin_key_value WHERE store = ?1 ORDER BY key")
            .map_err(|e| e.to_string())?;
        let rows = stmt
            .query_map(params![store], |row| row.get(0))
            .map_err(|e| e.to_string())?;
        rows.collect::<Result<_, _>>().map_err(|e| e.to_string())
    }

    /// Writes `value` only if the key still holds `expected` (`None`: the key is absent).
    /// Returns whether the write happened.
    pub fn compare_and_swap(
        &self,
        store: &str,
        key: &str,
        expected: Option<&[u8]>,
        value: &[u8],
    ) -> Result<bool, DbError> {
        let mut conn = self.conn();
        // IMMEDIATE takes the write lock up front, so another process cannot slip in between the
        // read and the write.
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| e.to_string())?;
        let current: Option<Vec<u8>> = tx
            .query_row(
                "SELECT value FROM spin_key_value WHERE store = ?1 AND key = ?2",
                params![store, key],
                |row| row.get(0),
            )
            .optional()
            .map_err(|e| e.to_string())?;
        if current.as_deref() != expected {
            return Ok(false);
        }
        tx.execute(
            "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
             ON CONFLICT (store, key) DO UPDATE SET value = excluded.value",
            params![store, key, value],
        )
        .map_err(|e| e.to_string())?;
        tx.commit().map_err(|e| e.to_string())?;
        Ok(true)
    }

    /// Adds `delta` to the integer under `key` (absent counts as 0), atomically. Like Spin's sqlite
    /// backend, the integer is stored as 8 little-endian bytes.
    pub fn increment(&self, store: &str, key: &str, delta: i64) -> Result<i64, DbError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| e.to_string())?;
        let current: Option<Vec<u8>> = tx
            .query_row(
                "SELECT value FROM spin_key_value WHERE store = ?1 AND key = ?2",
                params![store, key],
                |row| row.get(0),
            )
            .optional()
            .map_err(|e| e.to_string())?;
        let current = match current {
            None => 0,
            Some(bytes) => <[u8; 8]>::try_from(bytes.as_slice())
                .map(i64::from_le_bytes)
                .map_err(|_| format!("the value under {key:?} is not an 8-byte counter"))?,
        };
        let next = current
            .checked_add(delta)
            .ok_or_else(|| format!("incrementing {key:?} overflows"))?;
        tx.execute(
            "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
             ON CONFLICT (store, key) DO UPDATE SET value = excluded.value",
            params![store, key, next.to_le_bytes().to_vec()],
        )
        .map_err(|e| e.to_string())?;
        tx.commit().map_err(|e| e.to_string())?;
        Ok(next)
    }
}

/// Where a store lives.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum StoreLocation {
    /// A sqlite file (`type = "spin"`).
    Sqlite(PathBuf),
    /// A Redis database (`type = "redis"`), by URL.
    Redis(String),
}

impl std::fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreLocation::Sqlite(path) => write!(f, "{}", path.display()),
            StoreLocation::Redis(url) => write!(f, "Redis at {url}"),
        }
    }
}

/// The database behind one store label.
#[derive(Debug, Clone)]
pub enum Backend {
    /// sqlite: the label is part of every row's key.
    Sqlite(Arc<SqliteDb>),
    /// Redis: keys are stored bare, as Spin does.
    Redis(Arc<RedisDb>),
}

impl Backend {
    /// The value under `key` in `store`.
    pub fn get(&self, store: &str, key: &str) -> Result<Option<Vec<u8>>, DbError> {
        match self {
            Backend::Sqlite(db) => db.get(store, key),
            Backend::Redis(db) => db.get(key),
        }
    }

    /// Sets `key` in `store` to `value`.
    pub fn set(&self, store: &str, key: &str, value: &[u8]) -> Result<(), DbError> {
        match self {
            Backend::Sqlite(db) => db.set(store, key, value),
            Backend::Redis(db) => db.set(key, value),
        }
    }

    /// Deletes `key` from `store`.
    pub fn delete(&self, store: &str, key: &str) -> Result<(), DbError> {
        match self {
            Backend::Sqlite(db) => db.delete(store, key),
            Backend::Redis(db) => db.delete(key),
        }
    }

    /// Whether `key` exists in `store`.
    pub fn exists(&self, store: &str, key: &str) -> Result<bool, DbError> {
        match self {
            Backend::Sqlite(db) => db.exists(store, key),
            Backend::Redis(db) => db.exists(key),
        }
    }

    /// Every key in `store`.
    pub fn keys(&self, store: &str) -> Result<Vec<String>, DbError> {
        match self {
            Backend::Sqlite(db) => db.keys(store),
            Backend::Redis(db) => db.keys(),
        }
    }

    /// See [`SqliteDb::compare_and_swap`].
    pub fn compare_and_swap(
        &self,
        store: &str,
        key: &str,
        expected: Option<&[u8]>,
        value: &[u8],
    ) -> Result<bool, DbError> {
        match self {
            Backend::Sqlite(db) => db.compare_and_swap(store, key, expected, value),
            Backend::Redis(db) => db.compare_and_swap(key, expected, value),
        }
    }

    /// See [`SqliteDb::increment`].
    pub fn increment(&self, store: &str, key: &str, delta: i64) -> Result<i64, DbError> {
        match self {
            Backend::Sqlite(db) => db.increment(store, key, delta),
            Backend::Redis(db) => db.increment(key, delta),
        }
    }
}

/// Every configured store label and the database that holds it.
#[derive(Debug, Default, Clone)]
pub struct KeyValueStores {
    stores: BTreeMap<String, (Backend, StoreLocation)>,
}

impl KeyValueStores {
    /// Opens one database per distinct location; labels sharing one share the connection.
    pub fn open(labels: &BTreeMap<String, StoreLocation>) -> Result<Self> {
        let mut by_location: BTreeMap<&StoreLocation, Backend> = BTreeMap::new();
        let mut stores = BTreeMap::new();
        for (label, location) in labels {
            let backend = match by_location.get(location) {
                Some(backend) => backend.clone(),
                None => {
                    let backend = match location {
                        StoreLocation::Sqlite(path) => Backend::Sqlite(Arc::new(
                            SqliteDb::open(path)
                                .with_context(|| format!("key-value store {label:?}"))?,
                        )),
                        StoreLocation::Redis(url) => Backend::Redis(Arc::new(
                            RedisDb::open(url)
                                .with_context(|| format!("key-value store {label:?}"))?,
                        )),
                    };
                    by_location.insert(location, backend.clone());
                    backend
                }
            };
            stores.insert(label.clone(), (backend, location.clone()));
        }
        Ok(Self { stores })
    }

    /// Whether `label` is configured.
    pub fn contains(&self, label: &str) -> bool {
        self.stores.contains_key(label)
    }

    /// The database for `label`.
    pub fn get(&self, label: &str) -> Option<&Backend> {
        self.stores.get(label).map(|(backend, _)| backend)
    }

    /// Labels and where they live, for the startup banner.
    pub fn describe(&self) -> impl Iterator<Item = (&str, &StoreLocation)> {
        self.stores
            .iter()
            .map(|(label, (_, location))| (label.as_str(), location))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> (tempfile::TempDir, SqliteDb) {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = SqliteDb::open(&dir.path().join("kv.db")).expect("open");
        (dir, db)
    }

    #[test]
    fn stores_are_separate_namespaces() {
        let (_dir, db) = db();
        db.set("a", "k", b"1").expect("set");
        assert_eq!(db.get("a", "k").expect("get"), Some(b"1".to_vec()));
        assert_eq!(db.get("b", "k").expect("get"), None);
        assert_eq!(db.keys("a").expect("keys"), vec!["k".to_string()]);
        db.delete("a", "k").expect("delete");
        assert!(!db.exists("a", "k").expect("exists"));
    }

    #[test]
    fn compare_and_swap_rejects_stale_expectations() {
        let (_dir, db) = db();
        assert!(db.compare_and_swap("s", "k", None, b"1").expect("cas"));
        assert!(!db.compare_and_swap("s", "k", None, b"2").expect("cas"));
        assert!(!db
            .compare_and_swap("s", "k", Some(b"0"), b"2")
            .expect("cas"));
        assert!(db
            .compare_and_swap("s", "k", Some(b"1"), b"2")
            .expect("cas"));
        assert_eq!(db.get("s", "k").expect("get"), Some(b"2".to_vec()));
    }

    #[test]
    fn increment_counts_from_zero_and_rejects_non_numbers() {
        let (_dir, db) = db();
        assert_eq!(db.increment("s", "n", 5).expect("inc"), 5);
        assert_eq!(db.increment("s", "n", -2).expect("inc"), 3);
        db.set("s", "text", b"abc").expect("set");
        assert!(db.increment("s", "text", 1).is_err());
    }
}
