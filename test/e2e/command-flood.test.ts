/**
 * A client that sends commands faster than they complete (RPCs to a slow backend): the server
 * stops reading its socket once 256 commands wait, so the rest waits in TCP buffers and the client's
 * own send buffer instead of the server's memory; other clients are served meanwhile, and a burst
 * bigger than the limit is still answered completely and in order.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startGyre, suiteCleanup, type RunningGyre, type Cleanup } from '../helpers/gyre.js';
import { SDK_BUILDS, apiClient, connectClient, record, waitEvent } from '../helpers/clients.js';
import { hs256Token } from '../helpers/tokens.js';
import { rawWs, type RawWs } from '../helpers/raw-ws.js';
import { API_KEY, HMAC_SECRET, decodeData, standardConfig, uniq } from '../helpers/e2e-config.js';
import { delay, waitFor } from '../helpers/wait.js';
import { withBody } from '../helpers/http-body.js';

void describe('command flood', () => {
  const cleanup = suiteCleanup();
  let gyre: RunningGyre;
  let backend: http.Server;
  /** RPC calls the backend has received, by method. */
  const calls = new Map<string, number>();

  before(async () => {
    // RPC backend: method `slow` answers after 50 ms, anything else at once.
    backend = http.createServer(
      withBody((req, res, body) => {
        const { method } = JSON.parse(body) as { method: string };
        calls.set(method, (calls.get(method) ?? 0) + 1);
        const answer = (): void => {
          res.setHeader('Content-Type', 'application/json');
          res.end(JSON.stringify({ result: { data: { method } } }));
        };
        if (method === 'slow') setTimeout(answer, 50);
        else answer();
      }),
    );
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
    const port = (backend.address() as AddressInfo).port;
    gyre = await startGyre(cleanup, {
      config: standardConfig({
        rpc: {
          proxy: { endpoint: `http://127.0.0.1:${port}/rpc`, timeout: '5s' },
          without_namespace: { proxy_enabled: true },
        },
      }),
    });
  });
  after(async () => {
    backend.closeAllConnections();
    await new Promise<void>((r) => backend.close(() => r()));
  });

  async function connectedRaw(t: Cleanup): Promise<RawWs> {
    const raw = await rawWs(gyre.wsUrl, { autoPong: true }, t);
    raw.sendJson({ id: 1, connect: { token: await hs256Token(HMAC_SECRET, { sub: uniq('flood') }) } });
    const reply = await raw.reply(1);
    assert.ok(reply['connect'], `connect reply: ${JSON.stringify(reply)}`);
    return raw;
  }

  test('the server stops reading a flooding client; other clients are served meanwhile', async (t) => {
    const raw = await connectedRaw(t);
    // 20,000 RPCs of 2 KB (40 MB) in 50 KB frames; each takes 50 ms at the backend.
    const data = { pad: 'x'.repeat(2000) };
    const perFrame = 25;
    let id = 2;
    for (let f = 0; f < 800; f++) {
      const lines: string[] = [];
      for (let k = 0; k < perFrame; k++)
        lines.push(JSON.stringify({ id: id++, rpc: { method: 'slow', data } }));
      raw.send(lines.join('\n'));
    }
    await delay(1500);
    // Read by the server, the commands would have left the client's buffer within a fraction of a
    // second; held back by TCP, tens of megabytes are still waiting on the client's side.
    assert.ok(
      raw.ws.bufferedAmount > 10_000_000,
      `client still holds ${raw.ws.bufferedAmount} bytes (the server kept reading)`,
    );
    assert.ok((calls.get('slow') ?? 0) < 100, `backend saw ${calls.get('slow')} slow calls`);
    // The first command was answered, in order, and the connection is open.
    await raw.reply(2, 5000);
    assert.equal(raw.isClosed(), false);

    // Another client on the same server: connect, subscribe, receive a publication.
    const build = SDK_BUILDS[0];
    const c = build.create(gyre.wsUrl, { token: await hs256Token(HMAC_SECRET, { sub: uniq('by') }) }, t);
    await connectClient(c);
    const channel = uniq('flood');
    const sub = c.newSubscription(channel);
    const log = record(sub);
    sub.subscribe();
    await sub.ready(5000);
    const marker = uniq('m');
    await apiClient(gyre.apiUrl, API_KEY).publish({ channel, data: { marker } });
    await waitEvent(log, 'publication', (p) => (decodeData(p.data) as { marker: string }).marker === marker);
    raw.close();
  });

  test('a burst past the queue limit is answered completely and in order', async (t) => {
    const raw = await connectedRaw(t);
    const n = 700;
    const lines = Array.from({ length: n }, (_, i) =>
      JSON.stringify({ id: 2 + i, rpc: { method: 'fast', data: { i } } }),
    );
    raw.send(lines.join('\n'));
    await waitFor(
      () => raw.messages.filter((m) => typeof m['id'] === 'number' && m['id'] >= 2).length === n,
      20_000,
    );
    const ids = raw.messages.map((m) => m['id']).filter((v): v is number => typeof v === 'number' && v >= 2);
    assert.deepEqual(
      ids,
      Array.from({ length: n }, (_, i) => 2 + i),
    );
    assert.ok(
      raw.messages.every((m) => m['error'] === undefined),
      'no command failed',
    );
    raw.close();
  });
});
