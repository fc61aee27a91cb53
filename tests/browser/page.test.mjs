// The page, as a person and an operator use it, in Debian's Chromium. Run by
// tests/e2e/tests/browser.rs, which starts the app and the push service and passes them in.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, sign } from 'node:crypto';
import {
  ALICE, BOB, BOB_KUSAMA, api, env, launch, open, person, prepareSubscription, remembered, shot,
  telegramStart, triggersFor, until,
} from './support.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

function fillNotify(page, { account, direction = 'in', min = '' }) {
  return (async () => {
    await page.selectOption('#source', env.source);
    await page.fill('#account', account);
    await page.check(`input[name=direction][value=${direction}]`);
    await page.fill('#min', min);
  })();
}

/** The POST /api/triggers the page sends when "Notify me" is pressed, and its answer. */
async function created(page) {
  const [request] = await Promise.all([
    page.waitForRequest((r) => r.method() === 'POST' && new URL(r.url()).pathname === '/api/triggers'),
    page.click('button:has-text("Notify me")'),
  ]);
  const response = await request.response();
  return { sent: JSON.parse(request.postData()), status: response.status(), answer: await response.json() };
}

/** A person on the page, signed in as the operator with the right token. */
async function signedInOperator() {
  const me = await person(browser);
  await open(me.page);
  await me.page.fill('#admin-token', env.admin);
  await me.page.click('button:has-text("Sign in")');
  await me.page.waitForSelector('#operator-panel:not([hidden])');
  return me;
}

