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

/**
 * Per-connection outgoing queue. Messages arrive already encoded (often the very same Buffer
 * shared by every subscriber of a broadcast) and leave in batches: one `transport.write` per
 * flush, because the per-write system call dominates the cost of small messages.
 */
export class Writer {
  private queue: Uint8Array[] = [];
  private queuedBytes = 0;
  private scheduled = false;
  private closed = false;

  constructor(
    private readonly transport: Transport,
    private readonly options: WriterOptions,
    private readonly onOverflow: () => void,
    private readonly onWriteError: (err: unknown) => void = () => {},
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
      this.queue = [];
      this.queuedBytes = 0;
      this.onOverflow();
      return false;
    }
    this.queue.push(message);
    this.queuedBytes += message.length;
    if (!this.scheduled) {
      this.scheduled = true;
      if (this.options.writeDelay > 0) setTimeout(this.flushScheduled, this.options.writeDelay);
      else setImmediate(this.flushScheduled);
    }
    return true;
  }

  private readonly flushScheduled = (): void => {
    this.scheduled = false;
    this.flush();
  };

  /** Hands everything queued to the transport now. */
  flush(): void {
    if (this.queue.length === 0) return;
    const messages = this.queue;
    this.queue = [];
    this.queuedBytes = 0;
    const max = this.options.maxMessagesInFrame;
    try {
      if (max <= 0 || messages.length <= max) this.transport.write(messages);
      else for (let i = 0; i < messages.length; i += max) this.transport.write(messages.slice(i, i + max));
    } catch (err) {
      this.closed = true;
      this.onWriteError(err);
    }
  }

  /** Flushes what is queued (unless dropped) and refuses further messages. */
  close(flushPending: boolean): void {
    if (flushPending && !this.closed) this.flush();
    this.closed = true;
    this.queue = [];
    this.queuedBytes = 0;
  }
}
