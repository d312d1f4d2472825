import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export type TargetKind = 'gyre' | 'ws' | 'socketio';
export type Protocol = 'json' | 'protobuf';

/** A server under test, running in its own process. */
export interface RunningTarget {
  kind: TargetKind;
  pid: number;
  port: number;
  /** WebSocket URL without channel/protocol query. */
  wsUrl: string;
  publishUrl: string;
  apiKey: string;
  /** HMAC secret for connection tokens (Gyre only). */
  hmacSecret: string;
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Core to pin the server to with taskset; undefined = no pinning. */
  core: number | undefined;
  /** Extra Gyre config deep-merged over the bench defaults (e.g. `{ client: { write_delay: '20ms' } }`). */
  gyreConfig?: Record<string, unknown>;
  /** Write a V8 CPU profile of the server (`--cpu-prof`) into this directory on exit. */
  profileDir?: string | undefined;
  /** Extra command-line arguments for `gyre serve` (e.g. `['--workers', '2']`). */
  args?: string[];
}

/** Servers still running; killed if the bench exits early (a failed worker calls process.exit). */
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Start a target server and resolve once it has logged its listening line. */
export async function startTarget(kind: TargetKind, opts: StartOptions): Promise<RunningTarget> {
  const apiKey = randomBytes(16).toString('hex');
  const hmacSecret = randomBytes(32).toString('hex');
  let cmd: string[];
  const env: NodeJS.ProcessEnv = { ...process.env, BENCH_API_KEY: apiKey, PORT: '0' };
  if (kind === 'gyre') {
    const bin = join(ROOT, 'bin', 'gyre.js');
    if (!existsSync(join(ROOT, 'dist', 'src', 'cli', 'main.js'))) {
      throw new Error('Gyre is not built: run `npm run build` first');
    }
    const cfgPath = writeGyreConfig(apiKey, hmacSecret, opts.gyreConfig ?? {});
    cmd = [
      'node',
      ...profArgs(opts),
      bin,
      'serve',
      '-c',
      cfgPath,
      '--port',
      '0',
      '--address',
      '127.0.0.1',
      ...(opts.args ?? []),
    ];
  } else {
    const file = join(ROOT, 'bench', 'baselines', kind === 'ws' ? 'ws-server.ts' : 'socketio-server.ts');
    cmd = ['node', ...profArgs(opts), '--import', 'tsx', file];
  }
  if (opts.core !== undefined) cmd = ['taskset', '-c', String(opts.core), ...cmd];
  const child = spawn(cmd[0] ?? 'node', cmd.slice(1), { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  child.once('exit', () => live.delete(child));
  const port = await waitListening(child, kind);
  const pid = child.pid ?? 0;
  return {
    kind,
    pid,
    port,
    wsUrl: kind === 'gyre' ? `ws://127.0.0.1:${port}/connection/websocket` : `ws://127.0.0.1:${port}/`,
    publishUrl: `http://127.0.0.1:${port}/api/publish`,
    apiKey,
    hmacSecret,
    stop: () => stopChild(child),
  };
}

/**
 * Node flags for a server process: `BENCH_SERVER_NODE_ARGS` (space-separated, e.g. `--trace-gc` or
 * `--max-semi-space-size=16`), then the CPU profile flags of `--profile`.
 */
function profArgs(opts: StartOptions): string[] {
  const extra = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  return [...extra, ...(opts.profileDir ? ['--cpu-prof', '--cpu-prof-dir', opts.profileDir] : [])];
}

function writeGyreConfig(apiKey: string, secret: string, extra: Record<string, unknown>): string {
  const dir = join(tmpdir(), 'gyre-bench');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `config-${process.pid}-${Date.now()}.json`);
  const config = deepMerge(
    {
      client: { token: { hmac_secret_key: secret } },
      http_api: { key: apiKey },
      channel: { without_namespace: { allow_subscribe_for_client: true } },
      log: { level: 'info' },
    },
    extra,
  );
  writeFileSync(path, JSON.stringify(config, null, 2));
  return path;
}

function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    const isObj = (x: unknown): x is Record<string, unknown> =>
      typeof x === 'object' && x !== null && !Array.isArray(x);
    out[k] = isObj(b) && isObj(v) ? deepMerge(b, v) : v;
  }
  return out;
}

function waitListening(child: ChildProcess, kind: TargetKind): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const stderr: string[] = [];
    child.stderr?.on('data', (c: Buffer) => stderr.push(c.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${kind} did not start within 20 s: ${stderr.join('')}`));
    }, 20_000);
    const onExit = (code: number | null): void => {
      clearTimeout(timer);
      reject(new Error(`${kind} exited with ${code}: ${stderr.join('')}`));
    };
    child.once('exit', onExit);
    const rl = createInterface({ input: child.stdout! });
    // BENCH_SERVER_LOG: every line the server prints (its log, `--trace-gc` output) is appended there.
    const logFile = process.env.BENCH_SERVER_LOG;
    rl.on('line', (line) => {
      if (logFile) appendFileSync(logFile, `${line}\n`);
      try {
        const obj = JSON.parse(line) as { msg?: string; port?: number };
        if ((obj.msg === 'gyre listening' || obj.msg === 'baseline listening') && obj.port) {
          clearTimeout(timer);
          child.off('exit', onExit);
          resolvePort(obj.port);
        }
      } catch {
        /* not a JSON line */
      }
    });
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((done) => {
    if (child.exitCode !== null || child.signalCode !== null) return done();
    const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(kill);
      done();
    });
    child.kill('SIGTERM');
  });
}
