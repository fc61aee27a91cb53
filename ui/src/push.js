// This browser's push subscription: permission, the service worker, and `pushManager.subscribe`
// with the app's VAPID key (GET /api/push/public-key).
import { base64urlnopad } from '@scure/base';
import { api } from './api.js';

export class PushUnavailable extends Error {}

export function supported() {
  return 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;
}

export async function registration() {
  if (!('serviceWorker' in navigator)) throw new PushUnavailable('This browser has no service workers.');
  await navigator.serviceWorker.register('/sw.js', { scope: '/' });
  return navigator.serviceWorker.ready;
}

function sameKey(subscription, key) {
  const current = subscription.options?.applicationServerKey;
  if (!current) return false;
  const a = new Uint8Array(current);
  return a.length === key.length && a.every((byte, i) => byte === key[i]);
}

/**
 * Asks for permission and answers this browser's subscription (`PushSubscription.toJSON()`),
 * reusing the current one when it was made with the app's key.
 */
export async function subscribe() {
  if (!supported()) {
    throw new PushUnavailable('This browser cannot receive push notifications. Give a webhook URL instead.');
  }
  const permission = await Notification.requestPermission();
  if (permission !== 'granted') {
    throw new PushUnavailable(
      permission === 'denied'
        ? 'Notifications are blocked for this site. Allow them in the browser’s site settings, then try again.'
        : 'Notifications were not allowed. Press “Notify me” again and choose Allow.',
    );
  }
  const { publicKey } = await api.publicKey();
  const key = base64urlnopad.decode(publicKey);
  const reg = await registration();
  const current = await reg.pushManager.getSubscription();
  if (current && sameKey(current, key)) return current.toJSON();
  if (current) await current.unsubscribe();
  const subscription = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
  return subscription.toJSON();
}

/** Drops a fresh subscription (after the old one expired) and answers the new one. */
export async function renew() {
  const reg = await registration();
  const current = await reg.pushManager.getSubscription();
  if (current) await current.unsubscribe();
  return subscribe();
}

/** Unsubscribes this browser when its subscription is `endpoint`. */
export async function unsubscribe(endpoint) {
  if (!supported()) return;
  const reg = await navigator.serviceWorker.getRegistration('/');
  const current = await reg?.pushManager.getSubscription();
  if (current && current.endpoint === endpoint) await current.unsubscribe();
}
