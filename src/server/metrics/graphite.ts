/**
 * Graphite export (`graphite.*`): every `graphite.interval` the metrics of the Prometheus registry
 * are written to Graphite over one long-lived TCP connection in the plaintext protocol
 * (`<path> <value> <unix seconds>\n`).
 *
 * Paths follow Centrifugo's exporter: `<graphite.prefix>.<node name>.<metric path>`, where the
 * metric name is split at its first two underscores (`centrifugo_node_num_clients` ⇒
 * `centrifugo.node.num_clients`). Summaries give `sum`, `count` and `quantile.50` / `quantile.99` /
 * `quantile.999`; histograms are not exported (Centrifugo skips them too). Labels with an empty
 * value are left out; the others become path parts (`...num_reply_errors.method.publish.code.103`)
 * or, with `graphite.tags`, Graphite tags (`...num_reply_errors;method=publish;code=103`). Counters
 * and summary sums/counts are sent as the increase since the last batch Graphite accepted (so
 * nothing is lost while Graphite is down: the first batch after a reconnect carries it); gauges and
 * quantiles as their current value.
 *
 * The exporter never blocks or fails the server: it connects in the background, reconnects with
 * exponential backoff when Graphite is down or drops the connection, skips an export while the
 * previous batch is still being written, and logs state changes, not every failed attempt.
 */
import net from 'node:net';
import type { Registry } from 'prom-client';
import type { Logger } from '../../core/logger.js';
import { noopLogger } from '../../core/logger.js';
import { backoffDelay } from '../../util/backoff.js';
import type { Config } from '../config/index.js';

/** One sample of a gathered family, as prom-client's `getMetricsAsJSON()` returns it. */
export interface GatheredSample {
  value: number;
  labels: Readonly<Record<string, string | number | undefined>>;
  /** Set on the `_sum`, `_count` and `_bucket` parts of summaries and histograms. */
  metricName?: string;
}

/** One metric family: name, Prometheus type (`counter`, `gauge`, `summary`, `histogram`), samples. */
export interface GatheredFamily {
  name: string;
  type: string;
  values: readonly GatheredSample[];
}

/** Reads the current metrics. */
export type Gather = () => Promise<readonly GatheredFamily[]>;

/** The families of a prom-client registry (Gyre's metric families and the process metrics). */
export function registryGather(registry: Registry): Gather {
  // prom-client types `type` as an enum; at run time it is the type name string.
  return async () => (await registry.getMetricsAsJSON()) as unknown as GatheredFamily[];
}

/** Any character outside printable ASCII (spaces and controls included). */
const NOT_PRINTABLE = /[^\x21-\x7e]/gu;

/**
 * A safe single path component: Centrifugo replaces non-ASCII characters and dots with `_`; Gyre
 * also replaces whitespace, control characters and `;` (which would break the line or read as a tag).
 */
export function pathComponent(s: string): string {
  return s.replace(NOT_PRINTABLE, '_').replace(/[.;]/g, '_');
}

/** A Graphite tag value: any printable ASCII except `;` and `~`. */
function tagValue(s: string): string {
  return s.replace(NOT_PRINTABLE, '_').replace(/[;~]/g, '_');
}

/**
 * The path prefix of one node: `graphite.prefix` (one trailing dot dropped, dots inside kept as
 * levels) then the node name as one component. An empty prefix leaves just the node name.
 */
export function graphitePrefix(prefix: string, nodeName: string): string {
  const p = prefix.replace(/\.$/, '').replace(NOT_PRINTABLE, '_').replace(/;/g, '_');
  const node = pathComponent(nodeName);
  return p === '' ? node : `${p}.${node}`;
}

/** `centrifugo_node_num_clients` ⇒ `['centrifugo', 'node', 'num_clients']`. */
function nameParts(name: string): string[] {
  const i = name.indexOf('_');
  if (i < 0) return [name];
  const j = name.indexOf('_', i + 1);
  const parts =
    j < 0
      ? [name.slice(0, i), name.slice(i + 1)]
      : [name.slice(0, i), name.slice(i + 1, j), name.slice(j + 1)];
  return parts.filter((p) => p !== '').map(pathComponent);
}

/** Quantile as Centrifugo names it: 0.5 ⇒ `50`, 0.99 ⇒ `99`, 0.999 ⇒ `999`. */
export function quantileName(q: number): string {
  const s = String(Math.round(q * 1000));
  return s.length > 2 && s.endsWith('0') ? s.slice(0, -1) : s;
}

