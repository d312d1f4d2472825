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
  /** The tick of the bucket this task waits in; -1 while it waits in none. */
  tick = -1;
  prev: Task | undefined = undefined;
  next: Task | undefined = undefined;

  constructor(
    readonly wheel: TimerWheel,
    public fn: ((arg: unknown) => void) | undefined,
    public arg: unknown,
  ) {}

  /** Also drops the references and leaves the bucket, so a cancelled task holds nothing. */
  cancel(): void {
    this.fn = undefined;
    this.arg = undefined;
    if (this.tick >= 0) this.wheel.unlink(this);
  }
}

/** A tick's tasks, a doubly linked list in the order they were scheduled. */
interface Bucket {
  head: Task | undefined;
  tail: Task | undefined;
}

export class TimerWheel {
  /**
   * Why linked lists and not arrays: a connection re-arms its ping and pong tasks every ping
   * interval, and a cancelled pong deadline used to wait in its bucket's array until its tick.
   * Each task and array slot then lived long enough to be promoted to the old generation, so
   * idle connections fed the garbage collector (with the writer's queue array, the second
   * largest allocation of an idle ping after pong decoding: docs/performance.md). A task unlinks itself on cancel, and `scheduleCall` can re-arm the caller's
   * own task, so a connection's periodic timers allocate nothing.
   */
  private readonly buckets = new Map<number, Bucket>();
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
    return this.insert(Date.now() + Math.max(0, delay), new Task(this, fn, undefined));
  }

  /** Runs `fn` once at unix time `at` (ms), rounded up to the next tick. */
  scheduleAt(at: number, fn: () => void): TimerTask {
    return this.insert(at, new Task(this, fn, undefined));
  }

  /**
   * Runs `fn(arg)` once, `delay` ms from now: no closure needed when `fn` is shared. `reuse`, a
   * task of this wheel the caller is done with (it ran or was cancelled; a pending one is
   * cancelled first), is re-armed and returned instead of a new one.
   */
  scheduleCall<T>(delay: number, fn: (arg: T) => void, arg: T, reuse?: TimerTask): TimerTask {
    return this.insert(Date.now() + Math.max(0, delay), this.task(fn, arg, reuse));
  }

  /** Runs `fn(arg)` once at unix time `at` (ms); `reuse` as for `scheduleCall`. */
  scheduleCallAt<T>(at: number, fn: (arg: T) => void, arg: T, reuse?: TimerTask): TimerTask {
    return this.insert(at, this.task(fn, arg, reuse));
  }

  private task<T>(fn: (arg: T) => void, arg: T, reuse: TimerTask | undefined): Task {
    if (!(reuse instanceof Task) || reuse.wheel !== this)
      return new Task(this, fn as (arg: unknown) => void, arg);
    reuse.cancel();
    reuse.fn = fn as (arg: unknown) => void;
    reuse.arg = arg;
    return reuse;
  }

  private insert(at: number, task: Task): Task {
    if (!this.interval) {
      this.processed = Math.max(this.processed, Math.floor(Date.now() / this.resolution) - this.origin);
    }
    let tick = Math.ceil(at / this.resolution) - this.origin;
    if (tick <= this.processed) tick = this.processed + 1;
    task.tick = tick;
    const bucket = this.buckets.get(tick);
    if (bucket === undefined) {
      this.buckets.set(tick, { head: task, tail: task });
    } else {
      const tail = bucket.tail as Task;
      tail.next = task;
      task.prev = tail;
      bucket.tail = task;
    }
    this.size++;
    if (!this.interval) this.start();
    return task;
  }

  /** Takes a cancelled task out of its bucket. */
  unlink(task: Task): void {
    const tick = task.tick;
    const { prev, next } = task;
    task.tick = -1;
    task.prev = undefined;
    task.next = undefined;
    const bucket = this.buckets.get(tick);
    if (bucket === undefined) return; // dropped by clear()
    if (prev === undefined) bucket.head = next;
    else prev.next = next;
    if (next === undefined) bucket.tail = prev;
    else next.prev = prev;
    if (bucket.head === undefined) this.buckets.delete(tick);
    this.size--;
  }

  /** Number of tasks waiting to run (a cancelled task leaves at once). */
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
      const tick = ++this.processed;
      const bucket = this.buckets.get(tick);
      if (!bucket) continue;
      // Tasks are taken from the head one at a time, the bucket staying in the map meanwhile: a
      // task run here may cancel or re-arm any other, which then leaves this list like any other.
      let task: Task | undefined;
      while ((task = bucket.head) !== undefined) {
        const next = task.next;
        bucket.head = next;
        if (next === undefined) bucket.tail = undefined;
        else next.prev = undefined;
        task.next = undefined;
        task.tick = -1;
        this.size--;
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
      this.buckets.delete(tick);
    }
    if (this.size === 0) this.stop();
  }

  private stop(): void {
    if (this.interval) clearInterval(this.interval);
    this.interval = undefined;
  }

  /** Drops every task and stops the interval. */
  clear(): void {
    for (const bucket of this.buckets.values()) {
      for (let t = bucket.head; t !== undefined;) {
        const next = t.next;
        t.tick = -1;
        t.prev = undefined;
        t.next = undefined;
        t.fn = undefined;
        t.arg = undefined;
        t = next;
      }
    }
    this.buckets.clear();
    this.size = 0;
    this.stop();
  }
}
