/**
 * Starts the built Gyre server (`node bin/gyre.js serve ...`) as a user would, on a free port,
 * with a config file written to a temp dir, and runs CLI commands. Every process started here is
 * killed at the end of the test that started it (and, as a last resort, when the runner exits).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { after } from 'node:test';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify as toYaml } from 'yaml';
import { stringify as toToml } from 'smol-toml';

/** Repository root (two levels above this file). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The CLI entry point users run. */
export const GYRE_BIN = join(REPO_ROOT, 'bin', 'gyre.js');

/** Anything with `after` (node:test TestContext or SuiteContext-like hooks). */
export interface Cleanup {
  after(fn: () => unknown): void;
}

/** Options for {@link startGyre}. */
export interface StartOptions {
  /** Config object written to the config file (Centrifugo v6 layout). */
  config?: Record<string, unknown>;
  /** File format of the written config. Default `json`. */
  format?: 'json' | 'yaml' | 'toml';
  /** Use this existing config file instead of writing one. */
  configFile?: string;
  /**
   * Extra environment variables (CENTRIFUGO_* / GYRE_* from the runner's env are removed first);
   * a function receives the picked port.
   */
  env?: Record<string, string> | ((port: number) => Record<string, string>);
  /** Extra CLI arguments appended after `serve -c file --port N`. */
  args?: string[];
  /** Full argument list replacing `serve -c file --port N` (the port is still picked and returned). */
  argv?: (ctx: { configFile: string; port: number }) => string[];
  /** How long to wait for the server to listen. Default 30000 ms. */
  startTimeoutMs?: number;
  /** Working directory of the process (where it looks for `.env`). Default: the repository root. */
  cwd?: string;
}

/** A running server process. */
export interface RunningGyre {
  port: number;
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** `ws://127.0.0.1:<port>/connection/websocket` (default prefix). */
  wsUrl: string;
  /** `http://127.0.0.1:<port>/api` (default prefix). */
  apiUrl: string;
  configFile: string;
  proc: ChildProcess;
  /** Sends `signal` (default SIGTERM) and resolves when the process has exited. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves when the process exits, whatever the reason. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Everything written to stdout and stderr so far. */
  output(): string;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

/** Returns a TCP port that was free a moment ago (listen on 0, read, close). */
export async function freePort(): Promise<number> {
  const srv = net.createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const addr = srv.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** True when something accepts TCP connections on 127.0.0.1:port. */
export function portAccepts(port: number): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const sock = net.connect({ port, host: '127.0.0.1' });
    sock.once('connect', () => {
      sock.destroy();
      resolvePromise(true);
    });
    sock.once('error', () => resolvePromise(false));
  });
}

