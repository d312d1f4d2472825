/**
 * GC activity of an idle Gyre server: starts `gyre serve` (the build in `dist/`) with
 * `--trace-gc`, opens N connections (connect + subscribe to their own channel, answering pings),
 * waits, then counts the collections logged during an idle window and the server CPU over it.
 *
 *   npm run build
 *   node --import tsx bench/micro/idle-gc.ts [conns=10000] [windowSeconds=30] [settleSeconds=5] [node flags...]
 *
 * The window starts `settleSeconds` after the last connect (90 in the idle scenario, after V8's
 * post-connect collections).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { LoadGen } from '../loadgen/index.js';
import { sleep } from '../lib/measure.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { processCpuMicros, processRssBytes, userSystemMicros } from '../lib/proc.js';
import type { RunningTarget } from '../lib/servers.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const conns = Number(process.argv[2] ?? 10000);
const windowS = Number(process.argv[3] ?? 30);
const hasSettle = /^\d+$/.test(process.argv[4] ?? '');
const settleS = hasSettle ? Number(process.argv[4]) : 5;
const nodeFlags = process.argv.slice(hasSettle ? 5 : 4);

const dir = mkdtempSync(join(tmpdir(), 'gyre-gc-'));
const apiKey = randomBytes(16).toString('hex');
const hmacSecret = randomBytes(32).toString('hex');
const cfgPath = join(dir, 'config.json');
writeFileSync(
  cfgPath,
  JSON.stringify({
    client: { token: { hmac_secret_key: hmacSecret } },
    http_api: { key: apiKey },
    channel: { without_namespace: { allow_subscribe_for_client: true } },
    log: { level: 'info' },
  }),
);
const child = spawn(
  'taskset',
  [
    '-c',
    '0',
    'node',
    '--trace-gc',
    ...nodeFlags,
    join(ROOT, 'bin', 'gyre.js'),
    'serve',
    '-c',
    cfgPath,
    '--port',
    '0',
  ],
  { stdio: ['ignore', 'pipe', 'inherit'] },
);
const gcLines: { at: number; line: string }[] = [];
const port = await new Promise<number>((res, rej) => {
  child.once('exit', (code) => rej(new Error(`gyre exited with ${code}`)));
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (line.startsWith('[')) {
      gcLines.push({ at: performance.now(), line });
      return;
    }
    try {
      const o = JSON.parse(line) as { msg?: string; port?: number };
      if (o.msg === 'gyre listening' && o.port) res(o.port);
    } catch {
      /* not JSON */
    }
  });
});
const pid = child.pid ?? 0;
const target: RunningTarget = {
  kind: 'gyre',
  pid,
  port,
  wsUrl: `ws://127.0.0.1:${port}/connection/websocket`,
  publishUrl: '',
  apiKey,
  hmacSecret,
  stop: async () => {},
};
try {
  const lg = await LoadGen.start(target, 'json', { kind: 'own' }, conns, 2);
  const c = await lg.connect(100);
  await sleep(settleS * 1000);
  const t0 = performance.now();
  const cpu0 = processCpuMicros(pid);
  const split0 = userSystemMicros(pid);
  await sleep(windowS * 1000);
  const cpu = processCpuMicros(pid) - cpu0;
  const split1 = userSystemMicros(pid);
  const t1 = performance.now();
  const inWindow = gcLines.filter((g) => g.at >= t0 && g.at <= t1);
  const kinds = new Map<string, number>();
  for (const g of inWindow) {
    const m = /: (Scavenge|Mark-Compact|Mark-sweep|Minor Mark-Compact|Mark-Compact \(reduce\))/.exec(g.line);
    const k = m?.[1] ?? 'other';
    kinds.set(k, (kinds.get(k) ?? 0) + 1);
  }
  console.log(
    `${c.ready} connections; idle ${windowS}s: server CPU ${(cpu / windowS / c.ready).toFixed(3)} µs/conn/s, ` +
      `(user ${(split1.user - split0.user) / 1000} ms, system ${(split1.system - split0.system) / 1000} ms), ` +
      `RSS ${(processRssBytes(pid) / 2 ** 20).toFixed(1)} MiB; GCs: ${JSON.stringify(Object.fromEntries(kinds))}`,
  );
  for (const g of inWindow.slice(-6)) console.log(g.line);
  await lg.stop();
} finally {
  child.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
}
