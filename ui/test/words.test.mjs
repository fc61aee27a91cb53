import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ago, checkAmount, describe, status } from '../src/words.js';

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
