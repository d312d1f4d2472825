import { publishClosedLoop } from '../loadgen/publisher.js';
import { processCpuMicros } from '../lib/proc.js';
import { printTable, ratio } from '../lib/report.js';
import { startTarget, type TargetKind } from '../lib/servers.js';
import { round, type LatencySummary } from '../lib/stats.js';
import type { BenchOptions, ScenarioResult } from './options.js';

interface ApiRow {
  target: TargetKind;
  connections: number;
  requests: number;
  failed: number;
  requestsPerSec: number;
  serverCpuPerRequestMicros: number;
  serverCpuCores: number;
  loadgenCpuCores: number;
  latency: LatencySummary;
}

/** Publish requests answered before the clock starts (JIT, keep-alive sockets). */
const WARMUP_MS = 2000;

/**
 * HTTP API throughput: `--conns` keep-alive connections publish to a channel nobody subscribes to,
 * each sending its next `POST /api/publish` as soon as the last one is answered. Reports requests
 * answered per second, server CPU per request and request latency, for Gyre and for the
 * baselines' minimal publish handler (which checks the key, parses the body and answers). The
 * load generator's HTTP client costs about what a server does per request, so on one core it
 * cannot saturate the server: compare CPU per request, and read requests/s with `lgCPU`.
 */
export async function api(o: BenchOptions): Promise<ScenarioResult> {
  const rows: ApiRow[] = [];
  for (const connections of o.conns) {
    for (const kind of o.targets) {
      const target = await startTarget(kind, {
        core: o.serverCore,
        profileDir: o.profileDir,
        gyreConfig: o.gyreConfig,
      });
      try {
        await publishClosedLoop(target, 'nobody', connections, WARMUP_MS, o.payloadBytes);
        const cpu0 = processCpuMicros(target.pid);
        const lg0 = process.cpuUsage();
        const r = await publishClosedLoop(target, 'nobody', connections, o.durationMs, o.payloadBytes);
        const cpu = processCpuMicros(target.pid) - cpu0;
        const lg = process.cpuUsage(lg0);
        const lat = r.latency.summary();
        const row: ApiRow = {
          target: kind,
          connections,
          requests: r.ok,
          failed: r.failed,
          requestsPerSec: Math.round(r.ok / (r.elapsedMs / 1000)),
          serverCpuPerRequestMicros: r.ok ? round(cpu / r.ok, 1) : 0,
          serverCpuCores: round(cpu / (r.elapsedMs * 1000), 3),
          loadgenCpuCores: round((lg.user + lg.system) / (r.elapsedMs * 1000), 3),
          latency: lat,
        };
        rows.push(row);
        printTable([
          {
            target: kind,
            conns: connections,
            'req/s': row.requestsPerSec,
            failed: r.failed,
            'cpuµs/req': row.serverCpuPerRequestMicros,
            srvCPU: row.serverCpuCores,
            lgCPU: row.loadgenCpuCores,
            p50ms: lat.p50Ms,
            p99ms: lat.p99Ms,
          },
        ]);
      } finally {
        await target.stop();
      }
    }
  }
  const ratios = rows
    .filter((r) => r.target === 'gyre')
    .map((g) => {
      const ws = rows.find((r) => r.target === 'ws' && r.connections === g.connections);
      return {
        connections: g.connections,
        cpuPerRequestVsWs: ws ? ratio(g.serverCpuPerRequestMicros, ws.serverCpuPerRequestMicros) : null,
      };
    });
  for (const r of ratios) {
    process.stdout.write(
      `\n${r.connections} connections: Gyre CPU per request / ws ${r.cpuPerRequestVsWs ?? '-'}\n`,
    );
  }
  return { data: { rows, ratios }, failed: rows.some((r) => r.requests === 0 || r.failed > 0) };
}
