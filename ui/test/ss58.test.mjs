import { test } from 'node:test';
import assert from 'node:assert/strict';
import { check, decode, encode } from '../src/ss58.js';

const ALICE = '5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY';
const ALICE_HEX = 'd43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d';
// Alice on Polkadot (prefix 0) and Kusama (2), as subkey prints them.
const ALICE_POLKADOT = '15oF4uVJwmo4TdGW7VfQxNLavjCXviqxT9S1MgbjMNHr6Sp5';
const ALICE_KUSAMA = 'HNZata7iMYWmk5RvZRTiAsSDhV8366zq2YGb3tLH5Upf74F';

const hex = (bytes) => Buffer.from(bytes).toString('hex');

test('decodes a generic address to its account', () => {
  const { prefix, account } = decode(ALICE);
  assert.equal(prefix, 42);
  assert.equal(hex(account), ALICE_HEX);
});

test('knows Polkadot and Kusama forms of the same account', () => {
  assert.equal(decode(ALICE_POLKADOT).prefix, 0);
  assert.equal(decode(ALICE_KUSAMA).prefix, 2);
  assert.equal(hex(decode(ALICE_KUSAMA).account), ALICE_HEX);
});

test('round-trips one- and two-byte prefixes', () => {
  const account = Buffer.from(ALICE_HEX, 'hex');
  for (const prefix of [0, 2, 42, 63, 64, 255, 1284, 16383]) {
    const address = encode(account, prefix);
    assert.equal(decode(address).prefix, prefix, address);
  }
  assert.equal(encode(account, 42), ALICE);
});

test('a mistyped character fails the checksum', () => {
  const typo = ALICE.slice(0, 10) + (ALICE[10] === 'a' ? 'b' : 'a') + ALICE.slice(11);
  assert.throws(() => decode(typo), { kind: 'checksum' });
});

test("another chain's address is named", () => {
  assert.throws(() => check(ALICE_KUSAMA, 42, 'paseo'), (e) => {
    assert.equal(e.kind, 'wrong_prefix');
    assert.equal(e.found, 2);
    assert.match(e.message, /^This is a Kusama address;/);
    assert.match(e.message, /paseo addresses use prefix 42/);
    return true;
  });
  assert.equal(check(ALICE, 42, 'paseo').prefix, 42);
});

test('junk is refused with a reason', () => {
  assert.throws(() => decode(''), { kind: 'empty' });
  assert.throws(() => decode('5Grw0'), { kind: 'not_base58' });
  assert.throws(() => decode('5Grw'), { kind: 'length' });
  assert.throws(() => decode('1'.repeat(48)), { kind: 'length' });
});
