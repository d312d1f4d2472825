import type { SentTally } from './metrics.js';
import type { Transport } from './transport.js';

/** Writer settings (all from ClientOptions). */
export interface WriterOptions {
  /** Collect messages this long (ms) before flushing; 0 = flush on the next `setImmediate`. */
  writeDelay: number;
  /** At most this many messages per `transport.write` call; 0 = unlimited. */
  maxMessagesInFrame: number;
  /** Queue limit in bytes; going over it calls `onOverflow` (the client disconnects as slow). */
  queueMaxSize: number;
}

/** What a {@link Writer} reports to its connection. */
export interface WriterOwner {
  /** The queue went over `queueMaxSize`; the writer is closed and its queue dropped. */
  writerOverflow(): void;
  /** `transport.write` threw; the writer is closed. */
  writerFailed(err: unknown): void;
}

/**
 * Per-connection outgoing queue. Messages arrive already encoded (often the very same Buffer
 * shared by every subscriber of a broadcast) and leave in batches: one `transport.write` per
 * flush, because the per-write system call dominates the cost of small messages.
 *
 * Flushes are scheduled through shared queues, never a timer or an immediate per connection: all
 * writers with something queued in this event-loop turn flush from one `setImmediate` (in slices
 * of about a millisecond and paced under load, see {@link PASS_SLICE_MS} and {@link PACE_GAP}), and
 * with a write delay, from one timer per delay value (writers wait in due order, so the timer only
 * ever needs the earliest due time).
 */
export class Writer {
  /**
   * Created with the first message of a flush: `[message]` is a one-slot array, where `[]` then
   * `push` allocates room for 17 (one of the larger allocations of an idle connection's ping in a
   * heap profile, docs/performance.md).
   */
  private queue: Uint8Array[] | undefined = undefined;
  private queuedBytes = 0;
  private scheduled = false;
  private closed = false;

  constructor(
    private readonly transport: Transport,
    private readonly options: WriterOptions,
    /** Told about overflow and write failures (an object, not two closures per connection). */
    private readonly owner: WriterOwner,
    /** Counted once per flush (metrics); absent when metrics are off. */
    private readonly sent?: SentTally,
  ) {}

  /** Bytes queued and not yet handed to the transport. */
  get size(): number {
    return this.queuedBytes;
  }

  /** Queues one encoded message. Returns false when the writer is closed or overflowed. */
  enqueue(message: Uint8Array): boolean {
    if (this.closed) return false;
    if (this.options.queueMaxSize > 0 && this.queuedBytes + message.length > this.options.queueMaxSize) {
      this.closed = true;
      this.queue = undefined;
      this.queuedBytes = 0;
      this.owner.writerOverflow();
      return false;
    }
    if (this.queue === undefined) this.queue = [message];
    else this.queue.push(message);
    this.queuedBytes += message.length;
    if (!this.scheduled) {
      this.scheduled = true;
      if (this.options.writeDelay > 0) delayedQueue(this.options.writeDelay).add(this);
      else immediate.add(this);
    }
    return true;
  }

  /** Called by the shared scheduler. */
  scheduledFlush(): void {
    this.scheduled = false;
    this.flush();
  }

  /** Hands everything queued to the transport now. */
  flush(): void {
    const messages = this.queue;
    if (messages === undefined) return;
    if (this.sent !== undefined) {
      this.sent.messages += messages.length;
      this.sent.bytes += this.queuedBytes;
    }
    this.queue = undefined;
    this.queuedBytes = 0;
    const max = this.options.maxMessagesInFrame;
    try {
      if (max <= 0 || messages.length <= max) this.transport.write(messages);
      else for (let i = 0; i < messages.length; i += max) this.transport.write(messages.slice(i, i + max));
    } catch (err) {
      this.closed = true;
      this.owner.writerFailed(err);
    }
  }

  /** Flushes what is queued (unless dropped) and refuses further messages. */
  close(flushPending: boolean): void {
    if (flushPending && !this.closed) this.flush();
    this.closed = true;
    this.queue = undefined;
    this.queuedBytes = 0;
  }
}

/** Flushes one writer, keeping one failure from stopping the others' flushes. */
function flushOne(w: Writer): void {
  try {
    w.scheduledFlush();
  } catch {
    // flush() reports transport errors itself; nothing else is expected to throw.
  }
}

/**
 * Flush pacing under load. One shared pass writes to every socket with something queued, and each
 * socket write costs about 10 µs whatever it carries (the system call, mostly kernel TCP work). A
 * server writing to hundreds of sockets per pass is busy with passes back to back, one publication
 * per socket per pass, and the clients' reads keep pace with it. After a pass of at least
 * {@link PACE_MIN_WRITERS} writers that took at least {@link PACE_MIN_PASS_MS}, the next pass
 * therefore starts no sooner than half that time (at most {@link PACE_MAX_GAP_MS}) after it ended,
 * and whatever arrives meanwhile joins it: fewer, fuller writes for the same messages. A light load
 * never waits (its passes are short, or its next message comes later anyway).
 */
