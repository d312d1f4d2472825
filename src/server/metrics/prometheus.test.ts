import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { connectFake, waitFor, type FakeTransport } from '../../../test/helpers/fake-transport.js';
import { metricType, metricValue } from '../../../test/helpers/prom.js';
import type { NodeHandlers } from '../../core/handlers.js';
import { Node, type NodeOptions } from '../../core/node.js';
import { ClientError, ErrorCode } from '../../protocol/codes.js';
import { PrometheusMetrics, type PrometheusOptions } from './prometheus.js';

const nodes: Node[] = [];

afterEach(async () => {
  for (const n of nodes.splice(0)) await n.shutdown();
});

const handlers: NodeHandlers = {
  onConnecting: async (e) => ({ credentials: { userId: e.token ?? '' } }),
  onSubscribe: async (_c, e) => {
    if (e.channel === 'forbidden') throw new ClientError(ErrorCode.permissionDenied);
    const options = { enableRecovery: true, emitJoinLeave: true, pushJoinLeave: true };
    if (e.channel === 'room') return { options: { ...options, emitPresence: true } };
    if (e.channel === 'cached') return { options: { ...options, recoveryMode: 'cache' as const } };
    return { options };
  },
  onPublish: async () => ({ options: { historySize: 10, historyTtl: 60_000 } }),
};

async function setup(
  o: Partial<PrometheusOptions> = {},
  client: NodeOptions['client'] = {},
): Promise<{ node: Node; m: PrometheusMetrics }> {
  const m = new PrometheusMetrics({ version: '9.9.9', processMetrics: false, ...o });
  const node = new Node({ handlers, metrics: m, timerResolution: 10, client });
  nodes.push(node);
  m.bindNode(node);
  await node.run();
  return { node, m };
}

async function connect(node: Node, user: string, name = 'websocket'): Promise<FakeTransport> {
  const t = connectFake(node, { name });
  t.send({ id: 1, connect: { token: user } });
  await waitFor(() => t.reply(1) !== undefined, 2000, 'connect reply');
  return t;
}

async function subscribe(t: FakeTransport, id: number, sub: Record<string, unknown>): Promise<void> {
  t.send({ id, subscribe: sub });
  await waitFor(() => t.reply(id) !== undefined, 2000, 'subscribe reply');
}

