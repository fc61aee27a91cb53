// The management API (docs/openapi.json), from the page. Every failure becomes an ApiError carrying
// the API's `error.field`, so the page can show the message next to that field.

export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

/** Calls `method path` with an optional bearer token and JSON body; answers the JSON body. */
export async function call(method, path, { token, body } = {}) {
  const headers = { accept: 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
    });
  } catch (e) {
    throw new ApiError(0, 'network', `Aurras could not be reached (${e.message}). Try again.`);
  }
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    // A proxy's HTML error page: reported below with the status.
  }
  if (!response.ok) {
    const error = json?.error ?? {};
    throw new ApiError(
      response.status,
      error.code ?? 'http',
      error.message ?? `Aurras answered ${response.status} ${response.statusText}.`,
      error.field,
    );
  }
  return json;
}

export const api = {
  sources: async (token) => (await call('GET', '/api/sources', { token })).sources,
  createSource: (token, body) => call('POST', '/api/sources', { token, body }),
  patchSource: (token, id, body) => call('PATCH', `/api/sources/${encodeURIComponent(id)}`, { token, body }),
  deleteSource: (token, id) => call('DELETE', `/api/sources/${encodeURIComponent(id)}`, { token }),
  publicKey: () => call('GET', '/api/push/public-key'),
  channels: () => call('GET', '/api/channels'),
  recipes: () => call('GET', '/api/recipes'),
  challenge: (account) => call('POST', `/api/accounts/${encodeURIComponent(account)}/challenge`),
  createTrigger: (body) => call('POST', '/api/triggers', { body }),
  trigger: (id, token) => call('GET', `/api/triggers/${encodeURIComponent(id)}`, { token }),
  patchTrigger: (id, token, body) => call('PATCH', `/api/triggers/${encodeURIComponent(id)}`, { token, body }),
  deleteTrigger: (id, token) => call('DELETE', `/api/triggers/${encodeURIComponent(id)}`, { token }),
  testTrigger: (id, token) => call('POST', `/api/triggers/${encodeURIComponent(id)}/test`, { token }),
  resend: (id, token, eventId) =>
    call('POST', `/api/triggers/${encodeURIComponent(id)}/deliveries/${encodeURIComponent(eventId)}/resend`, { token }),
};
