// The board: sign-in, the barista's queue and shop, the customer's order. The server decides
// who may do what; the page only shows what the answers say.

import { Api, ApiError, claims, withQuery } from './api.js';

const $ = (id) => document.getElementById(id);
const TOKEN_KEY = 'board.token';
const EVENT_KEY = 'board.event';
const OPEN = ['created', 'submitted', 'queued', 'preparing'];
const LABELS = {
  created: 'choosing a drink',
  submitted: 'sent to the barista',
  queued: 'in the queue',
  preparing: 'being made',
  completed: 'ready',
  cancelled: 'cancelled',
};
const REFUSALS = {
  shop_closed: 'The shop is closed right now.',
  shop_at_capacity: 'The queue is full right now: try again in a few minutes.',
  order_limit_reached: 'You already have an order open: wait for it, or cancel it first.',
};
const RECENT = 10;
const STATS_EVERY_MS = 30000;

/** Everything the page knows while signed in. */
let current = null;

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, props);
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

function say(text) {
  $('status').textContent = text;
}

function clearError() {
  $('error').hidden = true;
  $('error').textContent = '';
}

/** Shows what went wrong; a refused token signs out. */
function fail(e) {
  if (e instanceof ApiError && e.status === 401) {
    signOut();
    showError(`The service refused the token: ${e.message}`);
    return;
  }
  showError(e instanceof ApiError ? e.message : `The service cannot be reached (${e.message}).`);
}

function showError(text) {
  $('error').textContent = text;
  $('error').hidden = false;
}

// --- sign-in -------------------------------------------------------------------------------

function signOut() {
  if (current) {
    current.abort.abort();
    clearInterval(current.statsTimer);
  }
  current = null;
  sessionStorage.removeItem(TOKEN_KEY);
  clearError();
  for (const id of ['barista', 'customer', 'who', 'live', 'sign-out']) $(id).hidden = true;
  for (const id of ['queue', 'recent', 'mine', 'stats-list']) $(id).replaceChildren();
  $('token').value = '';
  $('sign-in').hidden = false;
  say('Signed out.');
}

async function signIn(token, event) {
  clearError();
  const api = new Api(token);
  const s = { api, event, role: null, orders: new Map(), abort: new AbortController() };
  // Only baristas may read the queue: the answer tells the two apart.
  let queue = null;
  try {
    queue = await api.get(queuePath(event));
    s.role = 'barista';
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 403)) {
      showError(e instanceof ApiError ? `Cannot sign in: ${e.message}` : `Cannot sign in: ${e}`);
      return;
    }
    s.role = 'customer';
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  sessionStorage.setItem(EVENT_KEY, event);
  current = s;
  const c = claims(token) || {};
  $('who').textContent = `${c.sub || 'Signed in'} · ${s.role}${event ? ` · event ${event}` : ''}`;
  for (const id of ['who', 'sign-out']) $(id).hidden = false;
  $('sign-in').hidden = true;
  $(s.role).hidden = false;
  say(`Signed in as a ${s.role}.`);
  if (s.role === 'barista') {
    keep(s, queue.orders);
    await Promise.all([loadRecent(s), loadShop(s), loadStats(s)]);
    s.statsTimer = setInterval(() => loadStats(s), STATS_EVERY_MS);
  } else {
    await Promise.all([loadMine(s), loadMenu(s)]);
  }
  render();
  follow(s);
}

// --- orders, kept live ----------------------------------------------------------------------

const queuePath = (event) =>
  withQuery('/v1/orders', { state: 'queued,preparing', event_id: event, limit: 100 });

/** Keeps the newest picture of each order (a resumed stream may repeat a change). */
function keep(s, orders) {
  for (const o of orders) {
    const known = s.orders.get(o.order_id);
    if (!known || known.updated_at <= o.updated_at) s.orders.set(o.order_id, o);
  }
}

async function reload(s) {
  s.orders.clear();
  try {
    if (s.role === 'barista') {
      keep(s, (await s.api.get(queuePath(s.event))).orders);
      await loadRecent(s);
    } else {
      await loadMine(s);
    }
  } catch (e) {
    fail(e);
  }
  render();
}

async function loadRecent(s) {
  const path = withQuery('/v1/orders', {
    state: 'completed,cancelled',
    event_id: s.event,
    limit: RECENT,
  });
  keep(s, (await s.api.get(path)).orders);
}

async function loadMine(s) {
  keep(s, (await s.api.get('/v1/me/orders?limit=20')).orders);
}

function follow(s) {
  const path = withQuery('/v1/orders/stream', { event_id: s.event });
  s.api.follow(path, {
    signal: s.abort.signal,
    onState(state, error, fresh) {
      if (current !== s) return;
      $('live').hidden = false;
      $('live').textContent = state === 'live' ? '● live' : '○ reconnecting…';
      $('live').className = state;
      // A new stream starts from now: what changed before it is in the lists.
      if (state === 'live' && fresh) reload(s);
      if (state === 'stopped') fail(error);
    },
    onEvent(ev) {
      if (current !== s) return;
      if (ev.event === 'reset') {
        reload(s);
      } else if (ev.event === 'order') {
        const o = JSON.parse(ev.data);
        const before = s.orders.get(o.order_id);
        keep(s, [o]);
        if (!before || before.state !== o.state) announce(s, o);
        render();
        if (o.state === 'completed' && s.role === 'barista') loadStats(s);
      } else if (ev.event === 'shop') {
        showShop(JSON.parse(ev.data));
      }
    },
  });
}

