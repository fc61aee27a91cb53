// "Notify me": a source, an address checked as that chain's SS58, a direction, an optional minimum,
// and this browser (Web Push) or a webhook URL → one Balances.Transfer trigger.
import { api, ApiError } from './api.js';
import { clearErrors, el, say, showError } from './dom.js';
import { PushUnavailable, subscribe } from './push.js';
import { check } from './ss58.js';
import { remember } from './store.js';
import { extensions, prove, WalletError } from './wallet.js';
import { checkAmount, shorten } from './words.js';

const EVENT = 'Balances.Transfer';

let sources = [];
/** The wallet's proof for one address, sent with the next trigger for it: `{address, proof, expires}`. */
let verified = null;

const WALLET_HINT =
  'Optional: your wallet extension signs a message proving this address is yours (no transaction, no fee). ' +
  'Notifications others create for it can then never crowd yours out.';

function forgetProof(form) {
  verified = null;
  const hint = form.querySelector('#wallet-hint');
  if (hint) hint.textContent = WALLET_HINT;
}

/** Sources a person can pick: those that follow balance transfers and say what their token is. */
function eligible(list) {
  return list.filter((s) => s.events.includes(EVENT) && s.token);
}

function selected(form) {
  return sources.find((s) => s.id === form.elements.source.value);
}

function fillSources(form, list) {
  sources = eligible(list);
  const select = form.elements.source;
  const previous = select.value;
  select.replaceChildren(
    ...sources.map((s) => el('option', { value: s.id }, `${s.chain} (${s.token.symbol})`)),
  );
  if (sources.some((s) => s.id === previous)) select.value = previous;
  const none = sources.length === 0;
  form.querySelector('#notify-empty').hidden = !none;
  form.querySelector('button[type=submit]').disabled = none;
  describeSource(form);
}

function describeSource(form) {
  const source = selected(form);
  form.querySelector('#min-unit').textContent = source ? source.token.symbol : '';
  form.querySelector('#account-hint').textContent = source
    ? `Your ${source.chain} address (SS58, prefix ${source.ss58_prefix}).`
    : '';
}

function checkAccount(form) {
  const source = selected(form);
  const input = form.elements.account;
  const slot = document.getElementById('account-error');
  if (!source || input.value.trim() === '') {
    input.removeAttribute('aria-invalid');
    slot.textContent = '';
    return true;
  }
  try {
    check(input.value, source.ss58_prefix, source.chain);
    input.removeAttribute('aria-invalid');
    slot.textContent = '';
    return true;
  } catch (e) {
    input.setAttribute('aria-invalid', 'true');
    slot.textContent = e.message;
    return false;
  }
}

/** Checks the form in the browser; answers the trigger to create, or null after showing why not. */
function readForm(form) {
  clearErrors(form);
  const source = selected(form);
  if (!source) {
    showError(form, 'source', 'Pick a chain.');
    return null;
  }
  const account = form.elements.account.value.trim();
  try {
    check(account, source.ss58_prefix, source.chain);
  } catch (e) {
    showError(form, 'filter.balance.account', e.message);
    return null;
  }
  const min = form.elements.min.value.trim();
  const amountProblem = checkAmount(min, source.token.decimals);
  if (amountProblem) {
    showError(form, 'filter.balance.min', amountProblem);
    return null;
  }
  const balance = { account, direction: form.elements.direction.value };
  if (min) balance.min = min;
  const trigger = { source: source.id, event: EVENT, filter: { balance } };
  if (verified?.address === account && verified.expires * 1000 > Date.now()) {
    trigger.proof = verified.proof;
  }
  const name = form.elements.name.value.trim();
  if (name) trigger.name = name;
  if (form.elements.deliver.value === 'webhook') {
    const url = form.elements.webhook.value.trim();
    if (!/^https:\/\/\S+$/.test(url)) {
      showError(form, 'action.webhook.url', 'Give an https:// URL that accepts POST requests.');
      return null;
    }
    trigger.action = { webhook: { url } };
  }
  return trigger;
}

