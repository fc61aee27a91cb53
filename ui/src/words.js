// What the page says about triggers and amounts, in words a person reads. Pure functions, tested
// under Node (test/words.test.mjs).

/** `5GrwvaEF…` → `5Grw…utQY`, as the notifications shorten addresses. */
export function shorten(address) {
  return address.length > 12 ? `${address.slice(0, 4)}…${address.slice(-4)}` : address;
}

/**
 * Checks a minimum typed in token units ("1.5"): null when fine or empty, else why not. The API
 * applies the same rule (`filter.balance.min`, at most the token's decimals).
 */
export function checkAmount(text, decimals) {
  const value = text.trim();
  if (value === '') return null;
  if (!/^\d+(\.\d+)?$/.test(value)) return 'Write a number such as 12 or 0.5 (digits and one dot).';
  const fraction = value.split('.')[1] ?? '';
  if (fraction.length > decimals) {
    return `At most ${decimals} digits after the dot: the token has ${decimals} decimals.`;
  }
  return null;
}

const DIRECTIONS = { in: 'receives', out: 'sends', any: 'receives or sends' };

/** A recipe's trigger in words, from the recipe and its inputs as given; null for another. */
function describeRecipe(trigger) {
  const { id, inputs = {} } = trigger.recipe ?? {};
  const who = inputs.address ? shorten(inputs.address) : '';
  const on = `on ${trigger.chain}`;
  switch (id) {
    case 'assets': {
      const verb = DIRECTIONS[inputs.direction ?? 'in'] ?? DIRECTIONS.in;
      const least = inputs.min ? `at least ${inputs.min} of ` : '';
      return `When ${who} ${verb} ${least}asset ${inputs.asset} ${on}`;
    }
    case 'staking_reward':
      return `When ${who} is paid a staking reward ${on}`;
    case 'staking_alert':
      return `When ${who} is slashed, chilled or kicked ${on}`;
    case 'referendum_new':
      return inputs.tracks?.length
        ? `When a referendum is submitted on track${inputs.tracks.length > 1 ? 's' : ''} ${inputs.tracks.join(', ')} ${on}`
        : `When a referendum is submitted ${on}`;
    case 'referendum_outcome':
      if (inputs.referendum !== undefined) return `When referendum ${inputs.referendum} ${on} is decided`;
      if (inputs.tracks?.length) {
        return `When a referendum on track${inputs.tracks.length > 1 ? 's' : ''} ${inputs.tracks.join(', ')} ${on} is decided`;
      }
      return `When a referendum ${on} is decided`;
    case 'account_security':
      return `When ${who} gets a proxy, a multisig call to approve or an identity judgement ${on}`;
    default:
      return null;
  }
}

/** A trigger's filter in words: "When 5Grw…utQY receives at least 1.5 PAS on paseo". */
export function describe(trigger, token) {
  const recipe = describeRecipe(trigger);
  if (recipe) return recipe;
  const symbol = token?.symbol ?? '';
  const balance = trigger.filter?.balance;
  if (balance) {
    const verb = DIRECTIONS[balance.direction ?? 'any'] ?? DIRECTIONS.any;
    const what = balance.min ? `at least ${balance.min} ${symbol}`.trim() : `any amount${symbol ? ` of ${symbol}` : ''}`;
    return `When ${shorten(balance.account)} ${verb} ${what} on ${trigger.chain}`;
  }
  if (trigger.filter) return `${trigger.event} on ${trigger.chain}, when its filter matches`;
  return `Every ${trigger.event} on ${trigger.chain}`;
}

/** "3 minutes ago", "in 2 hours": relative to `now` (ms). */
export function ago(iso, now = Date.now()) {
  const then = Date.parse(iso);
  if (Number.isNaN(then)) return iso;
  const seconds = Math.round((then - now) / 1000);
  const units = [
    ['day', 86400],
    ['hour', 3600],
    ['minute', 60],
    ['second', 1],
  ];
  const format = new Intl.RelativeTimeFormat('en', { numeric: 'auto' });
  for (const [unit, size] of units) {
    if (Math.abs(seconds) >= size || unit === 'second') {
      return format.format(Math.round(seconds / size), unit);
    }
  }
  return iso;
}

/**
 * A trigger's state in words: `{ state, text, expired }`. `expired` is true when the push service
 * said the subscription is gone (the browser must subscribe again).
 */
export function status(trigger, now = Date.now()) {
  const delivery = trigger.delivery ?? {};
  const last = delivery.last_attempt;
  // Only a browser's push subscription is renewed from here; other channels say why they paused.
  const isPush = !trigger.action || trigger.action.web_push !== undefined;
  const expired = isPush && !trigger.status.active && last?.outcome === 'gone';
  let text;
  if (expired) {
    text = 'Paused: this browser’s subscription expired at the push service. Renew it to hear again.';
  } else if (!trigger.status.active) {
    text = `Paused${trigger.status.reason ? `: ${trigger.status.reason}` : ''}.`;
  } else {
    text = 'Active.';
  }
  let lastText = 'Nothing delivered yet.';
  if (last) {
    const when = ago(last.at, now);
    const outcome = {
      delivered: `Last delivered ${when}`,
      retrying: `Last attempt ${when} failed; retrying`,
      failed: `Last attempt ${when} failed`,
      gone: `Last attempt ${when}: subscription gone`,
    }[last.outcome] ?? `Last attempt ${when}`;
    lastText = `${outcome}${delivery.last_error && last.outcome !== 'delivered' ? ` (${delivery.last_error})` : ''}.`;
  }
  return { state: expired ? 'expired' : trigger.status.active ? 'active' : 'paused', text, last: lastText, expired };
}

const OUTCOMES = {
  delivered: 'Delivered',
  retrying: 'Failed, retrying',
  throttled: 'Held back by the destination',
  failed: 'Failed',
  gone: 'Destination gone',
};

/** One line of a trigger's delivery log: "Delivered · block #12 · 3 minutes ago". */
export function logLine(entry, now = Date.now()) {
  const what = OUTCOMES[entry.outcome] ?? entry.outcome;
  const why = entry.error && entry.outcome !== 'delivered' ? ` (${entry.error})` : '';
  const block = entry.block !== undefined && entry.block !== null ? ` · block #${entry.block}` : '';
  return `${what}${why}${block} · ${ago(entry.at, now)}`;
}
