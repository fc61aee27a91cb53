// Where a notification goes: the channels "Notify me" offers, what each needs from a person, the
// action the API takes for it, and how "My notifications" names it. Pure functions, tested under
// Node (test/channels.test.mjs).

/**
 * Every channel the page knows, in the order it offers them. `key` is the action's key in the API
 * (docs/openapi.json, ActionSpec); `fields` are the inputs the page shows for it.
 */
export const CHANNELS = [
  {
    key: 'web_push',
    label: 'This browser',
    icon: '🔔',
    help: 'Your browser asks for permission; notifications show even when this tab is closed.',
    fields: [],
  },
  {
    key: 'ntfy',
    label: 'My phone (ntfy)',
    icon: '📱',
    help: 'Install the ntfy app, subscribe to this topic, then press “Notify me”. Anyone who knows the topic can read it: keep the hard-to-guess one.',
    fields: ['topic'],
  },
  {
    key: 'telegram',
    label: 'Telegram',
    icon: '✈️',
    help: 'After saving, tap “Open Telegram” and press Start: the bot links your chat.',
    fields: [],
  },
  {
    key: 'matrix',
    label: 'Matrix',
    icon: '💬',
    help: 'Invite the bot to your room first, then give the room’s id (!…:server) or alias (#…:server) from its settings.',
    fields: ['room'],
  },
  {
    key: 'discord',
    label: 'Discord',
    icon: '🎮',
    help: 'Channel settings → Integrations → Webhooks → New Webhook → Copy Webhook URL.',
    fields: ['url'],
  },
  {
    key: 'slack',
    label: 'Slack',
    icon: '💼',
    help: 'Create an app with an Incoming Webhook for your channel (Slack: Apps → Incoming Webhooks) and paste its URL.',
    fields: ['url'],
  },
  {
    key: 'email',
    label: 'Email',
    icon: '✉️',
    help: 'We mail you a confirmation link first; nothing else is sent until you open it. Every mail has an unsubscribe link.',
    fields: ['address'],
  },
  {
    key: 'webhook',
    label: 'A webhook',
    icon: '🔗',
    help: 'An https:// URL that accepts POST requests; deliveries are signed with a secret shown once.',
    fields: ['url'],
  },
];

/** What a server without `GET /api/channels` has: Web Push and webhooks. */
export const FALLBACK = { channels: ['web_push', 'webhook'], ntfy_server: null, telegram_deep_link: false };

/** The channels to offer, in the page's order: those the server enabled (and Web Push only where the browser can). */
export function offered(enabled, pushSupported = true) {
  const on = new Set(enabled?.channels ?? FALLBACK.channels);
  return CHANNELS.filter((c) => on.has(c.key) && (c.key !== 'web_push' || pushSupported));
}

/** A hard-to-guess ntfy topic from random bytes: `aurras-` and 24 characters of base32 (120 bits). */
export function newTopic(bytes) {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= (1 << bits) - 1;
  }
  return `aurras-${out.slice(0, 24)}`;
}

