//! Host side of the Spin interfaces: `fermyon:spin/key-value@2.0.0`, `fermyon:spin/variables@2.0.0`
//! and `wasi:keyvalue@0.2.0-draft2` (store, atomics, batch), implemented on [`RequestState`].

use wasmtime::component::{HasSelf, Linker, Resource};

use crate::key_value::Backend;
use crate::key_value_redis::Watched;
use crate::state::RequestState;

wasmtime::component::bindgen!({
    path: "wit",
    world: "fermyon:spin/host",
    with: {
        "fermyon:spin/key-value.store": OpenStore,
        "wasi:keyvalue/store.bucket": OpenStore,
        "wasi:keyvalue/atomics.cas": CasSnapshot,
    },
    imports: { default: trappable },
});

use fermyon::spin::{key_value, variables};
use wasi::keyvalue::{atomics, batch, store as wasi_store};

/// A store a guest has opened: its label and the database behind it.
pub struct OpenStore {
    label: String,
    db: Backend,
}

/// A `wasi:keyvalue/atomics.cas`: the value seen when it was made, for a later `swap`; on Redis,
/// the connection watching the key, as in Spin.
pub struct CasSnapshot {
    label: String,
    db: Backend,
    key: String,
    seen: Option<Vec<u8>>,
    watched: Option<Watched>,
}

/// Adds every Spin interface to `linker`.
pub fn add_to_linker(linker: &mut Linker<RequestState>) -> wasmtime::Result<()> {
    key_value::add_to_linker::<_, HasSelf<RequestState>>(linker, |s| s)?;
    variables::add_to_linker::<_, HasSelf<RequestState>>(linker, |s| s)?;
    wasi_store::add_to_linker::<_, HasSelf<RequestState>>(linker, |s| s)?;
    atomics::add_to_linker::<_, HasSelf<RequestState>>(linker, |s| s)?;
    batch::add_to_linker::<_, HasSelf<RequestState>>(linker, |s| s)?;
    Ok(())
}

/// Why a component may not open a store.
enum OpenError {
    NoSuchStore,
    AccessDenied,
}

impl RequestState {
    /// Spin's rule: a label the component does not list is denied, whether or not it exists.
    fn open_store(&self, label: &str) -> Result<OpenStore, OpenError> {
        if !self.component.key_value_stores.iter().any(|l| l == label) {
            return Err(OpenError::AccessDenied);
        }
        let db = self.app_stores.get(label).ok_or(OpenError::NoSuchStore)?;
        Ok(OpenStore {
            label: label.to_owned(),
            db: db.clone(),
        })
    }

    fn store(&self, handle: &Resource<OpenStore>) -> wasmtime::Result<&OpenStore> {
        Ok(self.table.get(handle)?)
    }
}

type KvResult<T> = wasmtime::Result<Result<T, key_value::Error>>;

impl key_value::Host for RequestState {}

impl key_value::HostStore for RequestState {
    fn open(&mut self, label: String) -> KvResult<Resource<OpenStore>> {
        match self.open_store(&label) {
            Ok(store) => Ok(Ok(self.table.push(store)?)),
            Err(OpenError::AccessDenied) => Ok(Err(key_value::Error::AccessDenied)),
            Err(OpenError::NoSuchStore) => Ok(Err(key_value::Error::NoSuchStore)),
        }
    }

    fn get(&mut self, this: Resource<OpenStore>, key: String) -> KvResult<Option<Vec<u8>>> {
        let s = self.store(&this)?;
        Ok(s.db.get(&s.label, &key).map_err(key_value::Error::Other))
    }

    fn set(&mut self, this: Resource<OpenStore>, key: String, value: Vec<u8>) -> KvResult<()> {
        let s = self.store(&this)?;
        Ok(s.db
            .set(&s.label, &key, &value)
            .map_err(key_value::Error::Other))
    }

