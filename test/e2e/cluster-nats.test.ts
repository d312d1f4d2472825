/**
 * Three `gyre serve` processes with the NATS broker (at-most-once, no history) and Redis presence
 * (`broker` and `presence_manager` sections), the real SDK on each: publications cross nodes,
 * history answers 108, presence is shared, `info` lists every node (NATS controller). Then one
 * node in raw mode, with a plain NATS client on the other side of the subjects.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { before, describe, test } from 'node:test';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { apiCall, connectClient, jsonClient, waitEvent, subscribeAndWait } from '../helpers/clients.js';
import { HMAC_SECRET, decodeData, standardConfig, uniq } from '../helpers/e2e-config.js';
import { startGyre, suiteCleanup, type RunningGyre } from '../helpers/gyre.js';
import { hs256Token } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';
import { serviceSkip } from '../integration/cluster-services.js';

const skip = (await serviceSkip('NATS', 4222)) || (await serviceSkip('Redis', 6379));
if (skip) console.log(`# skipping NATS cluster e2e: ${skip}`);

void describe('three nodes over the NATS broker with Redis presence', { skip }, () => {
  const cleanup = suiteCleanup();
  const nodes: RunningGyre[] = [];
  const prefix = `gyre-e2e-${randomUUID().slice(0, 8)}`;
  const noHistory = { history_size: 0, history_ttl: '0s' };
  const config = standardConfig({
    broker: { enabled: true, type: 'nats', nats: { url: 'nats://127.0.0.1:4222', prefix } },
    presence_manager: {
      enabled: true,
      type: 'redis',
      redis: { address: ['redis://127.0.0.1:6379'], prefix },
    },
    channel: { without_namespace: noHistory },
  });
  const token = (sub: string): Promise<string> => hs256Token(HMAC_SECRET, { sub });
  const node = (i: number): RunningGyre => {
    const n = nodes[i];
    assert.ok(n);
    return n;
  };

  before(async () => {
    for (let i = 0; i < 3; i++) nodes.push(await startGyre(cleanup, { config }));
  });

  test('info lists the three nodes', async () => {
    await waitFor(async () => {
      const r = await apiCall(node(1), 'info', {});
      return ((r.result?.nodes as unknown[] | undefined) ?? []).length === 3;
    }, 10_000);
  });

  test('a client on node A receives what is published through node C; presence is shared', async (t) => {
    const channel = uniq('news');
    const logs = [];
    for (const i of [0, 1]) {
      const c = jsonClient(node(i).wsUrl, { token: await token(uniq('u')) }, t);
      await connectClient(c);
      const { log } = await subscribeAndWait(c, channel);
      logs.push(log);
    }
    const r = await apiCall(node(2), 'publish', { channel, data: { via: 'nats' } });
    assert.equal(r.error, undefined);
    for (const log of logs) {
      const pub = await waitEvent(log, 'publication');
      assert.deepEqual(decodeData(pub.data), { via: 'nats' });
    }
    await waitFor(async () => {
      const s = await apiCall(node(2), 'presence_stats', { channel });
      return s.result?.num_clients === 2;
    }, 5000);
  });

  test('history is not available with the NATS broker (108)', async () => {
    const r = await apiCall(node(0), 'history', { channel: uniq('h'), limit: 10 });
    assert.equal(r.error?.code, 108);
  });
});

void describe('gyre serve with the NATS broker in raw mode', { skip }, () => {
  const cleanup = suiteCleanup();
  const prefix = `gyre-raw-${randomUUID().slice(0, 8)}.`;
  let gyre: RunningGyre;
  let nc: NatsConnection;

  before(async () => {
    const config = standardConfig({
      broker: {
        enabled: true,
        type: 'nats',
        nats: {
          url: 'nats://127.0.0.1:4222',
          raw_mode: { enabled: true, prefix, channel_replacements: { '-': '.' } },
        },
      },
      channel: { without_namespace: { history_size: 0, history_ttl: '0s' } },
    });
    gyre = await startGyre(cleanup, { config });
    nc = await connect({ servers: 'nats://127.0.0.1:4222' });
    cleanup.after(() => nc.close());
  });

  test('an SDK subscriber gets what anyone publishes on the subject; an API publish sends the bare data', async (t) => {
    const id = uniq('s');
    const channel = `scores-${id}`;
    const c = jsonClient(gyre.wsUrl, { token: await hs256Token(HMAC_SECRET, { sub: uniq('u') }) }, t);
    await connectClient(c);
    const { log } = await subscribeAndWait(c, channel);

    nc.publish(`${prefix}scores.${id}`, '{"goal":1}');
    const pub = await waitEvent(log, 'publication');
    assert.deepEqual(decodeData(pub.data), { goal: 1 });

    const seen: string[] = [];
    nc.subscribe(`${prefix}scores.${id}`, { callback: (_e, m) => void seen.push(m.string()) });
    await nc.flush();
    const r = await apiCall(gyre, 'publish', { channel, data: { goal: 2 } });
    assert.equal(r.error, undefined);
    await waitFor(() => seen.length === 1, 3000);
    assert.deepEqual(JSON.parse(seen[0] as string), { goal: 2 });
  });
});
