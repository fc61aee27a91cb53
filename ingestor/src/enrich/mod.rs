//! What an event means beyond its own fields, read from the chain so notifications can say it in
//! a person's words: the symbol and decimals of the asset an `Assets` event names
//! ([`assets`]), the track of the referendum a `Referenda` event names, by its name in the
//! runtime ([`referenda`]). Each is read once and remembered; a block that changes it is read
//! again. Nothing is known per chain in advance.

pub mod assets;
pub mod referenda;

use anyhow::{Context, Result};
use aurras_domain::envelope::Envelope;
use subxt::dynamic::Value;
use subxt::ext::scale_value::{Composite, Primitive, ValueDef};

use crate::chain::{AtBlock, Chain};

/// Everything the envelopes of a block are enriched with.
#[derive(Default)]
pub struct Enrichment {
    assets: assets::AssetBook,
    tracks: referenda::TrackBook,
}

impl Enrichment {
    /// Adds what each envelope of block `number` names: its asset, its referendum's track.
    pub async fn enrich(
        &self,
        chain: &Chain,
        number: u64,
        envelopes: &mut [Envelope],
    ) -> Result<()> {
        self.assets.enrich(chain, number, envelopes).await?;
        self.tracks.enrich(chain, number, envelopes).await
    }
}

/// `<pallet>.<entry>(key)` of a map keyed by a `u32`, decoded with the runtime's types at `at`:
/// `None` when absent, or when its layout is not one this code reads (logged; the events go out
/// without what it would have added).
async fn map_value(at: &AtBlock, pallet: &str, entry: &str, key: u32) -> Result<Option<Value>> {
    let address = subxt::dynamic::storage::<Vec<Value>, Value>(pallet, entry);
    let storage = at
        .storage()
        .entry(address)
        .with_context(|| format!("the runtime has no {pallet}.{entry}"))?;
    let Some(found) = storage
        .try_fetch(vec![Value::u128(u128::from(key))])
        .await
        .with_context(|| format!("cannot read {pallet}.{entry}({key})"))?
    else {
        return Ok(None);
    };
    match found.decode() {
        Ok(value) => Ok(Some(value)),
        Err(e) => {
            tracing::warn!(%pallet, %entry, key, error = %e, "not decoded; events go out without it");
            Ok(None)
        }
    }
}

/// The bytes of a `Vec<u8>`, `BoundedVec<u8, _>` or `[u8; N]` as a decoded value (a sequence of
/// `u8`, maybe inside a one-field wrapper).
fn bytes<T>(value: &Value<T>) -> Option<Vec<u8>> {
    match &value.value {
        ValueDef::Composite(Composite::Unnamed(items)) => {
            let direct: Option<Vec<u8>> = items
                .iter()
                .map(|v| match &v.value {
                    ValueDef::Primitive(Primitive::U128(b)) => u8::try_from(*b).ok(),
                    _ => None,
                })
                .collect();
            match (direct, items.as_slice()) {
                (Some(direct), _) => Some(direct),
                (None, [only]) => bytes(only),
                _ => None,
            }
        }
        ValueDef::Composite(Composite::Named(fields)) if fields.len() == 1 => bytes(&fields[0].1),
        _ => None,
    }
}
