//! What an event means beyond its own fields, read from the chain so notifications can say it in
//! a person's words: the symbol and decimals of the asset an `Assets` event names
//! ([`assets`]), the track of the referendum a `Referenda` event names, by its name in the
//! runtime ([`referenda`]). Each is read once and remembered; a block that changes it is read
//! again. Nothing is known per chain in advance.

pub mod assets;
pub mod referenda;

use anyhow::Result;
use aurras_domain::envelope::Envelope;

use crate::chain::Chain;

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
