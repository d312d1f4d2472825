import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterEach, describe, it } from 'node:test';
import type { Broker, BrokerEventHandler, PublishOptions, PublishResult } from '../../src/core/broker.js';
import { ClientError } from '../../src/protocol/codes.js';
import type { ClientInfo, Publication, StreamPosition } from '../../src/protocol/types.js';

/** What a broker delivered to its node during a test. */
interface Recorded {
  pubs: {
    channel: string;
    pub: Publication;
    sp: StreamPosition;
    useDelta: boolean;
    prevPub: Publication | undefined;
  }[];
  joins: { channel: string; info: ClientInfo }[];
  leaves: { channel: string; info: ClientInfo }[];
}

const enc = (v: unknown): Uint8Array => Buffer.from(JSON.stringify(v));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function eventually(
  cond: () => Promise<boolean> | boolean,
  timeoutMs = 5000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

async function rejects112(p: Promise<unknown>): Promise<void> {
  await assert.rejects(p, (e: unknown) => e instanceof ClientError && e.code === 112);
}

/** What a broker implementation offers; the suite checks only the sentences that apply. */
export interface BrokerCapabilities {
  /**
   * Channel streams (history, offsets, epochs, idempotency, versions, delta's previous
   * publication). Default true. A broker without them is checked to reject history with 108.
   */
  history?: boolean;
}

/**
 * Checks the sentences of the `Broker` contract (src/core/broker.ts) against one implementation.
 * `factory` returns a fresh, not yet running broker; channels are unique per test so a shared
 * backend (Redis, PostgreSQL) needs no cleanup. TTL checks use real time with sub-second TTLs.
 */
export function describeBroker(
  name: string,
  factory: () => Promise<Broker> | Broker,
  capabilities: BrokerCapabilities = {},
): void {
  const withHistory = capabilities.history ?? true;
  /** Registers a sentence that needs channel streams. */
  const itHistory = (title: string, fn: () => Promise<void>): void => {
    if (withHistory) void it(title, fn);
  };
  void describe(`Broker conformance: ${name}`, () => {
    let broker: Broker | undefined;
    afterEach(async () => {
      await broker?.close();
      broker = undefined;
    });

    async function start(): Promise<{ b: Broker; rec: Recorded }> {
      const b = await factory();
      broker = b;
      const rec: Recorded = { pubs: [], joins: [], leaves: [] };
      const handler: BrokerEventHandler = {
        onPublication: (channel, pub, sp, useDelta, prevPub) =>
          rec.pubs.push({ channel, pub, sp, useDelta, prevPub }),
        onJoin: (channel, info) => rec.joins.push({ channel, info }),
        onLeave: (channel, info) => rec.leaves.push({ channel, info }),
      };
      await b.run(handler);
      return { b, rec };
    }

    const ch = (): string => `conf-${randomUUID()}`;
    const hist: PublishOptions = { historySize: 100, historyTtl: 60_000, historyMetaTtl: 600_000 };

    itHistory('offsets start at 1 and increase by one within a stable epoch', async () => {
      const { b } = await start();
      const c = ch();
      const results: PublishResult[] = [];
      for (let i = 0; i < 5; i++) results.push(await b.publish(c, enc({ i }), hist));
      assert.deepEqual(
        results.map((r) => r.offset),
        [1, 2, 3, 4, 5],
      );
      assert.ok(results[0]?.epoch);
      assert.ok(results.every((r) => r.epoch === results[0]?.epoch));
      const h = await b.history(c, { limit: -1 });
      assert.equal(h.offset, 5);
      assert.equal(h.epoch, results[0]?.epoch);
      assert.deepEqual(
        h.publications.map((p) => p.offset),
        [1, 2, 3, 4, 5],
      );
      assert.deepEqual(JSON.parse(Buffer.from(h.publications[2]?.data ?? []).toString()), { i: 2 });
    });

    void it('delivers each publication of a subscribed channel once, in stream order, with its position', async () => {
      const { b, rec } = await start();
      const c = ch();
      await b.subscribe([c]);
      const info: ClientInfo = { user: 'u', client: 'c1' };
      const opts = withHistory ? hist : {};
      for (let i = 0; i < 10; i++)
        await b.publish(c, enc({ i }), { ...opts, clientInfo: info, tags: { k: 'v' } });
      await eventually(() => rec.pubs.length >= 10, 5000, 'deliveries');
      await sleep(50);
      assert.equal(rec.pubs.length, 10);
      rec.pubs.forEach((d, i) => {
        assert.equal(d.channel, c);
        assert.deepEqual(JSON.parse(Buffer.from(d.pub.data).toString()), { i });
        assert.equal(d.pub.offset ?? 0, withHistory ? i + 1 : 0);
        assert.equal(d.sp.offset, withHistory ? i + 1 : 0);
        assert.deepEqual(d.pub.info, info);
        assert.deepEqual(d.pub.tags, { k: 'v' });
      });
    });

    void it('does not deliver unsubscribed channels (but still appends to their stream)', async () => {
      const { b, rec } = await start();
      const c = ch();
      await b.subscribe([c]);
      await b.unsubscribe([c]);
      await b.publish(c, enc({}), withHistory ? hist : {});
      await sleep(100);
      assert.equal(rec.pubs.length, 0);
      if (withHistory) assert.equal((await b.history(c, { limit: -1 })).publications.length, 1);
    });

    void it('publishes without history: offset 0, delivered, nothing kept', async () => {
      const { b, rec } = await start();
      const c = ch();
      await b.subscribe([c]);
      const r = await b.publish(c, enc({ x: 1 }), {});
      assert.equal(r.offset, 0);
      await eventually(() => rec.pubs.length === 1);
      assert.equal(rec.pubs[0]?.pub.offset ?? 0, 0);
    });

    itHistory('keeps only the newest historySize publications', async () => {
      const { b } = await start();
      const c = ch();
      for (let i = 0; i < 5; i++) await b.publish(c, enc({ i }), { ...hist, historySize: 3 });
      const h = await b.history(c, { limit: -1 });
      assert.equal(h.offset, 5);
      assert.deepEqual(
        h.publications.map((p) => p.offset),
        [3, 4, 5],
      );
    });

    itHistory('expires publications historyTtl after the last one, keeping the position', async () => {
      const { b } = await start();
      const c = ch();
      const r = await b.publish(c, enc({}), { ...hist, historyTtl: 300 });
      await eventually(
        async () => (await b.history(c, { limit: -1 })).publications.length === 0,
        5000,
        'ttl',
      );
      const h = await b.history(c, { limit: -1 });
      assert.equal(h.epoch, r.epoch);
      assert.equal(h.offset, 1);
    });

    itHistory('starts a new epoch at offset 1 once the meta expired', async () => {
      const { b } = await start();
      const c = ch();
      const first = await b.publish(c, enc({}), { historySize: 10, historyTtl: 300, historyMetaTtl: 500 });
      await sleep(1200);
      const next = await b.publish(c, enc({}), { historySize: 10, historyTtl: 300, historyMetaTtl: 500 });
      assert.notEqual(next.epoch, first.epoch);
      assert.equal(next.offset, 1);
    });

    itHistory('removeHistory drops publications and keeps the stream position', async () => {
      const { b } = await start();
      const c = ch();
      await b.publish(c, enc({}), hist);
      const r = await b.publish(c, enc({}), hist);
      await b.removeHistory(c);
      const h = await b.history(c, { limit: -1 });
      assert.deepEqual(h.publications, []);
      assert.equal(h.epoch, r.epoch);
      assert.equal(h.offset, 2);
    });

    itHistory('suppresses a repeated idempotency key and returns the first result', async () => {
      const { b, rec } = await start();
      const c = ch();
      await b.subscribe([c]);
      const opts = { ...hist, idempotencyKey: 'k1', idempotentResultTtl: 60_000 };
      const first = await b.publish(c, enc({ a: 1 }), opts);
      const second = await b.publish(c, enc({ a: 2 }), opts);
      assert.equal(first.suppressed ?? false, false);
      assert.equal(second.suppressed, true);
      assert.equal(second.offset, first.offset);
      assert.equal(second.epoch, first.epoch);
      await sleep(100);
      assert.equal(rec.pubs.length, 1);
      assert.equal((await b.history(c, { limit: -1 })).publications.length, 1);
    });

    itHistory('drops publications whose version is not newer within the same versionEpoch', async () => {
      const { b } = await start();
      const c = ch();
      await b.publish(c, enc({}), { ...hist, version: 2, versionEpoch: 'e1' });
      const stale = await b.publish(c, enc({}), { ...hist, version: 1, versionEpoch: 'e1' });
      const same = await b.publish(c, enc({}), { ...hist, version: 2, versionEpoch: 'e1' });
      const newEpoch = await b.publish(c, enc({}), { ...hist, version: 1, versionEpoch: 'e2' });
      assert.equal(stale.suppressed, true);
      assert.equal(same.suppressed, true);
      assert.equal(newEpoch.suppressed ?? false, false);
      assert.equal((await b.history(c, { limit: -1 })).publications.length, 2);
    });

    itHistory('reads history with limit, reverse and since (offset exclusive)', async () => {
      const { b } = await start();
      const c = ch();
      let epoch = '';
      for (let i = 1; i <= 6; i++) epoch = (await b.publish(c, enc({ i }), hist)).epoch;
      const offsets = (ps: Publication[]): number[] => ps.map((p) => p.offset ?? 0);
      assert.deepEqual(offsets((await b.history(c, { limit: 0 })).publications), []);
      assert.deepEqual(offsets((await b.history(c, { limit: 2 })).publications), [1, 2]);
      assert.deepEqual(offsets((await b.history(c, { limit: 2, reverse: true })).publications), [6, 5]);
      assert.deepEqual(
        offsets((await b.history(c, { limit: -1, since: { offset: 4, epoch } })).publications),
        [5, 6],
      );
      assert.deepEqual(
        offsets((await b.history(c, { limit: 1, since: { offset: 2, epoch } })).publications),
        [3],
      );
      assert.deepEqual(
        offsets((await b.history(c, { limit: -1, since: { offset: 6, epoch } })).publications),
        [],
      );
      assert.deepEqual(
        offsets((await b.history(c, { limit: 2, reverse: true, since: { offset: 4, epoch } })).publications),
        [3, 2],
      );
    });

    itHistory('rejects history since a position of another epoch or beyond the stream with 112', async () => {
      const { b } = await start();
      const c = ch();
      const r = await b.publish(c, enc({}), hist);
      await rejects112(b.history(c, { limit: -1, since: { offset: 0, epoch: `${r.epoch}x` } }));
      await rejects112(b.history(c, { limit: -1, since: { offset: 5, epoch: r.epoch } }));
    });

    itHistory('rejects history since a position no longer retained with 112', async () => {
      const { b } = await start();
      const c = ch();
      let epoch = '';
      for (let i = 0; i < 5; i++) epoch = (await b.publish(c, enc({}), { ...hist, historySize: 2 })).epoch;
      await rejects112(b.history(c, { limit: -1, since: { offset: 1, epoch } }));
    });

    if (!withHistory) {
      void it('rejects history reads, history removal and publishes with history with 108', async () => {
        const { b } = await start();
        const c = ch();
        const is108 = (e: unknown): boolean => e instanceof ClientError && e.code === 108;
        await assert.rejects(b.history(c, { limit: -1 }), is108);
        await assert.rejects(b.history(c, { limit: 0 }), is108);
        await assert.rejects(b.removeHistory(c), is108);
        await assert.rejects(b.publish(c, enc({}), hist), is108);
      });
    }

    void it('delivers join and leave of subscribed channels', async () => {
      const { b, rec } = await start();
      const c = ch();
      await b.subscribe([c]);
      const info: ClientInfo = { user: 'u', client: 'c1' };
      await b.publishJoin(c, info);
      await b.publishLeave(c, info);
      await eventually(() => rec.joins.length === 1 && rec.leaves.length === 1);
      assert.deepEqual(rec.joins[0], { channel: c, info });
      assert.deepEqual(rec.leaves[0], { channel: c, info });
    });

    itHistory('delivers the previous stream publication with a useDelta publication', async () => {
      const { b, rec } = await start();
      const c = ch();
      await b.subscribe([c]);
      await b.publish(c, enc({ n: 1 }), { ...hist, useDelta: true });
      await b.publish(c, enc({ n: 2 }), { ...hist, useDelta: true });
      await b.publish(c, enc({ n: 3 }), hist);
      await eventually(() => rec.pubs.length === 3);
      const [p1, p2, p3] = rec.pubs;
      assert.equal(p1?.useDelta, true);
      assert.equal(p1?.prevPub, undefined, 'first publication of a stream has no previous one');
      assert.equal(p2?.useDelta, true);
      assert.equal(p2?.prevPub?.offset, 1);
      assert.deepEqual(Buffer.from(p2?.prevPub?.data ?? []), Buffer.from(enc({ n: 1 })));
      assert.equal(p3?.useDelta, false);
    });

    itHistory('a history read sees every retained offset below the top it reports', async () => {
      const { b } = await start();
      const c = ch();
      const writes: Promise<PublishResult>[] = [];
      for (let i = 0; i < 50; i++) writes.push(b.publish(c, enc({ i }), hist));
      for (let i = 0; i < 10; i++) {
        const h = await b.history(c, { limit: -1 });
        const offsets = h.publications.map((p) => p.offset);
        const expected = Array.from({ length: h.offset }, (_, k) => k + 1);
        assert.deepEqual(offsets, expected);
      }
      await Promise.all(writes);
    });

    itHistory('keeps the stream meta alive while reads touch it within historyMetaTtl', async () => {
      const { b } = await start();
      const c = ch();
      const opts = { historySize: 10, historyTtl: 300, historyMetaTtl: 700 };
      const first = await b.publish(c, enc({}), opts);
      for (let i = 0; i < 4; i++) {
        await sleep(300);
        const h = await b.history(c, { limit: 0, metaTtl: 700 });
        assert.equal(h.epoch, first.epoch);
      }
      const next = await b.publish(c, enc({}), opts);
      assert.equal(next.epoch, first.epoch);
      assert.equal(next.offset, 2);
    });
  });
}
