import { fanout } from './fanout.js';
import type { BenchOptions, ScenarioResult } from './options.js';

/**
 * CI guard: a tiny fan-out (50 connections, 10 publications/s, 2 s) against Gyre. Fails when
 * nothing was delivered, so a broken harness or server is noticed without a long run.
 */
export async function smoke(o: BenchOptions): Promise<ScenarioResult> {
  const res = await fanout({ ...o, conns: o.conns.slice(0, 1) }, 'smoke');
  return res;
}
