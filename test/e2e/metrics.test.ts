/**
 * Prometheus metrics of `gyre serve`: the scraped `/metrics` text reflects connected SDK clients,
 * subscriptions, publications through the server API, failing client commands and API calls,
 * with Centrifugo's metric and label names; the endpoint moves to the internal port when one is
 * configured and does not exist when `prometheus.enabled` is off.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { freePort, startGyre, suiteCleanup, type RunningGyre } from '../helpers/gyre.js';
import {
  apiClient,
  apiPost,
  connectClient,
  jsonClient,
  protobufClient,
  type Recorded,
  type SdkClient,
  subscribeAndWait,
} from '../helpers/clients.js';
import { API_KEY, HMAC_SECRET, standardConfig, uniq } from '../helpers/e2e-config.js';
import { metricType, metricValue, parsePrometheus, type PromSample } from '../helpers/prom.js';
import { hs256Token } from '../helpers/tokens.js';

async function scrape(url: string): Promise<PromSample[]> {
  const res = await fetch(url);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return parsePrometheus(await res.text());
}

/** Scrapes until `check` stops throwing (metrics of async work settle shortly after it). */
async function eventually(
  url: string,
  check: (s: PromSample[]) => void,
  timeoutMs = 5000,
): Promise<PromSample[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await scrape(url);
    try {
      check(s);
      return s;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

void describe('prometheus metrics on the main port', () => {
  const cleanup = suiteCleanup();
  let gyre: RunningGyre;
  let metricsUrl: string;
  before(async () => {
    gyre = await startGyre(cleanup, {
      config: standardConfig({ prometheus: { enabled: true, instrument_http_handlers: true } }),
    });
    metricsUrl = `${gyre.url}/metrics`;
  });

  void test('node, client, transport, API and HTTP metrics follow what clients and the API did', async (t) => {
    const channel = uniq('news');
    const clients: SdkClient[] = [];
    const logs: Recorded[][] = [];
    for (const [user, create] of [
      ['alice', jsonClient],
      ['alice', protobufClient],
      ['bob', jsonClient],
    ] as const) {
      const c = create(
        gyre.wsUrl,
        { token: await hs256Token(HMAC_SECRET, { sub: `${user}-${channel}` }) },
        t,
      );
      await connectClient(c);
      const { log } = await subscribeAndWait(c, channel);
      clients.push(c);
      logs.push(log);
    }

    const api = apiClient(gyre.apiUrl, API_KEY);
    for (let i = 0; i < 3; i++) await api.publish({ channel, data: { i } });
    for (const log of logs) {
      const deadline = Date.now() + 5000;
      while (log.filter((r) => r.event === 'publication').length < 3 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(log.filter((r) => r.event === 'publication').length, 3);
    }

    // A failing API call (unknown namespace ⇒ 102) and a failing client command (publish denied ⇒ 103).
    const bad = await apiPost(
      `${gyre.apiUrl}/publish`,
      { channel: 'nope:x', data: {} },
      { 'X-API-Key': API_KEY },
    );
    assert.equal((bad.json as { error?: { code: number } }).error?.code, 102);
    const denied = await (clients[0] as SdkClient).publish(`locked:${channel}`, { x: 1 }).then(
      () => undefined,
      (err: { code: number }) => err.code,
    );
    assert.equal(denied, 103);

    const s = await eventually(metricsUrl, (s) => {
      assert.equal(
        metricValue(s, 'centrifugo_client_num_reply_errors', { method: 'publish', code: '103' }),
        1,
      );
    });
    assert.equal(metricValue(s, 'centrifugo_node_num_clients'), 3);
    assert.equal(metricValue(s, 'centrifugo_node_num_users'), 2);
    assert.equal(metricValue(s, 'centrifugo_node_num_subscriptions'), 3);
    assert.equal(metricValue(s, 'centrifugo_node_num_channels'), 1);
    assert.equal(metricValue(s, 'centrifugo_node_num_nodes'), 1);
    assert.equal(metricValue(s, 'centrifugo_node_build', { version: '0.1.0' }), 1);

    // Messages to and from the broker by type; 3 publications fanned out to 3 subscribers.
    const pub = { type: 'publication', channel_namespace: '' };
    assert.equal(metricValue(s, 'centrifugo_node_messages_sent_count', pub), 3);
    assert.equal(metricValue(s, 'centrifugo_node_messages_received_count', pub), 3);
    assert.equal(metricValue(s, 'centrifugo_node_broadcast_duration_seconds_count'), 3);
    // Per client: connect reply, subscribe reply, 3 publications, the publish error reply (first only).
    const sent = metricValue(s, 'centrifugo_transport_messages_sent', { transport: 'websocket' }) ?? 0;
    assert.ok(sent >= 3 * 5 + 1, `transport messages sent ${sent}`);
    assert.ok(
      (metricValue(s, 'centrifugo_transport_messages_sent_size', { transport: 'websocket' }) ?? 0) > sent,
    );
    const recv = 'centrifugo_transport_messages_received';
    assert.equal(metricValue(s, recv, { transport: 'websocket', frame_type: 'connect' }), 3);
    assert.equal(metricValue(s, recv, { transport: 'websocket', frame_type: 'subscribe' }), 3);
    assert.equal(metricValue(s, recv, { transport: 'websocket', frame_type: 'publish' }), 1);

    // Client commands and connections.
    const cmd = 'centrifugo_client_command_duration_seconds';
    assert.equal(metricValue(s, `${cmd}_count`, { method: 'connect' }), 3);
    assert.equal(metricValue(s, `${cmd}_count`, { method: 'subscribe' }), 3);
    assert.equal(metricValue(s, `${cmd}_histogram_count`, { method: 'publish' }), 1);
    assert.equal(metricValue(s, 'centrifugo_client_connections_accepted', { transport: 'websocket' }), 3);
    assert.equal(metricValue(s, 'centrifugo_client_connections_inflight', { transport: 'websocket' }), 3);

    // Server API by protocol and method, with the failing call's error code.
    const apiLabels = { protocol: 'http', method: 'publish' };
    assert.equal(metricValue(s, 'centrifugo_api_command_duration_seconds_count', apiLabels), 4);
    assert.equal(metricValue(s, 'centrifugo_api_command_duration_seconds_histogram_count', apiLabels), 4);
    assert.equal(metricValue(s, 'centrifugo_api_command_errors_total', { ...apiLabels, error: '102' }), 1);

    // instrument_http_handlers: API requests by path, method and status (errors travel in the body).
    const http = 'centrifugo_node_incoming_http_requests_total';
    assert.equal(metricValue(s, http, { path: '/api/publish', method: 'POST', status: '200' }), 4);

    // Node.js process metrics come along.
    assert.ok((metricValue(s, 'process_resident_memory_bytes') ?? 0) > 0);

    // Gauges are read at scrape time: a client leaving shows at once, and the server
    // disconnecting one through the API is counted by its code.
    (clients[2] as SdkClient).disconnect();
    await api.disconnect({ user: `alice-${channel}`, disconnect: { code: 4501, reason: 'bye' } } as never);
    const after = await eventually(metricsUrl, (s) => {
      assert.equal(metricValue(s, 'centrifugo_node_num_clients'), 0);
    });
    assert.equal(metricValue(after, 'centrifugo_node_num_users'), 0);
    assert.equal(metricValue(after, 'centrifugo_node_num_subscriptions'), 0);
    assert.equal(metricValue(after, 'centrifugo_client_num_server_disconnects', { code: '4501' }), 2);
  });

  void test('exposes Centrifugo metric types', async () => {
    const text = await (await fetch(metricsUrl)).text();
    assert.equal(metricType(text, 'centrifugo_node_num_clients'), 'gauge');
    assert.equal(metricType(text, 'centrifugo_node_messages_sent_count'), 'counter');
    assert.equal(metricType(text, 'centrifugo_client_command_duration_seconds'), 'summary');
    assert.equal(metricType(text, 'centrifugo_client_command_duration_seconds_histogram'), 'histogram');
    assert.equal(metricType(text, 'centrifugo_api_command_duration_seconds'), 'summary');
  });
});

void describe('prometheus endpoint placement', () => {
  const cleanup = suiteCleanup();

  void test('is absent (404) when prometheus is disabled', async () => {
    const gyre = await startGyre(cleanup, { config: standardConfig() });
    assert.equal((await fetch(`${gyre.url}/metrics`)).status, 404);
  });

  void test('moves to the internal port with a custom handler prefix', async () => {
    const internal = await freePort();
    const gyre = await startGyre(cleanup, {
      config: standardConfig({
        prometheus: { enabled: true, handler_prefix: '/prom' },
        http_server: { internal_port: String(internal), internal_address: '127.0.0.1' },
      }),
    });
    assert.equal((await fetch(`${gyre.url}/prom`)).status, 404);
    assert.equal((await fetch(`http://127.0.0.1:${internal}/metrics`)).status, 404);
    const s = await scrape(`http://127.0.0.1:${internal}/prom`);
    assert.equal(metricValue(s, 'centrifugo_node_num_clients'), 0);
  });
});