describe('a person registers this browser', () => {
  let me;
  before(async () => {
    me = await person(browser);
    await open(me.page);
  });
  after(async () => {
    assert.deepEqual(me.problems, []);
    await me.context.close();
  });

  test('the page loads with the chain to pick', async () => {
    const { page } = me;
    assert.equal(await page.locator('#source option').count(), 1);
    assert.equal(await page.textContent('#source option'), 'paseo (PAS)');
    assert.match(await page.textContent('#account-hint'), /prefix 42/);
    await shot(page, '01-page');
  });

  test('a mistyped address is caught before anything is sent', async () => {
    const { page } = me;
    const typo = `${BOB.slice(0, 20)}${BOB[20] === 'x' ? 'y' : 'x'}${BOB.slice(21)}`;
    const posts = [];
    const listen = (request) => request.method() === 'POST' && posts.push(request.url());
    page.on('request', listen);
    await fillNotify(page, { account: typo });
    await page.click('button:has-text("Notify me")');
    assert.match(await page.textContent('#account-error'), /checksum does not match/);
    assert.equal(await page.getAttribute('#account', 'aria-invalid'), 'true');
    await shot(page, '02-bad-checksum');

    await fillNotify(page, { account: BOB_KUSAMA });
    await page.click('button:has-text("Notify me")');
    assert.match(await page.textContent('#account-error'), /Kusama address; paseo addresses use prefix 42/);
    await shot(page, '03-other-chain');

    page.off('request', listen);
    assert.deepEqual(posts, [], 'nothing was sent');
    assert.deepEqual(await triggersFor(BOB), [], 'no trigger was created');
    assert.deepEqual(await remembered(page), []);
  });

  test('"Notify me" creates exactly the trigger asked for', async () => {
    const { page } = me;
    await prepareSubscription(page, env.subscription);
    await fillNotify(page, { account: BOB, direction: 'in', min: '1.5' });
    await page.fill('#name', 'Rent');
    await page.click('button:has-text("Notify me")');
    await page.waitForSelector('#notify-form .status[data-kind=success]');
    assert.match(await page.textContent('#notify-form .status'), /this browser will be notified/);
    await shot(page, '04-notify-me-done');

    const subscribedWith = await page.evaluate(() => localStorage.getItem('test.subscribed-with'));
    assert.equal(subscribedWith, env.vapidKey, 'subscribed with the app VAPID key');
    const [entry] = await remembered(page);
    assert.ok(entry, 'the browser remembers its trigger');
    const read = await api('GET', `/api/triggers/${entry.id}`, { token: entry.token });
    assert.equal(read.status, 200);
    const trigger = read.body;
    assert.equal(trigger.source, env.source);
    assert.equal(trigger.event, 'Balances.Transfer');
    assert.equal(trigger.name, 'Rent');
    assert.deepEqual(
      { account: trigger.filter.balance.account, direction: trigger.filter.balance.direction, min: trigger.filter.balance.min },
      { account: BOB, direction: 'in', min: '1.5' },
    );
    assert.deepEqual(trigger.action.web_push.endpoint, env.subscription.endpoint);
    assert.deepEqual(trigger.action.web_push.keys, env.subscription.keys);
    assert.equal(trigger.status.active, true);
    assert.equal((await triggersFor(BOB)).length, 1, 'exactly one trigger');

    const card = page.locator(`[data-trigger="${entry.id}"]`);
    await card.waitFor();
    assert.match(await card.textContent(), /When 5FHn…94ty receives at least 1\.5 PAS on paseo/);
    assert.match(await card.textContent(), /Active\./);
    assert.doesNotMatch(await card.textContent(), /null|undefined/);
  });

  test('pause and resume change the stored trigger', async () => {
    const { page } = me;
    const [entry] = await remembered(page);
    const card = page.locator(`[data-trigger="${entry.id}"]`);
    await card.locator('button:has-text("Pause")').click();
    await card.locator('.status[data-kind=success]').waitFor();
    let read = await api('GET', `/api/triggers/${entry.id}`, { token: entry.token });
    assert.equal(read.body.status.active, false);
    assert.match(await card.textContent(), /Paused/);
    await shot(page, '05-paused');

    await card.locator('button:has-text("Resume")').click();
    await card.locator('.status[data-kind=success]').waitFor();
    read = await api('GET', `/api/triggers/${entry.id}`, { token: entry.token });
    assert.equal(read.body.status.active, true);
  });

  test('a test notification is encrypted for this browser and shown by its service worker', async () => {
    const { page, context } = me;
    const [entry] = await remembered(page);
    const card = page.locator(`[data-trigger="${entry.id}"]`);
    await card.locator('button:has-text("Send a test notification")').click();
    await card.locator('.status[data-kind=success]').waitFor();
    assert.match(await card.textContent(), /Test notification sent/);
    await shot(page, '06-test-sent');

    // What the push service received and decrypted (RFC 8291) with this subscription's keys.
    const messages = await (await fetch(env.subscription.endpoint)).json();
    assert.equal(messages.length, 1);
    const payload = messages[0].data;
    const sent = JSON.parse(payload);
    assert.match(sent.title, /^Test: Received [\d.]+ PAS$/);

    // Hand it to the service worker as the browser's push service would.
    const cdp = await context.newCDPSession(page);
    const registrationId = new Promise((resolve) => {
      cdp.on('ServiceWorker.workerRegistrationUpdated', ({ registrations }) => {
        const ours = registrations.find((r) => r.scopeURL === `${env.url}/` && !r.isDeleted);
        if (ours) resolve(ours.registrationId);
      });
    });
    await cdp.send('ServiceWorker.enable');
    await cdp.send('ServiceWorker.deliverPushMessage', {
      origin: env.url,
      registrationId: await registrationId,
      data: payload,
    });
    const shown = await until('the notification', async () => {
      const list = await page.evaluate(async () => {
        const registration = await navigator.serviceWorker.ready;
        const notes = await registration.getNotifications();
        return notes.map((n) => ({ title: n.title, body: n.body, icon: n.icon, tag: n.tag, data: n.data }));
      });
      return list.length > 0 && list;
    });
    assert.equal(shown.length, 1);
    assert.equal(shown[0].title, sent.title);
    assert.equal(shown[0].body, sent.body);
    assert.match(shown[0].body, /paseo/);
    assert.equal(shown[0].icon, `${env.url}/icon-192.png`);
    assert.equal(shown[0].tag, sent.tag);
    assert.match(shown[0].data.url, /^https:\/\/explorer\.test\/paseo\/block\/\d+$/);
    assert.equal(shown[0].data.trigger, entry.id);
    await cdp.detach();
  });

  test('remove deletes the trigger and unsubscribes the browser', async () => {
    const { page } = me;
    const [entry] = await remembered(page);
    const card = page.locator(`[data-trigger="${entry.id}"]`);
    await card.locator('button:has-text("Remove")').click();
    await card.waitFor({ state: 'detached' });
    const read = await api('GET', `/api/triggers/${entry.id}`, { token: entry.token });
    assert.equal(read.status, 404);
    assert.deepEqual(await remembered(page), []);
    assert.equal(await page.evaluate(() => localStorage.getItem('test.unsubscribed')), env.subscription.endpoint);
    assert.equal(await page.isVisible('#mine-empty'), true);
    await shot(page, '07-removed');
  });
});

