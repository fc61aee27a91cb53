//! The event envelope: one JSON object per chain event, the contract between the ingestor, the
//! broker topics and everything downstream.

use blake2::digest::{Update, VariableOutput};
use blake2::Blake2bVar;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::names::{ChainName, EventName, Topic};
use crate::source::TokenInfo;

/// The envelope format's version; bumped only for changes old readers cannot ignore.
pub const ENVELOPE_VERSION: u32 = 1;

/// A block, by number and hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockRef {
    /// The block number.
    pub number: u64,
    /// `0x`-prefixed hex.
    pub hash: String,
}

/// One event of one finalized block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// Deterministic: see [`event_id`]. Every later stage de-duplicates by it.
    pub id: String,
    /// The format version.
    pub version: u32,
    /// The chain's name.
    pub chain: ChainName,
    /// `0x`-prefixed genesis hash.
    pub genesis_hash: String,
    /// The block the event is in.
    pub block: BlockRef,
    /// Position of the event in the block.
    pub event_index: u32,
    /// The extrinsic that emitted it, when it was emitted while applying one.
    pub extrinsic_index: Option<u32>,
    /// `apply_extrinsic`, `initialization` or `finalization`.
    pub phase: String,
    /// The pallet, as metadata names it.
    pub pallet: String,
    /// The event, as metadata names it.
    pub event: String,
    /// The runtime's spec version that emitted the event.
    pub spec_version: u32,
    /// Named fields, typed for people: accounts as SS58, big integers as strings, bytes as hex.
    pub fields: Map<String, Value>,
    /// Every account id found in the fields, as hex, in field order (for per-account routing).
    #[serde(default)]
    pub accounts: Vec<String>,
    /// For an event of an asset (`Assets.*` with an `asset_id`), the asset's symbol and decimals
    /// from its metadata on the chain (`Assets.Metadata`), when it has any: what `asset_amount()`
    /// prints amounts in and a recipe's minimum is read in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset: Option<TokenInfo>,
    /// For an event of the `Referenda` pallet, the referendum's track: its id and its name in the
    /// runtime (`Referenda.Tracks`). `Submitted` names the track; for the others it is read from
    /// the referendum's state before the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub track: Option<Track>,
}

/// A referendum track, as the runtime names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Track {
    /// Its id (`11`).
    #[serde(deserialize_with = "crate::integer::unsigned")]
    pub id: u16,
    /// Its name in the runtime (`treasurer`).
    pub name: String,
}

/// An event of block 1234 on paseo with these fields, for tests.
#[cfg(test)]
pub(crate) fn test_event(pallet: &str, event: &str, fields: Value) -> Envelope {
    Envelope {
        id: format!("0x{}", "ab".repeat(32)),
        version: ENVELOPE_VERSION,
        chain: ChainName::parse("paseo").expect("chain"),
        genesis_hash: "0x00".into(),
        block: BlockRef {
            number: 1234,
            hash: "0x01".into(),
        },
        event_index: 2,
        extrinsic_index: Some(1),
        phase: "apply_extrinsic".into(),
        pallet: pallet.into(),
        event: event.into(),
        spec_version: 1,
        fields: fields.as_object().cloned().unwrap_or_default(),
        accounts: Vec::new(),
        asset: None,
        track: None,
    }
}

/// `0x` + hex of BLAKE2b-256 over the genesis hash, the block hash and the event index
/// (little-endian u32): the same event always gets the same id, whoever ingests it and however
/// often.
pub fn event_id(genesis_hash: &[u8], block_hash: &[u8], event_index: u32) -> String {
    let mut hasher = Blake2bVar::new(32).expect("32 is a valid BLAKE2b output size");
    hasher.update(genesis_hash);
    hasher.update(block_hash);
    hasher.update(&event_index.to_le_bytes());
    let mut out = [0u8; 32];
    hasher
        .finalize_variable(&mut out)
        .expect("the buffer matches the output size");
    format!("0x{}", hex::encode(out))
}

impl Envelope {
    /// `Pallet.Event`.
    pub fn event_name(&self) -> Option<EventName> {
        EventName::new(&self.pallet, &self.event).ok()
    }

    /// The topic the envelope belongs to.
    pub fn topic(&self) -> Option<Topic> {
        self.event_name().map(|e| e.topic(&self.chain))
    }

    /// The record key: the first account the event touches, so one account's events stay in
    /// order on one partition; events without accounts are keyed by their id.
    pub fn key(&self) -> &str {
        self.accounts.first().unwrap_or(&self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_deterministic_and_distinct() {
        let a = event_id(&[1; 32], &[2; 32], 0);
        assert_eq!(a, event_id(&[1; 32], &[2; 32], 0));
        assert_ne!(a, event_id(&[1; 32], &[2; 32], 1));
        assert_ne!(a, event_id(&[1; 32], &[3; 32], 0));
        assert_eq!(a.len(), 66);
    }

    #[test]
    fn serialises_to_the_documented_shape() {
        let e = Envelope {
            id: "0x01".into(),
            version: ENVELOPE_VERSION,
            chain: ChainName::parse("paseo").expect("chain"),
            genesis_hash: "0x02".into(),
            block: BlockRef {
                number: 7,
                hash: "0x03".into(),
            },
            event_index: 3,
            extrinsic_index: Some(1),
            phase: "apply_extrinsic".into(),
            pallet: "Balances".into(),
            event: "Transfer".into(),
            spec_version: 1_001_002,
            fields: serde_json::json!({"amount": "1"})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            accounts: vec!["0xaa".into()],
            asset: None,
            track: None,
        };
        let v = serde_json::to_value(&e).expect("json");
        assert_eq!(v["block"]["number"], 7);
        assert_eq!(v["extrinsic_index"], 1);
        assert_eq!(
            e.topic().expect("topic").as_str(),
            "paseo.Balances.Transfer"
        );
        assert_eq!(e.key(), "0xaa");
    }
}
