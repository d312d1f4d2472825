import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { connectFake, waitFor } from '../../test/helpers/fake-transport.js';
import { connected, started } from '../../test/helpers/core-nodes.js';
import type { NodeHandlers } from './handlers.js';
import { TimerWheel, type TimerTask } from './timers.js';

const user: NodeHandlers = { onConnecting: async () => ({ credentials: { userId: 'u' } }) };

void describe('TimerWheel', () => {
  void it('runs tasks in time order, skips cancelled ones, and is unref-safe', async () => {
    const wheel = new TimerWheel(5);
    const ran: string[] = [];
    wheel.schedule(30, () => ran.push('b'));
    wheel.schedule(5, () => ran.push('a'));
    const c = wheel.schedule(10, () => ran.push('cancelled'));
    c.cancel();
    await waitFor(() => ran.length === 2);
    assert.deepEqual(ran, ['a', 'b']);
    assert.equal(wheel.pending, 0);
    wheel.clear();
  });

  void it('scheduleCall and scheduleCallAt run fn(arg) at their tick; cancel stops them', () => {
    const wheel = new TimerWheel(100);
    const start = Date.now();
    const ran: string[] = [];
    const run = (name: string): void => {
      ran.push(name);
    };
    wheel.scheduleCall(450, run, 'late');
    wheel.scheduleCallAt(start + 150, run, 'at');
    wheel.scheduleCall(120, run, 'cancelled').cancel();
    const first = wheel.scheduleCall(0, run, 'first');
    assert.equal(wheel.pending, 3, 'a cancelled task leaves at once');
    wheel.advance(start + 300);
    assert.deepEqual(ran, ['first', 'at']);
    first.cancel(); // already ran: cancelling afterwards is harmless
    wheel.advance(start + 600);
    assert.deepEqual(ran, ['first', 'at', 'late']);
    assert.equal(wheel.pending, 0);
    wheel.clear();
  });

  void it('a task scheduled for a past time runs on the next tick; a throwing task does not stop the others', () => {
    const wheel = new TimerWheel(100);
    const start = Date.now();
    const ran: string[] = [];
    wheel.scheduleAt(start - 10_000, () => {
      throw new Error('boom');
    });
    wheel.scheduleAt(start - 5_000, () => ran.push('past'));
    wheel.advance(start + 100);
    assert.deepEqual(ran, ['past']);
    assert.equal(wheel.pending, 0);
    wheel.clear();
  });
});

/** A 100 ms wheel, its start time, and a task function recording its argument in `ran`. */
function recorder<T>(): { wheel: TimerWheel; start: number; ran: T[]; run: (v: T) => void } {
  const ran: T[] = [];
  return {
    wheel: new TimerWheel(100),
    start: Date.now(),
    ran,
    run: (v: T): void => {
      ran.push(v);
    },
  };
}

void describe('TimerWheel task lists', () => {
  void it('runs the tasks of one tick in the order they were scheduled', () => {
    const { wheel, start, ran, run } = recorder<number>();
    for (let i = 0; i < 6; i++) wheel.scheduleCallAt(start + 150, run, i);
    wheel.advance(start + 300);
    assert.deepEqual(ran, [0, 1, 2, 3, 4, 5]);
    wheel.clear();
  });

  void it('cancelling a task at the head, middle or tail of a tick leaves the rest to run', () => {
    const { wheel, start, ran, run } = recorder<number>();
    const tasks = [0, 1, 2, 3, 4].map((i) => wheel.scheduleCallAt(start + 150, run, i));
    tasks[0]?.cancel();
    tasks[2]?.cancel();
    tasks[4]?.cancel();
    tasks[2]?.cancel(); // twice is harmless
    assert.equal(wheel.pending, 2);
    wheel.advance(start + 300);
    assert.deepEqual(ran, [1, 3]);
    assert.equal(wheel.pending, 0);
    wheel.clear();
  });

  void it('re-arms a task passed as reuse: the same object, at the new time only', () => {
    const { wheel, start, ran, run } = recorder<string>();
    const t = wheel.scheduleCallAt(start + 150, run, 'old');
    const again = wheel.scheduleCallAt(start + 450, run, 'new', t);
    assert.equal(again, t, 'the task passed in is re-armed');
    assert.equal(wheel.pending, 1);
    wheel.advance(start + 300);
    assert.deepEqual(ran, [], 'the old time no longer fires');
    wheel.advance(start + 600);
    assert.deepEqual(ran, ['new']);
    // After running, the same task can be armed again.
    assert.equal(wheel.scheduleCallAt(start + 750, run, 'third', t), t);
    wheel.advance(start + 900);
    assert.deepEqual(ran, ['new', 'third']);
    // A task of another wheel is not taken over.
    const other = new TimerWheel(100);
    assert.notEqual(other.scheduleCallAt(start + 150, run, 'x', t), t);
    assert.equal(wheel.pending, 0);
    other.clear();
    wheel.clear();
  });

  void it('a running task may cancel or re-arm later tasks of its own tick', () => {
    const { wheel, start, ran, run } = recorder<string>();
    const tasks: Record<string, TimerTask> = {};
    tasks.a = wheel.scheduleCallAt(
      start + 150,
      () => {
        ran.push('a');
        tasks.b?.cancel();
        wheel.scheduleCallAt(start + 450, run, 'c later', tasks.c);
      },
      undefined,
    );
    tasks.b = wheel.scheduleCallAt(start + 150, run, 'b');
    tasks.c = wheel.scheduleCallAt(start + 150, run, 'c');
    tasks.d = wheel.scheduleCallAt(start + 150, run, 'd');
    wheel.scheduleCallAt(start + 450, run, 'e');
    wheel.advance(start + 300);
    assert.deepEqual(ran, ['a', 'd']);
    assert.equal(wheel.pending, 2);
    wheel.advance(start + 600);
    assert.deepEqual(ran, ['a', 'd', 'e', 'c later'], 'c was re-armed after e was scheduled');
    assert.equal(wheel.pending, 0);
    wheel.clear();
  });

  void it('tasks dropped by clear() can be cancelled or reused without touching new ones', () => {
    const { wheel, start, ran, run } = recorder<string>();
    const stale = wheel.scheduleCallAt(start + 150, run, 'stale');
    wheel.clear();
    assert.equal(wheel.pending, 0);
    wheel.scheduleCallAt(start + 150, run, 'fresh');
    stale.cancel();
    assert.equal(wheel.pending, 1);
    wheel.advance(start + 300);
    assert.deepEqual(ran, ['fresh']);
    wheel.clear();
  });
});

