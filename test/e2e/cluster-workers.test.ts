/**
 * `gyre serve` with several worker processes (GYRE_WORKERS): the workers share the port and the
 * Redis engine and act as one server; a killed worker is replaced; the memory engine refuses
 * more than one worker.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import { apiPost, connectClient, jsonClient, waitEvent, subscribeAndWait } from '../helpers/clients.js';
import { API_KEY, HMAC_SECRET, decodeData, standardConfig, uniq } from '../helpers/e2e-config.js';
import { runCli, startGyre, tempDir, writeConfig } from '../helpers/gyre.js';
import { hs256Token } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';
import { listeningPids, nodesOf } from '../helpers/workers.js';
import { serviceSkip } from '../integration/cluster-services.js';

const skip = await serviceSkip('Redis', 6379);
if (skip) console.log(`# skipping worker e2e: ${skip}`);

void describe('worker processes', () => {
  test('two workers share the port and the broker, and act as one server', { skip }, async (t) => {
    const prefix = `gyre-e2e-${randomUUID().slice(0, 8)}`;
    const g = await startGyre(t, {
      config: standardConfig({
        engine: { type: 'redis', redis: { address: ['redis://127.0.0.1:6379'], prefix } },
      }),
      env: { GYRE_WORKERS: '2' },
    });
    await waitFor(() => listeningPids(g).length === 2, 10_000, 'two workers listening');
    const nodes = await waitFor(async () => {
      const list = await nodesOf(g);
      return list.length === 2 ? list : undefined;
    }, 10_000);
    assert.deepEqual(nodes.map((n) => n.name.replace(/.*_(w\d+)$/, '$1')).sort(), ['w1', 'w2']);

    // Connections are spread over the workers; a publication reaches every subscriber anyway.
    const channel = uniq('w');
    const logs = [];
    for (let i = 0; i < 4; i++) {
      const c = jsonClient(g.wsUrl, { token: await hs256Token(HMAC_SECRET, { sub: uniq('u') }) }, t);
      await connectClient(c);
      const { log } = await subscribeAndWait(c, channel);
      logs.push(log);
    }
    const spread = await waitFor(async () => {
      const list = await nodesOf(g);
      const counts = list.map((n) => n.num_clients ?? 0);
      return counts.reduce((a, b) => a + b, 0) === 4 ? counts : undefined;
    }, 10_000);
    assert.ok(
      spread.every((n) => n > 0),
      `clients on every worker: ${spread.join(',')}`,
    );
    await apiPost(`${g.apiUrl}/publish`, { channel, data: { all: true } }, { 'X-API-Key': API_KEY });
    for (const log of logs)
      assert.deepEqual(decodeData((await waitEvent(log, 'publication')).data), { all: true });

    // A worker that dies is replaced.
    const [victim] = listeningPids(g);
    assert.ok(victim !== undefined);
    process.kill(victim, 'SIGKILL');
    await waitFor(() => listeningPids(g).length === 3, 15_000, 'a replacement worker');

    const stopped = await g.stop('SIGTERM');
    assert.equal(stopped.code, 0);
  });

  test('more than one worker with the memory engine is a clear startup error', async (t) => {
    const dir = tempDir(t);
    const file = writeConfig(dir, standardConfig());
    const r = await runCli(['serve', '-c', file, '--port', '0'], { env: { GYRE_WORKERS: '3' } });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /GYRE_WORKERS=3: worker processes need a shared broker; set engine\.type/);
    const bad = await runCli(['serve', '-c', file, '--port', '0'], { env: { GYRE_WORKERS: 'many' } });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /GYRE_WORKERS: must be a positive integer/);
  });
});
