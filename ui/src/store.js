// What the browser keeps. The triggers it created, with their management tokens, live in
// localStorage (they are this browser's keys to its own triggers; nothing else can list them).
// The operator's admin token lives in sessionStorage only: it is gone when the tab closes.

const TRIGGERS = 'aurras.triggers.v1';
const ADMIN = 'aurras.admin-token';

/** `[{ id, token, chain, source, endpoint, created }]`, newest first. */
export function triggers() {
  try {
    const list = JSON.parse(localStorage.getItem(TRIGGERS) ?? '[]');
    return Array.isArray(list) ? list.filter((t) => t && typeof t.id === 'string' && typeof t.token === 'string') : [];
  } catch {
    return [];
  }
}

function save(list) {
  localStorage.setItem(TRIGGERS, JSON.stringify(list));
}

export function remember(entry) {
  save([entry, ...triggers().filter((t) => t.id !== entry.id)]);
}

export function forget(id) {
  save(triggers().filter((t) => t.id !== id));
}

export function update(id, fields) {
  save(triggers().map((t) => (t.id === id ? { ...t, ...fields } : t)));
}

/** Whether another remembered trigger still delivers to `endpoint`. */
export function endpointInUse(endpoint, except) {
  return triggers().some((t) => t.id !== except && t.endpoint === endpoint);
}

export const admin = {
  get: () => sessionStorage.getItem(ADMIN),
  set: (token) => sessionStorage.setItem(ADMIN, token),
  clear: () => sessionStorage.removeItem(ADMIN),
};
