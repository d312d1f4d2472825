/**
 * Centrifugo v6's Prometheus metrics (names, types and label names as Centrifugo exposes them,
 * namespace `centrifugo`) over the core `NodeMetrics` hooks, plus the server API, proxy, HTTP and
 * connection-limit metrics. Counts of live things are read from the node when scraped.
 */
import { collectDefaultMetrics, Registry } from 'prom-client';
import {
  NODE_ACTIONS,
  type BrokerMessageType,
  type NodeAction,
  type NodeMetrics,
  type SentTally,
} from '../../core/metrics.js';
import type { Node } from '../../core/node.js';
import type { Command } from '../../protocol/types.js';
import type { ApiMetrics } from '../api/executor.js';
import type { ProxyMetrics } from '../proxy/hooks.js';
import { joinClusterMetrics, type ClusterMetricsClient } from './cluster.js';
import {
  CallbackFamily,
  HistogramFamily,
  register,
  SummaryFamily,
  ValueFamily,
  type Family,
  type FamilyAggregator,
  type HistogramCell,
  type SummaryCell,
  type SummaryWindow,
  type ValueCell,
} from './families.js';

const NS = 'centrifugo';

/** Go client's `prometheus.DefBuckets`. */
const DEF_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const COMMAND_BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];
const BROADCAST_BUCKETS = [
  0.000001, 0.000005, 0.00001, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
  0.5, 1, 2.5, 5, 10,
];
const PING_PONG_BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];
const RECOVERED_BUCKETS = [0, 1, 2, 3, 5, 10, 20, 50, 100, 250, 500, 1000, 2000, 5000, 10000];
const QUANTILES = [0.5, 0.99, 0.999];
const HTTP_METHODS = new Set([
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'PATCH',
  'DELETE',
  'OPTIONS',
  'CONNECT',
  'TRACE',
]);

/** Label value of the channel namespace: Centrifugo OSS leaves it empty (resolution is PRO). */
const NO_NS = '';

/** `prometheus.*` settings that shape the metrics. */
export interface PrometheusOptions {
  /** Reported in `centrifugo_node_build{version}`. */
  version: string;
  /**
   * `prometheus.native_histograms`: the deprecated Summaries are not exposed (as in Centrifugo);
   * their `_histogram` companions stay. prom-client has no sparse (native) histogram encoding, so
   * histograms keep their classic buckets.
   */
  nativeHistograms?: boolean;
  /** `prometheus.recovered_publications_histogram`. */
  recoveredPublicationsHistogram?: boolean;
  /** Node.js process metrics (`process_*`, `nodejs_*`). Default true. */
  processMetrics?: boolean;
  /** Summary window clock and size (tests). */
  summaryWindow?: Partial<SummaryWindow>;
}

/** A summary + histogram pair observed together (Centrifugo's dual instruments). */
interface Timer {
  summary: SummaryCell | undefined;
  histogram: HistogramCell;
}

/** Command kind of a decoded client command, as Centrifugo's `frame_type` label names it. */
function frameType(cmd: Command): string {
  if (cmd.connect) return 'connect';
  if (cmd.subscribe) return 'subscribe';
  if (cmd.unsubscribe) return 'unsubscribe';
  if (cmd.publish) return 'publish';
  if (cmd.presence) return 'presence';
  if (cmd.presence_stats) return 'presence_stats';
  if (cmd.history) return 'history';
  if (cmd.rpc) return 'rpc';
  if (cmd.send) return 'send';
  if (cmd.refresh) return 'refresh';
  if (cmd.sub_refresh) return 'sub_refresh';
  return (cmd.id ?? 0) === 0 ? 'client_pong' : 'unknown';
}

/**
 * The Prometheus registry of one server. Implements the core hooks (`NodeMetrics`), the server
 * API's (`ApiMetrics`) and the proxies' (`ProxyMetrics`). Call `bindNode` once the node exists.
 */
export class PrometheusMetrics implements NodeMetrics, ApiMetrics, ProxyMetrics {
  readonly registry = new Registry();
  private node: Node | undefined;
  private readonly window: SummaryWindow;
  private readonly native: boolean;

