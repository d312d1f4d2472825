/**
 * WebSocket permessage-deflate (`websocket.compression`) with the real `centrifuge` SDK over `ws`,
 * JSON and Protobuf builds: publications arrive intact, frames over `compression_min_size` are
 * compressed on the wire (RSV1), and a client without the extension gets plain frames of the same
 * broadcast. Also the writer batching keys `client.write_delay` / `client.max_messages_in_frame`.
 */
import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import { startGyre, suiteCleanup, type Cleanup, type RunningGyre } from '../helpers/gyre.js';
import { SDK_BUILDS, apiPost, connectClient, record, waitEvent } from '../helpers/clients.js';
import { hs256Token } from '../helpers/tokens.js';
import { API_KEY, HMAC_SECRET, decodeData, standardConfig, uniq } from '../helpers/e2e-config.js';
import { waitFor } from '../helpers/wait.js';
import {
  dataFrames,
  payloadOf,
  tappedWebSocket,
  type TappedWebSocket,
  type WireFrame,
} from '../../src/transports/websocket/test-kit.js';

const MIN_SIZE = 256;

/** The wire frames (data only) whose decoded payload contains `marker`. */
function framesWith(ws: TappedWebSocket, marker: string): WireFrame[] {
  return dataFrames(ws.frames).filter((f) => payloadOf(f).includes(marker));
}

async function publish(gyre: RunningGyre, channel: string, data: unknown): Promise<void> {
  const res = await apiPost(`${gyre.apiUrl}/publish`, { channel, data }, { 'X-API-Key': API_KEY });
  assert.deepEqual(res.json, { result: {} });
}

void describe('WebSocket compression', () => {
  const cleanup = suiteCleanup();
  let gyre: RunningGyre;
  before(async () => {
    gyre = await startGyre(cleanup, {
      config: standardConfig({
        websocket: { compression: true, compression_level: 1, compression_min_size: MIN_SIZE },
      }),
    });
  });

  for (const build of SDK_BUILDS) {
    const B = `[${build.name}]`;

    void test(`${B} SDK with permessage-deflate gets compressed publications intact; a plain client the same broadcast uncompressed`, async (t: Cleanup) => {
      const deflating = tappedWebSocket({ perMessageDeflate: true });
      const plain = tappedWebSocket({ perMessageDeflate: false });
      const token = (sub: string) => hs256Token(HMAC_SECRET, { sub });
      const c = build.create(gyre.wsUrl, { token: await token('zc'), websocket: deflating.Ctor }, t);
      const p = build.create(gyre.wsUrl, { token: await token('zp'), websocket: plain.Ctor }, t);
      await connectClient(c);
      await connectClient(p);
      const ws = deflating.instances[0] as TappedWebSocket;
      const pws = plain.instances[0] as TappedWebSocket;
      assert.match(ws.negotiated, /permessage-deflate/);
      assert.match(ws.negotiated, /server_no_context_takeover/);
      assert.equal(pws.negotiated, '');

      const channel = `pub:${uniq('z')}`;
      const subs = [c, p].map((client) => client.newSubscription(channel));
      const logs = subs.map((s) => record(s));
      for (const s of subs) s.subscribe();
      for (const s of subs) await s.ready(5000);

      const big = {
        marker: uniq('big'),
        items: Array.from({ length: 40 }, (_, i) => ({ i, name: `item ${i}` })),
      };
      const small = { marker: uniq('small') };
      await publish(gyre, channel, big);
      await publish(gyre, channel, small);
      for (const log of logs) {
        const pubs = await waitFor(() => {
          const got = log.filter((r) => r.event === 'publication');
          return got.length === 2 ? got : undefined;
        });
        assert.deepEqual(
          pubs.map((r) => decodeData((r.ctx as { data: unknown }).data)),
          [big, small],
        );
      }

      const bigFrames = framesWith(ws, big.marker);
      assert.equal(bigFrames.length, 1);
      assert.equal(bigFrames[0]?.rsv1, true, 'a publication over compression_min_size is compressed');
      assert.ok((bigFrames[0]?.payload.length ?? 0) < JSON.stringify(big).length / 2, 'smaller on the wire');
      assert.equal(framesWith(ws, small.marker)[0]?.rsv1, false, 'a small one is not');
      assert.equal(
        dataFrames(pws.frames).some((f) => f.rsv1),
        false,
        'the client without the extension never gets a compressed frame',
      );
      assert.equal(framesWith(pws, big.marker).length, 1);
    });
  }

  void test('a client compressing its own commands is understood (decompression stays with ws)', async (t: Cleanup) => {
    const deflating = tappedWebSocket({ perMessageDeflate: { threshold: 0 } });
    const c = SDK_BUILDS[0].create(
      gyre.wsUrl,
      { token: await hs256Token(HMAC_SECRET, { sub: 'zz' }), websocket: deflating.Ctor },
      t,
    );
    await connectClient(c);
    const channel = `pub:${uniq('zz')}`;
    const sub = c.newSubscription(channel);
    const log = record(sub);
    sub.subscribe();
    await sub.ready(5000);
    const data = { text: 'x'.repeat(2000) };
    await c.publish(channel, data);
    const pub = await waitEvent(log, 'publication');
    assert.deepEqual(decodeData(pub.data), data);
  });
});

void describe('client.write_delay and client.max_messages_in_frame', () => {
  const cleanup = suiteCleanup();
  let gyre: RunningGyre;
  before(async () => {
    gyre = await startGyre(cleanup, {
      config: standardConfig({ client: { write_delay: '300ms', max_messages_in_frame: 2 } }),
    });
  });

  void test('messages wait write_delay, then leave in frames of at most max_messages_in_frame', async (t: Cleanup) => {
    const { Ctor, instances } = tappedWebSocket({ perMessageDeflate: false });
    const c = SDK_BUILDS[0].create(
      gyre.wsUrl,
      { token: await hs256Token(HMAC_SECRET, { sub: 'wd' }), websocket: Ctor },
      t,
    );
    await connectClient(c, 10000);
    const channel = `pub:${uniq('wd')}`;
    const sub = c.newSubscription(channel);
    const log = record(sub);
    sub.subscribe();
    await sub.ready(5000);
    const ws = instances[0] as TappedWebSocket;
    const before = dataFrames(ws.frames).length;
    const sentAt = Date.now();
    const res = await apiPost(
      `${gyre.apiUrl}/batch`,
      { commands: [1, 2, 3].map((n) => ({ publish: { channel, data: { n } } })) },
      { 'X-API-Key': API_KEY },
    );
    assert.equal(res.status, 200);
    await waitFor(() => log.filter((r) => r.event === 'publication').length === 3);
    assert.ok(Date.now() - sentAt >= 250, `delivered after ${Date.now() - sentAt} ms, before write_delay`);
    const frames = dataFrames(ws.frames).slice(before);
    assert.deepEqual(
      frames.map((f) => payloadOf(f).toString().split('\n').length),
      [2, 1],
    );
  });
});
