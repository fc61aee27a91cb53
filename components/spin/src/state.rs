//! The app's state as the components open it per request: the key-value store, and the keyring
//! its trigger records are sealed with (the secret Spin variable `encryption_keys`).

use aurras_domain::delivery::Deliveries;
use aurras_domain::registry::Registry;
use aurras_domain::vault::Keyring;
use aurras_domain::ApiResult;

use crate::http::variable;
use crate::{WasiStore, STORE};

/// The store and its keyring.
pub struct State {
    /// The `default` store.
    pub kv: WasiStore,
    /// Seals and opens trigger records.
    pub ring: Keyring,
}

impl State {
    /// Opens the store; a missing or malformed keyring is a 503 naming `encryption_keys`.
    pub fn open() -> ApiResult<Self> {
        let ring = Keyring::from_variables(variable)?;
        Ok(Self {
            kv: WasiStore::open(STORE)?,
            ring,
        })
    }

    /// Sources and triggers.
    pub fn registry(&self) -> Registry<'_, WasiStore> {
        Registry::new(&self.kv, &self.ring)
    }

    /// Delivery state.
    pub fn deliveries(&self) -> Deliveries<'_, WasiStore> {
        Deliveries::new(&self.kv, &self.ring)
    }
}
