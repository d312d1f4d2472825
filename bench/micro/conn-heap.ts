/**
 * Heap cost of one idle connection, by object kind. Starts `gyre serve` (the build in `dist/`,
 * with the bench's config: HS256 tokens, clients subscribe to their own channel), takes a V8 heap
 * snapshot with no connections, opens N connections with the load generator (connect +
 * subscribe, then idle), takes a second snapshot, and prints the heap growth per connection
 * grouped by V8 node type and constructor name, largest first. Also prints the server's RSS
 * growth per connection for comparison with the `idle` scenario.
 *
 *   npm run build
 *   node --import tsx bench/micro/conn-heap.ts [conns=5000] [top=40] [--keep DIR] [--config JSON]
 *
 * Snapshots are written to a temporary directory and deleted unless `--keep DIR` is given.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { LoadGen } from '../loadgen/index.js';
import { sleep } from '../lib/measure.js';
import { processRssBytes } from '../lib/proc.js';
import type { RunningTarget } from '../lib/servers.js';
import { printHeapDiff, summarizeSnapshot } from './heap-diff.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const v = args[i + 1];
  args.splice(i, 2);
  return v;
};
const keepDir = flag('--keep');
const extraConfig = JSON.parse(flag('--config') ?? '{}') as Record<string, unknown>;
const conns = Number(args[0] ?? 5000);
const top = Number(args[1] ?? 40);

async function snapshot(pid: number, dir: string, before: Set<string>): Promise<string> {
  process.kill(pid, 'SIGUSR2');
  for (let i = 0; i < 600; i++) {
    await sleep(250);
    const fresh = readdirSync(dir).filter((f) => f.endsWith('.heapsnapshot') && !before.has(f));
    if (fresh.length > 0) {
      // Wait until the file stops growing.
      const file = join(dir, fresh[0] ?? '');
      let last = -1;
      for (;;) {
        const size = readFileSync(file).length;
        if (size === last && size > 0) break;
        last = size;
        await sleep(500);
      }
      before.add(fresh[0] ?? '');
      return file;
    }
  }
  throw new Error('no heap snapshot written');
}

async function main(): Promise<void> {
  const dir = keepDir ?? mkdtempSync(join(tmpdir(), 'gyre-heap-'));
  mkdirSync(dir, { recursive: true });
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
      ...extraConfig,
    }),
  );
  const child = spawn(
    'node',
    ['--heapsnapshot-signal=SIGUSR2', join(ROOT, 'bin', 'gyre.js'), 'serve', '-c', cfgPath, '--port', '0'],
    { cwd: dir, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const port = await new Promise<number>((res, rej) => {
    child.once('exit', (code) => rej(new Error(`gyre exited with ${code}`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
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
    publishUrl: `http://127.0.0.1:${port}/api/publish`,
    apiKey,
    hmacSecret,
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
  try {
    const seen = new Set<string>();
    await sleep(1000);
    const s0 = await snapshot(pid, dir, seen);
    const rss0 = processRssBytes(pid);
    const lg = await LoadGen.start(target, 'json', { kind: 'own' }, conns, 2);
    const c = await lg.connect(100);
    if (c.failed) process.stderr.write(`${c.failed} connections failed: ${c.firstError}\n`);
    await sleep(3000);
    const rss1 = processRssBytes(pid);
    const s1 = await snapshot(pid, dir, seen);
    await lg.stop();
    console.log(`connections: ${c.ready}`);
    console.log(`RSS growth per connection: ${((rss1 - rss0) / c.ready).toFixed(0)} bytes`);
    printHeapDiff(summarizeSnapshot(s0), summarizeSnapshot(s1), c.ready, top);
  } finally {
    await target.stop();
    if (!keepDir) rmSync(dir, { recursive: true, force: true });
  }
}

await main();
