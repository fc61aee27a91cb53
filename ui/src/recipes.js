// Recipes on the page: what a person can ask to hear about on a chain (`GET /api/recipes`), which
// of the form's rows each needs, and its inputs read from them. Pure functions, tested under Node
// (test/recipes.test.mjs); notify.js does the DOM.

/** The recipe the form always had: balance transfers, sent as an event and a balance filter. */
export const FUNDS = 'funds';

/** An older server without `/api/recipes`: only funds, on every source. */
export const FALLBACK_RECIPES = [
  {
    id: FUNDS,
    title: 'Funds received or sent',
    about: 'A transfer of the chain’s own token to or from an address, above a minimum.',
    chains: null,
  },
];

/** The form's rows (`data-input`) each recipe shows. */
export const ROWS = {
  funds: ['account', 'direction', 'min'],
  assets: ['account', 'asset', 'direction', 'min'],
  staking_reward: ['account'],
  staking_alert: ['account'],
  referendum_new: ['tracks'],
  referendum_outcome: ['referendum', 'tracks'],
  account_security: ['account'],
};

/** The inputs' names in the API, by row. */
const INPUT = {
  account: 'address',
  direction: 'direction',
  min: 'min',
  asset: 'asset',
  tracks: 'tracks',
  referendum: 'referendum',
};

/** The field an API error names for a row: funds is a balance filter, the others recipe inputs. */
export function fieldOf(recipe, row) {
  if (recipe === FUNDS && ['account', 'direction', 'min'].includes(row)) {
    return `filter.balance.${row === 'account' ? 'account' : row}`;
  }
  return `inputs.${INPUT[row]}`;
}

/** The recipes `source` serves (its source publishes one of their events), funds first. */
export function serving(recipes, source) {
  if (!source) return [];
  return recipes.filter((r) => ROWS[r.id] && (!r.chains || r.chains.some((c) => c.source === source.id)));
}

const WHOLE = /^\d{1,39}$/;

/**
 * A recipe's inputs from the form's `values` (`account`, `direction`, `min`, `asset`, `tracks`,
 * `referendum`, as typed): `{ inputs }`, or `{ field, message }` naming what to fix.
 */
export function readInputs(recipe, values) {
  const rows = ROWS[recipe] ?? [];
  const inputs = {};
  const text = (row) => String(values[row] ?? '').trim();
  if (rows.includes('account')) inputs.address = text('account');
  if (rows.includes('asset')) {
    const asset = text('asset');
    if (!WHOLE.test(asset)) {
      return { field: 'inputs.asset', message: 'Give the asset’s id, a whole number (1984 is USDT on Polkadot Asset Hub).' };
    }
    inputs.asset = Number(asset);
  }
  if (rows.includes('direction') && values.direction) inputs.direction = values.direction;
  if (rows.includes('min') && text('min')) {
    if (!/^\d+(\.\d+)?$/.test(text('min'))) {
      return { field: 'inputs.min', message: 'Write a number such as 12 or 0.5 (digits and one dot).' };
    }
    inputs.min = text('min');
  }
  if (rows.includes('tracks') && text('tracks')) {
    // Tracks by id or by the chain's name for them ("treasurer, small tipper"), comma-separated.
    const tracks = text('tracks').split(',').map((t) => t.trim()).filter(Boolean);
    if (tracks.some((t) => /^\d+$/.test(t) && Number(t) > 65535) || tracks.some((t) => t.length > 64)) {
      return { field: 'inputs.tracks', message: 'Give tracks by name or id, separated by commas, or leave it empty for every track.' };
    }
    inputs.tracks = tracks.map((t) => (/^\d+$/.test(t) ? Number(t) : t));
  }
  if (rows.includes('referendum') && text('referendum')) {
    if (!WHOLE.test(text('referendum'))) {
      return { field: 'inputs.referendum', message: 'Give the referendum’s number, or leave it empty for every referendum.' };
    }
    inputs.referendum = Number(text('referendum'));
  }
  return { inputs };
}

/** The hint under the tracks field: the chain's tracks by name, when the source knows them. */
export function tracksHint(source) {
  const tracks = source?.tracks ?? [];
  if (tracks.length === 0) return 'Track ids, separated by commas: 0 root, 11 treasurer, 30 small tipper, 31 big tipper, 33 medium spender.';
  return `By name or id, separated by commas: ${tracks.map((t) => `${t.name.replaceAll('_', ' ')} (${t.id})`).join(', ')}.`;
}
