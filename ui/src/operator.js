// The operator's part: sign in with the admin token (kept in sessionStorage only), register a
// source from RPC URLs or an uploaded chain spec, pick its events, see its topics; edit events;
// delete.
import { api, ApiError } from './api.js';
import { clearErrors, el, say, showError } from './dom.js';
import { admin } from './store.js';

const COMMON_EVENTS = [
  'Balances.Transfer',
  'Balances.Deposit',
  'Balances.Withdraw',
  'Staking.Rewarded',
  'Staking.EraPaid',
  'Staking.Slashed',
  'System.NewAccount',
];
const EVENT = /^[A-Za-z][A-Za-z0-9_]*\.[A-Za-z][A-Za-z0-9_]*$/;

let root;
let onChange;

function topicsTable(source) {
  const rows = Object.entries(source.topics ?? {}).map(([event, topic]) =>
    el('tr', {}, el('td', {}, event), el('td', {}, el('code', {}, topic))),
  );
  return el('table', { class: 'topics' },
    el('caption', {}, `Topics of ${source.chain}`),
    el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'Event'), el('th', { scope: 'col' }, 'Topic'))),
    el('tbody', {}, rows));
}

function splitEvents(text) {
  return text.split(/[\s,]+/).map((e) => e.trim()).filter(Boolean);
}

async function readJsonFile(input) {
  const file = input.files?.[0];
  if (!file) return undefined;
  const text = await file.text();
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ApiError(0, 'invalid_field', `${file.name} is not JSON: ${e.message}`, input.dataset.field);
  }
}

async function readSource(form) {
  const f = form.elements;
  const events = [
    ...[...form.querySelectorAll('input[name=event]:checked')].map((c) => c.value),
    ...splitEvents(f.more_events.value),
  ];
  const bad = events.find((e) => !EVENT.test(e));
  if (bad) throw new ApiError(0, 'invalid_field', `"${bad}" is not Pallet.Event (for example Balances.Transfer).`, 'events');
  if (events.length === 0) throw new ApiError(0, 'missing_field', 'Pick at least one event.', 'events');
  const body = { events: [...new Set(events)] };
  // A known chain's name defaults to its own; any other connection needs one (the API says so).
  const chain = f.chain.value.trim();
  if (chain || f.connection.value !== 'known') body.chain = chain;
  if (f.connection.value === 'rpc') {
    body.rpc = f.rpc.value.split('\n').map((u) => u.trim()).filter(Boolean);
  } else if (f.connection.value === 'known') {
    body.known_chain = f.known_chain.value;
  } else {
    body.chain_spec = await readJsonFile(f.chain_spec);
    if (!body.chain_spec) throw new ApiError(0, 'missing_field', 'Choose the chain spec file.', 'chain_spec');
    const relay = await readJsonFile(f.relay_chain_spec);
    if (relay) body.relay_chain_spec = relay;
  }
  if (f.symbol.value.trim() || f.decimals.value.trim()) {
    const decimals = Number(f.decimals.value);
    if (!Number.isInteger(decimals)) throw new ApiError(0, 'invalid_field', 'Decimals is a whole number, e.g. 10.', 'token.decimals');
    body.token = { symbol: f.symbol.value.trim(), decimals };
  }
  if (f.ss58_prefix.value.trim()) body.ss58_prefix = Number(f.ss58_prefix.value);
  return body;
}

async function register(form) {
  clearErrors(form);
  const result = form.querySelector('#source-created');
  result.replaceChildren();
  try {
    const body = await readSource(form);
    say(form, 'Registering…');
    const created = await api.createSource(admin.get(), body);
    say(form, `Registered ${created.chain}. Its ingestor produces to these topics:`, 'success');
    result.replaceChildren(topicsTable(created));
    form.reset();
    toggleConnection(form);
    await refresh();
  } catch (e) {
    showError(form, e.field, e.message);
  }
}