const TOPIC = /^[A-Za-z0-9_-]{1,64}$/;
const ROOM = /^[!#][^:\s]+:[^\s]+$/;
const HTTPS = /^https:\/\/\S+$/;

/**
 * The action for `key` from what the person typed (`values`: `{topic, room, url, chat_id}`), or
 * `{field, message}` naming the input to fix, as the API would.
 */
export function actionFor(key, values = {}, { deepLink = true } = {}) {
  const text = (name) => String(values[name] ?? '').trim();
  const url = (hint) => {
    const value = text('url');
    if (!HTTPS.test(value)) return { field: `action.${key}.url`, message: hint };
    return { action: { [key]: { url: value } } };
  };
  switch (key) {
    case 'ntfy': {
      const topic = text('topic');
      if (!TOPIC.test(topic)) {
        return { field: 'action.ntfy.topic', message: 'A topic is 1 to 64 letters, digits, “-” or “_”.' };
      }
      return { action: { ntfy: { topic } } };
    }
    case 'telegram': {
      const chat = text('chat_id');
      if (deepLink && chat === '') return { action: { telegram: {} } };
      if (/^-?\d+$/.test(chat)) return { action: { telegram: { chat_id: Number(chat) } } };
      if (/^@[A-Za-z0-9_]{5,32}$/.test(chat)) return { action: { telegram: { chat_id: chat } } };
      return {
        field: 'action.telegram.chat_id',
        message: 'Give the group’s or channel’s numeric id (-100…) or its @channelusername; the bot must be in it.',
      };
    }
    case 'matrix': {
      const room = text('room');
      if (!ROOM.test(room)) {
        return { field: 'action.matrix.room', message: 'Give the room’s id (!abc:example.org) or alias (#name:example.org).' };
      }
      return { action: { matrix: { room } } };
    }
    case 'email': {
      const address = text('address');
      if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(address)) {
        return { field: 'action.email.address', message: 'Give an email address such as you@example.org.' };
      }
      return { action: { email: { address } } };
    }
    case 'discord':
      return url('Paste the Discord webhook URL (https://discord.com/api/webhooks/…).');
    case 'slack':
      return url('Paste the Slack webhook URL (https://hooks.slack.com/services/…).');
    case 'webhook':
      return url('Give an https:// URL that accepts POST requests.');
    default:
      return { field: 'action', message: `Unknown channel ${key}.` };
  }
}

/** The optional message templates: `{title, body}` with what was written, or null when both are empty. */
export function messageSpec(title, body) {
  const t = String(title ?? '').trim();
  const b = String(body ?? '').trim();
  if (!t && !b) return null;
  const spec = {};
  if (t) spec.title = t;
  if (b) spec.body = b;
  return spec;
}

/** The channel key of a trigger's action. */
export function channelOf(trigger) {
  const action = trigger?.action ?? {};
  return CHANNELS.find((c) => action[c.key] !== undefined)?.key ?? Object.keys(action)[0] ?? 'web_push';
}

/** Where a trigger delivers, in words with the channel's icon: `📱 ntfy topic aurras-…`. */
export function destination(trigger) {
  const key = channelOf(trigger);
  const channel = CHANNELS.find((c) => c.key === key);
  const action = trigger?.action?.[key] ?? {};
  const icon = channel ? `${channel.icon} ` : '';
  switch (key) {
    case 'web_push':
      return `${icon}This browser`;
    case 'ntfy':
      return `${icon}ntfy topic ${action.topic}${action.server ? ` on ${action.server}` : ''}`;
    case 'telegram': {
      if (action.chat_id !== undefined && action.chat_id !== null) return `${icon}Telegram chat ${action.chat_id}`;
      return `${icon}Telegram${action.linked ? '' : ' (waiting for you to press Start)'}`;
    }
    case 'matrix':
      return `${icon}Matrix room ${action.room}`;
    case 'discord':
      return `${icon}Discord webhook ${action.url}`;
    case 'slack':
      return `${icon}Slack webhook ${action.url}`;
    case 'email':
      return `${icon}Email to ${action.address}${action.confirmed === false ? ' (waiting for you to open the confirmation link)' : ''}`;
    case 'webhook':
      return `${icon}Webhook to ${action.url}`;
    default:
      return `${icon}${key}`;
  }
}

/**
 * A Telegram deep-link trigger's state: `linked`, `waiting` (with the link to tap) or `expired`
 * (the link went unused; PATCH `{"action": {"telegram": {}}}` makes a new one); null for others.
 */
export function telegramState(trigger, now = Date.now()) {
  const t = trigger?.action?.telegram;
  if (!t) return null;
  if (t.linked || (t.chat_id !== undefined && t.chat_id !== null)) return { state: 'linked' };
  const expires = t.link_expires_at ? Date.parse(t.link_expires_at) : NaN;
  if (!t.link || (!Number.isNaN(expires) && expires <= now)) return { state: 'expired' };
  return { state: 'waiting', link: t.link };
}

/** A message the person will read (a test fire's `message`), as one line for the page. */
export function preview(message) {
  if (!message) return '';
  return [message.title, message.body].filter((s) => s && String(s).trim()).join(' — ');
}
