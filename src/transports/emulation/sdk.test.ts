/**
 * The official SDK (`centrifuge`) over HTTP-streaming and SSE with `/emulation`: the issue's
 * done-criterion for bidirectional emulation.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Centrifuge, type Options, type PublicationContext } from 'centrifuge';
import { Centrifuge as ProtobufCentrifuge } from 'centrifuge/build/protobuf';
import { EventSource } from 'eventsource';
import { startKit, waitFor, type Kit } from '../shared/test-kit.js';

const enc = new TextEncoder();

type Variant = { name: string; transport: 'http_stream' | 'sse'; build: 'json' | 'protobuf' };
const variants: Variant[] = [
  { name: 'http_stream (JSON)', transport: 'http_stream', build: 'json' },
  { name: 'http_stream (Protobuf)', transport: 'http_stream', build: 'protobuf' },
  { name: 'sse (JSON)', transport: 'sse', build: 'json' },
];

function sdk(kit: Kit, v: Variant, opts: Partial<Options> = {}): Centrifuge {
  const transports = [{ transport: v.transport, endpoint: `${kit.url}/connection/${v.transport}` }];
  const options: Partial<Options> = {
    fetch,
    readableStream: ReadableStream,
    eventsource: EventSource,
    emulationEndpoint: `${kit.url}/emulation`,
    minReconnectDelay: 50,
    maxReconnectDelay: 200,
    timeout: 3000,
    ...opts,
  };
  if (v.build === 'protobuf') return new ProtobufCentrifuge(transports, options) as unknown as Centrifuge;
  return new Centrifuge(transports, options);
}

function dataOf(v: Variant, data: unknown): unknown {
  return v.build === 'protobuf' ? JSON.parse(Buffer.from(data as Uint8Array).toString()) : data;
}

describe('centrifuge SDK over bidirectional emulation', () => {
  let kit: Kit;
  before(async () => {
    kit = await startKit();
  });
  after(() => kit.close());

  for (const v of variants) {
    it(`${v.name}: connects, subscribes, receives, publishes, gets presence and a server disconnect`, async () => {
      const user = `sdk-${v.transport}-${v.build}`;
      const c = sdk(kit, v, { token: user });
      const disconnected = new Promise<{ code: number; reason: string }>((r) => c.once('disconnected', r));
      try {
        const connected = new Promise<{ transport: string }>((r) => c.once('connected', r));
        c.connect();
        const ctx = await connected;
        assert.equal(ctx.transport, v.transport);

        const channel = `room-${v.transport}-${v.build}`;
        const sub = c.newSubscription(channel);
        const pubs: PublicationContext[] = [];
        sub.on('publication', (p) => pubs.push(p));
        sub.subscribe();
        await sub.ready(3000);

        const payload = (x: unknown): Uint8Array => enc.encode(JSON.stringify(x));
        await kit.node.publish(channel, payload({ from: 'server' }));
        await waitFor(() => pubs.length >= 1, 3000, 'server publication');
        assert.deepEqual(dataOf(v, pubs[0]?.data), { from: 'server' });

        const data = v.build === 'protobuf' ? payload({ from: 'client' }) : { from: 'client' };
        await sub.publish(data);
        await waitFor(() => pubs.length >= 2, 3000, 'client publication');
        assert.deepEqual(dataOf(v, pubs[1]?.data), { from: 'client' });

        const presence = await sub.presence();
        assert.deepEqual(
          Object.values(presence.clients).map((i) => i.user),
          [user],
        );

        await kit.node.disconnect({ user }, { code: 4501, reason: 'go away' });
        const d = await disconnected;
        assert.deepEqual(d, { code: 4501, reason: 'go away' });
      } finally {
        c.disconnect();
      }
    });
  }

  it('http_stream: the SDK reconnects after a reconnect-code disconnect', async () => {
    const v = variants[0] as Variant;
    const c = sdk(kit, v, { token: 'sdk-reconnect' });
    try {
      let connects = 0;
      c.on('connected', () => connects++);
      c.connect();
      await waitFor(() => connects === 1, 3000, 'first connect');
      await kit.node.disconnect({ user: 'sdk-reconnect' }, { code: 3011, reason: 'force reconnect' });
      await waitFor(() => connects === 2, 5000, 'reconnect');
    } finally {
      c.disconnect();
    }
  });

  it('keeps sessions alive through protocol pings answered via /emulation', async () => {
    // Ping periods are whole seconds on the wire (the connect result's `ping`), so 1 s is the least.
    const k = await startKit({ client: { pingInterval: 1000, pongTimeout: 500 } });
    const clients = [variants[0], variants[2]].map((v) =>
      sdk(k, v as Variant, { token: `pinger-${v?.transport}` }),
    );
    try {
      const reconnects = [0, 0];
      await Promise.all(
        clients.map((c, i) => {
          c.on('connecting', () => (reconnects[i] = (reconnects[i] ?? 0) + 1));
          const connected = new Promise((r) => c.once('connected', r));
          c.connect();
          return connected;
        }),
      );
      const before = [...reconnects];
      // Several ping periods pass on purpose: a missing pong would close with 3012 meanwhile.
      await new Promise((r) => setTimeout(r, 2700));
      assert.deepEqual(reconnects, before, 'no reconnect: every ping got its pong');
      for (const c of clients) assert.equal(c.state, 'connected');
    } finally {
      for (const c of clients) c.disconnect();
      await k.close();
    }
  });
});
