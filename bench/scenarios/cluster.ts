import { randomBytes } from 'node:crypto';
import { LoadGen } from '../loadgen/index.js';
import { startApiProbe } from '../lib/api-probe.js';
import { measureWindow, type WindowResult } from '../lib/measure.js';
import { processTree, treeCpuMicros } from '../lib/proc.js';
import { printTable } from '../lib/report.js';
import { startTarget, type RunningTarget } from '../lib/servers.js';
import { round, type LatencySummary } from '../lib/stats.js';
import type { BenchOptions, ScenarioResult } from './options.js';

/**
 * Scaling-out scenarios (docs/performance.md, "Scaling out"): the Redis engine against the memory
 * engine, two nodes sharing Redis, and `--workers 1` against `--workers 2`. Every server is a
 * fresh `gyre serve`; every Redis run uses its own key prefix so runs never see each other's
 * history (history keys expire with `history_ttl`).
 */

/** Namespace with history, so each publication is also written to the engine's history. */
const NS = 'hist';

function gyreConfig(engine: 'memory' | 'redis', prefix: string, extra: Record<string, unknown>) {
  return {
    ...extra,
    channel: {
      // Stream meta keys would otherwise stay 30 days (720h default) after the run.
      history_meta_ttl: '120s',
      namespaces: [{ name: NS, history_size: 100, history_ttl: '60s', allow_subscribe_for_client: true }],
    },
    engine: engine === 'redis' ? { type: 'redis', redis: { prefix } } : { type: 'memory' },
  };
}

const newPrefix = (): string => `gyre-bench-${randomBytes(4).toString('hex')}`;

export interface RedisPublishRow extends WindowResult {
  engine: 'memory' | 'redis';
  connected: number;
  /** Publications accepted by the API per second of the publishing window. */
  acceptedPerSec: number;
  /** Round trip of probe API publications (no subscribers, same namespace) during the window. */
  api: LatencySummary;
}

/**
 * Publish with history through the memory and the Redis engine at increasing rates, with
 * `conns` subscribers on one channel. API latency comes from a 20/s probe beside the load.
 */
export async function redisPublish(o: BenchOptions): Promise<ScenarioResult> {
  const n = o.conns[0] ?? 100;
  const rows: RedisPublishRow[] = [];
  const channel = `${NS}:pub`;
  for (const engine of ['memory', 'redis'] as const) {
    const prefix = newPrefix();
    const target = await startTarget('gyre', {
      core: o.serverCore,
      gyreConfig: gyreConfig(engine, prefix, o.gyreConfig),
    });
    try {
      const lg = await LoadGen.start(target, o.protocol, { kind: 'one', channel }, n, o.workers);
      const c = await lg.connect(o.concurrency);
      const base = {
        target,
        lg,
        pickChannel: () => channel,
        subscribersOf: () => c.ready,
        payloadBytes: o.payloadBytes,
      };
      await measureWindow({ ...base, rate: o.rates[0] ?? 100, durationMs: 1000 });
      for (const rate of o.rates) {
        const probe = startApiProbe(target, `${NS}:probe`, 20);
        const w = await measureWindow({ ...base, rate, durationMs: o.durationMs });
        const p = await probe.stop();
        const row: RedisPublishRow = {
          engine,
          connected: c.ready,
          acceptedPerSec: round(w.published / (o.durationMs / 1000), 0),
          api: p.latency.summary(),
          ...w,
        };
        rows.push(row);
        printTable([
          {
            engine,
            conns: c.ready,
            'pub/s': rate,
            'accepted/s': row.acceptedPerSec,
            failed: w.publishFailed,
            skipped: w.publishSkipped,
            apiP50ms: row.api.p50Ms,
            apiP99ms: row.api.p99Ms,
            'deliv/s': w.deliveriesPerSec,
            loss: w.loss,
            p99ms: w.latency.p99Ms,
            srvCPU: w.serverCpuCores,
          },
        ]);
      }
      await lg.stop();
    } finally {
      await target.stop();
    }
  }
  return { data: { rows }, failed: rows.some((r) => r.delivered === 0) };
}

export interface TwoNodesRow extends WindowResult {
  connected: number;
  /** CPU of node B (the subscribers' node) in cores; serverCpuCores is node A (the API node). */
  nodeBCpuCores: number;
}

/**
 * Two `gyre serve` processes sharing Redis (same prefix): subscribers on node B, publications
 * through node A's HTTP API, so every delivery crosses Redis PUB/SUB. Both nodes run on the
 * server core when pinning.
 */
