import type { Protocol, TargetKind } from '../lib/servers.js';

/**
 * How a worker's connections map to channels:
 * - `one`: every connection subscribes to `channel`;
 * - `own+group`: connection i subscribes to `c<i>` and to the group channel `g<floor(i/groupSize)>`.
 */
export type Layout =
  { kind: 'one'; channel: string } | { kind: 'own' } | { kind: 'own+group'; groupSize: number };

export interface InitMsg {
  type: 'init';
  target: TargetKind;
  protocol: Protocol;
  wsUrl: string;
  hmacSecret: string;
  layout: Layout;
  /** Connection indexes [start, end) handled by this worker. */
  start: number;
  end: number;
}

export type ToWorker =
  | InitMsg
  | { type: 'connect'; concurrency: number }
  | { type: 'reset' }
  | { type: 'collect' }
  | { type: 'count' }
  | { type: 'close' };

export interface WorkerStats {
  delivered: number;
  pingsAnswered: number;
  /** Connections closed by the server after becoming ready. */
  closed: number;
  /** Latency histogram bucket counts (see Histogram). */
  counts: Uint32Array;
  count: number;
  sumUs: number;
  maxUs: number;
}

export type FromWorker =
  | { type: 'ready' }
  | { type: 'connected'; ready: number; failed: number; firstError: string; connect: WorkerStats }
  | ({ type: 'stats' } & WorkerStats)
  | { type: 'count'; delivered: number; pingsAnswered: number; closed: number }
  | { type: 'closed' };

/** Channels of connection `i` under a layout. */
export function channelsOf(layout: Layout, i: number): string[] {
  if (layout.kind === 'one') return [layout.channel];
  if (layout.kind === 'own') return [`c${i}`];
  return [`c${i}`, `g${Math.floor(i / layout.groupSize)}`];
}
