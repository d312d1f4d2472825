import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { connectFake, waitFor, type FakeTransport } from '../../../test/helpers/fake-transport.js';
import { metricType, metricValue, parsePrometheus, samplesOf } from '../../../test/helpers/prom.js';
import type { NodeHandlers } from '../../core/handlers.js';
import { Node } from '../../core/node.js';
import { aggregateWorkers, joinClusterMetrics, type MetricJson } from './cluster.js';
import { PrometheusMetrics } from './prometheus.js';

const nodes: Node[] = [];
afterEach(async () => {
  for (const n of nodes.splice(0)) await n.shutdown();
});

const handlers: NodeHandlers = {
  onConnecting: async (e) => ({ credentials: { userId: e.token ?? '' } }),
  onSubscribe: async () => ({ options: {} }),
};

/** One "worker": a node with its own registry. */
async function worker(processMetrics = false): Promise<{ node: Node; m: PrometheusMetrics }> {
  const m = new PrometheusMetrics({ version: '9.9.9', processMetrics });
  const node = new Node({ handlers, metrics: m, timerResolution: 10 });
  nodes.push(node);
  m.bindNode(node);
  await node.run();
  return { node, m };
}

async function connect(node: Node, user: string, channel: string): Promise<FakeTransport> {
  const t = connectFake(node, { name: 'websocket' });
  t.send({ id: 1, connect: { token: user } });
  await waitFor(() => t.reply(1) !== undefined, 2000, 'connect reply');
  t.send({ id: 2, subscribe: { channel } });
  await waitFor(() => t.reply(2) !== undefined, 2000, 'subscribe reply');
  return t;
}

/** What a worker sends over IPC: the registry's JSON, through a JSON round trip (NaN ⇒ null). */
async function overIpc(m: PrometheusMetrics): Promise<MetricJson[]> {
  return JSON.parse(JSON.stringify(await m.registry.getMetricsAsJSON())) as MetricJson[];
}

void describe('combining the metrics of worker processes', () => {
  void it('sums counters, histograms and client gauges; keeps cluster-wide gauges once', async () => {
    const w1 = await worker();
    const w2 = await worker();
    await connect(w1.node, 'alice', 'news');
    await connect(w1.node, 'bob', 'news');
    await connect(w2.node, 'carol', 'chat');
    const text = await aggregateWorkers([await overIpc(w1.m), await overIpc(w2.m)]).metrics();

    assert.equal(metricType(text, 'centrifugo_node_num_clients'), 'gauge');
    assert.equal(metricValue(text, 'centrifugo_node_num_clients'), 3);
    assert.equal(metricValue(text, 'centrifugo_node_num_subscriptions'), 3);
    assert.equal(metricValue(text, 'centrifugo_client_connections_accepted', { transport: 'websocket' }), 3);
    // Each worker sees the same cluster (one node each here): not summed.
    assert.equal(metricValue(text, 'centrifugo_node_num_nodes'), 1);
    assert.deepEqual(
      samplesOf(text, 'centrifugo_node_build').map((s) => [s.labels['version'], s.value]),
      [['9.9.9', 1]],
    );
    // Histograms: every bucket, the sum and the count are summed (3 connects, 3 subscribes).
    const count = (method: string) =>
      metricValue(text, 'centrifugo_client_command_duration_seconds_histogram_count', { method });
    assert.equal(count('connect'), 3);
    assert.equal(count('subscribe'), 3);
    const inf = samplesOf(text, 'centrifugo_client_command_duration_seconds_histogram_bucket', {
      method: 'connect',
      le: '+Inf',
    });
    assert.deepEqual(
      inf.map((s) => s.value),
      [3],
    );
    // Counters the workers keep as plain numbers until scraped.
    const sent = metricValue(text, 'centrifugo_transport_messages_sent', { transport: 'websocket' }) ?? 0;
    const own = async (m: PrometheusMetrics) =>
      metricValue(await m.registry.metrics(), 'centrifugo_transport_messages_sent', {
        transport: 'websocket',
      }) ?? 0;
    assert.equal(sent, (await own(w1.m)) + (await own(w2.m)));
    assert.ok(sent >= 6);
  });

  void it('merges summaries: quantiles take the highest, _sum and _count add up, NaN stays NaN', async () => {
    const summary = (q50: number | null, count: number, sum: number): MetricJson => ({
      name: 'centrifugo_x_seconds',
      help: 'x',
      type: 'summary',
      aggregator: 'sum',
      values: [
        { labels: { method: 'a', quantile: 0.5 }, value: q50 },
        { labels: { method: 'b', quantile: 0.5 }, value: null },
        { metricName: 'centrifugo_x_seconds_sum', labels: { method: 'a' }, value: sum },
        { metricName: 'centrifugo_x_seconds_count', labels: { method: 'a' }, value: count },
      ],
    });
    const merged = (await aggregateWorkers([
      [summary(0.2, 4, 1)],
      [summary(0.7, 6, 2)],
      [summary(null, 0, 0)],
    ]).getMetricsAsJSON()) as unknown as MetricJson[];
    const values = merged.find((m) => m.name === 'centrifugo_x_seconds')?.values ?? [];
    const v = (labels: Record<string, string | number>, name?: string) =>
      values.find((s) => s.metricName === name && JSON.stringify(s.labels) === JSON.stringify(labels))?.value;
    assert.equal(v({ method: 'a', quantile: 0.5 }), 0.7);
    assert.ok(Number.isNaN(v({ method: 'b', quantile: 0.5 })));
    assert.equal(v({ method: 'a' }, 'centrifugo_x_seconds_sum'), 3);
    assert.equal(v({ method: 'a' }, 'centrifugo_x_seconds_count'), 10);
  });

  void it('gives valid exposition text with the Node.js process metrics of every worker', async () => {
    const w1 = await worker(true);
    const w2 = await worker(true);
    const text = await aggregateWorkers([await overIpc(w1.m), await overIpc(w2.m)]).metrics();
    const all = parsePrometheus(text);
    assert.ok(all.some((s) => s.name === 'process_cpu_user_seconds_total'));
    assert.ok(all.some((s) => s.name === 'nodejs_heap_size_used_bytes'));
    // Every sample name appears under one family only (no duplicated # TYPE lines).
    const types = text.split('\n').filter((l) => l.startsWith('# TYPE '));
    assert.equal(new Set(types).size, types.length);
  });

  void it('is off outside a worker forked by gyre serve --workers', () => {
    const m = new PrometheusMetrics({ version: '1', processMetrics: false });
    assert.equal(joinClusterMetrics(m.registry), undefined);
  });
});
