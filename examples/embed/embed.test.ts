import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Centrifuge, type PublicationContext } from 'centrifuge';
import { Centrifuge as CentrifugeProtobuf } from 'centrifuge/build/protobuf';
import WebSocket from 'ws';
import { startEmbedServer, type EmbedServer } from './server.js';

const enc = (v: unknown): Uint8Array => Buffer.from(JSON.stringify(v));

void describe('embed example driven by the centrifuge SDK', () => {
  let server: EmbedServer;
  const clients: { disconnect(): void }[] = [];

  before(async () => {
    server = await startEmbedServer(0);
  });
  after(async () => {
    for (const c of clients) c.disconnect();
    await server.close();
  });

  const url = (user: string): string => `ws://127.0.0.1:${server.port}/connection/websocket?user=${user}`;

  void it('connects, subscribes, publishes and receives (JSON)', async () => {
    const alice = new Centrifuge(url('alice'), { websocket: WebSocket });
    clients.push(alice);
    const sub = alice.newSubscription('chat:room');
    const got: unknown[] = [];
    sub.on('publication', (ctx: PublicationContext) => got.push(ctx.data));
    sub.subscribe();
    alice.connect();
    await sub.ready(5000);

    await sub.publish({ text: 'hi from alice' });
    await server.node.publish('chat:room', enc({ text: 'from the app' }));
    const deadline = Date.now() + 5000;
    while (got.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(got, [{ text: 'hi from alice' }, { text: 'from the app' }]);

    const rpc = await alice.rpc('echo', { ping: 1 });
    assert.deepEqual(rpc.data, { ping: 1 });

    const presence = await sub.presenceStats();
    assert.equal(presence.numClients, 1);
  });

  void it('refuses channels outside chat:* with 103', async () => {
    const bob = new Centrifuge(url('bob'), { websocket: WebSocket });
    clients.push(bob);
    const sub = bob.newSubscription('secret');
    const unsubscribed = new Promise<{ code: number }>((resolve) => sub.on('unsubscribed', resolve));
    sub.subscribe();
    bob.connect();
    const ctx = await unsubscribed;
    assert.equal(ctx.code, 103);
  });

  void it('works over Protobuf and sees join of other users', async () => {
    const carol = new CentrifugeProtobuf(url('carol'), { websocket: WebSocket });
    clients.push(carol);
    const sub = carol.newSubscription('chat:pb', { joinLeave: true });
    const joins: string[] = [];
    const pubs: unknown[] = [];
    sub.on('join', (ctx) => joins.push(ctx.info.user));
    // The Protobuf SDK hands payloads over as bytes.
    sub.on('publication', (ctx) => pubs.push(JSON.parse(Buffer.from(ctx.data as Uint8Array).toString())));
    sub.subscribe();
    carol.connect();
    await sub.ready(5000);

    const dave = new Centrifuge(url('dave'), { websocket: WebSocket });
    clients.push(dave);
    const dsub = dave.newSubscription('chat:pb');
    dsub.subscribe();
    dave.connect();
    await dsub.ready(5000);
    await dsub.publish({ n: 1 });
    const deadline = Date.now() + 5000;
    while ((pubs.length < 1 || !joins.includes('dave')) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.ok(joins.includes('dave'));
    assert.deepEqual(pubs, [{ n: 1 }]);
  });

  void it('recovers missed publications after a reconnect', async () => {
    const erin = new Centrifuge(url('erin'), { websocket: WebSocket });
    clients.push(erin);
    const sub = erin.newSubscription('chat:recover', { recoverable: true, positioned: true });
    const got: number[] = [];
    const subscribed: { wasRecovering: boolean; recovered: boolean }[] = [];
    sub.on('publication', (ctx: PublicationContext) => got.push((ctx.data as { n: number }).n));
    sub.on('subscribed', (ctx) =>
      subscribed.push({ wasRecovering: ctx.wasRecovering, recovered: ctx.recovered }),
    );
    sub.subscribe();
    erin.connect();
    await sub.ready(5000);
    await sub.publish({ n: 1 });
    const wait = async (cond: () => boolean): Promise<void> => {
      const deadline = Date.now() + 5000;
      while (!cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    };
    await wait(() => got.length === 1);
    erin.disconnect();
    await server.node.publish('chat:recover', enc({ n: 2 }), { historySize: 100, historyTtl: 300_000 });
    await server.node.publish('chat:recover', enc({ n: 3 }), { historySize: 100, historyTtl: 300_000 });
    erin.connect();
    await wait(() => got.length === 3);
    assert.deepEqual(got, [1, 2, 3]);
    assert.deepEqual(subscribed.at(-1), { wasRecovering: true, recovered: true });
  });
});
