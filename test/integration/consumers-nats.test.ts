/**
 * The `nats_jetstream` consumer against the real NATS server with JetStream: messages become API
 * calls in order and are acknowledged; bad ones are acknowledged and skipped; an internal API error
 * NAKs the message, which the server delivers again; publication data mode reads headers;
 * `deliver_policy`; start-up errors; a NATS server restart is survived.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { connect, headers, type NatsConnection } from '@nats-io/transport-node';
import { ConsumerDispatcher, NatsJetStreamConsumer } from '../../src/server/consumers/index.js';
import { consumerConfig, RecordingApi, recordingLogger } from '../../src/server/consumers/test-fixtures.js';
import type { NatsJetStreamConsumerConfig } from '../../src/server/config/index.js';
import { waitFor } from '../helpers/wait.js';
import { reachable, serviceSkip } from './cluster-services.js';

const skip = await serviceSkip('NATS', 4222);
if (skip) console.log(`# skipping NATS JetStream consumer tests: ${skip}`);

/** Calls the JetStream API; throws on an error answer. */
async function jsApi(
  nc: NatsConnection,
  subject: string,
  body: object = {},
): Promise<Record<string, unknown>> {
  const r = await nc.request(`$JS.API.${subject}`, JSON.stringify(body), { timeout: 5000 });
  const res = r.json<Record<string, unknown>>();
  if (res['error'] !== undefined) throw new Error(JSON.stringify(res['error']));
  return res;
}

/** Publishes into JetStream and waits for the stream's ack. */
async function jsPublish(
  nc: NatsConnection,
  subject: string,
  data: string,
  hdrs: Record<string, string> = {},
): Promise<void> {
  const h = headers();
  for (const [k, v] of Object.entries(hdrs)) h.set(k, v);
  const r = await nc.request(subject, data, { timeout: 5000, headers: h });
  const ack = r.json<{ error?: unknown }>();
  if (ack.error !== undefined) throw new Error(JSON.stringify(ack.error));
}

function start(
  t: { after(fn: () => unknown): void },
  name: string,
  patch: (c: NatsJetStreamConsumerConfig) => void,
  api = new RecordingApi(),
): { api: RecordingApi; consumer: NatsJetStreamConsumer; logs: ReturnType<typeof recordingLogger> } {
  const cfg = consumerConfig((c) => {
    c.nats_jetstream.durable_consumer_name = `gyre_${randomBytes(4).toString('hex')}`;
    patch(c.nats_jetstream);
  }).nats_jetstream;
  const logs = recordingLogger();
  const consumer = new NatsJetStreamConsumer(
    name,
    cfg,
    new ConsumerDispatcher(api, logs, name),
    logs,
    'consumers[0].nats_jetstream',
    { pullExpires: 1000 },
  );
  t.after(() => consumer.stop());
  return { api, consumer, logs };
}

const channels = (api: RecordingApi): unknown[] => api.calls.map((c) => c.request['channel']);