function announce(s, o) {
  const n = o.order_number ? `#${o.order_number}` : 'Your order';
  if (s.role === 'customer') {
    say(o.state === 'completed' ? `${n} is ready: collect it at the counter.` :
      `${n} is ${LABELS[o.state] || o.state}.`);
  } else if (o.state === 'queued') {
    say(`${n}: ${drinkText(o)} is in the queue.`);
  }
}

function drinkText(o) {
  if (!o.drink || !o.drink.name) return 'no drink yet';
  const mods = o.drink.modifiers || [];
  return mods.length ? `${o.drink.name} (${mods.join(', ')})` : o.drink.name;
}

async function act(o, verb, button) {
  clearError();
  button.disabled = true;
  try {
    const { body } = await current.api.request('POST', `/v1/orders/${encodeURIComponent(o.order_id)}/${verb}`);
    keep(current, [body]);
    render();
  } catch (e) {
    fail(e);
    button.disabled = false;
  }
}

/** One order as a list item, with the buttons its state allows. */
function item(o, verbs) {
  const buttons = verbs.map(([verb, text]) => {
    const b = el('button', { type: 'button', textContent: text });
    b.dataset.action = verb;
    b.setAttribute('aria-label', `${text} ${o.order_number ? `#${o.order_number}` : 'this order'}`);
    b.addEventListener('click', () => act(o, verb, b));
    return b;
  });
  let state = LABELS[o.state] || o.state;
  if (o.state === 'preparing' && o.barista_user_id) state += ` by ${o.barista_user_id}`;
  if (o.state === 'cancelled' && o.cancel_reason) state += ` (${o.cancel_reason.replace(/_/g, ' ')})`;
  const li = el('li', {},
    el('span', { className: 'number', textContent: o.order_number ? `#${o.order_number}` : '' }),
    el('span', { className: 'drink', textContent: drinkText(o) }),
    el('span', { className: `state ${o.state}`, textContent: state }),
    current.role === 'barista' ? el('span', { className: 'who', textContent: o.user_id }) : null,
    el('span', { className: 'actions' }, ...buttons));
  li.dataset.orderId = o.order_id;
  li.dataset.state = o.state;
  return li;
}

function render() {
  const s = current;
  if (!s) return;
  const all = [...s.orders.values()];
  if (s.role === 'barista') {
    const queue = all.filter((o) => o.state === 'queued' || o.state === 'preparing')
      .sort((a, b) => (a.order_number || 0) - (b.order_number || 0) ||
        a.created_at.localeCompare(b.created_at));
    $('queue').replaceChildren(...queue.map((o) => item(o, o.state === 'queued' ?
      [['claim', 'Make'], ['cancel', 'Cancel']] :
      [['complete', 'Complete'], ['unclaim', 'Unclaim'], ['cancel', 'Cancel']])));
    $('queue-count').textContent = `(${queue.length})`;
    $('queue-empty').hidden = queue.length > 0;
    const recent = all.filter((o) => !OPEN.includes(o.state))
      .sort((a, b) => b.updated_at.localeCompare(a.updated_at)).slice(0, RECENT);
    $('recent').replaceChildren(...recent.map((o) => item(o, [])));
  } else {
    const mine = all.sort((a, b) => b.created_at.localeCompare(a.created_at));
    $('mine').replaceChildren(...mine.map((o) => item(o,
      ['created', 'submitted', 'queued'].includes(o.state) ? [['cancel', 'Cancel']] : [])));
    $('mine-empty').hidden = mine.length > 0;
    const choosing = mine.find((o) => o.state === 'created');
    $('drink-form').hidden = !choosing;
    $('drink-form').dataset.orderId = choosing ? choosing.order_id : '';
  }
}

// --- the barista's shop and stats -----------------------------------------------------------

async function loadShop(s) {
  try {
    showShop(await s.api.get(withQuery('/v1/shop', { event_id: s.event })));
  } catch (e) {
    fail(e);
  }
}

function showShop(shop) {
  $('shop-open').checked = shop.open;
  $('shop-max-queue').value = shop.max_orders_in_queue;
  $('shop-max-user').value = shop.max_orders_per_user;
  $('shop-state').textContent = shop.open ? 'Open: taking orders.' : 'Closed: no new orders.';
}

async function saveShop(event) {
  event.preventDefault();
  const s = current;
  clearError();
  const body = {
    open: $('shop-open').checked,
    max_orders_in_queue: Number($('shop-max-queue').value),
    max_orders_per_user: Number($('shop-max-user').value),
  };
  try {
    await s.api.request('PUT', withQuery('/v1/shop', { event_id: s.event }), body);
    say(body.open ? 'The shop is open.' : 'The shop is closed.');
  } catch (e) {
    fail(e);
  }
  await loadShop(s);
}

function seconds(v) {
  if (v === null || v === undefined) return '—';
  const t = Math.round(v);
  if (t < 60) return `${t} s`;
  const parts = [[Math.floor(t / 3600), 'h'], [Math.floor((t % 3600) / 60), 'min'], [t % 60, 's']];
  return parts.filter(([n]) => n > 0).map(([n, unit]) => `${n} ${unit}`).join(' ');
}

/** Today's numbers, if this service has them (`/v1/stats`); the panel stays hidden if not. */
async function loadStats(s) {
  if (s.noStats) return;
  let stats;
  try {
    stats = await s.api.get(withQuery('/v1/stats', { event_id: s.event }));
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) {
      s.noStats = true;
      clearInterval(s.statsTimer);
    }
    $('stats').hidden = true;
    return;
  }
  if (current !== s) return;
  const w = stats.wait_seconds || {};
  const served = Object.entries(stats.served || {}).map(([d, n]) => `${d} ${n}`).join(', ');
  const rows = [
    ['In the queue', String(stats.queue_length ?? '—')],
    ['Served', served || 'none yet'],
    ['Average wait', seconds(w.average)],
    ['90% waited at most', seconds(w.p90)],
    ['Over', `the last ${seconds(w.window_seconds)} (${w.samples ?? 0} orders)`],
    ['A new order waits about', seconds(stats.estimated_wait_seconds)],
  ];
  $('stats-list').replaceChildren(...rows.flatMap(([k, v]) =>
    [el('dt', { textContent: k }), el('dd', { textContent: v })]));
  $('stats').hidden = false;
}

