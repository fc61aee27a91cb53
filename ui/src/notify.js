// "Notify me": a source, an address checked as that chain's SS58, a direction, an optional minimum,
// and this browser (Web Push) or a webhook URL → one Balances.Transfer trigger.
import { api, ApiError } from './api.js';
import { clearErrors, el, say, showError } from './dom.js';
import { PushUnavailable, subscribe } from './push.js';
import { check } from './ss58.js';
import { remember } from './store.js';
import { checkAmount } from './words.js';

const EVENT = 'Balances.Transfer';

let sources = [];

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
    form.elements.min.value = '';
    form.elements.name.value = '';
    const source = sources.find((s) => s.id === created.source);
    const done = endpoint
      ? `Done: this browser will be notified of ${source?.chain ?? created.chain} transfers. Manage it under “My notifications”.`
      : `Done. Deliveries are signed with ${created.secret}: store this secret now, it is shown only once.`;
    say(form, done, 'success');
    onCreated(created);
  } catch (e) {
    if (e instanceof ApiError) showError(form, e.field, e.message);
    else if (e instanceof PushUnavailable) showError(form, 'action', e.message);
    else showError(form, null, `Could not subscribe this browser: ${e.message}`);
  } finally {
    button.disabled = sources.length === 0;
  }
}

export function setupNotify(form, onCreated) {
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
