import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { listen } from '../http/listen.js';
import { createRouter, type RouterOptions } from '../http/router.js';
import { metricType, metricValue } from '../../../test/helpers/prom.js';
import { instrumentRouter, metricsHandler, routeLabel } from './http.js';
import { PrometheusMetrics } from './prometheus.js';

void describe('metrics over HTTP', () => {
  const m = new PrometheusMetrics({ version: '1.2.3', processMetrics: false });
  const routes: RouterOptions = {
    ready: () => true,
    healthPath: '/health',
    endpoints: new Map([['/metrics', metricsHandler(m)]]),
  };
  const started = listen(instrumentRouter(createRouter(routes), routes, m), '127.0.0.1', 0, undefined);
  after(async () => (await started).close());

  void it('labels requests by the route they matched, anything else as other', () => {
    assert.equal(routeLabel(routes, '/health'), '/health');
    assert.equal(routeLabel(routes, '/metrics'), '/metrics');
    assert.equal(routeLabel(routes, '/wp-admin/x'), 'other');
  });

  void it('serves the exposition and counts finished requests by path, method and status', async () => {
    const { port } = await started;
    const base = `http://127.0.0.1:${port}`;
    assert.equal((await fetch(`${base}/health`)).status, 200);
    assert.equal((await fetch(`${base}/nope?x=1`)).status, 404);
    const res = await fetch(`${base}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    assert.equal(metricType(text, 'centrifugo_node_build'), 'gauge');
    assert.equal(metricValue(text, 'centrifugo_node_build', { version: '1.2.3' }), 1);
    const http = 'centrifugo_node_incoming_http_requests_total';
    assert.equal(metricValue(text, http, { path: '/health', method: 'GET', status: '200' }), 1);
    assert.equal(metricValue(text, http, { path: 'other', method: 'GET', status: '404' }), 1);
  });
});