function sourceItem(source) {
  const line = el('p', { class: 'status', role: 'status' });
  const eventsId = `events-${source.id}`;
  const editor = el('textarea', { id: eventsId, rows: 3, 'data-field': 'events', 'aria-errormessage': `${eventsId}-error` }, source.events.join('\n'));
  const form = el('form', { class: 'edit-events' },
    el('label', { for: eventsId }, `Events of ${source.chain} (one Pallet.Event per line)`),
    editor,
    el('p', { class: 'error', id: `${eventsId}-error` }),
    el('div', { class: 'actions' },
      el('button', { type: 'submit' }, 'Save events'),
      el('button', { type: 'button', class: 'danger', onclick: () => remove(source, form) }, `Delete ${source.chain}`)),
    line);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(form);
    try {
      await api.patchSource(admin.get(), source.id, { events: splitEvents(editor.value) });
      await refresh();
      say(root.querySelector(`[data-source="${CSS.escape(source.id)}"] form`), 'Saved.', 'success');
    } catch (e) {
      showError(form, e.field, e.message);
    }
  });
  const connection = source.known_chain
    ? `light client (known chain ${source.known_chain})`
    : source.light_client ? 'light client (chain spec)' : (source.rpc ?? []).join(', ');
  return el('li', { class: 'source', 'data-source': source.id },
    el('h4', {}, `${source.chain}${source.token ? ` (${source.token.symbol}, ${source.token.decimals} decimals)` : ''}`),
    el('p', { class: 'meta' }, `${source.id} · ${connection} · SS58 prefix ${source.ss58_prefix}`),
    topicsTable(source),
    form);
}

async function remove(source, form) {
  if (!confirm(`Delete ${source.chain}? Its triggers stop receiving events.`)) return;
  try {
    await api.deleteSource(admin.get(), source.id);
    await refresh();
  } catch (e) {
    say(form, e.message, 'error');
  }
}

async function refresh() {
  const list = root.querySelector('#sources-list');
  const sources = await api.sources(admin.get());
  list.replaceChildren(...sources.map(sourceItem));
  root.querySelector('#sources-empty').hidden = sources.length > 0;
  onChange(sources);
}

function toggleConnection(form) {
  const connection = form.elements.connection.value;
  form.querySelector('#rpc-row').hidden = connection !== 'rpc';
  form.querySelector('#spec-row').hidden = connection !== 'spec';
  form.querySelector('#known-row').hidden = connection !== 'known';
}

function show(signedIn) {
  root.querySelector('#login-form').hidden = signedIn;
  root.querySelector('#operator-panel').hidden = !signedIn;
}

async function signIn(form) {
  clearErrors(form);
  const token = form.elements.admin_token.value.trim();
  try {
    // A wrong token answers 401 (the public view needs none).
    await api.sources(token);
    admin.set(token);
    form.reset();
    show(true);
    await refresh();
  } catch (e) {
    showError(form, 'admin_token', e.status === 401 ? 'This is not the operator token.' : e.message);
  }
}

export function setupOperator(element, changed) {
  root = element;
  onChange = changed;
  const boxes = root.querySelector('#event-choices');
  boxes.replaceChildren(...COMMON_EVENTS.map((event, i) =>
    el('label', { class: 'check' },
      el('input', { type: 'checkbox', name: 'event', value: event, id: `event-${i}`, checked: event === 'Balances.Transfer' }),
      ` ${event}`)));
  const login = root.querySelector('#login-form');
  login.addEventListener('submit', (e) => {
    e.preventDefault();
    signIn(login);
  });
  root.querySelector('#sign-out').addEventListener('click', () => {
    admin.clear();
    show(false);
  });
  const form = root.querySelector('#source-form');
  for (const radio of form.elements.connection) radio.addEventListener('change', () => toggleConnection(form));
  toggleConnection(form);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    register(form);
  });
  const signedIn = Boolean(admin.get());
  show(signedIn);
  if (signedIn) refresh().catch(() => show(false));
}