/** Integers as they are; other numbers with at most 6 decimals (Centrifugo prints `%f`). */
function formatValue(v: number): string {
  if (Number.isInteger(v)) return String(v);
  const s = v.toFixed(6).replace(/0+$/, '').replace(/\.$/, '');
  return s === '-0' ? '0' : s;
}

/** One batch of lines and the cumulative values it was computed against. */
export interface Batch {
  /** The lines, each ending with `\n`. */
  text: string;
  lines: number;
  /** Cumulative value of every counter-like series now: the baseline once the batch is accepted. */
  next: Map<string, number>;
}

/**
 * Formats `families` as plaintext lines stamped `ts` (unix seconds). `baseline` holds the
 * cumulative values sent last time; counters and summary sums/counts are sent as the increase
 * since then (the whole value the first time, or after a counter went down).
 */
export function formatBatch(
  families: readonly GatheredFamily[],
  opts: { prefix: string; tags: boolean },
  baseline: ReadonlyMap<string, number>,
  ts: number,
): Batch {
  const out: string[] = [];
  const next = new Map<string, number>();
  for (const f of families) {
    if (f.type !== 'counter' && f.type !== 'gauge' && f.type !== 'summary') continue;
    const base = [...(opts.prefix === '' ? [] : [opts.prefix]), ...nameParts(f.name)];
    for (const s of f.values) {
      let valueName: string | undefined;
      let cumulative = f.type === 'counter';
      const labels: [string, string][] = [];
      for (const [k, raw] of Object.entries(s.labels)) {
        if (raw === undefined) continue;
        const v = String(raw);
        if (v === '') continue;
        if (f.type === 'summary' && k === 'quantile') continue;
        labels.push([k, v]);
      }
      if (f.type === 'summary') {
        if (s.metricName === `${f.name}_sum`) valueName = 'sum';
        else if (s.metricName === `${f.name}_count`) valueName = 'count';
        else if (s.labels['quantile'] !== undefined) {
          valueName = `quantile.${quantileName(Number(s.labels['quantile']))}`;
        } else continue;
        cumulative = valueName === 'sum' || valueName === 'count';
      }
      let value = s.value;
      if (!Number.isFinite(value)) continue; // e.g. quantiles of an empty window
      if (cumulative) {
        const key = [f.name, valueName ?? '', ...labels.flat()].join('\u0000');
        const prev = baseline.get(key);
        next.set(key, value);
        if (prev !== undefined && value >= prev) value -= prev;
      }
      const parts = valueName === undefined ? [...base] : [...base, valueName];
      let path: string;
      if (opts.tags) {
        path = parts.join('.') + labels.map(([k, v]) => `;${pathComponent(k)}=${tagValue(v)}`).join('');
      } else {
        for (const [k, v] of labels) parts.push(pathComponent(k), pathComponent(v));
        path = parts.join('.');
      }
      out.push(`${path} ${formatValue(value)} ${ts}\n`);
    }
  }
  return { text: out.join(''), lines: out.length, next };
}

/** Settings of a {@link GraphiteExporter}. */
export interface GraphiteExporterOptions {
  host: string;
  port: number;
  /** Full path prefix, see {@link graphitePrefix}. */
  prefix: string;
  /** Export period (ms). */
  intervalMs: number;
  /** Graphite tags instead of labels in the path. */
  tags: boolean;
  gather: Gather;
  logger?: Logger;
  /** Connection attempt time limit (ms). Default 1000, as Centrifugo's dial timeout. */
  connectTimeoutMs?: number;
  /** First reconnect delay (ms), doubled after each failed attempt. Default 100. */
  backoffMinMs?: number;
  /** Longest reconnect delay (ms). Default 10000. */
  backoffMaxMs?: number;
  /** Clock (ms); replaceable in tests. */
  now?: () => number;
}

/** Pushes metrics to Graphite every interval over a reconnecting TCP connection. */
export class GraphiteExporter {
  private readonly logger: Logger;
  private readonly now: () => number;
  private socket: net.Socket | undefined;
  private connected = false;
  private stopped = false;
  private started = false;
  /** Failed connection attempts since the last success. */
  private failures = 0;
  /** A batch is being gathered, or written to this socket: the next tick is skipped, not queued. */
  private gathering = false;
  private writing: net.Socket | undefined;
  private lastError = '';
  private baseline = new Map<string, number>();
  private ticker: NodeJS.Timeout | undefined;
  private retry: NodeJS.Timeout | undefined;
  /** Batches Graphite's socket accepted (for logs and tests). */
  batches = 0;

  constructor(private readonly o: GraphiteExporterOptions) {
    this.logger = o.logger ?? noopLogger;
    this.now = o.now ?? Date.now;
  }

