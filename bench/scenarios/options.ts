import type { Protocol, TargetKind } from '../lib/servers.js';

/** Options shared by every scenario (parsed by run.ts; each scenario fills its own defaults). */
export interface BenchOptions {
  targets: TargetKind[];
  protocol: Protocol;
  conns: number[];
  rates: number[];
  durationMs: number;
  workers: number;
  payloadBytes: number;
  /** Connection attempts in flight per worker. */
  concurrency: number;
  /** Core for the server process (taskset), undefined = not pinned. */
  serverCore: number | undefined;
  /** When set, servers run with `--cpu-prof` writing profiles here. */
  profileDir: string | undefined;
  /** Extra Gyre config (JSON object) deep-merged over the bench config. */
  gyreConfig: Record<string, unknown>;
  /**
   * Before measuring (JIT warm-up), 0 = none. connect: connections opened and closed; fanout:
   * publications to a channel without subscribers.
   */
  warmup: number;
  /** fanout: publishing at the first rate before the first window, in ms (default 1000). */
  settleMs: number;
}

/** What a scenario returns: JSON-ready data, plus whether it counts as a failure (smoke). */
export interface ScenarioResult {
  data: Record<string, unknown>;
  failed?: boolean;
}

/** Protocol used against a target (baselines have a single format). */
export function protocolFor(kind: TargetKind, protocol: Protocol): Protocol {
  return kind === 'gyre' ? protocol : 'json';
}

/** Label for tables: `gyre/json`, `ws`, `socketio`. */
export function label(kind: TargetKind, protocol: Protocol): string {
  return kind === 'gyre' ? `gyre/${protocol}` : kind;
}