  private readonly brokerSentCells: Record<BrokerMessageType, ValueCell>;
  private readonly brokerReceivedCells: Record<BrokerMessageType, ValueCell>;
  private readonly broadcast: HistogramCell;
  private readonly actionCells: Record<NodeAction, ValueCell>;
  /** `node_survey_duration_seconds` (a Summary only, as in Centrifugo); none with native histograms. */
  private readonly surveyDuration: SummaryFamily | undefined;
  private readonly pingPongFamily: HistogramFamily;
  /** `client_ping_pong_duration_seconds` cells by transport. */
  private readonly pingPongCells = new Map<string, HistogramCell>();
  private readonly commandDuration: (method: string) => Timer;
  private readonly replyErrors: ValueFamily;
  private readonly disconnects: ValueFamily;
  private readonly unsubscribes: ValueFamily;
  private readonly recoverCount: ValueFamily;
  private readonly recoveredPubs: HistogramCell | undefined;
  private readonly accepted: ValueFamily;
  private readonly subsAccepted: ValueCell;
  private readonly tallies = new Map<string, SentTally>();
  private readonly received = new Map<string, Map<string, { n: ValueCell; size: ValueCell }>>();
  private readonly receivedCount: ValueFamily;
  private readonly receivedSize: ValueFamily;
  private readonly apiDuration: (protocol: string, method: string) => Timer;
  private readonly apiErrors: ValueFamily;
  private readonly proxyCells = new Map<string, { timer: Timer; errors: ValueCell; inflight: ValueCell }>();
  private readonly proxyDuration: SummaryFamily | undefined;
  private readonly proxyHistogram: HistogramFamily;
  private readonly proxyErrors: ValueFamily;
  private readonly proxyInflight: ValueFamily;
  private readonly connLimit: ValueCell;
  private readonly httpRequests: ValueFamily;
  /** Set in a worker process of `--workers N`: scrapes combine every worker's figures. */
  private readonly cluster: ClusterMetricsClient | undefined;

