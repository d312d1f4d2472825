/**
 * Graphite export against a real TCP listener that plays Graphite's plaintext receiver
 * (`GraphiteSink` records every line it is sent). Checks paths, values and deltas, tags mode,
 * reconnecting after the listener restarts, an unreachable Graphite at start, and a clean stop.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { defaultConfig, validateConfig } from '../config/index.js';
import {
  formatBatch,
  GraphiteExporter,
  graphitePrefix,
  pathComponent,
  quantileName,
  registryGather,
} from './graphite.js';
import { PrometheusMetrics } from './prometheus.js';
import { GraphiteSink, parseGraphiteLine } from '../../../test/helpers/graphite-sink.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

const parse = parseGraphiteLine;

const PUBLISH_COUNT =
  'centrifugo.node1.centrifugo.api.command_duration_seconds.count.protocol.http.method.publish';

function metricsWithActivity(): PrometheusMetrics {
  const m = new PrometheusMetrics({ version: '1.2.3', processMetrics: false });
  m.apiCommandDone('http', 'publish', performance.now() - 2, undefined);
  m.replyError('publish', 103);
  m.replyError('publish', 103);
  m.brokerSent('join');
  return m;
}

void describe('graphite line format', () => {
  void it('names paths as Centrifugo does: prefix, node, name split in three, value name, labels', async () => {
    const m = metricsWithActivity();
    const families = await registryGather(m.registry)();
    const { text, lines, next } = formatBatch(
      families,
      { prefix: 'centrifugo.node1', tags: false },
      new Map(),
      1700000000,
    );
    const got = text.split('\n').filter((l) => l !== '');
    assert.equal(got.length, lines);
    for (const l of got) assert.equal(parse(l).ts, 1700000000);
    const value = (path: string) => {
      const hit = got.find((l) => parse(l).path === path);
      assert.ok(hit, `${path} missing in:\n${got.join('\n')}`);
      return parse(hit).value;
    };
    // Empty labels (channel_namespace) are left out.
    assert.equal(value('centrifugo.node1.centrifugo.client.num_reply_errors.method.publish.code.103'), 2);
    assert.equal(value('centrifugo.node1.centrifugo.node.messages_sent_count.type.join'), 1);
    assert.equal(value('centrifugo.node1.centrifugo.node.messages_sent_count.type.publication'), 0);
    // Label values become one path component each: the dots of 1.2.3 would add levels.
    assert.equal(value('centrifugo.node1.centrifugo.node.build.version.1_2_3'), 1);
    // Summaries: sum, count and the quantiles 0.5, 0.99, 0.999.
    assert.equal(value(PUBLISH_COUNT), 1);
    const sum = value(
      'centrifugo.node1.centrifugo.api.command_duration_seconds.sum.protocol.http.method.publish',
    );
    assert.ok(sum > 0 && sum < 1, `sum ${sum}`);
    for (const q of ['50', '99', '999']) {
      const v = value(
        `centrifugo.node1.centrifugo.api.command_duration_seconds.quantile.${q}.protocol.http.method.publish`,
      );
      assert.ok(v > 0 && v < 1, `quantile ${q}: ${v}`);
    }
    // Histograms are not exported (as in Centrifugo).
    assert.ok(!got.some((l) => l.includes('_histogram')), 'no histogram lines');
    assert.ok(!got.some((l) => l.includes('.le.') || l.includes('bucket')), 'no bucket lines');
    assert.ok(next.size > 0);
  });

  void it('sends counters and summary counts as the increase since the last accepted batch', async () => {
    const m = metricsWithActivity();
    const gather = registryGather(m.registry);
    const opts = { prefix: 'centrifugo.node1', tags: false };
    const first = formatBatch(await gather(), opts, new Map(), 1);
    m.replyError('publish', 103);
    m.apiCommandDone('http', 'publish', performance.now(), undefined);
    m.apiCommandDone('http', 'publish', performance.now(), undefined);
    const second = formatBatch(await gather(), opts, first.next, 2);
    const pick = (text: string, path: string) =>
      parse(text.split('\n').find((l) => l.startsWith(`${path} `)) ?? `${path} missing 0`).value;
    const errors = 'centrifugo.node1.centrifugo.client.num_reply_errors.method.publish.code.103';
    assert.equal(pick(second.text, errors), 1);
    assert.equal(pick(second.text, PUBLISH_COUNT), 2);
    assert.equal(pick(second.text, 'centrifugo.node1.centrifugo.node.messages_sent_count.type.join'), 0);
    // Gauges are values, not increases.
    assert.equal(pick(second.text, 'centrifugo.node1.centrifugo.node.build.version.1_2_3'), 1);
    // A batch that never reached Graphite: the next one, computed against the old baseline, carries both.
    const third = formatBatch(await gather(), opts, first.next, 3);
    assert.equal(pick(third.text, errors), 1);
  });

  void it('writes Graphite tags instead of label path parts in tags mode', async () => {
    const m = metricsWithActivity();
    const { text } = formatBatch(
      await registryGather(m.registry)(),
      { prefix: 'gyre.n', tags: true },
      new Map(),
      5,
    );
    const got = text.split('\n').filter((l) => l !== '');
    assert.ok(
      got.includes('gyre.n.centrifugo.client.num_reply_errors;method=publish;code=103 2 5'),
      got.join('\n'),
    );
    // Tag values keep their dots.
    assert.ok(got.includes('gyre.n.centrifugo.node.build;version=1.2.3 1 5'), got.join('\n'));
    assert.ok(
      got.some((l) =>
        l.startsWith(
          'gyre.n.centrifugo.api.command_duration_seconds.quantile.99;protocol=http;method=publish ',
        ),
      ),
    );
  });

  void it('cleans node names and prefixes', () => {
    assert.equal(graphitePrefix('centrifugo', 'host.example.com_8000'), 'centrifugo.host_example_com_8000');
    assert.equal(graphitePrefix('stats.centrifugo.', 'n1'), 'stats.centrifugo.n1');
    assert.equal(graphitePrefix('', 'n1'), 'n1');
    assert.equal(pathComponent('приvет'), '___v__');
    assert.equal(pathComponent('a b;c'), 'a_b_c');
    assert.equal(quantileName(0.5), '50');
    assert.equal(quantileName(0.99), '99');
    assert.equal(quantileName(0.999), '999');
  });

  void it('skips histograms, empty-window quantiles and non-finite values', () => {
    const { text } = formatBatch(
      [
        {
          name: 'x_y_h',
          type: 'histogram',
          values: [{ value: 1, labels: { le: '1' }, metricName: 'x_y_h_bucket' }],
        },
        { name: 'x_y_s', type: 'summary', values: [{ value: NaN, labels: { quantile: 0.5 } }] },
        {
          name: 'x_y_g',
          type: 'gauge',
          values: [
            { value: Infinity, labels: {} },
            { value: 0.1 + 0.2, labels: {} },
          ],
        },
        { name: 'single', type: 'gauge', values: [{ value: -2, labels: {} }] },
      ],
      { prefix: 'p', tags: false },
      new Map(),
      9,
    );
    assert.equal(text, 'p.x.y.g 0.3 9\np.single -2 9\n');
  });
});

void describe('graphite exporter over TCP', () => {
  const exporters: GraphiteExporter[] = [];
  const sinks: GraphiteSink[] = [];
  after(async () => {
    for (const e of exporters) await e.stop();
    for (const s of sinks) await s.close();
  });
  const sink = async (port?: number) => {
    const s = await new GraphiteSink().listen(port);
    sinks.push(s);
    return s;
  };
  const exporter = (m: PrometheusMetrics, port: number, tags = false) => {
    const e = new GraphiteExporter({
      host: '127.0.0.1',
      port,
      prefix: graphitePrefix('centrifugo', 'node1'),
      intervalMs: 50,
      tags,
      gather: registryGather(m.registry),
      backoffMinMs: 20,
      backoffMaxMs: 200,
    });
    exporters.push(e);
    e.start();
    return e;
  };

  void it('pushes lines every interval over one connection, stamped with the current time', async () => {
    const g = await sink();
    const m = metricsWithActivity();
    exporter(m, g.port);
    const first = parse(await g.line((l) => l.startsWith(`${PUBLISH_COUNT} `)));
    assert.equal(first.value, 1);
    assert.ok(Math.abs(first.ts - Date.now() / 1000) < 5, `timestamp ${first.ts}`);
    m.apiCommandDone('http', 'publish', performance.now(), undefined);
    m.apiCommandDone('http', 'publish', performance.now(), undefined);
    m.apiCommandDone('http', 'publish', performance.now(), undefined);
    await g.line((l) => l.startsWith(`${PUBLISH_COUNT} 3 `));
    // Quiet intervals report zero increase.
    const n = g.lines.length;
    await g.line((l) => g.lines.indexOf(l) >= n && l.startsWith(`${PUBLISH_COUNT} 0 `));
    assert.equal(g.connections, 1, 'one long-lived connection');
  });

  void it('uses Graphite tags when tags is on', async () => {
    const g = await sink();
    exporter(metricsWithActivity(), g.port, true);
    const l = await g.line((x) => x.startsWith('centrifugo.node1.centrifugo.client.num_reply_errors;'));
    assert.match(
      l,
      /^centrifugo\.node1\.centrifugo\.client\.num_reply_errors;method=publish;code=103 2 \d+$/,
    );
  });

  void it('reconnects after Graphite restarts and delivers what was counted while it was down', async () => {
    const g = await sink();
    const port = g.port;
    const m = metricsWithActivity();
    const e = exporter(m, port);
    await g.line((l) => l.startsWith(`${PUBLISH_COUNT} 1 `));
    await g.close();
    await until(() => !e.isConnected, 'the exporter to notice the drop');
    // Counted while Graphite is down.
    for (let i = 0; i < 5; i++) m.apiCommandDone('http', 'publish', performance.now(), undefined);
    await sleep(300); // several intervals and failed reconnects
    const g2 = await sink(port);
    const after = parse(
      await g2.line((l) => l.startsWith(`${PUBLISH_COUNT} `) && !l.startsWith(`${PUBLISH_COUNT} 0 `)),
    );
    assert.equal(after.value, 5, 'the increase during the outage arrives in the first batch');
    assert.equal(g2.connections, 1);
  });

  void it('keeps retrying when Graphite is not there at start, without throwing', async () => {
    const probe = await new GraphiteSink().listen();
    const port = probe.port;
    await probe.close(); // a port nobody listens on
    const m = metricsWithActivity();
    const e = exporter(m, port);
    await sleep(250);
    assert.equal(e.isConnected, false);
    assert.equal(e.batches, 0);
    const g = await sink(port);
    await g.line((l) => l.startsWith(`${PUBLISH_COUNT} 1 `));
    await until(() => e.batches >= 1, 'the batch to be counted as accepted');
  });

  void it('stop closes the connection and sends nothing more', async () => {
    const g = await sink();
    const e = exporter(metricsWithActivity(), g.port);
    await g.line((l) => l.startsWith(`${PUBLISH_COUNT} `));
    await e.stop();
    await until(() => g.open === 0, 'the connection to close');
    assert.equal(g.endedByPeer, 1, 'closed with FIN, not reset');
    const n = g.lines.length;
    await sleep(200);
    assert.equal(g.lines.length, n);
    assert.equal(g.connections, 1, 'no reconnect after stop');
  });

  void it('stop while Graphite is unreachable returns at once', async () => {
    const probe = await new GraphiteSink().listen();
    const port = probe.port;
    await probe.close();
    const e = exporter(metricsWithActivity(), port);
    await sleep(100);
    const t0 = Date.now();
    await e.stop();
    assert.ok(Date.now() - t0 < 200, `stop took ${Date.now() - t0} ms`);
  });
});

void describe('graphite config validation', () => {
  void it('names the key of a bad graphite setting when graphite is enabled', () => {
    const c = defaultConfig();
    c.graphite.enabled = true;
    c.graphite.host = '';
    c.graphite.port = 70000;
    c.graphite.interval = 0;
    const errs = validateConfig(c);
    assert.ok(errs.includes('graphite.host: required when graphite.enabled'), errs.join('\n'));
    assert.ok(errs.includes('graphite.port: must be between 1 and 65535'), errs.join('\n'));
    assert.ok(errs.includes('graphite.interval: must be greater than 0'), errs.join('\n'));
    c.graphite.enabled = false;
    assert.deepEqual(validateConfig(c), []);
  });
});
