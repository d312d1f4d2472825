import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { connected, started } from '../../../test/helpers/core-nodes.js';
import { waitFor, type FakeTransport, type Msg } from '../../../test/helpers/fake-transport.js';
import { sharedDerived } from '../encoded.js';
import type { NodeHandlers } from '../handlers.js';
import { sdkDecoder } from '../../../test/helpers/sdk-delta.js';

const enc = (v: unknown): Uint8Array => Buffer.from(JSON.stringify(v));
const history = { historySize: 10, historyTtl: 60_000, useDelta: true };

const handlers: NodeHandlers = {
  onConnecting: async () => ({ credentials: { userId: 'u' } }),
  onSubscribe: async () => ({ options: { enableRecovery: true, allowedDeltaTypes: ['fossil'] } }),
};

const doc = (n: number): Record<string, unknown> => ({
  n,
  rows: Array.from({ length: 30 }, (_, i) => ({ i, label: `row ${i}`, hot: i === n })),
});

async function subscribeDelta(t: FakeTransport, channel: string): Promise<void> {
  t.send({ id: 2, subscribe: { channel, recoverable: true, delta: 'fossil' } });
  await waitFor(() => t.reply(2) !== undefined, 2000, 'subscribe reply');
  assert.equal(t.reply(2)?.subscribe?.delta, true);
}

/** The publication pushes a fake connection got, with the exact bytes written for each. */
function publications(t: FakeTransport): { bytes: Uint8Array; pub: Msg }[] {
  const raw = t.frames.flat();
  assert.equal(raw.length, t.messages.length);
  const out: { bytes: Uint8Array; pub: Msg }[] = [];
  t.messages.forEach((m, i) => {
    if (m.push?.pub !== undefined) out.push({ bytes: raw[i] as Uint8Array, pub: m.push.pub as Msg });
  });
  return out;
}

void describe('delta publications fan out as shared bytes', () => {
  void it('every delta subscriber at the same position gets the same shared bytes; a late one the full data', async () => {
    const node = await started(handlers);
    const early = await Promise.all([1, 2, 3, 4].map(() => connected(node)));
    for (const t of early) await subscribeDelta(t, 'doc');
    for (let n = 1; n <= 2; n++) await node.publish('doc', enc(doc(n)), history);
    await waitFor(() => early.every((t) => publications(t).length === 2), 2000, 'first publications');

    // Joins after publication 2 without recovery: it does not hold publication 2 as a base.
    const late = await connected(node);
    await subscribeDelta(late, 'doc');
    for (let n = 3; n <= 5; n++) await node.publish('doc', enc(doc(n)), history);
    await waitFor(
      () => early.every((t) => publications(t).length === 5) && publications(late).length === 3,
      2000,
      'all publications',
    );

    const got = early.map(publications);
    for (let i = 0; i < 5; i++) {
      const first = got[0]?.[i]?.bytes as Uint8Array;
      for (const g of got) assert.equal(g[i]?.bytes, first, `publication ${i + 1}: one bytes object for all`);
      assert.ok(sharedDerived(first) !== undefined, `publication ${i + 1}: marked shared for the transports`);
    }
    assert.deepEqual(
      got[0]?.map((p) => p.pub.delta === true),
      [false, true, true, true, true],
      'first full, then deltas',
    );
    for (const g of got) {
      const decode = sdkDecoder();
      assert.deepEqual(
        g.map((p) => decode(p.pub).value),
        [1, 2, 3, 4, 5].map(doc),
      );
    }

    // The late subscriber gets publication 3 in full (also shared), then the same deltas.
    const lateGot = publications(late);
    assert.deepEqual(
      lateGot.map((p) => p.pub.delta === true),
      [false, true, true],
    );
    assert.notEqual(lateGot[0]?.bytes, got[0]?.[2]?.bytes, 'full payload, not the delta');
    assert.ok(sharedDerived(lateGot[0]?.bytes as Uint8Array) !== undefined);
    assert.equal(lateGot[1]?.bytes, got[0]?.[3]?.bytes);
    assert.equal(lateGot[2]?.bytes, got[0]?.[4]?.bytes);
    const decode = sdkDecoder();
    assert.deepEqual(
      lateGot.map((p) => decode(p.pub).value),
      [3, 4, 5].map(doc),
    );
  });
});
