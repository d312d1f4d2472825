/**
 * One shared coarse scheduler for every connection of a node: pings, pong deadlines, stale and
 * expiry checks and presence refresh. Tasks are kept in buckets keyed by tick number, so
 * scheduling and cancelling are O(1) and one unref'd interval drives them all (no timer per
 * connection, which is what keeps 100k connections cheap).
 */
export interface TimerTask {
  /** Stops the task from running; safe to call more than once. */
  cancel(): void;
}

interface Task extends TimerTask {
  fn: () => void;
  cancelled: boolean;
}

export class TimerWheel {
  private readonly buckets = new Map<number, Task[]>();
  private interval: NodeJS.Timeout | undefined;
  /** Tick number up to which buckets have been processed. */
  private processed: number;
  private size = 0;

  /** @param resolution tick length in ms; tasks run at most this much after their time. */
  constructor(readonly resolution = 200) {
    this.processed = Math.floor(Date.now() / resolution);
  }

  /** Runs `fn` once, `delay` ms from now (rounded up to the next tick). */
  schedule(delay: number, fn: () => void): TimerTask {
    return this.scheduleAt(Date.now() + Math.max(0, delay), fn);
  }

  /** Runs `fn` once at unix time `at` (ms), rounded up to the next tick. */
  scheduleAt(at: number, fn: () => void): TimerTask {
    const task: Task = {
      fn,
      cancelled: false,
      cancel() {
        task.cancelled = true;
      },
    };
    if (!this.interval) this.processed = Math.max(this.processed, Math.floor(Date.now() / this.resolution));
    let tick = Math.ceil(at / this.resolution);
    if (tick <= this.processed) tick = this.processed + 1;
    const bucket = this.buckets.get(tick);
    if (bucket) bucket.push(task);
    else this.buckets.set(tick, [task]);
    this.size++;
    this.start();
    return task;
  }

  /** Number of scheduled (possibly cancelled) tasks not yet run. */
  get pending(): number {
    return this.size;
  }

  private start(): void {
    if (this.interval) return;
    this.interval = setInterval(() => this.advance(Date.now()), this.resolution);
    this.interval.unref();
  }

  /** Runs every task due at or before `now`. Exposed for tests. */
  advance(now: number): void {
    const target = Math.floor(now / this.resolution);
    while (this.processed < target) {
      this.processed++;
      const bucket = this.buckets.get(this.processed);
      if (!bucket) continue;
      this.buckets.delete(this.processed);
      this.size -= bucket.length;
      for (const task of bucket) {
        if (task.cancelled) continue;
        task.cancelled = true;
        try {
          task.fn();
        } catch {
          // A failing task must not stop the others; callers log inside fn.
        }
      }
    }
    if (this.size === 0) this.stop();
  }

  private stop(): void {
    if (this.interval) clearInterval(this.interval);
    this.interval = undefined;
  }

  /** Drops every task and stops the interval. */
  clear(): void {
    this.buckets.clear();
    this.size = 0;
    this.stop();
  }
}
