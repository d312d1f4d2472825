import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterEach, describe, it } from 'node:test';
import type { PresenceManager } from '../../src/core/presence.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Checks the `PresenceManager` contract (src/core/presence.ts). `factory({ ttl })` returns a fresh
 * manager whose entries live `ttl` ms without refresh (rounded up as the backend needs).
 */
export function describePresenceManager(
  name: string,
  factory: (opts: { ttl: number }) => Promise<PresenceManager> | PresenceManager,
): void {
  void describe(`PresenceManager conformance: ${name}`, () => {
    let pm: PresenceManager | undefined;
    afterEach(async () => {
      await pm?.close();
      pm = undefined;
    });
    const ch = (): string => `pres-${randomUUID()}`;

    void it('adds, lists by client id, and removes at once', async () => {
      pm = await factory({ ttl: 60_000 });
      const c = ch();
      await pm.add(c, 'c1', { user: 'u1', client: 'c1', conn_info: Buffer.from('{"a":1}') });
      await pm.add(c, 'c2', { user: 'u2', client: 'c2' });
      const p = await pm.presence(c);
      assert.deepEqual(Object.keys(p).sort(), ['c1', 'c2']);
      assert.equal(p['c1']?.user, 'u1');
      assert.equal(Buffer.from(p['c1']?.conn_info ?? []).toString(), '{"a":1}');
      await pm.remove(c, 'c1', 'u1');
      assert.deepEqual(Object.keys(await pm.presence(c)), ['c2']);
    });

    void it('counts clients and distinct users (anonymous once)', async () => {
      pm = await factory({ ttl: 60_000 });
      const c = ch();
      await pm.add(c, 'c1', { user: 'u1', client: 'c1' });
      await pm.add(c, 'c2', { user: 'u1', client: 'c2' });
      await pm.add(c, 'c3', { user: '', client: 'c3' });
      await pm.add(c, 'c4', { user: '', client: 'c4' });
      await pm.add(c, 'c4', { user: '', client: 'c4' });
      assert.deepEqual(await pm.stats(c), { numClients: 4, numUsers: 2 });
      assert.deepEqual(await pm.stats(ch()), { numClients: 0, numUsers: 0 });
    });

    void it('refreshing an entry replaces its info', async () => {
      pm = await factory({ ttl: 60_000 });
      const c = ch();
      await pm.add(c, 'c1', { user: 'u1', client: 'c1' });
      await pm.add(c, 'c1', { user: 'u1', client: 'c1', chan_info: Buffer.from('1') });
      const p = await pm.presence(c);
      assert.equal(Buffer.from(p['c1']?.chan_info ?? []).toString(), '1');
    });

    void it('drops entries not refreshed within the TTL', async () => {
      pm = await factory({ ttl: 300 });
      const c = ch();
      await pm.add(c, 'c1', { user: 'u1', client: 'c1' });
      await pm.add(c, 'c2', { user: 'u2', client: 'c2' });
      const deadline = Date.now() + 5000;
      let refreshed = 0;
      while (Object.keys(await pm.presence(c)).includes('c1')) {
        if (Date.now() > deadline) assert.fail('entry did not expire');
        await pm.add(c, 'c2', { user: 'u2', client: 'c2' });
        refreshed++;
        await sleep(50);
      }
      assert.ok(refreshed > 0);
      assert.deepEqual(Object.keys(await pm.presence(c)), ['c2']);
      assert.deepEqual(await pm.stats(c), { numClients: 1, numUsers: 1 });
    });
  });
}
