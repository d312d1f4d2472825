import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { metricType, metricValue, samplesOf } from '../../../test/helpers/prom.js';
import { CallbackFamily, HistogramFamily, register, SummaryFamily, ValueFamily } from './families.js';

function registryWith(...families: Parameters<typeof register>[1][]): Registry {
  const r = new Registry();
  for (const f of families) register(r, f);
  return r;
}

void describe('metric families', () => {
  void it('exposes counter and gauge cells with their labels, cells resolved once', async () => {
    const c = new ValueFamily('counter', 'x_total', 'help', ['method', 'code']);
    const g = new ValueFamily('gauge', 'x_inflight', 'help');
    const cell = c.child('publish', '103');
    cell.inc();
    cell.inc(2);
    assert.equal(c.child('publish', '103'), cell);
    c.child('subscribe', '').inc();
    g.child().inc(5);
    g.child().dec(2);
    const text = await registryWith(c, g).metrics();
    assert.equal(metricType(text, 'x_total'), 'counter');
    assert.equal(metricType(text, 'x_inflight'), 'gauge');
    assert.equal(metricValue(text, 'x_total', { method: 'publish', code: '103' }), 3);
    // Empty label values are kept as labels (as Go's client prints them).
    assert.match(text, /^x_total\{method="subscribe",code=""\} 1$/m);
    assert.equal(metricValue(text, 'x_inflight'), 3);
  });

  void it('rejects a label value count that does not match the label names', () => {
    const c = new ValueFamily('counter', 'y_total', 'help', ['a', 'b']);
    assert.throws(() => c.child('only-one'), /expected 2 label values/);
  });

  void it('computes callback families when scraped', async () => {
    let n = 1;
    const f = new CallbackFamily('gauge', 'z', 'help', ['transport'], () => [[['websocket'], n]]);
    const r = registryWith(f);
    assert.equal(metricValue(await r.metrics(), 'z', { transport: 'websocket' }), 1);
    n = 7;
    assert.equal(metricValue(await r.metrics(), 'z', { transport: 'websocket' }), 7);
  });

  void it('exposes cumulative histogram buckets, +Inf, sum and count', async () => {
    const h = new HistogramFamily('d_seconds', 'help', ['method'], [0.01, 0.1, 1]);
    const cell = h.child('rpc');
    for (const v of [0.005, 0.01, 0.05, 0.5, 3]) cell.observe(v);
    const text = await registryWith(h).metrics();
    assert.equal(metricType(text, 'd_seconds'), 'histogram');
    const bucket = (le: string): number | undefined =>
      metricValue(text, 'd_seconds_bucket', { method: 'rpc', le });
    // A value equal to a bound falls in that bound's bucket (le = less or equal).
    assert.equal(bucket('0.01'), 2);
    assert.equal(bucket('0.1'), 3);
    assert.equal(bucket('1'), 4);
    assert.equal(bucket('+Inf'), 5);
    assert.equal(metricValue(text, 'd_seconds_count', { method: 'rpc' }), 5);
    assert.ok(Math.abs((metricValue(text, 'd_seconds_sum', { method: 'rpc' }) ?? 0) - 3.565) < 1e-9);
  });

  void it('rejects histogram buckets that do not increase', () => {
    assert.throws(() => new HistogramFamily('bad', 'help', [], [1, 1]), /buckets must increase/);
  });

  void it('estimates summary quantiles over a sliding window and forgets old observations', async () => {
    let now = 1_000_000;
    const s = new SummaryFamily('s_seconds', 'help', ['op'], [0.5, 0.99], {
      maxAgeMs: 10_000,
      ageBuckets: 5,
      sampleSize: 1000,
      now: () => now,
    });
    const cell = s.child('x');
    for (let i = 1; i <= 100; i++) cell.observe(i);
    const r = registryWith(s);
    let text = await r.metrics();
    assert.equal(metricType(text, 's_seconds'), 'summary');
    assert.equal(metricValue(text, 's_seconds', { op: 'x', quantile: '0.5' }), 50);
    assert.equal(metricValue(text, 's_seconds', { op: 'x', quantile: '0.99' }), 99);
    assert.equal(metricValue(text, 's_seconds_count', { op: 'x' }), 100);
    assert.equal(metricValue(text, 's_seconds_sum', { op: 'x' }), 5050);
    // Past the window the quantiles have nothing to describe; count and sum stay cumulative.
    now += 11_000;
    text = await r.metrics();
    assert.ok(Number.isNaN(metricValue(text, 's_seconds', { op: 'x', quantile: '0.5' })));
    assert.equal(metricValue(text, 's_seconds_count', { op: 'x' }), 100);
    cell.observe(7);
    text = await r.metrics();
    assert.equal(metricValue(text, 's_seconds', { op: 'x', quantile: '0.99' }), 7);
  });

  void it('keeps summary quantiles close with more observations than the sample holds', async () => {
    const s = new SummaryFamily('big', 'help', [], [0.5, 0.99], {
      maxAgeMs: 600_000,
      ageBuckets: 5,
      sampleSize: 512,
      now: () => 5_000,
    });
    const cell = s.child();
    for (let i = 0; i < 20_000; i++) cell.observe(i % 1000);
    const text = await registryWith(s).metrics();
    const median = metricValue(text, 'big', { quantile: '0.5' }) ?? 0;
    const p99 = metricValue(text, 'big', { quantile: '0.99' }) ?? 0;
    assert.ok(Math.abs(median - 500) < 100, `median ${median}`);
    assert.ok(p99 > 940, `p99 ${p99}`);
    assert.equal(samplesOf(text, 'big_count')[0]?.value, 20_000);
  });
});
