// The original Aurras' path over a range of blocks, as a baseline for the ingest benchmark: its
// event feed (HugoByte/aurras-event-feed-substrate-js) read each block's `System.Events` through
// polkadot.js and turned every event record into the JSON message it passed on. Here the same
// calls run for each block of the range: `api.at(hash)`, then `query.system.events()`, then the
// feed's message per event (`{section, method, meta, data: [{<TypeName>: value}], topic}`).
//
// node baseline.mjs <ws-url> <from-block> <to-block>
// Prints one JSON line: {"blocks", "events", "bytes", "seconds"} (connecting and the first
// metadata download are not counted, as the Aurras passes do not count connecting either).

import { ApiPromise, WsProvider } from '@polkadot/api';

const [url, fromArg, toArg] = process.argv.slice(2);
const from = Number(fromArg);
const to = Number(toArg);
if (!url || !Number.isInteger(from) || !Number.isInteger(to) || to < from) {
  console.error('usage: node baseline.mjs <ws-url> <from-block> <to-block>');
  process.exit(2);
}

const api = await ApiPromise.create({ provider: new WsProvider(url), noInitWarn: true });

// The feed's message for one event (event.service.ts `getEvents`): data keyed by type name.
function message(event) {
  const types = event.typeDef;
  return {
    section: event.section,
    method: event.method,
    meta: event.meta.docs.toString(),
    data: event.data.map((value, i) => ({ [types[i].type]: value.toString() })),
    topic: `${event.section}.${event.method}`,
  };
}

let events = 0;
let bytes = 0;
const started = process.hrtime.bigint();
for (let n = from; n <= to; n++) {
  const hash = await api.rpc.chain.getBlockHash(n);
  const at = await api.at(hash);
  const records = await at.query.system.events();
  for (const { event } of records) {
    bytes += JSON.stringify(message(event)).length;
    events += 1;
  }
}
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
console.log(JSON.stringify({ blocks: to - from + 1, events, bytes, seconds }));
await api.disconnect();
