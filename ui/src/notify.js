// "Notify me": a chain, what to hear about (a recipe the chain's source serves: funds, assets,
// staking, governance, account security), the few inputs that recipe needs (an address checked as
// that chain's SS58, a direction, a minimum, an asset, tracks, a referendum), where to (this
// browser, ntfy, Telegram, Matrix, Discord, Slack, email or a webhook: the channels the server
// enabled) and optional message templates → one trigger. Funds is sent as it always was, a
// Balances.Transfer trigger with a balance filter; the other recipes as `{recipe, inputs}`.
import { api, ApiError } from './api.js';
import { actionFor, FALLBACK, messageSpec, newTopic, offered, telegramState } from './channels.js';
import { clearErrors, el, say, showError } from './dom.js';
import { PushUnavailable, subscribe, supported } from './push.js';
import { check } from './ss58.js';
import { remember } from './store.js';
import { extensions, prove, WalletError } from './wallet.js';
import { checkAmount, shorten } from './words.js';
import { FALLBACK_RECIPES, FUNDS, ROWS, fieldOf, readInputs, serving, tracksHint } from './recipes.js';

const EVENT = 'Balances.Transfer';

let sources = [];
/** What `GET /api/recipes` answered (funds only from an older server). */
let recipes = FALLBACK_RECIPES;
/** What `GET /api/channels` answered: `{channels, ntfy_server, telegram_deep_link}`. */
let enabled = FALLBACK;
/** The Telegram trigger being watched until its chat is linked: `{id, token, timer}`. */
let watching = null;
const POLL_MS = 1500;
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

/** Sources a person can pick: those that say what their token is (the recipes say what each serves). */
function eligible(list) {
  return list.filter((s) => s.token);
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

/** The recipe picked (a radio that is offered), or funds. */
function chosenRecipe(form) {
  return form.querySelector('input[name=recipe]:checked')?.value ?? FUNDS;
}

/** Offers the recipes the selected chain serves, a sentence each, keeping the one picked. */
function showRecipes(form) {
  const picked = chosenRecipe(form);
  const offered = serving(recipes, selected(form));
  const keep = offered.some((r) => r.id === picked) ? picked : offered[0]?.id;
  form.querySelector('#recipe-choices').replaceChildren(
    ...offered.map((r) =>
      el('label', { class: 'check recipe', 'data-recipe': r.id },
        el('input', { type: 'radio', name: 'recipe', value: r.id, checked: r.id === keep, onchange: () => showRecipe(form) }),
        ' ', el('strong', {}, r.title), el('span', { class: 'about' }, r.about)),
    ),
  );
  showRecipe(form);
}

/** Shows the rows the picked recipe needs, each naming the field the API's errors name. */
function showRecipe(form) {
  const recipe = chosenRecipe(form);
  const rows = ROWS[recipe] ?? ROWS[FUNDS];
  for (const row of form.querySelectorAll('[data-input]')) {
    row.hidden = !rows.includes(row.dataset.input);
    const named = row.matches('[data-field]') ? row : row.querySelector('[data-field]');
    if (named) named.dataset.field = fieldOf(recipe, row.dataset.input);
  }
  form.querySelector('#wallet-row').hidden ||= !rows.includes('account');
  describeSource(form);
}

/** Offers the recipes from the server (funds alone when it has none). */
async function loadRecipes(form) {
  try {
    recipes = (await api.recipes()).recipes;
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 404)) {
      say(form, `Could not ask what can be heard about (${e.message}); offering funds received or sent.`, 'error');
    }
    recipes = FALLBACK_RECIPES;
  }
  showRecipes(form);
}

function describeSource(form) {
  const source = selected(form);
  const assets = chosenRecipe(form) === 'assets';
  form.querySelector('#min-unit').textContent = assets ? 'the asset’s units' : source ? source.token.symbol : '';
  form.querySelector('#account-hint').textContent = source
    ? `Your ${source.chain} address (SS58, prefix ${source.ss58_prefix}).`
    : '';
  form.querySelector('#tracks-hint').textContent = tracksHint(source);
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
  const recipe = chosenRecipe(form);
  const account = form.elements.account.value.trim();
  if ((ROWS[recipe] ?? []).includes('account')) {
    try {
      check(account, source.ss58_prefix, source.chain);
    } catch (e) {
      showError(form, fieldOf(recipe, 'account'), e.message);
      return null;
    }
  }
  const trigger = recipe === FUNDS ? readFunds(form, source, account) : readRecipe(form, source, recipe);
  if (!trigger) return null;
  if (account && verified?.address === account && verified.expires * 1000 > Date.now()) {
    trigger.proof = verified.proof;
  }
  return withDelivery(form, trigger);
}