/** Makes a temp dir removed at the end of the test. */
export function tempDir(t: Cleanup | undefined, prefix = 'gyre-e2e-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t?.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Serialises `config` in the given format. */
export function serializeConfig(config: Record<string, unknown>, format: 'json' | 'yaml' | 'toml'): string {
  if (format === 'yaml') return toYaml(config);
  if (format === 'toml') return toToml(config);
  return JSON.stringify(config, null, 2);
}

/** Writes `config` to `<dir>/config.<ext>` and returns the path. */
export function writeConfig(
  dir: string,
  config: Record<string, unknown>,
  format: 'json' | 'yaml' | 'toml' = 'json',
): string {
  const file = join(dir, `config.${format}`);
  writeFileSync(file, serializeConfig(config, format));
  return file;
}

/** The runner's environment without CENTRIFUGO_* / GYRE_* variables, plus `extra`. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('CENTRIFUGO_') && !k.startsWith('GYRE_')) env[k] = v;
  }
  return { ...env, ...extra };
}

/**
 * Starts the server and waits until it logs `gyre listening` (or, when nothing is logged for 3 s,
 * until its port accepts TCP connections). Rejects with the captured output when the process exits
 * first or the wait times out. A port taken by someone else between picking and binding
 * (EADDRINUSE) is retried with another free port, up to three times.
 */
export async function startGyre(t: Cleanup | undefined, opts: StartOptions = {}): Promise<RunningGyre> {
  const dir = tempDir(t);
  const configFile = opts.configFile ?? writeConfig(dir, opts.config ?? {}, opts.format ?? 'json');
  for (let attempt = 1; ; attempt++) {
    try {
      return await spawnGyre(t, opts, configFile);
    } catch (err) {
      if (attempt < 3 && err instanceof PortInUseError) continue;
      throw err;
    }
  }
}

class PortInUseError extends Error {}

async function spawnGyre(
  t: Cleanup | undefined,
  opts: StartOptions,
  configFile: string,
): Promise<RunningGyre> {
  const port = await freePort();
  const argv = opts.argv
    ? opts.argv({ configFile, port })
    : ['serve', '-c', configFile, '--port', String(port), ...(opts.args ?? [])];
  const proc = spawn(process.execPath, [GYRE_BIN, ...argv], {
    cwd: opts.cwd ?? REPO_ROOT,
    env: cleanEnv(typeof opts.env === 'function' ? opts.env(port) : opts.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(proc);
  let out = '';
  let listening = false;
  const onData = (chunk: Buffer): void => {
    out += chunk.toString('utf8');
    if (!listening && out.includes('gyre listening')) listening = true;
  };
  proc.stdout?.on('data', onData);
  proc.stderr?.on('data', onData);
  let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => {
    proc.once('exit', (code, signal) => {
      live.delete(proc);
      exitInfo = { code, signal };
      res(exitInfo);
    });
  });
  t?.after(async () => {
    if (!exitInfo) {
      proc.kill('SIGKILL');
      await exited;
    }
  });

  const started = Date.now();
  const timeoutMs = opts.startTimeoutMs ?? 30000;
  for (;;) {
    if (exitInfo) {
      await new Promise((r) => setImmediate(r)); // let the last output arrive
      const msg = `gyre exited before listening (code ${exitInfo.code}, signal ${exitInfo.signal}); argv: ${argv.join(' ')}\n--- output ---\n${out}`;
      if (/EADDRINUSE/.test(out)) throw new PortInUseError(msg);
      throw new Error(msg);
    }
    if (listening) break;
    // Only trust a bare TCP probe when the server logs nothing: another process may own the port.
    if (Date.now() - started > 3000 && out === '' && (await portAccepts(port))) break;
    if (Date.now() - started > timeoutMs) {
      proc.kill('SIGKILL');
      throw new Error(`gyre did not listen on ${port} within ${timeoutMs}ms\n--- output ---\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }

  const url = `http://127.0.0.1:${port}`;
  return {
    port,
    url,
    wsUrl: `ws://127.0.0.1:${port}/connection/websocket`,
    apiUrl: `${url}/api`,
    configFile,
    proc,
    exited,
    output: () => out,
    stop: async (signal: NodeJS.Signals = 'SIGTERM') => {
      if (!exitInfo) proc.kill(signal);
      return exited;
    },
  };
}

/** Result of a finished CLI run. */
export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** stdout + stderr */
  output: string;
}

/** Runs `node bin/gyre.js <args>` to completion (killed after `timeoutMs`). */
export async function runCli(
  args: string[],
  opts: { env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {},
): Promise<CliResult> {
  const proc = spawn(process.execPath, [GYRE_BIN, ...args], {
    cwd: opts.cwd ?? REPO_ROOT,
    env: cleanEnv(opts.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(proc);
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
  proc.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  const timer = setTimeout(() => proc.kill('SIGKILL'), opts.timeoutMs ?? 30000);
  const [code, signal] = (await once(proc, 'close')) as [number | null, NodeJS.Signals | null];
  clearTimeout(timer);
  live.delete(proc);
  return { code, signal, stdout, stderr, output: stdout + stderr };
}

/**
 * A {@link Cleanup} for a `describe` block: functions registered on it run (last first) in the
 * suite's `after` hook. Call synchronously inside the `describe` body.
 */
export function suiteCleanup(): Cleanup {
  const fns: (() => unknown)[] = [];
  after(async () => {
    for (const fn of fns.reverse()) await fn();
  });
  return { after: (fn) => void fns.push(fn) };
}
