/**
 * Prometheus `/metrics` of `gyre serve --workers 2`: whichever worker a scrape reaches, it shows the
 * figures of both workers combined (clients connected to either, publications received by
 * either), the same on every scrape; a worker that does not answer (stopped) or died does not make
 * a scrape hang: the answer holds the workers that answered.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { describe, test } from 'node:test';
import { apiPost, connectClient, jsonClient, waitEvent, subscribeAndWait } from '../helpers/clients.js';
import { API_KEY, HMAC_SECRET, standardConfig, uniq } from '../helpers/e2e-config.js';
import { startGyre, type RunningGyre } from '../helpers/gyre.js';
import { metricValue, parsePrometheus, type PromSample } from '../helpers/prom.js';
import { hs256Token } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';
import { listeningPids, nodesOf } from '../helpers/workers.js';
import { serviceSkip } from '../integration/cluster-services.js';

const skip = await serviceSkip('Redis', 6379);
if (skip) console.log(`# skipping metrics workers e2e: ${skip}`);

/**
 * One scrape on a new TCP connection (so successive scrapes are spread over the workers like
 * Prometheus' would be); resolves with the samples and how long the answer took, or undefined
 * when no answer came within `timeoutMs`.
 */
function scrape(url: string, timeoutMs = 8000): Promise<{ samples: PromSample[]; ms: number } | undefined> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => {
        try {
          assert.equal(res.statusCode, 200, body);
          resolve({ samples: parsePrometheus(body), ms: Date.now() - started });
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      });
    });
    req.on('timeout', () => {
      req.destroy();
      resolve(undefined);
    });
    req.on('error', (err) => (req.destroyed ? resolve(undefined) : reject(err)));
  });
}

async function clientsPerNode(g: RunningGyre): Promise<number[]> {
  return (await nodesOf(g)).map((n) => n.num_clients ?? 0);
}

const published = (s: PromSample[]) =>
  metricValue(s, 'centrifugo_node_messages_received_count', { type: 'publication' }) ?? 0;
const clients = (s: PromSample[]) => metricValue(s, 'centrifugo_node_num_clients');

void describe('prometheus metrics with worker processes', () => {
  test(
    'every scrape shows both workers combined, and none hangs on a stuck or dead worker',
    { skip },
    async (t) => {
      const g = await startGyre(t, {
        config: standardConfig({
          engine: {
            type: 'redis',
            redis: { address: ['redis://127.0.0.1:6379'], prefix: `gyre-e2e-${randomUUID().slice(0, 8)}` },
          },
          prometheus: { enabled: true },
        }),
        env: { GYRE_WORKERS: '2' },
      });
      const metricsUrl = `${g.url}/metrics`;
      await waitFor(() => listeningPids(g).length === 2, 15_000, 'two workers listening');
      await waitFor(async () => ((await clientsPerNode(g)).length === 2 ? true : undefined), 10_000);

      // SDK clients until both workers hold some (the cluster module spreads the connections).
      const channel = uniq('mw');
      const logs = [];
      let total = 0;
      for (;;) {
        const c = jsonClient(g.wsUrl, { token: await hs256Token(HMAC_SECRET, { sub: uniq('u') }) }, t);
        await connectClient(c);
        const { log } = await subscribeAndWait(c, channel);
        logs.push(log);
        total++;
        const spread = await waitFor(async () => {
          const counts = await clientsPerNode(g);
          return counts.reduce((a, b) => a + b, 0) === total ? counts : undefined;
        }, 10_000);
        if (total >= 4 && spread.every((n) => n > 0)) break;
        assert.ok(total < 20, `clients never reached both workers: ${spread.join(',')}`);
      }

      // Publications through the API; each worker receives each one from Redis for its subscribers.
      const pubs = 5;
      for (let i = 0; i < pubs; i++) {
        const r = await apiPost(`${g.apiUrl}/publish`, { channel, data: { i } }, { 'X-API-Key': API_KEY });
        assert.equal(r.status, 200, r.text);
      }
      for (const log of logs)
        await waitEvent(log, 'publication', (e) => (e.data as { i: number }).i === pubs - 1);

      // Several scrapes, each on its own connection: the same totals every time.
      await waitFor(async () => {
        const r = await scrape(metricsUrl);
        return r !== undefined && published(r.samples) === pubs * 2 ? true : undefined;
      }, 10_000);
      for (let i = 0; i < 6; i++) {
        const r = await scrape(metricsUrl);
        assert.ok(r, 'scrape answered');
        assert.equal(clients(r.samples), total, `scrape ${i}: clients of both workers`);
        assert.equal(published(r.samples), pubs * 2, `scrape ${i}: publications received by both workers`);
        assert.equal(metricValue(r.samples, 'centrifugo_node_num_nodes'), 2);
      }

      // A stopped worker does not answer: a scrape reaching the other one still answers, after the
      // collect timeout, with the figures of the worker that answered.
      const [stuck] = listeningPids(g);
      assert.ok(stuck !== undefined);
      process.kill(stuck, 'SIGSTOP');
      let partial: { samples: PromSample[]; ms: number } | undefined;
      try {
        // Two connections at once: one of them reaches the running worker.
        const answers = await Promise.all([scrape(metricsUrl, 6000), scrape(metricsUrl, 6000)]);
        partial = answers.find((a) => a !== undefined);
      } finally {
        process.kill(stuck, 'SIGCONT');
      }
      assert.ok(partial, 'a scrape answered while a worker was stopped');
      assert.ok(partial.ms < 5000, `answered in ${partial.ms} ms`);
      const some = clients(partial.samples) ?? 0;
      assert.ok(some > 0 && some < total, `only the running worker's clients: ${some} of ${total}`);

      // A worker that dies is left out at once; its replacement and the reconnecting clients bring the
      // totals back.
      process.kill(stuck, 'SIGKILL');
      const afterDeath = await scrape(metricsUrl, 4000);
      assert.ok(afterDeath, 'a scrape right after a worker died answered');
      await waitFor(() => listeningPids(g).length === 3, 15_000, 'a replacement worker');
      await waitFor(
        async () => {
          const r = await scrape(metricsUrl);
          return r !== undefined && clients(r.samples) === total ? true : undefined;
        },
        20_000,
        'every client counted again',
      );

      const stopped = await g.stop('SIGTERM');
      assert.equal(stopped.code, 0);
    },
  );
});