/** Funds, as the page always sent it: a Balances.Transfer trigger with a balance filter. */
function readFunds(form, source, account) {
  const min = form.elements.min.value.trim();
  const amountProblem = checkAmount(min, source.token.decimals);
  if (amountProblem) {
    showError(form, 'filter.balance.min', amountProblem);
    return null;
  }
  const balance = { account, direction: form.elements.direction.value };
  if (min) balance.min = min;
  return { source: source.id, event: EVENT, filter: { balance } };
}

/** Another recipe: its id and the inputs its rows hold. */
function readRecipe(form, source, recipe) {
  const f = form.elements;
  const read = readInputs(recipe, {
    account: f.account.value,
    direction: f.direction.value,
    min: f.min.value,
    asset: f.asset.value,
    tracks: f.tracks.value,
    referendum: f.referendum.value,
  });
  if (!read.inputs) {
    showError(form, read.field, read.message);
    return null;
  }
  return { source: source.id, recipe, inputs: read.inputs };
}

/** The name, the channel and the message, whatever the recipe. */
function withDelivery(form, trigger) {
  const name = form.elements.name.value.trim();
  if (name) trigger.name = name;
  const channel = chosen(form);
  if (!channel) {
    showError(form, 'action', 'Pick where to be notified.');
    return null;
  }
  if (channel !== 'web_push') {
    const f = form.elements;
    const url = { discord: f.discord_url, slack: f.slack_url, webhook: f.webhook }[channel]?.value;
    const made = actionFor(
      channel,
      { topic: f.topic.value, room: f.room.value, chat_id: f.chat_id.value, address: f.address.value, url },
      { deepLink: enabled.telegram_deep_link },
    );
    if (!made.action) {
      showError(form, made.field, made.message);
      return null;
    }
    trigger.action = made.action;
  }
  const message = messageSpec(form.elements.message_title.value, form.elements.message_body.value);
  if (message) trigger.message = message;
  return trigger;
}

/** The channel picked (a radio that is offered), or null. */
function chosen(form) {
  const radio = form.querySelector('input[name=deliver]:checked');
  return radio && !radio.closest('[data-channel]').hidden ? radio.value : null;
}

/** Shows the offered channels, and for the one picked its help and its fields. */
function showChannels(form) {
  const list = offered(enabled, supported());
  const keys = new Set(list.map((c) => c.key));
  for (const label of form.querySelectorAll('#channel-choices [data-channel]')) {
    label.hidden = !keys.has(label.dataset.channel);
  }
  if (!chosen(form) && list.length > 0) {
    form.querySelector(`input[name=deliver][value=${list[0].key}]`).checked = true;
  }
  const channel = chosen(form);
  const rows = new Set([channel]);
  if (channel === 'telegram' && !enabled.telegram_deep_link) rows.add('telegram-chat');
  for (const row of form.querySelectorAll('.channel-row')) row.hidden = !rows.has(row.dataset.for);
  const about = list.find((c) => c.key === channel);
  let help = about?.help ?? '';
  if (channel === 'telegram' && !enabled.telegram_deep_link) {
    help = 'Add the bot to your group or channel, then give its id or @username.';
  }
  form.querySelector('#channel-help').textContent = help;
  if (channel === 'ntfy') {
    const topic = form.elements.topic;
    if (!topic.value) topic.value = newTopic(crypto.getRandomValues(new Uint8Array(15)));
    const server = enabled.ntfy_server ?? 'https://ntfy.sh';
    form.querySelector('#topic-hint').textContent =
      `In the ntfy app: + → Subscribe to topic → this topic, on ${server}.`;
  }
}

/** Asks the server which channels it enabled; an older server without the route has push and webhooks. */
async function loadChannels(form) {
  try {
    enabled = await api.channels();
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 404)) {
      say(form, `Could not ask which channels are enabled (${e.message}); offering this browser and webhooks.`, 'error');
    }
    enabled = FALLBACK;
  }
  showChannels(form);
}

function stopWatching() {
  if (watching) clearTimeout(watching.timer);
  watching = null;
}

