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
  /** Highest sustained deliveries/s seen over the steps. */
  saturationDeliveriesPerSec: number;
  saturationPubRate: number;
  /** Which side ran out of CPU first at saturation. */
  limitedBy: 'server' | 'loadgen' | 'unclear';
  /** Run at 80% of the saturation publication rate. */
  at80: WindowResult;
  at80NoLossP99Under50ms: boolean;
}

/**
 * Saturation sweep on one channel: publication rate doubles each step until deliveries fall
 * behind (loss > 1% or throughput < 90% of offered) or p99 passes 1 s; then a run at 80% of the
 * best throughput checks loss and p99. The steps are the points of the load chart.
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
      let best: WindowResult | undefined;
      for (let rate = o.rates[0] ?? 25; rate <= 100_000; rate *= 2) {
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
        if (!best || w.deliveriesPerSec > best.deliveriesPerSec) best = w;
        const offered = rate * c.ready;
        if (
          w.loss > 0.01 ||
          w.deliveriesPerSec < 0.9 * offered ||
          w.latency.p99Ms > 1000 ||
          w.publishSkipped > 0
        )
          break;
      }
      const sat = best ?? steps[0]!;
      const satRate = sat.deliveriesPerSec / Math.max(1, c.ready);
      const rate80 = Math.max(1, Math.round(satRate * 0.8));
      const at80 = await measureWindow({ ...base, rate: rate80, durationMs: Math.max(o.durationMs, 10_000) });
      const limitedBy =
        sat.serverCpuCores >= 0.85 ? 'server' : sat.loadgenCpuCores >= 0.85 ? 'loadgen' : 'unclear';
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
