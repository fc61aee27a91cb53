import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ago, checkAmount, describe, logLine, status } from '../src/words.js';

const ALICE = '5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY';

test('amounts: at most the token decimals, digits and one dot', () => {
  assert.equal(checkAmount('', 10), null);
  assert.equal(checkAmount('12', 10), null);
  assert.equal(checkAmount('0.0000000001', 10), null);
  assert.match(checkAmount('0.00000000001', 10), /At most 10 digits/);
  assert.match(checkAmount('1,5', 10), /Write a number/);
  assert.match(checkAmount('-1', 10), /Write a number/);
  assert.match(checkAmount('1.', 10), /Write a number/);
});

test('a balance filter in words', () => {
  const trigger = {
    chain: 'paseo',
    event: 'Balances.Transfer',
    filter: { balance: { account: ALICE, direction: 'in', min: '1.5' } },
  };
  assert.equal(describe(trigger, { symbol: 'PAS' }), 'When 5Grw…utQY receives at least 1.5 PAS on paseo');
  trigger.filter.balance = { account: ALICE, direction: 'any' };
  assert.equal(describe(trigger, { symbol: 'PAS' }), 'When 5Grw…utQY receives or sends any amount of PAS on paseo');
  assert.equal(describe({ chain: 'paseo', event: 'Staking.Rewarded' }), 'Every Staking.Rewarded on paseo');
});

test('an expired subscription is told apart from a pause', () => {
  const at = '2026-11-28T10:00:00Z';
  const now = Date.parse('2026-11-28T10:05:00Z');
  const gone = {
    status: { active: false, reason: 'the push service answered 410' },
    delivery: { last_attempt: { at, outcome: 'gone', status: 410 }, last_error: '410 Gone' },
  };
  assert.equal(status(gone, now).expired, true);
  assert.match(status(gone, now).last, /5 minutes ago/);
  const paused = { status: { active: false, reason: 'paused by its owner' }, delivery: {} };
  assert.deepEqual(
    [status(paused, now).state, status(paused, now).text],
    ['paused', 'Paused: paused by its owner.'],
  );
  assert.equal(ago(at, now), '5 minutes ago');
  const blocked = { ...gone, action: { telegram: { linked: true } }, status: { active: false, reason: 'the bot was blocked' } };
  assert.deepEqual(
    [status(blocked, now).expired, status(blocked, now).text],
    [false, 'Paused: the bot was blocked.'],
    'only a browser subscription is renewed from the page',
  );
});

test('a recipe trigger in words, from its recipe and inputs', () => {
  const on = (id, inputs) => describe({ chain: 'paseo', event: 'X.Y', recipe: { id, inputs } });
  assert.equal(on('staking_reward', { address: ALICE }), 'When 5Grw…utQY is paid a staking reward on paseo');
  assert.equal(on('staking_alert', { address: ALICE }), 'When 5Grw…utQY is slashed, chilled or kicked on paseo');
  assert.equal(on('assets', { address: ALICE, asset: 1984, min: '2.5' }), 'When 5Grw…utQY receives at least 2.5 of asset 1984 on paseo');
  assert.equal(on('assets', { address: ALICE, asset: 7, direction: 'out' }), 'When 5Grw…utQY sends asset 7 on paseo');
  assert.equal(on('referendum_new', { tracks: [0, 11] }), 'When a referendum is submitted on tracks 0, 11 on paseo');
  assert.equal(on('referendum_new', {}), 'When a referendum is submitted on paseo');
  assert.equal(on('referendum_outcome', { referendum: 12 }), 'When referendum 12 on paseo is decided');
  assert.equal(on('referendum_outcome', { tracks: [11] }), 'When a referendum on track 11 on paseo is decided');
  assert.equal(on('account_security', { address: ALICE }), 'When 5Grw…utQY gets a proxy, a multisig call to approve or an identity judgement on paseo');
  // funds reads its balance filter, as before.
  const funds = { chain: 'paseo', event: 'Balances.Transfer', recipe: { id: 'funds', inputs: {} },
    filter: { balance: { account: ALICE, direction: 'in' } } };
  assert.equal(describe(funds, { symbol: 'PAS' }), 'When 5Grw…utQY receives any amount of PAS on paseo');
});

test('a delivery log line says what happened, where and when', () => {
  const now = Date.parse('2026-12-06T10:03:00Z');
  assert.equal(
    logLine({ at: '2026-12-06T10:00:00Z', event_id: '0x1', block: 12, outcome: 'delivered', status: 200 }, now),
    'Delivered · block #12 · 3 minutes ago',
  );
  assert.equal(
    logLine({ at: '2026-12-06T10:02:00Z', event_id: '0x2', outcome: 'retrying', status: 500, error: 'server answered 500' }, now),
    'Failed, retrying (server answered 500) · 1 minute ago',
  );
});
