/**
 * Emulation requests reach the node holding the session: an SDK client streams from node A over
 * HTTP-streaming while its commands (subscribe, publish) are posted to node B's `/emulation`, with
 * two `gyre serve` processes sharing Redis.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { before, describe, test } from 'node:test';
import { Centrifuge } from 'centrifuge';
import { apiPost, record, waitEvent } from '../helpers/clients.js';
import { API_KEY, HMAC_SECRET, standardConfig, uniq } from '../helpers/e2e-config.js';
import { startGyre, suiteCleanup, type RunningGyre } from '../helpers/gyre.js';
import { hs256Token } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';
import { serviceSkip } from '../integration/cluster-services.js';

const skip = await serviceSkip('Redis', 6379);
if (skip) console.log(`# skipping cross-node emulation e2e: ${skip}`);

void describe('emulation across nodes', { skip }, () => {
  const cleanup = suiteCleanup();
  const nodes: RunningGyre[] = [];
  const prefix = `gyre-e2e-emu-${randomUUID().slice(0, 8)}`;
  const config = standardConfig({
    engine: { type: 'redis', redis: { address: ['redis://127.0.0.1:6379'], prefix } },
    http_stream: { enabled: true },
    client: { allowed_origins: ['*'] },
  });

  before(async () => {
    for (let i = 0; i < 2; i++) nodes.push(await startGyre(cleanup, { config }));
    // Both nodes must know each other before node B can route a session it does not hold.
    await waitFor(async () => {
      const res = await apiPost(`${nodes[1]?.apiUrl}/info`, {}, { 'X-API-Key': API_KEY });
      const list = (res.json as { result?: { nodes?: unknown[] } }).result?.nodes ?? [];
      return list.length === 2 ? true : undefined;
    }, 10_000);
  });

  test('commands posted to node B reach the session streaming from node A', async (t) => {
    const [a, b] = nodes;
    assert.ok(a && b);
    const user = uniq('emu');
    const client = new Centrifuge(
      [{ transport: 'http_stream', endpoint: `${a.url}/connection/http_stream` }],
      {
        token: await hs256Token(HMAC_SECRET, { sub: user }),
        fetch,
        readableStream: ReadableStream,
        emulationEndpoint: `${b.url}/emulation`,
        timeout: 5000,
      },
    );
    t.after(() => client.disconnect());
    const connected = new Promise<{ transport: string }>((resolve) => client.once('connected', resolve));
    client.connect();
    assert.equal((await connected).transport, 'http_stream');

    // The subscribe command travels through node B; its reply arrives on node A's stream.
    const channel = `pub:${uniq('c')}`;
    const sub = client.newSubscription(channel);
    const log = record(sub);
    sub.subscribe();
    await sub.ready(5000);

    const res = await apiPost(
      `${a.apiUrl}/publish`,
      { channel, data: { via: 'api' } },
      { 'X-API-Key': API_KEY },
    );
    assert.equal(res.status, 200);
    const pub = await waitEvent(log, 'publication');
    assert.deepEqual(pub.data, { via: 'api' });

    // A client publish also goes through node B and comes back to the subscriber on node A.
    await sub.publish({ via: 'client' });
    await waitFor(() => log.filter((r) => r.event === 'publication').length === 2, 5000, 'own publication');
  });
});
