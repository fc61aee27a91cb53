// The service worker: shows each push as a notification (also while the page has focus: the
// browser shows service-worker notifications whatever the focus) and opens the block in the
// explorer on click.
/* global self, clients */

const ICON = '/icon-192.png';

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

function parse(data) {
  if (!data) return { title: 'Aurras', body: '' };
  try {
    const note = data.json();
    if (note && typeof note.title === 'string') return note;
  } catch {
    // Not JSON: show the text as it came.
  }
  return { title: 'Aurras', body: data.text() };
}

self.addEventListener('push', (event) => {
  const note = parse(event.data);
  const shown = self.registration.showNotification(note.title, {
    body: note.body ?? '',
    icon: ICON,
    badge: ICON,
    tag: note.tag,
    timestamp: Date.now(),
    data: { url: note.url ?? null, ...(note.data ?? {}) },
  });
  const told = self.clients
    .matchAll({ type: 'window', includeUncontrolled: true })
    .then((windows) => windows.forEach((w) => w.postMessage({ type: 'aurras.notification', note })));
  event.waitUntil(Promise.all([shown, told]));
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const url = event.notification.data?.url || '/';
  event.waitUntil(
    self.clients.matchAll({ type: 'window', includeUncontrolled: true }).then((windows) => {
      const open = windows.find((w) => w.url === new URL(url, self.location.origin).href);
      return open ? open.focus() : self.clients.openWindow(url);
    }),
  );
});
