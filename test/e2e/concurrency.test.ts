/**
 * `client.concurrency` end to end: `gyre serve` with an RPC proxy whose backend holds `slow` calls
 * until the test lets them go, driven by the real SDK (JSON and Protobuf builds). With
 * `client.concurrency: 4` a fast RPC and a publish sent after a slow RPC on the same connection
 * are answered while the slow one is pending; with the default (0) the fast RPC waits for it.
 */
import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import {
  freePort,
  portAccepts,
  runCli,
  startGyre,
  suiteCleanup,
  tempDir,
  writeConfig,
} from '../helpers/gyre.js';
import type { Cleanup, RunningGyre } from '../helpers/gyre.js';
import { SDK_BUILDS, connectClient, type SdkClient } from '../helpers/clients.js';
import { HMAC_SECRET, decodeData, encodeData, standardConfig, uniq } from '../helpers/e2e-config.js';
import { hs256Token } from '../helpers/tokens.js';
import { delay, waitFor } from '../helpers/wait.js';
import { withBody } from '../helpers/http-body.js';

type Plain = Record<string, unknown>;

/**
 * RPC proxy backend: answers `{method, tag}` at once, except methods starting with `slow`, held
 * until `release(tag)` (or 8 s). `seen` lists `method:tag` of every call as it arrives.
 */
async function startBackend(
  cleanup: Cleanup,
): Promise<{ url: string; seen: string[]; release(tag: string): void }> {
  const seen: string[] = [];
  const held = new Map<string, () => void>();
  const server = http.createServer(
    withBody((req, res, raw) => {
      const body = JSON.parse(raw || '{}') as Plain;
      const method = String(body['method']);
      const tag = String((body['data'] as Plain | undefined)?.['tag']);
      seen.push(`${method}:${tag}`);
      const answer = (): void => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ result: { data: { method, tag } } }));
      };
      if (!method.startsWith('slow')) return answer();
      const timer = setTimeout(answer, 8000);
      held.set(tag, () => {
        clearTimeout(timer);
        answer();
      });
    }),
  );
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanup.after(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    release: (tag) => held.get(tag)?.(),
  };
}

/** Tracks whether a promise has settled yet. */
function settled<T>(p: Promise<T>): { done: () => boolean; promise: Promise<T> } {
  let done = false;
  const promise = p.finally(() => (done = true));
  return { done: () => done, promise };
}

void describe('client.concurrency', { concurrency: true }, () => {
  const cleanup = suiteCleanup();
  let backend: Awaited<ReturnType<typeof startBackend>>;
  let parallel: RunningGyre;
  let sequential: RunningGyre;

  const config = (concurrency: number | undefined): Plain =>
    standardConfig({
      client: concurrency === undefined ? {} : { concurrency },
      rpc: {
        proxy: { endpoint: `${backend.url}/rpc`, timeout: '10s' },
        without_namespace: { proxy_enabled: true },
      },
    });

  before(async () => {
    backend = await startBackend(cleanup);
    [parallel, sequential] = await Promise.all([
      startGyre(cleanup, { config: config(4) }),
      startGyre(cleanup, { config: config(undefined) }),
    ]);
  });

  for (const build of SDK_BUILDS) {
    const B = `[${build.name}]`;
    const client = async (t: Cleanup, gyre: RunningGyre): Promise<SdkClient> => {
      const token = await hs256Token(HMAC_SECRET, { sub: uniq('user') });
      const c = build.create(gyre.wsUrl, { token }, t);
      await connectClient(c);
      return c;
    };
    const data = (tag: string): unknown => encodeData(build.name, { tag });

    void test(`${B} concurrency 4: a fast RPC and a publish return while a slow RPC is pending`, async (t) => {
      const c = await client(t, parallel);
      const tag = uniq('t');
      const slow = settled(c.rpc('slow', data(tag)));
      await waitFor(() => backend.seen.includes(`slow:${tag}`), 5000, 'slow RPC reached the backend');

      const fast = await c.rpc('fast', data(tag));
      assert.deepEqual(decodeData(fast.data), { method: 'fast', tag });
      await c.publish(`pub:${tag}`, encodeData(build.name, { n: 1 }));
      assert.equal(slow.done(), false, 'the slow RPC is still pending');

      backend.release(tag);
      const r = await slow.promise;
      assert.deepEqual(decodeData(r.data), { method: 'slow', tag });
      assert.equal(c.state, 'connected');
    });

    void test(`${B} default concurrency: the fast RPC waits for the slow one sent before it`, async (t) => {
      const c = await client(t, sequential);
      const tag = uniq('s');
      const slow = settled(c.rpc('slow', data(tag)));
      await waitFor(() => backend.seen.includes(`slow:${tag}`), 5000, 'slow RPC reached the backend');
      const fast = settled(c.rpc('fast', data(tag)));
      await delay(300);
      assert.equal(fast.done(), false, 'fast RPC not answered while the slow one runs');
      assert.equal(backend.seen.includes(`fast:${tag}`), false, 'fast RPC not even proxied yet');

      backend.release(tag);
      const [s, f] = await Promise.all([slow.promise, fast.promise]);
      assert.deepEqual(decodeData(s.data), { method: 'slow', tag });
      assert.deepEqual(decodeData(f.data), { method: 'fast', tag });
    });
  }

  void test('a negative client.concurrency is refused, naming the key', async (t) => {
    const file = writeConfig(tempDir(t), standardConfig({ client: { concurrency: -2 } }));
    const check = await runCli(['checkconfig', '-c', file]);
    assert.notEqual(check.code, 0);
    assert.match(check.output, /client\.concurrency: must not be negative/);
    const port = await freePort();
    const serve = await runCli(['serve', '-c', file, '--port', String(port)]);
    assert.notEqual(serve.code, 0);
    assert.match(serve.output, /client\.concurrency/);
    assert.equal(await portAccepts(port), false);
  });
});