describe('an expired subscription', () => {
  test('is shown as expired and can be renewed', async () => {
    const me = await person(browser);
    const { page } = me;
    await open(page);
    await prepareSubscription(page, env.expired);
    await fillNotify(page, { account: env.renewAccount, direction: 'any' });
    await page.click('button:has-text("Notify me")');
    await page.waitForSelector('#notify-form .status[data-kind=success]');
    const [entry] = await remembered(page);

    // The relay's batch: the push service answers 410 and dispatch pauses the trigger.
    const answer = await fetch(`${env.url}/dispatch`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...env.renewHeaders },
      body: env.renewBatch,
    });
    assert.equal(answer.status, 200, await answer.text());
    const paused = await api('GET', `/api/triggers/${entry.id}`, { token: entry.token });
    assert.equal(paused.body.status.active, false);

    await page.reload();
    await page.waitForSelector('body[data-ready=true]');
    const card = page.locator(`[data-trigger="${entry.id}"]`);
    assert.match(await card.textContent(), /subscription expired/);
    assert.doesNotMatch(await card.textContent(), /null|undefined/);
    // The delivery log has the event's line: what happened, in which block, when.
    await card.locator('details.log summary').click();
    assert.equal((await card.locator('details.log summary').textContent()).trim(), 'Last deliveries (1)');
    assert.match(await card.locator('details.log li').textContent(), /^Destination gone \(.+\) · block #1000 · /);
    await shot(page, '08-expired');

    await prepareSubscription(page, env.subscription);
    await card.locator('button:has-text("Renew subscription")').click();
    await card.locator('.status[data-kind=success]').waitFor();
    const renewed = await api('GET', `/api/triggers/${entry.id}`, { token: entry.token });
    assert.equal(renewed.body.status.active, true);
    assert.equal(renewed.body.action.web_push.endpoint, env.subscription.endpoint);
    assert.deepEqual(renewed.body.action.web_push.keys, env.subscription.keys);
    await shot(page, '09-renewed');
    // The event the expired subscription missed goes to the renewed one.
    await card.locator('details.log summary').click();
    await card.locator('details.log button:has-text("Send again")').click();
    await card.locator('.status[data-kind=success]').waitFor();
    assert.match(await card.locator('.status').textContent(), /Sent again: delivered/);
    assert.match(await card.locator('details.log li').textContent(), /^Delivered · block #1000 · /);
    assert.equal(await card.locator('details.log button').count(), 0, 'nothing left to send again');
    await card.locator('details.log summary').click();
    await shot(page, '28-delivery-log');
    assert.deepEqual(me.problems, []);
    await me.context.close();
  });
});

describe('what: the recipes the chain serves', () => {
  let me;
  before(async () => {
    me = await person(browser);
    await open(me.page);
  });
  after(async () => {
    assert.deepEqual(me.problems, []);
    await me.context.close();
  });

  const shownRows = (page) =>
    page.$$eval('#notify-form [data-input]:not([hidden])', (rows) => rows.map((r) => r.dataset.input));

  test('asks what to hear about first, a sentence each, only what this chain serves', async () => {
    const { page } = me;
    await page.selectOption('#source', env.source);
    const offered = await page.$$eval('#recipe-choices [data-recipe]', (labels) => labels.map((l) => l.dataset.recipe));
    // Asset Hub's assets and referendum outcomes are not published by this chain's source.
    assert.deepEqual(offered, ['funds', 'staking_reward', 'staking_alert', 'referendum_new', 'account_security']);
    assert.equal(await page.isChecked('input[name=recipe][value=funds]'), true, 'funds first, as before');
    assert.match(await page.textContent('[data-recipe=staking_reward] .about'), /staking reward paid to a stash/);
    assert.deepEqual(await shownRows(page), ['account', 'direction', 'min']);
    await shot(page, '26-recipes');
  });

  test('a staking alert needs only the address, and reads back as a sentence', async () => {
    const { page } = me;
    await page.check('input[name=recipe][value=staking_alert]');
    assert.deepEqual(await shownRows(page), ['account']);
    await page.fill('#account', BOB);
    await page.check('input[name=deliver][value=ntfy]');
    const topic = await page.inputValue('#topic');
    const { sent, status, answer } = await created(page);
    assert.equal(status, 201, JSON.stringify(answer));
    assert.deepEqual(sent, {
      source: env.source,
      recipe: 'staking_alert',
      inputs: { address: BOB },
      action: { ntfy: { topic } },
    });
    const card = page.locator(`[data-trigger="${answer.id}"]`);
    await card.waitFor();
    assert.equal((await card.locator('h3').textContent()).trim(), 'When 5FHn…94ty is slashed, chilled or kicked on paseo');
    assert.match(await card.locator('.message').textContent(), /the recipe’s sentence/);
  });

  test('new referenda on some tracks: a track out of range is named at its field', async () => {
    const { page } = me;
    await page.check('input[name=recipe][value=referendum_new]');
    assert.deepEqual(await shownRows(page), ['tracks']);
    await page.fill('#tracks', 'root, 70000');
    await page.click('button:has-text("Notify me")');
    assert.match(await page.textContent('#tracks-error'), /by name or id, separated by commas/);
    assert.equal(await page.getAttribute('#tracks', 'aria-invalid'), 'true');
    await page.fill('#tracks', '0, 11');
    await page.check('input[name=deliver][value=ntfy]');
    const { sent, status, answer } = await created(page);
    assert.equal(status, 201, JSON.stringify(answer));
    assert.deepEqual(sent.inputs, { tracks: [0, 11] });
    const card = page.locator(`[data-trigger="${answer.id}"]`);
    await card.waitFor();
    assert.equal((await card.locator('h3').textContent()).trim(), 'When a referendum is submitted on tracks 0, 11 on paseo');
    await shot(page, '27-recipe-cards');
    await page.check('input[name=recipe][value=funds]');
  });
});

