/**
 * The admin web interface as a user meets it: `gyre serve` with `admin.enabled`, the HTTP
 * endpoints (login, token, insecure mode, prefix, internal port placement) and the real page
 * driven in headless Chromium (log in, watch the status page, publish from the actions console to
 * a connected `centrifuge` SDK client, log out).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { chromiumSkip, launchChromium, pageProblems } from '../helpers/chromium.js';
import {
  freePort,
  runCli,
  startGyre,
  suiteCleanup,
  tempDir,
  writeConfig,
  type Cleanup,
} from '../helpers/gyre.js';
import {
  connectClient,
  jsonClient,
  waitEvent,
  type SdkClient,
  subscribeAndWait,
} from '../helpers/clients.js';
import { hs256Token } from '../helpers/tokens.js';
import { HMAC_SECRET, standardConfig, uniq } from '../helpers/e2e-config.js';
import { waitFor } from '../helpers/wait.js';

const PASSWORD = 'e2e-admin-password';
const SECRET = 'e2e-admin-secret-0123456789';
const NODE_NAME = 'admin-e2e-node';

function adminConfig(admin: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return standardConfig({ node: { name: NODE_NAME }, admin: { enabled: true, ...admin } }, extra);
}

async function login(base: string, password: string): Promise<{ status: number; token?: string }> {
  const res = await fetch(`${base}/admin/auth`, { method: 'POST', body: new URLSearchParams({ password }) });
  if (res.status !== 200) {
    await res.text();
    return { status: res.status };
  }
  return { status: 200, token: ((await res.json()) as { token: string }).token };
}

async function adminCall(
  base: string,
  method: string,
  params: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; json?: { result?: Record<string, unknown>; error?: { code: number } } }> {
  const res = await fetch(`${base}/admin/api`, {
    method: 'POST',
    body: JSON.stringify({ method, params }),
    headers: { 'Content-Type': 'application/json', ...headers },
  });
  const text = await res.text();
  return res.status === 200 ? { status: 200, json: JSON.parse(text) } : { status: res.status };
}

/** A connected JSON SDK client subscribed to `channel`, with its events recorded. */
async function subscriber(wsUrl: string, channel: string, t: Cleanup) {
  const c: SdkClient = jsonClient(wsUrl, { token: await hs256Token(HMAC_SECRET, { sub: uniq('u') }) }, t);
  await connectClient(c);
  const { log } = await subscribeAndWait(c, channel);
  return { c, log };
}

void describe('admin HTTP endpoints', { concurrency: 3 }, () => {
  void test('password login, token required, API runs through the server executor', async (t) => {
    const gyre = await startGyre(t, { config: adminConfig({ password: PASSWORD, secret: SECRET }) });
    assert.equal((await login(gyre.url, 'not-the-password')).status, 400);
    assert.equal((await adminCall(gyre.url, 'info', {})).status, 401);
    assert.equal((await adminCall(gyre.url, 'info', {}, { Authorization: 'token forged' })).status, 401);
    const { status, token } = await login(gyre.url, PASSWORD);
    assert.equal(status, 200);
    const auth = { Authorization: `token ${token}` };
    const info = await adminCall(gyre.url, 'info', {}, auth);
    const nodes = info.json?.result?.nodes as { name: string }[];
    assert.deepEqual(
      nodes.map((n) => n.name),
      [NODE_NAME],
    );
    const channel = uniq('adm');
    const { log } = await subscriber(gyre.wsUrl, channel, t);
    const published = await adminCall(gyre.url, 'publish', { channel, data: { via: 'admin' } }, auth);
    assert.equal(published.json?.result?.offset, 1); // history is on for this channel
    const pub = await waitEvent(log, 'publication');
    assert.deepEqual(pub.data, { via: 'admin' });
    // The UI is served beside the endpoints.
    const page = await fetch(`${gyre.url}/`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /Gyre admin/);
  });

  void test('admin.insecure: no password, no token', async (t) => {
    const gyre = await startGyre(t, { config: adminConfig({ insecure: true }) });
    const info = await adminCall(gyre.url, 'info', {});
    assert.equal(info.status, 200);
    assert.ok(Array.isArray(info.json?.result?.nodes));
    const settings = await (await fetch(`${gyre.url}/admin/settings`)).json();
    assert.deepEqual(settings, { insecure: true, edition: 'oss', authenticated: true });
  });

  void test('internal port + handler_prefix; admin.external brings it back to the main port', async (t) => {
    const internalPort = await freePort();
    const gyre = await startGyre(t, {
      config: adminConfig(
        { password: PASSWORD, secret: SECRET, handler_prefix: '/ops' },
        { http_server: { internal_port: String(internalPort), internal_address: '127.0.0.1' } },
      ),
    });
    const internal = `http://127.0.0.1:${internalPort}`;
    assert.equal((await fetch(`${gyre.url}/ops/`)).status, 404);
    assert.equal((await login(`${gyre.url}/ops`, PASSWORD)).status, 404);
    assert.equal((await fetch(`${internal}/`)).status, 404);
    assert.equal((await fetch(`${internal}/ops/`)).status, 200);
    assert.equal((await fetch(`${internal}/ops`, { redirect: 'manual' })).status, 301);
    assert.equal((await login(`${internal}/ops`, PASSWORD)).status, 200);

    const otherInternal = await freePort();
    const ext = await startGyre(t, {
      config: adminConfig(
        { password: PASSWORD, secret: SECRET, external: true },
        { http_server: { internal_port: String(otherInternal), internal_address: '127.0.0.1' } },
      ),
    });
    assert.equal((await login(ext.url, PASSWORD)).status, 200);
    assert.equal((await fetch(`http://127.0.0.1:${otherInternal}/`)).status, 404);
  });

  void test('admin.enabled without password and secret stops start-up naming the keys', async (t) => {
    const dir = tempDir(t);
    const file = writeConfig(dir, { admin: { enabled: true } });
    const res = await runCli(['serve', '-c', file, '--port', String(await freePort())]);
    assert.notEqual(res.code, 0);
    assert.match(res.output, /admin\.password/);
    assert.match(res.output, /admin\.secret/);
  });
});

