//! How trigger records are stored under `trigger/<id>`: the trigger as JSON with its action
//! (push endpoint and keys, webhook URL and signing secret) sealed by the deployment's
//! [`Keyring`], bound to the record's key. Everything else stays readable JSON, so an operator
//! can still see what a record is about without the key.

use serde_json::Value;

use crate::cas;
use crate::error::{ApiError, ApiResult};
use crate::keys;
use crate::trigger::Trigger;
use crate::vault::Keyring;

/// The sealed field.
const SEALED_FIELD: &str = "action";

/// The stored form of `trigger`, its action sealed under the keyring's current key.
pub fn encode_trigger(trigger: &Trigger, ring: &Keyring) -> ApiResult<Vec<u8>> {
    let mut record = serde_json::to_value(trigger)
        .map_err(|e| ApiError::internal(format!("cannot encode a trigger: {e}")))?;
    ring.seal_field(&mut record, SEALED_FIELD, &keys::trigger(&trigger.id))?;
    cas::encode(&record)
}

/// The trigger stored under `key`. Records written before encryption (action in the clear)
/// still read; [`reseal`] moves them under the current key.
pub fn decode_trigger(key: &str, bytes: &[u8], ring: &Keyring) -> ApiResult<Trigger> {
    let mut record: Value = cas::decode(key, bytes)?;
    ring.open_field(&mut record, SEALED_FIELD, key)?;
    serde_json::from_value(record)
        .map_err(|e| ApiError::internal(format!("stored value {key} is unreadable: {e}")))
}

/// The record under `key` sealed with the keyring's current key, or `None` when it already is.
/// Only the sealed field is touched: the record is read once, as JSON.
pub fn reseal(key: &str, bytes: &[u8], ring: &Keyring) -> ApiResult<Option<Vec<u8>>> {
    let mut record: Value = cas::decode(key, bytes)?;
    if ring.is_current(&record, SEALED_FIELD, key)? {
        return Ok(None);
    }
    ring.open_field(&mut record, SEALED_FIELD, key)?;
    ring.seal_field(&mut record, SEALED_FIELD, key)?;
    cas::encode(&record).map(Some)
}
