import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import WebSocket from 'ws';
import { waitFor } from '../../test/helpers/wait.js';
import { loadPem } from './http/listen.js';
import { connectClient, post, startTestServer } from './test-server.js';
import { selfSignedCert } from '../../test/helpers/certs.js';

function upgradeStatus(url: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.once('open', () => {
      ws.close();
      resolve(101);
    });
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
    });
    ws.once('error', (err) => {
      if (!/Unexpected server response/.test(err.message)) reject(err);
    });
  });
}

describe('server listeners and routes', () => {
  it('listens on port 0, logs the real port, and routes health, init and 404', async (t) => {
    const s = await startTestServer(t, (c) => {
      c.health.enabled = true;
      c.init.enabled = true;
    });
    assert.ok(s.port > 0);
    const log = s.logs.find((l) => l.msg === 'gyre listening');
    assert.deepEqual(log?.obj, { address: '127.0.0.1', port: s.port });
    for (const method of ['GET', 'POST']) {
      const h = await fetch(`${s.base}/health`, { method });
      assert.equal(h.status, 200);
      assert.equal(await h.text(), '{}');
    }
    const init = await fetch(`${s.base}/connection/init`);
    assert.equal(init.status, 200);
    assert.equal(await init.text(), '{}');
    assert.equal((await fetch(`${s.base}/nothing`)).status, 404);
    assert.equal((await fetch(`${s.base}/connection/websocket`)).status, 400, 'plain GET to the WS endpoint');
  });

  it('health and init are off by default; custom prefixes move the endpoints', async (t) => {
    const off = await startTestServer(t);
    assert.equal((await fetch(`${off.base}/health`)).status, 404);
    assert.equal((await fetch(`${off.base}/connection/init`)).status, 404);

    const s = await startTestServer(t, (c) => {
      c.health.enabled = true;
      c.health.handler_prefix = '/hc';
      c.http_api.handler_prefix = '/custom/api';
      c.websocket.handler_prefix = '/ws';
    });
    assert.equal((await fetch(`${s.base}/hc`)).status, 200);
    assert.equal((await post(s.base, '/custom/api/info', {})).status, 200);
    assert.equal((await post(s.base, '/api/info', {})).status, 404);
    assert.equal(await upgradeStatus(`ws://127.0.0.1:${s.port}/ws`), 101);
    assert.equal(await upgradeStatus(`ws://127.0.0.1:${s.port}/connection/websocket`), 404);
  });

  it('http_api.disabled removes the API; websocket.disabled removes the endpoint', async (t) => {
    const s = await startTestServer(t, (c) => {
      c.http_api.disabled = true;
      c.websocket.disabled = true;
    });
    assert.equal((await post(s.base, '/api/info', {})).status, 404);
    assert.equal(await upgradeStatus(s.wsUrl), 404);
  });

  it('an internal port serves API and health; http_api.external keeps the API external', async (t) => {
    const s = await startTestServer(t, (c) => {
      c.health.enabled = true;
      c.http_server.internal_port = '0';
      c.http_server.internal_address = '127.0.0.1';
    });
    assert.ok(s.internalPort !== undefined && s.internalPort !== s.port);
    const internal = `http://127.0.0.1:${s.internalPort}`;
    assert.equal((await post(internal, '/api/info', {})).status, 200);
    assert.equal((await fetch(`${internal}/health`)).status, 200);
    assert.equal((await post(s.base, '/api/info', {})).status, 404);
    assert.equal((await fetch(`${s.base}/health`)).status, 404);
    assert.equal(await upgradeStatus(s.wsUrl), 101);

    const ext = await startTestServer(t, (c) => {
      c.http_server.internal_port = '0';
      c.http_api.external = true;
    });
    assert.equal((await post(ext.base, '/api/info', {})).status, 200);
  });

  it('checks Origin before upgrading (403)', async (t) => {
    const none = await startTestServer(t);
    assert.equal(await upgradeStatus(none.wsUrl), 101, 'no Origin header');
    assert.equal(await upgradeStatus(none.wsUrl, { Origin: 'https://example.com' }), 403);
    const some = await startTestServer(t, (c) => {
      c.client.allowed_origins = ['https://*.example.com'];
    });
    assert.equal(await upgradeStatus(some.wsUrl, { Origin: 'https://App.Example.com' }), 101);
    assert.equal(await upgradeStatus(some.wsUrl, { Origin: 'https://evil.com' }), 403);
    const all = await startTestServer(t, (c) => {
      c.client.allowed_origins = ['*'];
    });
    assert.equal(await upgradeStatus(all.wsUrl, { Origin: 'https://evil.com' }), 101);
  });

  it('answers 503 to new connections past client.connection_limit', async (t) => {
    const s = await startTestServer(t, (c) => {
      c.client.connection_limit = 1;
    });
    const first = await connectClient(s.wsUrl);
    assert.equal(await upgradeStatus(s.wsUrl), 503);
    first.ws.close();
    await waitFor(async () => (await upgradeStatus(s.wsUrl)) === 101);
  });

  it('answers 503 past client.connection_rate_limit on WebSocket and streaming endpoints', async (t) => {
    const s = await startTestServer(t, (c) => {
      c.client.connection_rate_limit = 2;
      c.uni_http_stream.enabled = true;
    });
    const statuses = [
      await upgradeStatus(s.wsUrl),
      await upgradeStatus(s.wsUrl),
      await upgradeStatus(s.wsUrl),
    ];
    assert.deepEqual(statuses, [101, 101, 503]);
    const uni = await fetch(`${s.base}/connection/uni_http_stream`, { method: 'POST', body: '{}' });
    assert.equal(uni.status, 503);
    await uni.body?.cancel();
    // Tokens come back at the configured rate.
    await waitFor(async () => (await upgradeStatus(s.wsUrl)) === 101);
  });

  it('serves TLS from PEM files, raw PEM or base64 PEM', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'gyre-tls-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    selfSignedCert(dir);
    const certText = readFileSync(join(dir, 'cert.pem'), 'utf8');
    assert.equal(loadPem(join(dir, 'cert.pem'), 'x').toString(), certText);
    assert.equal(loadPem(certText, 'x').toString(), certText);
    assert.equal(loadPem(Buffer.from(certText).toString('base64'), 'x').toString(), certText);
    assert.throws(() => loadPem('/no/such/file', 'http_server.tls.cert_pem'), /cert_pem/);

    const s = await startTestServer(t, (c) => {
      c.http_server.tls.enabled = true;
      c.http_server.tls.cert_pem = join(dir, 'cert.pem');
      c.http_server.tls.key_pem = readFileSync(join(dir, 'key.pem'), 'utf8');
    });
    const status = await new Promise<number>((resolve, reject) => {
      const req = https.request(
        {
          host: '127.0.0.1',
          port: s.port,
          path: '/api/info',
          method: 'POST',
          rejectUnauthorized: false,
          headers: { 'X-API-Key': 'test-key' },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end('{}');
    });
    assert.equal(status, 200);
    const ws = new WebSocket(`wss://127.0.0.1:${s.port}/connection/websocket`, { rejectUnauthorized: false });
    await once(ws, 'open');
    ws.close();
  });
});

describe('graceful shutdown', () => {
  it('waits for an in-flight API call, closes sockets with 3001, stops listening; idempotent', async (t) => {
    let release: () => void = () => {};
    let started = false;
    const s = await startTestServer(t, () => {}, {
      rpcExtensions: new Map([
        [
          'slow',
          async () => {
            started = true;
            await new Promise<void>((r) => {
              release = r;
            });
            return Buffer.from('"done"');
          },
        ],
      ]),
    });
    const client = await connectClient(s.wsUrl);
    const closed = new Promise<{ code: number; reason: string }>((r) =>
      client.ws.once('close', (code: number, reason: Buffer) => r({ code, reason: reason.toString() })),
    );
    const inflight = post(s.base, '/api/rpc', { method: 'slow' });
    await waitFor(() => started);
    let shutDown = false;
    const first = s.shutdown().then(() => {
      shutDown = true;
    });
    const second = s.shutdown();
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(shutDown, false, 'shutdown waits for the in-flight call');
    release();
    const r = await inflight;
    assert.equal(r.status, 200);
    assert.deepEqual(r.json(), { result: { data: 'done' } });
    assert.deepEqual(await closed, { code: 3001, reason: 'shutdown' });
    await first;
    await second;
    await assert.rejects(fetch(`${s.base}/api/info`, { method: 'POST' }));
  });

  it('is bounded by shutdown.timeout when an API call never finishes', async (t) => {
    const s = await startTestServer(
      t,
      (c) => {
        c.shutdown.timeout = 200;
      },
      { rpcExtensions: new Map([['hang', () => new Promise<undefined>(() => {})]]) },
    );
    const pending = fetch(`${s.base}/api/rpc`, {
      method: 'POST',
      body: '{"method":"hang"}',
      headers: { 'X-API-Key': 'test-key' },
    }).catch(() => 'aborted');
    await waitFor(async () => {
      const r = await post(s.base, '/api/info', {});
      return r.status === 200;
    });
    const t0 = Date.now();
    await s.shutdown();
    assert.ok(Date.now() - t0 < 2000, 'shutdown returned within its bound');
    assert.equal(await pending, 'aborted');
  });
});