void describe('Prometheus metrics of a node', () => {
  void it('reports node state at scrape time, with Centrifugo names and types', async () => {
    const { node, m } = await setup();
    const a = await connect(node, 'alice');
    const b = await connect(node, 'alice', 'sse');
    const c = await connect(node, 'bob');
    await subscribe(a, 2, { channel: 'news' });
    await subscribe(b, 2, { channel: 'news' });
    await subscribe(c, 2, { channel: 'chat' });
    let text = await m.metrics();
    assert.equal(metricType(text, 'centrifugo_node_num_clients'), 'gauge');
    assert.equal(metricValue(text, 'centrifugo_node_num_clients'), 3);
    assert.equal(metricValue(text, 'centrifugo_node_num_users'), 2);
    assert.equal(metricValue(text, 'centrifugo_node_num_subscriptions'), 3);
    assert.equal(metricValue(text, 'centrifugo_node_num_channels'), 2);
    assert.equal(metricValue(text, 'centrifugo_node_num_nodes'), 1);
    assert.equal(metricValue(text, 'centrifugo_node_build', { version: '9.9.9' }), 1);
    assert.equal(metricValue(text, 'centrifugo_client_connections_inflight', { transport: 'websocket' }), 2);
    assert.equal(metricValue(text, 'centrifugo_client_connections_inflight', { transport: 'sse' }), 1);
    assert.equal(metricValue(text, 'centrifugo_client_connections_accepted', { transport: 'websocket' }), 2);
    assert.equal(metricValue(text, 'centrifugo_client_subscriptions_accepted'), 3);

    // Gauges follow the node without any event bookkeeping.
    c.client.handleClose();
    text = await m.metrics();
    assert.equal(metricValue(text, 'centrifugo_node_num_clients'), 2);
    assert.equal(metricValue(text, 'centrifugo_node_num_users'), 1);
    assert.equal(metricValue(text, 'centrifugo_node_num_channels'), 1);
    assert.equal(metricValue(text, 'centrifugo_client_subscriptions_inflight'), 2);
  });

  void it('counts broker traffic, broadcasts and what the writers flushed', async () => {
    const { node, m } = await setup();
    const a = await connect(node, 'alice');
    const b = await connect(node, 'bob');
    await subscribe(a, 2, { channel: 'news' });
    await subscribe(b, 2, { channel: 'news' });
    const before = (await m.metrics()).toString();
    const sentBefore =
      metricValue(before, 'centrifugo_transport_messages_sent', { transport: 'websocket' }) ?? 0;
    const bytesBefore =
      metricValue(before, 'centrifugo_transport_messages_sent_size', { transport: 'websocket' }) ?? 0;
    const framesBefore = a.messages.length + b.messages.length;
    const sizeBefore = [...a.frames, ...b.frames].flat().reduce((n, x) => n + x.length, 0);
    await node.publish('news', Buffer.from('{"x":1}'));
    await node.publish('news', Buffer.from('{"x":2}'));
    await waitFor(
      () => a.pushes().filter((p) => p.pub).length === 2 && b.pushes().filter((p) => p.pub).length === 2,
    );
    const text = await m.metrics();
    const labels = { type: 'publication', channel_namespace: '' };
    assert.equal(metricValue(text, 'centrifugo_node_messages_sent_count', labels), 2);
    assert.equal(metricValue(text, 'centrifugo_node_messages_received_count', labels), 2);
    // Two join messages went to the broker and came back.
    assert.equal(metricValue(text, 'centrifugo_node_messages_sent_count', { type: 'join' }), 2);
    assert.equal(metricValue(text, 'centrifugo_node_messages_received_count', { type: 'join' }), 2);
    assert.equal(
      metricValue(text, 'centrifugo_node_broadcast_duration_seconds_count', { type: 'publication' }),
      2,
    );
    const written = a.messages.length + b.messages.length - framesBefore;
    const size = [...a.frames, ...b.frames].flat().reduce((n, x) => n + x.length, 0) - sizeBefore;
    assert.equal(
      (metricValue(text, 'centrifugo_transport_messages_sent', { transport: 'websocket' }) ?? 0) - sentBefore,
      written,
    );
    assert.equal(
      (metricValue(text, 'centrifugo_transport_messages_sent_size', { transport: 'websocket' }) ?? 0) -
        bytesBefore,
      size,
    );
    // Control messages: the node's heartbeat went out at start.
    assert.ok((metricValue(text, 'centrifugo_node_messages_sent_count', { type: 'control' }) ?? 0) >= 1);
  });

  void it('times commands and counts reply errors, server disconnects and unsubscribes', async () => {
    const { node, m } = await setup();
    const a = await connect(node, 'alice');
    await subscribe(a, 2, { channel: 'news' });
    await subscribe(a, 3, { channel: 'news' }); // already subscribed: 105
    await subscribe(a, 4, { channel: 'forbidden' }); // 103
    assert.equal(a.reply(3)?.error?.code, 105);
    assert.equal(a.reply(4)?.error?.code, 103);
    a.client.unsubscribe('news');
    a.client.disconnect({ code: 3503, reason: 'force reconnect' });
    const text = await m.metrics();
    const cmd = 'centrifugo_client_command_duration_seconds';
    assert.equal(metricType(text, cmd), 'summary');
    assert.equal(metricValue(text, `${cmd}_count`, { method: 'connect' }), 1);
    assert.equal(metricValue(text, `${cmd}_count`, { method: 'subscribe' }), 3);
    assert.equal(metricValue(text, `${cmd}_histogram_count`, { method: 'subscribe' }), 3);
    assert.equal(metricValue(text, `${cmd}_histogram_bucket`, { method: 'subscribe', le: '+Inf' }), 3);
    const errors = 'centrifugo_client_num_reply_errors';
    assert.equal(metricValue(text, errors, { method: 'subscribe', code: '105', channel_namespace: '' }), 1);
    assert.equal(metricValue(text, errors, { method: 'subscribe', code: '103' }), 1);
    assert.equal(metricValue(text, 'centrifugo_client_num_server_unsubscribes', { code: '2000' }), 1);
    assert.equal(metricValue(text, 'centrifugo_client_num_server_disconnects', { code: '3503' }), 1);
    // Frames received, by command type.
    const recv = 'centrifugo_transport_messages_received';
    assert.equal(metricValue(text, recv, { transport: 'websocket', frame_type: 'subscribe' }), 3);
    assert.equal(metricValue(text, recv, { transport: 'websocket', frame_type: 'connect' }), 1);
    assert.ok((metricValue(text, `${recv}_size`, { transport: 'websocket' }) ?? 0) > 0);
  });

  void it('counts node actions under Centrifugo action names and times surveys', async () => {
    const { node, m } = await setup();
    const count = async (action: string): Promise<number | undefined> =>
      metricValue(await m.metrics(), 'centrifugo_node_action_count', { action, channel_namespace: '' });
    // Every action is exported from the start, at zero.
    assert.equal(metricType(await m.metrics(), 'centrifugo_node_action_count'), 'counter');
    assert.equal(await count('history_recover'), 0);
    const a = await connect(node, 'alice');
    const b = await connect(node, 'bob');
    await subscribe(a, 2, { channel: 'room' });
    await subscribe(b, 2, { channel: 'room' });
    await node.presence('room');
    await node.presenceStats('room');
    await node.history('room', { limit: 0 });
    await node.removeHistory('room');
    await node.channels();
    a.client.unsubscribe('room');
    b.client.handleClose();
    // The broker hears of the channel's last subscriber leaving once the unsubscribe settles.
    for (let i = 0; i < 100 && (await count('broker_unsubscribe')) !== 1; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    const expected: Record<string, number> = {
      add_client: 2,
      remove_client: 1,
      add_subscription: 2,
      remove_subscription: 2,
      broker_subscribe: 1,
      broker_unsubscribe: 1,
      add_presence: 2,
      remove_presence: 2,
      presence: 1,
      presence_stats: 1,
      history: 1,
      history_remove: 1,
      // Each subscription with recovery on read the stream's top.
      history_stream_top: 2,
      survey: 1,
    };
    for (const [action, n] of Object.entries(expected)) assert.equal(await count(action), n, action);
    const text = await m.metrics();
    assert.equal(metricType(text, 'centrifugo_node_survey_duration_seconds'), 'summary');
    assert.equal(metricValue(text, 'centrifugo_node_survey_duration_seconds_count', { op: 'channels' }), 1);
  });

  void it('counts each periodic presence refresh as add_presence', async () => {
    const { node, m } = await setup({}, { presenceUpdateInterval: 30 });
    const a = await connect(node, 'alice');
    await subscribe(a, 2, { channel: 'room' });
    const count = async (): Promise<number> =>
      metricValue(await m.metrics(), 'centrifugo_node_action_count', { action: 'add_presence' }) ?? 0;
    // One at subscribe, then one per refresh.
    for (let i = 0; i < 300 && (await count()) < 3; i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok((await count()) >= 3, `add_presence ${await count()}`);
  });

  void it('observes the ping/pong round trip by transport', async () => {
    const { node, m } = await setup({}, { pingInterval: 60, pongTimeout: 500 });
    const t = await connect(node, 'alice', 'sse');
    await waitFor(() => t.messages.some((msg) => Object.keys(msg).length === 0), 2000, 'ping');
    t.send({});
    const h = 'centrifugo_client_ping_pong_duration_seconds';
    const text = await m.metrics();
    assert.equal(metricType(text, h), 'histogram');
    assert.equal(metricValue(text, `${h}_count`, { transport: 'sse' }), 1);
    assert.equal(metricValue(text, `${h}_bucket`, { transport: 'sse', le: '10' }), 1);
    assert.ok((metricValue(text, `${h}_sum`, { transport: 'sse' }) ?? -1) >= 0);
  });

  void it('does not count a client going away as a server disconnect', async () => {
    const { node, m } = await setup();
    const a = await connect(node, 'alice');
    a.client.handleClose();
    const text = await m.metrics();
    assert.equal(metricValue(text, 'centrifugo_client_num_server_disconnects'), undefined);
  });

  void it('counts recoveries and, when enabled, the recovered publications', async () => {
    const { node, m } = await setup({ recoveredPublicationsHistogram: true });
    const r1 = await node.publish('feed', Buffer.from('1'), { historySize: 10, historyTtl: 60_000 });
    await node.publish('feed', Buffer.from('2'), { historySize: 10, historyTtl: 60_000 });
    const a = await connect(node, 'alice');
    await subscribe(a, 2, { channel: 'feed', recover: true, offset: r1.offset, epoch: r1.epoch });
    await subscribe(a, 3, { channel: 'other', recover: true, offset: 0, epoch: r1.epoch });
    assert.equal(a.reply(2)?.subscribe?.recovered, true);
    const text = await m.metrics();
    assert.equal(
      metricValue(text, 'centrifugo_client_recover', { recovered: 'yes', has_recovered_publications: 'yes' }),
      1,
    );
    assert.equal(metricValue(text, 'centrifugo_client_recover', { recovered: 'no' }), 1);
    assert.equal(metricValue(text, 'centrifugo_client_recovered_publications_count'), 1);
    assert.equal(metricValue(text, 'centrifugo_client_recovered_publications_sum'), 1);
    const actions = 'centrifugo_node_action_count';
    assert.equal(metricValue(text, actions, { action: 'history_recover' }), 2);
    assert.equal(metricValue(text, actions, { action: 'history_recover_cache' }), 0);
    await subscribe(a, 4, { channel: 'cached', recover: true, offset: 0, epoch: '' });
    assert.equal(metricValue(await m.metrics(), actions, { action: 'history_recover_cache' }), 1);
  });

  void it('with native histograms drops the Summaries and keeps the histograms', async () => {
    const { node, m } = await setup({ nativeHistograms: true });
    await connect(node, 'alice');
    m.apiCommandDone('http', 'publish', m.now(), undefined);
    const text = await m.metrics();
    assert.equal(metricType(text, 'centrifugo_client_command_duration_seconds'), undefined);
    assert.equal(metricType(text, 'centrifugo_api_command_duration_seconds'), undefined);
    assert.equal(metricType(text, 'centrifugo_client_command_duration_seconds_histogram'), 'histogram');
    assert.equal(metricValue(text, 'centrifugo_api_command_duration_seconds_histogram_count'), 1);
    assert.equal(metricType(text, 'centrifugo_client_recovered_publications'), undefined);
  });
});

void describe('Prometheus metrics of the server', () => {
  void it('times API commands by protocol and method and counts their errors', async () => {
    const m = new PrometheusMetrics({ version: 'v', processMetrics: false });
    m.apiCommandDone('http', 'publish', m.now(), undefined);
    m.apiCommandDone('grpc', 'publish', m.now(), 102);
    const text = await m.metrics();
    const d = 'centrifugo_api_command_duration_seconds';
    assert.equal(metricValue(text, `${d}_count`, { protocol: 'http', method: 'publish' }), 1);
    assert.equal(metricValue(text, `${d}_histogram_count`, { protocol: 'grpc', method: 'publish' }), 1);
    assert.equal(
      metricValue(text, 'centrifugo_api_command_errors_total', {
        protocol: 'grpc',
        method: 'publish',
        error: '102',
      }),
      1,
    );
    assert.equal(metricValue(text, 'centrifugo_api_command_errors_total', { protocol: 'http' }), undefined);
  });

  void it('times proxy calls and tracks failures and calls in flight', async () => {
    const m = new PrometheusMetrics({ version: 'v', processMetrics: false });
    const t1 = m.proxyStarted('http', 'connect', 'default');
    const t2 = m.proxyStarted('grpc', 'rpc', 'backend');
    let text = await m.metrics();
    assert.equal(metricValue(text, 'centrifugo_proxy_inflight_requests', { type: 'connect' }), 1);
    m.proxyDone('http', 'connect', 'default', t1, false);
    m.proxyDone('grpc', 'rpc', 'backend', t2, true);
    text = await m.metrics();
    const labels = { protocol: 'grpc', type: 'rpc', name: 'backend' };
    assert.equal(metricValue(text, 'centrifugo_proxy_duration_seconds_count', labels), 1);
    assert.equal(metricValue(text, 'centrifugo_proxy_duration_seconds_histogram_count', labels), 1);
    assert.equal(metricValue(text, 'centrifugo_proxy_errors', labels), 1);
    assert.equal(metricValue(text, 'centrifugo_proxy_errors', { type: 'connect' }), 0);
    assert.equal(metricValue(text, 'centrifugo_proxy_inflight_requests'), 0);
  });

  void it('counts HTTP requests with bounded method labels and the connection limit', async () => {
    const m = new PrometheusMetrics({ version: 'v', processMetrics: false });
    m.httpRequest('/api/publish', 'POST', 200);
    m.httpRequest('other', 'BREW', 404);
    m.connectionLimitReached();
    const text = await m.metrics();
    const http = 'centrifugo_node_incoming_http_requests_total';
    assert.equal(metricValue(text, http, { path: '/api/publish', method: 'POST', status: '200' }), 1);
    assert.equal(metricValue(text, http, { path: 'other', method: 'other', status: '404' }), 1);
    assert.equal(metricValue(text, 'centrifugo_node_client_connection_limit'), 1);
  });

  void it('adds the Node.js process metrics by default', async () => {
    const m = new PrometheusMetrics({ version: 'v' });
    const text = await m.metrics();
    assert.ok((metricValue(text, 'process_resident_memory_bytes') ?? 0) > 0);
    assert.equal(metricType(text, 'process_cpu_seconds_total'), 'counter');
  });
});

void describe('a node without metrics', () => {
  void it('gives writers no tally and reports nothing', async () => {
    const node = new Node({ handlers, timerResolution: 10 });
    nodes.push(node);
    await node.run();
    assert.equal(node.metrics.sentTally('websocket'), undefined);
    assert.equal(node.metrics.now(), 0);
    const a = await connect(node, 'alice');
    await subscribe(a, 2, { channel: 'news' });
    await node.publish('news', Buffer.from('1'));
    await waitFor(() => a.pushes().some((p) => p.pub));
  });
});