async function submit(form, onCreated) {
  const trigger = readForm(form);
  if (!trigger) return;
  const button = form.querySelector('button[type=submit]');
  button.disabled = true;
  try {
    let endpoint = null;
    if (!trigger.action) {
      say(form, 'Asking this browser for permission to notify you…');
      const subscription = await subscribe();
      trigger.action = { web_push: subscription };
      endpoint = subscription.endpoint;
    }
    say(form, 'Saving…');
    const created = await api.createTrigger(trigger);
    remember({
      id: created.id,
      token: created.token,
      chain: created.chain,
      source: created.source,
      endpoint,
      created: created.created_at,
    });
    form.elements.account.value = '';
    forgetProof(form); // a challenge proves one request
    form.elements.min.value = '';
    form.elements.name.value = '';
    const source = sources.find((s) => s.id === created.source);
    const done = endpoint
      ? `Done: this browser will be notified of ${source?.chain ?? created.chain} transfers. Manage it under “My notifications”.`
      : `Done. Deliveries are signed with ${created.secret}: store this secret now, it is shown only once.`;
    say(form, done, 'success');
    onCreated(created);
  } catch (e) {
    if (e instanceof ApiError && e.field?.startsWith('proof')) forgetProof(form);
    if (e instanceof ApiError && e.code === 'too_many_triggers' && !trigger.proof && extensions().length > 0) {
      showError(
        form,
        e.field,
        `${e.message} If this address is yours, press “Verify with your wallet” first: your own notifications are never crowded out.`,
      );
    } else if (e instanceof ApiError) showError(form, e.field, e.message);
    else if (e instanceof PushUnavailable) showError(form, 'action', e.message);
    else showError(form, null, `Could not subscribe this browser: ${e.message}`);
  } finally {
    button.disabled = sources.length === 0;
  }
}

/** "Verify with your wallet": the wallet signs the API's challenge for the address typed. */
async function verify(form) {
  clearErrors(form);
  const source = selected(form);
  const account = form.elements.account.value.trim();
  try {
    check(account, source?.ss58_prefix ?? 42, source?.chain ?? 'this chain');
  } catch (e) {
    showError(form, 'filter.balance.account', e.message);
    return;
  }
  const button = form.querySelector('#wallet-verify');
  button.disabled = true;
  say(form, 'Asking your wallet to sign…');
  try {
    const { proof, expires } = await prove(account, (address) => api.challenge(address));
    verified = { address: account, proof, expires };
    form.querySelector('#wallet-hint').textContent =
      `Verified: your wallet signed for ${shorten(account)}. The next notification for it is kept as yours.`;
    say(form, 'Address verified.', 'success');
  } catch (e) {
    if (e instanceof WalletError) showError(form, 'proof', e.message);
    else if (e instanceof ApiError) showError(form, e.field, e.message);
    else showError(form, 'proof', `The wallet could not be used: ${e.message}`);
  } finally {
    button.disabled = false;
  }
}

/** Shows the wallet button when an extension is injected (extensions may inject after load). */
function offerWallet(form) {
  const row = form.querySelector('#wallet-row');
  if (!row) return;
  const look = () => {
    row.hidden = extensions().length === 0;
  };
  look();
  setTimeout(look, 1000);
  globalThis.addEventListener?.('load', look);
  form.querySelector('#wallet-verify').addEventListener('click', () => verify(form));
  form.elements.account.addEventListener('input', () => {
    if (verified && verified.address !== form.elements.account.value.trim()) forgetProof(form);
  });
}

export function setupNotify(form, onCreated) {
  offerWallet(form);
  form.elements.source.addEventListener('change', () => {
    describeSource(form);
    checkAccount(form);
  });
  form.elements.account.addEventListener('change', () => checkAccount(form));
  form.elements.account.addEventListener('blur', () => checkAccount(form));
  const toggleWebhook = () => {
    const webhook = form.elements.deliver.value === 'webhook';
    form.querySelector('#webhook-row').hidden = !webhook;
  };
  for (const radio of form.elements.deliver) radio.addEventListener('change', toggleWebhook);
  toggleWebhook();
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    submit(form, onCreated);
  });
  return {
    sources: (list) => fillSources(form, list),
  };
}
