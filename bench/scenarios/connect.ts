import { LoadGen } from '../loadgen/index.js';
import { processCpuMicros } from '../lib/proc.js';
import { printTable } from '../lib/report.js';
import { startTarget } from '../lib/servers.js';
import { sleep } from '../lib/measure.js';
import { round } from '../lib/stats.js';
import { label, protocolFor, type BenchOptions, type ScenarioResult } from './options.js';

/**
 * Connect rate: N connections each open a WebSocket, connect with an HS256 JWT (tokens signed
 * before the clock starts) and subscribe to their own channel; `concurrency` attempts in flight
 * per worker. Reports completed connect+subscribe per second, server CPU per connect and the
 * rate one fully busy server core would sustain at that cost (1e6 / µs per connect). With
 * `--warmup N`, N connections are opened and closed first, so the measured batch runs on warm
 * (JIT-compiled) code as a long-running server does; the row records `warmup`.
 */
export async function connect(o: BenchOptions): Promise<ScenarioResult> {
  const rows: Record<string, unknown>[] = [];
  for (const n of o.conns) {
    for (const kind of o.targets) {
      const protocol = protocolFor(kind, o.protocol);
      const target = await startTarget(kind, {
        core: o.serverCore,
        profileDir: o.profileDir,
        gyreConfig: o.gyreConfig,
      });
      try {
        if (o.warmup > 0) {
          // A long-running server's connects run JIT-compiled code; the first thousands of a fresh
          // process also pay for V8 compiling it. Connect and close a batch first, then let the
          // server finish the closes before the clock starts.
          const warm = await LoadGen.start(target, protocol, { kind: 'own' }, o.warmup, o.workers);
          await warm.connect(o.concurrency);
          await warm.stop();
          await sleep(2000);
        }
        const lg = await LoadGen.start(target, protocol, { kind: 'own' }, n, o.workers);
        const cpu0 = processCpuMicros(target.pid);
        const lgCpu0 = process.cpuUsage();
        const c = await lg.connect(o.concurrency);
        const cpu = processCpuMicros(target.pid) - cpu0;
        const lgCpu = process.cpuUsage(lgCpu0);
        const perConnect = c.ready ? cpu / c.ready : 0;
        const row = {
          target: kind,
          protocol,
          conns: n,
          warmup: o.warmup,
          connected: c.ready,
          failed: c.failed,
          firstError: c.firstError,
          elapsedMs: Math.round(c.elapsedMs),
          connectsPerSec: Math.round(c.ready / (c.elapsedMs / 1000)),
          serverCpuPerConnectMicros: round(perConnect, 1),
          oneCoreCapacityPerSec: perConnect ? Math.round(1e6 / perConnect) : 0,
          serverCpuCores: round(cpu / (c.elapsedMs * 1000), 3),
          loadgenCpuCores: round((lgCpu.user + lgCpu.system) / (c.elapsedMs * 1000), 3),
          latency: c.latency.summary(),
        };
        rows.push(row);
        printTable([
          {
            target: label(kind, protocol),
            connected: c.ready,
            failed: c.failed,
            'conn/s': row.connectsPerSec,
            'cpuµs/conn': row.serverCpuPerConnectMicros,
            '1-core cap/s': row.oneCoreCapacityPerSec,
            srvCPU: row.serverCpuCores,
            lgCPU: row.loadgenCpuCores,
            p50ms: row.latency.p50Ms,
            p99ms: row.latency.p99Ms,
          },
        ]);
        await lg.stop();
      } finally {
        await target.stop();
      }
    }
  }
  return { data: { rows }, failed: rows.some((r) => r.connected === 0) };
}
