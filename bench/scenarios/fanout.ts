import { LoadGen } from '../loadgen/index.js';
import { measureWindow, sleep, type WindowResult } from '../lib/measure.js';
import { publishAtRate } from '../loadgen/publisher.js';
import { printTable, ratio } from '../lib/report.js';
import { startTarget, type TargetKind } from '../lib/servers.js';
import { label, protocolFor, type BenchOptions, type ScenarioResult } from './options.js';

export interface FanoutRow extends WindowResult {
  target: TargetKind;
  protocol: string;
  conns: number;
  connected: number;
}

/** Rate of the `--warmup` publications (to a channel no connection subscribes to). */
const WARMUP_RATE = 500;

/**
 * Fan-out: N connections on one channel, publications through the HTTP API at each fixed rate.
 * Every target gets a fresh server process; rates run one after the other on the same connections.
 * With `--warmup N`, N publications to a channel without subscribers go first: a long-running
 * server has answered many API requests, and at 10 pub/s a fresh one would run its request path
 * in baseline-compiled code for the whole window.
 */
export async function fanout(o: BenchOptions, channel = 'fan'): Promise<ScenarioResult> {
  const rows: FanoutRow[] = [];
  for (const n of o.conns) {
    for (const kind of o.targets) {
      const protocol = protocolFor(kind, o.protocol);
      const target = await startTarget(kind, {
        core: o.serverCore,
        profileDir: o.profileDir,
        gyreConfig: o.gyreConfig,
      });
      try {
        const lg = await LoadGen.start(target, protocol, { kind: 'one', channel }, n, o.workers);
        const c = await lg.connect(o.concurrency);
        if (c.failed)
          process.stderr.write(
            `${label(kind, protocol)}: ${c.failed} connections failed (${c.firstError})\n`,
          );
        const base = {
          target,
          lg,
          pickChannel: () => channel,
          subscribersOf: () => c.ready,
          payloadBytes: o.payloadBytes,
        };
        if (o.warmup > 0) {
          await publishAtRate(
            target,
            () => 'warmup',
            WARMUP_RATE,
            (o.warmup / WARMUP_RATE) * 1000,
            o.payloadBytes,
          );
          await sleep(1000);
        }
        // Settle at the first rate (JIT, buffers, and the collections that follow the connects).
        await measureWindow({ ...base, rate: o.rates[0] ?? 1, durationMs: o.settleMs });
        for (const rate of o.rates) {
          const w = await measureWindow({ ...base, rate, durationMs: o.durationMs });
          rows.push({ target: kind, protocol, conns: n, connected: c.ready, ...w });
          printRow(rows[rows.length - 1]!);
        }
        await lg.stop();
      } finally {
        await target.stop();
      }
    }
  }
  return { data: { rows, ratios: ratios(rows) }, failed: rows.some((r) => r.delivered === 0) };
}

function printRow(r: FanoutRow): void {
  printTable([
    {
      target: label(r.target, r.protocol as 'json'),
      conns: r.connected,
      'pub/s': r.rate,
      'deliv/s': r.deliveriesPerSec,
      loss: r.loss,
      p50ms: r.latency.p50Ms,
      p95ms: r.latency.p95Ms,
      p99ms: r.latency.p99Ms,
      'cpuµs/deliv': r.serverCpuPerDeliveryMicros,
      srvCPU: r.serverCpuCores,
      lgCPU: r.loadgenCpuCores,
      skipped: r.publishSkipped,
    },
  ]);
}

export interface FanoutRatio {
  conns: number;
  rate: number;
  protocol: string;
  cpuPerDeliveryVsWs: number | null;
  cpuPerDeliveryVsSocketio: number | null;
  socketioCpuPerDeliveryOverGyre: number | null;
  p99VsWs: number | null;
  p99VsSocketio: number | null;
}

/** Gyre figure / baseline figure for every (conns, rate) measured with both. */
export function ratios(rows: FanoutRow[]): FanoutRatio[] {
  const out: FanoutRatio[] = [];
  for (const g of rows.filter((r) => r.target === 'gyre')) {
    const same = (k: TargetKind): FanoutRow | undefined =>
      rows.find((r) => r.target === k && r.conns === g.conns && r.rate === g.rate);
    const ws = same('ws');
    const sio = same('socketio');
    out.push({
      conns: g.conns,
      rate: g.rate,
      protocol: g.protocol,
      cpuPerDeliveryVsWs: ws ? ratio(g.serverCpuPerDeliveryMicros, ws.serverCpuPerDeliveryMicros) : null,
      cpuPerDeliveryVsSocketio: sio
        ? ratio(g.serverCpuPerDeliveryMicros, sio.serverCpuPerDeliveryMicros)
        : null,
      socketioCpuPerDeliveryOverGyre: sio
        ? ratio(sio.serverCpuPerDeliveryMicros, g.serverCpuPerDeliveryMicros)
        : null,
      p99VsWs: ws ? ratio(g.latency.p99Ms, ws.latency.p99Ms) : null,
      p99VsSocketio: sio ? ratio(g.latency.p99Ms, sio.latency.p99Ms) : null,
    });
  }
  if (out.length) {
    process.stdout.write('\nGyre / baseline ratios (server CPU per delivery):\n');
    printTable(
      out.map((r) => ({
        conns: String(r.conns),
        'pub/s': String(r.rate),
        'gyre/ws': String(r.cpuPerDeliveryVsWs ?? '-'),
        'gyre/socketio': String(r.cpuPerDeliveryVsSocketio ?? '-'),
        'socketio/gyre': String(r.socketioCpuPerDeliveryOverGyre ?? '-'),
      })),
    );
  }
  return out;
}
