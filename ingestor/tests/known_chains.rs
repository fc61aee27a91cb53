//! Every known chain's compiled-in spec is taken by the embedded light client (a parachain's with
//! its relay chain's), which then names the chain's genesis hash, offline: computed from the
//! spec's genesis state root, as the light client identifies the chain to its peers.

use aurras_ingestor::chain::start_light_client;
use aurras_known_chains::KNOWN_CHAINS;
use subxt::rpcs::{rpc_params, RpcClient};

#[tokio::test]
async fn the_light_client_takes_every_known_chain_as_the_chain_it_names() {
    for known in &KNOWN_CHAINS {
        let relay = known.relay_chain().map(|relay| relay.spec);
        let (_light_client, rpc) = start_light_client(known.spec, relay)
            .unwrap_or_else(|e| panic!("{}: {e:#}", known.name));
        let genesis: String = RpcClient::new(rpc)
            .request("chainSpec_v1_genesisHash", rpc_params![])
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", known.name));
        assert_eq!(genesis, known.genesis_hash, "{}", known.name);
    }
}