/** Shows the deep link and watches the trigger until Telegram linked its chat. */
function watchTelegram(form, created, onChange) {
  stopWatching();
  const box = form.querySelector('#telegram-connect');
  const link = form.querySelector('#telegram-link');
  const line = form.querySelector('#telegram-state');
  link.href = created.link;
  box.hidden = false;
  line.className = 'state waiting';
  line.textContent = 'Waiting for you to press Start in Telegram…';
  const me = { id: created.id, token: created.token, timer: null };
  watching = me;
  const poll = async () => {
    if (watching !== me) return;
    try {
      const trigger = await api.trigger(me.id, me.token);
      const state = telegramState(trigger);
      if (state?.state === 'linked') {
        stopWatching();
        line.className = 'state connected';
        line.textContent = 'Connected: notifications will arrive in your Telegram chat.';
        link.hidden = true;
        onChange(trigger);
        if (trigger.message) showPreview(form, me.id, me.token);
        return;
      }
      if (state?.state === 'expired') {
        stopWatching();
        line.className = 'state paused';
        line.textContent = 'The link expired unused. Ask for a new one under “My notifications”.';
        return;
      }
    } catch (e) {
      if (e instanceof ApiError && (e.status === 404 || e.status === 401)) {
        stopWatching();
        box.hidden = true;
        return;
      }
      // A network hiccup: keep waiting.
    }
    me.timer = setTimeout(poll, POLL_MS);
  };
  me.timer = setTimeout(poll, POLL_MS);
}

/** Fires a test and shows the message it rendered, so a person sees what their templates say. */
async function showPreview(form, id, token) {
  const box = form.querySelector('#message-preview');
  try {
    const result = await api.testTrigger(id, token);
    if (!result?.message) return;
    form.querySelector('#preview-title').textContent = result.message.title ?? '';
    form.querySelector('#preview-body').textContent = result.message.body ?? '';
    box.hidden = false;
  } catch (e) {
    form.querySelector('#preview-title').textContent = 'No preview';
    form.querySelector('#preview-body').textContent = e.message;
    box.hidden = false;
  }
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
    stopWatching();
    form.querySelector('#telegram-connect').hidden = true;
    form.querySelector('#telegram-link').hidden = false;
    form.querySelector('#message-preview').hidden = true;
    const created = await api.createTrigger(trigger);
    remember({
      id: created.id,
      token: created.token,
      chain: created.chain,
      source: created.source,
      endpoint,
      created: created.created_at,
    });
    const channel = Object.keys(created.action ?? trigger.action)[0];
    form.elements.account.value = '';
    forgetProof(form); // a challenge proves one request
    form.elements.min.value = '';
    form.elements.name.value = '';
    const source = sources.find((s) => s.id === created.source);
    const chain = source?.chain ?? created.chain;
    const done = {
      web_push: `Done: this browser will be notified of ${chain} transfers. Manage it under “My notifications”.`,
      webhook: `Done. Deliveries are signed with ${created.secret}: store this secret now, it is shown only once.`,
      ntfy: `Done: ${chain} transfers will be published to the ntfy topic ${created.action?.ntfy?.topic ?? ''}.`,
      email: `Saved. Open the confirmation link we mailed to ${created.action?.email?.address ?? 'you'}: nothing else is sent until then.`,
      telegram: created.link
        ? 'Saved. One more step: open Telegram and press Start.'
        : `Done: ${chain} transfers will be posted to the Telegram chat.`,
    }[channel] ?? `Done: ${chain} transfers will be posted there. Manage it under “My notifications”.`;
    say(form, done, 'success');
    // The next notification gets a hard-to-guess topic of its own.
    if (channel === 'ntfy') form.elements.topic.value = newTopic(crypto.getRandomValues(new Uint8Array(15)));
    if (channel === 'telegram' && created.link) {
      watchTelegram(form, created, () => onCreated(created));
    } else if (trigger.message) {
      showPreview(form, created.id, created.token);
    }
    onCreated(created);
  } catch (e) {
    if (e instanceof ApiError && e.field?.startsWith('proof')) forgetProof(form);
    if (e instanceof ApiError && e.code === 'too_many_triggers' && !trigger.proof && extensions().length > 0) {
      showError(
        form,
        e.field,
        `${e.message} If this address is yours, press “Verify with your wallet” first: your own notifications are never crowded out.`,
      );
    } else if (e instanceof ApiError) {
      if (e.field?.startsWith('message')) form.querySelector('#message-details').open = true;
      showError(form, e.field, e.message);
    }
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
    showRecipes(form);
    checkAccount(form);
  });
  form.elements.account.addEventListener('change', () => checkAccount(form));
  form.elements.account.addEventListener('blur', () => checkAccount(form));
  for (const radio of form.elements.deliver) radio.addEventListener('change', () => showChannels(form));
  showChannels(form);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    submit(form, onCreated);
  });
  return {
    sources: (list) => {
      fillSources(form, list);
      showRecipes(form);
    },
    channels: () => loadChannels(form),
    recipes: () => loadRecipes(form),
  };
}
