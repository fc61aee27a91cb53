import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FALLBACK_RECIPES, fieldOf, readInputs, serving, tracksHint } from '../src/recipes.js';

const BOB = '5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty';

test('a source is offered the recipes whose events it publishes', () => {
  const recipes = [
    { id: 'funds', chains: [{ chain: 'paseo', source: 'src_a', events: ['Balances.Transfer'] }] },
    { id: 'assets', chains: [{ chain: 'hub', source: 'src_b', events: ['Assets.Transferred'] }] },
    { id: 'a_recipe_this_page_does_not_know', chains: [{ chain: 'paseo', source: 'src_a', events: [] }] },
  ];
  assert.deepEqual(serving(recipes, { id: 'src_a' }).map((r) => r.id), ['funds']);
  assert.deepEqual(serving(recipes, { id: 'src_b' }).map((r) => r.id), ['assets']);
  assert.deepEqual(serving(FALLBACK_RECIPES, { id: 'src_c' }).map((r) => r.id), ['funds'], 'an older server');
  assert.deepEqual(serving(recipes, undefined), []);
});

test('inputs read from the rows a recipe shows, each mistake named at its field', () => {
  assert.deepEqual(readInputs('staking_alert', { account: ` ${BOB} `, asset: '7', direction: 'in' }), {
    inputs: { address: BOB },
  });
  assert.deepEqual(readInputs('assets', { account: BOB, asset: '1984', direction: 'in', min: '2.5' }), {
    inputs: { address: BOB, asset: 1984, direction: 'in', min: '2.5' },
  });
  assert.equal(readInputs('assets', { account: BOB, asset: 'USDT' }).field, 'inputs.asset');
  assert.equal(readInputs('assets', { account: BOB, asset: '1', min: '1,5' }).field, 'inputs.min');
  assert.deepEqual(readInputs('referendum_new', { tracks: '0, 11,30' }), { inputs: { tracks: [0, 11, 30] } });
  assert.deepEqual(readInputs('referendum_new', { tracks: 'treasurer, small tipper' }), { inputs: { tracks: ['treasurer', 'small tipper'] } });
  assert.deepEqual(readInputs('referendum_new', { tracks: '' }), { inputs: {} });
  assert.equal(readInputs('referendum_new', { tracks: '70000' }).field, 'inputs.tracks');
  assert.deepEqual(readInputs('referendum_outcome', { referendum: '12' }), { inputs: { referendum: 12 } });
  assert.equal(readInputs('referendum_outcome', { referendum: '-1' }).field, 'inputs.referendum');
});

test('errors land on the row: a balance filter for funds, recipe inputs for the others', () => {
  assert.equal(fieldOf('funds', 'account'), 'filter.balance.account');
  assert.equal(fieldOf('funds', 'min'), 'filter.balance.min');
  assert.equal(fieldOf('assets', 'account'), 'inputs.address');
  assert.equal(fieldOf('assets', 'min'), 'inputs.min');
  assert.equal(fieldOf('referendum_new', 'tracks'), 'inputs.tracks');
});

test('the tracks hint names the chain’s tracks when they are known', () => {
  assert.match(tracksHint({ tracks: [{ id: 11, name: 'treasurer' }, { id: 30, name: 'small_tipper' }] }), /treasurer \(11\), small tipper \(30\)/);
  assert.match(tracksHint({}), /^Track ids/);
});
