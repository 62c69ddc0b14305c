// The service's API as the board uses it: JSON requests with the bearer token, problem+json
// errors, and the live stream read with fetch() (EventSource cannot send Authorization).

/** An answer that was not 2xx: `detail` of its problem+json body is what users read. */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `the service answered ${status}`);
    this.status = status;
    this.code = problem.code || '';
  }
}

/** A client of this service for one bearer token. */
export class Api {
  constructor(token) {
    this.token = token;
  }

  /** `method path` with an optional JSON body; resolves to `{status, body}` for a 2xx. */
  async request(method, path, body) {
    const headers = { authorization: `Bearer ${this.token}`, accept: 'application/json' };
    const init = { method, headers, cache: 'no-store' };
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const res = await fetch(path, init);
    const text = await res.text();
    let parsed = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      parsed = { detail: text };
    }
    if (!res.ok) throw new ApiError(res.status, parsed || {});
    return { status: res.status, body: parsed };
  }

  async get(path) {
    return (await this.request('GET', path)).body;
  }

  /**
   * Follows the Server-Sent Events of `path` until `signal` aborts: `onEvent({event, id,
   * data})` for each event, `onState('live' | 'reconnecting', error?)` as the connection
   * comes and goes. After a drop it reconnects with `Last-Event-ID`, so no change is missed;
   * `onState('live', null, fresh)` says whether the server starts from now (`fresh`: reload
   * the lists). A 401 or 403 ends it (`onState('stopped', error)`).
   */
  async follow(path, { onEvent, onState, signal }) {
    let lastId = null;
    let delay = 500;
    while (!signal.aborted) {
      try {
        const headers = { authorization: `Bearer ${this.token}`, accept: 'text/event-stream' };
        if (lastId !== null) headers['last-event-id'] = lastId;
        const res = await fetch(path, { headers, signal, cache: 'no-store' });
        if (!res.ok) {
          const problem = await res.json().catch(() => ({}));
          throw new ApiError(res.status, problem);
        }
        onState('live', null, lastId === null);
        delay = 500;
        await readEvents(res.body, signal, (ev) => {
          if (ev.id !== null) lastId = ev.id;
          onEvent(ev);
        });
        if (!signal.aborted) onState('reconnecting', null);
      } catch (e) {
        if (signal.aborted) return;
        if (e instanceof ApiError && (e.status === 401 || e.status === 403)) {
          onState('stopped', e);
          return;
        }
        onState('reconnecting', e);
      }
      await sleep(delay, signal);
      delay = Math.min(delay * 2, 10000);
    }
  }
}

/** The lines of an event stream, as the HTML standard parses them, as events. */
async function readEvents(body, signal, dispatch) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  signal.addEventListener('abort', () => reader.cancel().catch(() => {}), { once: true });
  let buffer = '';
  let event = { event: '', id: null, data: [] };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    let text = buffer + value;
    // A `\r` at the end may be the first half of `\r\n`: keep it for the next chunk.
    const held = text.endsWith('\r') ? '\r' : '';
    if (held) text = text.slice(0, -1);
    const lines = text.split(/\r\n|\r|\n/);
    buffer = lines.pop() + held;
    for (const line of lines) {
      if (line === '') {
        if (event.data.length > 0 || event.event) {
          dispatch({ event: event.event || 'message', id: event.id, data: event.data.join('\n') });
        }
        event = { event: '', id: null, data: [] };
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'event') event.event = value;
      else if (field === 'data') event.data.push(value);
      else if (field === 'id' && !value.includes('\0')) event.id = value;
    }
  }
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}

/**
 * The claims of a JWT, for display only (the server checks the token; this does not).
 * `null` when it is not a JWT.
 */
export function claims(token) {
  const part = token.split('.')[1];
  if (!part) return null;
  try {
    const b64 = part.replace(/-/g, '+').replace(/_/g, '/');
    const bytes = Uint8Array.from(atob(b64.padEnd(Math.ceil(b64.length / 4) * 4, '=')), (c) =>
      c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return null;
  }
}

/** `path?k=v...` without the empty values. */
export function withQuery(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, v);
  }
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}
