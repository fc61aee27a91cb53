// "My notifications": the triggers this browser created, read back from the API with their own
// tokens: the filter in words, status, last delivery; pause/resume, test, remove, renew.
import { api, ApiError } from './api.js';
import { el } from './dom.js';
import { renew, unsubscribe } from './push.js';
import { endpointInUse, forget, triggers, update } from './store.js';
import { destination, preview, telegramState } from './channels.js';
import { describe, logLine, status } from './words.js';

let list;
let tokens = new Map();

async function act(item, message, work) {
  const line = item.querySelector('.status');
  for (const button of item.querySelectorAll('button')) button.disabled = true;
  line.dataset.kind = 'info';
  line.textContent = message;
  try {
    const done = await work();
    await refresh();
    const fresh = list.querySelector(`[data-trigger="${CSS.escape(item.dataset.trigger)}"] .status`);
    if (fresh && done) {
      fresh.dataset.kind = 'success';
      fresh.textContent = done;
    }
  } catch (e) {
    line.dataset.kind = 'error';
    line.textContent = e instanceof ApiError || e instanceof Error ? e.message : String(e);
    for (const button of item.querySelectorAll('button')) button.disabled = false;
  }
}

/** "Send again": one delivery no retry will repeat, now that its destination may be back. */
async function resend(entry, line) {
  const report = await api.resend(entry.id, entry.token, line.event_id);
  if (report.outcome === 'delivered') return 'Sent again: delivered.';
  throw new Error(`Sent again, but it did not go through${report.error ? `: ${report.error}` : '.'}`);
}

async function remove(entry, trigger) {
  await api.deleteTrigger(entry.id, entry.token).catch((e) => {
    if (!(e instanceof ApiError && e.status === 404)) throw e;
  });
  forget(entry.id);
  const endpoint = trigger?.action?.web_push?.endpoint ?? entry.endpoint;
  if (endpoint && !endpointInUse(endpoint, entry.id)) await unsubscribe(endpoint);
  return null;
}

async function test(entry) {
  const result = await api.testTrigger(entry.id, entry.token);
  const read = preview(result.message);
  if (result.outcome === 'delivered') return read ? `Test notification sent: “${read}”` : 'Test notification sent.';
  throw new Error(`The test notification was not delivered (${result.outcome}): ${result.error ?? 'no reason given'}`);
}

async function renewSubscription(entry) {
  const subscription = await renew();
  await api.patchTrigger(entry.id, entry.token, { action: { web_push: subscription }, active: true });
  update(entry.id, { endpoint: subscription.endpoint });
  return 'Renewed: this browser will be notified again.';
}

function view(entry, trigger) {
  const item = el('li', { class: 'trigger', 'data-trigger': entry.id });
  if (!trigger) {
    item.append(
      el('p', {}, `${entry.chain ?? 'A'} notification (${entry.id}) no longer exists.`),
      el('div', { class: 'actions' },
        el('button', { type: 'button', onclick: () => act(item, 'Forgetting…', async () => forget(entry.id)) }, 'Forget it')),
      el('p', { class: 'status', role: 'status' }),
    );
    return item;
  }
  const token = tokens.get(trigger.source);
  const state = status(trigger);
  const title = trigger.name || describe(trigger, token);
  const toggle = trigger.status.active
    ? el('button', { type: 'button', onclick: () => act(item, 'Pausing…', () => api.patchTrigger(entry.id, entry.token, { active: false }).then(() => 'Paused.')) }, 'Pause')
    : !state.expired &&
      el('button', { type: 'button', onclick: () => act(item, 'Resuming…', () => api.patchTrigger(entry.id, entry.token, { active: true }).then(() => 'Resumed.')) }, 'Resume');
  const telegram = telegramState(trigger);
  const template = trigger.message && preview(trigger.message);
  const log = trigger.delivery?.log ?? [];
  // `append` would print a skipped part as "null": filter them out.
  const parts = [
    el('h3', {}, title),
    trigger.name ? el('p', {}, describe(trigger, token)) : null,
    el('p', { class: 'meta channel', 'data-channel': Object.keys(trigger.action ?? {})[0] }, destination(trigger)),
    el('p', { class: 'meta message' }, template ? `Message: ${template}` : trigger.recipe ? 'Message: the recipe’s sentence' : 'Message: the default sentence'),
    telegram?.state === 'waiting'
      ? el('p', {}, el('a', { class: 'button primary', href: telegram.link, target: '_blank', rel: 'noopener noreferrer' }, 'Open Telegram to connect'))
      : null,
    telegram?.state === 'expired'
      ? el('p', { class: 'state paused' }, 'The Telegram link expired unused: ask for a new one, then press Start in Telegram.')
      : null,
    el('p', { class: `state ${state.state}` }, state.text),
    el('p', { class: 'meta' }, state.last),
    log.length > 0
      ? el('details', { class: 'log' },
        el('summary', {}, `Last deliveries (${log.length})`),
        el('ol', {}, ...log.map((line) => el('li', { 'data-outcome': line.outcome },
          logLine(line),
          line.resendable && ' ',
          line.resendable && el('button', { type: 'button', class: 'small', onclick: () => act(item, 'Sending it again…', () => resend(entry, line)) }, 'Send again')))))
      : null,
    el('div', { class: 'actions' },
      state.expired && el('button', { type: 'button', class: 'primary', onclick: () => act(item, 'Renewing…', () => renewSubscription(entry)) }, 'Renew subscription'),
      // An empty Telegram action asks the API for a new one-time link (the old code is retired).
      telegram?.state === 'expired' && el('button', { type: 'button', class: 'primary', onclick: () => act(item, 'Asking for a new link…', () => api.patchTrigger(entry.id, entry.token, { action: { telegram: {} } }).then(() => 'A new link: open Telegram and press Start.')) }, 'New Telegram link'),
      toggle,
      trigger.status.active && el('button', { type: 'button', onclick: () => act(item, 'Sending a test notification…', () => test(entry)) }, 'Send a test notification'),
      el('button', { type: 'button', class: 'danger', 'aria-label': `Remove: ${title}`, onclick: () => act(item, 'Removing…', () => remove(entry, trigger)) }, 'Remove'),
    ),
    el('p', { class: 'status', role: 'status' }),
  ];
  item.append(...parts.filter(Boolean));
  return item;
}

async function load(entry) {
  try {
    return [entry, await api.trigger(entry.id, entry.token)];
  } catch (e) {
    // 404: deleted (or its source was); 401: the stored token no longer opens it.
    if (e instanceof ApiError && (e.status === 404 || e.status === 401)) return [entry, null];
    return [entry, e];
  }
}

/** Reads every remembered trigger again and redraws the list. */
export async function refresh() {
  const entries = triggers();
  const loaded = await Promise.all(entries.map(load));
  const items = loaded.map(([entry, result]) =>
    result instanceof Error
      ? el('li', { class: 'trigger' }, el('p', { class: 'status', 'data-kind': 'error' }, `Could not read ${entry.id}: ${result.message}`))
      : view(entry, result),
  );
  list.replaceChildren(...items);
  document.getElementById('mine-empty').hidden = entries.length > 0;
}

export function setupMine(element) {
  list = element;
  // The page refreshes when the service worker shows a notification, so "last delivered" is current.
  navigator.serviceWorker?.addEventListener('message', (event) => {
    if (event.data?.type === 'aurras.notification') refresh();
  });
  return {
    sources: (sources) => {
      tokens = new Map(sources.map((s) => [s.id, s.token]));
    },
  };
}