void describe('connection timers', () => {
  void it('pings and disconnects with 3012 when no pong arrives', async () => {
    const node = await started(user, { client: { pingInterval: 60, pongTimeout: 40 } });
    const t = await connected(node);
    await waitFor(() => t.messages.some((m) => Object.keys(m).length === 0), 2000, 'ping');
    await waitFor(() => t.closed !== undefined, 2000, 'close');
    assert.deepEqual(t.closed, { code: 3012, reason: 'no pong' });
  });

  void it('keeps a connection that answers pings', async () => {
    const node = await started(user, { client: { pingInterval: 60, pongTimeout: 40 } });
    const t = await connected(node);
    let pongs = 0;
    const seen = new Set<number>();
    await waitFor(
      () => {
        t.messages.forEach((m, i) => {
          if (Object.keys(m).length === 0 && !seen.has(i)) {
            seen.add(i);
            t.send({});
            pongs++;
          }
        });
        return pongs >= 3;
      },
      3000,
      'three pings',
    );
    assert.equal(t.closed, undefined);
  });

  void it('closes with 3502 when no connect arrives in time', async () => {
    const node = await started(user, { client: { staleCloseDelay: 30 } });
    const t = connectFake(node);
    await waitFor(() => t.closed !== undefined);
    assert.equal(t.closed?.code, 3502);
  });

  void it('closes with 3005 after expiry plus the grace delay unless refreshed', async () => {
    const expireAt = Math.floor(Date.now() / 1000) + 1;
    const node = await started(
      { onConnecting: async () => ({ credentials: { userId: 'u', expireAt } }) },
      { client: { expiredCloseDelay: 10 } },
    );
    const t = await connected(node);
    assert.equal(t.reply(1)?.connect.expires, true);
    await waitFor(() => t.closed !== undefined, 3000);
    assert.equal(t.closed?.code, 3005);
  });

  void it('expires a client-side subscription with unsubscribe 2501 and a server-side one with 3006', async () => {
    const expireAt = Math.floor(Date.now() / 1000) + 1;
    const node = await started(
      {
        onConnecting: async () => ({ credentials: { userId: 'u' } }),
        onSubscribe: async () => ({ options: { expireAt } }),
      },
      { client: { expiredSubCloseDelay: 10 } },
    );
    const t = await connected(node);
    t.send({ id: 2, subscribe: { channel: 's' } });
    await waitFor(() => t.reply(2) !== undefined);
    assert.equal(t.reply(2)?.subscribe.expires, true);
    await node.subscribe({ user: 'u' }, 'server', { expireAt });
    await waitFor(() => t.closed !== undefined, 3000);
    assert.deepEqual(
      t.pushes().find((p) => p.unsubscribe),
      { channel: 's', unsubscribe: { code: 2501, reason: 'subscription expired' } },
    );
    assert.equal(t.closed?.code, 3006);
  });

  void it('refreshes presence entries periodically', async () => {
    let adds = 0;
    const node = await started(
      { ...user, onSubscribe: async () => ({ options: { emitPresence: true } }) },
      { client: { presenceUpdateInterval: 20 } },
    );
    const orig = node.presenceManager.add.bind(node.presenceManager);
    node.presenceManager.add = async (...args) => {
      adds++;
      return orig(...args);
    };
    const t = await connected(node);
    t.send({ id: 2, subscribe: { channel: 'p' } });
    await waitFor(() => adds >= 3, 2000, 'presence refreshes');
    assert.equal((await node.presenceStats('p')).numClients, 1);
  });

  void it('refreshes presence only while a subscription with presence exists', async () => {
    let adds = 0;
    const node = await started(
      {
        ...user,
        onSubscribe: async (_c, e) => ({ options: { emitPresence: e.channel === 'p' } }),
      },
      { client: { presenceUpdateInterval: 20 } },
    );
    const orig = node.presenceManager.add.bind(node.presenceManager);
    node.presenceManager.add = async (...args) => {
      adds++;
      return orig(...args);
    };
    const t = await connected(node);
    t.send({ id: 2, subscribe: { channel: 'plain' } });
    await waitFor(() => t.reply(2) !== undefined);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(adds, 0, 'no presence subscription: no presence entry to refresh');
    t.send({ id: 3, subscribe: { channel: 'p' } });
    await waitFor(() => adds >= 3, 2000, 'presence refreshes');
    t.send({ id: 4, unsubscribe: { channel: 'p' } });
    await waitFor(() => t.reply(4) !== undefined);
    await new Promise((r) => setTimeout(r, 60));
    const after = adds;
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(adds, after, 'refreshes stop with the subscription');
    assert.equal((await node.presenceStats('p')).numClients, 0);
  });

  void it('shutdown disconnects every client with 3001', async () => {
    const node = await started(user);
    const t = await connected(node);
    const pending = connectFake(node);
    await node.shutdown();
    assert.equal(t.closed?.code, 3001);
    assert.equal(pending.closed?.code, 3001);
  });
});
