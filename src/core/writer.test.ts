import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { connectFake, waitFor, type FakeTransport } from '../../test/helpers/fake-transport.js';
import type { Codec } from '../protocol/codec.js';
import { codecFor } from '../protocol/index.js';
import type { ProtocolType } from '../protocol/types.js';
import type { NodeHandlers } from './handlers.js';
import { Node, type NodeOptions } from './node.js';
import type { Transport } from './transport.js';
import { Writer, type WriterOwner } from './writer.js';

const quietOwner: WriterOwner = { writerOverflow: () => {}, writerFailed: () => {} };

const nodes: Node[] = [];
const enc = (v: unknown): Uint8Array => Buffer.from(JSON.stringify(v));
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

const handlers: NodeHandlers = {
  onConnecting: async () => ({ credentials: { userId: 'u' } }),
  onSubscribe: async () => ({ options: {} }),
};

async function started(opts: NodeOptions = {}): Promise<Node> {
  const node = new Node({ handlers, timerResolution: 10, ...opts });
  nodes.push(node);
  await node.run();
  return node;
}

async function subscribed(node: Node, channel: string): Promise<FakeTransport> {
  const t = connectFake(node);
  t.send({ id: 1, connect: {} }, { id: 2, subscribe: { channel } });
  await waitFor(() => t.reply(2) !== undefined);
  return t;
}

afterEach(async () => {
  for (const n of nodes.splice(0)) await n.shutdown();
});

function recorder(): Transport & { writes: (readonly Uint8Array[])[] } {
  const writes: (readonly Uint8Array[])[] = [];
  return {
    name: 'test',
    protocol: 'json',
    unidirectional: false,
    emulation: false,
    protocolPing: true,
    writes,
    write: (m) => void writes.push(m),
    close: () => {},
  };
}

