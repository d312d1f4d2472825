/**
 * Prints Markdown tables from the newest result file of each scenario in `bench/results/`
 * (or from the files given as arguments): `node --import tsx bench/summary.ts [file...]`.
 * Used to paste measured figures into docs/performance.md unchanged.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { RESULTS_DIR } from './lib/report.js';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function newest(): string[] {
  const files = readdirSync(RESULTS_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort();
  const byScenario = new Map<string, string>();
  for (const f of files) byScenario.set(f.replace(/-\d{4}-.*$/, ''), f);
  return [...byScenario.values()].map((f) => join(RESULTS_DIR, f));
}

function table(head: string[], rows: (string | number | null | undefined)[][]): string {
  const line = (cells: (string | number | null | undefined)[]): string =>
    `| ${cells.map((c) => String(c ?? '-')).join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}

const name = (r: Obj): string => (r.target === 'gyre' ? `gyre/${r.protocol}` : String(r.target));

function render(path: string): string {
  const d = JSON.parse(readFileSync(path, 'utf8')) as Obj;
  const head = `### ${d.scenario} (${basename(path)}, load avg ${d.machine?.loadAvg1m ?? '?'})\n\n`;
  switch (d.scenario) {
    case 'fanout':
    case 'channels':
    case 'smoke':
      return (
        head +
        table(
          [
            'target',
            'conns',
            'pub/s',
            'deliveries/s',
            'loss',
            'p50 ms',
            'p95 ms',
            'p99 ms',
            'server CPU µs/delivery',
            'server CPU (cores)',
            'loadgen CPU (cores)',
          ],
          (d.rows as Obj[]).map((r) => [
            name(r),
            r.connected,
            r.rate,
            r.deliveriesPerSec,
            r.loss,
            r.latency.p50Ms,
            r.latency.p95Ms,
            r.latency.p99Ms,
            r.serverCpuPerDeliveryMicros,
            r.serverCpuCores,
            r.loadgenCpuCores,
          ]),
        ) +
        '\n\n' +
        table(
          ['conns', 'pub/s', 'CPU/delivery gyre ÷ ws', 'gyre ÷ socket.io', 'socket.io ÷ gyre'],
          (d.ratios as Obj[]).map((r) => [
            r.conns,
            r.rate,
            r.cpuPerDeliveryVsWs,
            r.cpuPerDeliveryVsSocketio,
            r.socketioCpuPerDeliveryOverGyre ?? null,
          ]),
        )
      );
    case 'saturate':
      return (
        head +
        table(
          [
            'target',
            'conns',
            'saturation deliveries/s',
            'pub/s at saturation',
            'limited by',
            '80%: pub/s',
            '80%: loss',
            '80%: p99 ms',
            'no loss & p99 ≤ 50 ms',
          ],
          (d.results as Obj[]).map((r) => [
            name(r),
            r.conns,
            r.saturationDeliveriesPerSec,
            r.saturationPubRate,
            r.limitedBy,
            r.at80.rate,
            r.at80.loss,
            r.at80.latency.p99Ms,
            r.at80NoLossP99Under50ms ? 'yes' : 'no',
          ]),
        ) +
        '\n\nSteps:\n\n' +
        table(
          [
            'target',
            'pub/s',
            'deliveries/s',
            'loss',
            'p99 ms',
            'server CPU µs/delivery',
            'server CPU',
            'loadgen CPU',
          ],
          (d.results as Obj[]).flatMap((r) =>
            (r.steps as Obj[]).map((s) => [
              name(r),
              s.rate,
              s.deliveriesPerSec,
              s.loss,
              s.latency.p99Ms,
              s.serverCpuPerDeliveryMicros,
              s.serverCpuCores,
              s.loadgenCpuCores,
            ]),
          ),
        )
      );
    case 'idle':
      return (
        head +
        table(
          [
            'target',
            'conns',
            'RSS before MiB',
            'RSS after MiB',
            'RSS KB/conn',
            'RSS KB/conn at end',
            'CPU µs/conn/s',
            'pings answered',
            'closed',
          ],
          (d.rows as Obj[]).map((r) => [
            name(r),
            r.connected,
            (r.rssBeforeBytes / 2 ** 20).toFixed(1),
            (r.rssAfterBytes / 2 ** 20).toFixed(1),
            (r.rssPerConnBytes / 1024).toFixed(2),
            r.rssEndPerConnBytes === undefined ? null : (r.rssEndPerConnBytes / 1024).toFixed(2),
            r.cpuMicrosPerConnPerSec,
            r.pingsAnswered,
            r.closed,
          ]),
        )
      );
    case 'connect':
      return (
        head +
        table(
          [
            'target',
            'warm-up',
            'connected',
            'failed',
            'connect+subscribe/s',
            'server CPU µs/connect',
            '1-core capacity/s',
            'server CPU',
            'loadgen CPU',
            'p50 ms',
            'p99 ms',
          ],
          (d.rows as Obj[]).map((r) => [
            name(r),
            r.warmup ?? 0,
            r.connected,
            r.failed,
            r.connectsPerSec,
            r.serverCpuPerConnectMicros,
            r.oneCoreCapacityPerSec,
            r.serverCpuCores,
            r.loadgenCpuCores,
            r.latency.p50Ms,
            r.latency.p99Ms,
          ]),
        )
      );
    default:
      return head + '(unknown scenario)';
  }
}

/** The issue's targets, checked against the given results (figures from the same runs). */
function targets(paths: string[]): string {
  const docs = paths.map((p) => JSON.parse(readFileSync(p, 'utf8')) as Obj);
  const all = (sc: string, key: string): Obj[] =>
    docs.filter((d) => d.scenario === sc).flatMap((d) => (d[key] as Obj[] | undefined) ?? []);
  const rows: (string | number | null)[][] = [];
  const verdict = (ok: boolean): string => (ok ? 'met' : 'not met');
  for (const r of all('fanout', 'ratios')) {
    if (r.rate >= 10 && r.cpuPerDeliveryVsWs !== null)
      rows.push([
        `fan-out ${r.conns} conns, ${r.rate} pub/s: CPU/delivery ≤ 0.3× ws`,
        r.cpuPerDeliveryVsWs,
        verdict(r.cpuPerDeliveryVsWs <= 0.3),
      ]);
    if (r.rate < 10 && r.cpuPerDeliveryVsWs !== null)
      rows.push([
        `one publication at a time (${r.conns} conns, ${r.rate} pub/s): ≤ 1.1× ws`,
        r.cpuPerDeliveryVsWs,
        verdict(r.cpuPerDeliveryVsWs <= 1.1),
      ]);
    if (r.socketioCpuPerDeliveryOverGyre !== null && r.socketioCpuPerDeliveryOverGyre !== undefined)
      rows.push([
        `Socket.IO CPU/delivery ≥ 2× Gyre (${r.conns} conns, ${r.rate} pub/s)`,
        r.socketioCpuPerDeliveryOverGyre,
        verdict(r.socketioCpuPerDeliveryOverGyre >= 2),
      ]);
  }
  for (const r of all('saturate', 'results').filter((x) => x.target === 'gyre')) {
    rows.push([
      `80% of saturation (${r.at80.rate} pub/s × ${r.conns} conns): no loss, p99 ≤ 50 ms`,
      `loss ${r.at80.loss}, p99 ${r.at80.latency.p99Ms} ms`,
      verdict(r.at80NoLossP99Under50ms),
    ]);
  }
  for (const r of all('idle', 'rows').filter((x) => x.target === 'gyre')) {
    const kb = r.rssPerConnBytes / 1024;
    rows.push([`idle ${r.connected} conns: RSS ≤ 8 KB/conn`, `${kb.toFixed(2)} KB`, verdict(kb <= 8)]);
    rows.push([
      `idle ${r.connected} conns: CPU ≤ 1 µs/conn/s`,
      `${r.cpuMicrosPerConnPerSec} µs`,
      verdict(r.cpuMicrosPerConnPerSec <= 1),
    ]);
  }
  for (const r of all('connect', 'rows').filter((x) => x.target === 'gyre')) {
    rows.push([
      `≥ 5,000 JWT connect+subscribe/s on one core${r.warmup ? ` (after ${r.warmup} warm-up connects)` : ''}`,
      `${r.connectsPerSec}/s measured; ${r.oneCoreCapacityPerSec}/s at ${r.serverCpuPerConnectMicros} µs CPU each`,
      verdict(Math.max(r.connectsPerSec, r.oneCoreCapacityPerSec) >= 5000),
    ]);
  }
  return '### Targets\n\n' + table(['target', 'measured', 'verdict'], rows);
}

const files = process.argv.length > 2 ? process.argv.slice(2) : newest();
process.stdout.write([targets(files), ...files.map(render)].join('\n\n') + '\n');