export async function twoNodes(o: BenchOptions): Promise<ScenarioResult> {
  const rows: TwoNodesRow[] = [];
  const channel = `${NS}:two`;
  for (const n of o.conns) {
    const cfg = gyreConfig('redis', newPrefix(), o.gyreConfig);
    const a = await startTarget('gyre', { core: o.serverCore, gyreConfig: cfg });
    let b: RunningTarget | undefined;
    try {
      b = await startTarget('gyre', { core: o.serverCore, gyreConfig: cfg });
      const lg = await LoadGen.start(b, o.protocol, { kind: 'one', channel }, n, o.workers);
      const c = await lg.connect(o.concurrency);
      const base = {
        target: a,
        lg,
        pickChannel: () => channel,
        subscribersOf: () => c.ready,
        payloadBytes: o.payloadBytes,
      };
      // Warm-up also makes sure node B's Redis subscription is in place before measuring.
      await measureWindow({ ...base, rate: o.rates[0] ?? 10, durationMs: 1000 });
      for (const rate of o.rates) {
        const b0 = treeCpuMicros(b.pid);
        const w = await measureWindow({ ...base, rate, durationMs: o.durationMs });
        const bCpu = treeCpuMicros(b.pid) - b0;
        const row: TwoNodesRow = {
          connected: c.ready,
          nodeBCpuCores: round(bCpu / (w.durationMs * 1000), 3),
          ...w,
        };
        rows.push(row);
        printTable([
          {
            conns: c.ready,
            'pub/s': rate,
            published: w.published,
            'deliv/s': w.deliveriesPerSec,
            loss: w.loss,
            p50ms: w.latency.p50Ms,
            p99ms: w.latency.p99Ms,
            cpuA: w.serverCpuCores,
            cpuB: row.nodeBCpuCores,
          },
        ]);
      }
      await lg.stop();
    } finally {
      await Promise.all([a.stop(), b?.stop()]);
    }
  }
  return { data: { rows }, failed: rows.some((r) => r.delivered === 0) };
}

export interface WorkersResult {
  workers: number;
  connected: number;
  /** Worker process count found under the primary. */
  processes: number;
  steps: (WindowResult & { treeCpuCores: number })[];
  saturationDeliveriesPerSec: number;
  saturationPubRate: number;
  /** Primary + workers CPU at the saturation step, in cores. */
  saturationCpuCores: number;
}

/**
 * `gyre serve --workers 1` against `--workers 2` (Redis engine) under fan-out on one channel:
 * the publication rate doubles until deliveries fall behind (loss > 1%, < 90% of offered, p99 >
 * 1 s or the publisher cannot keep up). The server is not pinned (two workers need two cores);
 * CPU is summed over the primary and its worker processes.
 */
export async function workers(o: BenchOptions): Promise<ScenarioResult> {
  const n = o.conns[0] ?? 1000;
  const channel = `${NS}:fan`;
  const out: WorkersResult[] = [];
  for (const count of [1, 2]) {
    const target = await startTarget('gyre', {
      core: undefined,
      args: ['--workers', String(count)],
      gyreConfig: gyreConfig('redis', newPrefix(), o.gyreConfig),
    });
    try {
      const lg = await LoadGen.start(target, o.protocol, { kind: 'one', channel }, n, o.workers);
      const c = await lg.connect(o.concurrency);
      const processes = processTree(target.pid).length - 1;
      const base = {
        target,
        lg,
        pickChannel: () => channel,
        subscribersOf: () => c.ready,
        payloadBytes: o.payloadBytes,
      };
      await measureWindow({ ...base, rate: o.rates[0] ?? 25, durationMs: 1000 });
      const steps: WorkersResult['steps'] = [];
      for (let rate = o.rates[0] ?? 25; rate <= 100_000; rate *= 2) {
        const cpu0 = treeCpuMicros(target.pid);
        const w = await measureWindow({ ...base, rate, durationMs: o.durationMs, drainMs: 2000 });
        const step = {
          ...w,
          treeCpuCores: round((treeCpuMicros(target.pid) - cpu0) / (w.durationMs * 1000), 3),
        };
        steps.push(step);
        printTable([
          {
            workers: count,
            procs: processes,
            conns: c.ready,
            'pub/s': rate,
            'deliv/s': w.deliveriesPerSec,
            loss: w.loss,
            p50ms: w.latency.p50Ms,
            p99ms: w.latency.p99Ms,
            srvCPU: step.treeCpuCores,
            lgCPU: w.loadgenCpuCores,
          },
        ]);
        if (
          w.loss > 0.01 ||
          w.deliveriesPerSec < 0.9 * rate * c.ready ||
          w.latency.p99Ms > 1000 ||
          w.publishSkipped > 0
        )
          break;
      }
      const best = steps.reduce((x, y) => (y.deliveriesPerSec > x.deliveriesPerSec ? y : x));
      out.push({
        workers: count,
        connected: c.ready,
        processes,
        steps,
        saturationDeliveriesPerSec: best.deliveriesPerSec,
        saturationPubRate: best.rate,
        saturationCpuCores: best.treeCpuCores,
      });
      await lg.stop();
    } finally {
      await target.stop();
    }
  }
  for (const r of out)
    process.stdout.write(
      `--workers ${r.workers} (${r.processes} processes): saturation ${r.saturationDeliveriesPerSec} deliv/s at ${r.saturationPubRate} pub/s, server CPU ${r.saturationCpuCores} cores\n`,
    );
  return { data: { results: out }, failed: out.some((r) => r.saturationDeliveriesPerSec === 0) };
}
