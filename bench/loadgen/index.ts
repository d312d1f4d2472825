import { Worker } from 'node:worker_threads';
import type { Protocol, RunningTarget } from '../lib/servers.js';
import { Histogram } from '../lib/stats.js';
import type { FromWorker, Layout, ToWorker, WorkerStats } from './messages.js';

export interface ConnectResult {
  ready: number;
  failed: number;
  firstError: string;
  elapsedMs: number;
  /** Per-connection connect(+subscribe) latency. */
  latency: Histogram;
}

export interface Collected {
  delivered: number;
  pingsAnswered: number;
  closed: number;
  latency: Histogram;
}

/**
 * Node 20 does not apply `--import tsx` to a worker's entry module, so the worker boots from a
 * tiny JS snippet that registers tsx in its own thread and then imports the TypeScript worker.
 */
const WORKER_BOOT = `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(
  new URL('./worker.ts', import.meta.url).href,
)}); })`;

/**
 * Owns the worker threads of one load-generator run. Connections `[0, total)` are split into
 * contiguous slices, one per worker.
 */
export class LoadGen {
  private readonly workers: Worker[] = [];
  private readonly inbox = new Map<Worker, ((m: FromWorker) => void)[]>();

  private constructor() {}

  static async start(
    target: RunningTarget,
    protocol: Protocol,
    layout: Layout,
    total: number,
    workerCount: number,
  ): Promise<LoadGen> {
    const lg = new LoadGen();
    const n = Math.max(1, Math.min(workerCount, total));
    for (let w = 0; w < n; w++) {
      const worker = new Worker(WORKER_BOOT, { eval: true });
      lg.workers.push(worker);
      lg.inbox.set(worker, []);
      worker.on('message', (m: FromWorker) => lg.inbox.get(worker)?.shift()?.(m));
      worker.on('error', (err) => {
        process.stderr.write(`load generator worker failed: ${err.stack ?? err.message}\n`);
        process.exit(2);
      });
    }
    await lg.all(
      {
        type: 'init',
        target: target.kind,
        protocol,
        wsUrl: target.wsUrl,
        hmacSecret: target.hmacSecret,
        layout,
        start: 0,
        end: 0,
      },
      (w) => ({
        start: Math.floor((total * w) / n),
        end: Math.floor((total * (w + 1)) / n),
      }),
    );
    return lg;
  }

  /** Send one message to every worker and wait for one answer from each. */
  private all(msg: ToWorker, patch?: (w: number) => Partial<ToWorker>): Promise<FromWorker[]> {
    return Promise.all(
      this.workers.map(
        (worker, w) =>
          new Promise<FromWorker>((resolve) => {
            this.inbox.get(worker)?.push(resolve);
            worker.postMessage(patch ? { ...msg, ...patch(w) } : msg);
          }),
      ),
    );
  }

  private post(msg: ToWorker): void {
    for (const w of this.workers) w.postMessage(msg);
  }

  /** Open every connection, `concurrency` in flight per worker. */
  async connect(concurrency: number): Promise<ConnectResult> {
    const t0 = performance.now();
    const answers = await this.all({ type: 'connect', concurrency });
    const res: ConnectResult = {
      ready: 0,
      failed: 0,
      firstError: '',
      elapsedMs: performance.now() - t0,
      latency: new Histogram(),
    };
    for (const a of answers) {
      if (a.type !== 'connected') continue;
      res.ready += a.ready;
      res.failed += a.failed;
      res.firstError ||= a.firstError;
      res.latency.merge(toHist(a.connect));
    }
    return res;
  }

  reset(): void {
    this.post({ type: 'reset' });
  }

  async collect(): Promise<Collected> {
    const answers = await this.all({ type: 'collect' });
    const out: Collected = { delivered: 0, pingsAnswered: 0, closed: 0, latency: new Histogram() };
    for (const a of answers) {
      if (a.type !== 'stats') continue;
      out.delivered += a.delivered;
      out.pingsAnswered += a.pingsAnswered;
      out.closed += a.closed;
      out.latency.merge(toHist(a));
    }
    return out;
  }

  /** Current counters without touching the latency histogram. */
  async count(): Promise<{ delivered: number; pingsAnswered: number; closed: number }> {
    const out = { delivered: 0, pingsAnswered: 0, closed: 0 };
    for (const a of await this.all({ type: 'count' })) {
      if (a.type !== 'count') continue;
      out.delivered += a.delivered;
      out.pingsAnswered += a.pingsAnswered;
      out.closed += a.closed;
    }
    return out;
  }

  /** Close every connection and stop the workers. */
  async stop(): Promise<void> {
    await this.all({ type: 'close' });
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

function toHist(s: WorkerStats): Histogram {
  const h = new Histogram();
  h.merge(Object.assign(new Histogram(s.counts), { count: s.count, sumUs: s.sumUs, maxUs: s.maxUs }));
  return h;
}