    fn delete(&mut self, this: Resource<OpenStore>, key: String) -> KvResult<()> {
        let s = self.store(&this)?;
        Ok(s.db.delete(&s.label, &key).map_err(key_value::Error::Other))
    }

    fn exists(&mut self, this: Resource<OpenStore>, key: String) -> KvResult<bool> {
        let s = self.store(&this)?;
        Ok(s.db.exists(&s.label, &key).map_err(key_value::Error::Other))
    }

    fn get_keys(&mut self, this: Resource<OpenStore>) -> KvResult<Vec<String>> {
        let s = self.store(&this)?;
        Ok(s.db.keys(&s.label).map_err(key_value::Error::Other))
    }

    fn drop(&mut self, this: Resource<OpenStore>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        Ok(())
    }
}

impl variables::Host for RequestState {
    fn get(&mut self, name: String) -> wasmtime::Result<Result<String, variables::Error>> {
        if crate::variables::check_name(&name).is_err() {
            return Ok(Err(variables::Error::InvalidName(name)));
        }
        Ok(self
            .component
            .variables
            .get(&name)
            .cloned()
            .ok_or(variables::Error::Undefined(name)))
    }
}

type WasiKvResult<T> = wasmtime::Result<Result<T, wasi_store::Error>>;

impl wasi_store::Host for RequestState {
    fn open(&mut self, identifier: String) -> WasiKvResult<Resource<OpenStore>> {
        match self.open_store(&identifier) {
            Ok(store) => Ok(Ok(self.table.push(store)?)),
            Err(OpenError::AccessDenied) => Ok(Err(wasi_store::Error::AccessDenied)),
            Err(OpenError::NoSuchStore) => Ok(Err(wasi_store::Error::NoSuchStore)),
        }
    }
}

impl wasi_store::HostBucket for RequestState {
    fn get(&mut self, this: Resource<OpenStore>, key: String) -> WasiKvResult<Option<Vec<u8>>> {
        let s = self.store(&this)?;
        Ok(s.db.get(&s.label, &key).map_err(wasi_store::Error::Other))
    }

    fn set(&mut self, this: Resource<OpenStore>, key: String, value: Vec<u8>) -> WasiKvResult<()> {
        let s = self.store(&this)?;
        Ok(s.db
            .set(&s.label, &key, &value)
            .map_err(wasi_store::Error::Other))
    }

    fn delete(&mut self, this: Resource<OpenStore>, key: String) -> WasiKvResult<()> {
        let s = self.store(&this)?;
        Ok(s.db
            .delete(&s.label, &key)
            .map_err(wasi_store::Error::Other))
    }

    fn exists(&mut self, this: Resource<OpenStore>, key: String) -> WasiKvResult<bool> {
        let s = self.store(&this)?;
        Ok(s.db
            .exists(&s.label, &key)
            .map_err(wasi_store::Error::Other))
    }

    fn list_keys(
        &mut self,
        this: Resource<OpenStore>,
        cursor: Option<String>,
    ) -> WasiKvResult<wasi_store::KeyResponse> {
        let s = self.store(&this)?;
        // Like Spin's sqlite backend: one page with every key, so a cursor is never handed out.
        if cursor.is_some() {
            return Ok(Err(wasi_store::Error::Other(
                "this store returns every key at once and takes no cursor".into(),
            )));
        }
        Ok(s.db
            .keys(&s.label)
            .map(|keys| wasi_store::KeyResponse { keys, cursor: None })
            .map_err(wasi_store::Error::Other))
    }

    fn drop(&mut self, this: Resource<OpenStore>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        Ok(())
    }
}

impl atomics::Host for RequestState {
    fn increment(
        &mut self,
        bucket: Resource<OpenStore>,
        key: String,
        delta: i64,
    ) -> WasiKvResult<i64> {
        let s = self.store(&bucket)?;
        Ok(s.db
            .increment(&s.label, &key, delta)
            .map_err(wasi_store::Error::Other))
    }

