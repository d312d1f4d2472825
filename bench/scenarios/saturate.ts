import { LoadGen } from '../loadgen/index.js';
import { measureWindow, type WindowResult } from '../lib/measure.js';
import { printTable } from '../lib/report.js';
import { startTarget, type TargetKind } from '../lib/servers.js';
import { label, protocolFor, type BenchOptions, type ScenarioResult } from './options.js';

export interface SaturationResult {
  target: TargetKind;
  protocol: string;
  conns: number;
  steps: WindowResult[];
  /** Deliveries/s of the highest sustained step (see `saturate`). */
  saturationDeliveriesPerSec: number;
  saturationPubRate: number;
  /** Which process was (nearly) a full core at the saturation step: both share a 2-core machine. */
  limitedBy: 'server' | 'loadgen' | 'server+loadgen' | 'unclear';
  /** Run at 80% of the saturation publication rate. */
  at80: WindowResult;
  at80NoLossP99Under50ms: boolean;
}

/**
 * Saturation sweep on one channel: the publication rate doubles each step until a step is not
 * sustained (loss > 1%, throughput < 90% of offered, p99 over 1 s, or publications skipped), then
 * three bisection steps between the last sustained rate and that one. Saturation is the highest
 * sustained step; a run at 80% of its throughput checks loss and p99. Every step is a point of
 * the load chart.
 */
export async function saturate(o: BenchOptions): Promise<ScenarioResult> {
  const n = o.conns[0] ?? 1000;
  const out: SaturationResult[] = [];
  for (const kind of o.targets) {
    const protocol = protocolFor(kind, o.protocol);
    const target = await startTarget(kind, {
      core: o.serverCore,
      profileDir: o.profileDir,
      gyreConfig: o.gyreConfig,
    });
    try {
      const lg = await LoadGen.start(target, protocol, { kind: 'one', channel: 'sat' }, n, o.workers);
      const c = await lg.connect(o.concurrency);
      const base = {
        target,
        lg,
        pickChannel: () => 'sat',
        subscribersOf: () => c.ready,
        payloadBytes: o.payloadBytes,
      };
      await measureWindow({ ...base, rate: o.rates[0] ?? 25, durationMs: 1000 });
      const steps: WindowResult[] = [];
      const run = async (rate: number): Promise<WindowResult> => {
        const w = await measureWindow({ ...base, rate, durationMs: o.durationMs, drainMs: 2000 });
        steps.push(w);
        printTable([
          {
            target: label(kind, protocol),
            'pub/s': rate,
            'deliv/s': w.deliveriesPerSec,
            loss: w.loss,
            p99ms: w.latency.p99Ms,
            srvCPU: w.serverCpuCores,
            lgCPU: w.loadgenCpuCores,
          },
        ]);
        return w;
      };
      // A step is sustained when (almost) everything offered arrives, on time and without skips.
      const sustained = (w: WindowResult): boolean =>
        w.loss <= 0.01 &&
        w.deliveriesPerSec >= 0.9 * w.rate * c.ready &&
        w.latency.p99Ms <= 1000 &&
        w.publishSkipped === 0;
      // Doubling finds the first step that is not sustained; three bisection steps between it and
      // the last sustained one place the saturation rate within 1/16 of that interval.
      let good: WindowResult | undefined;
      let bad: WindowResult | undefined;
      for (let rate = o.rates[0] ?? 25; rate <= 100_000; rate *= 2) {
        const w = await run(rate);
        if (!sustained(w)) {
          bad = w;
          break;
        }
        good = w;
      }
      if (good !== undefined && bad !== undefined) {
        let lo = good.rate;
        let hi = bad.rate;
        for (let i = 0; i < 3 && hi - lo > 1; i++) {
          const mid = Math.round((lo + hi) / 2);
          const w = await run(mid);
          if (sustained(w)) {
            good = w;
            lo = mid;
          } else hi = mid;
        }
      }
      // The highest sustained step; when even the first step falls behind, that step.
      const sat = good ?? steps[0]!;
      const satRate = sat.deliveriesPerSec / Math.max(1, c.ready);
      const rate80 = Math.max(1, Math.round(satRate * 0.8));
      const at80 = await measureWindow({ ...base, rate: rate80, durationMs: Math.max(o.durationMs, 10_000) });
      const busy = (cores: number): boolean => cores >= 0.85;
      const limitedBy: SaturationResult['limitedBy'] =
        busy(sat.serverCpuCores) && busy(sat.loadgenCpuCores)
          ? 'server+loadgen'
          : busy(sat.serverCpuCores)
            ? 'server'
            : busy(sat.loadgenCpuCores)
              ? 'loadgen'
              : 'unclear';
      const res: SaturationResult = {
        target: kind,
        protocol,
        conns: c.ready,
        steps,
        saturationDeliveriesPerSec: sat.deliveriesPerSec,
        saturationPubRate: Math.round(satRate),
        limitedBy,
        at80,
        at80NoLossP99Under50ms: at80.loss === 0 && at80.latency.p99Ms <= 50,
      };
      out.push(res);
      process.stdout.write(
        `${label(kind, protocol)}: saturation ${sat.deliveriesPerSec} deliv/s (${res.saturationPubRate} pub/s, limited by ${limitedBy}); ` +
          `80% = ${rate80} pub/s: loss ${at80.loss}, p99 ${at80.latency.p99Ms} ms, srvCPU ${at80.serverCpuCores}\n`,
      );
      await lg.stop();
    } finally {
      await target.stop();
    }
  }
  return { data: { results: out } };
}
