import type { LoadGen } from '../loadgen/index.js';
import { publishAtRate } from '../loadgen/publisher.js';
import { processCpuMicros } from './proc.js';
import type { RunningTarget } from './servers.js';
import { round, type LatencySummary } from './stats.js';

/** One measured publishing window. */
export interface WindowResult {
  rate: number;
  durationMs: number;
  published: number;
  publishFailed: number;
  /** Publications the publisher could not send on time (in-flight cap reached). */
  publishSkipped: number;
  expected: number;
  delivered: number;
  /** Fraction of expected deliveries that never arrived (0..1). */
  loss: number;
  deliveriesPerSec: number;
  latency: LatencySummary;
  serverCpuMicros: number;
  serverCpuPerDeliveryMicros: number;
  /** Server CPU use over the window, in cores (1 = one core fully busy). */
  serverCpuCores: number;
  /** Load generator CPU use over the window, in cores (all its threads). */
  loadgenCpuCores: number;
  /** Connections the server closed during the window. */
  closed: number;
}

export interface WindowSpec {
  target: RunningTarget;
  lg: LoadGen;
  pickChannel: (seq: number) => string;
  subscribersOf: (channel: string) => number;
  rate: number;
  durationMs: number;
  payloadBytes: number;
  /** Max wait for late deliveries after the last publication. */
  drainMs?: number;
}

/**
 * Publish at a fixed rate for a window, wait for the deliveries to drain, and return rates,
 * loss, latency and CPU. Server CPU covers the publishing window plus the drain.
 */
export async function measureWindow(spec: WindowSpec): Promise<WindowResult> {
  const { target, lg } = spec;
  lg.reset();
  const cpu0 = processCpuMicros(target.pid);
  const lgCpu0 = process.cpuUsage();
  const t0 = performance.now();
  const pub = await publishAtRate(target, spec.pickChannel, spec.rate, spec.durationMs, spec.payloadBytes);
  let expected = 0;
  for (const [ch, n] of pub.perChannel) expected += n * spec.subscribersOf(ch);
  const drainUntil = performance.now() + (spec.drainMs ?? 3000);
  let counted = await lg.count();
  while (counted.delivered < expected && performance.now() < drainUntil) {
    await new Promise((r) => setTimeout(r, 50));
    counted = await lg.count();
  }
  const elapsedMs = performance.now() - t0;
  const cpu1 = processCpuMicros(target.pid);
  const lgCpu = process.cpuUsage(lgCpu0);
  const got = await lg.collect();
  const serverCpu = cpu1 - cpu0;
  return {
    rate: spec.rate,
    durationMs: round(elapsedMs, 0),
    published: pub.ok,
    publishFailed: pub.failed,
    publishSkipped: pub.skipped,
    expected,
    delivered: got.delivered,
    loss: expected ? round(Math.max(0, expected - got.delivered) / expected, 5) : 0,
    deliveriesPerSec: round(got.delivered / (elapsedMs / 1000), 0),
    latency: got.latency.summary(),
    serverCpuMicros: serverCpu,
    serverCpuPerDeliveryMicros: got.delivered ? round(serverCpu / got.delivered, 3) : 0,
    serverCpuCores: round(serverCpu / (elapsedMs * 1000), 3),
    loadgenCpuCores: round((lgCpu.user + lgCpu.system) / (elapsedMs * 1000), 3),
    closed: got.closed,
  };
}

/** Let in-flight work finish and the server settle between phases. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
