import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const RESULTS_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'results');

/** Machine facts stored with every result file. */
export function machineInfo(): Record<string, unknown> {
  let ulimit = '';
  try {
    ulimit = execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim();
  } catch {
    /* unknown */
  }
  return {
    // The machine's online cores: `nproc` would count only the cores this (pinned) process may use.
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    openFileLimit: ulimit,
    /** 1-minute load average when the result was written: above ~2 means other work shared the cores. */
    loadAvg1m: Math.round((loadavg()[0] ?? 0) * 100) / 100,
  };
}

/** Write a result object to `bench/results/<scenario>-<timestamp>.json`; returns the path. */
export function writeResult(scenario: string, data: Record<string, unknown>, out?: string): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const path = out ?? join(RESULTS_DIR, `${scenario}-${stamp}.json`);
  writeFileSync(
    path,
    JSON.stringify({ scenario, at: new Date().toISOString(), machine: machineInfo(), ...data }, null, 2) +
      '\n',
  );
  return path;
}

/** Print rows as an aligned text table. */
export function printTable(rows: Record<string, string | number>[]): void {
  if (rows.length === 0) return;
  const cols = Object.keys(rows[0] ?? {});
  const width = cols.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c] ?? '').length)));
  const line = (vals: string[]): string => vals.map((v, i) => v.padStart(width[i] ?? 0)).join('  ');
  process.stdout.write(line(cols) + '\n');
  for (const r of rows) process.stdout.write(line(cols.map((c) => String(r[c] ?? ''))) + '\n');
}

/** `a / b` rounded, or null when b is 0. */
export function ratio(a: number, b: number): number | null {
  return b ? Math.round((a / b) * 1000) / 1000 : null;
}