    fn swap(
        &mut self,
        cas: Resource<CasSnapshot>,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), atomics::CasError>> {
        if self.table.get(&cas)?.watched.is_some() {
            let watched = self.table.delete(cas)?.watched;
            let done = watched.map(|w| w.swap_as_spin_does(&value)).transpose();
            return Ok(done
                .map(drop)
                .map_err(|e| atomics::CasError::StoreError(wasi_store::Error::Other(e))));
        }
        let snapshot = self.table.get(&cas)?;
        let swapped = snapshot.db.compare_and_swap(
            &snapshot.label,
            &snapshot.key,
            snapshot.seen.as_deref(),
            &value,
        );
        match swapped {
            Ok(true) => {
                self.table.delete(cas)?;
                Ok(Ok(()))
            }
            // Hand the guest a fresh snapshot so it can retry from the current value.
            Ok(false) => {
                let snapshot = self.table.delete(cas)?;
                let seen = snapshot.db.get(&snapshot.label, &snapshot.key);
                match seen {
                    Ok(seen) => {
                        let fresh = self.table.push(CasSnapshot {
                            seen,
                            watched: None,
                            ..snapshot
                        })?;
                        Ok(Err(atomics::CasError::CasFailed(fresh)))
                    }
                    Err(e) => Ok(Err(atomics::CasError::StoreError(
                        wasi_store::Error::Other(e),
                    ))),
                }
            }
            Err(e) => {
                self.table.delete(cas)?;
                Ok(Err(atomics::CasError::StoreError(
                    wasi_store::Error::Other(e),
                )))
            }
        }
    }
}

impl atomics::HostCas for RequestState {
    fn new(
        &mut self,
        bucket: Resource<OpenStore>,
        key: String,
    ) -> WasiKvResult<Resource<CasSnapshot>> {
        let s = self.store(&bucket)?;
        let (label, db) = (s.label.clone(), s.db.clone());
        let started = match &db {
            Backend::Redis(redis) => redis.watch(&key).map(|w| (w.seen.clone(), Some(w))),
            Backend::Sqlite(_) => db.get(&label, &key).map(|seen| (seen, None)),
        };
        match started {
            Ok((seen, watched)) => Ok(Ok(self.table.push(CasSnapshot {
                label,
                db,
                key,
                seen,
                watched,
            })?)),
            Err(e) => Ok(Err(wasi_store::Error::Other(e))),
        }
    }

    fn current(&mut self, this: Resource<CasSnapshot>) -> WasiKvResult<Option<Vec<u8>>> {
        Ok(Ok(self.table.get(&this)?.seen.clone()))
    }

    fn drop(&mut self, this: Resource<CasSnapshot>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        Ok(())
    }
}

impl batch::Host for RequestState {
    fn get_many(
        &mut self,
        bucket: Resource<OpenStore>,
        keys: Vec<String>,
    ) -> WasiKvResult<Vec<(String, Option<Vec<u8>>)>> {
        let s = self.store(&bucket)?;
        let found: Result<Vec<_>, _> = keys
            .into_iter()
            .map(|k| s.db.get(&s.label, &k).map(|v| (k, v)))
            .collect();
        Ok(found.map_err(wasi_store::Error::Other))
    }

    fn set_many(
        &mut self,
        bucket: Resource<OpenStore>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> WasiKvResult<()> {
        let s = self.store(&bucket)?;
        let done: Result<(), _> = key_values
            .iter()
            .try_for_each(|(k, v)| s.db.set(&s.label, k, v));
        Ok(done.map_err(wasi_store::Error::Other))
    }

    fn delete_many(&mut self, bucket: Resource<OpenStore>, keys: Vec<String>) -> WasiKvResult<()> {
        let s = self.store(&bucket)?;
        let done: Result<(), _> = keys.iter().try_for_each(|k| s.db.delete(&s.label, k));
        Ok(done.map_err(wasi_store::Error::Other))
    }
}