describe('a webhook instead of this browser', () => {
  test('creates a webhook trigger and shows its signing secret once', async () => {
    const me = await person(browser);
    const { page } = me;
    await open(page);
    await fillNotify(page, { account: ALICE, direction: 'any' });
    await page.check('input[name=deliver][value=webhook]');
    await page.fill('#webhook', 'http://hooks.example.com/aurras');
    await page.click('button:has-text("Notify me")');
    assert.match(await page.textContent('#webhook-error'), /https:\/\//);

    await page.fill('#webhook', 'https://127.0.0.1:9/aurras');
    await page.click('button:has-text("Notify me")');
    await page.waitForSelector('#notify-form .status[data-kind=success]');
    assert.match(await page.textContent('#notify-form .status'), /whsec_\S+: store this secret now/);
    assert.equal(await page.evaluate(() => localStorage.getItem('test.subscribed-with')), null, 'no push subscription');
    const [entry] = await remembered(page);
    const read = await api('GET', `/api/triggers/${entry.id}`, { token: entry.token });
    assert.deepEqual(read.body.action, { webhook: { url: 'https://127.0.0.1:9/aurras' } });
    const card = page.locator(`[data-trigger="${entry.id}"]`);
    assert.match(await card.textContent(), /Webhook to https:\/\/127\.0\.0\.1:9\/aurras/);
    await shot(page, '15-webhook');
    assert.deepEqual(me.problems, []);
    await me.context.close();
  });
});

describe('where: the channels the server enabled', () => {
  let me;
  before(async () => {
    me = await person(browser);
    await open(me.page);
  });
  after(async () => {
    assert.deepEqual(me.problems, []);
    await me.context.close();
  });

  test('every channel the server enabled is offered, this browser first', async () => {
    const { page } = me;
    const { body } = await api('GET', '/api/channels');
    assert.deepEqual(body.channels, ['web_push', 'webhook', 'telegram', 'matrix', 'discord', 'slack', 'ntfy', 'email']);
    assert.equal(body.telegram_deep_link, true);
    const shown = await page.$$eval('#channel-choices [data-channel]:not([hidden])', (labels) => labels.map((l) => l.dataset.channel));
    assert.deepEqual(shown, ['web_push', 'ntfy', 'telegram', 'matrix', 'discord', 'slack', 'email', 'webhook']);
    assert.equal(await page.isChecked('input[name=deliver][value=web_push]'), true, 'this browser first');
  });

  test('only enabled channels are offered: a server without Matrix and email hides them', async () => {
    const other = await person(browser);
    const { body } = await api('GET', '/api/channels');
    const without = { ...body, channels: body.channels.filter((c) => c !== 'matrix' && c !== 'email') };
    await other.page.route('**/api/channels', (route) => route.fulfill({ json: without }));
    await open(other.page);
    await other.page.waitForSelector('#channel-choices [data-channel=ntfy]:not([hidden])');
    assert.equal(await other.page.isVisible('#channel-choices [data-channel=matrix]'), false);
    assert.equal(await other.page.isVisible('#channel-choices [data-channel=email]'), false);
    assert.equal(await other.page.isVisible('#channel-choices [data-channel=slack]'), true);
    assert.deepEqual(other.problems, []);
    await other.context.close();
  });

  test('Slack: the webhook URL with its help, and exactly that action sent', async () => {
    const { page } = me;
    await fillNotify(page, { account: BOB, direction: 'in' });
    await page.check('input[name=deliver][value=slack]');
    assert.match(await page.textContent('#channel-help'), /Incoming Webhook/);
    assert.equal(await page.isVisible('#slack_url'), true);
    assert.equal(await page.isVisible('#discord_url'), false);
    const url = 'https://hooks.slack.com/services/T0AURRAS/B0PAGE/abcdefghijklmnopqrstuvwx';
    await page.fill('#slack_url', url);
    const { sent, status, answer } = await created(page);
    assert.equal(status, 201, JSON.stringify(answer));
    assert.deepEqual(sent.action, { slack: { url } });
    const card = page.locator(`[data-trigger="${answer.id}"]`);
    await card.waitFor();
    assert.match(await card.locator('.channel').textContent(), /💼 Slack webhook https:\/\/hooks\.slack\.com\//);
    assert.equal(await card.locator('.channel').textContent().then((t) => t.includes('abcdefghijklmnopqrstuvwx')), false,
      'the webhook\'s secret part is not shown');
  });

  test('Matrix: the room the bot was invited to, joined on saving', async () => {
    const { page } = me;
    await fillNotify(page, { account: BOB, direction: 'in' });
    await page.check('input[name=deliver][value=matrix]');
    assert.match(await page.textContent('#channel-help'), /Invite the bot to your room first/);
    await page.fill('#room', env.matrixRoom);
    await shot(page, '24-channel-matrix');
    const { sent, status, answer } = await created(page);
    assert.equal(status, 201, JSON.stringify(answer));
    assert.deepEqual(sent.action, { matrix: { room: env.matrixRoom } });
    assert.deepEqual(answer.action.matrix, { room: env.matrixRoom, room_id: env.matrixRoomId });
    const card = page.locator(`[data-trigger="${answer.id}"]`);
    await card.waitFor();
    assert.equal((await card.locator('.channel').textContent()).trim(), `💬 Matrix room ${env.matrixRoom}`);
  });

  test('email: saved, then waiting for the confirmation link we mailed', async () => {
    const { page } = me;
    await fillNotify(page, { account: BOB, direction: 'in' });
    await page.check('input[name=deliver][value=email]');
    assert.match(await page.textContent('#channel-help'), /confirmation link first/);
    await page.fill('#address', env.mailTo);
    const { sent, status, answer } = await created(page);
    assert.equal(status, 201, JSON.stringify(answer));
    assert.deepEqual(sent.action, { email: { address: env.mailTo } });
    assert.equal(answer.action.email.confirmed, false);
    await page.waitForSelector('#notify-form .status[data-kind=success]');
    assert.match(await page.textContent('#notify-form .status'), /Open the confirmation link we mailed/);
    const card = page.locator(`[data-trigger="${answer.id}"]`);
    await card.waitFor();
    assert.match(await card.locator('.channel').textContent(), /✉️ Email to .*waiting for you to open the confirmation link/);
    await shot(page, '25-channel-email-waiting');
  });

  test('my phone (ntfy): a hard-to-guess topic prefilled, the help, and exactly that action sent', async () => {
    const { page } = me;
    await fillNotify(page, { account: BOB, direction: 'in' });
    await page.check('input[name=deliver][value=ntfy]');
    const topic = await page.inputValue('#topic');
    assert.match(topic, /^aurras-[a-z2-7]{24}$/);
    assert.match(await page.textContent('#channel-help'), /Install the ntfy app, subscribe to this topic/);
    assert.match(await page.textContent('#topic-hint'), /https:\/\/ntfy\.sh/);
    assert.equal(await page.isVisible('#webhook'), false);
    await shot(page, '20-channel-ntfy');
    const { sent, status, answer } = await created(page);
    assert.equal(status, 201, JSON.stringify(answer));
    assert.deepEqual(sent, {
      source: env.source,
      event: 'Balances.Transfer',
      filter: { balance: { account: BOB, direction: 'in' } },
      action: { ntfy: { topic } },
    });
    await page.waitForSelector('#notify-form .status[data-kind=success]');
    assert.match(await page.textContent('#notify-form .status'), new RegExp(`ntfy topic ${topic}`));
    const card = page.locator(`[data-trigger="${answer.id}"]`);
    await card.waitFor();
    assert.match(await card.locator('.channel').textContent(), new RegExp(`📱 ntfy topic ${topic}`));
    assert.match(await card.locator('.message').textContent(), /the default sentence/);
    assert.equal(await page.evaluate(() => localStorage.getItem('test.subscribed-with')), null, 'no push subscription');
  });

  test('an API refusal shows next to the field it names', async () => {
    const { page } = me;
    await fillNotify(page, { account: BOB, direction: 'in' });
    await page.check('input[name=deliver][value=discord]');
    assert.match(await page.textContent('#channel-help'), /Integrations → Webhooks/);
    await page.fill('#discord_url', 'https://example.com/api/webhooks/1/abc');
    const { status, answer } = await created(page);
    assert.equal(status, 422);
    assert.equal(answer.error.field, 'action.discord.url');
    assert.match(await page.textContent('#discord_url-error'), /discord\.com/);
    assert.equal(await page.getAttribute('#discord_url', 'aria-invalid'), 'true');
    await page.fill('#discord_url', '');
  });

  test('Telegram: no fields, a deep link to tap, then connected by itself', async () => {
    const { page } = me;
    await fillNotify(page, { account: BOB, direction: 'in' });
    await page.check('input[name=deliver][value=telegram]');
    assert.equal(await page.locator('.channel-row:not([hidden])').count(), 0, 'nothing to type');
    const { sent, status, answer } = await created(page);
    assert.equal(status, 201, JSON.stringify(answer));
    assert.deepEqual(sent.action, { telegram: {} });
    const link = page.locator('#telegram-link');
    await link.waitFor();
    const href = await link.getAttribute('href');
    assert.equal(href, answer.link);
    assert.match(href, new RegExp(`^https://t\\.me/${env.telegramBot}\\?start=[A-Za-z0-9_-]{43}$`));
    assert.match(await link.textContent(), /Open Telegram/);
    assert.match(await page.textContent('#telegram-state'), /Waiting for you to press Start/);
    const card = page.locator(`[data-trigger="${answer.id}"]`);
    await card.waitFor();
    assert.match(await card.locator('.channel').textContent(), /✈️ Telegram \(waiting/);
    await shot(page, '21-telegram-waiting');

    assert.equal(await telegramStart(href.split('?start=')[1]), 200);
    await page.waitForSelector('#telegram-state.connected', { timeout: 10_000 });
    assert.match(await page.textContent('#telegram-state'), /Connected/);
    assert.equal(await link.isVisible(), false);
    await until('the card to show the linked chat', async () =>
      (await card.locator('.channel').textContent()).trim() === `✈️ Telegram chat ${env.telegramChat}`);
    assert.equal(await card.locator('a:has-text("Open Telegram")').count(), 0, 'nothing left to tap');
    await shot(page, '22-telegram-connected');
  });

  test('Telegram: a link that expired unused is replaced from its card', async () => {
    const other = await person(browser);
    const { page } = other;
    await open(page);
    await fillNotify(page, { account: BOB, direction: 'in' });
    await page.check('input[name=deliver][value=telegram]');
    const { status, answer } = await created(page);
    assert.equal(status, 201, JSON.stringify(answer));
    // The hour a link lives is not waited out: the card is shown the trigger as it reads once
    // the hour has passed (the same record, its expiry moved into the past).
    const path = `/api/triggers/${answer.id}`;
    const thisTrigger = (url) => url.pathname === path;
    await page.route(thisTrigger, async (route) => {
      if (route.request().method() !== 'GET') return route.continue();
      const response = await route.fetch();
      const trigger = await response.json();
      trigger.action.telegram.link_expires_at = '2020-01-01T00:00:00Z';
      return route.fulfill({ response, json: trigger });
    });
    await page.reload();
    const card = page.locator(`[data-trigger="${answer.id}"]`);
    await card.locator('button:has-text("New Telegram link")').waitFor();
    assert.match(await card.textContent(), /expired unused: ask for a new one/);
    await page.unroute(thisTrigger);
    const [patch] = await Promise.all([
      page.waitForRequest((r) => r.method() === 'PATCH' && new URL(r.url()).pathname === path),
      card.locator('button:has-text("New Telegram link")').click(),
    ]);
    assert.deepEqual(JSON.parse(patch.postData()), { action: { telegram: {} } });
    // The card shows the trigger as the API now reads it: waiting, with the link to tap. (The
    // record's link is in fact still live, so the API kept it; one that has expired is replaced
    // by a new code, which the registry's unit test
    // `expired_codes_are_refused_and_cleaned_up_and_a_change_makes_a_new_one` covers.)
    const tap = card.locator('a:has-text("Open Telegram to connect")');
    await tap.waitFor();
    assert.match(await tap.getAttribute('href'), new RegExp(`^https://t\\.me/${env.telegramBot}\\?start=[A-Za-z0-9_-]{43}$`));
    assert.match(await card.locator('.status').textContent(), /A new link: open Telegram and press Start/);
    assert.equal(await card.locator('button:has-text("New Telegram link")').count(), 0);
    assert.deepEqual(other.problems, []);
    await other.context.close();
  });

  test('a message of their own: a mistake named at its field, then a preview of what they will read', async () => {
    const { page } = me;
    await fillNotify(page, { account: ALICE, direction: 'in' });
    await page.check('input[name=deliver][value=webhook]');
    await page.fill('#webhook', 'https://127.0.0.1:9/message');
    await page.click('#message-details summary');
    await page.fill('#message_title', '+{{ amout(fields.amount) }}');
    let { status, answer } = await created(page);
    assert.equal(status, 422);
    assert.equal(answer.error.field, 'message.title');
    assert.match(await page.textContent('#message_title-error'), /amout/);

    await page.fill('#message_title', '+{{ amount(fields.amount) }}');
    await page.fill('#message_body', '{{ short(fields.from) }} paid you in block {{ block }} on {{ chain }}');
    let sent;
    ({ sent, status, answer } = await created(page));
    assert.equal(status, 201, JSON.stringify(answer));
    assert.deepEqual(sent.message, {
      title: '+{{ amount(fields.amount) }}',
      body: '{{ short(fields.from) }} paid you in block {{ block }} on {{ chain }}',
    });
    await page.waitForSelector('#message-preview:not([hidden])');
    assert.match(await page.textContent('#preview-title'), /^\+.+ PAS$/);
    assert.match(await page.textContent('#preview-body'), /paid you in block \d+ on paseo/);
    const card = page.locator(`[data-trigger="${answer.id}"]`);
    await card.waitFor();
    assert.match(await card.locator('.message').textContent(), /Message: \+\{\{ amount\(fields\.amount\) \}\}/);
    await shot(page, '23-message-preview');
  });
});

describe('a wallet extension proves the address', () => {
  // Alice's ed25519 dev key (//Alice of the dev phrase): the fake extension signs with it here, in
  // Node, as a real extension signs raw bytes: wrapped in <Bytes>…</Bytes>.
  const ALICE_ED25519 = '5FA9nQDVg267DEd8m1ZypXLBnvN7SFxYwV7ndqSYGiN9TTpu';
  const seed = Buffer.from('abf8e5bdbe30c65656c0a3cbd181ff8a56294a69dfedd27982aace4a76909115', 'hex');
  const key = createPrivateKey({
    key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]),
    format: 'der',
    type: 'pkcs8',
  });

  /** Runs in the page before its scripts: an extension in the injectedWeb3 convention. */
  function fakeExtension(address) {
    window.injectedWeb3 = {
      'test-wallet': {
        version: '1.0.0',
        enable: async () => ({
          accounts: { get: async () => [{ address, type: 'ed25519', name: 'Alice' }] },
          signer: {
            signRaw: async (payload) => ({ id: 1, signature: await window.testWalletSign(payload) }),
          },
        }),
      },
    };
  }

  test('"Verify with your wallet" signs the challenge and the trigger is owner-verified', async () => {
    const plain = await person(browser);
    await open(plain.page);
    assert.equal(await plain.page.isHidden('#wallet-row'), true, 'no extension, no button');
    await plain.context.close();

    const me = await person(browser);
    const { page, context } = me;
    const asked = [];
    await context.exposeFunction('testWalletSign', ({ address, data, type }) => {
      asked.push({ address, type });
      const bytes = Buffer.from(data.slice(2), 'hex');
      const wrapped = type === 'bytes' ? Buffer.concat([Buffer.from('<Bytes>'), bytes, Buffer.from('</Bytes>')]) : bytes;
      return `0x${sign(null, wrapped, key).toString('hex')}`;
    });
    await context.addInitScript(fakeExtension, ALICE_ED25519);
    await open(page);
    await page.waitForSelector('#wallet-row:not([hidden])');
    await fillNotify(page, { account: ALICE_ED25519, direction: 'any' });
    await page.check('input[name=deliver][value=webhook]');
    await page.fill('#webhook', 'https://127.0.0.1:9/owner');
    await page.click('#wallet-verify');
    await page.waitForSelector('#notify-form .status[data-kind=success]');
    assert.match(await page.textContent('#wallet-hint'), /Verified: your wallet signed for 5FA9…TTpu/);
    assert.deepEqual(asked, [{ address: ALICE_ED25519, type: 'bytes' }]);
    await shot(page, '17-wallet-verified');

    await page.click('button:has-text("Notify me")');
    await page.waitForSelector('#notify-form .status:has-text("whsec_")');
    const [entry] = await remembered(page);
    const read = await api('GET', `/api/triggers/${entry.id}`, { token: entry.token });
    assert.equal(read.body.owner_verified, true, JSON.stringify(read.body));
    assert.doesNotMatch(await page.textContent('#wallet-hint'), /Verified/, 'the proof was used');
    assert.deepEqual(me.problems, []);
    await context.close();
  });
});

describe('keyboard only', () => {
  test('registration works without a mouse', async () => {
    const me = await person(browser);
    const { page } = me;
    await open(page);
    await prepareSubscription(page, env.subscription);
    const focused = () => page.evaluate(() => document.activeElement?.id || document.activeElement?.getAttribute('name') || document.activeElement?.tagName);
    const tabTo = async (id) => {
      for (let i = 0; i < 30; i += 1) {
        await page.keyboard.press('Tab');
        if ((await focused()) === id) return;
      }
      throw new Error(`Tab never reached #${id}`);
    };
    await tabTo('source');
    await tabTo('account');
    await page.keyboard.type(ALICE);
    await page.keyboard.press('Tab'); // the direction radios, on "receives"
    await page.keyboard.press('ArrowDown'); // "sends"
    await tabTo('min');
    await page.keyboard.type('2');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#notify-form .status[data-kind=success]');
    await shot(page, '10-keyboard');
    const [entry] = await remembered(page);
    const read = await api('GET', `/api/triggers/${entry.id}`, { token: entry.token });
    assert.deepEqual(
      { account: read.body.filter.balance.account, direction: read.body.filter.balance.direction, min: read.body.filter.balance.min },
      { account: ALICE, direction: 'out', min: '2' },
    );
    assert.deepEqual(me.problems, []);
    await me.context.close();
  });
});

describe('the operator', () => {
  test('registers a chain, sees its topics, edits its events and deletes it', async () => {
    const me = await person(browser);
    const { page } = me;
    await open(page);
    await page.fill('#admin-token', 'not-the-token');
    await page.click('button:has-text("Sign in")');
    await until('the token error', async () => (await page.textContent('#admin-token-error')).length > 0);
    assert.match(await page.textContent('#admin-token-error'), /not the operator token/);

    await page.fill('#admin-token', env.admin);
    await page.click('button:has-text("Sign in")');
    await page.waitForSelector('#operator-panel:not([hidden])');
    assert.equal(await page.evaluate(() => sessionStorage.getItem('aurras.admin-token')), env.admin);
    assert.equal(await page.evaluate(() => localStorage.getItem('aurras.admin-token')), null);

    // The API's error appears next to the field it names.
    await page.fill('#chain', 'Westend Test');
    await page.fill('#rpc', 'wss://westend-rpc.example.org');
    await page.click('button:has-text("Register")');
    await until('the chain error', async () => (await page.textContent('#chain-error')).length > 0);
    await shot(page, '11-operator-error');

    await page.fill('#chain', 'westend');
    await page.fill('#more-events', 'Staking.Rewarded');
    await page.fill('#symbol', 'WND');
    await page.fill('#decimals', '12');
    await page.click('button:has-text("Register")');
    await page.waitForSelector('#source-created table');
    const topics = await page.textContent('#source-created');
    assert.match(topics, /westend\.Balances\.Transfer/);
    assert.match(topics, /westend\.Staking\.Rewarded/);
    await shot(page, '12-operator-registered');

    const { body } = await api('GET', '/api/sources', { token: env.admin });
    const westend = body.sources.find((s) => s.chain === 'westend');
    assert.ok(westend, 'the source is stored');
    assert.deepEqual([...westend.events].sort(), ['Balances.Transfer', 'Staking.Rewarded']);
    assert.deepEqual(westend.rpc, ['wss://westend-rpc.example.org']);
    assert.deepEqual(westend.token, { symbol: 'WND', decimals: 12 });
    assert.equal(await page.locator(`#source option[value="${westend.id}"]`).count(), 1, 'people can pick it');

    const item = page.locator(`[data-source="${westend.id}"]`);
    await item.locator('textarea').fill('Balances.Transfer\nBalances.Deposit');
    await item.locator('button:has-text("Save events")').click();
    await page.locator(`[data-source="${westend.id}"] .status[data-kind=success]`).waitFor();
    const edited = await api('GET', `/api/sources/${westend.id}`, { token: env.admin });
    assert.deepEqual([...edited.body.events].sort(), ['Balances.Deposit', 'Balances.Transfer']);
    await shot(page, '13-operator-edited');

    page.once('dialog', (dialog) => dialog.accept());
    await page.locator(`[data-source="${westend.id}"] button:has-text("Delete westend")`).click();
    await page.locator(`[data-source="${westend.id}"]`).waitFor({ state: 'detached' });
    assert.equal((await api('GET', `/api/sources/${westend.id}`)).status, 404);
    assert.deepEqual(me.problems, []);
    await me.context.close();
  });
});

describe('the operator, with a known chain', () => {
  test('registers Westend Asset Hub by name, under its own chain name, with nothing to upload', async () => {
    const me = await signedInOperator();
    const { page } = me;

    await page.check('input[name=connection][value=known]');
    assert.equal(await page.isVisible('#rpc'), false);
    assert.equal(await page.isVisible('#chain-spec'), false);
    await page.selectOption('#known-chain', 'westend_asset_hub');
    await page.click('button:has-text("Register")');
    await page.waitForSelector('#source-created table');
    assert.match(await page.textContent('#source-created'), /westend-asset-hub\.Balances\.Transfer/);
    await page.locator('.source:has-text("known chain westend_asset_hub")').waitFor();
    await shot(page, '16-operator-known-chain');

    const { body } = await api('GET', '/api/sources', { token: env.admin });
    const known = body.sources.find((s) => s.chain === 'westend-asset-hub');
    assert.ok(known, 'the source is stored');
    assert.equal(known.known_chain, 'westend_asset_hub');
    assert.deepEqual(known.token, { symbol: 'WND', decimals: 12 }, 'the token comes with the chain');
    const relay = await api('GET', `/api/sources/${known.id}/relay-chain-spec`, { token: env.admin });
    assert.equal(relay.body.id, 'westend2');
    await api('DELETE', `/api/sources/${known.id}`, { token: env.admin });
    assert.deepEqual(me.problems, []);
    await me.context.close();
  });
});

describe('the operator, with a chain spec', () => {
  test('registers a light-client chain from an uploaded spec; a file that is not JSON is refused at its field', async () => {
    const me = await signedInOperator();
    const { page } = me;

    await page.fill('#chain', 'paseo-light');
    await page.check('input[name=connection][value=spec]');
    assert.equal(await page.isVisible('#rpc'), false);
    await page.setInputFiles('#chain-spec', { name: 'broken.json', mimeType: 'application/json', buffer: Buffer.from('{"name": ') });
    await page.click('button:has-text("Register")');
    await until('the file error', async () => (await page.textContent('#chain-spec-error')).length > 0);
    assert.match(await page.textContent('#chain-spec-error'), /broken\.json is not JSON/);

    await page.setInputFiles('#chain-spec', env.paseoSpec);
    await page.fill('#symbol', 'PAS');
    await page.fill('#decimals', '10');
    await page.click('button:has-text("Register")');
    await page.waitForSelector('#source-created table');
    assert.match(await page.textContent('#source-created'), /paseo-light\.Balances\.Transfer/);
    await shot(page, '14-operator-chain-spec');

    const { body } = await api('GET', '/api/sources', { token: env.admin });
    const light = body.sources.find((s) => s.chain === 'paseo-light');
    assert.ok(light, 'the source is stored');
    assert.equal(light.light_client, true);
    assert.equal(light.ss58_prefix, 42, 'the prefix comes from the spec');
    const spec = await api('GET', `/api/sources/${light.id}/chain-spec`, { token: env.admin });
    assert.equal(spec.status, 200);
    assert.equal(spec.body.id, 'paseo');
    await api('DELETE', `/api/sources/${light.id}`, { token: env.admin });
    assert.deepEqual(me.problems, []);
    await me.context.close();
  });
});
