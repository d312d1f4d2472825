/**
 * Graphite export of `gyre serve` (`graphite.*`): with a listener playing Graphite's plaintext port,
 * a subscriber and publications through the server API show up as Centrifugo-named lines under
 * `<prefix>.<node name>`, in path or tags mode, with `prometheus.enabled` off; a Graphite that is
 * down at start neither delays nor breaks the server and is picked up when it comes; shutdown closes
 * the connection; bad settings are refused naming the key.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { freePort, runCli, startGyre, tempDir, writeConfig } from '../helpers/gyre.js';
import { apiClient, connectClient, jsonClient, waitEvent, subscribeAndWait } from '../helpers/clients.js';
import { API_KEY, HMAC_SECRET, standardConfig, uniq } from '../helpers/e2e-config.js';
import { GraphiteSink, parseGraphiteLine } from '../helpers/graphite-sink.js';
import { hs256Token } from '../helpers/tokens.js';

const NODE = 'e2e.graphite'; // the dot becomes `_` in the path

void describe('graphite export', { concurrency: 2 }, () => {
  void test('publish counts arrive as Centrifugo-named lines, prometheus off', async (t) => {
    const sink = await new GraphiteSink().listen();
    t.after(() => sink.close());
    const gyre = await startGyre(t, {
      config: standardConfig({
        node: { name: NODE },
        graphite: { enabled: true, host: '127.0.0.1', port: sink.port, interval: '200ms', prefix: 'gyre' },
      }),
    });
    const base = 'gyre.e2e_graphite.centrifugo';
    // A connected client: the node gauge follows it.
    const c = jsonClient(gyre.wsUrl, { token: await hs256Token(HMAC_SECRET, { sub: 'g1' }) }, t);
    await connectClient(c);
    const channel = uniq('graphite');
    const { log } = await subscribeAndWait(c, channel);
    await sink.line((l) => l.startsWith(`${base}.node.num_clients 1 `));
    await sink.line((l) => l.startsWith(`${base}.node.num_subscriptions 1 `));

    const api = apiClient(gyre.apiUrl, API_KEY);
    for (let i = 0; i < 3; i++) await api.publish({ channel, data: { n: i } });
    const publishCount = `${base}.api.command_duration_seconds.count.protocol.http.method.publish`;
    // Counters go out as the increase per interval; together they make the three publications.
    let total = 0;
    const seen: number[] = [];
    const deadline = Date.now() + 5000;
    let from = 0;
    while (total < 3) {
      assert.ok(Date.now() < deadline, `publish count lines: ${JSON.stringify(seen)}`);
      const line = await sink.line((l) => l.startsWith(`${publishCount} `), 5000, from);
      from = sink.lines.indexOf(line, from) + 1;
      const { value, ts } = parseGraphiteLine(line);
      assert.ok(Math.abs(ts - Date.now() / 1000) < 10, `timestamp ${ts}`);
      seen.push(value);
      total += value;
    }
    assert.equal(total, 3, JSON.stringify(seen));
    await waitEvent(log, 'publication', (ctx) => (ctx.data as { n: number }).n === 2);
    // The broker delivered the publications to the node.
    await sink.line((l) =>
      /^gyre\.e2e_graphite\.centrifugo\.node\.messages_received_count\.type\.publication [1-9]/.test(l),
    );
    // Histograms are not exported; no /metrics endpoint without prometheus.enabled.
    assert.ok(!sink.lines.some((l) => l.includes('_histogram')));
    assert.equal((await fetch(`${gyre.url}/metrics`)).status, 404);
    assert.equal(sink.connections, 1, 'one long-lived connection');

    // Shutdown closes the connection cleanly and the server exits 0.
    const exit = await gyre.stop('SIGTERM');
    assert.equal(exit.code, 0, gyre.output());
    const deadline2 = Date.now() + 3000;
    while (sink.open > 0 && Date.now() < deadline2) await new Promise((r) => setTimeout(r, 20));
    assert.equal(sink.open, 0);
    assert.equal(sink.endedByPeer, 1);
  });

  void test('Graphite down at start: the server runs, then tags mode lines arrive once it is up', async (t) => {
    const port = await freePort(); // nobody listens here yet
    const gyre = await startGyre(t, {
      config: standardConfig({
        node: { name: NODE },
        prometheus: { enabled: true },
        graphite: { enabled: true, host: '127.0.0.1', port, interval: '200ms', tags: true },
      }),
    });
    const api = apiClient(gyre.apiUrl, API_KEY);
    await api.publish({ channel: uniq('graphite'), data: { x: 1 } });
    await new Promise((r) => setTimeout(r, 500)); // a few failed attempts
    assert.equal((await fetch(`${gyre.url}/metrics`)).status, 200, 'prometheus still served');
    assert.match(gyre.output(), /graphite unavailable, retrying/);

    const sink = await new GraphiteSink().listen(port);
    t.after(() => sink.close());
    const line = await sink.line((l) =>
      l.startsWith('centrifugo.e2e_graphite.centrifugo.api.command_duration_seconds.count;'),
    );
    assert.match(
      line,
      /^centrifugo\.e2e_graphite\.centrifugo\.api\.command_duration_seconds\.count;protocol=http;method=publish 1 \d+$/,
    );
    await sink.line((l) => l.startsWith('centrifugo.e2e_graphite.centrifugo.node.build;version='));
  });

  void test('checkconfig and serve refuse bad graphite settings naming the key', async (t) => {
    const dir = tempDir(t);
    const file = writeConfig(
      dir,
      standardConfig({ graphite: { enabled: true, port: 70000, interval: '0s' } }),
    );
    const check = await runCli(['checkconfig', '-c', file]);
    assert.equal(check.code, 1);
    assert.match(check.output, /graphite\.port: must be between 1 and 65535/);
    assert.match(check.output, /graphite\.interval: must be greater than 0/);
    const serve = await runCli(['serve', '-c', file, '--port', String(await freePort())]);
    assert.equal(serve.code, 1);
    assert.match(serve.output, /graphite\.port/);
  });
});
