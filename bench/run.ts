/**
 * Gyre benchmark entry point: `npm run bench -- <scenario> [options]`.
 * Scenarios: fanout, channels, saturate, idle, connect, api, smoke, redis-publish, two-nodes, workers. See docs/performance.md.
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { canPin, pinProcess } from './lib/proc.js';
import { writeResult } from './lib/report.js';
import type { Protocol, TargetKind } from './lib/servers.js';
import { api } from './scenarios/api.js';
import { channels } from './scenarios/channels.js';
import { redisPublish, twoNodes, workers } from './scenarios/cluster.js';
import { connect } from './scenarios/connect.js';
import { fanout } from './scenarios/fanout.js';
import { idle } from './scenarios/idle.js';
import type { BenchOptions, ScenarioResult } from './scenarios/options.js';
import { saturate } from './scenarios/saturate.js';
import { smoke } from './scenarios/smoke.js';

interface Defaults {
  targets: string;
  conns: string;
  rates: string;
  duration: number;
  run: (o: BenchOptions) => Promise<ScenarioResult>;
}

const SCENARIOS: Record<string, Defaults> = {
  fanout: { targets: 'gyre,ws,socketio', conns: '1000,5000,10000', rates: '1,10', duration: 10, run: fanout },
  channels: { targets: 'gyre,ws,socketio', conns: '1000,10000', rates: '1000', duration: 10, run: channels },
  saturate: { targets: 'gyre,ws,socketio', conns: '1000', rates: '25', duration: 5, run: saturate },
  idle: { targets: 'gyre,ws,socketio', conns: '10000,18000', rates: '0', duration: 50, run: idle },
  connect: { targets: 'gyre', conns: '10000', rates: '0', duration: 0, run: connect },
  api: { targets: 'gyre,ws', conns: '32', rates: '0', duration: 5, run: api },
  smoke: { targets: 'gyre', conns: '50', rates: '10', duration: 2, run: smoke },
  'redis-publish': {
    targets: 'gyre',
    conns: '100',
    rates: '250,500,1000,2000',
    duration: 5,
    run: redisPublish,
  },
  'two-nodes': { targets: 'gyre', conns: '1000', rates: '10,50', duration: 5, run: twoNodes },
  workers: { targets: 'gyre', conns: '1000', rates: '25', duration: 3, run: workers },
};

const USAGE = `usage: npm run bench -- <scenario> [options]
scenarios: ${Object.keys(SCENARIOS).join(', ')}
options:
  --targets gyre,ws,socketio   servers to measure (comma list)
  --protocol json|protobuf     Gyre wire format (default json)
  --conns 1000,5000            connection counts (comma list)
  --rates 1,10                 publications per second (fanout/channels; saturate: start rate)
  --duration S                 seconds per measured window (idle: idle window)
  --workers N                  load generator worker threads (default 2)
  --concurrency N              connects in flight per worker (default 100)
  --size B                     publication payload bytes (default 64)
  --no-pin                     do not pin server / load generator with taskset
  --profile DIR                servers write V8 CPU profiles (--cpu-prof) into DIR
  --warmup N                   before measuring (warm JIT): connect opens and closes N connections;
                               fanout publishes N times to a channel without subscribers
  --settle S                   fanout: publish S seconds at the first rate before measuring (default 1),
                               e.g. past the V8 collections and recompilations that follow the connects
  --gyre-config JSON           extra Gyre config, e.g. '{"client":{"write_delay":"20ms"}}'
  --out FILE                   result file (default bench/results/<scenario>-<time>.json)
environment:
  BENCH_SERVER_NODE_ARGS='--trace-gc ...'   extra Node flags for every server process
  BENCH_SERVER_LOG=FILE                     append every line the servers print to FILE`;

const list = (s: string): number[] => s.split(',').filter(Boolean).map(Number);

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      targets: { type: 'string' },
      protocol: { type: 'string', default: 'json' },
      conns: { type: 'string' },
      rates: { type: 'string' },
      duration: { type: 'string' },
      workers: { type: 'string', default: '2' },
      concurrency: { type: 'string', default: '100' },
      size: { type: 'string', default: '64' },
      'no-pin': { type: 'boolean', default: false },
      out: { type: 'string' },
      profile: { type: 'string' },
      'gyre-config': { type: 'string' },
      warmup: { type: 'string', default: '0' },
      settle: { type: 'string', default: '1' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const name = positionals[0] ?? '';
  const sc = SCENARIOS[name];
  if (!sc || values.help) {
    process.stderr.write(USAGE + '\n');
    return values.help ? 0 : 2;
  }
  const pin = !values['no-pin'] && canPin();
  // Load generator (this process, its workers inherit the mask) on core 1, servers on core 0.
  if (pin) pinProcess(process.pid, 1);
  const o: BenchOptions = {
    targets: (values.targets ?? sc.targets).split(',').filter(Boolean) as TargetKind[],
    protocol: values.protocol as Protocol,
    conns: list(values.conns ?? sc.conns),
    rates: list(values.rates ?? sc.rates),
    durationMs: Number(values.duration ?? sc.duration) * 1000,
    workers: Number(values.workers),
    payloadBytes: Number(values.size),
    concurrency: Number(values.concurrency),
    serverCore: pin ? 0 : undefined,
    profileDir: values.profile,
    gyreConfig: values['gyre-config'] ? (JSON.parse(values['gyre-config']) as Record<string, unknown>) : {},
    warmup: Number(values.warmup),
    settleMs: Number(values.settle) * 1000,
  };
  for (const t of o.targets)
    if (!['gyre', 'ws', 'socketio'].includes(t)) throw new Error(`unknown target ${t}`);
  if (o.protocol !== 'json' && o.protocol !== 'protobuf') throw new Error(`unknown protocol ${o.protocol}`);
  process.stdout.write(`scenario ${name}: ${JSON.stringify({ ...o, pinned: pin })}\n`);
  const load = loadavg()[0] ?? 0;
  if (load > 1.5)
    process.stderr.write(
      `warning: load average ${load.toFixed(1)}: other processes share the cores, rates and latencies will be off\n`,
    );
  const res = await sc.run(o);
  const path = writeResult(name, { options: { ...o, pinned: pin }, ...res.data }, values.out);
  process.stdout.write(`\nresults written to ${path}\n`);
  return res.failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(
      `bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exit(1);
  },
);
