// Sends a transfer from Alice (funded on the local dev chain, see paseo.yml) and waits until it is
// finalized: the test transfer `scripts/up --dev-chain` prints.
//
//   node tests/chain/transfer.mjs <ws-url> <to-address> <amount in tokens, e.g. 1.5>
import { ApiPromise, WsProvider } from "@polkadot/api";
import { Keyring } from "@polkadot/keyring";

const [url, to, amount] = process.argv.slice(2);
if (!url || !to || !amount || !/^\d+(\.\d+)?$/.test(amount)) {
  console.error("usage: node tests/chain/transfer.mjs <ws-url> <to-address> <amount, e.g. 1.5>");
  process.exit(2);
}

const api = await ApiPromise.create({ provider: new WsProvider(url), noInitWarn: true });
try {
  const decimals = api.registry.chainDecimals[0] ?? 10;
  const symbol = api.registry.chainTokens[0] ?? "";
  const [whole, fraction = ""] = amount.split(".");
  if (fraction.length > decimals) {
    throw new Error(`${amount}: at most ${decimals} decimals`);
  }
  const units = BigInt(whole + fraction.padEnd(decimals, "0"));
  const alice = new Keyring({ type: "sr25519" }).addFromUri("//Alice");
  const block = await new Promise((resolve, reject) => {
    api.tx.balances
      .transferKeepAlive(to, units)
      .signAndSend(alice, ({ status, dispatchError }) => {
        if (dispatchError) {
          reject(new Error(`the transfer failed: ${dispatchError.toString()}`));
        } else if (status.isFinalized) {
          resolve(status.asFinalized.toHex());
        }
      })
      .catch(reject);
  });
  const header = await api.rpc.chain.getHeader(block);
  console.log(`Sent ${amount} ${symbol} to ${to}: finalized in block #${header.number.toNumber()}`);
} finally {
  await api.disconnect();
}
