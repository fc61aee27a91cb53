// What the browser tests share: the browser, a context per person with the push stub, the API as
// the test reads it, screenshots at desktop and phone width.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

export const env = {
  url: process.env.AURRAS_URL,
  admin: process.env.AURRAS_ADMIN_TOKEN,
  source: process.env.AURRAS_SOURCE,
  vapidKey: process.env.AURRAS_VAPID_PUBLIC_KEY,
  subscription: JSON.parse(process.env.AURRAS_SUBSCRIPTION ?? 'null'),
  expired: JSON.parse(process.env.AURRAS_EXPIRED_SUBSCRIPTION ?? 'null'),
  renewAccount: process.env.AURRAS_RENEW_ACCOUNT,
  renewBatch: process.env.AURRAS_RENEW_BATCH,
  renewHeaders: JSON.parse(process.env.AURRAS_RENEW_HEADERS ?? '{}'),
  paseoSpec: process.env.AURRAS_PASEO_SPEC,
  chromium: process.env.AURRAS_CHROMIUM ?? '/usr/bin/chromium',
  artifacts: process.env.AURRAS_ARTIFACTS ?? 'test-artifacts',
  telegramBot: process.env.AURRAS_TELEGRAM_BOT,
  telegramSecret: process.env.AURRAS_TELEGRAM_SECRET,
  telegramChat: Number(process.env.AURRAS_TELEGRAM_CHAT),
  matrixRoom: process.env.AURRAS_MATRIX_ROOM,
  matrixRoomId: process.env.AURRAS_MATRIX_ROOM_ID,
  mailTo: process.env.AURRAS_MAIL_TO,
};
for (const [name, value] of Object.entries(env)) {
  if (value === undefined || value === null) throw new Error(`${name} is not set: run these tests through tests/e2e/tests/browser.rs`);
}

export const ALICE = '5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY';
export const BOB = '5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty';
/** Bob on Kusama (prefix 2): the same account, another chain's address. */
export const BOB_KUSAMA = 'FoQJpPyadYccjavVdTWxpxU7rUEaYhfLCPwXgkfD6Zat9QP';

export async function launch() {
  return chromium.launch({
    executablePath: env.chromium,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}

/**
 * The page's `pushManager` answers the subscription the test puts in localStorage under
 * `test.next-subscription` (no real push service is reachable from here); it records the
 * applicationServerKey it was asked for and forgets the subscription on unsubscribe.
 */
function pushStub() {
  const b64url = (buffer) =>
    btoa(String.fromCharCode(...new Uint8Array(buffer))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  const fromB64url = (text) => Uint8Array.from(atob(text.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));
  const make = (json, key) => ({
    endpoint: json.endpoint,
    expirationTime: null,
    options: { userVisibleOnly: true, applicationServerKey: fromB64url(key).buffer },
    toJSON: () => json,
    getKey: (name) => fromB64url(json.keys[name]).buffer,
    unsubscribe: async () => {
      localStorage.removeItem('test.current-subscription');
      localStorage.setItem('test.unsubscribed', json.endpoint);
      return true;
    },
  });
  if (typeof PushManager === 'undefined') return;
  PushManager.prototype.subscribe = async function subscribe(options) {
    const next = localStorage.getItem('test.next-subscription');
    if (!next) throw new DOMException('no test subscription prepared', 'AbortError');
    const key = b64url(options.applicationServerKey);
    localStorage.setItem('test.subscribed-with', key);
    localStorage.setItem('test.current-subscription', JSON.stringify({ json: JSON.parse(next), key }));
    return make(JSON.parse(next), key);
  };
  PushManager.prototype.getSubscription = async function getSubscription() {
    const current = localStorage.getItem('test.current-subscription');
    if (!current) return null;
    const { json, key } = JSON.parse(current);
    return make(json, key);
  };
}

/** A fresh browser profile for one person, with notifications allowed and the push stub. */
export async function person(browser, viewport = { width: 1200, height: 900 }) {
  const context = await browser.newContext({ viewport });
  await context.grantPermissions(['notifications'], { origin: env.url });
  await context.addInitScript(pushStub);
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(`console error: ${m.text()}`);
  });
  return { context, page, problems };
}

export async function open(page) {
  await page.goto(env.url);
  await page.waitForSelector('body[data-ready=true]');
}

export async function prepareSubscription(page, subscription) {
  await page.evaluate((json) => localStorage.setItem('test.next-subscription', json), JSON.stringify(subscription));
}

mkdirSync(env.artifacts, { recursive: true });

/** Saves the page at desktop width and at phone width (390×844). */
export async function shot(page, name) {
  const viewport = page.viewportSize();
  await page.screenshot({ path: join(env.artifacts, `${name}.desktop.png`), fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: join(env.artifacts, `${name}.phone.png`), fullPage: true });
  await page.setViewportSize(viewport);
}

/**
 * Telegram delivering `/start <code>` from the test's chat to the app's webhook, with the secret
 * token the app registered through setWebhook (what a person pressing Start makes Telegram send).
 */
export async function telegramStart(code) {
  const text = `/start ${code}`;
  const chat = { id: env.telegramChat, first_name: 'Dana', type: 'private' };
  const update = {
    update_id: 600_000_001,
    message: {
      message_id: 1,
      from: { id: env.telegramChat, is_bot: false, first_name: 'Dana', language_code: 'en' },
      chat,
      date: Math.floor(Date.now() / 1000),
      text,
      entities: [{ offset: 0, length: '/start'.length, type: 'bot_command' }],
    },
  };
  const response = await fetch(`${env.url}/api/telegram/update`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': env.telegramSecret },
    body: JSON.stringify(update),
  });
  return response.status;
}

/** The API as the test reads it. */
export async function api(method, path, { token, body } = {}) {
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${env.url}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

/** The triggers the page remembers, with their tokens. */
export async function remembered(page) {
  return page.evaluate(() => JSON.parse(localStorage.getItem('aurras.triggers.v1') ?? '[]'));
}

/** The triggers on `topic` for `account`, as the operator sees them. */
export async function triggersFor(account, topic = 'paseo.Balances.Transfer') {
  const found = await api('GET', `/api/topics/${topic}/triggers?account=${account}`, { token: env.admin });
  if (found.status !== 200) throw new Error(`lookup answered ${found.status}: ${JSON.stringify(found.body)}`);
  return found.body.triggers;
}

export async function until(what, check, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
