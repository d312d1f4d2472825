/**
 * The Swagger UI of the server API as a user meets it: `gyre serve` with `swagger.enabled`, its
 * endpoints and OpenAPI document (every API method, every reference resolvable, the configured API
 * prefix, the internal port), and the real page in headless Chromium: authorize with the API key,
 * run `publish` with "Try it out" and see a connected `centrifuge` SDK client receive it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import { apiMethods } from '../../src/server/api/methods.js';
import { chromiumSkip, launchChromium, pageProblems } from '../helpers/chromium.js';
import { freePort, startGyre, suiteCleanup } from '../helpers/gyre.js';
import { connectClient, jsonClient, subscribeAndWait, waitEvent } from '../helpers/clients.js';
import { hs256Token } from '../helpers/tokens.js';
import { API_KEY, HMAC_SECRET, standardConfig, uniq } from '../helpers/e2e-config.js';

interface OpenApi {
  openapi: string;
  paths: Record<string, { post?: { operationId: string; requestBody: unknown; responses: unknown } }>;
  components: { schemas: Record<string, unknown>; securitySchemes: Record<string, { name: string }> };
}

/** Every `$ref` string anywhere in `v`. */
function refsOf(v: unknown, out: string[] = []): string[] {
  if (Array.isArray(v)) for (const x of v) refsOf(x, out);
  else if (v !== null && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      if (k === '$ref' && typeof x === 'string') out.push(x);
      else refsOf(x, out);
    }
  }
  return out;
}

void describe('swagger UI endpoints', { concurrency: 3 }, () => {
  void test('off by default: nothing under /swagger', async (t) => {
    const gyre = await startGyre(t, { config: standardConfig() });
    const res = await fetch(`${gyre.url}/swagger/`);
    await res.text();
    assert.equal(res.status, 404);
  });

  void test('serves the page, its files and an OpenAPI document of every API method', async (t) => {
    const gyre = await startGyre(t, { config: standardConfig({ swagger: { enabled: true } }) });
    const bare = await fetch(`${gyre.url}/swagger`, { redirect: 'manual' });
    assert.equal(bare.status, 301);
    assert.equal(bare.headers.get('location'), '/swagger/');

    const page = await fetch(`${gyre.url}/swagger/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(page.headers.get('content-security-policy') ?? '', /script-src 'self'/);
    const html = await page.text();
    for (const file of ['swagger-ui.css', 'swagger-ui-bundle.js', 'start.js']) {
      assert.ok(html.includes(`./${file}`), file);
      const res = await fetch(`${gyre.url}/swagger/${file}`);
      assert.equal(res.status, 200, file);
      assert.ok((await res.arrayBuffer()).byteLength > 0, file);
    }

    const doc = (await (await fetch(`${gyre.url}/swagger/openapi.json`)).json()) as OpenApi;
    assert.equal(doc.openapi, '3.0.3');
    const served = apiMethods.map((m) => m.name).sort();
    assert.deepEqual(
      Object.keys(doc.paths).sort(),
      served.map((n) => `/api/${n}`),
    );
    for (const name of served) {
      const op = doc.paths[`/api/${name}`]?.post;
      assert.equal(op?.operationId, name);
      assert.ok(op?.requestBody !== undefined && op.responses !== undefined, name);
    }
    for (const r of refsOf(doc)) {
      const name = r.replace('#/components/schemas/', '');
      assert.ok(doc.components.schemas[name] !== undefined, `unresolved ${r}`);
    }
    assert.deepEqual(
      Object.values(doc.components.securitySchemes)
        .map((s) => s.name)
        .sort(),
      ['Authorization', 'X-API-Key'],
    );

    // Anything else under the prefix is not found; only GET and HEAD are served.
    const missing = await fetch(`${gyre.url}/swagger/swagger-initializer.js`);
    await missing.text();
    assert.equal(missing.status, 404);
    const post = await fetch(`${gyre.url}/swagger/openapi.json`, { method: 'POST', body: '{}' });
    await post.text();
    assert.equal(post.status, 405);
  });

  void test('follows swagger.handler_prefix and http_api.handler_prefix, on the internal port', async (t) => {
    const internalPort = await freePort();
    const gyre = await startGyre(t, {
      config: standardConfig({
        swagger: { enabled: true, handler_prefix: '/docs/api' },
        http_api: { handler_prefix: '/server' },
        http_server: { internal_port: String(internalPort), internal_address: '127.0.0.1' },
      }),
    });
    const internal = `http://127.0.0.1:${internalPort}`;
    const doc = (await (await fetch(`${internal}/docs/api/openapi.json`)).json()) as OpenApi;
    assert.ok(doc.paths['/server/publish'] !== undefined);
    const external = await fetch(`${gyre.url}/docs/api/`);
    await external.text();
    assert.equal(external.status, 404);
  });
});

void describe('swagger UI in headless Chromium', { skip: chromiumSkip }, () => {
  const cleanup = suiteCleanup();
  let browser: Browser;
  before(async () => {
    browser = await launchChromium();
  });
  after(() => browser?.close());

  void test('lists every method; publish with "Try it out" reaches a subscriber', async (t) => {
    const gyre = await startGyre(cleanup, { config: standardConfig({ swagger: { enabled: true } }) });
    const channel = uniq('swagger');
    const client = jsonClient(
      gyre.wsUrl,
      { token: await hs256Token(HMAC_SECRET, { sub: uniq('u') }) },
      cleanup,
    );
    await connectClient(client);
    const { log } = await subscribeAndWait(client, channel);

    const context = await browser.newContext();
    t.after(() => context.close());
    const page = await context.newPage();
    page.setDefaultTimeout(15000);
    const problems = pageProblems(page);
    await page.goto(`${gyre.url}/swagger`);
    await page.locator('.opblock-summary-path', { hasText: '/api/publish' }).first().waitFor();
    assert.equal(await page.locator('.opblock').count(), apiMethods.length);

    // Authorize with the API key (the X-API-Key scheme comes first).
    await page.click('button.authorize');
    await page.locator('.modal-ux input').first().fill(API_KEY);
    await page.locator('.modal-ux button.authorize').first().click();
    await page.locator('.modal-ux button.btn-done').first().click();

    // publish: Try it out, a body of our own, Execute.
    const op = page.locator('#operations-Server_API-publish');
    await op.locator('.opblock-summary').click();
    await op.locator('button.try-out__btn').click();
    await op
      .locator('textarea.body-param__text')
      .fill(JSON.stringify({ channel, data: { from: 'swagger' } }));
    await op.locator('button.execute').click();
    await op.locator('.live-responses-table .response-col_status', { hasText: '200' }).waitFor();
    const pub = await waitEvent(log, 'publication');
    assert.deepEqual(pub.data, { from: 'swagger' });
    assert.deepEqual(problems, []);
  });
});
