// Preload for a server under benchmark: records a sampling heap profile of every allocation made
// in one time window (objects the GC has already collected included), so "what allocates per
// ping / per delivery" can be read off a real run. Loaded into the server with
//   BENCH_SERVER_NODE_ARGS="--import ./bench/tools/alloc-profile.mjs"
// Window: BENCH_ALLOC_START_MS after the process starts (default 105000, inside the idle
// scenario's CPU window), for BENCH_ALLOC_MS (default 30000), one sample per
// BENCH_ALLOC_INTERVAL bytes (default 512). The profile goes to
// BENCH_ALLOC_DIR/alloc-<pid>.heapprofile (default the system temp dir); read it with
//   node --import tsx bench/tools/alloc-summary.ts <file> [--ops N]
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout } from 'node:timers';

const env = (name, fallback) => Number(process.env[name] ?? fallback);
const start = env('BENCH_ALLOC_START_MS', 105_000);
const duration = env('BENCH_ALLOC_MS', 30_000);
const interval = env('BENCH_ALLOC_INTERVAL', 512);
const dir = process.env.BENCH_ALLOC_DIR ?? tmpdir();

const session = new Session();
session.connect();
const post = (method, params = {}) =>
  new Promise((resolve, reject) =>
    session.post(method, params, (err, res) => (err ? reject(err) : resolve(res))),
  );

setTimeout(() => {
  void (async () => {
    await post('HeapProfiler.enable');
    await post('HeapProfiler.startSampling', {
      samplingInterval: interval,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
    setTimeout(() => {
      void post('HeapProfiler.stopSampling').then(({ profile }) => {
        const file = join(dir, `alloc-${process.pid}.heapprofile`);
        writeFileSync(file, JSON.stringify({ durationMs: duration, ...profile }));
        process.stderr.write(`alloc-profile: wrote ${file}\n`);
      });
    }, duration).unref();
  })();
}, start).unref();