  /** Connects in the background and exports every interval until {@link stop}. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.connect();
    this.ticker = setInterval(() => void this.tick(), this.o.intervalMs);
    this.ticker.unref();
  }

  /** True while a connection to Graphite is open. */
  get isConnected(): boolean {
    return this.connected;
  }

  private connect(): void {
    this.retry = undefined;
    if (this.stopped) return;
    const { host, port } = this.o;
    const sock = net.connect({ host, port });
    this.socket = sock;
    const limit = this.o.connectTimeoutMs ?? 1000;
    const timer = setTimeout(() => sock.destroy(new Error(`connect timed out after ${limit} ms`)), limit);
    timer.unref();
    sock.once('connect', () => {
      clearTimeout(timer);
      if (this.socket !== sock) return;
      this.connected = true;
      sock.setKeepAlive(true, 30_000);
      this.logger.info(
        { host, port, ...(this.failures > 0 ? { after_attempts: this.failures } : {}) },
        'graphite connected',
      );
      this.failures = 0;
    });
    // Graphite sends nothing; whatever arrives is read and dropped.
    sock.on('data', () => {});
    sock.on('error', (err) => {
      this.lastError = err.message;
    });
    sock.once('close', () => {
      clearTimeout(timer);
      if (this.writing === sock) this.writing = undefined;
      if (this.socket !== sock) return;
      this.socket = undefined;
      const wasConnected = this.connected;
      this.connected = false;
      if (this.stopped) return;
      if (wasConnected) {
        this.logger.warn(
          { host, port, error: this.lastError || 'closed by peer' },
          'graphite connection lost',
        );
      } else if (this.failures === 0) {
        this.logger.warn({ host, port, error: this.lastError }, 'graphite unavailable, retrying');
      } else {
        this.logger.debug(
          { host, port, error: this.lastError, attempts: this.failures },
          'graphite unavailable',
        );
      }
      this.lastError = '';
      if (!wasConnected) this.failures++;
      this.scheduleReconnect(wasConnected);
    });
  }

  private scheduleReconnect(immediate: boolean): void {
    // A dropped connection is retried after the shortest delay; failed attempts back off.
    const delay = backoffDelay(
      immediate ? 0 : this.failures - 1,
      this.o.backoffMinMs ?? 100,
      this.o.backoffMaxMs ?? 10_000,
    );
    this.retry = setTimeout(() => this.connect(), delay);
    this.retry.unref();
  }

  /** Gathers and writes one batch when connected and the previous one is done. */
  private async tick(): Promise<void> {
    if (this.stopped || !this.connected || this.gathering || this.writing !== undefined) return;
    this.gathering = true;
    try {
      const families = await this.o.gather();
      const sock = this.socket;
      if (this.stopped || !this.connected || sock === undefined) return;
      const batch = formatBatch(
        families,
        { prefix: this.o.prefix, tags: this.o.tags },
        this.baseline,
        Math.floor(this.now() / 1000),
      );
      if (batch.lines === 0) return;
      this.writing = sock;
      sock.write(batch.text, (err) => {
        if (this.writing !== sock) return;
        this.writing = undefined;
        // A failed write leaves the baseline: the next batch carries the increase again.
        if (err) return;
        this.baseline = batch.next;
        this.batches++;
      });
    } catch (err) {
      this.logger.warn({ error: (err as Error).message }, 'graphite export failed');
    } finally {
      this.gathering = false;
    }
  }

  /** Stops exporting and closes the connection (buffered lines are flushed for up to 1 s). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.ticker);
    clearTimeout(this.retry);
    const sock = this.socket;
    this.socket = undefined;
    const wasConnected = this.connected;
    this.connected = false;
    if (sock === undefined || sock.destroyed) return;
    await new Promise<void>((resolve) => {
      sock.once('close', () => resolve());
      if (!wasConnected) {
        sock.destroy();
        return;
      }
      const guard = setTimeout(() => sock.destroy(), 1000);
      guard.unref();
      sock.end();
    });
  }
}

/** Starts the exporter of `graphite.*` for the node called `nodeName`. */
export function startGraphite(
  cfg: Config['graphite'],
  registry: Registry,
  nodeName: string,
  logger: Logger,
): GraphiteExporter {
  const exporter = new GraphiteExporter({
    host: cfg.host,
    port: cfg.port,
    prefix: graphitePrefix(cfg.prefix, nodeName),
    intervalMs: cfg.interval,
    tags: cfg.tags,
    gather: registryGather(registry),
    logger,
  });
  exporter.start();
  logger.info(
    { address: `${cfg.host}:${cfg.port}`, interval_ms: cfg.interval, tags: cfg.tags },
    'exporting metrics to graphite',
  );
  return exporter;
}
