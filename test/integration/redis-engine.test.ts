/**
 * Redis-engine behaviour beyond the shared conformance suite: resubscribe after the server kills
 * PUB/SUB connections, the liveness probe recovering a silently dead subscriber, SUBSCRIBE
 * batching, node-to-node control messages, and building the engine from a config section.
 * Uses throwaway redis-server processes (so killing clients never disturbs anyone else).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { after, before, describe, it, test } from 'node:test';
import { Redis } from 'ioredis';
import type { BrokerEventHandler } from '../../src/core/broker.js';
import {
  RedisBroker,
  RedisController,
  RedisShard,
  SUBSCRIBE_BATCH,
  parseRedisAddress,
  redisEngineFromConfig,
  shardIndex,
} from '../../src/engines/redis/index.js';
import type { Publication } from '../../src/protocol/types.js';
import { defaultConfig } from '../../src/server/config/index.js';

const HOST = '127.0.0.1';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitFor(
  cond: () => boolean | Promise<boolean>,
  timeoutMs = 5000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

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

async function startRedisOnce(fixedPort?: number): Promise<{ port: number; proc: ChildProcess }> {
  const port = fixedPort ?? (await freePort());
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
    await sleep(50);
  }
  return { port, proc };
}

/** Starts a throwaway redis-server, trying fresh ports when one was taken meanwhile. */
async function startRedis(fixedPort?: number): Promise<{ port: number; proc: ChildProcess }> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startRedisOnce(fixedPort);
    } catch (err) {
      if (attempt >= 3) throw err;
    }
  }
}

/**
 * A TCP proxy in front of Redis that can silence the subscriber connections open right now: their
 * sockets stay open but nothing from Redis reaches them any more (what a failover behind a load
 * balancer or a half-dead TCP connection looks like to the client).
 */
async function startProxy(
  target: number,
): Promise<{ port: number; silenceSubscribers(): number; close(): void }> {
  const conns = new Set<{
    client: net.Socket;
    upstream: net.Socket;
    subscriber: boolean;
    silenced: boolean;
  }>();
  const server = net.createServer((client) => {
    const upstream = net.connect({ host: HOST, port: target });
    const c = { client, upstream, subscriber: false, silenced: false };
    conns.add(c);
    client.on('data', (d: Buffer) => {
      if (d.toString('latin1').toLowerCase().includes('subscribe')) c.subscriber = true;
      upstream.write(d);
    });
    upstream.on('data', (d: Buffer) => {
      if (!c.silenced) client.write(d);
    });
    const end = (): void => {
      conns.delete(c);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end);
    upstream.on('close', end);
    client.on('error', end);
    upstream.on('error', end);
  });
  await new Promise<void>((r) => server.listen(0, HOST, r));
  return {
    port: (server.address() as net.AddressInfo).port,
    silenceSubscribers: () => {
      let n = 0;
      for (const c of conns)
        if (c.subscriber) {
          c.silenced = true;
          n++;
        }
      return n;
    },
    close: () => {
      for (const c of conns) {
        c.client.destroy();
        c.upstream.destroy();
      }
      server.close();
    },
  };
}

function recorder(): { pubs: { channel: string; pub: Publication }[]; handler: BrokerEventHandler } {
  const pubs: { channel: string; pub: Publication }[] = [];
  return {
    pubs,
    handler: {
      onPublication: (channel, pub) => pubs.push({ channel, pub }),
      onJoin: () => {},
      onLeave: () => {},
    },
  };
}

/** Publishes until one arrives (after a reconnect the first ones may be lost: at most once). */
async function publishUntilDelivered(
  b: RedisBroker,
  pubs: { channel: string }[],
  channel: string,
  timeoutMs = 8000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pubs.some((p) => p.channel === channel)) {
    if (Date.now() > deadline) throw new Error(`no publication delivered on ${channel}`);
    await b.publish(channel, Buffer.from('x'), {});
    await sleep(50);
  }
}