  constructor(o: PrometheusOptions) {
    this.native = o.nativeHistograms === true;
    this.window = {
      maxAgeMs: 10 * 60_000,
      ageBuckets: 5,
      sampleSize: 512,
      now: Date.now,
      ...o.summaryWindow,
    };
    const add = <F extends Family>(f: F): F => {
      register(this.registry, f);
      return f;
    };
    const counter = (name: string, help: string, labels: readonly string[] = []): ValueFamily =>
      add(new ValueFamily('counter', `${NS}_${name}`, help, labels));
    const summary = (name: string, help: string, labels: readonly string[]): SummaryFamily | undefined =>
      this.native ? undefined : add(new SummaryFamily(`${NS}_${name}`, help, labels, QUANTILES, this.window));
    const histogram = (
      name: string,
      help: string,
      labels: readonly string[],
      buckets: readonly number[],
    ): HistogramFamily => add(new HistogramFamily(`${NS}_${name}`, help, labels, buckets));
    const timers = (
      name: string,
      what: string,
      labels: readonly string[],
      buckets: readonly number[],
    ): ((...values: string[]) => Timer) => {
      const s = summary(name, `${what} summary.`, labels);
      const h = histogram(`${name}_histogram`, `${what} histogram.`, labels, buckets);
      const cache = new Map<string, Timer>();
      return (...values) => {
        const key = values.join('\u0000');
        let t = cache.get(key);
        if (t === undefined) {
          t = { summary: s?.child(...values), histogram: h.child(...values) };
          cache.set(key, t);
        }
        return t;
      };
    };
    // Gauges are summed over worker processes (`--workers N`) unless `aggregator` says otherwise.
    const gauge = (
      name: string,
      help: string,
      labels: readonly string[],
      collect: () => Iterable<readonly [readonly string[], number]>,
      aggregator: FamilyAggregator = 'sum',
    ): void => {
      add(new CallbackFamily('gauge', `${NS}_${name}`, help, labels, collect)).aggregator = aggregator;
    };
    const nodeGauge = (
      name: string,
      help: string,
      read: (n: Node) => number,
      aggregator: FamilyAggregator = 'sum',
    ): void => gauge(name, help, [], () => (this.node ? [[[], read(this.node)]] : []), aggregator);

    // ---- node ----
    const types: BrokerMessageType[] = ['publication', 'join', 'leave', 'control'];
    const sent = counter('node_messages_sent_count', 'Number of messages sent by node to broker.', [
      'type',
      'channel_namespace',
    ]);
    const recv = counter('node_messages_received_count', 'Number of messages received from broker.', [
      'type',
      'channel_namespace',
    ]);
    this.brokerSentCells = cellsOf(sent, types);
    this.brokerReceivedCells = cellsOf(recv, types);
    const actions = counter('node_action_count', 'Number of various actions called.', [
      'action',
      'channel_namespace',
    ]);
    this.actionCells = cellsOf(actions, NODE_ACTIONS);
    this.surveyDuration = summary('node_survey_duration_seconds', 'Survey duration summary.', ['op']);
    nodeGauge('node_num_clients', 'Number of clients connected.', (n) => n.hub.numClients);
    nodeGauge('node_num_users', 'Number of unique users connected.', (n) => n.hub.numUsers);
    nodeGauge('node_num_subscriptions', 'Number of subscriptions.', (n) => n.hub.numSubs);
    nodeGauge(
      'node_num_channels',
      'Number of channels with one or more subscribers.',
      (n) => n.hub.numChannels,
    );
    // Every worker sees the same cluster: its size is not a per-process figure.
    nodeGauge(
      'node_num_nodes',
      'Number of nodes in the cluster.',
      (n) => n.cluster.liveNodes().length,
      'max',
    );
    gauge('node_build', 'Node build info.', ['version'], () => [[[o.version], 1]], 'first');
    this.broadcast = histogram(
      'node_broadcast_duration_seconds',
      'Broadcast duration in seconds',
      ['type', 'channel_namespace'],
      BROADCAST_BUCKETS,
    ).child('publication', NO_NS);
    this.pingPongFamily = histogram(
      'client_ping_pong_duration_seconds',
      'Ping/Pong duration in seconds',
      ['transport'],
      PING_PONG_BUCKETS,
    );
    this.connLimit = counter(
      'node_client_connection_limit',
      'Number of refused requests due to node client connection limit.',
    ).child();
    this.httpRequests = counter('node_incoming_http_requests_total', 'Number of incoming HTTP requests', [
      'path',
      'method',
      'status',
    ]);

    // ---- client ----
    const commandTimer = timers(
      'client_command_duration_seconds',
      'Client command duration',
      ['method', 'channel_namespace'],
      COMMAND_BUCKETS,
    );
    this.commandDuration = (method) => commandTimer(method, NO_NS);
    this.replyErrors = counter('client_num_reply_errors', 'Number of errors in replies sent to clients.', [
      'method',
      'code',
      'channel_namespace',
    ]);
    this.disconnects = counter('client_num_server_disconnects', 'Number of server initiated disconnects.', [
      'code',
    ]);
    this.unsubscribes = counter(
      'client_num_server_unsubscribes',
      'Number of server initiated unsubscribes.',
      ['code', 'channel_namespace'],
    );
    this.recoverCount = counter(
      'client_recover',
      'Count of recover operations with success/fail resolution.',
      ['recovered', 'channel_namespace', 'has_recovered_publications'],
    );
    this.recoveredPubs = o.recoveredPublicationsHistogram
      ? histogram(
          'client_recovered_publications',
          'Number of publications recovered during subscription recovery.',
          ['channel_namespace'],
          RECOVERED_BUCKETS,
        ).child(NO_NS)
      : undefined;
    const connLabels = ['transport', 'accept_protocol', 'client_name', 'client_version'];
    this.accepted = counter('client_connections_accepted', 'Count of accepted transports.', connLabels);
    gauge('client_connections_inflight', 'Number of inflight client connections.', connLabels, () => {
      const byTransport = new Map<string, number>();
      for (const c of this.node?.hub.clients.values() ?? []) {
        byTransport.set(c.transportName, (byTransport.get(c.transportName) ?? 0) + 1);
      }
      return [...byTransport].map(([t, n]) => [[t, '', '', ''], n] as const);
    });
    this.subsAccepted = counter('client_subscriptions_accepted', 'Count of accepted client subscriptions.', [
      'client_name',
      'channel_namespace',
    ]).child('', NO_NS);
    gauge(
      'client_subscriptions_inflight',
      'Number of inflight client subscriptions.',
      ['client_name', 'channel_namespace'],
      () => (this.node ? [[['', NO_NS], this.node.hub.numSubs]] : []),
    );

    // ---- transport ----
    const tLabels = ['transport', 'frame_type', 'channel_namespace'];
    const fromTallies =
      (pick: (t: SentTally) => number) => (): Iterable<readonly [readonly string[], number]> =>
        [...this.tallies].map(([transport, t]) => [[transport, '', NO_NS], pick(t)] as const);
    add(
      new CallbackFamily(
        'counter',
        `${NS}_transport_messages_sent`,
        'Number of messages sent to client connections over specific transport.',
        tLabels,
        fromTallies((t) => t.messages),
      ),
    );
    add(
      new CallbackFamily(
        'counter',
        `${NS}_transport_messages_sent_size`,
        'Size in bytes of messages sent to client connections over specific transport (uncompressed and does not include framing overhead).',
        tLabels,
        fromTallies((t) => t.bytes),
      ),
    );
    this.receivedCount = counter(
      'transport_messages_received',
      'Number of messages received from client connections over specific transport.',
      tLabels,
    );
    this.receivedSize = counter(
      'transport_messages_received_size',
      'Size in bytes of messages received from client connections over specific transport (uncompressed and does not include framing overhead).',
      tLabels,
    );

    // ---- server API ----
    this.apiDuration = timers(
      'api_command_duration_seconds',
      'Duration of API per command',
      ['protocol', 'method'],
      DEF_BUCKETS,
    );
    this.apiErrors = counter('api_command_errors_total', 'Total errors in API commands.', [
      'protocol',
      'method',
      'error',
    ]);

    // ---- proxy ----
    const pLabels = ['protocol', 'type', 'name'];
    this.proxyDuration = summary('proxy_duration_seconds', 'Duration of proxy call.', pLabels);
    this.proxyHistogram = histogram(
      'proxy_duration_seconds_histogram',
      'Histogram of duration of proxy call.',
      pLabels,
      DEF_BUCKETS,
    );
    this.proxyErrors = counter('proxy_errors', 'Proxy call error count.', pLabels);
    this.proxyInflight = add(
      new ValueFamily(
        'gauge',
        `${NS}_proxy_inflight_requests`,
        'Number of inflight proxy requests.',
        pLabels,
      ),
    );

    if (o.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
    this.cluster = joinClusterMetrics(this.registry);
  }

  /** Gives the gauges the node whose state they report. */
  bindNode(node: Node): void {
    this.node = node;
  }

  /**
   * The exposition text (Prometheus text format 0.0.4). In a worker of `gyre serve --workers N`,
   * the figures of every worker combined (see `cluster.ts`).
   */
  metrics(): Promise<string> {
    return this.cluster?.scrape() ?? this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** A real-time connection refused because of `client.connection_limit`. */
  connectionLimitReached(): void {
    this.connLimit.inc();
  }

  /** One finished HTTP request (`prometheus.instrument_http_handlers`); `path` must be bounded. */
  httpRequest(path: string, method: string, status: number): void {
    const m = HTTP_METHODS.has(method) ? method : 'other';
    this.httpRequests.child(path, m, String(status)).inc();
  }

  // ---- NodeMetrics ----

  now(): number {
    return performance.now();
  }

  sentTally(transport: string): SentTally {
    let t = this.tallies.get(transport);
    if (t === undefined) {
      t = { messages: 0, bytes: 0 };
      this.tallies.set(transport, t);
    }
    return t;
  }

  commandsReceived(transport: string, commands: readonly Command[], bytes: number): void {
    let byType = this.received.get(transport);
    if (byType === undefined) {
      byType = new Map();
      this.received.set(transport, byType);
    }
    // The frame's size is shared out evenly: commands are not sized one by one.
    const size = bytes / commands.length;
    for (const cmd of commands) {
      const ft = frameType(cmd);
      let cells = byType.get(ft);
      if (cells === undefined) {
        cells = {
          n: this.receivedCount.child(transport, ft, NO_NS),
          size: this.receivedSize.child(transport, ft, NO_NS),
        };
        byType.set(ft, cells);
      }
      cells.n.inc();
      cells.size.inc(size);
    }
  }

  commandDone(method: string, started: number): void {
    observe(this.commandDuration(method), (performance.now() - started) / 1000);
  }

  pingPong(transport: string, started: number): void {
    let cell = this.pingPongCells.get(transport);
    if (cell === undefined) {
      cell = this.pingPongFamily.child(transport);
      this.pingPongCells.set(transport, cell);
    }
    cell.observe((performance.now() - started) / 1000);
  }

  replyError(method: string, code: number): void {
    this.replyErrors.child(method, String(code), NO_NS).inc();
  }

  serverDisconnect(code: number): void {
    this.disconnects.child(String(code)).inc();
  }

  serverUnsubscribe(code: number): void {
    this.unsubscribes.child(String(code), NO_NS).inc();
  }

  recovered(success: boolean, publications: number): void {
    const has = success && publications > 0;
    this.recoverCount.child(success ? 'yes' : 'no', NO_NS, has ? 'yes' : 'no').inc();
    if (success) this.recoveredPubs?.observe(publications);
  }

  connectionAccepted(transport: string): void {
    this.accepted.child(transport, '', '', '').inc();
  }

  subscriptionAccepted(): void {
    this.subsAccepted.inc();
  }

  brokerSent(type: BrokerMessageType): void {
    this.brokerSentCells[type].inc();
  }

  brokerReceived(type: BrokerMessageType): void {
    this.brokerReceivedCells[type].inc();
  }

  broadcastDone(started: number): void {
    this.broadcast.observe((performance.now() - started) / 1000);
  }

  action(name: NodeAction): void {
    this.actionCells[name].inc();
  }

  surveyDone(op: string, started: number): void {
    this.surveyDuration?.child(op).observe((performance.now() - started) / 1000);
  }

  // ---- ApiMetrics ----

  apiCommandDone(protocol: string, method: string, started: number, errorCode: number | undefined): void {
    observe(this.apiDuration(protocol, method), (performance.now() - started) / 1000);
    if (errorCode !== undefined) this.apiErrors.child(protocol, method, String(errorCode)).inc();
  }

  // ---- ProxyMetrics ----

  private proxy(protocol: string, type: string, name: string) {
    const key = `${protocol}\u0000${type}\u0000${name}`;
    let c = this.proxyCells.get(key);
    if (c === undefined) {
      c = {
        timer: {
          summary: this.proxyDuration?.child(protocol, type, name),
          histogram: this.proxyHistogram.child(protocol, type, name),
        },
        errors: this.proxyErrors.child(protocol, type, name),
        inflight: this.proxyInflight.child(protocol, type, name),
      };
      this.proxyCells.set(key, c);
    }
    return c;
  }

  proxyStarted(protocol: string, type: string, name: string): number {
    this.proxy(protocol, type, name).inflight.inc();
    return performance.now();
  }

  proxyDone(protocol: string, type: string, name: string, started: number, failed: boolean): void {
    const c = this.proxy(protocol, type, name);
    c.inflight.dec();
    observe(c.timer, (performance.now() - started) / 1000);
    if (failed) c.errors.inc();
  }
}

/** One cell of `family` per key, labelled with the key and an empty channel namespace. */
function cellsOf<K extends string>(family: ValueFamily, keys: readonly K[]): Record<K, ValueCell> {
  return Object.fromEntries(keys.map((k) => [k, family.child(k, NO_NS)])) as Record<K, ValueCell>;
}

function observe(t: Timer, seconds: number): void {
  t.summary?.observe(seconds);
  t.histogram.observe(seconds);
}
