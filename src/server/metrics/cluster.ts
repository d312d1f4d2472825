/**
 * `/metrics` under `gyre serve --workers N`: a scrape reaches one worker (the cluster module
 * spreads connections), so each worker alone would show only its own share, and counters would
 * jump between scrapes. Instead the worker that gets the scrape asks the primary; the primary
 * asks every worker for its samples over IPC, combines them with prom-client's
 * `AggregatorRegistry.aggregate` (counters and histograms summed, gauges summed or as their family
 * says) and answers with the exposition text.
 *
 * A scrape never waits for a worker that died (it is dropped from the round when it exits) nor
 * for longer than `collectTimeoutMs` for one that does not answer: the answer then holds the
 * workers that did. A worker whose primary does not answer falls back to its own figures.
 *
 * Gyre's metric families build their samples at scrape time (`families.ts`); `getMetricsAsJSON`
 * runs that in each worker, so what travels is plain samples, as prom-client expects.
 */
import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry, type Registry } from 'prom-client';
import type { Logger } from '../../core/logger.js';

/** Set in the environment of the workers `runWorkers` forks: their primary answers scrapes. */
export const CLUSTER_METRICS_ENV = 'GYRE_CLUSTER_METRICS';

/** How long the primary waits for the workers' samples. */
const COLLECT_TIMEOUT_MS = 2000;
/** How long a worker waits for the primary's answer before serving its own figures. */
const SCRAPE_TIMEOUT_MS = 5000;

/** IPC messages (JSON over the cluster channel); `gyre` tells them from other messages. */
type Message =
  | { gyre: 'metrics:ready' }
  | { gyre: 'metrics:scrape'; id: number }
  | { gyre: 'metrics:collect'; id: number }
  | { gyre: 'metrics:samples'; id: number; metrics?: MetricJson[]; error?: string }
  | { gyre: 'metrics:result'; id: number; text?: string; error?: string };

/** One family as `Registry.getMetricsAsJSON()` gives it (values may come back `null` for NaN). */
export interface MetricJson {
  name: string;
  help: string;
  type: string;
  aggregator?: string;
  values: Array<{ value: number | null; labels: Record<string, string | number>; metricName?: string }>;
}

function isMessage(m: unknown): m is Message {
  return typeof m === 'object' && m !== null && typeof (m as { gyre?: unknown }).gyre === 'string';
}

/**
 * Combines the families of several workers into one registry. Everything goes through
 * `AggregatorRegistry.aggregate` except summaries: a quantile cannot be summed, so a summary's
 * quantiles become the highest of the workers' (an upper bound of the true quantile) while its
 * `_sum` and `_count` are summed. NaN (sent as `null` by JSON) stays NaN.
 */
export function aggregateWorkers(perWorker: readonly MetricJson[][]): Registry {
  const restored = perWorker.map((list) =>
    list.map((m) => ({ ...m, values: m.values.map((v) => ({ ...v, value: v.value ?? NaN })) })),
  );
  const summaries = new Map<string, MetricJson[]>();
  const others = restored.map((list) =>
    list.filter((m) => {
      if (m.type !== 'summary') return true;
      summaries.set(m.name, [...(summaries.get(m.name) ?? []), m]);
      return false;
    }),
  );
  const merged = [...summaries.values()].map(mergeSummary);
  return AggregatorRegistry.aggregate([...others, merged]);
}

function mergeSummary(parts: MetricJson[]): MetricJson {
  const first = parts[0] as MetricJson;
  const byKey = new Map<string, MetricJson['values'][number]>();
  for (const part of parts) {
    for (const v of part.values) {
      const key = `${v.metricName ?? ''}\u0000${JSON.stringify(Object.entries(v.labels).sort())}`;
      const seen = byKey.get(key);
      const value = v.value ?? NaN;
      if (seen === undefined) byKey.set(key, { ...v, value });
      else if ('quantile' in v.labels) {
        // NaN (no observation in the window) gives way to any real value.
        const a = seen.value ?? NaN;
        seen.value = Number.isNaN(a) ? value : Number.isNaN(value) ? a : Math.max(a, value);
      } else seen.value = (seen.value ?? NaN) + value;
    }
  }
  return { ...first, aggregator: 'first', values: [...byKey.values()] };
}

/** The primary's side: answers workers' scrapes. `close()` stops listening. */
export interface ClusterMetricsRelay {
  close(): void;
}

/**
 * Installs, in the primary, the handler of workers' scrape requests. Only workers that announced
 * metrics (`metrics:ready`) are asked.
 */