if (!(await ping(6379))) {
  test('redis engine', (t) => {
    if (process.env['CI'] === 'true') throw new Error('redis not reachable at 127.0.0.1:6379');
    t.skip('redis not reachable at 127.0.0.1:6379');
  });
} else {
  void describe('Redis engine', () => {
    let redis: { port: number; proc: ChildProcess };
    let admin: Redis;
    const prefix = `gyretest-${randomUUID().slice(0, 8)}`;
    const closers: (() => Promise<void> | void)[] = [];

    before(async () => {
      redis = await startRedis();
      admin = new Redis({ host: HOST, port: redis.port });
    });
    after(async () => {
      for (const c of closers.reverse()) await c();
      admin.disconnect();
      redis.proc.kill('SIGKILL');
    });

    const broker = (shard: RedisShard): RedisBroker => {
      const b = new RedisBroker({ shards: [shard], prefix });
      closers.push(() => b.close());
      return b;
    };

    void it('resubscribes every channel after Redis kills the PUB/SUB connection', async () => {
      const b = broker(new RedisShard({ redis: { host: HOST, port: redis.port }, prefix, probeInterval: 0 }));
      const { pubs, handler } = recorder();
      await b.run(handler);
      const channels = ['a', 'b', 'c'].map((x) => `kill-${x}-${randomUUID()}`);
      await b.subscribe(channels);
      await publishUntilDelivered(b, pubs, channels[0] as string);
      const killed = (await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub')) as number;
      assert.ok(killed >= 1);
      pubs.length = 0;
      for (const ch of channels) await publishUntilDelivered(b, pubs, ch);
    });

    void it('the liveness probe replaces a silently dead subscriber, and publications flow again', async () => {
      const proxy = await startProxy(redis.port);
      closers.push(() => proxy.close());
      const shard = new RedisShard({
        redis: { host: HOST, port: proxy.port },
        prefix,
        probeInterval: 100,
        probeTimeout: 300,
      });
      const b = broker(shard);
      const { pubs, handler } = recorder();
      await b.run(handler);
      const ch = `probe-${randomUUID()}`;
      await b.subscribe([ch]);
      await publishUntilDelivered(b, pubs, ch);
      assert.equal(shard.probeFailures, 0);

      assert.ok(proxy.silenceSubscribers() >= 1);
      pubs.length = 0;
      await b.publish(ch, Buffer.from('lost'), {});
      await waitFor(() => shard.probeFailures >= 1, 5000, 'probe failure');
      await publishUntilDelivered(b, pubs, ch);
      assert.ok(
        pubs.every((p) => Buffer.from(p.pub.data).toString() === 'x'),
        'the silenced one is lost',
      );
    });

    void it(`subscribes in batches of at most ${SUBSCRIBE_BATCH} channels, also when resubscribing`, async () => {
      const b = broker(new RedisShard({ redis: { host: HOST, port: redis.port }, prefix, probeInterval: 0 }));
      const { pubs, handler } = recorder();
      await b.run(handler);
      const subscribeCalls = async (): Promise<number> => {
        const info = await admin.info('commandstats');
        return Number(/cmdstat_subscribe:calls=(\d+)/.exec(info)?.[1] ?? 0);
      };
      await sleep(100);
      const before = await subscribeCalls();
      const channels = Array.from({ length: 1300 }, (_, i) => `batch-${i}-${randomUUID()}`);
      await b.subscribe(channels);
      assert.equal((await subscribeCalls()) - before, 3);
      const numsub = (await admin.pubsub('NUMSUB', `${prefix}.client.${channels[1299]}`)) as [string, number];
      assert.equal(Number(numsub[1]), 1);

      await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
      await publishUntilDelivered(b, pubs, channels[1299] as string);
      const after = await subscribeCalls();
      // 1300 channels (+ the probe channel, + other brokers' of this file) again: batches ≤ 512.
      assert.ok(after - before >= 6, `resubscribed in batches (${after - before} SUBSCRIBE calls)`);
      for (const ch of [channels[0], channels[700]] as string[]) await publishUntilDelivered(b, pubs, ch);
    });

    void it('comes back after Redis restarts: subscriptions restored, a new epoch for lost streams', async () => {
      const own = await startRedis();
      const shard = new RedisShard({ redis: { host: HOST, port: own.port }, prefix, probeInterval: 200 });
      const b = broker(shard);
      const { pubs, handler } = recorder();
      await b.run(handler);
      const ch = `restart-${randomUUID()}`;
      await b.subscribe([ch]);
      const opts = { historySize: 10, historyTtl: 60_000, historyMetaTtl: 600_000 };
      const before = await b.publish(ch, Buffer.from('1'), opts);
      await waitFor(() => pubs.length === 1);
      own.proc.kill('SIGKILL');
      await new Promise((r) => own.proc.once('exit', r));
      const again = spawn(
        'redis-server',
        ['--port', String(own.port), '--bind', HOST, '--save', '', '--appendonly', 'no'],
        { stdio: 'ignore' },
      );
      closers.push(() => void again.kill('SIGKILL'));
      await waitFor(() => ping(own.port, 200), 5000, 'restarted redis');
      await publishUntilDelivered(b, pubs, ch);
      const after = await b.publish(ch, Buffer.from('2'), opts);
      assert.notEqual(after.epoch, before.epoch, 'the stream was lost with the restart: new epoch');
      assert.equal(after.offset, 1);
    });

    void it('subscribes once Redis comes up when it was down at start', async () => {
      const port = await freePort();
      const shard = new RedisShard({
        redis: { host: HOST, port, maxRetriesPerRequest: 1, retryStrategy: () => 100 },
        prefix,
      });
      const b = broker(shard);
      const { pubs, handler } = recorder();
      await b.run(handler);
      const ch = `late-${randomUUID()}`;
      await b.subscribe([ch]).catch(() => {});
      await sleep(300);
      const late = await startRedis(port);
      closers.push(() => void late.proc.kill('SIGKILL'));
      await publishUntilDelivered(b, pubs, ch);
    });

    void it('control messages reach every controller, or only the named node', async () => {
      const shard = (): RedisShard => new RedisShard({ redis: { host: HOST, port: redis.port }, prefix });
      const got: Record<string, string[]> = { n1: [], n2: [] };
      const c1 = new RedisController({ shard: shard(), nodeName: 'n1', prefix });
      const c2 = new RedisController({ shard: shard(), nodeName: 'n2', prefix });
      closers.push(
        () => c1.close(),
        () => c2.close(),
      );
      await c1.run({ onControl: (d) => got['n1']?.push(Buffer.from(d).toString()) });
      await c2.run({ onControl: (d) => got['n2']?.push(Buffer.from(d).toString()) });
      await c1.publishControl(Buffer.from('all-1'));
      await c1.publishControl(Buffer.from('to-n2'), 'n2');
      await c2.publishControl(Buffer.from('to-n1'), 'n1');
      await c2.publishControl(Buffer.from('all-2'));
      await waitFor(() => got['n1']?.length === 3 && got['n2']?.length === 3, 5000, 'control messages');
      await sleep(50);
      assert.deepEqual(got['n1'], ['all-1', 'to-n1', 'all-2']);
      assert.deepEqual(got['n2'], ['all-1', 'to-n2', 'all-2']);
    });

    void it('builds broker, presence and controller from an engine.redis section', async () => {
      const section = {
        ...defaultConfig().engine.redis,
        address: [`redis://${HOST}:${redis.port}/2`],
        prefix,
        presence_ttl: 60_000,
      };
      const engine = redisEngineFromConfig(section, 'node-a', { probeInterval: 200, probeTimeout: 1000 });
      closers.push(() => engine.close());
      const { pubs, handler } = recorder();
      await engine.broker.run(handler);
      const ch = `cfg-${randomUUID()}`;
      await engine.broker.subscribe([ch]);
      const r = await engine.broker.publish(ch, Buffer.from('hi'), { historySize: 10, historyTtl: 60_000 });
      assert.equal(r.offset, 1);
      await waitFor(() => pubs.length === 1);
      await engine.presenceManager.add(ch, 'c1', { user: 'u1', client: 'c1' });
      assert.deepEqual(await engine.presenceManager.stats(ch), { numClients: 1, numUsers: 1 });
      const db2 = new Redis({ host: HOST, port: redis.port, db: 2 });
      const keys = await db2.keys(`${prefix}.*`).finally(() => db2.disconnect());
      assert.ok(
        keys.some((k) => k.includes(ch)),
        'keys live in db 2',
      );
      const seen: string[] = [];
      await engine.controller.run({ onControl: (d) => seen.push(Buffer.from(d).toString()) });
      await engine.controller.publishControl(Buffer.from('me'), 'node-a');
      await waitFor(() => seen.length === 1);
      await sleep(300); // a few probes go round without trouble
      assert.equal(engine.shards[0]?.probeFailures, 0);
    });
  });
}

void describe('Redis engine helpers', () => {
  void it('parses Redis addresses', () => {
    assert.deepEqual(parseRedisAddress('redis://u:p%40ss@host:6380/3'), {
      host: 'host',
      port: 6380,
      db: 3,
      username: 'u',
      password: 'p@ss',
    });
    assert.deepEqual(parseRedisAddress('rediss://:secret@h'), {
      host: 'h',
      port: 6379,
      password: 'secret',
      tls: true,
    });
    assert.deepEqual(parseRedisAddress('10.0.0.1:7000'), { host: '10.0.0.1', port: 7000 });
    assert.deepEqual(parseRedisAddress('[::1]:7001'), { host: '::1', port: 7001 });
    assert.deepEqual(parseRedisAddress('localhost'), { host: 'localhost', port: 6379 });
    assert.deepEqual(parseRedisAddress('unix:///tmp/redis.sock'), { path: '/tmp/redis.sock' });
  });

  void it('fails publishes to an unreachable Redis in bounded time, and closes without hanging', async () => {
    const port = await freePort();
    const shard = new RedisShard({
      redis: { host: HOST, port, connectTimeout: 200, maxRetriesPerRequest: 1, retryStrategy: () => 100 },
      prefix: 'unreachable',
    });
    const b = new RedisBroker({ shards: [shard], prefix: 'unreachable' });
    await b.run({ onPublication: () => {}, onJoin: () => {}, onLeave: () => {} });
    const started = Date.now();
    await assert.rejects(b.publish('ch', Buffer.from('x'), { historySize: 1, historyTtl: 1000 }));
    await b.close();
    assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
  });

  void it('spreads channels over shards stably, moving few when a shard is added', () => {
    const channels = Array.from({ length: 2000 }, (_, i) => `news:${i}`);
    const two = channels.map((c) => shardIndex(c, 2));
    assert.deepEqual(
      two,
      channels.map((c) => shardIndex(c, 2)),
    );
    const onFirst = two.filter((i) => i === 0).length;
    assert.ok(onFirst > 800 && onFirst < 1200, `balanced (${onFirst}/2000)`);
    const three = channels.map((c) => shardIndex(c, 3));
    const moved = three.filter((s, i) => s !== two[i]).length;
    assert.ok(moved < 900, `only about a third moves (${moved})`);
    assert.ok(
      three.every((s, i) => s === 2 || s === two[i]),
      'channels only move to the new shard',
    );
  });
});
