// SS58 addresses (https://docs.substrate.io/reference/address-formats/): checked in the browser
// before anything is sent, with the same rules as the domain library's `ss58` module, so a person
// hears about a typo or another chain's address next to the field, not after a round trip.
import { blake2b } from '@noble/hashes/blake2.js';
import { base58 } from '@scure/base';

const CONTEXT = new TextEncoder().encode('SS58PRE');
const ACCOUNT_BYTES = 32;

// Well-known prefixes, to say whose address it is when it is not this chain's. Each name reads
// in "This is <name> address", so it carries its article.
const NETWORKS = new Map([
  [0, 'a Polkadot'],
  [2, 'a Kusama'],
  [42, 'a generic Substrate (Westend, Paseo, dev chains)'],
]);

export class AddressError extends Error {
  constructor(kind, message, detail = {}) {
    super(message);
    this.kind = kind;
    Object.assign(this, detail);
  }
}

function checksum(data) {
  const input = new Uint8Array(CONTEXT.length + data.length);
  input.set(CONTEXT);
  input.set(data, CONTEXT.length);
  return blake2b(input, { dkLen: 64 }).subarray(0, 2);
}

function prefixOf(data) {
  const first = data[0];
  if (first < 64) return { prefix: first, length: 1 };
  if (first < 128 && data.length > 1) {
    const second = data[1];
    const lower = ((first << 2) | (second >> 6)) & 0xff;
    const upper = second & 0x3f;
    return { prefix: lower | (upper << 8), length: 2 };
  }
  return null;
}

function networkName(prefix) {
  return NETWORKS.get(prefix) ?? `another network's (prefix ${prefix})`;
}

/** Decodes an address: `{ prefix, account }` (account: 32 bytes) or throws an AddressError. */
export function decode(address) {
  const text = address.trim();
  if (text === '') throw new AddressError('empty', 'Enter an address.');
  const wrong = [...text].find((c) => !/[1-9A-HJ-NP-Za-km-z]/.test(c));
  if (wrong !== undefined) {
    throw new AddressError(
      'not_base58',
      `"${wrong}" never appears in an address (0, O, I and l are left out on purpose); check for a typo.`,
    );
  }
  let data;
  try {
    data = base58.decode(text);
  } catch {
    throw new AddressError('not_base58', 'This is not an address.');
  }
  const head = data.length > 0 ? prefixOf(data) : null;
  if (head === null || data.length !== head.length + ACCOUNT_BYTES + 2) {
    throw new AddressError(
      'length',
      'This is not an account address: it is too short or too long. Copy it again from your wallet.',
    );
  }
  const body = data.subarray(0, data.length - 2);
  const sum = checksum(body);
  if (sum[0] !== data[data.length - 2] || sum[1] !== data[data.length - 1]) {
    throw new AddressError(
      'checksum',
      "The address's checksum does not match: a character is mistyped. Copy it again from your wallet.",
    );
  }
  return { prefix: head.prefix, account: body.subarray(head.length) };
}

/** Checks that `address` is valid and belongs to a chain with `prefix`; throws an AddressError. */
export function check(address, prefix, chain) {
  const decoded = decode(address);
  if (decoded.prefix !== prefix) {
    throw new AddressError(
      'wrong_prefix',
      `This is ${networkName(decoded.prefix)} address; ${chain} addresses use prefix ${prefix}. ` +
        `Use your account's ${chain} address (the same account, shown for ${chain} in your wallet).`,
      { found: decoded.prefix },
    );
  }
  return decoded;
}

/** Encodes a 32-byte account with `prefix` (tests and display). */
export function encode(account, prefix) {
  const head =
    prefix < 64
      ? [prefix]
      : [((prefix & 0xfc) >> 2) | 0x40, (prefix >> 8) | ((prefix & 0x03) << 6)];
  const body = new Uint8Array(head.length + account.length);
  body.set(head);
  body.set(account, head.length);
  const out = new Uint8Array(body.length + 2);
  out.set(body);
  out.set(checksum(body), body.length);
  return base58.encode(out);
}
