import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import net from 'node:net';
import { io as ioClient } from 'socket.io-client';
import WebSocket from 'ws';
import { LoadGen } from './loadgen/index.js';
import { RawWsClient } from './loadgen/raw-client.js';
import { publishClosedLoop } from './loadgen/publisher.js';
import { measureWindow } from './lib/measure.js';
import { processCpuMicros, processRssBytes } from './lib/proc.js';
import { startTarget, type RunningTarget } from './lib/servers.js';
import { Histogram } from './lib/stats.js';
import { waitFor } from '../test/helpers/fake-transport.js';

async function publish(t: RunningTarget, channel: string, data: unknown): Promise<number> {
  const res = await fetch(t.publishUrl, {
    method: 'POST',
    headers: { 'x-api-key': t.apiKey, 'content-type': 'application/json' },
    body: JSON.stringify({ channel, data }),
  });
  await res.arrayBuffer();
  return res.status;
}

describe('histogram', () => {
  it('reports percentiles at 10 µs resolution', () => {
    const h = new Histogram();
    for (let i = 1; i <= 100; i++) h.record(i * 1000); // 1..100 ms
    const s = h.summary();
    assert.equal(s.count, 100);
    assert.ok(Math.abs(s.p50Ms - 50) <= 0.02, `p50 ${s.p50Ms}`);
    assert.ok(Math.abs(s.p99Ms - 99) <= 0.02, `p99 ${s.p99Ms}`);
    assert.equal(s.maxMs, 100);
  });

  it('merges by adding counts', () => {
    const a = new Histogram();
    const b = new Histogram();
    a.record(1000);
    b.record(3000);
    a.merge(b);
    assert.equal(a.count, 2);
    assert.equal(a.summary().maxMs, 3);
  });
});

describe('/proc readers', () => {
  it('read CPU time and RSS of this process', () => {
    assert.ok(processRssBytes(process.pid) > 1024 * 1024);
    assert.ok(processCpuMicros(process.pid) > 0);
  });
});

describe('ws baseline', () => {
  let t: RunningTarget;
  before(async () => (t = await startTarget('ws', { core: undefined })));
  after(() => t.stop());

  it('delivers a publication to the channel subscribers only', async () => {
    const sub = new WebSocket(`${t.wsUrl}?channels=a,b`);
    const other = new WebSocket(`${t.wsUrl}?channels=c`);
    const got: string[] = [];
    const wrong: string[] = [];
    sub.on('message', (d: Buffer) => got.push(d.toString()));
    other.on('message', (d: Buffer) => wrong.push(d.toString()));
    while (got.length < 1 || wrong.length < 1) await new Promise((r) => setTimeout(r, 10)); // both 'ok'
    assert.equal(await publish(t, 'b', { x: 1 }), 200);
    while (got.length < 2) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(got, ['ok', '{"x":1}']);
    assert.deepEqual(wrong, ['ok']);
    sub.close();
    other.close();
  });

  it('rejects a publish without the API key', async () => {
    const res = await fetch(t.publishUrl, { method: 'POST', body: '{}' });
    assert.equal(res.status, 401);
  });

  it('answers the closed-loop publisher of the api scenario on every connection', async () => {
    const sub = new WebSocket(`${t.wsUrl}?channels=loop`);
    let received = 0;
    sub.on('message', () => received++);
    while (received < 1) await new Promise((r) => setTimeout(r, 10)); // 'ok'
    const r = await publishClosedLoop(t, 'loop', 4, 300, 64);
    assert.equal(r.failed, 0);
    assert.ok(r.ok > 20, `${r.ok} publications`);
    assert.equal(r.latency.count, r.ok);
    while (received < r.ok + 1) await new Promise((res) => setTimeout(res, 10));
    sub.close();
  });
});

describe('socket.io baseline', () => {
  let t: RunningTarget;
  before(async () => (t = await startTarget('socketio', { core: undefined })));
  after(() => t.stop());

  it('delivers to a real socket.io-client in the requested room', async () => {
    const client = ioClient(`http://127.0.0.1:${t.port}`, {
      transports: ['websocket'],
      query: { channels: 'room1' },
    });
    await new Promise<void>((r) => client.once('ready', () => r()));
    const got = new Promise<unknown>((r) => client.once('pub', r));
    assert.equal(await publish(t, 'room1', { y: 2 }), 200);
    assert.deepEqual(await got, { y: 2 });
    client.close();
  });
});

describe('load generator', () => {
  for (const kind of ['ws', 'socketio'] as const) {
    it(`counts every delivery from the ${kind} baseline`, async () => {
      const t = await startTarget(kind, { core: undefined });
      try {
        const lg = await LoadGen.start(t, 'json', { kind: 'one', channel: 'f' }, 20, 2);
        const c = await lg.connect(10);
        assert.equal(c.ready, 20);
        const w = await measureWindow({
          target: t,
          lg,
          pickChannel: () => 'f',
          subscribersOf: () => 20,
          rate: 20,
          durationMs: 500,
          payloadBytes: 64,
        });
        assert.equal(w.expected, w.published * 20);
        assert.ok(w.published > 0);
        assert.equal(w.delivered, w.expected);
        assert.equal(w.latency.count, w.delivered);
        await lg.stop();
      } finally {
        await t.stop();
      }
    });
  }
});

/** A server frame (unmasked) with the given first byte and payload. */
function serverFrame(b0: number, payload: Buffer): Buffer {
  const n = payload.length;
  const head = n < 126 ? Buffer.from([b0, n]) : Buffer.from([b0, 126, n >> 8, n & 0xff]);
  return Buffer.concat([head, payload]);
}

describe('raw load generator client', () => {
  it('keeps partial heads, partial frames and fragments intact across shared-buffer reads', async () => {
    const big = Buffer.alloc(3000, 0x61);
    const stream = Buffer.concat([
      Buffer.from('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n'),
      serverFrame(0x81, Buffer.from('first')),
      serverFrame(0x01, Buffer.from('frag-')), // text, not final
      serverFrame(0x00, Buffer.from('ment-')), // continuation, not final
      serverFrame(0x80, Buffer.from('ed')), // continuation, final
      serverFrame(0x81, big),
      serverFrame(0x81, Buffer.from('last')),
    ]);
    // Written a few bytes at a time, each piece its own read on the client: every boundary (inside
    // the HTTP head, a frame header, a payload) falls between two reads of the shared buffer.
    const server = net.createServer((sock) => {
      sock.setNoDelay(true);
      sock.once('data', () => {
        let off = 0;
        const step = (): void => {
          if (off >= stream.length) return;
          const n = off < 200 ? 7 : 500;
          sock.write(stream.subarray(off, off + n));
          off += n;
          setTimeout(step, 2);
        };
        step();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    const got: string[] = [];
    const client = new RawWsClient(`ws://127.0.0.1:${port}/`);
    try {
      // Messages are views valid during the call only: keep copies, as the worker keeps figures.
      client.on('message', (m: Buffer) => got.push(m.toString('latin1')));
      let failed: Error | undefined;
      client.on('error', (err: Error) => (failed = err));
      await waitFor(() => got.length === 4 || failed !== undefined, 5000, 'four messages');
      assert.equal(failed, undefined);
      assert.deepEqual(got, ['first', 'frag-ment-ed', big.toString('latin1'), 'last']);
    } finally {
      client.terminate();
      server.close();
    }
  });
});
