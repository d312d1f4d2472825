/**
 * Runs the shared broker and presence conformance suites, unchanged, against the Redis engine:
 * standalone (127.0.0.1:6379, streams and lists) and client-side sharded over two redis-server
 * processes this file starts. Without a reachable Redis it skips, and fails under CI=true.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { after, test } from 'node:test';
import { Redis } from 'ioredis';
import { RedisBroker, RedisPresenceManager, RedisShard } from '../../src/engines/redis/index.js';
import { describeBroker } from '../conformance/broker.suite.js';
import { describePresenceManager } from '../conformance/presence.suite.js';

const HOST = '127.0.0.1';
const PORT = 6379;

function ping(port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: HOST, port });
    const done = (ok: boolean): void => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.on('error', () => done(false));
    s.on('connect', () => s.write('PING\r\n'));
    s.on('data', (d) => done(d.toString().startsWith('+PONG')));
  });
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, HOST, () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Starts a throwaway redis-server on a free port. */
async function startRedisOnce(): Promise<{ port: number; proc: ChildProcess }> {
  const port = await freePort();
  const proc = spawn(
    'redis-server',
    ['--port', String(port), '--bind', HOST, '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  );
  const deadline = Date.now() + 5000;
  while (!(await ping(port, 200))) {
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`redis-server on ${port} did not start`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { port, proc };
}

/** Retries with fresh ports when one was taken between choosing and binding. */
async function startRedis(): Promise<{ port: number; proc: ChildProcess }> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startRedisOnce();
    } catch (err) {
      if (attempt >= 3) throw err;
    }
  }
}

const prefix = `gyretest-${randomUUID().slice(0, 8)}`;
const shard = (port: number): RedisShard => new RedisShard({ redis: { host: HOST, port }, prefix });

if (!(await ping(PORT))) {
  test('redis conformance', (t) => {
    if (process.env['CI'] === 'true') throw new Error(`redis not reachable at ${HOST}:${PORT}`);
    t.skip(`redis not reachable at ${HOST}:${PORT}`);
  });
} else {
  // The suites leave keys behind (some without TTL: history reads create meta): drop them.
  after(async () => {
    const r = new Redis({ host: HOST, port: PORT });
    try {
      for await (const keys of r.scanStream({ match: `${prefix}.*`, count: 1000 }) as AsyncIterable<
        string[]
      >) {
        if (keys.length > 0) await r.del(...keys);
      }
    } finally {
      r.disconnect();
    }
  });
  describeBroker('redis standalone (streams)', () => new RedisBroker({ shards: [shard(PORT)], prefix }));
  describeBroker(
    'redis standalone (lists)',
    () => new RedisBroker({ shards: [shard(PORT)], prefix, useLists: true }),
  );
  describePresenceManager(
    'redis standalone',
    ({ ttl }) => new RedisPresenceManager({ shards: [shard(PORT)], prefix, ttl }),
  );

  const extra = await Promise.all([startRedis(), startRedis()]);
  after(() => {
    for (const e of extra) e.proc.kill('SIGKILL');
  });
  const sharded = (): RedisShard[] => extra.map((e) => shard(e.port));
  describeBroker('redis sharded x2', () => new RedisBroker({ shards: sharded(), prefix }));
  describePresenceManager(
    'redis sharded x2',
    ({ ttl }) => new RedisPresenceManager({ shards: sharded(), prefix, ttl }),
  );
}