void describe('Writer', () => {
  void it('coalesces messages queued in one tick into one write', async () => {
    const t = recorder();
    const w = new Writer(t, { writeDelay: 0, maxMessagesInFrame: 0, queueMaxSize: 0 }, quietOwner);
    for (let i = 0; i < 5; i++) w.enqueue(enc(i));
    assert.equal(t.writes.length, 0);
    await tick();
    assert.equal(t.writes.length, 1);
    assert.equal(t.writes[0]?.length, 5);
  });

  void it('splits flushes by maxMessagesInFrame and waits writeDelay', async () => {
    const t = recorder();
    const w = new Writer(t, { writeDelay: 100, maxMessagesInFrame: 2, queueMaxSize: 0 }, quietOwner);
    const queuedAt = Date.now();
    for (let i = 0; i < 5; i++) w.enqueue(enc(i));
    await waitFor(() => t.writes.length > 0);
    assert.ok(Date.now() - queuedAt >= 95, 'flushed after the write delay');
    assert.deepEqual(
      t.writes.map((m) => m.length),
      [2, 2, 1],
    );
  });

  void it('flushes writers sharing one write delay each a full delay after their first message', async () => {
    const t0 = Date.now();
    const timed = () => {
      const t = recorder();
      const at: number[] = [];
      t.write = (m) => {
        at.push(Date.now() - t0);
        t.writes.push(m);
      };
      return { t, at };
    };
    const a = timed();
    const b = timed();
    const opts = { writeDelay: 120, maxMessagesInFrame: 0, queueMaxSize: 0 };
    const wa = new Writer(a.t, opts, quietOwner);
    const wb = new Writer(b.t, opts, quietOwner);
    wa.enqueue(enc(1));
    await new Promise((r) => setTimeout(r, 60));
    const bQueuedAt = Date.now() - t0;
    wb.enqueue(enc(2));
    wa.enqueue(enc(3));
    await waitFor(() => b.at.length === 1);
    assert.equal(a.at.length, 1);
    assert.ok((a.at[0] as number) >= 115, `a flushed at ${a.at[0]} ms`);
    assert.ok((b.at[0] as number) >= bQueuedAt + 115, `b queued at ${bQueuedAt}, flushed at ${b.at[0]} ms`);
    assert.deepEqual([a.t.writes[0]?.length, b.t.writes[0]?.length], [2, 1]);
  });

  void it('paces the next flush after a long pass over many sockets, and not after a short one', async () => {
    const opts = { writeDelay: 0, maxMessagesInFrame: 0, queueMaxSize: 0 };
    // 100 sockets whose writes cost 0.2 ms each: a 20 ms pass, as 2,000 real socket writes would be.
    // The pass ends with its last write: taken there, not when waitFor's 5 ms polling notices it.
    let passEnd = 0;
    const slow = Array.from({ length: 100 }, () => {
      const t = recorder();
      t.write = (m) => {
        const until = performance.now() + 0.2;
        while (performance.now() < until);
        t.writes.push(m);
        passEnd = performance.now();
      };
      return { t, w: new Writer(t, opts, quietOwner) };
    });
    for (const s of slow) s.w.enqueue(enc('broadcast'));
    await tick();
    // The pass runs in slices of about 1 ms, so one turn of the event loop sees its first slice.
    assert.equal(slow[0]?.t.writes.length, 1, 'the first pass is not delayed');
    await waitFor(() => slow.every((s) => s.t.writes.length === 1));
    const next = recorder();
    const writtenAt: number[] = [];
    next.write = (m) => {
      writtenAt.push(performance.now());
      next.writes.push(m);
    };
    const w = new Writer(next, opts, quietOwner);
    w.enqueue(enc(1));
    await tick();
    assert.equal(next.writes.length, 0, 'a message right after a long pass waits for the next one');
    w.enqueue(enc(2));
    await waitFor(() => next.writes.length > 0);
    assert.deepEqual(
      next.writes.map((m) => m.length),
      [2],
      'what arrived meanwhile left in one write',
    );
    const waited = (writtenAt[0] as number) - passEnd;
    assert.ok(
      waited >= 5 && waited < 100,
      `flushed ${waited.toFixed(1)} ms after the pass (gap at most 10 ms)`,
    );
    // That pass was one writer: the next message goes out on the next tick again.
    w.enqueue(enc(3));
    await tick();
    assert.equal(next.writes.length, 2);
  });

  /**
   * 40 writers whose writes each take `costMs`. The first write queues a callback for the event
   * loop's next turn, as an incoming publication would be: it sends 'second' to every writer.
   */
  function passWithArrival(costMs: number, writeDelay = 0): { shapes: () => string[]; done: () => boolean } {
    const opts = { writeDelay, maxMessagesInFrame: 0, queueMaxSize: 0 };
    let hooked = false;
    const socks = Array.from({ length: 40 }, () => {
      const t = recorder();
      t.write = (m) => {
        if (!hooked) {
          hooked = true;
          setImmediate(() => {
            for (const s of socks) s.w.enqueue(enc('second'));
          });
        }
        const until = performance.now() + costMs;
        while (performance.now() < until);
        t.writes.push(m);
      };
      return { t, w: new Writer(t, opts, quietOwner) };
    });
    for (const s of socks) s.w.enqueue(enc('first'));
    return {
      shapes: () => socks.map((s) => s.t.writes.map((m) => m.length).join('+')),
      done: () => socks.every((s) => s.t.writes.flat().length === 2),
    };
  }

  for (const [writeDelay, what] of [
    [0, 'a long pass'],
    [30, 'a long pass over writers due together after a write delay'],
  ] as const) {
    void it(`yields to the event loop within ${what}; what arrives meanwhile joins writers not yet visited`, async () => {
      // Writes of 0.25 ms each: a 10 ms pass, written in slices of about 1 ms.
      const run = passWithArrival(0.25, writeDelay);
      await waitFor(run.done);
      const shapes = run.shapes();
      // Visited before the yield: 'first' alone, 'second' later. After it: one write of both.
      const split = shapes.indexOf('2');
      assert.ok(
        split > 0 && split < 20,
        `the pass yielded after ${split} of 40 writes (${shapes.join(' ')})`,
      );
      assert.ok(
        shapes.every((sh, i) => sh === (i < split ? '1+1' : '2')),
        `every writer after the yield got both in one write: ${shapes.join(' ')}`,
      );
    });
  }

  void it('writes a short pass without yielding', async () => {
    const run = passWithArrival(0);
    await waitFor(run.done);
    assert.ok(
      run.shapes().every((sh) => sh === '1+1'),
      run.shapes().join(' '),
    );
  });

  void it('tells its owner about overflow past queueMaxSize', () => {
    const t = recorder();
    let slow = 0;
    const w = new Writer(
      t,
      { writeDelay: 0, maxMessagesInFrame: 0, queueMaxSize: 10 },
      {
        writerOverflow: () => void slow++,
        writerFailed: () => {},
      },
    );
    assert.equal(w.enqueue(new Uint8Array(8)), true);
    assert.equal(w.enqueue(new Uint8Array(8)), false);
    assert.equal(slow, 1);
  });

  void it('disconnects a slow client with 3008', async () => {
    const node = await started({ client: { queueMaxSize: 200 } });
    const t = await subscribed(node, 'c');
    for (let i = 0; i < 10; i++) await node.publish('c', enc({ payload: 'x'.repeat(40) }));
    assert.equal(t.closed?.code, 3008);
  });

  void it('disconnects with 3009 when the transport refuses a write', async () => {
    const node = await started({});
    const t = await subscribed(node, 'c');
    t.write = () => {
      throw new Error('socket gone');
    };
    await node.publish('c', enc({ n: 1 }));
    await waitFor(() => t.closed !== undefined);
    assert.deepEqual(t.closed, { code: 3009, reason: 'write error' });
    assert.equal(node.hub.numClients, 0);
  });
});

void describe('broadcast', () => {
  void it('encodes a publication once for all subscribers and shares the bytes', async () => {
    let encodes = 0;
    const counting = (type: ProtocolType): Codec => {
      const base = codecFor(type);
      return {
        ...base,
        type: base.type,
        decodeCommands: (f) => base.decodeCommands(f),
        encodeReply: (r) => {
          if (r.push?.pub) encodes++;
          return base.encodeReply(r);
        },
        encodePush: (p) => base.encodePush(p),
        joinFrame: (m) => base.joinFrame(m),
        decodeConnectRequest: (d) => base.decodeConnectRequest(d),
      };
    };
    const node = await started({ codecFor: counting });
    const subs = await Promise.all(Array.from({ length: 20 }, () => subscribed(node, 'b')));
    await node.publish('b', enc({ hello: 'all' }));
    await waitFor(() => subs.every((t) => t.pushes().length === 1));
    assert.equal(encodes, 1);
    const first = subs[0]?.frames.at(-1)?.[0];
    for (const t of subs) assert.equal(t.frames.at(-1)?.[0], first, 'same Buffer instance');
  });

  void it('sends several pushes of one tick to a client in one write', async () => {
    const node = await started();
    const t = await subscribed(node, 'b');
    const before = t.frames.length;
    for (let i = 0; i < 5; i++) void node.publish('b', enc({ i }));
    await waitFor(() => t.pushes().length === 5);
    assert.equal(t.frames.length, before + 1);
  });
});
