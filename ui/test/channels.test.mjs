import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CHANNELS, actionFor, channelOf, destination, messageSpec, newTopic, offered, preview, telegramState,
} from '../src/channels.js';

test('only the channels the server enabled are offered, in the page order', () => {
  const keys = (list) => list.map((c) => c.key);
  assert.deepEqual(keys(offered({ channels: ['webhook', 'ntfy', 'web_push', 'discord'] })), ['web_push', 'ntfy', 'discord', 'webhook']);
  assert.deepEqual(keys(offered({ channels: ['web_push', 'webhook', 'telegram'] }, false)), ['telegram', 'webhook'], 'no push where the browser cannot');
  assert.deepEqual(keys(offered(null)), ['web_push', 'webhook'], 'an older server: push and webhooks');
  assert.deepEqual(keys(offered({ channels: ['webhook', 'email', 'ntfy'] })), ['ntfy', 'email', 'webhook']);
  assert.deepEqual(keys(offered({ channels: ['sms', 'ntfy'] })), ['ntfy'], 'a channel the page does not know is not offered');
  for (const c of CHANNELS) assert.ok(c.help.length > 10 && c.label && c.icon, c.key);
});

test('ntfy topics are hard to guess and ntfy takes them', () => {
  const topic = newTopic(new Uint8Array(15).fill(255));
  assert.equal(topic, `aurras-${'7'.repeat(24)}`);
  const zeros = newTopic(new Uint8Array(15));
  assert.equal(zeros, `aurras-${'a'.repeat(24)}`);
  assert.match(newTopic(Uint8Array.from([0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 1, 2, 3, 4, 5, 6, 7])), /^aurras-[a-z2-7]{24}$/);
  assert.notEqual(newTopic(Uint8Array.from([1, ...new Uint8Array(14)])), zeros);
});

test('each channel takes the fewest fields and answers the action the API takes', () => {
  assert.deepEqual(actionFor('ntfy', { topic: ' aurras-abc ' }), { action: { ntfy: { topic: 'aurras-abc' } } });
  assert.equal(actionFor('ntfy', { topic: 'has space' }).field, 'action.ntfy.topic');
  assert.equal(actionFor('ntfy', { topic: 'x'.repeat(65) }).field, 'action.ntfy.topic');
  assert.deepEqual(actionFor('telegram', {}), { action: { telegram: {} } });
  assert.deepEqual(actionFor('telegram', { chat_id: '-1001234567890' }), { action: { telegram: { chat_id: -1001234567890 } } });
  assert.deepEqual(actionFor('telegram', { chat_id: '@aurras_news' }), { action: { telegram: { chat_id: '@aurras_news' } } });
  assert.equal(actionFor('telegram', {}, { deepLink: false }).field, 'action.telegram.chat_id', 'no deep links: a chat id is needed');
  assert.deepEqual(actionFor('matrix', { room: '#pay:example.org' }), { action: { matrix: { room: '#pay:example.org' } } });
  assert.equal(actionFor('matrix', { room: 'pay' }).field, 'action.matrix.room');
  assert.deepEqual(actionFor('email', { address: ' me@example.org ' }), { action: { email: { address: 'me@example.org' } } });
  assert.equal(actionFor('email', { address: 'me@' }).field, 'action.email.address');
  const hook = 'https://discord.com/api/webhooks/1/abc';
  assert.deepEqual(actionFor('discord', { url: hook }), { action: { discord: { url: hook } } });
  assert.equal(actionFor('discord', { url: 'http://discord.com/x' }).field, 'action.discord.url');
  assert.equal(actionFor('slack', { url: '' }).field, 'action.slack.url');
  assert.deepEqual(actionFor('webhook', { url: 'https://h.example/x' }), { action: { webhook: { url: 'https://h.example/x' } } });
  assert.match(actionFor('webhook', { url: 'ftp://x' }).message, /https:\/\//);
});

test('the message section sends only what was written', () => {
  assert.equal(messageSpec('', '  '), null);
  assert.deepEqual(messageSpec(' +{{ amount(fields.amount) }} ', ''), { title: '+{{ amount(fields.amount) }}' });
  assert.deepEqual(messageSpec('T', 'B'), { title: 'T', body: 'B' });
  assert.equal(preview({ title: '+12.5 PAS', body: 'From 5Grw…utQY', link: 'https://x' }), '+12.5 PAS — From 5Grw…utQY');
  assert.equal(preview(null), '');
});

test('"My notifications" names each channel', () => {
  assert.equal(channelOf({ action: { ntfy: { topic: 't' } } }), 'ntfy');
  assert.equal(channelOf({ action: { web_push: { endpoint: 'https://p' } } }), 'web_push');
  assert.equal(destination({ action: { web_push: {} } }), '🔔 This browser');
  assert.equal(destination({ action: { ntfy: { topic: 'aurras-x', server: 'https://ntfy.sh' } } }), '📱 ntfy topic aurras-x on https://ntfy.sh');
  assert.equal(destination({ action: { telegram: { linked: false, link: 'https://t.me/b?start=c' } } }), '✈️ Telegram (waiting for you to press Start)');
  assert.equal(destination({ action: { telegram: { linked: true } } }), '✈️ Telegram');
  assert.equal(destination({ action: { telegram: { chat_id: -100 } } }), '✈️ Telegram chat -100');
  assert.equal(destination({ action: { matrix: { room: '#a:b' } } }), '💬 Matrix room #a:b');
  assert.equal(destination({ action: { discord: { url: 'https://discord.com/api/webhooks/1/abcd…' } } }), '🎮 Discord webhook https://discord.com/api/webhooks/1/abcd…');
  assert.equal(destination({ action: { webhook: { url: 'https://h/x' } } }), '🔗 Webhook to https://h/x');
  assert.equal(destination({ action: { email: { address: 'm…@example.org', confirmed: false } } }), '✉️ Email to m…@example.org (waiting for you to open the confirmation link)');
  assert.equal(destination({ action: { email: { address: 'm…@example.org', confirmed: true } } }), '✉️ Email to m…@example.org');
});

test('a Telegram deep link: waiting, then linked; an unused link expires', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  const waiting = { action: { telegram: { linked: false, link: 'https://t.me/b?start=c', link_expires_at: '2026-01-01T01:00:00Z' } } };
  assert.deepEqual(telegramState(waiting, now), { state: 'waiting', link: 'https://t.me/b?start=c' });
  assert.deepEqual(telegramState(waiting, now + 3_600_000), { state: 'expired' });
  assert.deepEqual(telegramState({ action: { telegram: { linked: true } } }, now), { state: 'linked' });
  assert.deepEqual(telegramState({ action: { telegram: { chat_id: 5 } } }, now), { state: 'linked' });
  assert.equal(telegramState({ action: { ntfy: { topic: 't' } } }, now), null);
});
