/**
 * The `redis_stream` consumer against the real Redis: entries become API calls and are
 * acknowledged once done; bad entries are acknowledged and skipped; an internal API error leaves
 * the entry pending until it is reclaimed after the visibility timeout; publication data mode;
 * a second node of the group takes over what a stopped one left pending; and a Redis server
 * restart (group lost with the data) is survived.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { ConsumerDispatcher, RedisStreamConsumer } from '../../src/server/consumers/index.js';
import { consumerConfig, RecordingApi, recordingLogger } from '../../src/server/consumers/test-fixtures.js';
import type { RedisStreamConsumerConfig } from '../../src/server/config/index.js';
import { waitFor } from '../helpers/wait.js';
import { reachable, serviceSkip } from './cluster-services.js';

const skip = await serviceSkip('Redis', 6379);
if (skip) console.log(`# skipping Redis stream consumer tests: ${skip}`);

function start(
  t: { after(fn: () => unknown): void },
  name: string,
  patch: (c: RedisStreamConsumerConfig) => void,
  api = new RecordingApi(),
  member = `node-${randomBytes(3).toString('hex')}`,
): { api: RecordingApi; consumer: RedisStreamConsumer; logs: ReturnType<typeof recordingLogger> } {
  const cfg = consumerConfig((c) => {
    c.redis_stream.consumer_group = 'gyre';
    patch(c.redis_stream);
  }).redis_stream;
  const logs = recordingLogger();
  const consumer = new RedisStreamConsumer(name, cfg, new ConsumerDispatcher(api, logs, name), logs, member, {
    reclaimInterval: 100,
  });
  t.after(() => consumer.stop());
  return { api, consumer, logs };
}

const channels = (api: RecordingApi): unknown[] => api.calls.map((c) => c.request['channel']);

void describe('redis_stream consumer', { skip }, () => {
  const redis = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true });
  const keys: string[] = [];
  const stream = (): string => {
    const k = `gyre-test-stream-${randomBytes(5).toString('hex')}`;
    keys.push(k);
    return k;
  };
  const pending = async (key: string): Promise<number> => {
    const r = (await redis.xpending(key, 'gyre')) as [number, ...unknown[]];
    return r[0];
  };

  before(async () => {
    await redis.connect();
  });
  after(async () => {
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  test('runs entries in order, acknowledges them, skips bad ones', async (t) => {
    const key = stream();
    const { api, consumer, logs } = start(t, 'rs_order', (c) => {
      c.streams = [key];
    });
    await consumer.start();
    await redis.xadd(key, '*', 'method', 'publish', 'payload', '{"channel":"a","data":{"n":1}}');
    await redis.xadd(key, '*', 'method', 'publish', 'payload', '{"channel":'); // bad JSON
    await redis.xadd(key, '*', 'method', 'publish'); // no payload field
    await redis.xadd(key, '*', 'payload', '{"method":"publish","payload":{"channel":"b","data":{}}}');
    await redis.xadd(key, '*', 'method', 'publish', 'payload', '{"channel":"c","data":{}}');
    await api.waitCalls(3);
    assert.deepEqual(channels(api), ['a', 'b', 'c']);
    assert.equal(Buffer.from(api.calls[0]?.request['data'] as Uint8Array).toString(), '{"n":1}');
    await waitFor(async () => (await pending(key)) === 0, 5000, 'everything acknowledged');
    assert.equal(logs.entries.filter((e) => e.msg?.includes('skip message')).length, 2);
  });

  test('an internal API error leaves the entry pending until it is reclaimed', async (t) => {
    const key = stream();
    const api = new RecordingApi();
    api.reply = (_call, attempt) =>
      attempt === 1 ? { error: { code: 100, message: 'internal server error' } } : { result: {} };
    const { consumer } = start(
      t,
      'rs_retry',
      (c) => {
        c.streams = [key];
        c.visibility_timeout = 300;
      },
      api,
    );
    await consumer.start();
    await redis.xadd(key, '*', 'method', 'publish', 'payload', '{"channel":"again","data":{}}');
    await api.waitCalls(1);
    assert.equal(await pending(key), 1);
    await api.waitCalls(2, 5000);
    assert.deepEqual(channels(api), ['again', 'again']);
    await waitFor(async () => (await pending(key)) === 0, 5000, 'acknowledged after the retry');
  });

  test('publication data mode: payload is the data, fields give channels and options', async (t) => {
    const key = stream();
    const { api, consumer } = start(t, 'rs_pub', (c) => {
      c.streams = [key];
      c.publication_data_mode.enabled = true;
    });
    await consumer.start();
    await redis.xadd(
      key,
      '*',
      'payload',
      '{"text":"hi"}',
      'centrifugo-channels',
      'news,alerts',
      'centrifugo-idempotency-key',
      'k-1',
      'centrifugo-tag-source',
      'redis',
    );
    await redis.xadd(
      key,
      '*',
      'payload',
      '{"x":1}',
      'centrifugo-channels',
      'one',
      'centrifugo-delta',
      'maybe',
    );
    await redis.xadd(
      key,
      '*',
      'payload',
      '{"x":2}',
      'centrifugo-channels',
      'one',
      'centrifugo-delta',
      'true',
    );
    await api.waitCalls(2);
    assert.equal(api.calls[0]?.method, 'broadcast');
    assert.deepEqual(api.calls[0]?.request['channels'], ['news', 'alerts']);
    assert.equal(api.calls[0]?.request['idempotency_key'], 'k-1');
    assert.deepEqual(api.calls[0]?.request['tags'], { source: 'redis' });
    assert.equal(api.calls[1]?.method, 'publish');
    assert.equal(api.calls[1]?.request['delta'], true);
    assert.deepEqual(api.dataOf(), ['{"text":"hi"}', '{"x":2}']);
  });

  test('several workers share a stream; another node reclaims what a stopped one left', async (t) => {
    const key = stream();
    const api = new RecordingApi();
    const { consumer } = start(
      t,
      'rs_workers',
      (c) => {
        c.streams = [key];
        c.num_workers = 4;
      },
      api,
    );
    await consumer.start();
    for (let i = 0; i < 20; i++) {
      await redis.xadd(
        key,
        '*',
        'method',
        'publish',
        'payload',
        JSON.stringify({ channel: `w${i}`, data: {} }),
      );
    }
    await api.waitCalls(20);
    assert.equal(new Set(channels(api)).size, 20);
    await waitFor(async () => (await pending(key)) === 0, 5000, 'acknowledged');
    // An entry read by a member that went away stays pending: another member claims it once idle.
    await redis.xadd(key, '*', 'method', 'publish', 'payload', '{"channel":"orphan","data":{}}');
    await consumer.stop();
    await redis.xadd(key, '*', 'method', 'publish', 'payload', '{"channel":"orphan2","data":{}}');
    await redis.xreadgroup('GROUP', 'gyre', 'gone-node', 'COUNT', 10, 'STREAMS', key, '>');
    const api2 = new RecordingApi();
    const { consumer: second } = start(
      t,
      'rs_workers',
      (c) => {
        c.streams = [key];
        c.visibility_timeout = 200;
      },
      api2,
    );
    await second.start();
    await waitFor(() => channels(api2).includes('orphan2'), 5000, 'orphaned entry reclaimed');
    await waitFor(async () => (await pending(key)) === 0, 5000, 'acknowledged');
  });

  test('start fails when Redis cannot be reached', async (t) => {
    const { consumer } = start(t, 'rs_down', (c) => {
      c.address = ['redis://127.0.0.1:1'];
      c.streams = ['x'];
    });
    await assert.rejects(consumer.start());
  });
});

async function freePort(): Promise<number> {
  const srv = createServer().listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const addr = srv.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

async function startRedis(port: number): Promise<ChildProcess> {
  const proc = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    {
      stdio: 'ignore',
    },
  );
  const deadline = Date.now() + 10_000;
  while (!(await reachable(port, '127.0.0.1', 200))) {
    if (Date.now() > deadline) throw new Error('redis-server did not start');
    await new Promise((r) => setTimeout(r, 50));
  }
  return proc;
}

void describe('redis_stream consumer and a Redis restart', { skip }, () => {
  test('consumes again once the server is back (group and stream re-created)', async (t) => {
    const port = await freePort();
    let server = await startRedis(port);
    t.after(() => {
      server.kill('SIGKILL');
    });
    const key = 'restart-stream';
    const { api, consumer } = start(t, 'rs_restart', (c) => {
      c.address = [`redis://127.0.0.1:${port}`];
      c.streams = [key];
    });
    await consumer.start();
    const client = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 1 });
    client.on('error', () => {});
    t.after(() => client.disconnect());
    await client.connect();
    await client.xadd(key, '*', 'method', 'publish', 'payload', '{"channel":"before","data":{}}');
    await api.waitCalls(1);
    server.kill('SIGKILL');
    await once(server, 'exit');
    await new Promise((r) => setTimeout(r, 500));
    server = await startRedis(port);
    // The new server is empty: keep adding until the consumer has re-created its group and reads.
    await waitFor(
      async () => {
        await client.xadd(key, '*', 'method', 'publish', 'payload', '{"channel":"after","data":{}}');
        return channels(api).includes('after');
      },
      20_000,
      'entry added after the restart consumed',
      500,
    );
  });
});
