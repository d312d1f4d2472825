/**
 * Graceful shutdown: on SIGTERM/SIGINT clients are disconnected with 3001 (the SDK reconnects),
 * an API request already in flight is still answered, and the process exits 0 within
 * shutdown.timeout.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startGyre } from '../helpers/gyre.js';
import { SDK_BUILDS, connectClient, record, waitEvent } from '../helpers/clients.js';
import { hs256Token } from '../helpers/tokens.js';
import { API_KEY, HMAC_SECRET, standardConfig, uniq } from '../helpers/e2e-config.js';
import { delay, withTimeout } from '../helpers/wait.js';
import { rawWs } from '../helpers/raw-ws.js';

/** Starts a POST whose body is sent in two parts; `finish()` sends the rest and resolves the response. */
function slowPost(url: string, body: string, headers: Record<string, string>) {
  const split = Math.floor(body.length / 2);
  let started: http.ClientRequest | undefined;
  const response = new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = http.request(
      url,
      {
        method: 'POST',
        headers: {
          ...headers,
          'Content-Type': 'application/json',
          'Content-Length': Buffer.byteLength(body),
        },
      },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString('utf8')));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    req.write(body.slice(0, split));
    started = req;
  });
  return {
    response,
    finish() {
      started?.end(body.slice(split));
    },
  };
}

void describe('graceful shutdown', { concurrency: true }, () => {
  void test('SIGTERM: SDK clients (both builds) and raw sockets see 3001, exit 0 within shutdown.timeout', async (t) => {
    const gyre = await startGyre(t, { config: standardConfig({ shutdown: { timeout: '5s' } }) });
    const logs = [];
    for (const build of SDK_BUILDS) {
      const c = build.create(gyre.wsUrl, { token: await hs256Token(HMAC_SECRET, { sub: uniq('sd') }) }, t);
      logs.push({ name: build.name, log: record(c) });
      await connectClient(c);
    }
    const raw = await rawWs(gyre.wsUrl, { autoPong: true }, t);
    raw.sendJson({ id: 1, connect: { token: await hs256Token(HMAC_SECRET, { sub: 'raw' }) } });
    await raw.reply(1);
    const t0 = Date.now();
    const exited = gyre.stop('SIGTERM');
    for (const { name, log } of logs) {
      const ev = await waitEvent(log, 'connecting', (x) => x.code === 3001);
      assert.equal(ev.reason, 'shutdown', name);
    }
    assert.deepEqual(await raw.closed, { code: 3001, reason: 'shutdown' });
    const { code, signal } = await withTimeout(exited, 7000, 'process exits');
    assert.deepEqual({ code, signal }, { code: 0, signal: null }, gyre.output());
    assert.ok(Date.now() - t0 < 6000, 'exited within shutdown.timeout');
  });

  void test('SIGTERM: an API request already in flight is answered before the process exits', async (t) => {
    const gyre = await startGyre(t, { config: standardConfig({ shutdown: { timeout: '5s' } }) });
    const inflight = slowPost(
      `${gyre.apiUrl}/publish`,
      JSON.stringify({ channel: `hist:${uniq('sd')}`, data: { during: 'shutdown' } }),
      { 'X-API-Key': API_KEY },
    );
    await delay(100); // the request's headers and half its body are on the server
    const exited = gyre.stop('SIGTERM');
    await delay(200);
    inflight.finish();
    const res = await withTimeout(inflight.response, 5000, 'in-flight API call answered');
    assert.equal(res.status, 200);
    const body = JSON.parse(res.text) as { result: { offset: number; epoch: string } };
    assert.equal(body.result.offset, 1);
    const { code } = await withTimeout(exited, 7000, 'process exits');
    assert.equal(code, 0, gyre.output());
  });

  void test('SIGINT also shuts down gracefully with exit code 0', async (t) => {
    const gyre = await startGyre(t, { config: standardConfig({ shutdown: { timeout: '3s' } }) });
    const c = SDK_BUILDS[1].create(gyre.wsUrl, { token: await hs256Token(HMAC_SECRET, { sub: 'int' }) }, t);
    const log = record(c);
    await connectClient(c);
    const { code } = await withTimeout(gyre.stop('SIGINT'), 6000, 'process exits');
    assert.equal(code, 0, gyre.output());
    await waitEvent(log, 'connecting', (x) => x.code === 3001);
  });

  void test('idle server exits promptly on SIGTERM', async (t) => {
    const gyre = await startGyre(t, { config: standardConfig({ shutdown: { timeout: '10s' } }) });
    const t0 = Date.now();
    const { code, signal } = await withTimeout(gyre.stop('SIGTERM'), 5000, 'process exits');
    assert.deepEqual({ code, signal }, { code: 0, signal: null }, gyre.output());
    assert.ok(Date.now() - t0 < 3000, `took ${Date.now() - t0}ms`);
  });
});