const PACE_MIN_WRITERS = 64;
const PACE_MIN_PASS_MS = 1;
const PACE_GAP = 0.5;
const PACE_MAX_GAP_MS = 10;

/**
 * A pass writes for at most this long before it yields to the event loop (the rest of it continues
 * from the next `setImmediate`). In between, the server reads what came in meanwhile: a
 * publication then reaches the writers the pass has not visited yet in this same pass, joining the
 * messages they already hold, instead of waiting for the pass to end and a whole next pass.
 */
const PASS_SLICE_MS = 1;

/**
 * Writers to flush on the next `setImmediate`, in the order they got their first message, in
 * passes of {@link PASS_SLICE_MS} slices, paced under load.
 */
class ImmediateQueue {
  private writers: Writer[] = [];
  private armed = false;
  /** `performance.now()` before which the next pass does not start (0: no wait). */
  private notBefore = 0;
  /** The pass being written, when it yielded to the event loop between two slices. */
  private pass: Writer[] | undefined = undefined;
  private next = 0;
  /** Milliseconds the current pass has spent writing so far (its slices, not the gaps). */
  private busy = 0;

  add(w: Writer): void {
    this.writers.push(w);
    if (!this.armed && this.pass === undefined) this.arm();
  }

  private arm(): void {
    this.armed = true;
    const wait = this.notBefore === 0 ? 0 : this.notBefore - performance.now();
    if (wait >= 1) setTimeout(this.run, wait);
    else setImmediate(this.run);
  }

  private readonly run = (): void => {
    this.armed = false;
    if (this.pass === undefined) {
      // Writers queued from here on (a write that triggers another message) go to the next pass.
      this.pass = this.writers;
      this.writers = [];
      this.next = 0;
      this.busy = 0;
    }
    const list = this.pass;
    const start = performance.now();
    const sliceEnd = start + PASS_SLICE_MS;
    let i = this.next;
    let now = start;
    while (i < list.length) {
      flushOne(list[i++] as Writer);
      now = performance.now();
      if (now >= sliceEnd) break;
    }
    this.busy += now - start;
    if (i < list.length) {
      this.next = i;
      this.armed = true;
      setImmediate(this.run);
      return;
    }
    this.pass = undefined;
    const took = this.busy;
    this.notBefore =
      list.length >= PACE_MIN_WRITERS && took >= PACE_MIN_PASS_MS
        ? now + Math.min(PACE_MAX_GAP_MS, took * PACE_GAP)
        : 0;
    if (this.writers.length > 0) this.arm();
  };
}

/** Writers waiting for one write delay, in due order, behind one timer, flushed in slices. */
class DelayQueue {
  private writers: (Writer | undefined)[] = [];
  private due: number[] = [];
  private head = 0;
  private timer: NodeJS.Timeout | undefined;
  private running = false;

  constructor(private readonly delay: number) {}

  add(w: Writer): void {
    this.writers.push(w);
    this.due.push(performance.now() + this.delay);
    if (this.timer === undefined && !this.running) this.arm(this.delay);
  }

  private arm(ms: number): void {
    this.timer = setTimeout(this.run, Math.max(1, Math.ceil(ms)));
  }

  /** True when the next writer waiting, among the first `end`, is due by `now`. */
  private dueBy(end: number, now: number): boolean {
    return this.head < end && (this.due[this.head] as number) <= now;
  }

  private readonly run = (): void => {
    this.timer = undefined;
    this.running = true;
    // Timers fire up to ~1 ms early; flush whatever is due by then. Writers added meanwhile are
    // due a full delay from now, after every writer already waiting.
    const start = performance.now();
    const now = start + 1;
    const end = this.writers.length;
    while (this.dueBy(end, now)) {
      const w = this.writers[this.head] as Writer;
      this.writers[this.head++] = undefined;
      flushOne(w);
      // Many writers due at once (one publication started all their delays) are written in
      // slices, like an immediate pass: the event loop reads in between.
      if (performance.now() - start >= PASS_SLICE_MS) break;
    }
    if (this.dueBy(end, now)) {
      setImmediate(this.run);
      return;
    }
    this.running = false;
    if (this.head >= this.writers.length) {
      this.writers = [];
      this.due = [];
      this.head = 0;
      return;
    }
    if (this.head > 1024 && this.head * 2 > this.writers.length) {
      this.writers = this.writers.slice(this.head);
      this.due = this.due.slice(this.head);
      this.head = 0;
    }
    this.arm((this.due[this.head] as number) - performance.now());
  };
}

const immediate = new ImmediateQueue();
const delayed = new Map<number, DelayQueue>();

function delayedQueue(delay: number): DelayQueue {
  let q = delayed.get(delay);
  if (q === undefined) {
    q = new DelayQueue(delay);
    delayed.set(delay, q);
  }
  return q;
}