void describe('nats_jetstream consumer', { skip }, () => {
  let nc: NatsConnection;
  const streams: string[] = [];

  /** A fresh memory stream on `<name>.>`; returns its name (also the subject prefix). */
  async function stream(): Promise<string> {
    const name = `GYRE_${randomBytes(4).toString('hex').toUpperCase()}`;
    await jsApi(nc, `STREAM.CREATE.${name}`, { name, subjects: [`${name}.>`], storage: 'memory' });
    streams.push(name);
    return name;
  }

  async function consumerInfo(s: string, durable: string): Promise<{ ack: number; pending: number }> {
    const info = await jsApi(nc, `CONSUMER.INFO.${s}.${durable}`);
    return { ack: info['num_ack_pending'] as number, pending: info['num_pending'] as number };
  }

  before(async () => {
    nc = await connect({ servers: '127.0.0.1:4222' });
  });
  after(async () => {
    for (const s of streams) await jsApi(nc, `STREAM.DELETE.${s}`).catch(() => {});
    await nc.close();
  });

  test('runs messages in order, acknowledges them, skips bad ones', async (t) => {
    const s = await stream();
    let durable = '';
    const { api, consumer, logs } = start(t, 'js_order', (c) => {
      c.stream_name = s;
      c.subjects = [`${s}.>`];
      durable = c.durable_consumer_name;
    });
    await consumer.start();
    await jsPublish(nc, `${s}.a`, '{"channel":"one","data":{"n":1}}', { 'centrifugo-method': 'publish' });
    await jsPublish(nc, `${s}.a`, '{"channel":', { 'centrifugo-method': 'publish' }); // bad JSON
    await jsPublish(nc, `${s}.a`, '{"method":"unknown","payload":{}}'); // unknown method
    await jsPublish(nc, `${s}.b`, '{"method":"publish","payload":{"channel":"two","data":{}}}');
    await jsPublish(nc, `${s}.b`, '{"channels":["x","y"],"data":1}', { 'centrifugo-method': 'broadcast' });
    await api.waitCalls(3);
    assert.deepEqual(channels(api).slice(0, 2), ['one', 'two']);
    assert.deepEqual(api.calls[2]?.request['channels'], ['x', 'y']);
    assert.equal(Buffer.from(api.calls[0]?.request['data'] as Uint8Array).toString(), '{"n":1}');
    await waitFor(async () => (await consumerInfo(s, durable)).ack === 0, 5000, 'all acknowledged');
    assert.equal((await consumerInfo(s, durable)).pending, 0);
    assert.equal(logs.entries.filter((e) => e.msg?.includes('skip message')).length, 2);
  });

  test('an internal API error NAKs the message; the server delivers it again', async (t) => {
    const s = await stream();
    const api = new RecordingApi();
    api.reply = (_c, attempt) =>
      attempt === 1 ? { error: { code: 100, message: 'internal server error' } } : { result: {} };
    const { consumer } = start(
      t,
      'js_retry',
      (c) => {
        c.stream_name = s;
      },
      api,
    );
    await consumer.start();
    await jsPublish(nc, `${s}.x`, '{"channel":"again","data":{}}', { 'centrifugo-method': 'publish' });
    await api.waitCalls(2, 10_000);
    assert.deepEqual(channels(api), ['again', 'again']);
  });

  test('publication data mode reads channels and options from headers', async (t) => {
    const s = await stream();
    const { api, consumer } = start(t, 'js_pub', (c) => {
      c.stream_name = s;
      c.publication_data_mode.enabled = true;
    });
    await consumer.start();
    await jsPublish(nc, `${s}.p`, '{"price":1}', {
      'centrifugo-channels': 'prices',
      'centrifugo-version': '3',
      'centrifugo-version-epoch': 'e1',
      'centrifugo-tag-market': 'eu',
    });
    await jsPublish(nc, `${s}.p`, '{"price":2}', {
      'centrifugo-channels': 'prices',
      'centrifugo-version': 'x',
    });
    await jsPublish(nc, `${s}.p`, '{"price":3}', { 'centrifugo-channels': 'a,b' });
    await api.waitCalls(2);
    assert.equal(api.calls[0]?.method, 'publish');
    assert.equal(api.calls[0]?.request['channel'], 'prices');
    assert.equal(api.calls[0]?.request['version'], 3);
    assert.equal(api.calls[0]?.request['version_epoch'], 'e1');
    assert.deepEqual(api.calls[0]?.request['tags'], { market: 'eu' });
    assert.equal(api.calls[1]?.method, 'broadcast');
    assert.deepEqual(api.dataOf(), ['{"price":1}', '{"price":3}']);
  });

  test('deliver_policy "all" replays what the stream already holds, "new" does not', async (t) => {
    const s = await stream();
    await jsPublish(nc, `${s}.old`, '{"channel":"old","data":{}}', { 'centrifugo-method': 'publish' });
    const all = start(t, 'js_all', (c) => {
      c.stream_name = s;
      c.deliver_policy = 'all';
    });
    const fresh = start(t, 'js_new', (c) => {
      c.stream_name = s;
    });
    await all.consumer.start();
    await fresh.consumer.start();
    await jsPublish(nc, `${s}.new`, '{"channel":"new","data":{}}', { 'centrifugo-method': 'publish' });
    await all.api.waitCalls(2);
    await fresh.api.waitCalls(1);
    assert.deepEqual(channels(all.api), ['old', 'new']);
    assert.deepEqual(channels(fresh.api), ['new']);
  });

  test('start fails for a missing stream or a missing existing consumer, naming the key', async (t) => {
    const missing = start(t, 'js_nostream', (c) => {
      c.stream_name = 'GYRE_NO_SUCH_STREAM';
    });
    await assert.rejects(
      missing.consumer.start(),
      /^Error: consumers\[0\]\.nats_jetstream: error creating JetStream consumer/,
    );
    const s = await stream();
    const existing = start(t, 'js_existing', (c) => {
      c.stream_name = s;
      c.use_existing_consumer = true;
    });
    await assert.rejects(existing.consumer.start(), /error looking up JetStream consumer/);
  });
});

const NATS_SERVER = '/usr/sbin/nats-server';

async function freePort(): Promise<number> {
  const srv = createServer().listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const addr = srv.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

async function startNats(port: number, storeDir: string): Promise<ChildProcess> {
  const proc = spawn(NATS_SERVER, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', storeDir], {
    stdio: 'ignore',
  });
  const deadline = Date.now() + 10_000;
  while (!(await reachable(port, '127.0.0.1', 200))) {
    if (Date.now() > deadline) throw new Error('nats-server did not start');
    await new Promise((r) => setTimeout(r, 50));
  }
  return proc;
}

const noNatsServer = existsSync(NATS_SERVER) ? false : `${NATS_SERVER} is not installed`;
if (noNatsServer && process.env.CI === 'true') throw new Error(noNatsServer);

void describe('nats_jetstream consumer and a NATS server restart', { skip: noNatsServer }, () => {
  test('consumes again once the server is back', async (t) => {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'gyre-js-'));
    let server = await startNats(port, dir);
    t.after(() => {
      server.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    });
    const nc = await connect({
      servers: `127.0.0.1:${port}`,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 100,
    });
    t.after(() => nc.close());
    await jsApi(nc, 'STREAM.CREATE.RESTART', { name: 'RESTART', subjects: ['restart.>'], storage: 'file' });
    const { api, consumer } = start(t, 'js_restart', (c) => {
      c.url = `nats://127.0.0.1:${port}`;
      c.stream_name = 'RESTART';
    });
    await consumer.start();
    await jsPublish(nc, 'restart.a', '{"channel":"before","data":{}}', { 'centrifugo-method': 'publish' });
    await api.waitCalls(1);
    server.kill('SIGKILL');
    await once(server, 'exit');
    server = await startNats(port, dir);
    await waitFor(
      async () => {
        try {
          await jsPublish(nc, 'restart.a', '{"channel":"after","data":{}}', {
            'centrifugo-method': 'publish',
          });
          return true;
        } catch {
          return false; // JetStream still recovering
        }
      },
      20_000,
      'publish after the restart',
      200,
    );
    await waitFor(
      () => channels(api).includes('after'),
      20_000,
      'message published after the restart consumed',
    );
  });
});
