import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decode, encode } from '../src/ss58.js';
import { APP_NAME, extensions, findAccount, prove, WalletError } from '../src/wallet.js';

const ALICE = '5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY';
const BOB = '5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty';
// Alice as Polkadot shows her (prefix 0): the same account.
const ALICE_DOT = encode(decode(ALICE).account, 0);

/** A fake extension in the injectedWeb3 convention; records what it was asked. */
function fakeWindow(accounts, { refuse = false, cancel = false } = {}) {
  const asked = { enable: [], signRaw: [] };
  const extension = {
    version: '0.1.0',
    enable: async (name) => {
      asked.enable.push(name);
      if (refuse) throw new Error('Rejected by the user');
      return {
        accounts: { get: async () => accounts },
        signer: {
          signRaw: async (payload) => {
            asked.signRaw.push(payload);
            if (cancel) throw new Error('Cancelled');
            return { id: 1, signature: '0x' + '11'.repeat(64) };
          },
        },
      };
    },
  };
  return { win: { injectedWeb3: { 'polkadot-js': extension } }, asked };
}

const challenge = async (address) => ({
  account: '0xd435…',
  address,
  challenge: 'v1.1800000300.42.bm9uY2U.bWFj',
  message: `Aurras: I hold the key of the account ${address} …`,
  expires: 1800000300,
});

test('no extension: nothing is offered and nothing breaks', async () => {
  assert.deepEqual(extensions({}), []);
  assert.deepEqual(extensions(undefined), []);
  assert.deepEqual(extensions({ injectedWeb3: { broken: {} } }), []);
  await assert.rejects(findAccount(ALICE, {}), WalletError);
});

test('the wallet signs the challenge message as raw bytes for the matching account', async () => {
  const { win, asked } = fakeWindow([
    { address: BOB, type: 'sr25519' },
    { address: ALICE_DOT, type: 'sr25519', name: 'Alice' },
  ]);
  const { proof, expires } = await prove(ALICE, challenge, win);
  assert.deepEqual(asked.enable, [APP_NAME]);
  assert.equal(asked.signRaw.length, 1);
  const payload = asked.signRaw[0];
  // The extension's own form of the address, any prefix; the message as hex bytes.
  assert.equal(payload.address, ALICE_DOT);
  assert.equal(payload.type, 'bytes');
  const message = Buffer.from(payload.data.slice(2), 'hex').toString('utf8');
  assert.equal(message, `Aurras: I hold the key of the account ${ALICE} …`);
  assert.deepEqual(proof, {
    challenge: 'v1.1800000300.42.bm9uY2U.bWFj',
    signature: '0x' + '11'.repeat(64),
    scheme: 'sr25519',
  });
  assert.equal(expires, 1800000300);
});

test('an Ethereum account is never offered a scheme the API does not know', async () => {
  const { win } = fakeWindow([{ address: ALICE, type: 'ethereum' }]);
  const { proof } = await prove(ALICE, challenge, win);
  assert.equal(proof.scheme, undefined);
});

test('an address the wallet does not hold, a refused access or a cancelled signature is said so', async () => {
  const { win } = fakeWindow([{ address: BOB, type: 'sr25519' }, { address: '0x1234', type: 'ethereum' }]);
  await assert.rejects(prove(ALICE, challenge, win), (e) => e instanceof WalletError && /None of your wallet/.test(e.message));
  const refused = fakeWindow([], { refuse: true });
  await assert.rejects(prove(ALICE, challenge, refused.win), /refused by polkadot-js \(Rejected by the user\)/);
  const cancelled = fakeWindow([{ address: ALICE, type: 'ed25519' }], { cancel: true });
  await assert.rejects(prove(ALICE, challenge, cancelled.win), /did not sign \(Cancelled\)/);
});