// --- the customer's order -------------------------------------------------------------------

async function loadMenu(s) {
  try {
    s.menu = await s.api.get(withQuery('/v1/menu', { event_id: s.event }));
  } catch (e) {
    fail(e);
    return;
  }
  const choices = s.menu.drinks.map((d, i) => {
    const input = el('input', { type: 'radio', name: 'drink', value: d.name, id: `drink-${i}` });
    input.disabled = d.available === false;
    input.addEventListener('change', () => showModifiers(d));
    return el('label', { htmlFor: input.id }, input,
      ` ${d.name}${d.available === false ? ' (not available)' : ''}`);
  });
  $('drinks').replaceChildren(el('legend', { textContent: 'Drink' }), ...choices);
  $('modifiers').replaceChildren();
}

function showModifiers(drink) {
  const groups = (drink.modifiers || []).map((g, i) => {
    const select = el('select', { id: `modifier-${i}` },
      el('option', { value: '', textContent: '—' }),
      ...g.options.map((o) => el('option', { value: o, textContent: o })));
    return el('p', {}, el('label', { htmlFor: select.id, textContent: g.name }), select);
  });
  $('modifiers').replaceChildren(...groups);
}

async function submitDrink(event) {
  event.preventDefault();
  const s = current;
  clearError();
  const id = $('drink-form').dataset.orderId;
  const chosen = document.querySelector('input[name="drink"]:checked');
  if (!id || !chosen) {
    showError('Choose a drink first.');
    return;
  }
  const modifiers = [...$('modifiers').querySelectorAll('select')].map((x) => x.value)
    .filter((v) => v !== '');
  try {
    const { body } = await s.api.request('PUT', `/v1/orders/${encodeURIComponent(id)}/drink`,
      { drink: chosen.value, modifiers });
    keep(s, [body]);
    say(`${drinkText(body)} ordered.`);
  } catch (e) {
    fail(e);
  }
  render();
}

async function startOrder() {
  const s = current;
  clearError();
  $('start').disabled = true;
  try {
    const { status, body } = await s.api.request('POST', '/v1/orders',
      s.event ? { event_id: s.event } : undefined);
    if (status === 201) {
      keep(s, [body]);
      say('Order started: choose your drink.');
    } else {
      say('Order started: it shows here in a moment.');
      setTimeout(() => current === s && reload(s), 2000);
    }
  } catch (e) {
    if (e instanceof ApiError && REFUSALS[e.code]) showError(REFUSALS[e.code]);
    else fail(e);
  }
  $('start').disabled = false;
  render();
}

// --- wiring -----------------------------------------------------------------------------------

$('sign-in-form').addEventListener('submit', (event) => {
  event.preventDefault();
  signIn($('token').value.trim(), $('event').value.trim());
});
$('sign-out').addEventListener('click', signOut);
$('shop-form').addEventListener('submit', saveShop);
$('drink-form').addEventListener('submit', submitDrink);
$('start').addEventListener('click', startOrder);

$('event').value = sessionStorage.getItem(EVENT_KEY) || '';
const saved = sessionStorage.getItem(TOKEN_KEY);
if (saved) signIn(saved, $('event').value);
