//! The symbol and decimals of the assets that events name, from the chain itself: an event of the
//! `Assets` pallet with an `asset_id` gets the asset's metadata (`Assets.Metadata`, decoded with
//! the runtime's own types) in its envelope's `asset`, so amounts can be shown as "2.5 USDT" and a
//! recipe's minimum read in the asset's units, with nothing known per chain in advance.
//!
//! Read once per asset, at the first block that names it, and again after a block that sets or
//! clears it (`Assets.MetadataSet`, `Assets.MetadataCleared`). An asset without metadata is
//! remembered as such, and an entry whose layout this code does not know is logged and left out:
//! the events still go out, without `asset`.

use std::collections::HashMap;
use std::sync::Mutex;

use anyhow::{Context, Result};
use aurras_domain::envelope::Envelope;
use aurras_domain::source::TokenInfo;
use serde_json::Value as Json;
use subxt::dynamic::{At, Value};

use super::{bytes, map_value};
use crate::chain::{AtBlock, Chain};

/// The pallet whose events carry an `asset_id` with metadata in the same pallet.
const PALLET: &str = "Assets";
/// The longest symbol kept (the pallet's own bound is the runtime's `StringLimit`).
const MAX_SYMBOL_CHARS: usize = 16;

/// The assets seen so far, by id: their metadata, or `None` for an asset that has none.
#[derive(Default)]
pub struct AssetBook {
    known: Mutex<HashMap<u32, Option<TokenInfo>>>,
}

/// The asset an event of the `Assets` pallet names (a `u32` on every Asset Hub), if it does.
fn asset_id(e: &Envelope) -> Option<u32> {
    if e.pallet != PALLET {
        return None;
    }
    match e.fields.get("asset_id")? {
        Json::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Json::String(s) => s.parse().ok(),
        _ => None,
    }
}

impl AssetBook {
    /// Sets `asset` on every envelope of block `number` that names an asset with metadata; what
    /// is not known yet is read in the block's own state.
    pub async fn enrich(
        &self,
        chain: &Chain,
        number: u64,
        envelopes: &mut [Envelope],
    ) -> Result<()> {
        if !envelopes.iter().any(|e| asset_id(e).is_some()) {
            return Ok(());
        }
        // Metadata this block changed is read again, at this block.
        for e in envelopes.iter() {
            if matches!(e.event.as_str(), "MetadataSet" | "MetadataCleared") {
                if let Some(id) = asset_id(e) {
                    self.lock().remove(&id);
                }
            }
        }
        let mut at = None;
        for e in envelopes.iter_mut() {
            let Some(id) = asset_id(e) else { continue };
            let known = self.lock().get(&id).cloned();
            let metadata = match known {
                Some(metadata) => metadata,
                None => {
                    if at.is_none() {
                        at = Some(chain.at(number).await?);
                    }
                    let Some(at) = at.as_ref() else { continue };
                    let metadata = read(at, id).await?;
                    tracing::debug!(asset = id, block = number, ?metadata, "asset metadata read");
                    self.lock().insert(id, metadata.clone());
                    metadata
                }
            };
            e.asset = metadata;
        }
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u32, Option<TokenInfo>>> {
        self.known.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Every asset with metadata at `at` (`Assets.Metadata`), by id: what the operator stores with
/// the source so people can pick assets by symbol. Empty on a runtime without the pallet.
pub async fn all(at: &AtBlock) -> Result<Vec<(u32, TokenInfo)>> {
    let address = subxt::dynamic::storage::<Vec<Value>, Value>(PALLET, "Metadata");
    let Ok(entry) = at.storage().entry(address) else {
        return Ok(Vec::new());
    };
    let mut entries = entry
        .iter(Vec::<Value>::new())
        .await
        .context("cannot list the assets' metadata")?;
    let mut found = Vec::new();
    while let Some(kv) = entries.next().await {
        let kv = kv.context("cannot read an asset's metadata")?;
        // Blake2_128Concat of the u32 id: the key ends with the id itself, little-endian.
        let key = kv.key_bytes();
        let Some(id) = key
            .len()
            .checked_sub(4)
            .and_then(|start| key[start..].try_into().ok())
            .map(u32::from_le_bytes)
        else {
            continue;
        };
        if let Ok(value) = kv.value().decode() {
            if let Some(metadata) = token(&value) {
                found.push((id, metadata));
            }
        }
    }
    found.sort_by_key(|(id, _)| *id);
    Ok(found)
}

/// `Assets.Metadata(id)` at `at`: `None` when the asset has none (or an empty symbol).
async fn read(at: &AtBlock, id: u32) -> Result<Option<TokenInfo>> {
    Ok(map_value(at, PALLET, "Metadata", id)
        .await?
        .and_then(|value| token(&value)))
}

/// The symbol and decimals of a decoded `AssetMetadata`; `None` without a symbol.
fn token<T>(value: &Value<T>) -> Option<TokenInfo> {
    let decimals = value
        .at("decimals")
        .and_then(|d| d.as_u128())
        .and_then(|d| u8::try_from(d).ok());
    let symbol = value.at("symbol").and_then(bytes).map(|b| {
        String::from_utf8_lossy(&b)
            .trim()
            .chars()
            .take(MAX_SYMBOL_CHARS)
            .collect::<String>()
    });
    match (symbol, decimals) {
        (Some(symbol), Some(decimals)) if !symbol.is_empty() => {
            Some(TokenInfo { symbol, decimals })
        }
        _ => None,
    }
}
