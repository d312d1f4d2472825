/**
 * Redis restarted under two `gyre serve` nodes (a `redis-server` of this test, on a free port,
 * with an append-only file so the streams survive the restart): the nodes' PUB/SUB subscriptions
 * come back, and a subscriber ends with every publication exactly once, in order, whether it got
 * them live or through recovery/positioning.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { describe, test } from 'node:test';
import { apiPost, connectClient, jsonClient, waitEvent, subscribeAndWait } from '../helpers/clients.js';
import { API_KEY, HMAC_SECRET, decodeData, standardConfig, uniq } from '../helpers/e2e-config.js';
import { freePort, portAccepts, startGyre, tempDir, type Cleanup } from '../helpers/gyre.js';
import { hs256Token } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';
import { reachable } from '../integration/cluster-services.js';

const REDIS_SERVER = '/usr/bin/redis-server';

async function haveRedisServer(): Promise<string | false> {
  const { existsSync } = await import('node:fs');
  if (existsSync(REDIS_SERVER)) return false;
  const msg = `${REDIS_SERVER} is not installed (apt-get install redis-server)`;
  if (process.env.CI === 'true') throw new Error(msg);
  return msg;
}

const skip = await haveRedisServer();
if (skip) console.log(`# skipping Redis restart e2e: ${skip}`);

async function startRedis(t: Cleanup, port: number, dir: string): Promise<ChildProcess> {
  const proc = spawn(
    REDIS_SERVER,
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--appendonly',
      'yes',
      '--appendfsync',
      'always',
      '--save',
      '',
    ],
    { stdio: 'ignore' },
  );
  t.after(() => {
    if (proc.exitCode === null) proc.kill('SIGKILL');
  });
  await waitFor(() => reachable(port, '127.0.0.1', 200), 10_000, 'redis-server listening');
  return proc;
}

void describe('Redis restarted mid-test', { skip }, () => {
  test('subscriptions come back and nothing within history is lost', async (t) => {
    const dir = tempDir(t, 'gyre-redis-');
    const port = await freePort();
    const redis = await startRedis(t, port, dir);
    const config = standardConfig({
      engine: { type: 'redis', redis: { address: [`redis://127.0.0.1:${port}`], prefix: 'restart' } },
      client: { channel_position_check_delay: '1s' },
    });
    const a = await startGyre(t, { config });
    const c = await startGyre(t, { config });
    const client = jsonClient(
      a.wsUrl,
      { token: await hs256Token(HMAC_SECRET, { sub: uniq('u') }), maxReconnectDelay: 500 },
      t,
    );
    await connectClient(client);
    const channel = `hist:${uniq('r')}`;
    const { log } = await subscribeAndWait(client, channel, { recoverable: true, positioned: true });
    const publish = async (n: number): Promise<boolean> => {
      const r = await apiPost(`${c.apiUrl}/publish`, { channel, data: { n } }, { 'X-API-Key': API_KEY });
      return r.status === 200 && (r.json as { error?: unknown }).error === undefined;
    };
    assert.ok(await publish(1));
    await waitEvent(log, 'publication');

    redis.kill('SIGTERM'); // flushes the append-only file
    await once(redis, 'exit');
    assert.equal(await portAccepts(port), false);
    await startRedis(t, port, dir); // stopped by the test's cleanup

    // Publishing works again once the nodes reconnected.
    await waitFor(() => publish(2), 15_000, 'publish after the restart');
    for (let n = 3; n <= 5; n++) assert.ok(await publish(n));
    const values = (): number[] =>
      log.filter((r) => r.event === 'publication').map((r) => (decodeData(r.ctx.data) as { n: number }).n);
    await waitFor(() => values().length >= 5, 20_000, `all publications (got ${values().join(',')})`);
    assert.deepEqual(values(), [1, 2, 3, 4, 5]);

    // Live delivery came back: a new publication arrives without any resubscribe.
    assert.ok(await publish(6));
    await waitFor(() => values().length === 6, 10_000, 'live publication after the restart');
    assert.deepEqual(values(), [1, 2, 3, 4, 5, 6]);
  });
});
