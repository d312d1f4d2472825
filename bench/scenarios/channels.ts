import { LoadGen } from '../loadgen/index.js';
import { measureWindow } from '../lib/measure.js';
import { printTable, ratio } from '../lib/report.js';
import { startTarget } from '../lib/servers.js';
import type { FanoutRow } from './fanout.js';
import { label, protocolFor, type BenchOptions, type ScenarioResult } from './options.js';

const GROUP = 10;

/**
 * Many channels: connection i subscribes to its own channel `c<i>` and to the group channel
 * `g<floor(i/10)>`; publications go to a uniformly random channel among all of them.
 */
export async function channels(o: BenchOptions): Promise<ScenarioResult> {
  const rows: FanoutRow[] = [];
  for (const n of o.conns) {
    const groups = Math.ceil(n / GROUP);
    // Deterministic spread so every target sees the same channel sequence.
    const pick = (seq: number): string => {
      const k = (seq * 2654435761) % (n + groups);
      return k < n ? `c${k}` : `g${k - n}`;
    };
    const subscribersOf = (ch: string): number =>
      ch.startsWith('c') ? 1 : Math.min(GROUP, n - GROUP * Number(ch.slice(1)));
    for (const kind of o.targets) {
      const protocol = protocolFor(kind, o.protocol);
      const target = await startTarget(kind, {
        core: o.serverCore,
        profileDir: o.profileDir,
        gyreConfig: o.gyreConfig,
      });
      try {
        const lg = await LoadGen.start(
          target,
          protocol,
          { kind: 'own+group', groupSize: GROUP },
          n,
          o.workers,
        );
        const c = await lg.connect(o.concurrency);
        if (c.failed)
          process.stderr.write(
            `${label(kind, protocol)}: ${c.failed} connections failed (${c.firstError})\n`,
          );
        const base = { target, lg, pickChannel: pick, subscribersOf, payloadBytes: o.payloadBytes };
        await measureWindow({ ...base, rate: o.rates[0] ?? 100, durationMs: 1000 });
        for (const rate of o.rates) {
          const w = await measureWindow({ ...base, rate, durationMs: o.durationMs });
          const row: FanoutRow = { target: kind, protocol, conns: n, connected: c.ready, ...w };
          rows.push(row);
          printTable([
            {
              target: label(kind, protocol),
              conns: c.ready,
              'pub/s': rate,
              'deliv/s': w.deliveriesPerSec,
              loss: w.loss,
              p50ms: w.latency.p50Ms,
              p99ms: w.latency.p99Ms,
              'cpuµs/deliv': w.serverCpuPerDeliveryMicros,
              srvCPU: w.serverCpuCores,
              lgCPU: w.loadgenCpuCores,
            },
          ]);
        }
        await lg.stop();
      } finally {
        await target.stop();
      }
    }
  }
  const ratios = rows
    .filter((g) => g.target === 'gyre')
    .map((g) => {
      const other = (k: string): FanoutRow | undefined =>
        rows.find((r) => r.target === k && r.conns === g.conns && r.rate === g.rate);
      const ws = other('ws');
      const sio = other('socketio');
      return {
        conns: g.conns,
        rate: g.rate,
        cpuPerDeliveryVsWs: ws ? ratio(g.serverCpuPerDeliveryMicros, ws.serverCpuPerDeliveryMicros) : null,
        cpuPerDeliveryVsSocketio: sio
          ? ratio(g.serverCpuPerDeliveryMicros, sio.serverCpuPerDeliveryMicros)
          : null,
      };
    });
  return { data: { rows, ratios }, failed: rows.some((r) => r.delivered === 0) };
}
