//! Re-encryption of trigger records after a key rotation, a page at a time
//! (`POST /api/maintenance/reencrypt`; docs/security.md).

use super::Registry;
use crate::cas;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::keys;
use crate::kv::KeyValue;
use crate::stored::reseal;

/// Records one re-encrypt call handles when the caller names no `limit`.
pub const RESEAL_DEFAULT_LIMIT: usize = 200;
/// The most records one re-encrypt call handles (each is a read and a write).
pub const RESEAL_MAX_LIMIT: usize = 1000;

/// Which records one re-encrypt call handles: `?after=<trigger id>&limit=<n>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResealPage {
    /// Start after this trigger id (the previous answer's `next`).
    pub after: Option<String>,
    /// How many records at most.
    pub limit: usize,
}

impl ResealPage {
    /// Parses the query string; unknown or malformed parameters are refused by name.
    pub fn parse(query: &str) -> ApiResult<Self> {
        let mut page = Self {
            after: None,
            limit: RESEAL_DEFAULT_LIMIT,
        };
        for (name, value) in query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| p.split_once('=').unwrap_or((p, "")))
        {
            match name {
                "after" => {
                    let ok = !value.is_empty()
                        && value.len() <= 64
                        && value
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'_');
                    if !ok {
                        return Err(ApiError::invalid(
                            "after",
                            "a trigger id, as the previous answer's next gave it",
                        ));
                    }
                    page.after = Some(value.to_owned());
                }
                "limit" => {
                    page.limit = value
                        .parse()
                        .ok()
                        .filter(|n| (1..=RESEAL_MAX_LIMIT).contains(n))
                        .ok_or_else(|| {
                            ApiError::invalid(
                                "limit",
                                format!("a whole number from 1 to {RESEAL_MAX_LIMIT}"),
                            )
                        })?;
                }
                _ => {
                    return Err(ApiError::new(
                        ErrorCode::UnknownField,
                        format!(
                            "unknown query parameter {name:?}; this route takes after and limit"
                        ),
                    )
                    .at(name))
                }
            }
        }
        Ok(page)
    }
}

/// What one [`Registry::reseal_triggers`] call did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Resealed {
    /// Trigger records looked at.
    pub examined: usize,
    /// Of those, re-encrypted under the current key (they were in the clear or under another key).
    pub resealed: usize,
    /// The last record looked at, to pass as `after` to the next call; `None` when all are done.
    pub next: Option<String>,
    /// The id of the key records are now sealed with.
    pub key: String,
}

impl<'a, S: KeyValue + ?Sized> Registry<'a, S> {
    /// Re-encrypts up to `limit` trigger records (in id order, after the id `after`) that are not
    /// sealed under the keyring's current key, so an old key can be dropped once a pass ends with
    /// `next: None`. Each record is rewritten by compare-and-swap on the bytes it was read as, so
    /// an owner's concurrent change is never overwritten; a record that keeps changing is left to
    /// the writers, which seal with the current key anyway.
    pub fn reseal_triggers(&self, page: &ResealPage) -> ApiResult<Resealed> {
        let (after, limit) = (page.after.as_deref(), page.limit);
        let first = keys::trigger(after.unwrap_or(""));
        let mut record_keys: Vec<String> = self
            .kv
            .list_keys()?
            .into_iter()
            .filter(|k| k.starts_with(keys::TRIGGER_PREFIX) && (after.is_none() || *k > first))
            .collect();
        record_keys.sort();
        let more = record_keys.len() > limit;
        record_keys.truncate(limit);
        let mut done = Resealed {
            key: self.ring.current_id().to_owned(),
            ..Resealed::default()
        };
        for key in &record_keys {
            done.examined += 1;
            for _ in 0..cas::MAX_CAS_ATTEMPTS {
                let Some(bytes) = self.kv.get(key)? else {
                    break; // deleted meanwhile
                };
                let Some(sealed) = reseal(key, &bytes, self.ring)? else {
                    break;
                };
                if self.kv.compare_and_swap(key, Some(&bytes), &sealed)? {
                    done.resealed += 1;
                    break;
                }
            }
        }
        done.next = match (more, record_keys.last()) {
            (true, Some(last)) => last.strip_prefix(keys::TRIGGER_PREFIX).map(str::to_owned),
            _ => None,
        };
        Ok(done)
    }
}
