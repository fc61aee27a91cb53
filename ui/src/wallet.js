// "Verify with your wallet": proves that an address is the person's own with a Polkadot browser
// extension (the `window.injectedWeb3` convention of polkadot.js, Talisman, SubWallet, …). The
// extension signs the API's challenge message with the account's key (`signRaw`, type `bytes`,
// which wraps it in <Bytes>…</Bytes>; the API accepts that form). The proof goes with the next
// trigger created for that address, which is then owner-verified: notifications others create
// for the same address can never crowd it out (docs/security.md). Without an extension the page
// works as before, and nothing here runs.
import { decode } from './ss58.js';

/** The name the page asks extensions for access under. */
export const APP_NAME = 'Aurras';

export class WalletError extends Error {}

/** The injected extensions: `[name, {enable}]` pairs, none when there is no extension. */
export function extensions(win = globalThis) {
  const injected = win?.injectedWeb3;
  if (!injected || typeof injected !== 'object') return [];
  return Object.entries(injected).filter(([, ext]) => typeof ext?.enable === 'function');
}

function sameAccount(a, b) {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

function hex(bytes) {
  return `0x${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

const SCHEMES = new Set(['sr25519', 'ed25519', 'ecdsa']);

/**
 * Finds the extension account for `address` (any SS58 prefix: extensions often list generic
 * addresses) and its signer. Asks each extension for access in turn, as the person allows.
 */
export async function findAccount(address, win = globalThis) {
  const wanted = decode(address).account;
  const found = extensions(win);
  if (found.length === 0) throw new WalletError('No wallet extension was found in this browser.');
  const refused = [];
  for (const [name, ext] of found) {
    let enabled;
    try {
      enabled = await ext.enable(APP_NAME);
    } catch (e) {
      refused.push(`${name} (${e?.message ?? 'refused'})`);
      continue;
    }
    const accounts = (await enabled?.accounts?.get?.()) ?? [];
    for (const account of accounts) {
      let key;
      try {
        key = decode(account.address).account;
      } catch {
        continue; // an Ethereum account, or one this page cannot read
      }
      if (sameAccount(key, wanted) && typeof enabled.signer?.signRaw === 'function') {
        return { extension: name, account, signer: enabled.signer };
      }
    }
  }
  const why = refused.length > 0 ? ` Access was refused by ${refused.join(', ')}.` : '';
  throw new WalletError(
    `None of your wallet's accounts is this address. Pick an account your wallet holds, or let the page see it.${why}`,
  );
}

/**
 * Asks the API for a challenge for `address` (`challenge(address)` answers `{challenge, message}`),
 * has the wallet sign its message, and answers the `proof` to send with the trigger.
 */
export async function prove(address, challenge, win = globalThis) {
  const { account, signer } = await findAccount(address, win);
  const issued = await challenge(address);
  const data = hex(new TextEncoder().encode(issued.message));
  let signed;
  try {
    signed = await signer.signRaw({ address: account.address, data, type: 'bytes' });
  } catch (e) {
    throw new WalletError(`The wallet did not sign (${e?.message ?? 'cancelled'}).`);
  }
  if (typeof signed?.signature !== 'string') throw new WalletError('The wallet answered no signature.');
  const proof = { challenge: issued.challenge, signature: signed.signature };
  if (SCHEMES.has(account.type)) proof.scheme = account.type;
  return { proof, expires: issued.expires };
}
