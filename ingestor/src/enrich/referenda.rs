//! The track of the referendum a `Referenda` event names, with its name in the runtime, so a
//! notice can say "on the treasurer track". `Submitted` carries the track id; every other event
//! names only the index, and a finished referendum's state no longer holds its track, so the
//! track is read from the referendum's state in the block before the event
//! (`Referenda.ReferendumInfoFor`, `Ongoing`), and remembered per referendum. Names come from the
//! runtime's `Referenda.Tracks` constant, per runtime version.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use anyhow::Result;
use aurras_domain::envelope::{Envelope, Track};
use serde_json::Value as Json;
use subxt::dynamic::{At, Value};
use subxt::ext::scale_value::{Composite, ValueDef};

use super::{bytes, map_value};
use crate::chain::{AtBlock, Chain};

const PALLET: &str = "Referenda";

/// Referenda seen so far (index → track id) and each runtime's track names.
#[derive(Default)]
pub struct TrackBook {
    tracks: Mutex<HashMap<u32, u16>>,
    names: Mutex<HashMap<u32, BTreeMap<u16, String>>>,
}

fn number(value: Option<&Json>) -> Option<u64> {
    match value? {
        Json::Number(n) => n.as_u64(),
        Json::String(s) => s.parse().ok(),
        _ => None,
    }
}

impl TrackBook {
    /// Sets `track` on every `Referenda` envelope of block `number` whose track can be known.
    pub async fn enrich(
        &self,
        chain: &Chain,
        number: u64,
        envelopes: &mut [Envelope],
    ) -> Result<()> {
        let mut before: Option<AtBlock> = None;
        for e in envelopes.iter_mut().filter(|e| e.pallet == PALLET) {
            let Some(index) =
                self::number(e.fields.get("index")).and_then(|i| u32::try_from(i).ok())
            else {
                continue;
            };
            let named = self::number(e.fields.get("track")).and_then(|t| u16::try_from(t).ok());
            let known = named.or_else(|| self.lock_tracks().get(&index).copied());
            if before.is_none() {
                before = Some(chain.at(number.saturating_sub(1)).await?);
            }
            let Some(at) = before.as_ref() else { continue };
            let track = match known {
                Some(track) => Some(track),
                None => ongoing_track(at, index).await?,
            };
            let Some(track) = track else { continue };
            self.lock_tracks().insert(index, track);
            let name = self.name(at, track);
            e.track = name.map(|name| Track { id: track, name });
        }
        Ok(())
    }

    /// Track `id`'s name in the runtime of `at`.
    fn name(&self, at: &AtBlock, id: u16) -> Option<String> {
        let spec = at.spec_version();
        let mut names = self.names.lock().unwrap_or_else(|p| p.into_inner());
        names
            .entry(spec)
            .or_insert_with(|| track_names(at))
            .get(&id)
            .cloned()
    }

    fn lock_tracks(&self) -> std::sync::MutexGuard<'_, HashMap<u32, u16>> {
        self.tracks.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// `Referenda.Tracks`: `(id, TrackInfo { name, … })` pairs; the name a string, or (newer
/// runtimes) a fixed array of bytes padded with zeros.
pub fn track_names(at: &AtBlock) -> BTreeMap<u16, String> {
    let tracks = match at
        .constants()
        .entry(subxt::dynamic::constant::<Value>(PALLET, "Tracks"))
    {
        Ok(tracks) => tracks,
        Err(e) => {
            tracing::warn!(error = %e, "no Referenda.Tracks: referendum notices name tracks by id");
            return BTreeMap::new();
        }
    };
    let ValueDef::Composite(Composite::Unnamed(pairs)) = &tracks.value else {
        return BTreeMap::new();
    };
    pairs
        .iter()
        .filter_map(|pair| {
            let id = pair
                .at(0)?
                .as_u128()
                .and_then(|id| u16::try_from(id).ok())?;
            let name = text(pair.at(1)?.at("name")?)?;
            Some((id, name))
        })
        .collect()
}

/// A name as a string, or as bytes (zero-padded).
fn text<T>(value: &Value<T>) -> Option<String> {
    if let Some(s) = value.as_str() {
        return Some(s.to_owned());
    }
    let bytes = bytes(value)?;
    let name = String::from_utf8_lossy(&bytes)
        .trim_end_matches('\0')
        .to_owned();
    (!name.is_empty()).then_some(name)
}

/// The track of referendum `index` while it is ongoing at `at`; `None` otherwise.
async fn ongoing_track(at: &AtBlock, index: u32) -> Result<Option<u16>> {
    let Some(info) = map_value(at, PALLET, "ReferendumInfoFor", index).await? else {
        return Ok(None);
    };
    let ValueDef::Variant(variant) = &info.value else {
        return Ok(None);
    };
    if variant.name != "Ongoing" {
        return Ok(None);
    }
    let status = match &variant.values {
        Composite::Unnamed(values) => values.first(),
        Composite::Named(fields) => fields.first().map(|(_, v)| v),
    };
    Ok(status
        .and_then(|s| s.at("track"))
        .and_then(|t| t.as_u128())
        .and_then(|t| u16::try_from(t).ok()))
}