export function relayClusterMetrics(
  logger: Logger,
  options: { collectTimeoutMs?: number } = {},
): ClusterMetricsRelay {
  const timeoutMs = options.collectTimeoutMs ?? COLLECT_TIMEOUT_MS;
  const ready = new Set<Worker>();
  let nextId = 1;
  /** Rounds in progress: the workers still owed an answer, and what to do when none is. */
  const rounds = new Map<number, { owed: Set<Worker>; got: MetricJson[][]; finish: () => void }>();

  const collect = (requester: Worker, scrapeId: number): void => {
    const id = nextId++;
    const owed = new Set([...ready].filter((w) => w.isConnected()));
    const got: MetricJson[][] = [];
    const timer = setTimeout(() => finish(), timeoutMs);
    const finish = (): void => {
      if (!rounds.delete(id)) return;
      clearTimeout(timer);
      if (owed.size > 0) {
        logger.warn(
          { workers: [...owed].map((w) => w.id), timeout_ms: timeoutMs },
          'metrics: no answer from some worker processes, scrape answered without them',
        );
      }
      const reply = (m: Message): void => {
        if (requester.isConnected()) requester.send(m);
      };
      aggregateWorkers(got)
        .metrics()
        .then(
          (text) => reply({ gyre: 'metrics:result', id: scrapeId, text }),
          (err: unknown) => reply({ gyre: 'metrics:result', id: scrapeId, error: String(err) }),
        );
    };
    rounds.set(id, { owed, got, finish });
    if (owed.size === 0) finish();
    for (const w of owed) w.send({ gyre: 'metrics:collect', id } satisfies Message);
  };

  const onMessage = (worker: Worker, m: unknown): void => {
    if (!isMessage(m)) return;
    if (m.gyre === 'metrics:ready') ready.add(worker);
    else if (m.gyre === 'metrics:scrape') collect(worker, m.id);
    else if (m.gyre === 'metrics:samples') {
      const round = rounds.get(m.id);
      if (round === undefined || !round.owed.delete(worker)) return;
      if (m.metrics !== undefined) round.got.push(m.metrics);
      if (round.owed.size === 0) round.finish();
    }
  };
  // A worker that died owes nothing: the rounds waiting for it go on without it.
  const onGone = (worker: Worker): void => {
    ready.delete(worker);
    for (const round of [...rounds.values()]) {
      if (round.owed.delete(worker) && round.owed.size === 0) round.finish();
    }
  };
  cluster.on('message', onMessage);
  cluster.on('exit', onGone);
  cluster.on('disconnect', onGone);
  return {
    close() {
      cluster.off('message', onMessage);
      cluster.off('exit', onGone);
      cluster.off('disconnect', onGone);
      for (const round of [...rounds.values()]) round.finish();
    },
  };
}

/** The worker's side: answers the primary's collect requests and asks it for whole scrapes. */
export interface ClusterMetricsClient {
  /** The exposition of every worker (or, if the primary does not answer, of this one). */
  scrape(): Promise<string>;
}

/**
 * In a worker forked by `runWorkers` (with metrics on), announces `registry` to the primary and
 * returns the client; elsewhere undefined (the registry is then scraped directly).
 */
export function joinClusterMetrics(
  registry: Registry,
  options: { scrapeTimeoutMs?: number } = {},
): ClusterMetricsClient | undefined {
  if (!cluster.isWorker || process.env[CLUSTER_METRICS_ENV] !== '1' || process.send === undefined) {
    return undefined;
  }
  const send = (m: Message): void => {
    if (process.connected) process.send?.(m);
  };
  const timeoutMs = options.scrapeTimeoutMs ?? SCRAPE_TIMEOUT_MS;
  const waiting = new Map<number, (m: Extract<Message, { gyre: 'metrics:result' }>) => void>();
  let nextId = 1;
  process.on('message', (m: unknown) => {
    if (!isMessage(m)) return;
    if (m.gyre === 'metrics:collect') {
      registry.getMetricsAsJSON().then(
        (metrics) => send({ gyre: 'metrics:samples', id: m.id, metrics: metrics as unknown as MetricJson[] }),
        (err: unknown) => send({ gyre: 'metrics:samples', id: m.id, error: String(err) }),
      );
    } else if (m.gyre === 'metrics:result') {
      waiting.get(m.id)?.(m);
    }
  });
  send({ gyre: 'metrics:ready' });
  return {
    scrape: () =>
      new Promise<string>((resolve, reject) => {
        const id = nextId++;
        const local = (): void => {
          waiting.delete(id);
          registry.metrics().then(resolve, reject);
        };
        const timer = setTimeout(local, timeoutMs);
        waiting.set(id, (m) => {
          clearTimeout(timer);
          waiting.delete(id);
          if (m.text !== undefined) resolve(m.text);
          else local();
        });
        if (process.connected) send({ gyre: 'metrics:scrape', id });
        else {
          clearTimeout(timer);
          local();
        }
      }),
  };
}
