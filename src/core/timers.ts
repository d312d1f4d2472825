/**
 * One shared coarse scheduler for every connection of a node: pings, pong deadlines, stale and
 * expiry checks and presence refresh. Tasks are kept in buckets keyed by tick number, so
 * scheduling and cancelling are O(1) and one unref'd interval drives them all (no timer per
 * connection, which is what keeps 100k connections cheap).
 *
 * A task is one small object: `scheduleCall(delay, fn, arg)` runs `fn(arg)` with a function
 * shared by every connection, so a connection's periodic work allocates no closure per task.
 */
export interface TimerTask {
  /** Stops the task from running; safe to call more than once. */
  cancel(): void;
}

class Task implements TimerTask {
  constructor(
    public fn: ((arg: unknown) => void) | undefined,
    public arg: unknown,
  ) {}

  /** Also drops the references, so a cancelled task waiting for its tick holds nothing. */
  cancel(): void {
    this.fn = undefined;
    this.arg = undefined;
  }
}

export class TimerWheel {
  private readonly buckets = new Map<number, Task[]>();
  private interval: NodeJS.Timeout | undefined;
  /**
   * Ticks are counted from `origin` (a tick number of the wheel's creation), so bucket keys stay
   * small integers: absolute tick numbers (~9e9 at 200 ms) would be heap numbers, slower as Map keys.
   */
  private readonly origin: number;
  /** Tick (relative to `origin`) up to which buckets have been processed. */
  private processed = 0;
  private size = 0;

  /** @param resolution tick length in ms; tasks run at most this much after their time. */
  constructor(readonly resolution = 200) {
    this.origin = Math.floor(Date.now() / resolution);
  }

  /** Runs `fn` once, `delay` ms from now (rounded up to the next tick). */
  schedule(delay: number, fn: () => void): TimerTask {
    return this.insert(Date.now() + Math.max(0, delay), new Task(fn, undefined));
  }

  /** Runs `fn` once at unix time `at` (ms), rounded up to the next tick. */
  scheduleAt(at: number, fn: () => void): TimerTask {
    return this.insert(at, new Task(fn, undefined));
  }

  /** Runs `fn(arg)` once, `delay` ms from now: no closure needed when `fn` is shared. */
  scheduleCall<T>(delay: number, fn: (arg: T) => void, arg: T): TimerTask {
    return this.insert(Date.now() + Math.max(0, delay), new Task(fn as (arg: unknown) => void, arg));
  }

  /** Runs `fn(arg)` once at unix time `at` (ms). */
  scheduleCallAt<T>(at: number, fn: (arg: T) => void, arg: T): TimerTask {
    return this.insert(at, new Task(fn as (arg: unknown) => void, arg));
  }

  private insert(at: number, task: Task): Task {
    if (!this.interval) {
      this.processed = Math.max(this.processed, Math.floor(Date.now() / this.resolution) - this.origin);
    }
    let tick = Math.ceil(at / this.resolution) - this.origin;
    if (tick <= this.processed) tick = this.processed + 1;
    const bucket = this.buckets.get(tick);
    if (bucket) bucket.push(task);
    else this.buckets.set(tick, [task]);
    this.size++;
    if (!this.interval) this.start();
    return task;
  }

  /** Number of scheduled (possibly cancelled) tasks not yet run. */
  get pending(): number {
    return this.size;
  }

  private start(): void {
    this.interval = setInterval(() => this.advance(Date.now()), this.resolution);
    this.interval.unref();
  }

  /** Runs every task due at or before `now`. Exposed for tests. */
  advance(now: number): void {
    const target = Math.floor(now / this.resolution) - this.origin;
    while (this.processed < target) {
      this.processed++;
      const bucket = this.buckets.get(this.processed);
      if (!bucket) continue;
      this.buckets.delete(this.processed);
      this.size -= bucket.length;
      for (let i = 0; i < bucket.length; i++) {
        const task = bucket[i] as Task;
        const fn = task.fn;
        if (fn === undefined) continue;
        const arg = task.arg;
        task.fn = undefined;
        task.arg = undefined;
        try {
          fn(arg);
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
