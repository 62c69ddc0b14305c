// The board at `/` in headless Chromium: the real binary on a free loopback port with fresh
// SQLite files and the embedded order processor; a customer and a barista, each on their own
// page with a token from `order-manager token`. The customer orders a Latte, the barista sees
// it live, makes it and completes it, the customer sees it ready (the service restarts on the
// way, and the customer's stream resumes where it was); a closed shop refuses the next order with a clear message. Every page loads with no CSP violation, no console error
// other than the answers the board expects, and no request to another origin.
//
// Usage: node tests/browser/board.mjs <path of the order-manager binary>
// (tests/browser.rs runs it; OM_CHROMIUM overrides /usr/bin/chromium, OM_SCREENSHOT_DIR
// says where the pages' screenshots go when a step fails.)

import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const bin = process.argv[2];
if (!bin) {
  console.error('usage: node tests/browser/board.mjs <order-manager binary>');
  process.exit(2);
}
const executablePath = process.env.OM_CHROMIUM || '/usr/bin/chromium';
const screenshots = resolve(process.env.OM_SCREENSHOT_DIR || 'target/browser-screenshots');
const STEP_TIMEOUT_MS = 15000;
const WHOLE_TIMEOUT_MS = 120000;
const started = Date.now();
const dir = mkdtempSync(join(tmpdir(), 'om-board-'));
let service = null;
let browser = null;
const serviceLog = [];

function step(what) {
  console.log(`[${((Date.now() - started) / 1000).toFixed(1)} s] ${what}`);
}

/** The service's environment: nothing inherited may configure it. */
function serviceEnv() {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    const upper = k.toUpperCase();
    if (!upper.startsWith('OM_') && !upper.startsWith('AWS_') && !upper.endsWith('_PROXY')) env[k] = v;
  }
  return Object.assign(env, {
    OM_LISTEN: '127.0.0.1:0',
    OM_LOG_FORMAT: 'json',
    OM_WORKFLOW: 'embedded',
    OM_STORE: `sqlite:${join(dir, 'orders.db')}`,
    OM_PROCESSOR_STORE: `sqlite:${join(dir, 'processor.db')}`,
    OM_JWT_SECRET_FILE: join(dir, 'jwt-secret'),
    RUST_LOG: 'info',
  });
}

/** Starts the binary and resolves to the address it logs once it listens. */
function startService(env) {
  return new Promise((resolveAddr, reject) => {
    service = spawn(bin, [], { env, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    service.on('error', reject);
    service.on('exit', (code, signal) => reject(new Error(`the service exited: ${code ?? signal}`)));
    for (const stream of [service.stdout, service.stderr]) {
      createInterface({ input: stream }).on('line', (line) => {
        serviceLog.push(line);
        try {
          const fields = JSON.parse(line).fields || {};
          if (fields.message === 'order-manager listening') resolveAddr(fields.address);
        } catch {
          // not a log line of ours
        }
      });
    }
  });
}

/** SIGTERM, as an orchestrator stops it; resolves once it exited. */
function stopService() {
  const exited = new Promise((done) => service.once('exit', done));
  service.kill('SIGTERM');
  return exited;
}

function token(env, sub, ...groups) {
  const args = ['token', '--sub', sub, ...groups.flatMap((g) => ['--group', g])];
  return execFileSync(bin, args, { env, cwd: dir, encoding: 'utf8' }).trim();
}

/** A page that records what must not happen: CSP violations, errors, other origins. */
async function openPage(name, origin, expectedFailures) {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_TIMEOUT_MS);
  const problems = [];
  page.on('console', (msg) => {
    if (msg.type() !== 'error' && msg.type() !== 'warning') return;
    const text = msg.text();
    const status = /the server responded with a status of (\d+)/.exec(text);
    const path = msg.location().url ? new URL(msg.location().url).pathname : '';
    const failure = status ? Number(status[1]) : /net::(ERR_[A-Z_]+)/.exec(text)?.[1];
    const expected = failure && expectedFailures.some(([f, p]) => failure === f && path === p);
    if (!expected) problems.push(`console ${msg.type()}: ${text} (${msg.location().url || 'no url'})`);
  });
  page.on('pageerror', (e) => problems.push(`uncaught: ${e.message}`));
  page.on('request', (req) => {
    const url = req.url();
    if (!url.startsWith(`${origin}/`) && !url.startsWith('data:')) problems.push(`request to another origin: ${url}`);
  });
  await page.addInitScript(() => {
    window.cspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) =>
      window.cspViolations.push(`${e.violatedDirective}: ${e.blockedURI}`));
  });
  const resumes = [];
  page.on('request', (req) => {
    const resume = req.headers()['last-event-id'];
    if (new URL(req.url()).pathname === '/v1/orders/stream' && resume) resumes.push(resume);
  });
  const p = { name, context, page, problems, resumes };
  pages.push(p);
  return p;
}

