//! The well-known public chains an operator can register by name, with the light-client chain
//! specs the embedded light client needs (boot nodes, genesis state root, a recent checkpoint).
//!
//! The specs are vendored from the `@polkadot-api/known-chains` npm package by
//! `scripts/update-known-chains` (pinned by version and sha256), and each one is checked in this
//! crate's tests against its chain's published genesis hash: the hash is computed from the spec's
//! genesis state root, so a spec that would make the light client follow another chain fails.
//! They are compiled in, so registering a known chain needs no file, no setup step and no network.

/// One well-known chain.
#[derive(Debug)]
pub struct KnownChain {
    /// The name it is registered by: `polkadot`, `kusama_asset_hub`.
    pub name: &'static str,
    /// Its genesis block hash, `0x`-prefixed hex: the chain's identity.
    pub genesis_hash: &'static str,
    /// The relay chain's name, for a parachain.
    pub relay: Option<&'static str>,
    /// The light-client chain spec (JSON).
    pub spec: &'static str,
}

impl KnownChain {
    /// The relay chain of a parachain.
    pub fn relay_chain(&self) -> Option<&'static KnownChain> {
        self.relay.and_then(find)
    }

    /// The chain name it gets when the registration names none: `polkadot-asset-hub` (chain names
    /// use `-`, and prefix topics).
    pub fn default_chain_name(&self) -> String {
        self.name.replace('_', "-")
    }
}

/// Every known chain, relay chains first.
pub static KNOWN_CHAINS: [KnownChain; 8] = [
    KnownChain {
        name: "polkadot",
        genesis_hash: "0x91b171bb158e2d3848fa23a9f1c25182fb8e20313b2c1eb49219da7a70ce90c3",
        relay: None,
        spec: include_str!("../specs/polkadot.json"),
    },
    KnownChain {
        name: "kusama",
        genesis_hash: "0xb0a8d493285c2df73290dfb7e61f870f17b41801197a149ca93654499ea3dafe",
        relay: None,
        spec: include_str!("../specs/kusama.json"),
    },
    KnownChain {
        name: "westend",
        genesis_hash: "0xe143f23803ac50e8f6f8e62695d1ce9e4e1d68aa36c1cd2cfd15340213f3423e",
        relay: None,
        spec: include_str!("../specs/westend.json"),
    },
    KnownChain {
        name: "paseo",
        // Paseo after its reset; the tests' dev chain runs the earlier Paseo's genesis
        // (0x77afd619…), which public nodes no longer serve.
        genesis_hash: "0x374057be67b355151f271ff70c3db98308c62c8adc48dc6724b6a009a1a014fd",
        relay: None,
        spec: include_str!("../specs/paseo.json"),
    },
    KnownChain {
        name: "polkadot_asset_hub",
        genesis_hash: "0x68d56f15f85d3136970ec16946040bc1752654e906147f7e43e9d539d7c3de2f",
        relay: Some("polkadot"),
        spec: include_str!("../specs/polkadot_asset_hub.json"),
    },
    KnownChain {
        name: "kusama_asset_hub",
        genesis_hash: "0x48239ef607d7928874027a43a67689209727dfb3d3dc5e5b03a39bdc2eda771a",
        relay: Some("kusama"),
        spec: include_str!("../specs/kusama_asset_hub.json"),
    },
    KnownChain {
        name: "westend_asset_hub",
        genesis_hash: "0x67f9723393ef76214df0118c34bbbd3dbebc8ed46a10973a8c969d48fe7598c9",
        relay: Some("westend"),
        spec: include_str!("../specs/westend_asset_hub.json"),
    },
    KnownChain {
        name: "paseo_asset_hub",
        genesis_hash: "0xd6eec26135305a8ad257a20d003357284c8aa03d0bdb2b357ab0a22371e11ef2",
        relay: Some("paseo"),
        spec: include_str!("../specs/paseo_asset_hub.json"),
    },
];

/// The known chain called `name`.
pub fn find(name: &str) -> Option<&'static KnownChain> {
    KNOWN_CHAINS.iter().find(|c| c.name == name)
}

/// Every known chain's name, comma-separated, for error messages.
pub fn names() -> String {
    KNOWN_CHAINS
        .iter()
        .map(|c| c.name)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use blake2::digest::consts::U32;
    use blake2::{Blake2b, Digest};
    use serde_json::Value;

    fn blake2_256(bytes: &[u8]) -> [u8; 32] {
        Blake2b::<U32>::digest(bytes).into()
    }

    /// The genesis header's hash: SCALE of `{parent: 0, number: 0, state_root, extrinsics_root:
    /// the empty trie's root, digest: []}`, hashed with BLAKE2b-256, as every Substrate chain
    /// (and the light client) computes it from a spec's `genesis.stateRootHash`.
    fn genesis_hash(state_root: &[u8]) -> String {
        let empty_trie_root = blake2_256(&[0]);
        let mut header = vec![0u8; 32];
        header.push(0); // number: Compact(0)
        header.extend_from_slice(state_root);
        header.extend_from_slice(&empty_trie_root);
        header.push(0); // digest: no items
        format!("0x{}", hex::encode(blake2_256(&header)))
    }

    fn parsed(chain: &KnownChain) -> Value {
        serde_json::from_str(chain.spec).expect("vendored spec is JSON")
    }

    #[test]
    fn every_spec_is_the_chain_its_genesis_hash_names() {
        for chain in &KNOWN_CHAINS {
            let spec = parsed(chain);
            let root = spec["genesis"]["stateRootHash"]
                .as_str()
                .and_then(|h| h.strip_prefix("0x"))
                .and_then(|h| hex::decode(h).ok())
                .unwrap_or_else(|| panic!("{}: no genesis.stateRootHash", chain.name));
            assert_eq!(genesis_hash(&root), chain.genesis_hash, "{}", chain.name);
        }
    }

    #[test]
    fn relay_chains_carry_a_checkpoint_and_parachains_name_their_relay() {
        for chain in &KNOWN_CHAINS {
            let spec = parsed(chain);
            match chain.relay_chain() {
                None => {
                    assert!(chain.relay.is_none(), "{}: relay not known", chain.name);
                    assert!(spec["lightSyncState"].is_object(), "{}", chain.name);
                }
                Some(relay) => {
                    let relay_id = parsed(relay)["id"].clone();
                    assert_eq!(spec["relay_chain"], relay_id, "{}", chain.name);
                    assert_eq!(
                        spec["para_id"], 1000,
                        "{}: Asset Hubs are para 1000",
                        chain.name
                    );
                }
            }
            let boot_nodes = spec["bootNodes"].as_array().map_or(0, Vec::len);
            assert!(boot_nodes > 0, "{}: no boot nodes", chain.name);
        }
    }

    #[test]
    fn names_resolve_and_give_valid_chain_names() {
        assert_eq!(find("kusama").map(|c| c.name), Some("kusama"));
        assert!(find("Polkadot").is_none());
        assert_eq!(
            find("paseo_asset_hub").map(KnownChain::default_chain_name),
            Some("paseo-asset-hub".to_owned())
        );
        assert!(names().starts_with("polkadot, kusama, westend, paseo"));
    }
}