void describe('admin UI in headless Chromium', { skip: chromiumSkip }, () => {
  const cleanup = suiteCleanup();
  let browser: Browser;
  before(async () => {
    browser = await launchChromium();
  });
  after(() => browser?.close());

  /** A fresh page; uncaught script errors and CSP violations fail the test at the end. */
  async function openPage(t: Cleanup): Promise<Page> {
    const context = await browser.newContext();
    const page = await context.newPage();
    page.setDefaultTimeout(10000);
    const problems = pageProblems(page);
    t.after(async () => {
      await context.close();
      assert.deepEqual(problems, []);
    });
    return page;
  }

  void test('wrong password shows an error; login shows the node; actions console publishes', async (t) => {
    const gyre = await startGyre(cleanup, { config: adminConfig({ password: PASSWORD, secret: SECRET }) });
    const page = await openPage(t);
    await page.goto(`${gyre.url}/`);

    // Wrong password: an error, still on the login form.
    await page.locator('#login-view').waitFor({ state: 'visible' });
    await page.fill('#password', 'wrong-password');
    await page.click('#login-button');
    await page.locator('#login-error', { hasText: 'Wrong password' }).waitFor({ state: 'visible' });
    assert.equal(await page.locator('#main-view').isVisible(), false);

    // Right password: the status page lists this node.
    await page.fill('#password', PASSWORD);
    await page.click('#login-button');
    await page.locator('#status-page').waitFor({ state: 'visible' });
    const row = page.locator('#nodes tr', { hasText: NODE_NAME });
    await row.waitFor({ state: 'visible' });
    assert.equal(await row.locator('td').nth(1).textContent(), '0.1.0');
    assert.equal(await row.locator('td').nth(3).textContent(), '0');
    assert.equal(await page.locator('#total-nodes').textContent(), '1');

    // A client connects; the page refreshes on its own and counts it.
    const channel = uniq('ui');
    const { log } = await subscriber(gyre.wsUrl, channel, t);
    await waitFor(async () => (await row.locator('td').nth(3).textContent()) === '1', 10000, 'clients = 1');
    assert.equal(await row.locator('td').nth(5).textContent(), '1'); // subscriptions
    assert.equal(await row.locator('td').nth(6).textContent(), '1'); // channels

    // Actions console: publish reaches the client.
    await page.click('nav a[data-page="actions"]');
    await page.locator('#actions-page').waitFor({ state: 'visible' });
    await page.selectOption('#method', 'publish');
    await page.fill('#params', JSON.stringify({ channel, data: { from: 'admin-ui' } }));
    await page.click('#run');
    await page.locator('#action-status', { hasText: 'publish succeeded' }).waitFor({ state: 'visible' });
    const pub = await waitEvent(log, 'publication');
    assert.deepEqual(pub.data, { from: 'admin-ui' });

    // An API error and bad JSON are shown as errors.
    await page.fill('#params', JSON.stringify({ channel: '', data: {} }));
    await page.click('#run');
    await page.locator('#action-status.error', { hasText: '107 bad request' }).waitFor({ state: 'visible' });
    await page.fill('#params', '{"channel": ');
    await page.click('#run');
    await page.locator('#action-status.error', { hasText: 'not valid JSON' }).waitFor({ state: 'visible' });

    // info through the console shows the node in the result.
    await page.selectOption('#method', 'info');
    await page.click('#run');
    await page.locator('#action-result', { hasText: NODE_NAME }).waitFor({ state: 'visible' });

    // Log out: back to the login form, also after a reload (token dropped).
    await page.click('#logout');
    await page.locator('#login-view').waitFor({ state: 'visible' });
    await page.reload();
    await page.locator('#login-view').waitFor({ state: 'visible' });
    assert.equal(await page.locator('#main-view').isVisible(), false);
  });

  void test('insecure mode under a prefix on the internal port: no login, no logout', async (t) => {
    const internalPort = await freePort();
    await startGyre(cleanup, {
      config: adminConfig(
        { insecure: true, handler_prefix: '/ops/ui' },
        { http_server: { internal_port: String(internalPort), internal_address: '127.0.0.1' } },
      ),
    });
    const page = await openPage(t);
    await page.goto(`http://127.0.0.1:${internalPort}/ops/ui`); // redirected to /ops/ui/
    await page.locator('#nodes tr', { hasText: NODE_NAME }).waitFor({ state: 'visible' });
    assert.equal(await page.locator('#login-view').isVisible(), false);
    assert.equal(await page.locator('#logout').isVisible(), false);
    assert.equal(await page.locator('#insecure-badge').isVisible(), true);
    await page.click('nav a[data-page="actions"]');
    await page.selectOption('#method', 'channels');
    await page.click('#run');
    await page.locator('#action-status', { hasText: 'channels succeeded' }).waitFor({ state: 'visible' });
  });
});
