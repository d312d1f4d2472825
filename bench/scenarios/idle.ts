import { LoadGen } from '../loadgen/index.js';
import { sleep } from '../lib/measure.js';
import { processCpuMicros, processRssBytes } from '../lib/proc.js';
import { printTable, ratio } from '../lib/report.js';
import { startTarget, type TargetKind } from '../lib/servers.js';
import { round } from '../lib/stats.js';
import { label, protocolFor, type BenchOptions, type ScenarioResult } from './options.js';

/** From the last connect to the start of the CPU window (steady state, see `idle`). */
const SETTLE_MS = 90_000;

export interface IdleRow {
  target: TargetKind;
  protocol: string;
  conns: number;
  connected: number;
  rssBeforeBytes: number;
  rssAfterBytes: number;
  rssPerConnBytes: number;
  /** RSS at the end of the idle window (after pings, GC had time to run). */
  rssEndBytes: number;
  rssEndPerConnBytes: number;
  /** Server CPU with no connections, µs per second (subtracted below). */
  emptyCpuMicrosPerSec: number;
  idleWindowMs: number;
  cpuMicrosPerConnPerSec: number;
  pingsAnswered: number;
  closed: number;
}

/**
 * Idle connections: N connections, each subscribed to its own channel, nothing published.
 * Memory = server RSS growth from before connecting to 5 s after the last connect, per
 * connection (and again at the end of the idle window). CPU = server CPU over the idle window
 * (default pings and pong checks included), which starts {@link SETTLE_MS} after the last
 * connect, minus the empty server's CPU, per connection per second. A window of a whole number of
 * ping intervals (`--duration 50`) counts every connection's pings alike.
 */
export async function idle(o: BenchOptions): Promise<ScenarioResult> {
  const rows: IdleRow[] = [];
  for (const n of o.conns) {
    for (const kind of o.targets) {
      const protocol = protocolFor(kind, o.protocol);
      const target = await startTarget(kind, {
        core: o.serverCore,
        profileDir: o.profileDir,
        gyreConfig: o.gyreConfig,
      });
      try {
        await sleep(2000);
        const e0 = processCpuMicros(target.pid);
        await sleep(5000);
        const emptyCpuMicrosPerSec = (processCpuMicros(target.pid) - e0) / 5;
        const rssBefore = processRssBytes(target.pid);
        const lg = await LoadGen.start(target, protocol, { kind: 'own' }, n, o.workers);
        const c = await lg.connect(o.concurrency);
        if (c.failed)
          process.stderr.write(
            `${label(kind, protocol)}: ${c.failed} connections failed (${c.firstError})\n`,
          );
        await sleep(5000);
        const rssAfter = processRssBytes(target.pid);
        // The CPU window starts 90 s after the last connect: every connection is on its steady ping
        // schedule by then, and V8's memory reducer has run the full collections it starts when
        // allocation drops after the connects (inside the window they doubled the figure).
        await sleep(SETTLE_MS - 5000);
        lg.reset();
        const cpu0 = processCpuMicros(target.pid);
        const t0 = performance.now();
        await sleep(o.durationMs);
        const windowMs = performance.now() - t0;
        const cpu = processCpuMicros(target.pid) - cpu0;
        const rssEnd = processRssBytes(target.pid);
        const counts = await lg.count();
        const perSecNet = cpu / (windowMs / 1000) - emptyCpuMicrosPerSec;
        const row: IdleRow = {
          target: kind,
          protocol,
          conns: n,
          connected: c.ready,
          rssBeforeBytes: rssBefore,
          rssAfterBytes: rssAfter,
          rssPerConnBytes: Math.round((rssAfter - rssBefore) / Math.max(1, c.ready)),
          rssEndBytes: rssEnd,
          rssEndPerConnBytes: Math.round((rssEnd - rssBefore) / Math.max(1, c.ready)),
          emptyCpuMicrosPerSec: round(emptyCpuMicrosPerSec, 1),
          idleWindowMs: Math.round(windowMs),
          cpuMicrosPerConnPerSec: round(Math.max(0, perSecNet) / Math.max(1, c.ready), 4),
          pingsAnswered: counts.pingsAnswered,
          closed: counts.closed,
        };
        rows.push(row);
        printTable([
          {
            target: label(kind, protocol),
            conns: c.ready,
            'RSS MiB before': round(rssBefore / 2 ** 20, 1),
            'RSS MiB after': round(rssAfter / 2 ** 20, 1),
            'KB/conn': round(row.rssPerConnBytes / 1024, 2),
            'KB/conn end': round(row.rssEndPerConnBytes / 1024, 2),
            'cpuµs/conn/s': row.cpuMicrosPerConnPerSec,
            pings: counts.pingsAnswered,
            closed: counts.closed,
          },
        ]);
        await lg.stop();
      } finally {
        await target.stop();
      }
    }
  }
  const ratios = rows
    .filter((g) => g.target === 'gyre')
    .map((g) => {
      const other = (k: string): IdleRow | undefined =>
        rows.find((r) => r.target === k && r.conns === g.conns);
      return {
        conns: g.conns,
        rssPerConnVsWs: ratio(g.rssPerConnBytes, other('ws')?.rssPerConnBytes ?? 0),
        rssPerConnVsSocketio: ratio(g.rssPerConnBytes, other('socketio')?.rssPerConnBytes ?? 0),
      };
    });
  return { data: { rows, ratios } };
}