async function check(p) {
  const violations = await p.page.evaluate(() => window.cspViolations);
  const all = [...p.problems, ...violations.map((v) => `CSP violation: ${v}`)];
  if (all.length) throw new Error(`the ${p.name}'s page:\n  ${all.join('\n  ')}`);
}

async function signIn(p, origin, tok) {
  await p.page.goto(`${origin}/`);
  await p.page.getByLabel('Bearer token').fill(tok);
  await p.page.getByRole('button', { name: 'Sign in' }).click();
  await p.page.locator('#live.live').waitFor();
}

async function main() {
  const env = serviceEnv();
  const address = await startService(env);
  const origin = `http://${address}`;
  step(`service on ${origin}`);
  const alice = token(env, 'alice');
  const bob = token(env, 'bob', 'admin');

  browser = await chromium.launch({
    executablePath,
    // launch() gives the browser a fresh profile (--user-data-dir) of its own.
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  step(`chromium ${browser.version()}`);
  // The answers the board expects and handles (Chromium logs every 4xx to the console): the
  // customer's barista-only probe (403), the closed shop's refusal (409), `/v1/stats` on a
  // service without it (404: the panel stays hidden), and the stream cut off on purpose.
  const restart = [['ERR_CONNECTION_REFUSED', '/v1/orders/stream']];
  const barista = await openPage('barista', origin, [[404, '/v1/stats'], ...restart]);
  const customer = await openPage('customer', origin, [[403, '/v1/orders'], [409, '/v1/orders'],
    ['ERR_INTERNET_DISCONNECTED', '/v1/orders/stream'], ...restart]);

  await barista.page.goto(`${origin}/`);
  await barista.page.getByRole('heading', { name: 'Sign in' }).waitFor();
  await check(barista);
  step('the page loads under its CSP');

  await signIn(barista, origin, bob);
  await barista.page.locator('#barista').waitFor();
  await barista.page.locator('#shop-state', { hasText: 'Open' }).waitFor();
  step('the barista is signed in, the stream is live');
  await statsPanel(barista, origin, bob);

  await signIn(customer, origin, alice);
  await customer.page.locator('#customer').waitFor();
  step('the customer is signed in, the stream is live');

  await customer.page.getByRole('button', { name: 'Start an order' }).click();
  await customer.page.getByRole('radio', { name: 'Latte', exact: true }).check();
  await customer.page.getByLabel('Milk').selectOption('Oat');
  await customer.page.getByRole('button', { name: 'Order this drink' }).click();
  const mine = customer.page.locator('#mine li').first();
  await mine.waitFor();
  const id = await mine.getAttribute('data-order-id');
  await customer.page.locator(`#mine li[data-order-id="${id}"][data-state="queued"]`).waitFor();
  step(`the customer ordered a Latte: ${id}, queued`);

  const inQueue = barista.page.locator(`#queue li[data-order-id="${id}"]`);
  await barista.page.locator(`#queue li[data-order-id="${id}"][data-state="queued"]`).waitFor();
  if (!(await inQueue.textContent()).includes('Latte (Oat)')) throw new Error('the queue shows another drink');
  // The service restarts, and the customer's page stays offline while the barista makes the
  // order: back online, it resumes the stream from the last change it saw (Last-Event-ID) and
  // gets the one it missed.
  await stopService();
  await customer.page.locator('#live.reconnecting').waitFor();
  await customer.context.setOffline(true);
  await startService({ ...env, OM_LISTEN: address });
  await barista.page.locator('#live.live').waitFor();
  await inQueue.getByRole('button', { name: 'Make' }).click();
  await barista.page.locator(`#queue li[data-order-id="${id}"][data-state="preparing"]`).waitFor();
  await customer.context.setOffline(false);
  await customer.page.locator(`#mine li[data-order-id="${id}"][data-state="preparing"]`).waitFor();
  await customer.page.locator('#live.live').waitFor();
  if (customer.resumes.length === 0) throw new Error('the stream was not resumed with Last-Event-ID');
  step(`the service restarted; the customer's stream resumed after change ${customer.resumes.at(-1)}`);
  await inQueue.getByRole('button', { name: 'Complete' }).click();
  await barista.page.locator(`#recent li[data-order-id="${id}"][data-state="completed"]`).waitFor();
  await inQueue.waitFor({ state: 'detached' });
  step('the barista saw it live, made it and completed it');

  const ready = customer.page.locator(`#mine li[data-order-id="${id}"][data-state="completed"]`);
  await ready.waitFor();
  if (!(await ready.textContent()).includes('ready')) throw new Error('the order does not say ready');
  await customer.page.locator('#status', { hasText: 'is ready' }).waitFor();
  step('the customer sees it ready');

  await barista.page.getByLabel('Open: takes orders').uncheck();
  await barista.page.getByRole('button', { name: 'Save' }).click();
  await barista.page.locator('#shop-state', { hasText: 'Closed' }).waitFor();
  await customer.page.getByRole('button', { name: 'Start an order' }).click();
  await customer.page.locator('#error', { hasText: 'The shop is closed' }).waitFor();
  step('a closed shop refuses the next order, and says so');

  await customer.page.getByRole('button', { name: 'Sign out' }).click();
  await customer.page.getByRole('heading', { name: 'Sign in' }).waitFor();
  const kept = await customer.page.evaluate(() => sessionStorage.getItem('board.token'));
  if (kept !== null) throw new Error('signing out left the token in sessionStorage');
  step('signing out forgets the token');

  await check(barista);
  await check(customer);
}

const pages = [];

/**
 * Today's waits: the panel shows `GET /v1/stats` where the service has it and stays hidden
 * where it answers 404; and, from an answer of the documented shape (stubbed in the browser),
 * it shows every figure, unknown ones as a dash.
 */
async function statsPanel(barista, origin, tok) {
  const res = await fetch(`${origin}/v1/stats`, { headers: { authorization: `Bearer ${tok}` } });
  await barista.page.locator('#stats').waitFor({ state: res.status === 404 ? 'hidden' : 'visible' });
  const stub = await openPage('stats', origin, []);
  await stub.page.route('**/v1/stats*', (route) => route.fulfill({
    json: {
      event_id: 'default',
      queue_length: 2,
      served: { Latte: 3, Espresso: 1 },
      wait_seconds: { average: 150.4, p90: null, window_seconds: 3600, samples: 4 },
      estimated_wait_seconds: 42,
    },
  }));
  await signIn(stub, origin, tok);
  const panel = stub.page.locator('#stats');
  for (const text of ['Latte 3, Espresso 1', '2 min 30 s', '—', '42 s', 'the last 1 h (4 orders)']) {
    await panel.getByText(text, { exact: false }).first().waitFor();
  }
  await check(stub);
  await stub.context.close();
  pages.splice(pages.indexOf(stub), 1);
  step(`the stats panel: ${res.status === 404 ? 'hidden (no /v1/stats here)' : 'shown'}, and renders the documented answer`);
}

async function screenshotAll() {
  mkdirSync(screenshots, { recursive: true });
  const files = [];
  for (const p of pages) {
    const file = join(screenshots, `${p.name}.png`);
    try {
      await p.page.screenshot({ path: file, fullPage: true });
      files.push(file);
    } catch (e) {
      console.error(`no screenshot of the ${p.name}'s page: ${e.message}`);
    }
  }
  return files;
}

async function cleanUp() {
  if (browser) await browser.close().catch(() => {});
  if (service && service.exitCode === null) service.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
}

const timer = setTimeout(async () => {
  console.error(`FAILED: the scenario took longer than ${WHOLE_TIMEOUT_MS / 1000} s`);
  await screenshotAll();
  await cleanUp();
  process.exit(1);
}, WHOLE_TIMEOUT_MS);

try {
  await main();
  step('passed');
  await cleanUp();
  clearTimeout(timer);
} catch (e) {
  clearTimeout(timer);
  console.error(`FAILED: ${e.stack || e}`);
  const files = await screenshotAll();
  if (files.length) console.error(`screenshots of the pages: ${files.join(', ')}`);
  console.error(`--- the service's log (last 40 lines) ---\n${serviceLog.slice(-40).join('\n')}`);
  await cleanUp();
  process.exit(1);
}
